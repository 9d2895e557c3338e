"""Signing in and out: the `/login` page and form, and `/logout`.

A successful sign-in opens a server-side session (users.py) and sets its cookie; a failed
one counts against the address and the name, and the sixth failure within 15 minutes is
refused with 429 before the password is even looked at. Both forms carry a CSRF token.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from dashboard.auth import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE, AccessDep, SignedIn
from dashboard.users import NAME_MAX

logger = logging.getLogger(__name__)

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
PASSWORD_MAX = 1024  # Argon2 takes any length; this only bounds the work one request asks for
TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Sign in",
        "name": "Name",
        "password": "Password",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "signed_in_as": "Signed in as {name} ({role}).",
        "wrong": "That name and password do not match.",
        "throttled": "Too many failed sign-ins from here or for this name: try again in "
        "{minutes} min.",
        "kiosk_hint": "A wall screen needs no sign-in: open the kiosk link made by "
        "`canteen kiosk-token SITE` on the hub.",
        "new_user_hint": "No account? Ask the manager (`canteen user add NAME`).",
    },
    "zh-CN": {
        "title": "登录",
        "name": "用户名",
        "password": "密码",
        "sign_in": "登录",
        "sign_out": "退出登录",
        "signed_in_as": "已登录：{name}（{role}）。",  # noqa: RUF001
        "wrong": "用户名或密码不正确。",
        "throttled": "登录失败次数过多，请 {minutes} 分钟后再试。",  # noqa: RUF001
        "kiosk_hint": "墙面大屏无需登录：在主机上运行"  # noqa: RUF001
        " `canteen kiosk-token 站点` 获取大屏链接。",
        "new_user_hint": "没有账号？请联系经理"  # noqa: RUF001
        "（`canteen user add 用户名`）。",  # noqa: RUF001
    },
}

auth_router = APIRouter(include_in_schema=False)
Language = Annotated[Literal["en", "zh-CN"] | None, Query()]


def _next_path(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never `//host` or a URL)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _page(request: Request, access: AccessDep, status: int = 200, **context: Any) -> HTMLResponse:
    language = context.pop("lang", None) or request.app.state.settings.language
    token, fresh = access.csrf_token(request)
    response = TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {"t": TEXT[language], "lang": language, "csrf_field": CSRF_FIELD, "csrf": token, **context},
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
    if fresh is not None:
        access.set_cookie(response, request, CSRF_COOKIE, fresh, max_age=86400)
    return response


@auth_router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request,
    access: AccessDep,
    user: SignedIn,
    next: Annotated[str | None, Query()] = None,
    lang: Language = None,
) -> HTMLResponse:
    """The sign-in form, or who is signed in and a sign-out button."""
    return _page(request, access, user=user, next=_next_path(next), lang=lang)


@auth_router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    access: AccessDep,
    name: Annotated[str, Form(max_length=NAME_MAX)] = "",
    password: Annotated[str, Form(max_length=PASSWORD_MAX)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
    lang: Language = None,
) -> Response:
    """Check the name and password; open a session, or say why not."""
    access.check_csrf(request, csrf_token)
    host = request.client.host if request.client else "unknown"
    keys = [f"address:{host}", f"name:{name.strip().casefold()}"]
    back = _next_path(next)
    wait_s = access.throttle.wait_s(keys)
    if wait_s > 0:
        logger.warning("sign-in refused, too many failures: %r from %s", name, host)
        message = TEXT[lang or request.app.state.settings.language]["throttled"]
        minutes = max(1, round(wait_s / 60))
        error = message.format(minutes=minutes)
        return _page(request, access, 429, error=error, name=name, next=back, lang=lang)
    user = access.users.verify(name.strip(), password)
    if user is None:
        access.throttle.failed(keys)
        logger.info("failed sign-in as %r from %s", name, host)
        error = TEXT[lang or request.app.state.settings.language]["wrong"]
        return _page(request, access, 401, error=error, name=name, next=back, lang=lang)
    lifetime = timedelta(hours=access.settings.session_hours)
    token = access.users.open_session(user, datetime.now(UTC), lifetime)
    logger.info("%s signed in (%s) from %s", user.name, user.role, host)
    response = RedirectResponse(back, status_code=303)
    # Lax, not Strict: a staff member tapping a link to /alerts/... in a chat app arrives
    # signed in. Nothing changes on a GET, and every POST also needs the CSRF token.
    access.set_cookie(
        response, request, SESSION_COOKIE, token, int(lifetime.total_seconds()), samesite="lax"
    )
    return response


@auth_router.post("/logout")
def logout(
    request: Request,
    access: AccessDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """End the session and forget its cookie."""
    access.check_csrf(request, csrf_token)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        access.users.close_session(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, secure=access.secure(request))
    return response
