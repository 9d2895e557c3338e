"""The edge agent's loop: poll the sensors, keep every reading, send it, forget it on PUBACK.

Order of work, every tick of the loop:
1. poll each sensor whose interval is due and put its readings in the outbox
   (on disk) before anything is sent;
2. take the broker's answers: a PUBACK marks a message acknowledged (forgotten
   `KEEP_ACKED_S` later: after the agent lost the broker, and when it starts, the kept
   ones are sent again, since a broker killed before its autosave has lost them), a
   refusal (MQTT v5 reason >= 0x80) keeps it for a retry after a backoff;
3. while connected: send the outbox's unacknowledged messages not already on their
   way (after a restart, the same seq and bytes as before), then pack new ones,
   oldest readings first, at most `replay_messages_per_s` a second and at most
   `MAX_IN_FLIGHT` awaiting PUBACK;
4. every `status_interval_s`, publish the retained health status.

Between rounds the loop sleeps until the next of these is due (at most `IDLE_NAP_S`),
`TICK_S` while something waits to be sent; a broker's answer or a pushed config wakes it.

Polling and sensor faults are `edge.polling`'s, keeping (the clock not trusted, the disk
full) `edge.keeper`'s; a config the hub pushes is queued by the link's thread and applied
at the start of the next round (`edge.config_push`).

Live or replay: while the readings waiting fit in the in-flight window
(`LIVE_LIMIT`) each goes alone in its message, as PROTOCOL.md's live traffic does;
beyond it they are a backlog and go out in batches of up to REPLAY_BATCH (500).
Packing is oldest-first, so readings taken during a replay go out right behind the
backlog, never ahead of it.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from edge.clock_trust import ClockTrust, clock_basis_ns, read_boot_id
from edge.config import KEEP_ACKED_S, MAX_IN_FLIGHT, Clock, EdgeConfig
from edge.config_push import PushedConfigs
from edge.health import HealthProbe, HealthReport
from edge.keeper import Keeper
from edge.mqtt_link import Delivery, Link, LinkError
from edge.outbox import Outbox, PackedMessage
from edge.polling import SensorPoller
from edge.sources import ReadingSource
from protocol import (
    REPLAY_BATCH,
    Channel,
    DeviceTopic,
    Status,
    device_topic,
    encode_status,
)

logger = logging.getLogger(__name__)

LIVE_LIMIT = MAX_IN_FLIGHT
"""Up to this many waiting readings go one a message; more is a backlog, sent in batches."""
TICK_S = 0.05
"""The loop's nap while something waits to be sent or kept (the replay's pace needs it)."""
IDLE_NAP_S = 1.0
"""Its longest nap otherwise, when no poll, status or forgetting is due sooner: a broker
that came back is noticed within it. Answers and pushed configs wake it at once."""
RETRY_MAX_S = 60.0


def utc_now() -> datetime:
    """The Pi's clock, aware, in UTC."""
    return datetime.now(UTC)


@cache
def agent_version() -> str:
    """The installed smart-canteen version, reported in the status."""
    try:
        return version("smart-canteen")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(slots=True)
class Outgoing:
    """A packed message on its way: its message id while in flight, its refusals."""

    message: PackedMessage
    mid: int | None = None
    refusals: int = 0
    retry_at: float = 0.0


class Pace:
    """A token bucket: at most `rate` messages a second, in bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, max(burst, 1.0)
        self._tokens, self._at = self.burst, now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Agent:
    """One device's agent: its sensors, its outbox and its link to the broker."""

    def __init__(
        self,
        config: EdgeConfig,
        sources: Sequence[ReadingSource],
        outbox: Outbox,
        link: Link,
        clock: Clock = utc_now,
        *,
        health: HealthProbe | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock_trust: ClockTrust | None = None,
        clock_basis_ns: Callable[[], int] = clock_basis_ns,
    ) -> None:
        self.config, self.sources, self.outbox, self.link = config, list(sources), outbox, link
        self._clock, self._monotonic = clock, monotonic
        self._health = health or HealthProbe(config.state_dir)
        self._health_report = HealthReport(None, None, None)
        trust = clock_trust or ClockTrust(self._health.clock_synced, read_boot_id())
        self._keeper = Keeper(outbox, trust, clock_basis_ns)
        root = config.topic_root
        self.telemetry_topic = device_topic(config.site, config.device, Channel.TELEMETRY, root)
        self.status_topic = device_topic(config.site, config.device, Channel.STATUS, root)
        self.config_topic = DeviceTopic(config.site, config.device, Channel.CONFIG, root)
        self.sensor_names = sorted({s.name for s in self.sources})
        start = monotonic()
        self._poller = SensorPoller(self.sources, clock, start, self._send_status_now)
        self._pushed = PushedConfigs(self.config_topic, self.sources)
        self._pace = Pace(config.replay_messages_per_s, MAX_IN_FLIGHT, start)
        self._next_status = start + config.status_interval_s
        self._deliveries: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._wake = threading.Event()
        self.outgoing = {m.seq: Outgoing(m) for m in outbox.unacknowledged()}
        self._acked_at: dict[int, float] = {}
        """Monotonic time of each kept acknowledged message's PUBACK, by seq."""
        self._was_connected = False
        self._next_forget = start
        self._by_mid: dict[int, Outgoing] = {}
        self.refusals = 0

    def run(self, stop: threading.Event, heartbeat: Callable[[], None] = lambda: None) -> None:
        """Connect, then poll, keep and send until `stop` is set.

        `heartbeat` is called after every round (systemd's watchdog): if the loop hangs,
        the heartbeats stop and the service manager restarts the agent.
        """
        self._health_report = self._health.read()
        self.link.connect(self.status_payload, self.deliver, self.receive_config)
        while not stop.is_set():
            self._wake.clear()
            try:
                self.step()
            except Exception:  # the thread's top level: log and keep going
                logger.exception("%s/%s: agent step failed", self.config.site, self.config.device)
            heartbeat()
            self._wake.wait(self._nap(self._monotonic()))

    def _nap(self, now: float) -> float:
        """How long the loop may sleep: until the next poll, status or forgetting is due.

        A probe node read every 30 s so wakes about once a second, not 20 times; while
        readings wait to be kept or sent, or a publish to be retried, it naps `TICK_S`.
        """
        if self._keeper.unsaved() or any(o.mid is None for o in self.outgoing.values()):
            return TICK_S
        if self.outbox.pending() and self.link.is_connected():
            return TICK_S
        due = min(self._poller.next_due(), self._next_status, now + IDLE_NAP_S)
        if self._acked_at:
            due = min(due, self._next_forget)
        return min(max(due - now, 0.0), IDLE_NAP_S)

    def deliver(self, delivery: Delivery) -> None:
        """Take the broker's answer to a publish (called from the link's thread)."""
        self._deliveries.put(delivery)
        self._wake.set()

    def receive_config(self, payload: bytes) -> None:
        """Take a config the hub pushed (called from the link's thread); applied next round."""
        self._pushed.put(payload)
        self._wake.set()

    def step(self) -> None:
        """Do one round of work: apply pushed configs, poll, settle answers, send, report."""
        self._pushed.apply()
        now = self._monotonic()
        self._keeper.keep(self._poller.poll_due(now))
        self._settle_deliveries(now)
        connected = self.link.is_connected()
        if connected and not self._was_connected:
            self._resend_kept()
        self._was_connected = connected
        if connected:
            self._forget_saved(now)
            self._send(now)
            self._report_status(now)

    def _resend_kept(self) -> None:
        """At each connection, the first included (the agent may have been down), send
        again what the broker acknowledged lately: it may have died unsaved."""
        self._acked_at.clear()
        reopened = [m for m in self.outbox.reopen_acknowledged() if m.seq not in self.outgoing]
        for message in reopened:
            self.outgoing[message.seq] = Outgoing(message)
        if reopened:
            logger.info(
                "sending %d messages again that the broker acknowledged in the %.0f s before "
                "the last connection or start (it may not have saved them)",
                len(reopened),
                KEEP_ACKED_S,
            )

    def _forget_saved(self, now: float) -> None:
        """Forget acknowledged messages the broker has had time to save."""
        if now < self._next_forget:
            return
        self._next_forget = now + 1.0
        saved = [seq for seq, at in self._acked_at.items() if at <= now - KEEP_ACKED_S]
        if saved:
            self.outbox.forget(saved)
            for seq in saved:
                del self._acked_at[seq]

    def _send_status_now(self) -> None:
        """A sensor started or stopped failing: the status goes out this round."""
        self._next_status = self._monotonic()

    def faulty_sensors(self) -> list[str]:
        """The names of the sensors whose driver is failing now, for the status."""
        return self._poller.faulty_sensors()

    def _settle_deliveries(self, now: float) -> None:
        while True:
            try:
                delivery = self._deliveries.get_nowait()
            except queue.Empty:
                return
            outgoing = self._by_mid.pop(delivery.mid, None)
            if outgoing is None:  # a status message
                continue
            outgoing.mid = None
            if delivery.accepted:
                self.outbox.acknowledge(outgoing.message.seq)
                self._acked_at[outgoing.message.seq] = now
                del self.outgoing[outgoing.message.seq]
                continue
            self.refusals += 1
            outgoing.refusals += 1
            wait = min(RETRY_MAX_S, 2.0**outgoing.refusals) * random.uniform(0.5, 1.0)  # noqa: S311
            outgoing.retry_at = now + wait
            logger.warning(
                "broker refused telemetry seq %d (%s); kept, retrying in %.0f s",
                outgoing.message.seq,
                delivery.reason,
                wait,
            )

    def _send(self, now: float) -> None:
        for outgoing in list(self.outgoing.values()):
            if outgoing.mid is None and outgoing.retry_at <= now:
                self._publish(outgoing, now)
        while len(self.outgoing) < MAX_IN_FLIGHT and self.outbox.pending() and self._pace.take(now):
            batch = REPLAY_BATCH if self.outbox.pending() > LIVE_LIMIT else 1
            message = self.outbox.pack(batch, self._clock())
            if message is None:
                return
            outgoing = self.outgoing[message.seq] = Outgoing(message)
            self._publish(outgoing, now)

    def _publish(self, outgoing: Outgoing, now: float) -> None:
        try:
            mid = self.link.publish(self.telemetry_topic, outgoing.message.body, qos=1)
        except LinkError as err:
            logger.warning("could not send seq %d: %s", outgoing.message.seq, err)
            outgoing.retry_at = now + 1.0
            return
        outgoing.mid = mid
        self._by_mid[mid] = outgoing

    def _report_status(self, now: float) -> None:
        if now < self._next_status:
            return
        self._next_status = now + self.config.status_interval_s
        self._health_report = self._health.read()
        try:
            self.link.publish(self.status_topic, self.status_payload(), qos=1, retain=True)
        except LinkError as err:
            logger.warning("could not send the status: %s", err)

    def status_payload(self) -> bytes:
        """The retained status: online, health, backlog (also the birth message)."""
        health = self._health_report
        status = Status.model_validate(
            {
                "v": 1,
                "online": True,
                "ts": self._clock(),
                "agent": agent_version(),
                "sensors": self.sensor_names,
                "backlog": self.outbox.backlog() + self.outbox.held(),
                "cpu_temp_c": health.cpu_temp_c,
                "disk_free_mb": health.disk_free_mb,
                "clock_synced": health.clock_synced,
                "faults": self.faulty_sensors() or None,
                "outbox_dropped": self.outbox.dropped(),
                "refused": self.refusals,
            }
        )
        return encode_status(status)
