"""A CSV download that any export can use (patients now, round results later).

The file is written to a spooled temporary file before the response starts, so every database
read happens inside the request's transaction (and its audit record), and no connection is held
while a slow client downloads.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO

from fastapi.responses import StreamingResponse

from bcp_service.csv_export import csv_lines

SPOOL_BYTES = 8 * 1024 * 1024
READ_BYTES = 64 * 1024


def write_csv(out: BinaryIO, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """BOM, header, rows; every cell goes through ``csv_export.neutralise``."""
    for chunk in csv_lines(header, rows):
        out.write(chunk.encode("utf-8"))


def spool_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> BinaryIO:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (handed to the caller; _chunks closes it)
    write_csv(spool, header, rows)
    spool.seek(0)
    return spool


def _chunks(spool: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := spool.read(READ_BYTES):
            yield chunk
    finally:
        spool.close()


def csv_download(spool: BinaryIO, filename: str) -> StreamingResponse:
    return StreamingResponse(
        _chunks(spool),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
