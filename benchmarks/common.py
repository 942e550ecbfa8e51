"""Helpers the benchmark scripts share: a free loopback port, starting the servers, waiting for them, wrk's
latency units."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_reference(data: Path, port: int, *, read_cache: bool = True) -> subprocess.Popen[bytes]:
    """`quay-harness serve` on `data` (superuser admin); with read_cache=False the database path alone."""
    command = [sys.executable, "-m", "harness.cli", "serve", "--port", str(port), "--data-dir", str(data),
               "--superuser", "admin"]
    if not read_cache:
        config = data / "no-read-cache.yaml"
        config.write_text("REFERENCE_READ_CACHE: false\n")
        command += ["--config", str(config)]
    return subprocess.Popen(command, cwd=ROOT)


def serve_bare(port: int) -> subprocess.Popen[bytes]:
    """The bare Starlette JSON endpoint of bare_app.py, the yardstick."""
    return subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port),
                             "--log-level", "warning", "--no-access-log"], cwd=HERE)


def wait(url: str, timeout: float = 30) -> None:
    """Poll `url` until it answers, or exit with a message."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not come up")


def to_ms(value: str) -> float:
    """A wrk latency such as `812.00us`, `1.98ms` or `1.02s` in milliseconds (nan when unreadable)."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")
