"""Delivering notifications: retries, the daily cap, skipped reminders, missing URLs, words."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest

from alerts import links
from alerts.kinds import AlertKey, AlertKind, Severity
from alerts.notify import Deliverer
from alerts.store import AlertStore
from tests.alerts.doubles import FRIDGE, SECRET, T0, FailingSender, RecordingSender

MakeDeliverer = Callable[..., Deliverer]
SECOND = timedelta(seconds=1)


def test_a_failing_delivery_is_retried_later_and_later_then_failed(
    store: AlertStore, make_deliverer: MakeDeliverer
) -> None:
    sender = FailingSender()
    deliverer = make_deliverer(sender, max_attempts=4, first_retry=timedelta(seconds=30))
    alert = store.open(FRIDGE, Severity.CRITICAL, T0, 9.0, T0)
    store.queue_delivery(alert.id, "duty", "open", T0)

    assert deliverer.run_due(T0) == 0
    assert sender.attempts == 1
    assert store.get(alert.id).delivery == "retrying"
    now = T0
    for delay in (30, 60, 120):  # each retry waits twice as long as the one before
        assert deliverer.run_due(now + (delay - 1) * SECOND) == 0
        attempts = sender.attempts
        now += delay * SECOND
        deliverer.run_due(now)
        assert sender.attempts == attempts + 1, f"retried {delay} s after the last try"
    assert sender.attempts == 4
    [delivery] = store.deliveries(alert.id)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 4)
    assert "HTTP 503" in delivery["error"]
    assert store.get(alert.id).delivery == "failed"
    deliverer.run_due(now + timedelta(hours=1))
    assert sender.attempts == 4, "a failed delivery is not tried again"


def test_a_retry_that_succeeds_marks_the_alert_delivered(
    store: AlertStore, make_deliverer: MakeDeliverer
) -> None:
    alert = store.open(FRIDGE, Severity.WARNING, T0, 6.0, T0)
    store.queue_delivery(alert.id, "duty", "open", T0)
    make_deliverer(FailingSender()).run_due(T0)
    sender = RecordingSender()
    assert make_deliverer(sender).run_due(T0 + 30 * SECOND) == 1
    assert len(sender.sent) == 1
    assert store.get(alert.id).delivery == "delivered"
    assert [(d["status"], d["attempts"]) for d in store.deliveries(alert.id)] == [("sent", 2)]


def test_the_daily_cap_stops_sending_until_the_next_day(
    store: AlertStore, make_deliverer: MakeDeliverer
) -> None:
    sender = RecordingSender()
    deliverer = make_deliverer(sender, daily_cap=2)
    ids = []
    for n in range(3):
        key = AlertKey("site-a", "node-1", f"fridge-{n}", AlertKind.TEMPERATURE)
        ids.append(store.open(key, Severity.WARNING, T0, 6.0, T0).id)
        store.queue_delivery(ids[-1], "duty", "open", T0)
    store.queue_delivery(ids[0], "manager", "escalation", T0)

    assert deliverer.run_due(T0) == 3, "two for duty; the manager's count is separate"
    assert [urls for urls, _, _ in sender.sent] == [
        ["json://duty.invalid/duty"],
        ["json://duty.invalid/duty"],
        ["json://boss.invalid/m"],
    ]
    assert store.deliveries(ids[2])[0]["status"] == "capped"
    assert deliverer.run_due(T0 + timedelta(hours=1)) == 0, "a capped one is not retried"

    tomorrow = T0 + timedelta(days=1)
    store.queue_delivery(ids[2], "duty", "reminder", tomorrow)
    assert deliverer.run_due(tomorrow) == 1
    assert len(sender.sent) == 4


@pytest.mark.parametrize("purpose", ["reminder", "escalation"])
def test_a_reminder_or_escalation_is_skipped_once_acknowledged(
    store: AlertStore, make_deliverer: MakeDeliverer, purpose: str
) -> None:
    sender = RecordingSender()
    deliverer = make_deliverer(sender)
    alert = store.open(FRIDGE, Severity.CRITICAL, T0, 9.0, T0)
    store.queue_delivery(alert.id, "duty", "open", T0)
    deliverer.run_due(T0)
    store.queue_delivery(alert.id, "manager" if purpose == "escalation" else "duty", purpose, T0)
    store.acknowledge(alert.id, "li.wei", T0 + SECOND)

    assert deliverer.run_due(T0 + 2 * SECOND) == 0
    assert len(sender.sent) == 1, "only the first notification went out"
    assert [d["status"] for d in store.deliveries(alert.id)] == ["sent", "skipped"]
    assert store.get(alert.id).delivery == "delivered", "a skipped reminder is not a failure"


def test_a_resolution_notice_is_sent_even_when_acknowledged(
    store: AlertStore, make_deliverer: MakeDeliverer
) -> None:
    sender = RecordingSender()
    alert = store.open(FRIDGE, Severity.WARNING, T0, 6.0, T0)
    store.acknowledge(alert.id, "li.wei", T0)
    store.queue_delivery(alert.id, "duty", "resolved", T0)
    assert make_deliverer(sender).run_due(T0) == 1
    assert "RESOLVED" in sender.sent[0][1]


def test_no_url_for_the_role_fails_and_names_the_setting(
    store: AlertStore, make_deliverer: MakeDeliverer
) -> None:
    sender = RecordingSender()
    deliverer = make_deliverer(sender, channels={"site-a": {"duty": ["json://duty.invalid/d"]}})
    alert = store.open(FRIDGE, Severity.CRITICAL, T0, 9.0, T0)
    store.queue_delivery(alert.id, "manager", "escalation", T0)
    assert deliverer.run_due(T0) == 0
    assert sender.sent == []
    [delivery] = store.deliveries(alert.id)
    assert delivery["status"] == "failed"
    assert "manager" in delivery["error"]
    assert "site-a" in delivery["error"]
    assert "alerts.channels" in delivery["error"]
    assert store.get(alert.id).delivery == "failed"


def test_a_missing_channel_is_said_once_per_site_and_role_and_each_delivery_still_fails(
    store: AlertStore, make_deliverer: MakeDeliverer, caplog: pytest.LogCaptureFixture
) -> None:
    deliverer = make_deliverer(RecordingSender(), channels={})
    other = AlertKey("site-b", "node-1", "fridge-1", AlertKind.TEMPERATURE)
    alerts = [store.open(FRIDGE, Severity.WARNING, T0, 6.0, T0)]
    alerts.append(
        store.open(
            AlertKey("site-a", "node-2", "fridge-2", AlertKind.TEMPERATURE),
            Severity.WARNING,
            T0,
            6.0,
            T0,
        )
    )
    alerts.append(store.open(other, Severity.WARNING, T0, 6.0, T0))
    for alert in alerts:
        for purpose in ("open", "resolved"):
            store.queue_delivery(alert.id, "duty", purpose, T0)
    with caplog.at_level(logging.DEBUG, logger="alerts.notify"):
        assert deliverer.run_due(T0) == 0
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "alerts.notify"]
    loud = [message for level, message in said if level >= logging.INFO]
    assert len(loud) == 2, f"once for site-a's duty role, once for site-b's: {loud}"
    assert all(level == logging.WARNING for level, _ in said if level >= logging.INFO)
    assert "alerts.channels.site-a.duty" in loud[0]
    assert "hub.yaml" in loud[0]
    assert "/alerts/site-a" in loud[0], "where the alerts are shown meanwhile"
    assert "alerts.channels.site-b.duty" in loud[1]
    assert len(said) == 6, "the later ones at DEBUG"
    for alert in alerts:
        assert [d["status"] for d in store.deliveries(alert.id)] == ["failed", "failed"]
        assert store.get(alert.id).delivery == "failed"


def test_urls_for_every_site_serve_a_site_without_its_own(
    store: AlertStore, make_deliverer: MakeDeliverer
) -> None:
    sender = RecordingSender()
    deliverer = make_deliverer(sender, channels={"*": {"duty": ["json://all.invalid/d"]}})
    alert = store.open(FRIDGE, Severity.WARNING, T0, 6.0, T0)
    store.queue_delivery(alert.id, "duty", "open", T0)
    assert deliverer.run_due(T0) == 1
    assert sender.sent[0][0] == ["json://all.invalid/d"]


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["fridge-1 is at 9.3 °C (critical) for 20 min", "Acknowledge: "]),
        ("zh-CN", ["fridge-1 温度 9.3 °C（严重），已持续 20 分钟", "确认处理："]),  # noqa: RUF001
    ],
)
def test_the_message_names_the_unit_temperature_and_minutes_and_carries_the_link(
    store: AlertStore, make_deliverer: MakeDeliverer, language: str, words: list[str]
) -> None:
    sender = RecordingSender()
    deliverer = make_deliverer(sender, language=language)
    alert = store.open(FRIDGE, Severity.CRITICAL, T0, 9.3, T0 + timedelta(minutes=15))
    now = T0 + timedelta(minutes=20, seconds=40)
    store.queue_delivery(alert.id, "duty", "open", now)
    deliverer.run_due(now)

    [(_, title, body)] = sender.sent
    assert title.startswith("[site-a] ")
    for text in words:
        assert text in body
    assert words[0] in title
    link = body.rsplit(words[1], 1)[1].strip()
    assert link.startswith("https://hub.example/a/")
    token = link.removeprefix("https://hub.example/a/")
    assert links.verify(SECRET, token, now) == alert.id
    assert links.verify(SECRET, token, now + timedelta(hours=23)) == alert.id
    with pytest.raises(links.LinkError, match="expired"):
        links.verify(SECRET, token, now + timedelta(hours=24, seconds=1))


class BrokenSender:
    """A notification plugin with a bug of its own: it raises something unexpected."""

    def __init__(self) -> None:
        self.attempts = 0

    def send(self, urls: list[str], title: str, body: str) -> None:
        self.attempts += 1
        raise KeyError("plugin bug")


def test_a_sender_raising_anything_counts_as_a_failed_try_and_others_still_go(
    store: AlertStore, make_deliverer: MakeDeliverer
) -> None:
    broken = BrokenSender()
    first = store.open(FRIDGE, Severity.CRITICAL, T0, 9.0, T0)
    other = AlertKey(FRIDGE.site, FRIDGE.device, "fridge-2", AlertKind.TEMPERATURE)
    second = store.open(other, Severity.CRITICAL, T0, 9.5, T0)
    store.queue_delivery(first.id, "duty", "open", T0)
    store.queue_delivery(second.id, "duty", "open", T0)
    make_deliverer(broken, max_attempts=2).run_due(T0)
    assert broken.attempts == 2, "the second delivery was still tried"
    assert [d["attempts"] for d in store.deliveries(first.id)] == [1]
    assert "KeyError" in store.deliveries(first.id)[0]["error"]
    assert store.get(first.id).delivery == "retrying"


def test_a_resolution_notice_says_back_to_normal_not_the_old_temperature(
    store: AlertStore, make_deliverer: MakeDeliverer
) -> None:
    sender = RecordingSender()
    alert = store.open(FRIDGE, Severity.WARNING, T0, 6.5, T0)
    store.clear(alert.id, T0 + timedelta(minutes=40))
    store.queue_delivery(alert.id, "duty", "resolved", T0 + timedelta(minutes=40))
    make_deliverer(sender).run_due(T0 + timedelta(minutes=40))
    [(_, title, body)] = sender.sent
    assert "back to normal" in title
    assert "6.5" not in title + body
