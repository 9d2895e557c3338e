"""What the ingest rejected, and why: `GET /deadletters` (a page) and `GET /api/deadletters`.

The ingest keeps every rejected message or reading in the hub's SQLite database (the
ingest settings' `hub_db`, in the state folder both processes share); the dashboard opens
it read-only per request (ingest/deadletters.py `DeadLetterReader`), so it never locks
the ingest out. Newest first, paged by id: `?before=ID&limit=N`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from dashboard.auth import require_role
from dashboard.examples import json_example
from dashboard.settings import DashboardSettings
from ingest.app import IngestSettings
from ingest.deadletters import DeadLetterCounts, DeadLetterReader, StoredDeadLetter

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
PREVIEW_CHARS = 240
# Control characters, and the bidirectional overrides that would reorder the page's text.
_UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)

# Raw payloads may hold anything a device sent: for the manager and the admin only.
deadletter_router = APIRouter(
    tags=["dead letters"], dependencies=[Depends(require_role("manager"))]
)
Limit = Annotated[int, Query(ge=1, le=500, description="How many, newest first")]
Before = Annotated[
    int | None, Query(ge=1, le=2**63 - 1, description="Only those older than this id (paging)")
]


def dead_letter_reader(settings: DashboardSettings) -> DeadLetterReader:
    """A read-only view of the dead letters the ingest keeps in the shared state folder."""
    return DeadLetterReader(IngestSettings(state_dir=settings.state_dir).hub_db)


def dead_letter_counts(settings: DashboardSettings, by_reason: bool = False) -> DeadLetterCounts:
    """Dead letters in all and in the last 24 hours (for the health view)."""
    return dead_letter_reader(settings).counts(datetime.now(UTC), by_reason=by_reason)


def preview(payload: bytes, chars: int = PREVIEW_CHARS) -> str:
    """The start of a raw payload as text, with invisible and reordering characters shown."""
    text = payload[: chars * 4].decode("utf-8", errors="replace")[:chars]
    shown = _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return shown + ("…" if len(payload) > chars else "")


def _item(letter: StoredDeadLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "received": letter.received.isoformat(),
        "topic": letter.topic,
        "reason": letter.reason,
        "reading_index": letter.reading_index,
        "payload_bytes": len(letter.payload),
        "payload_preview": preview(letter.payload),
    }


def _listing(request: Request, limit: int, before: int | None) -> dict[str, Any]:
    settings: DashboardSettings = request.app.state.settings
    reader = dead_letter_reader(settings)
    letters = reader.page(limit, before)
    counts = reader.counts(datetime.now(UTC))
    return {
        "total": counts.total,
        "last_24h": counts.last_24h,
        "by_reason": [{"reason": kind, "count": count} for kind, count in counts.by_reason],
        "items": [_item(letter) for letter in letters],
        "next_before": letters[-1].id if len(letters) == limit else None,
    }


@deadletter_router.get(
    "/api/deadletters",
    summary="Rejected messages and readings, newest first",
    responses=json_example("deadletters"),
)
def list_dead_letters(request: Request, limit: Limit = 50, before: Before = None) -> dict[str, Any]:
    """A page of dead letters with their reason and payload preview, and the counts by reason.

    `next_before` is the `before` of the next (older) page, or null on the last one.
    """
    return _listing(request, limit, before)


@deadletter_router.get("/deadletters", response_class=HTMLResponse, include_in_schema=False)
def dead_letter_page(request: Request, limit: Limit = 50, before: Before = None) -> HTMLResponse:
    """The dead letters as a page an operator reads."""
    listing = _listing(request, limit, before)
    return TEMPLATES.TemplateResponse(
        request,
        "deadletters.html",
        {"listing": listing, "limit": limit, "before": before},
        headers={"Cache-Control": "no-store"},
    )
