"""What the rules remember, a watch per key, and its saved form for a restart.

The saved form is kept a watch at a time: every change to a watch marks its key (through
`_watch()`, or by hand where the tick or a status changes a watch it did not look up), and
`state_json()` makes the text again only for the keys marked whose fields differ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.kinds import AlertKey, Severity


@dataclass(slots=True)
class Watch:
    """What a rule remembers about one key."""

    since: datetime | None = None
    critical_since: datetime | None = None
    last_seen: datetime | None = None
    value: float | None = None
    raised: Severity | None = None


_Fields = tuple[datetime | None, datetime | None, datetime | None, float | None, Severity | None]


def _fields(watch: Watch) -> _Fields:
    """A watch's fields, to tell whether it changed since it was saved."""
    return (watch.since, watch.critical_since, watch.last_seen, watch.value, watch.raised)


class WatchBook:
    """Every watch, by key, and the saved form of each as it was last saved."""

    def __init__(self) -> None:
        self._watches: dict[AlertKey, Watch] = {}
        # The saved form, in the order of `_watches`: each key's fields when last saved
        # and its entry's text; `_changed`: keys whose watch may differ now.
        self._saved: dict[AlertKey, tuple[_Fields, str]] = {}
        self._changed: dict[AlertKey, None] = {}

    def _watch(self, key: AlertKey) -> Watch:
        """A key's watch, to change (marked for the next save; made if new)."""
        self._changed[key] = None
        return self._watches.setdefault(key, Watch())

    def raised(self) -> dict[AlertKey, Severity]:
        """The alerts the rules consider raised now."""
        return {k: w.raised for k, w in self._watches.items() if w.raised is not None}

    def devices(self) -> set[tuple[str, str]]:
        """Every (site, device) the rules have heard of."""
        return {(key.site, key.device) for key in self._watches}

    def state(self) -> dict[str, dict[str, Any]]:
        """Everything the rules remember, as JSON-ready data."""
        return {key.text(): _json_ready(watch) for key, watch in self._watches.items()}

    def state_json(self) -> str:
        """`json.dumps(state())`, the text made again only for the watches changed since."""
        for key in self._changed:
            watch = self._watches[key]
            saved = self._saved.get(key)
            if saved is None or saved[0] != _fields(watch):
                self._saved[key] = _entry(key, watch)
        self._changed.clear()
        return "{" + ", ".join(entry for _, entry in self._saved.values()) + "}"

    def restore(self, state: dict[str, dict[str, Any]]) -> None:
        """Take back what `state()` gave, after a restart."""
        for text, fields in state.items():
            watch = Watch(
                since=_time(fields.get("since")),
                critical_since=_time(fields.get("critical_since")),
                last_seen=_time(fields.get("last_seen")),
                value=fields.get("value"),
                raised=Severity(fields["raised"]) if fields.get("raised") else None,
            )
            key = AlertKey.parse(text)
            self._watches[key] = watch
            self._saved[key] = _entry(key, watch)
            self._changed.pop(key, None)


def _json_ready(watch: Watch) -> dict[str, Any]:
    return {
        "since": _iso(watch.since),
        "critical_since": _iso(watch.critical_since),
        "last_seen": _iso(watch.last_seen),
        "value": watch.value,
        "raised": watch.raised,
    }


_encode = json.JSONEncoder().encode  # json.dumps with its defaults, less its argument checks


def _entry(key: AlertKey, watch: Watch) -> tuple[_Fields, str]:
    """A key's saved form: its watch's fields and its entry in `state_json()`."""
    return _fields(watch), f"{_encode(key.text())}: {_encode(_json_ready(watch))}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
