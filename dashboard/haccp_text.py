"""Every string of the HACCP temperature log's page, in English and Chinese, and its phrases.

The CSV download is always in English (its column names are for spreadsheets); the page
follows `?lang=` or the dashboard's language.
"""

# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose, ranges an en dash)

from __future__ import annotations

from datetime import datetime, tzinfo

from alerts.haccp import Excursion, LoggedUnit

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "HACCP temperature log",
        "site": "Site",
        "period": "Period",
        "zone": "Time zone",
        "made": "Made",
        "from": "From",
        "to": "To",
        "show": "Show",
        "csv": "Download CSV",
        "print_hint": "Print this page (Ctrl+P) for the inspection file.",
        "unit": "Unit",
        "limits": "Kind and limits",
        "readings": "Readings",
        "min": "Min °C",
        "max": "Max °C",
        "mean": "Mean °C",
        "excursions": "Excursions and alerts",
        "no_units": "No temperature reading and no alert stored for this site in this period.",
        "no_readings": "no readings",
        "missing": "no reading",
        "pending": "not yet",
        "none": "none",
        "fridge": "fridge",
        "freezer": "freezer",
        "hot-holding": "hot holding",
        "above": "warning > {warning} °C, critical > {critical} °C",
        "above_critical": "critical > {critical} °C",
        "below": "critical < {critical} °C",
        "temperature": "Out of range",
        "door_open": "Door left open",
        "probe_fault": "Probe fault",
        "sensor_silent": "Probe silent",
        "warning": "warning",
        "critical": "critical",
        "ongoing": "ongoing",
        "peak": "{celsius} °C when raised",
        "acknowledged_by": "acknowledged by {who} at {time}",
        "not_acknowledged": "not acknowledged",
        "action": "corrective action: {text}",
        "no_action": "no corrective action recorded",
        "resolved_by": "closed by {who} at {time}",
        "resolved_by_rules": "closed automatically at {time}",
        "minutes": "{minutes} min",
        "hours": "{hours} h {minutes:02d} min",
        "checked_by": "Checked by (name, signature)",
        "date": "Date",
        "rule_day": "A day runs from midnight to midnight, kitchen time ({zone}).",
        "rule_stats": "Min, max and mean are over every stored reading of the day.",
        "rule_checks": (
            "The reading at a check time is the last reading at or before it, no older than "
            "{minutes} minutes; otherwise “no reading”."
        ),
        "rule_excursions": (
            "An excursion lasts from the first reading beyond the limit until the unit was "
            "back in range; it is listed on every day it touches, with its whole duration."
        ),
        "marks": "▲ beyond the warning limit, ▲▲ beyond the critical limit.",
        "weekdays": "Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday",
    },
    "zh-CN": {
        "title": "HACCP 温度记录",
        "site": "站点",
        "period": "期间",
        "zone": "时区",
        "made": "生成时间",
        "from": "从",
        "to": "至",
        "show": "显示",
        "csv": "下载 CSV",
        "print_hint": "打印本页（Ctrl+P）存入检查档案。",
        "unit": "设备",
        "limits": "类型与限值",
        "readings": "读数次数",
        "min": "最低 °C",
        "max": "最高 °C",
        "mean": "平均 °C",
        "excursions": "超限与告警",
        "no_units": "此期间该站点没有存储的温度读数，也没有告警。",
        "no_readings": "无读数",
        "missing": "无读数",
        "pending": "未到时间",
        "none": "无",
        "fridge": "冷藏柜",
        "freezer": "冷冻柜",
        "hot-holding": "热保温",
        "above": "高于 {warning} °C 警告，高于 {critical} °C 严重",
        "above_critical": "高于 {critical} °C 严重",
        "below": "低于 {critical} °C 严重",
        "temperature": "温度超限",
        "door_open": "柜门未关",
        "probe_fault": "探头故障",
        "sensor_silent": "探头无读数",
        "warning": "警告",
        "critical": "严重",
        "ongoing": "持续中",
        "peak": "告警时 {celsius} °C",
        "acknowledged_by": "{who} 于 {time} 确认",
        "not_acknowledged": "未确认",
        "action": "纠正措施：{text}",
        "no_action": "未记录纠正措施",
        "resolved_by": "{who} 于 {time} 关闭",
        "resolved_by_rules": "{time} 自动关闭",
        "minutes": "{minutes} 分钟",
        "hours": "{hours} 小时 {minutes:02d} 分钟",
        "checked_by": "检查人（姓名、签字）",
        "date": "日期",
        "rule_day": "一天指厨房所在时区（{zone}）的零点至次日零点。",
        "rule_stats": "最低、最高和平均值按当天存储的全部读数计算。",
        "rule_checks": (
            "检查时间的读数为该时间当时或之前、且不早于 {minutes} 分钟的最后一次读数；"
            "否则记为“无读数”。"
        ),
        "rule_excursions": (
            "超限从第一次超出限值的读数开始，到设备恢复正常为止；"
            "跨天的超限在涉及的每一天都列出，并注明总时长。"
        ),
        "marks": "▲ 超出警告限值，▲▲ 超出严重限值。",
        "weekdays": "星期一,星期二,星期三,星期四,星期五,星期六,星期日",
    },
}


def words(language: str) -> dict[str, str]:
    """The strings of a language (English when it is not known)."""
    return TEXT.get(language, TEXT["en"])


def duration_text(minutes: int, t: dict[str, str]) -> str:
    """45 min, or 1 h 05 min."""
    if minutes < 60:
        return t["minutes"].format(minutes=minutes)
    return t["hours"].format(hours=minutes // 60, minutes=minutes % 60)


def limits_text(unit: LoggedUnit, t: dict[str, str]) -> str:
    """A unit's kind and alert limits, as the page prints them."""
    kind = t.get(unit.kind, unit.kind)
    if unit.too_cold_is_bad:
        limits = t["below"].format(critical=f"{unit.critical_c:g}")
    elif unit.warning_c is None:
        limits = t["above_critical"].format(critical=f"{unit.critical_c:g}")
    else:
        limits = t["above"].format(warning=f"{unit.warning_c:g}", critical=f"{unit.critical_c:g}")
    return f"{kind}: {limits}"


def _clock(moment: datetime, tz: tzinfo, day_of: datetime) -> str:
    local = moment.astimezone(tz)
    same_day = local.date() == day_of.astimezone(tz).date()
    return local.strftime("%H:%M") if same_day else local.strftime("%Y-%m-%d %H:%M")


def excursion_parts(excursion: Excursion, t: dict[str, str], tz: tzinfo) -> list[str]:
    """An excursion in a few phrases: what, when, how long, who answered, what was done."""
    alert = excursion.alert
    since = alert.since
    end = t["ongoing"] if excursion.ongoing else _clock(excursion.end, tz, since)
    when = f"{since.astimezone(tz).strftime('%Y-%m-%d %H:%M')}–{end}"
    parts = [
        f"{t.get(alert.key.kind.value, alert.key.kind.value)} ({t[alert.severity.value]})",
        f"{when} ({duration_text(excursion.minutes, t)})",
    ]
    if alert.value is not None:
        parts.append(t["peak"].format(celsius=f"{alert.value:.1f}"))
    if alert.acknowledged_by and alert.acknowledged_at:
        ack_time = _clock(alert.acknowledged_at, tz, since)
        parts.append(t["acknowledged_by"].format(who=alert.acknowledged_by, time=ack_time))
    else:
        parts.append(t["not_acknowledged"])
    if alert.corrective_action:
        parts.append(t["action"].format(text=alert.corrective_action))
    elif alert.key.kind.value == "temperature":
        parts.append(t["no_action"])
    if alert.resolved_by and alert.resolved_at:
        closed = _clock(alert.resolved_at, tz, since)
        phrase = t["resolved_by_rules"] if alert.resolved_by == "rules" else t["resolved_by"]
        parts.append(phrase.format(who=alert.resolved_by, time=closed))
    return parts
