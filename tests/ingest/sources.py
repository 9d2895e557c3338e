"""A batch source for driving the ingest loop without a broker."""

from __future__ import annotations

from ingest.pipeline import Inbound


class ListSource:
    """Hands out what was put in as one batch per `collect`."""

    def __init__(self) -> None:
        self.waiting: list[Inbound] = []

    def put(self, message: Inbound) -> None:
        self.waiting.append(message)

    def collect(self, timeout: float) -> list[Inbound]:
        batch, self.waiting = self.waiting, []
        return batch
