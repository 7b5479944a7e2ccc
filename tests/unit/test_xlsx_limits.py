"""XLSX imports are limited by what they unpack, not only by the size of the upload: a zip bomb
is refused from the zip directory before openpyxl opens it, and rows and cells are capped while
reading."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

from mailflow import tabular
from mailflow.tabular import TableTooLarge, read_rows, write_xlsx

MB = 1024 * 1024


def real_sheet(path: Path, rows: int = 3) -> Path:
    write_xlsx(
        path,
        ["name", "email", "postcode"],
        [[f"Person {i}", f"p{i}@example.fr", "75010"] for i in range(rows)],
    )
    return path


SHARED_STRINGS_TYPE = (
    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml" />'
)


def with_member(source: Path, target: Path, name: str, chunks, chunk_count: int) -> Path:
    """``source`` with member ``name`` replaced by ``chunk_count`` repetitions of ``chunks``
    (written streaming, so the test itself stays small)."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as bomb:
        for info in original.infolist():
            data = original.read(info.filename)
            if info.filename == "[Content_Types].xml" and name == "xl/sharedStrings.xml":
                # openpyxl loads the shared strings part the manifest names, whole
                data = data.replace(b"</Types>", SHARED_STRINGS_TYPE + b"</Types>")
            if info.filename != name:
                bomb.writestr(info, data, zipfile.ZIP_DEFLATED)
        member = zipfile.ZipInfo(name)
        member.compress_type = zipfile.ZIP_DEFLATED
        with bomb.open(member, "w", force_zip64=True) as out:
            head, body, tail = chunks
            out.write(head)
            for _ in range(chunk_count):
                out.write(body)
            out.write(tail)
    return target


def test_a_real_sheet_is_read(tmp_path):
    rows = list(read_rows(real_sheet(tmp_path / "ok.xlsx")))
    assert rows[0] == (2, {"name": "Person 0", "email": "p0@example.fr", "postcode": "75010"})
    assert len(rows) == 3


def test_a_shared_strings_bomb_is_refused_before_unpacking(tmp_path):
    source = real_sheet(tmp_path / "source.xlsx")
    name = "xl/sharedStrings.xml"
    si = b"<si><t>" + b"A" * 60 + b"</t></si>"
    bomb = with_member(
        source,
        tmp_path / "bomb.xlsx",
        name,
        (
            b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main">',
            si * 1000,
            b"</sst>",
        ),
        1200,  # 1200 * 1000 strings: 80 MB unpacked
    )
    assert bomb.stat().st_size < 2 * MB
    started = time.monotonic()
    with pytest.raises(TableTooLarge, match="unpack|compressed"):
        list(read_rows(bomb))
    assert time.monotonic() - started < 2


def test_a_sheet_bomb_is_refused_before_unpacking(tmp_path):
    source = real_sheet(tmp_path / "source.xlsx")
    row = b'<row><c t="inlineStr"><is><t>' + b"B" * 100 + b"</t></is></c></row>"
    bomb = with_member(
        source,
        tmp_path / "bomb.xlsx",
        "xl/worksheets/sheet1.xml",
        (
            b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main"><sheetData>',
            row * 1000,
            b"</sheetData></worksheet>",
        ),
        2000,  # 2000 * 1000 rows of 100 characters: about 270 MB unpacked
    )
    assert bomb.stat().st_size < 2 * MB
    with pytest.raises(TableTooLarge):
        list(read_rows(bomb))


def test_rows_beyond_the_cap_are_refused_while_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(tabular, "MAX_ROWS", 50)
    with pytest.raises(TableTooLarge, match="more than 50 rows"):
        list(read_rows(real_sheet(tmp_path / "many.xlsx", rows=51)))
    assert len(list(read_rows(real_sheet(tmp_path / "enough.xlsx", rows=50)))) == 50


def test_a_sheet_claiming_a_million_sparse_rows_is_not_walked(tmp_path):
    """A row numbered 1,048,576 after the header: openpyxl would pad every row between."""
    source = real_sheet(tmp_path / "source.xlsx", rows=1)
    sheet = (
        b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main"><dimension ref="A1:XFD1048576"/><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>'
        b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
        b"</sheetData></worksheet>"
    )
    sparse = with_member(
        source, tmp_path / "sparse.xlsx", "xl/worksheets/sheet1.xml", (sheet, b"", b""), 0
    )
    started = time.monotonic()
    with pytest.raises(TableTooLarge, match="rows"):
        list(read_rows(sparse))
    assert time.monotonic() - started < 10


def test_an_overlong_cell_is_refused(tmp_path):
    """Longer than a spreadsheet program can write (32,767 characters): crafted."""
    sheet = (
        b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>'
        b'<row r="2"><c r="A2" t="inlineStr"><is><t>' + b"x" * 40_000 + b"</t></is></c></row>"
        b"</sheetData></worksheet>"
    )
    source = real_sheet(tmp_path / "source.xlsx", rows=1)
    path = with_member(
        source, tmp_path / "long.xlsx", "xl/worksheets/sheet1.xml", (sheet, b"", b""), 0
    )
    with pytest.raises(TableTooLarge, match="characters"):
        list(read_rows(path))
