"""The README's first command, end to end: `xiaoer demo` migrates, seeds and serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def demo_server(tmp_path: Path):
    port = _free_port()
    env = {**os.environ, "XIAOER_DATA_DIR": str(tmp_path), "XIAOER_PORT": str(port),
           "XIAOER_LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "xiaoer.cli", "demo"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail("xiaoer demo exited: " + (tmp_path / "server.log").read_text()[-3000:])
            try:
                if _get(base + "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("xiaoer demo did not come up: " + (tmp_path / "server.log").read_text()[-3000:])
        yield base, tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_demo_migrates_seeds_prints_logins_and_serves(demo_server):
    base, data_dir = demo_server
    status, body = _get(base + "/healthz")
    assert status == 200 and '"database": "ok"' in body.replace('":"', '": "')
    output = (data_dir / "server.log").read_text()
    assert "/desk" in output and "/s/demo/chat" in output, output[-2000:]
    status, page = _get(base + "/desk/login")
    assert status == 200 and "<form" in page
    status, page = _get(base + "/s/demo/chat")
    assert status == 200
    assert (data_dir / "xiaoer.sqlite3").exists()
