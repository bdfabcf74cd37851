"""The test suite never runs on the demo's data directory (./var)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

REPO = Path(__file__).resolve().parent.parent


def _assert_not_demo_data(data_dir: Path) -> None:
    for demo in (REPO / "var", Path.cwd() / "var"):
        assert data_dir.resolve() != demo.resolve(), f"tests run on the demo's data dir {demo}"


def test_this_run_uses_a_data_dir_other_than_var():
    data_dir = Path(settings.DATA_DIR)
    _assert_not_demo_data(data_dir)
    if "filename" in settings.HUEY:  # the embedded queue file, where stale tasks piled up
        assert Path(settings.HUEY["filename"]).parent == data_dir
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        assert Path(settings.DATABASES["default"]["TEST"]["NAME"]).parent == data_dir
    # Servers and workers the tests start inherit the same directory.
    assert Path(os.environ["XIAOER_DATA_DIR"]).resolve() == data_dir


def test_plain_pytest_without_a_data_dir_gets_a_temporary_one(tmp_path):
    """`pytest` with no XIAOER_DATA_DIR at all (scripts/test.sh sets one; a developer may not)."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "from django.conf import settings\n"
        "def test_probe():\n"
        "    print('DATA_DIR=' + str(settings.DATA_DIR))\n"
        "    print('HUEY=' + str(settings.HUEY.get('filename', '')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("XIAOER_DATA_DIR", "DJANGO_SETTINGS_MODULE")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", f"--rootdir={REPO}",
         "-c", str(REPO / "pyproject.toml"), str(probe)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("DATA_DIR="))
    data_dir = Path(line.removeprefix("DATA_DIR="))
    _assert_not_demo_data(data_dir)
    assert data_dir.name.startswith("xiaoer-test-")
    assert not data_dir.exists(), "the temporary data dir is removed when the run ends"
