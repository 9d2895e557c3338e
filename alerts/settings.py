"""Alert settings: who is told, how, how soon it escalates, and each unit's rules."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.policy import DefrostWindow, UnitPolicy

Role = str
ROLES = ("duty", "manager")


class AlertSettings(BaseModel):
    """The `alerts:` section of the hub file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, title="Evaluate alert rules in this hub")
    public_url: str = Field(
        "http://127.0.0.1:8080",
        title="Address of this dashboard as phones reach it (for acknowledgement links)",
    )
    channels: dict[str, dict[Role, list[str]]] = Field(
        default_factory=dict,
        title="Apprise URLs per site ('*' for every site) and role (duty, manager)",
        description="e.g. {'site-a': {'duty': ['ntfy://...'], 'manager': ['mailto://...']}}",
    )
    language: str = Field("en", title="Language of notifications (en or zh-CN)")
    escalate_after: timedelta = Field(timedelta(minutes=15), title="Tell the manager after")
    remind_every: timedelta = Field(timedelta(minutes=30), title="Remind the duty phone every")
    daily_cap: int = Field(40, ge=1, title="Most notifications per site, role and day")
    link_valid: timedelta = Field(timedelta(hours=24), title="An acknowledgement link works for")
    max_attempts: int = Field(8, ge=1, le=50, title="Tries per notification")
    first_retry: timedelta = Field(timedelta(seconds=30), title="First retry after")
    tick_s: float = Field(
        0.25,
        gt=0,
        le=60,
        title="Seconds between rule checks",
        description="A delay that elapses with no new reading is noticed this much later.",
    )
    units: dict[str, UnitPolicy] = Field(
        default_factory=dict, title="Rules of a unit by sensor name, replacing its kind's"
    )
    defrost: dict[str, list[DefrostWindow]] = Field(
        default_factory=dict, title="Defrost windows by sensor name"
    )

    @field_validator("channels")
    @classmethod
    def _known_roles(
        cls, value: dict[str, dict[Role, list[str]]]
    ) -> dict[str, dict[Role, list[str]]]:
        for site, roles in value.items():
            for role in roles:
                if role not in ROLES:
                    raise ValueError(f"channels.{site}.{role}: roles are {', '.join(ROLES)}")
        return value

    def urls(self, site: str, role: Role) -> list[str]:
        """Where a role of a site is told: its own URLs, else those for every site."""
        own = self.channels.get(site, {}).get(role)
        return own if own is not None else self.channels.get("*", {}).get(role, [])
