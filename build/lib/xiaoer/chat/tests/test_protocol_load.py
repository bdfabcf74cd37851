"""Nothing lost at load: the benchmark's load run, checked message by message (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_nothing_lost_or_doubled_under_load(tmp_path):
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "chat_bench.py"), "--pairs", "100", "--rate", "800",
                    "--duration", "5", "--drain", "30", "--skip-relay", "--json", str(out)],
                   cwd=ROOT, check=True, timeout=600)
    figures = json.loads(out.read_text())["xiaoer"]
    assert figures["sent"] > 0
    assert figures["errors"] == 0
    assert figures["delivered"] == figures["sent"] == figures["acked"]
    assert figures["lost"] == 0
    assert figures["stored"] == figures["sent"] and figures["duplicates_stored"] == 0
