"""`sandbox demo` runs the whole path to the end (a small dataset keeps it quick)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_whole_path(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env["COLUMNS"] = "200"
    out = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "demo", "--rows", "3000", "--home", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "A raw-export attempt is refused by the gate" in text and "column_not_granted" in text
    assert "reached pending_review" in text and "rule min_units" in text
    assert "Download before release: HTTP 409 not_released" in text
    assert "matches the release record" in text
    assert "intact" in text
    # the demo's personal data (resident ids, phones) never reaches its own output
    csv = (tmp_path / "demo" / "residents.csv").read_text(encoding="utf-8").splitlines()[1:50]
    for line in csv:
        resident_id, _name, phone = line.split(",")[:3]
        assert resident_id.strip('"') not in text and phone.strip('"') not in text
