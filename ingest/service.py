"""The ingest loop: batch received messages, write their points, then acknowledge them."""

from __future__ import annotations

import logging
import queue
import threading
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from ingest.deadletters import DeadLetterStore
from ingest.ledger import DeviceLedger
from ingest.pipeline import DeadLetter, Inbound, MessageProcessor, Processed
from ingest.writer import SureWriter

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestCounters:
    """Running totals since the ingest started."""

    messages: int = 0
    readings_written: int = 0
    readings_rejected: int = 0
    messages_rejected: int = 0
    lines_refused: int = 0
    write_retries: int = 0
    batches: int = 0


class _Parsed(NamedTuple):
    """A batch validated and mapped, waiting to be written."""

    batch: Sequence[Inbound]
    lines: list[str]
    ends: list[int]
    dead: list[DeadLetter]


class BatchSource(Protocol):
    """Where batches of received messages come from (the broker, or a test's list)."""

    def collect(self, timeout: float) -> list[Inbound]:
        """The next batch, waiting up to `timeout` s for it; [] if nothing came."""
        ...


class Ingest:
    """Handles batches of messages: validate, write to InfluxDB, dead-letter, then ack.

    A message is acknowledged only after all its points are stored (or refused for their
    content and dead-lettered), in arrival order, so a crash anywhere re-delivers rather
    than drops.
    """

    def __init__(
        self,
        source: BatchSource,
        processor: MessageProcessor,
        writer: SureWriter,
        dead_letters: DeadLetterStore,
        ack: Callable[[Sequence[Inbound]], None],
    ) -> None:
        self._source = source
        self._processor = processor
        self._writer = writer
        self._dead_letters = dead_letters
        self._ack = ack
        self.counters = IngestCounters()
        self.ledger = DeviceLedger()

    def run(self, stop: threading.Event) -> None:
        """Process batches until `stop` is set, writing one while the next is parsed.

        This thread reads and validates; a writer thread stores, dead-letters and
        acknowledges, one batch at a time and in order. At most one parsed batch waits
        for the writer, so memory holds two batches at most, and acknowledgements still
        follow their writes.
        """
        ready: queue.Queue[_Parsed | None] = queue.Queue(maxsize=1)
        writer = threading.Thread(target=self._write_all, args=(ready,), name="ingest-writer")
        writer.start()
        try:
            while not stop.is_set():
                try:
                    batch = self._source.collect(0.2)
                    if batch:
                        ready.put(self._parse(batch))
                except Exception:
                    logger.exception("ingest batch failed; its messages stay unacknowledged")
                    stop.wait(1.0)
        finally:
            ready.put(None)
            writer.join()

    def _write_all(self, ready: queue.Queue[_Parsed | None]) -> None:
        while (parsed := ready.get()) is not None:
            try:
                self._store(parsed)
            except Exception:
                logger.exception("ingest write failed; its messages stay unacknowledged")

    def step(self, timeout: float = 0.2) -> int:
        """Handle one batch; return how many messages it acknowledged."""
        batch = self._source.collect(timeout)
        if batch:
            self.handle(batch)
        return len(batch)

    def handle(self, batch: Sequence[Inbound]) -> None:
        """Store one batch's points, dead-letter what was refused, then acknowledge it."""
        self._store(self._parse(batch))

    def _parse(self, batch: Sequence[Inbound]) -> _Parsed:
        lines: list[str] = []
        ends: list[int] = []  # where each message's lines end, to find a refused line's owner
        dead: list[DeadLetter] = []
        process = self._processor.process
        for message in batch:
            processed = process(message)
            lines.extend(processed.lines)
            ends.append(len(lines))
            if processed.dead:
                dead.extend(processed.dead)
            self._account(message, processed)
        return _Parsed(batch, lines, ends, dead)

    def _store(self, parsed: _Parsed) -> None:
        batch, lines, ends, dead = parsed
        refused = self._writer.write(lines)
        if refused:
            position = {line: index for index, line in enumerate(lines)}
            for item in refused:
                owner = batch[bisect_right(ends, position[item.line])]
                dead.append(
                    DeadLetter(
                        owner.received,
                        owner.topic,
                        f"InfluxDB refused: {item.reason}",
                        item.line.encode(),
                    )
                )
        if dead:
            self._dead_letters.add(dead)
        self._ack(batch)
        self.counters.batches += 1
        self.counters.readings_written += len(lines) - len(refused)
        self.counters.lines_refused += len(refused)

    def _account(self, message: Inbound, processed: Processed) -> None:
        self.counters.messages += 1
        self.counters.readings_rejected += processed.readings_rejected
        if processed.dead and processed.readings_rejected == 0:
            self.counters.messages_rejected += 1
        for letter in processed.dead:
            logger.warning("rejected %s: %s", letter.topic, letter.reason)
        topic = processed.topic
        if topic is not None:
            self.ledger.record(
                topic.site, topic.device, processed.seq, processed.sent_ms, message.received
            )
