"""End to end: the reference server, `python -m load.cli` with the smoke profile in master/worker mode, reports
on disk, exit 0; then an impossible SLO exits 3."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.auth import initialize_first_user
from harness.server import ReferenceServer

if importlib.util.find_spec("locust") is None:  # the `load` extra; never imported here (gevent would patch pytest)
    pytest.skip("Locust is not installed (pip install 'quay-harness[load]')", allow_module_level=True)
pytestmark = pytest.mark.slow  # about 30 s: two Locust runs


def _free_port(low: int = 18800, high: int = 18899) -> int:
    # A port from the range this project's tests may use, so parallel jobs on a shared machine do not collide;
    # tried in a random order, so two test processes asking at once do not both take the first free one.
    ports = list(range(low, high + 1))
    random.shuffle(ports)
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18800-18899")


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[str, str]]:
    with ReferenceServer() as server:  # a port the kernel says is free, tried again if taken meanwhile
        with httpx.Client(base_url=server.url, timeout=30) as http:
            token = initialize_first_user(http, "admin", "load-smoke-password")
        yield server.url, token


def _load(target: tuple[str, str], reports: Path, run_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    url, token = target
    env = {k: v for k, v in os.environ.items() if not k.startswith("QH_")}
    env["QH_TOKEN"] = token  # the token never goes on a command line
    command = [sys.executable, "-m", "load.cli", "--profile", "smoke", "--target-url", url, "--reports",
               str(reports), "--run-id", run_id, "--seed", "smoke", *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)


def test_smoke_profile_with_two_workers_writes_reports_and_passes(target: tuple[str, str], tmp_path: Path) -> None:
    done = _load(target, tmp_path, "smoke", "--workers", "2", "--master-port", str(_free_port()),
                 "--run-time", "5s")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = tmp_path / "smoke"
    for name in ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "locust.html"):
        assert (run_dir / name).is_file(), name
    with (run_dir / "locust_stats.csv").open() as handle:
        rows = {r["Name"]: r for r in csv.DictReader(handle)}
    assert {"getRepo", "listRepos", "discovery"} <= set(rows)  # named by operationId, not by URL
    assert int(rows["Aggregated"]["Request Count"]) > 0 and rows["Aggregated"]["Failure Count"] == "0"
    summary = json.loads((run_dir / "load-summary.json").read_text())
    assert summary["slo"]["breached"] is False and summary["skipped"] == {}
    assert target[1] not in done.stdout + done.stderr


def test_an_impossible_slo_exits_3(target: tuple[str, str], tmp_path: Path) -> None:
    slo_file = tmp_path / "impossible.yaml"
    slo_file.write_text("overall: {p50: 0.001}\n")
    done = _load(target, tmp_path, "breach", "--run-time", "2s", "--slo", str(slo_file))
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert "SLO for profile smoke: BREACHED" in done.stdout


def test_bad_input_exits_2_with_one_line(target: tuple[str, str], tmp_path: Path) -> None:
    done = _load(target, tmp_path, "bad", "--run-time", "soon")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "not a duration" in done.stderr
    remote = subprocess.run([sys.executable, "-m", "load.cli", "--target-url", "https://quay.example.com",
                             "--token", "x"], capture_output=True, text=True, timeout=60, check=False)
    assert remote.returncode == 2 and "--allow-remote" in remote.stderr
