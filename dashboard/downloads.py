"""CSV downloads of the reports: one shape for every page that offers one."""

from __future__ import annotations

from fastapi.responses import Response


def csv_download(text: str, filename: str) -> Response:
    """A CSV file to save (UTF-8 with a byte-order mark, so spreadsheets read Chinese)."""
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
