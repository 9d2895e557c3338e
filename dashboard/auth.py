"""Who is asking, and what they may see: sessions, kiosk tokens, CSRF tokens, the throttle.

- A person signs in at `/login` and gets a server-side session (cookie `canteen_session`,
  HttpOnly, SameSite=Lax, Secure over https); `require_role("manager")` guards a route.
- A wall screen carries a read-only kiosk token for one site (`?kiosk=TOKEN` once, then the
  `canteen_kiosk` cookie); `wall_reader` lets it, or any signed-in user, read the wall.
- Every form carries a CSRF token: an HMAC, under the hub's key, of a random cookie.
- `LoginThrottle` refuses sign-ins after 5 failures in 15 minutes per address and per name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import Response

from dashboard.settings import DashboardSettings
from dashboard.users import Kiosk, Role, User, UserStore

SESSION_COOKIE = "canteen_session"
KIOSK_COOKIE = "canteen_kiosk"
CSRF_COOKIE = "canteen_csrf"
CSRF_FIELD = "csrf_token"
KIOSK_QUERY = "kiosk"
KIOSK_COOKIE_S = 400 * 86400  # the longest a browser keeps a cookie
LOGIN_PATH = "/login"


class LoginThrottle:
    """Counts failed sign-ins per key (an address, a name) over a sliding window."""

    def __init__(
        self,
        limit: int = 5,
        window: timedelta = timedelta(minutes=15),
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window_s = window.total_seconds()
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    def wait_s(self, keys: list[str]) -> float:
        """Seconds before any of these keys may try again; 0 when none is at the limit."""
        now = self._clock()
        waits = [
            failures[0] + self.window_s - now
            for failures in (self._recent(key, now) for key in keys)
            if len(failures) >= self.limit
        ]
        return max(waits, default=0.0)

    def failed(self, keys: list[str]) -> None:
        """Count one failed sign-in against each key."""
        now = self._clock()
        if len(self._failures) >= self._max_keys:  # bounded memory under a spray of names
            for key in list(self._failures):
                self._recent(key, now)
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)


@dataclass
class Access:
    """The dashboard's access control: users, the hub's key, the throttle, cookie policy."""

    users: UserStore
    key: bytes
    settings: DashboardSettings
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    def secure(self, request: Request) -> bool:
        """Whether cookies get `Secure`: the request came over https, or the hub's public
        address is https (behind a TLS proxy that does not say X-Forwarded-Proto)."""
        public_https = self.settings.alerts.public_url.lower().startswith("https://")
        return request.url.scheme == "https" or public_https

    def set_cookie(
        self, response: Response, request: Request, name: str, value: str, max_age: int, **kw: Any
    ) -> None:
        """Set one of our cookies: HttpOnly always, Secure when `secure()` says so."""
        kw.setdefault("samesite", "strict")
        response.set_cookie(
            name, value, max_age=max_age, httponly=True, secure=self.secure(request), **kw
        )

    def csrf_token(self, request: Request) -> tuple[str, str | None]:
        """The token a form must send back, and a new cookie seed to set if there was none."""
        seed = request.cookies.get(CSRF_COOKIE, "")
        fresh = None
        if not 20 <= len(seed) <= 100:
            seed = fresh = secrets.token_urlsafe(32)
        return self._csrf_for(seed), fresh

    def _csrf_for(self, seed: str) -> str:
        return hmac.new(self.key, f"csrf:{seed}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, request: Request, sent: str) -> None:
        """Refuse (403) a form whose token does not match this browser's cookie."""
        seed = request.cookies.get(CSRF_COOKIE, "")
        if not seed or not hmac.compare_digest(sent.encode(), self._csrf_for(seed).encode()):
            raise HTTPException(
                403, "the form's security token is missing or stale: reload the page and retry"
            )


def get_access(request: Request) -> Access:
    """The app's access control."""
    access: Access = request.app.state.access
    return access


AccessDep = Annotated[Access, Depends(get_access)]


def signed_in(request: Request, access: AccessDep) -> User | None:
    """The user whose session cookie came with the request, if it is live."""
    token = request.cookies.get(SESSION_COOKIE)
    return access.users.session_user(token, datetime.now(UTC)) if token else None


SignedIn = Annotated[User | None, Depends(signed_in)]


def _sign_in_needed(request: Request) -> HTTPException:
    if request.url.path.startswith("/api/"):
        return HTTPException(
            401,
            "sign in first (/login), or give a wall screen a kiosk token",
            headers={"WWW-Authenticate": 'Cookie realm="canteen"'},
        )
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(303, "sign in first", headers={"Location": _login_url(back)})


def _login_url(back: str) -> str:
    return f"{LOGIN_PATH}?next={quote(back, safe='')}"


@cache
def require_role(role: Role) -> Callable[[Request, User | None], User]:
    """A dependency admitting a signed-in user with `role` or a higher one."""

    def guard(request: Request, user: SignedIn) -> User:
        if user is None:
            raise _sign_in_needed(request)
        if not user.may(role):
            raise HTTPException(
                403, f"this page needs the {role} role; {user.name} is signed in as {user.role}"
            )
        return user

    return guard


StaffUser = Annotated[User, Depends(require_role("staff"))]
ManagerUser = Annotated[User, Depends(require_role("manager"))]
AdminUser = Annotated[User, Depends(require_role("admin"))]
KIOSK_STATE = "kiosk_cookie"


def wall_reader(request: Request, access: AccessDep, user: SignedIn) -> User | Kiosk:
    """Admit a signed-in user, or a kiosk token (query or cookie) for the site asked for."""
    offered = request.query_params.get(KIOSK_QUERY)
    token = offered or request.cookies.get(KIOSK_COOKIE)
    kiosk = access.users.kiosk(token) if token else None
    if offered and kiosk is None:
        raise HTTPException(
            403, "this kiosk token is unknown or revoked: make one with `canteen kiosk-token SITE`"
        )
    if kiosk is not None:
        site = request.path_params.get("site")
        if site is not None and site != kiosk.site:
            if user is not None:
                return user
            raise HTTPException(403, f"this kiosk token shows the wall screen of {kiosk.site}")
        if offered:  # remembered, so the page's stream and a restarted screen carry it
            request.state.kiosk_cookie = (offered, access.secure(request))
        return kiosk
    if user is not None:
        return user
    raise _sign_in_needed(request)


WallReader = Annotated[User | Kiosk, Depends(wall_reader)]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]  # fmt: skip


class KioskCookie:
    """ASGI middleware: answer a request whose `?kiosk=` token was accepted with its cookie.

    A middleware, not the route, sets it: the wall's routes return their own responses,
    and streaming ones, which a dependency cannot add a header to.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        """Pass the request on, adding the cookie to the response's headers when due."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            remembered = scope.get("state", {}).get(KIOSK_STATE)
            if message["type"] == "http.response.start" and remembered:
                token, secure = remembered
                cookie = Response()
                cookie.set_cookie(
                    KIOSK_COOKIE,
                    token,
                    max_age=KIOSK_COOKIE_S,
                    httponly=True,
                    secure=secure,
                    samesite="strict",
                )
                set_cookie = [h for h in cookie.raw_headers if h[0] == b"set-cookie"]
                message["headers"] = [*message.get("headers", []), *set_cookie]
            await send(message)

        await self.app(scope, receive, send_with_cookie)
