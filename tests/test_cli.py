"""The README's first command, end to end: `xiaoer demo` migrates, seeds and serves."""

from __future__ import annotations

import json
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


def _env(tmp_path: Path, **extra) -> dict:
    env = {**os.environ, "XIAOER_DATA_DIR": str(tmp_path / "data"), "XIAOER_LOG_LEVEL": "WARNING", **extra}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env


def test_serve_help_prints_help_and_starts_nothing(tmp_path):
    port = _free_port()
    out = subprocess.run([sys.executable, "-m", "xiaoer.cli", "serve", "--help"], env=_env(tmp_path, XIAOER_PORT=str(port)),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "usage: xiaoer serve" in out.stdout and "PORT" in out.stdout
    with socket.socket() as s:  # nothing listens: the port is still free
        s.bind(("127.0.0.1", port))


def test_demo_help_says_it_migrates_and_serves(tmp_path):
    out = subprocess.run([sys.executable, "-m", "xiaoer.cli", "demo", "--help"], env=_env(tmp_path),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "migrates" in out.stdout and "serves" in out.stdout
    assert not (tmp_path / "data" / "xiaoer.sqlite3").exists() or \
        (tmp_path / "data" / "xiaoer.sqlite3").stat().st_size == 0  # --help migrated nothing


def test_assistant_eval_on_a_fresh_data_dir(tmp_path):
    data = Path(__file__).resolve().parents[1] / "xiaoer" / "assistant" / "data"
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join((data / "eval_clothing.jsonl").read_text(encoding="utf-8").splitlines()[:5]),
                         encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "xiaoer.cli", "assistant", "eval", "--kb", str(data / "kb_clothing.csv"),
                          "--questions", str(questions), "--no-encoder"], env=_env(tmp_path),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result
    assert "throw-away database" in out.stderr


QUEUE_BEFORE_START = """
import django
django.setup()
from xiaoer.knowledge.models import ImportJob
from xiaoer.knowledge.tasks import run_import_job
from xiaoer.testing import make_shop
shop = make_shop("queued")
job = ImportJob.objects.create(shop=shop, kind="phrases", filename="p.csv",
                               content="shortcut,text\\nhi,亲在的\\n".encode())
run_import_job(job.pk)  # queued in huey.sqlite3: no worker runs yet
print(job.pk)
"""

CHECK_JOB = """
import sys, django
django.setup()
from xiaoer.knowledge.models import ImportJob
print(ImportJob.objects.get(pk=int(sys.argv[1])).status)
"""


def test_task_queued_before_serve_starts_is_run(tmp_path):
    port = _free_port()
    env = _env(tmp_path, XIAOER_PORT=str(port), PYTHONPATH=str(Path(__file__).resolve().parents[1]),
               DJANGO_SETTINGS_MODULE="xiaoer.settings")
    subprocess.run([sys.executable, "-m", "xiaoer.cli", "migrate", "-v", "0"], env=env, check=True, timeout=180)
    job = subprocess.run([sys.executable, "-c", QUEUE_BEFORE_START], env=env, check=True, timeout=60,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "xiaoer.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        status = ""
        while time.monotonic() < deadline and status != "done":
            time.sleep(1)
            status = subprocess.run([sys.executable, "-c", CHECK_JOB, job], env=env, capture_output=True, text=True,
                                    timeout=60).stdout.strip()
        assert status == "done", (tmp_path / "serve.log").read_text()[-3000:]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    assert "not found in TaskRegistry" not in (tmp_path / "serve.log").read_text()
