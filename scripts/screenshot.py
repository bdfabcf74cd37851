"""Screenshots of the workbench and the shopper chat for the README (docs/screenshots/).

    .venv/bin/python scripts/screenshot.py

Builds the demo shop in a throw-away data directory, serves it with uvicorn on a free port, drives
Debian's Chromium with Playwright, and stops the server again.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
PASSWORD = "xiaoer-demo-2024"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not start at {url}")


def login(page, base: str, username: str) -> None:
    # The first messages wake other apps' after-commit work (the robot) which may hold the
    # SQLite write lock for a moment: retry instead of failing the screenshot run.
    for _ in range(5):
        page.goto(f"{base}/desk/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        if not page.url.endswith("/desk/login"):
            return
        page.wait_for_timeout(3000)
    raise RuntimeError(f"could not log in as {username}")


def shoot(base: str) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        desk_ctx = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                       viewport={"width": 1440, "height": 860})
        desk = desk_ctx.new_page()
        login(desk, base, "demo-lina")
        desk.wait_for_selector('#conn-state[data-state="open"]')
        desk.wait_for_selector(".conv")
        shopper_ctx = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                          viewport={"width": 390, "height": 720}, device_scale_factor=2)
        shopper = shopper_ctx.new_page()
        shopper.goto(f"{base}/s/demo/chat")
        shopper.wait_for_selector('#conn-state[data-state="open"]', state="attached")
        shopper.fill("#composer-text", "你好，这款收纳盒有白色的吗？周末前能到上海吗？")
        shopper.press("#composer-text", "Enter")

        desk.wait_for_timeout(1000)
        desk.locator(".conv").filter(has_text="小雨").click()
        desk.wait_for_selector("#messages .msg")
        desk.fill("#composer-text", "亲，这款是轻微色差，实物比图片略浅一点点～")
        desk.wait_for_timeout(1500)  # let the side panel sections load
        try:  # the robot's first index build (encoding the demo knowledge) takes several seconds
            desk.wait_for_selector('[data-panel="assistant-panel"] [data-insert-text]', timeout=30_000)
        except Exception:  # noqa: BLE001 - a screenshot without suggestions is still a screenshot
            pass
        desk.screenshot(path=str(OUT / "workbench.png"))

        shopper.wait_for_timeout(500)
        desk.locator(".conv").first.click()
        shopper.screenshot(path=str(OUT / "shopper.png"))

        lead_ctx = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                       viewport={"width": 1280, "height": 900})
        lead = lead_ctx.new_page()
        login(lead, base, "demo-lead")
        lead.goto(f"{base}/desk/supervisor")
        lead.screenshot(path=str(OUT / "supervisor.png"), full_page=True)
        browser.close()


def main() -> None:
    data = tempfile.mkdtemp(prefix="xiaoer-shot-")
    env = dict(os.environ, XIAOER_DATA_DIR=data, DJANGO_SETTINGS_MODULE="xiaoer.settings")
    py = sys.executable
    subprocess.run([py, "-m", "django", "migrate", "-v0"], env=env, cwd=ROOT, check=True)
    subprocess.run([py, "-m", "django", "demo"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    server = subprocess.Popen([py, "-m", "uvicorn", "xiaoer.asgi:application", "--port", str(port),
                               "--log-level", "warning"], env=env, cwd=ROOT)
    try:
        wait_up(f"http://127.0.0.1:{port}/healthz")
        shoot(f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(timeout=15)
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()
