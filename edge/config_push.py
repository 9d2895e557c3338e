"""What the hub pushes to a device: the dish being served and each bin's waste category.

A config the hub pushes (retained on the device's config topic) is queued by the
link's thread and applied by the agent's loop at the start of its next round: its dish
goes to every source that tags its readings with one (`BinTagging`, the waste stations),
and each of them gets its own bin's category (`DeviceConfig.category_of` its sensor); a
null one returns each to its own. A bin the config names that is not one of the device's
waste stations is logged and ignored, and so is a config that does not parse.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from edge.sources import ReadingSource
from protocol import DeviceConfig, DeviceTopic, ProtocolError, WasteCategory, parse_config

logger = logging.getLogger(__name__)


@runtime_checkable
class BinTagging(Protocol):
    """A source whose readings carry the dish being served and a category (a waste station)."""

    name: str
    """The bin's sensor slug: its key in the config's `categories`."""

    def set_dish(self, dish: str | None) -> None:
        """Set the dish the hub pushed; None falls back to the source's own."""
        ...

    def set_category(self, category: WasteCategory | None) -> None:
        """Set the bin's category the hub pushed; None falls back to the source's own."""
        ...


class PushedConfigs:
    """The configs pushed on one device's config topic, waiting to be applied in order."""

    def __init__(self, topic: DeviceTopic, sources: Sequence[ReadingSource]) -> None:
        self.topic = topic
        self._taggers = [s for s in sources if isinstance(s, BinTagging)]
        self._waiting: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    def put(self, payload: bytes) -> None:
        """Queue a pushed payload (from the link's thread)."""
        self._waiting.put(payload)

    def apply(self) -> None:
        """Apply each queued config in order; a bad one is logged and ignored."""
        while True:
            try:
                payload = self._waiting.get_nowait()
            except queue.Empty:
                return
            try:
                config = parse_config(self.topic, payload)
            except ProtocolError as err:
                logger.warning("ignoring the config pushed on %s: %s", self.topic, err)
                continue
            self._apply(config)

    def _apply(self, config: DeviceConfig) -> None:
        """Give every waste station the pushed dish and its own bin's category."""
        for source in self._taggers:
            source.set_dish(config.dish)
            source.set_category(config.category_of(source.name))
        unknown = sorted(set(config.categories or {}) - {s.name for s in self._taggers})
        if unknown:
            logger.warning(
                "the config pushed on %s names bin(s) %s that are not waste stations of this "
                "device; ignored for them",
                self.topic,
                ", ".join(unknown),
            )
        logger.info(
            "hub pushed dish %s to %d source(s), categories: %s",
            config.dish,
            len(self._taggers),
            ", ".join(f"{s.name} {config.category_of(s.name) or 'own'}" for s in self._taggers),
        )
