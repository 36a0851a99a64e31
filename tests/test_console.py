"""The console over real HTTP (the browser test is test_console_browser.py): login with an
admin key, sessions that end with their key, CSRF on every form, pages read from the
database, and replay recorded in the audit trail."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway import audit, keys
from tests.conftest import bearer
from tests.console_data import Scene, populate


@pytest.fixture
async def scene(make_client, add_operator, pool) -> Scene:
    return await populate(make_client, add_operator, pool)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has a form with a CSRF token"
    return match.group(1)


async def log_in(client: TestClient, key: str) -> tuple[int, str]:
    form = await client.get("/console/login")
    assert form.status == 200
    token = csrf_of(await form.text())
    response = await client.post("/console/login", data={"csrf": token, "key": key})
    return response.status, await response.text()


async def test_login_pages_and_logout(scene: Scene, pool) -> None:
    client = scene.client
    response = await client.get("/console/overview", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/login"

    status, html = await log_in(client, scene.admin_key)
    assert status == 200 and "Overview" in html, html  # followed the redirect
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/console"))
    assert "aedgw_console" in cookie
    assert scene.admin_key not in html

    overview = await (await client.get("/console/overview")).text()
    assert 'data-operator="gamma"' in overview and 'data-target="cbp"' in overview
    assert "<svg" in overview and "<script" not in overview
    rejections = await (await client.get("/console/rejections")).text()
    assert "s10_check_digit" in rejections and "/parcels/3/trackingNo" in rejections
    assert "schema_invalid" in rejections
    assert "Test Person" not in rejections, "no personal data in rejection examples"
    card = await (await client.get("/console/scorecard?operator=gamma")).text()
    assert "83.3 %" in card and "5 / 6" in card  # content lines with an HS code
    dead = await (await client.get("/console/deadletters?target=cbp")).text()
    assert '<b id="dead-count">6</b>' in dead  # gamma's 3 items and alpha's 3
    item = await (await client.get(f"/console/items?item_id={scene.item_id.lower()}")).text()
    assert "REF-1" in item and "dead" in item and "pending" in item
    revised = await (await client.get(f"/console/items?item_id={scene.revised_id}")).text()
    assert revised.count("canonical JSON") == 2
    missing = await (await client.get("/console/items?item_id=XX000000000XX")).text()
    assert "No item XX000000000XX" in missing

    page = await client.get("/console/overview")
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    response = await client.post("/console/logout", data={"csrf": csrf_of(overview)},
                                 allow_redirects=False)
    assert response.status == 303
    response = await client.get("/console/overview", allow_redirects=False)
    assert response.status == 303
    acts = [e["action"] for e in await audit.entries(pool, action="console")]
    assert acts == ["console.login", "console.logout"]


async def test_wrong_keys_are_refused(scene: Scene) -> None:
    status, html = await log_in(scene.client, "aedgw_0000000000000000_" + "x" * 43)
    assert status == 401 and "Unknown, expired or revoked key" in html
    status, html = await log_in(scene.client, scene.operator_key)
    assert status == 403 and "needs an admin key" in html
    status, _ = await log_in(scene.client, "")
    assert status == 401


async def test_login_form_needs_its_token(scene: Scene) -> None:
    response = await scene.client.post("/console/login", data={"key": scene.admin_key})
    assert response.status == 403
    response = await scene.client.post("/console/login?key=" + scene.admin_key,
                                       data={"csrf": "forged"})
    assert response.status == 400  # login takes no query parameter at all
    assert (await response.json())["error"]["details"] == {"parameter": "key"}
    assert "aedgw_console" not in scene.client.session.cookie_jar.filter_cookies(
        scene.client.make_url("/console"))


async def test_revoking_the_key_ends_the_session(scene: Scene, pool) -> None:
    status, _ = await log_in(scene.client, scene.admin_key)
    assert status == 200
    async with pool.acquire() as conn:
        await keys.revoke(conn, scene.admin_key_id, audit.cli_actor())
    response = await scene.client.get("/console/overview", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/login"


async def test_replay_needs_the_csrf_token_and_is_audited(scene: Scene, pool) -> None:
    await log_in(scene.client, scene.admin_key)
    form = {"target": "cbp", "operator": "", "code": "", "since": "", "until": "",
            "limit": "2"}
    forged = await scene.client.post("/console/deadletters/replay", data=form | {"csrf": "x"})
    assert forged.status == 403
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'dead'") == 6

    page = await (await scene.client.get("/console/deadletters?target=cbp")).text()
    response = await scene.client.post("/console/deadletters/replay",
                                       data=form | {"csrf": csrf_of(page)})
    html = await response.text()
    assert response.status == 200 and "Replayed 2 dead letters" in html
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE state = 'dead'") == 4
    [entry] = await audit.entries(pool, action="deadletters.replay")
    assert entry["actor"] == scene.admin_key_id and entry["subject"] == "cbp"
    assert entry["details"]["replayed"] == 2 and entry["details"]["via"] == "console"

    bad = await scene.client.post("/console/deadletters/replay",
                                  data=form | {"csrf": csrf_of(page), "limit": "0"})
    assert bad.status == 400 and "1 to 1000" in await bad.text()


async def test_the_console_never_takes_a_key_in_the_url(scene: Scene) -> None:
    response = await scene.client.get(f"/console/login?key={scene.admin_key}")
    assert response.status == 400 and "aedgw_console" not in response.cookies
    response = await scene.client.get("/console/overview", headers=bearer(scene.admin_key),
                                      allow_redirects=False)
    assert response.status == 303, "a bearer key is no console session"


async def test_the_stylesheet_is_served(scene: Scene) -> None:
    response = await scene.client.get("/console/console.css")
    assert response.status == 200 and response.content_type == "text/css"


async def test_demo_serves_the_console_with_its_key(database_url: str) -> None:
    """``aedgw demo`` prints the console's URL and an admin key, and serves until Ctrl-C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
    env["AEDGW_DATABASE_URL"] = database_url
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "demo", "--fail-rate", "0", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    found: dict[str, str] = {}
    try:
        assert demo.stdout is not None
        while "admin key" not in found:
            line = (await asyncio.wait_for(demo.stdout.readline(), 240)).decode()
            assert line, "the demo ended before printing the console's key"
            for name in ("console", "admin key"):
                if line.startswith(name + " "):
                    found[name] = line.removeprefix(name).strip()
        url = found["console"]
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1, as a browser keeps them
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            form = await session.get(url + "/login")
            token = csrf_of(await form.text())
            page = await session.post(url + "/login",
                                      data={"csrf": token, "key": found["admin key"]})
            html = await page.text()
            assert page.status == 200 and 'data-operator="epsilon"' in html
            dead = await (await session.get(url + "/deadletters")).text()
            assert '<b id="dead-count">2</b>' in dead  # the two items the receiver refuses
    finally:
        demo.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(demo.wait(), 60) == 0


async def test_forms_that_are_not_forms_are_refused(scene: Scene) -> None:
    for headers, body in [({"Content-Type": "multipart/form-data"}, b"--x\r\n"),
                          ({"Content-Type": "application/json"}, b'{"key": "k"}'),
                          ({"Content-Type": "application/x-www-form-urlencoded"}, b"%%%=&&")]:
        response = await scene.client.post("/console/login", data=body, headers=headers)
        assert response.status == 403, (headers, response.status)
