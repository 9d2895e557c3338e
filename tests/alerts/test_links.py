"""Signed acknowledgement links: genuine ones work until they expire, nothing else does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from alerts.links import LinkError, sign, verify
from tests.alerts.doubles import SECRET, T0

EXPIRES = T0 + timedelta(hours=24)
TOKEN = sign(SECRET, 42, EXPIRES)


def test_a_signed_link_verifies_to_its_alert() -> None:
    assert verify(SECRET, TOKEN, T0) == 42
    assert verify(SECRET, TOKEN, EXPIRES) == 42, "still good at its last second"
    assert verify(SECRET, sign(SECRET, 7, EXPIRES), T0) == 7


def test_a_link_with_another_alert_id_is_refused() -> None:
    _, expires, signature = TOKEN.split(".")
    with pytest.raises(LinkError, match="not genuine"):
        verify(SECRET, f"43.{expires}.{signature}", T0)


def test_a_link_with_a_later_expiry_is_refused() -> None:
    alert_id, expires, signature = TOKEN.split(".")
    later = int(expires) + 7 * 24 * 3600
    with pytest.raises(LinkError, match="not genuine"):
        verify(SECRET, f"{alert_id}.{later}.{signature}", EXPIRES + timedelta(days=1))


def test_a_link_signed_with_another_key_is_refused() -> None:
    forged = sign(b"another hub's key, 32 characters", 42, EXPIRES)
    with pytest.raises(LinkError, match="not genuine"):
        verify(SECRET, forged, T0)


@pytest.mark.parametrize(
    "token",
    ["", "42", "42.1700000000", "a.b.c", "42.1700000000.sig.more", TOKEN[:-3], TOKEN + "x"],
)
def test_a_damaged_link_is_refused(token: str) -> None:
    with pytest.raises(LinkError):
        verify(SECRET, token, T0)


def test_an_expired_link_is_refused() -> None:
    with pytest.raises(LinkError, match="expired"):
        verify(SECRET, TOKEN, EXPIRES + timedelta(seconds=1))


def _respelled(token: str) -> st.SearchStrategy[str]:
    """The same numbers written another way: what int() would read back as the same."""
    alert_id, expires, signature = token.split(".")
    spellings = st.sampled_from(["0{}", "+{}", " {}", "{} ", "{}\n", "٤٢"])
    return st.one_of(
        spellings.map(lambda form: f"{form.format(alert_id)}.{expires}.{signature}"),
        spellings.map(lambda form: f"{alert_id}.{form.format(expires)}.{signature}"),
    )


def _one_character_changed(token: str) -> st.SearchStrategy[str]:
    return st.tuples(st.integers(0, len(token) - 1), st.characters()).map(
        lambda change: token[: change[0]] + change[1] + token[change[0] + 1 :]
    )


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789._-+ abcdefXYZ"),
        _respelled(TOKEN),
        _one_character_changed(TOKEN),
        st.text().map(lambda extra: TOKEN + extra),
        st.integers(0, len(TOKEN) - 1).map(lambda cut: TOKEN[:cut]),
    )
)
@example("042." + TOKEN.split(".", 1)[1])
@example("4_2." + TOKEN.split(".", 1)[1])
@example(TOKEN[:-1] + "é")
@example(TOKEN[:-1] + "\udc80")
def test_any_token_sign_did_not_make_is_refused(token: str) -> None:
    if token == TOKEN:
        assert verify(SECRET, token, T0) == 42
        return
    with pytest.raises(LinkError):
        verify(SECRET, token, T0)


@given(st.integers(min_value=1, max_value=2**62), st.integers(min_value=1, max_value=10**6))
def test_every_alert_id_round_trips(alert_id: int, seconds: int) -> None:
    now = datetime(2026, 11, 23, tzinfo=UTC)
    token = sign(SECRET, alert_id, now + timedelta(seconds=seconds))
    assert verify(SECRET, token, now) == alert_id
