"""Helpers the benchmark scripts share: a free loopback port, waiting for a server, wrk's latency units."""

from __future__ import annotations

import re
import socket
import time
import urllib.request

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
