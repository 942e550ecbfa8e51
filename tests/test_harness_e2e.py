"""End to end: the reference server in a subprocess, then `quay-harness run` on the conformance suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from harness.server import ReferenceServer


def test_reference_server_starts_answers_discovery_and_stops(tmp_path: Path) -> None:
    with ReferenceServer(data_dir=tmp_path / "data") as server:
        assert httpx.get(f"{server.url}/api/v1/discovery").status_code == 200
        process = server._process
        assert process is not None
    assert process.poll() is not None  # stopped on exit


def test_quay_harness_run_on_the_reference_server_passes(tmp_path: Path) -> None:
    # The discovery module only: the whole pipeline (server, workers, reports) without the full suite's time.
    command = [sys.executable, "-m", "harness.cli", "run", "--suites", "conformance", "-n", "0",
               "--reports", str(tmp_path), "--run-id", "e2e1", "--", "-k", "test_discovery"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = tmp_path / "e2e1"
    for name in ("junit.xml", "results.yaml", "report.html", "allure-results"):
        assert (run_dir / name).exists(), name
    results = yaml.safe_load((run_dir / "results.yaml").read_text())
    assert results["totals"]["passed"] > 0 and results["totals"]["failed"] == 0
    assert "getErrorDescription" in results["operations"]
    assert "passed" in done.stdout
    # The target's profile and the inventory check travel with the results.
    assert results["profile"]["superuser"] == "admin" and results["profile"]["version"]
    assert results["inventory"] == {"clean": True, "differences": []}
    assert "Quay version" in done.stdout and "inventory before" in done.stdout
