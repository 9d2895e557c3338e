"""Every string of the phone pages (alert list, one alert), in English and Chinese."""

from __future__ import annotations

from alerts.alert_record import Alert

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "alerts": "Open alerts",
        "no_alerts": "No open alert. Every unit is fine.",
        "alert": "Alert",
        "temperature": "Too warm",
        "door_open": "Door left open",
        "probe_fault": "Probe not working",
        "sensor_silent": "No reading",
        "device_offline": "Device offline",
        "clock": "Clock wrong",
        "clock_unsynced": "Clock not synchronised",
        "publish_denied": "Publish under another device refused",
        "warning": "Warning",
        "critical": "Critical",
        "open": "Open",
        "acknowledged": "Acknowledged",
        "resolved": "Resolved",
        "since": "Since",
        "value": "Last value",
        "back_to_normal": "Back to normal at",
        "acknowledged_by": "Acknowledged by {who} at {time}",
        "resolved_by": "Resolved by {who} at {time}",
        "your_name": "Your name",
        "acknowledge": "Acknowledge: I am on it",
        "action": "What was done (corrective action)",
        "action_hint": "e.g. moved the stock to fridge 2, called the engineer",
        "save_action": "Save the corrective action",
        "close": "Close the alert",
        "needs_action": "Critical: record what was done before it can be closed.",
        "delivery_failed": "The notification could not be delivered.",
        "delivery_retrying": "The notification is being retried.",
        "last_hours": "The last {hours} hours",
        "no_readings": "No reading stored for these hours.",
        "history": "History",
        "refused": "This link cannot be used",
        "refused_hint": "Ask for a new link, or open the alert list on the hub.",
        "saved": "Saved.",
        "minutes": "{minutes} min",
    },
    "zh-CN": {
        "alerts": "未处理告警",
        "no_alerts": "没有未处理的告警，所有设备正常。",
        "alert": "告警",
        "temperature": "温度偏高",
        "door_open": "柜门未关",
        "probe_fault": "探头故障",
        "sensor_silent": "无读数",
        "device_offline": "设备离线",
        "clock": "时钟不准",
        "clock_unsynced": "时钟未同步",
        "publish_denied": "冒用其他设备主题，已拒绝",
        "warning": "警告",
        "critical": "严重",
        "open": "待处理",
        "acknowledged": "已确认",
        "resolved": "已解决",
        "since": "开始于",
        "value": "最新数值",
        "back_to_normal": "恢复正常于",
        "acknowledged_by": "{who} 于 {time} 确认",
        "resolved_by": "{who} 于 {time} 关闭",
        "your_name": "您的姓名",
        "acknowledge": "确认：我来处理",
        "action": "处理措施（纠正措施）",
        "action_hint": "例如：已将食材移至 2 号冷藏柜，已联系维修",
        "save_action": "保存处理措施",
        "close": "关闭告警",
        "needs_action": "严重告警：请先记录处理措施，才能关闭。",
        "delivery_failed": "通知未能送达。",
        "delivery_retrying": "通知正在重试发送。",
        "last_hours": "最近 {hours} 小时",
        "no_readings": "这段时间没有存储的读数。",
        "history": "记录",
        "refused": "此链接无法使用",
        "refused_hint": "请索取新的链接，或在中控屏上打开告警列表。",
        "saved": "已保存。",
        "minutes": "{minutes} 分钟",
    },
}


def words(language: str) -> dict[str, str]:
    """The strings of a language (English when it is not known)."""
    return TEXT.get(language, TEXT["en"])


def what(alert: Alert) -> str:
    """The unit or device an alert is about."""
    return alert.key.sensor or alert.key.device
