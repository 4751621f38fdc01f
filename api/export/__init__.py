"""Exporting an account's events as NDJSON (the stored webhook bodies) or CSV, streamed from a server-side cursor.

``stream`` reads the rows the search selects, ``formats`` encodes them, ``route`` is ``/export``.
"""

from api.export.formats import CSV_COLUMNS, ExportFormat, encode_chunk, neutralise_formula
from api.export.route import export_chunks, export_routes, file_name
from api.export.stream import ExportQuery, export_batches, prepared

__all__ = [
    "CSV_COLUMNS",
    "ExportFormat",
    "ExportQuery",
    "encode_chunk",
    "export_batches",
    "export_chunks",
    "export_routes",
    "file_name",
    "neutralise_formula",
    "prepared",
]
