"""The ingest loop: batch received messages, write their points, then acknowledge them."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


class Ingest:
    """Drains the inbox in batches: validate, write to InfluxDB, dead-letter, then ack.

    A message is acknowledged only after all its points are stored (or refused for their
    content and dead-lettered), in arrival order, so a crash anywhere re-delivers rather
    than drops.
    """

    def __init__(
        self,
        inbox: queue.Queue[Inbound],
        processor: MessageProcessor,
        writer: SureWriter,
        dead_letters: DeadLetterStore,
        ack: Callable[[Inbound], None],
        batch_lines: int = 5000,
        linger_s: float = 0.05,
        ack_all: Callable[[Sequence[Inbound]], None] | None = None,
    ) -> None:
        self._inbox = inbox
        self._processor = processor
        self._writer = writer
        self._dead_letters = dead_letters
        self._ack = ack
        self._ack_all = ack_all
        self._batch_lines = batch_lines
        self._linger_s = linger_s
        self.counters = IngestCounters()
        self.ledger = DeviceLedger()

    def run(self, stop: threading.Event) -> None:
        """Process batches until `stop` is set."""
        while not stop.is_set():
            try:
                self.step(timeout=0.2)
            except Exception:
                logger.exception("ingest batch failed; its messages stay unacknowledged")
                stop.wait(1.0)

    def _collect(self, timeout: float) -> list[Inbound]:
        try:
            batch = [self._inbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        lingered = False
        while len(batch) < self._batch_lines:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                if lingered:
                    break
                lingered = True
                try:
                    batch.append(self._inbox.get(timeout=self._linger_s))
                except queue.Empty:
                    break
        return batch

    def step(self, timeout: float = 0.2) -> int:
        """Handle one batch; return how many messages it acknowledged."""
        batch = self._collect(timeout)
        if not batch:
            return 0
        lines: list[str] = []
        owners: list[int] = []
        dead: list[DeadLetter] = []
        for index, message in enumerate(batch):
            processed = self._processor.process(message)
            lines.extend(processed.lines)
            owners.extend([index] * len(processed.lines))
            dead.extend(processed.dead)
            self._account(message, processed)
        refused = self._writer.write(lines)
        if refused:
            line_owner = dict(zip(lines, owners, strict=True))
            for item in refused:
                owner = batch[line_owner[item.line]]
                dead.append(
                    DeadLetter(
                        owner.received,
                        owner.topic,
                        f"InfluxDB refused: {item.reason}",
                        item.line.encode(),
                    )
                )
        self._dead_letters.add(dead)
        if self._ack_all is not None:
            self._ack_all(batch)
        else:
            for message in batch:
                self._ack(message)
        self.counters.batches += 1
        self.counters.readings_written += len(lines) - len(refused)
        self.counters.lines_refused += len(refused)
        return len(batch)

    def _account(self, message: Inbound, processed: Processed) -> None:
        self.counters.messages += 1
        self.counters.readings_rejected += processed.readings_rejected
        if processed.dead and processed.readings_rejected == 0:
            self.counters.messages_rejected += 1
        for letter in processed.dead:
            logger.warning("rejected %s: %s", letter.topic, letter.reason)
        topic, sent = processed.topic, processed.sent
        if topic is not None and sent is not None:
            self.ledger.record(topic.site, topic.device, processed.seq, sent, message.received)
