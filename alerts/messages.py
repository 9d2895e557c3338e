"""The words of a notification, in English and Chinese: unit, temperature, how long, link."""

from __future__ import annotations

from datetime import datetime

from alerts.alert_record import Alert
from alerts.kinds import AlertKind

TEXT = {
    "en": {
        AlertKind.TEMPERATURE: "{sensor} is at {value:.1f} °C ({severity}) for {minutes} min",
        AlertKind.DOOR_OPEN: "{sensor}: door open for {minutes} min",
        AlertKind.PROBE_FAULT: "{sensor}: the probe is not working",
        AlertKind.SENSOR_SILENT: "{sensor}: no reading for {minutes} min",
        AlertKind.DEVICE_OFFLINE: "{device} is offline (for {minutes} min)",
        AlertKind.CLOCK: "{device}: its clock is wrong",
        AlertKind.CLOCK_UNSYNCED: "{device}: its clock is not synchronised (NTP)",
        AlertKind.PUBLISH_DENIED: (
            "{device} tried to publish under another device's topics (refused by the broker)"
        ),
        "open": "ALERT",
        "severity": "SEVERITY NOW CRITICAL",
        "reminder": "STILL NOT ACKNOWLEDGED",
        "escalation": "NOT ACKNOWLEDGED, ESCALATED",
        "resolved": "RESOLVED",
        "back": "{what}: back to normal",
        "acknowledge": "Acknowledge: {link}",
        "warning": "warning",
        "critical": "critical",
    },
    "zh-CN": {
        AlertKind.TEMPERATURE: "{sensor} 温度 {value:.1f} °C（{severity}），已持续 {minutes} 分钟",
        AlertKind.DOOR_OPEN: "{sensor}：柜门已打开 {minutes} 分钟",
        AlertKind.PROBE_FAULT: "{sensor}：温度探头故障",
        AlertKind.SENSOR_SILENT: "{sensor}：已 {minutes} 分钟无读数",
        AlertKind.DEVICE_OFFLINE: "{device} 已离线（{minutes} 分钟）",
        AlertKind.CLOCK: "{device}：设备时钟不准",
        AlertKind.CLOCK_UNSYNCED: "{device}：设备时钟未同步（NTP）",
        AlertKind.PUBLISH_DENIED: "{device} 试图以其他设备的主题发布消息（已被服务器拒绝）",
        "open": "告警",
        "severity": "已升级为严重",
        "reminder": "仍未确认",
        "escalation": "未确认，已通知主管",
        "resolved": "已恢复",
        "back": "{what}：已恢复正常",
        "acknowledge": "确认处理：{link}",
        "warning": "警告",
        "critical": "严重",
    },
}


def compose(alert: Alert, purpose: str, link: str, now: datetime, language: str) -> tuple[str, str]:
    """The title and body of a notification about an alert."""
    words = TEXT.get(language, TEXT["en"])
    key = alert.key
    minutes = max(0, int((now - alert.since).total_seconds() // 60))
    if purpose == "resolved":  # not the last value out of range: that reads as still warm
        what = str(words["back"]).format(what=key.sensor or key.device)
        return f"[{key.site}] {words[purpose]}: {what}", what
    what = str(words[key.kind]).format(
        sensor=key.sensor,
        device=key.device,
        value=alert.value if alert.value is not None else float("nan"),
        severity=words[alert.severity.value],
        minutes=minutes,
    )
    title = f"[{key.site}] {words[purpose]}: {what}"
    body = (
        what if purpose == "resolved" else f"{what}\n{str(words['acknowledge']).format(link=link)}"
    )
    return title, body
