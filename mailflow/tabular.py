"""Reading and writing tables as CSV or XLSX (chosen by the file's extension)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from mailflow.lazy import LazyModule

# openpyxl (~15 MB) is loaded by the first spreadsheet read or written (mailflow.lazy).
openpyxl = LazyModule("openpyxl")
openpyxl_cell = LazyModule("openpyxl.cell")
openpyxl_utils = LazyModule("openpyxl.utils")


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number as a person counts it — header is row 1 —, {column: text}) per data row."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        yield from _read_xlsx(path)
    else:
        yield from _read_csv(path)


def _read_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    for number, row in enumerate(reader, start=2):
        if number > MAX_ROWS + 1:
            raise TableTooLarge(f"more than {MAX_ROWS} rows")
        cleaned = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k}
        if any(cleaned.values()):
            yield number, cleaned


# What an XLSX file may unpack to. A zip member of a few MB can inflate to gigabytes (a "zip
# bomb"), and openpyxl holds all shared strings in memory: the members' sizes are checked before
# it opens the file, and rows, columns and cells are capped while reading.
MAX_ROWS = 100_000  # data rows; more is refused
MAX_COLUMNS = 200  # columns beyond are not read
MAX_CELL_CHARS = 32_767  # Excel's own limit for a cell
MAX_MEMBER_BYTES = 200 * 1024 * 1024  # one unpacked part (a sheet)
MAX_SHARED_STRINGS_BYTES = 30 * 1024 * 1024  # held in memory whole by openpyxl
MAX_UNPACKED_BYTES = 300 * 1024 * 1024  # all parts together
MAX_COMPRESSION_RATIO = 200  # real sheets compress 5-30 times; zeros 1000 times


class TableTooLarge(ValueError):
    """The file unpacks to more than an import reads (the message says what)."""


def check_xlsx_archive(path: Path) -> None:
    """Refuse an XLSX whose parts unpack to too much, from the zip directory alone."""

    with zipfile.ZipFile(path) as archive:
        total = 0
        for member in archive.infolist():
            total += member.file_size
            name = member.filename
            if member.file_size > MAX_MEMBER_BYTES:
                raise TableTooLarge(f"{name} unpacks to {_mb(member.file_size)}: too large")
            if name.lower().endswith("sharedstrings.xml") and (
                member.file_size > MAX_SHARED_STRINGS_BYTES
            ):
                raise TableTooLarge(f"the shared strings unpack to {_mb(member.file_size)}")
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > 1024 * 1024 and ratio > MAX_COMPRESSION_RATIO:
                raise TableTooLarge(f"{name} is compressed {ratio:.0f} times: not a real sheet")
        if total > MAX_UNPACKED_BYTES:
            raise TableTooLarge(f"the file unpacks to {_mb(total)}: too large")


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB"


def _read_xlsx(path: Path) -> Iterator[tuple[int, dict[str, str]]]:

    check_xlsx_archive(path)
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        # Columns are cut at MAX_COLUMNS (a sheet may claim 16,384, and openpyxl pads every row
        # to that); rows are counted by their number, so a row far down is refused too.
        rows = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
        header = [_cell_text(c).lower() for c in next(rows, [])]
        for number, values in enumerate(rows, start=2):
            if number > MAX_ROWS + 1:
                raise TableTooLarge(f"more than {MAX_ROWS} rows")
            cleaned = {}
            for key, value in zip(header, values, strict=False):
                if key:
                    cleaned[key] = _cell_text(value)
            if any(cleaned.values()):
                yield number, cleaned
    finally:
        workbook.close()


def _cell_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "" if value is None else str(value).strip()
    if len(text) > MAX_CELL_CHARS:
        raise TableTooLarge(f"a cell holds {len(text)} characters (at most {MAX_CELL_CHARS})")
    return text


# Spreadsheet programs run a cell that starts with = + - @ as a formula (CSV injection); lead
# data comes from the public, so such text is written as text. Phone numbers stay as they are.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PHONE_LIKE = re.compile(r"^[+-][\d\s().\-/]*$")
_XLSX_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")


def csv_safe(value):
    """A cell for CSV: formula-like text gets a leading apostrophe; None is empty."""
    if isinstance(value, str) and value[:1] in _FORMULA_START and not _PHONE_LIKE.match(value):
        return "'" + value
    return "" if value is None else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_chunks(
    columns: list[str], rows: Iterable[list], *, bom: bool = False, batch: int = 500
) -> Iterator[str]:
    """A CSV file in pieces (for streaming): the header (after a BOM, which tells Excel that
    the file is UTF-8, for downloads), then the rows, ``batch`` at a time."""
    writer = csv.writer(_Echo())
    yield ("\ufeff" if bom else "") + writer.writerow(columns)
    buffer: list[str] = []
    for row in rows:
        buffer.append(writer.writerow([csv_safe(v) for v in row]))
        if len(buffer) >= batch:
            yield "".join(buffer)
            buffer = []
    if buffer:
        yield "".join(buffer)


def write_xlsx(path: Path, columns: list[str], rows: Iterable[list], title: str = "Sheet") -> int:
    """An XLSX file (streamed to disk); text is always text, never a formula."""

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.append(columns)
    count = 0
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, str):
                value = _XLSX_ILLEGAL.sub("", value)
                if value.startswith("="):
                    cell = openpyxl_cell.WriteOnlyCell(sheet, value=value)
                    cell.data_type = "s"
                    value = cell
            cells.append(value)
        sheet.append(cells)
        count += 1
    workbook.save(path)
    return count


@dataclass(frozen=True)
class SheetColumn:
    """A column of a sheet as people use it: its header, width (characters) and the number
    format of its date cells."""

    header: str
    width: float | None = None
    date_format: str = "yyyy-mm-dd hh:mm"


def write_sheet(
    path: Path, columns: list[SheetColumn], rows: Iterable[list], title: str = "Sheet"
) -> int:
    """An XLSX file (streamed to disk) to work with: the header row frozen and auto-filtered,
    column widths set, dates as date cells (naive: convert them to the time zone the header
    names first), numbers as numbers, text always text (never a formula)."""

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.freeze_panes = "A2"
    for index, column in enumerate(columns, start=1):
        width = column.width or min(max(len(column.header) + 3, 10), 60)
        sheet.column_dimensions[openpyxl_utils.get_column_letter(index)].width = width
    sheet.append([_text_cell(sheet, c.header) for c in columns])
    count = 0
    for row in rows:
        cells = []
        for column, value in zip(columns, row, strict=False):
            if isinstance(value, datetime | date):
                cell = openpyxl_cell.WriteOnlyCell(sheet, value=value)
                cell.number_format = column.date_format
                cells.append(cell)
            elif isinstance(value, str):
                cells.append(_text_cell(sheet, value))
            else:
                cells.append(value)
        sheet.append(cells)
        count += 1
    if columns:
        sheet.auto_filter.ref = f"A1:{openpyxl_utils.get_column_letter(len(columns))}{count + 1}"
    workbook.save(path)
    return count


def _text_cell(sheet, value: str):
    value = _XLSX_ILLEGAL.sub("", value)
    if not value.startswith("="):
        return value

    cell = openpyxl_cell.WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell


def write_rows(path: Path, columns: list[str], rows: Iterable[list], title: str = "Sheet") -> int:
    """Write a table as XLSX or CSV (by the extension); returns the number of data rows."""
    if path.suffix.lower() == ".xlsx":
        return write_xlsx(path, columns, rows, title)
    count = 0

    def counted():
        nonlocal count
        for row in rows:
            count += 1
            yield row

    with path.open("w", newline="", encoding="utf-8") as fh:
        for chunk in csv_chunks(columns, counted()):
            fh.write(chunk)
    return count
