"""Exporting an account's events as NDJSON (the stored webhook bodies) or CSV, streamed by one ``COPY``.

``formats`` is the columns PostgreSQL selects per row, ``copy`` the ``COPY``'s options and its output
made into lines, ``stream`` runs it behind a bounded queue, ``route`` is ``/export``.
"""

from api.export.copy import ExportChunk
from api.export.formats import CSV_COLUMNS, CSV_HEADER, ExportFormat
from api.export.route import export_body, export_routes, file_name
from api.export.stream import ExportQuery, export_chunks, prepared

__all__ = [
    "CSV_COLUMNS",
    "CSV_HEADER",
    "ExportChunk",
    "ExportFormat",
    "ExportQuery",
    "export_body",
    "export_chunks",
    "export_routes",
    "file_name",
    "prepared",
]
