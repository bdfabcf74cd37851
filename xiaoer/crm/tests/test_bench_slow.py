"""The customers benchmark runs end to end at a small size (slow: skipped by default)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_customers_bench_runs(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "customers_bench.py"), "--customers", "2000",
                          "--samples", "50"], cwd=ROOT, check=True, timeout=600, capture_output=True, text=True)
    lines = out.stdout.splitlines()
    assert lines[1].split()[0] == "2,000"
    assert '"written"' in lines[3]
