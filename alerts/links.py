"""Signed, expiring acknowledgement links: `/a/{token}` works for one alert, for a while.

The token is the alert's id and an expiry time, signed with HMAC-SHA256 and the hub's
secret key. A changed id, a changed expiry or another key's signature is refused, and
so is any token after its expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime


class LinkError(ValueError):
    """A link that is forged, damaged or expired."""


def _signature(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(key: bytes, alert_id: int, expires: datetime) -> str:
    """A token for one alert, valid until `expires`."""
    payload = f"{alert_id}.{int(expires.timestamp())}"
    return f"{payload}.{_signature(key, payload)}"


def verify(key: bytes, token: str, now: datetime) -> int:
    """The alert id a token is for; LinkError if it is not genuine or has expired."""
    try:
        alert_id, expires, signature = token.split(".")
    except ValueError as err:
        raise LinkError("this link is damaged") from err
    if not token.isascii():
        raise LinkError("this link is damaged")
    # The signature covers the text as sent, so "042" or "+42" is not taken for "42".
    payload = f"{alert_id}.{expires}"
    if not hmac.compare_digest(signature, _signature(key, payload)):
        raise LinkError("this link is not genuine")
    if now.timestamp() > int(expires):
        raise LinkError("this link has expired: open the alert list instead")
    return int(alert_id)
