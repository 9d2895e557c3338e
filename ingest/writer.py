"""Write batches to InfluxDB until they land, isolating lines the server refuses."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from timeseries import LineWriter, WriteFailed, WriteRejected

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RefusedLine:
    """A line InfluxDB refused, with the server's message."""

    line: str
    reason: str


class SureWriter:
    """Writes a batch until it lands; returns the lines the server refused for their content.

    Transient failures (429, 5xx, connection errors) are retried with exponential backoff
    and jitter, for as long as it takes, unless `stop` is set (then `WriteFailed` is raised
    and nothing is acknowledged). A 400/413/422 refusal of a batch is narrowed down by
    splitting it, so one bad line never keeps the good ones out: InfluxDB points are
    idempotent, so writing a good line twice is harmless.
    """

    def __init__(
        self,
        writer: LineWriter,
        stop: threading.Event,
        backoff_s: tuple[float, float] = (0.2, 10.0),
        on_retry: Callable[[Exception], None] | None = None,
    ) -> None:
        self._writer = writer
        self._stop = stop
        self._backoff = backoff_s
        self._on_retry = on_retry
        self._random = random.Random()  # noqa: S311  (jitter, not security)

    def write(self, lines: Sequence[str]) -> list[RefusedLine]:
        """Write every line; return those refused for their content."""
        if not lines:
            return []
        try:
            self._write_retrying(lines)
        except WriteRejected as err:
            if len(lines) == 1:
                return [RefusedLine(lines[0], err.server_message)]
            middle = len(lines) // 2
            return self.write(lines[:middle]) + self.write(lines[middle:])
        return []

    def _write_retrying(self, lines: Sequence[str]) -> None:
        delay, ceiling = self._backoff
        while True:
            try:
                self._writer.write(lines)
                return
            except WriteFailed as err:
                if self._on_retry is not None:
                    self._on_retry(err)
                logger.warning("InfluxDB write failed, retrying in %.1f s: %s", delay, err)
                if self._stop.wait(delay * (0.5 + self._random.random())):
                    raise
                delay = min(delay * 2, ceiling)
