"""The reports' tables as CSV and XLSX: numbers stay numbers, dates stay dates, and the XLSX
header row is frozen and filtered. A second sheet says what the table covers."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from fastapi.responses import Response

from mailflow.app.reports.common import ReportFilters
from mailflow.lazy import LazyModule
from mailflow.tabular import csv_chunks, csv_safe

# openpyxl loads with the first spreadsheet (mailflow.lazy).
openpyxl = LazyModule("openpyxl")
openpyxl_styles = LazyModule("openpyxl.styles")

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def csv_response(columns: Sequence[str], rows: list[list], name: str) -> Response:
    body = "".join(csv_chunks(list(columns), rows, bom=True))
    return Response(body, media_type="text/csv; charset=utf-8", headers=_attachment(name))


def xlsx_bytes(
    columns: Sequence[str], rows: list[list], title: str, f: ReportFilters, filters_title: str
) -> bytes:

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title[:31]
    sheet.append(list(columns))
    for cell in sheet[1]:
        cell.font = openpyxl_styles.Font(bold=True)
    for row in rows:
        sheet.append([_xlsx_value(v) for v in row])
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    for index, column in enumerate(columns, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = max(10, min(40, len(str(column)) + 4))
    about = workbook.create_sheet(filters_title[:31])
    about.append(["from", f.start])
    about.append(["to", f.end])
    for key, value in f.params().items():
        if key not in ("start", "end"):
            about.append([key, value])
    for row in about.iter_rows(min_col=2, max_col=2):
        for cell in row:
            if isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _xlsx_value(value):
    if isinstance(value, str):
        value = csv_safe(value)  # text stays text, never a formula
    return value


def xlsx_response(
    columns: Sequence[str], rows: list[list], title: str, f: ReportFilters, name: str
) -> Response:
    return Response(
        xlsx_bytes(columns, rows, title, f, "Range"),
        media_type=XLSX_TYPE,
        headers=_attachment(name),
    )
