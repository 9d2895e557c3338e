"""Who may open what on the real dashboard: sign-in, roles, kiosk tokens, CSRF, the throttle.

Everything goes through the running server over HTTP (uvicorn on loopback), as a phone,
a manager's laptop or the kitchen TV would; one test drives Chromium.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Browser, expect
from pydantic import ValidationError
from starlette.requests import Request

from canteen.cli import main
from canteen.hub_config import dashboard_settings
from canteen.settings import SettingsError
from dashboard.auth import Access, LoginThrottle
from dashboard.auth_routes import _next_path
from dashboard.server import hub_key
from dashboard.settings import DashboardSettings
from dashboard.users import USERS_FILE, UserStore
from tests.dashboard.conftest import RunningDashboard, form_token, password_of

pytestmark = pytest.mark.integration

SITE = "access-site"
PROTECTED_APIS = (
    f"/api/sites/{SITE}/now",
    f"/api/sites/{SITE}/stream",
    "/api/sites",
    "/api/health",
    f"/api/sites/{SITE}/alerts",
    "/api/alerts/1",
    f"/api/sites/{SITE}/haccp",
)
PROTECTED_PAGES = (f"/wall/{SITE}", f"/alerts/{SITE}", f"/haccp/{SITE}", f"/haccp/{SITE}.csv")
Start = Callable[..., RunningDashboard]


@pytest.fixture
def dashboard(start_dashboard: Start, influx_database: str) -> RunningDashboard:
    return start_dashboard(influx_database, default_site=SITE)


def _sign_in(
    client: httpx.Client, name: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    token = form_token(client.get("/login"))
    form = {"name": name, "password": password, "csrf_token": token}
    return client.post("/login", data=form, headers=headers or {})


def _cookie_attributes(response: httpx.Response, name: str) -> set[str]:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return {part.strip().lower() for part in header.split(";")[1:]}


def test_anonymous_visitors_are_sent_to_sign_in(dashboard: RunningDashboard) -> None:
    with httpx.Client(base_url=dashboard.url, timeout=10) as anonymous:
        for path in PROTECTED_APIS:
            response = anonymous.get(path)
            assert response.status_code == 401, path
            assert "sign in" in response.json()["detail"]
        for path in PROTECTED_PAGES:
            response = anonymous.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=%2F"), path
        assert anonymous.get("/login").status_code == 200
        # The signed link is the authorisation: a bad one is refused by the link check, not
        # sent to a sign-in page, and /docs stays public (it describes, it shows no data).
        assert anonymous.get("/a/1.2.forged").status_code == 403
        assert anonymous.get("/openapi.json").status_code == 200


def test_staff_may_see_alerts_but_not_the_haccp_log_and_a_manager_may(
    dashboard: RunningDashboard,
) -> None:
    staff, manager, admin = (dashboard.client(role) for role in ("staff", "manager", "admin"))
    assert staff.get(f"/api/sites/{SITE}/alerts").status_code == 200
    assert staff.get(f"/alerts/{SITE}").status_code == 200
    assert staff.get(f"/api/sites/{SITE}/now").status_code == 200
    refused = staff.get(f"/api/sites/{SITE}/haccp")
    assert refused.status_code == 403
    assert "manager role" in refused.json()["detail"]
    assert staff.get(f"/haccp/{SITE}").status_code == 403
    for boss in (manager, admin):
        assert boss.get(f"/api/sites/{SITE}/haccp").json()["site"] == SITE
        assert boss.get(f"/haccp/{SITE}").status_code == 200


def test_signing_in_returns_to_the_page_asked_for_and_signing_out_ends_the_session(
    dashboard: RunningDashboard,
) -> None:
    dashboard.add_user("cook", "staff", "cook-password-1")
    with httpx.Client(base_url=dashboard.url, timeout=10) as phone:
        first = phone.get(f"/alerts/{SITE}", follow_redirects=True)
        assert 'name="next" value="/alerts/access-site"' in first.text
        token = form_token(first)
        form = {"name": "COOK", "password": "cook-password-1", "csrf_token": token}
        arrived = phone.post("/login", data={**form, "next": f"/alerts/{SITE}"})
        assert (arrived.status_code, arrived.headers["location"]) == (303, f"/alerts/{SITE}")
        escape = phone.post("/login", data={**form, "next": "//evil.example/x"})
        assert escape.headers["location"] == "/"
        session = phone.cookies["canteen_session"]
        assert phone.get("/api/sites/access-site/alerts").status_code == 200
        assert "cook" in phone.get("/login").text
        out = phone.post("/logout", data={"csrf_token": form_token(phone.get("/login"))})
        assert out.status_code == 303
    with httpx.Client(base_url=dashboard.url, cookies={"canteen_session": session}) as replay:
        assert replay.get(f"/api/sites/{SITE}/alerts").status_code == 401


def test_a_password_change_ends_the_users_sessions(dashboard: RunningDashboard) -> None:
    staff = dashboard.client("staff")
    assert staff.get(f"/api/sites/{SITE}/alerts").status_code == 200
    store = dashboard.users()
    store.set_password("test-staff", "a-new-password", datetime.now(UTC))
    store.close()
    assert staff.get(f"/api/sites/{SITE}/alerts").status_code == 401


def test_the_sixth_attempt_is_refused_even_with_the_right_password(
    dashboard: RunningDashboard,
) -> None:
    dashboard.add_user("cook", "staff", "cook-password-1")
    dashboard.add_user("chef", "manager", "chef-password-1")
    with httpx.Client(base_url=dashboard.url, timeout=10) as phone:
        # Per name: five wrong passwords from five addresses (the loopback proxy's header).
        for n in range(5):
            wrong = _sign_in(phone, "cook", "guess", {"X-Forwarded-For": f"10.0.0.{n + 1}"})
            assert wrong.status_code == 401
            assert "do not match" in wrong.text
        refused = _sign_in(phone, "cook", "cook-password-1", {"X-Forwarded-For": "10.0.0.9"})
        assert refused.status_code == 429
        assert "Too many failed sign-ins" in refused.text and "try again in 15 min" in refused.text
        assert "canteen_session" not in refused.headers.get("set-cookie", "")
        # Per address: five failures under any names, then even chef is refused from there.
        for n in range(5):
            address = {"X-Forwarded-For": "10.0.1.1"}
            assert _sign_in(phone, f"nobody-{n}", "guess", address).status_code == 401
        from_there = _sign_in(phone, "chef", "chef-password-1", {"X-Forwarded-For": "10.0.1.1"})
        assert from_there.status_code == 429
        elsewhere = _sign_in(phone, "chef", "chef-password-1", {"X-Forwarded-For": "10.0.1.2"})
        assert elsewhere.status_code == 303


def test_the_throttle_forgets_failures_after_its_window() -> None:
    now = [1000.0]
    throttle = LoginThrottle(limit=5, window=timedelta(minutes=15), clock=lambda: now[0])
    for _ in range(5):
        throttle.failed(["name:cook"])
    assert throttle.wait_s(["name:cook", "address:x"]) == pytest.approx(900)
    now[0] += 600
    assert throttle.wait_s(["name:cook"]) == pytest.approx(300)
    now[0] += 301
    assert throttle.wait_s(["name:cook"]) == 0


def test_a_form_without_its_csrf_token_is_refused(dashboard: RunningDashboard) -> None:
    password = password_of("staff")
    dashboard.add_user("test-staff", "staff", password)
    with httpx.Client(base_url=dashboard.url, timeout=10) as browser:
        token = form_token(browser.get("/login"))
        form = {"name": "test-staff", "password": password}
        missing = browser.post("/login", data=form)
        assert missing.status_code == 403
        assert "security token" in missing.json()["detail"]
        assert browser.post("/login", data={**form, "csrf_token": "0" * 64}).status_code == 403
        with httpx.Client(base_url=dashboard.url) as other:  # another browser's token
            other.get("/login")
            stolen = other.post("/login", data={**form, "csrf_token": token})
            assert stolen.status_code == 403
        assert browser.post("/login", data={**form, "csrf_token": token}).status_code == 303
        assert browser.post("/logout", data={}).status_code == 403
        assert browser.get(f"/api/sites/{SITE}/now").status_code == 200, "still signed in"


def test_cookies_are_httponly_samesite_and_secure_over_https(dashboard: RunningDashboard) -> None:
    dashboard.add_user("cook", "staff", "cook-password-1")
    with httpx.Client(base_url=dashboard.url, timeout=10) as plain:
        page = plain.get("/login")
        assert {"httponly", "samesite=strict"} <= _cookie_attributes(page, "canteen_csrf")
        signed_in = _sign_in(plain, "cook", "cook-password-1")
        session = _cookie_attributes(signed_in, "canteen_session")
        assert {"httponly", "samesite=lax", "path=/"} <= session
        assert "secure" not in session
    https = {"X-Forwarded-Proto": "https"}  # a TLS proxy on the hub, as uvicorn trusts it
    with httpx.Client(base_url=dashboard.url, timeout=10) as tls:
        page = tls.get("/login", headers=https)
        assert {"httponly", "samesite=strict", "secure"} <= _cookie_attributes(page, "canteen_csrf")
        form = {"name": "cook", "password": "cook-password-1", "csrf_token": form_token(page)}
        seed = {"Cookie": f"canteen_csrf={page.cookies['canteen_csrf']}"}
        signed_in = tls.post("/login", data=form, headers={**https, **seed})
        assert signed_in.status_code == 303
        secure = _cookie_attributes(signed_in, "canteen_session")
        assert {"httponly", "samesite=lax", "secure"} <= secure
        kiosk = tls.get(dashboard.kiosk_url().removeprefix(dashboard.url), headers=https)
        secure = _cookie_attributes(kiosk, "canteen_kiosk")
        assert {"httponly", "samesite=strict", "secure"} <= secure


def test_a_public_https_address_makes_cookies_secure(tmp_path: Path) -> None:
    settings = DashboardSettings(state_dir=tmp_path, alerts={"public_url": "https://hub.lan"})
    access = Access(SimpleNamespace(), b"k" * 32, settings)  # type: ignore[arg-type]
    plain = Request({"type": "http", "scheme": "http", "path": "/", "headers": []})
    assert access.secure(plain) is True
    local = DashboardSettings(state_dir=tmp_path)
    assert Access(SimpleNamespace(), b"k" * 32, local).secure(plain) is False  # type: ignore[arg-type]


def test_the_kiosk_token_opens_the_wall_and_its_stream_only(dashboard: RunningDashboard) -> None:
    with httpx.Client(base_url=dashboard.url, timeout=10) as tv:
        page = tv.get(dashboard.kiosk_url().removeprefix(dashboard.url))
        assert page.status_code == 200
        assert 'data-site="access-site"' in page.text
        assert {"httponly", "samesite=strict"} <= _cookie_attributes(page, "canteen_kiosk")
        # From now on the cookie alone, as the page's fetches and EventSource send it.
        assert tv.get(f"/api/sites/{SITE}/now").json()["site"] == SITE
        assert tv.get("/api/health").status_code == 200
        with tv.stream("GET", f"/api/sites/{SITE}/stream") as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            assert next(lines) == "event: snapshot"
        assert tv.get(f"/api/sites/{SITE}/alerts").status_code == 401
        assert tv.get(f"/alerts/{SITE}").status_code == 303
        assert tv.get(f"/api/sites/{SITE}/haccp").status_code == 401
        assert tv.get(f"/haccp/{SITE}").status_code == 303
        assert tv.get("/api/sites/other-site/now").status_code == 403  # one site's screen
        assert tv.post("/logout").status_code == 403


def test_a_forged_or_revoked_kiosk_token_is_refused(dashboard: RunningDashboard) -> None:
    real = dashboard.kiosk_token()
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    with httpx.Client(base_url=dashboard.url, timeout=10) as tv:
        refused = tv.get(f"/wall/{SITE}?kiosk={forged}")
        assert refused.status_code == 403
        assert "canteen kiosk-token" in refused.json()["detail"]
        assert "canteen_kiosk" not in tv.cookies
    with httpx.Client(base_url=dashboard.url, cookies={"canteen_kiosk": forged}) as tv:
        assert tv.get(f"/api/sites/{SITE}/now").status_code == 401
    store = dashboard.users()
    [kiosk] = store.kiosks()
    store.revoke_kiosk(kiosk.id, datetime.now(UTC))
    store.close()
    with httpx.Client(base_url=dashboard.url, cookies={"canteen_kiosk": real}) as tv:
        assert tv.get(f"/api/sites/{SITE}/now").status_code == 401
        assert tv.get(f"/wall/{SITE}?kiosk={real}").status_code == 403


def test_passwords_are_kept_only_as_argon2_hashes(tmp_path: Path) -> None:
    store = UserStore(tmp_path / USERS_FILE)
    store.add("li.wei", "manager", "kitchen-password-1", datetime.now(UTC))
    assert store.verify("LI.WEI", "kitchen-password-1") is not None
    assert store.verify("li.wei", "wrong-password") is None
    assert store.verify("nobody", "kitchen-password-1") is None
    store.close()
    db = sqlite3.connect(tmp_path / USERS_FILE)
    [(stored,)] = db.execute("SELECT password_hash FROM users").fetchall()
    assert stored.startswith("$argon2id$")
    dump = "\n".join(db.iterdump())
    assert "kitchen-password-1" not in dump
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO users (name, role, password_hash, created_at, password_changed_at) "
            "VALUES ('eve', 'admin', 'plain-text', 'now', 'now')"
        )
    # A hash made with other parameters (argon2-cffi's defaults) still verifies, then is
    # re-made with the hub's.
    db.execute("UPDATE users SET password_hash = ?", (PasswordHasher().hash("old-password-1"),))
    db.commit()
    store = UserStore(tmp_path / USERS_FILE)
    assert store.verify("li.wei", "old-password-1") is not None
    store.close()
    [(rehashed,)] = db.execute("SELECT password_hash FROM users").fetchall()
    assert rehashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    db.close()


def test_a_placeholder_secret_is_refused_in_production_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for placeholder in ("changeme", "secret", "changeme" * 4, "a" * 40):
        with pytest.raises(ValidationError, match="CANTEEN_SECRET_KEY") as refused:
            DashboardSettings(environment="production", secret_key=placeholder)
        assert "openssl rand -hex 32" in str(refused.value)
        assert DashboardSettings(secret_key=placeholder).environment == "local"
    real = "3f9a0c1be4d2778e5a6b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
    assert DashboardSettings(environment="production", secret_key=real).secret_key is not None
    env = {"CANTEEN_ENV": "production", "CANTEEN_SECRET_KEY": "changeme"}
    with pytest.raises(SettingsError, match=r"secret_key \(CANTEEN_SECRET_KEY\)"):
        dashboard_settings(None, env=env)
    for name, value in {**env, "CANTEEN_STATE_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    assert main(["dashboard", "--port", "1"]) == 2
    message = capsys.readouterr().err
    assert "CANTEEN_SECRET_KEY" in message and "openssl rand -hex 32" in message
    # A key file edited by hand to a placeholder is refused too, before anything starts.
    (tmp_path / "secret.key").write_text("changeme" * 4)
    with pytest.raises(ValueError, match="openssl rand -hex 32"):
        hub_key(DashboardSettings(environment="production", state_dir=tmp_path))
    assert hub_key(DashboardSettings(state_dir=tmp_path)) == b"changeme" * 4  # local: a warning


def test_after_sign_in_only_a_safe_local_path_is_followed() -> None:
    assert _next_path("/haccp/site-a?start=2026-01-01") == "/haccp/site-a?start=2026-01-01"
    for target in ("//evil.example", "/\\evil.example", "https://evil.example", "", None):
        assert _next_path(target) == "/"


@pytest.mark.browser
def test_signing_in_in_a_browser_and_the_kiosk_wall_screen(
    chromium: Browser, dashboard: RunningDashboard
) -> None:
    dashboard.add_user("chef", "manager", "chef-password-1")
    context = chromium.new_context(viewport={"width": 390, "height": 844})
    phone = context.new_page()
    phone.goto(f"{dashboard.url}/alerts/{SITE}")
    expect(phone).to_have_url(f"{dashboard.url}/login?next=%2Falerts%2F{SITE}")
    phone.fill('input[name="name"]', "chef")
    phone.fill('input[name="password"]', "not-it")
    phone.click("#sign-in")
    expect(phone.locator("#login-error")).to_have_text("That name and password do not match.")
    phone.fill('input[name="password"]', "chef-password-1")
    phone.click("#sign-in")
    expect(phone).to_have_url(f"{dashboard.url}/alerts/{SITE}")
    expect(phone.locator("h1")).to_contain_text("Open alerts")
    assert "canteen_session" not in phone.evaluate("document.cookie"), "not HttpOnly"
    phone.goto(f"{dashboard.url}/haccp/{SITE}")
    expect(phone.locator("h1")).to_contain_text("HACCP")
    phone.goto(f"{dashboard.url}/login")
    phone.click("#sign-out")
    phone.goto(f"{dashboard.url}/haccp/{SITE}")
    expect(phone).to_have_url(f"{dashboard.url}/login?next=%2Fhaccp%2F{SITE}")
    context.close()

    tv = chromium.new_context(viewport={"width": 1920, "height": 1080})
    wall = tv.new_page()
    wall.goto(dashboard.kiosk_url())
    expect(wall.locator("#link")).to_have_text("Live", timeout=15_000)
    wall.goto(f"{dashboard.url}/wall/{SITE}")  # the cookie alone, as after a power cut
    expect(wall.locator("#link")).to_have_text("Live", timeout=15_000)
    wall.goto(f"{dashboard.url}/alerts/{SITE}")
    expect(wall).to_have_url(f"{dashboard.url}/login?next=%2Falerts%2F{SITE}")
    tv.close()
