"""Requests/s of GET /api/v1/repository/{repository} (bearer token) on the reference server, next to a bare
Starlette JSON endpoint, measured in one run on the same machine with wrk. Prints both and their ratio.

Usage: python benchmarks/bench_repo_get.py [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from common import free_port, serve_bare, serve_reference, wait  # sibling: run as python benchmarks/x.py


def post(url: str, body: dict[str, object], token: str | None = None) -> dict[str, object]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(req) as r:
        answer: dict[str, object] = json.loads(r.read() or b"null")
        return answer


def wrk(url: str, seconds: int, connections: int, token: str | None) -> tuple[float, str]:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+(\S+)", out)
    return rps, p50.group(1) if p50 else "?"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (Debian package 'wrk')")
    procs = []
    data = tempfile.mkdtemp(prefix="qh-bench-")
    try:
        port = free_port()
        procs.append(serve_reference(Path(data), port))
        bare_port = free_port()
        procs.append(serve_bare(bare_port))
        base = f"http://127.0.0.1:{port}"
        wait(f"{base}/api/v1/discovery")
        wait(f"http://127.0.0.1:{bare_port}/api/v1/repository/bench/repo")
        token = str(post(f"{base}/api/v1/user/initialize",
                         {"username": "admin", "password": "password1", "access_token": True})["access_token"])
        post(f"{base}/api/v1/organization/", {"name": "bench", "email": "bench@example.com"}, token)
        post(f"{base}/api/v1/repository", {"namespace": "bench", "repository": "repo", "visibility": "private",
                                           "description": ""}, token)
        wrk(f"{base}/api/v1/repository/bench/repo", 2, args.connections, token)  # warm-up
        ours, ours_p50 = wrk(f"{base}/api/v1/repository/bench/repo", args.seconds, args.connections, token)
        bare, bare_p50 = wrk(f"http://127.0.0.1:{bare_port}/api/v1/repository/bench/repo", args.seconds,
                             args.connections, None)
        print(f"reference server GET /api/v1/repository/{{repository}} (bearer): {ours:9.1f} req/s  p50 {ours_p50}")
        print(f"bare Starlette JSON endpoint:                                  {bare:9.1f} req/s  p50 {bare_p50}")
        print(f"ratio: {ours / bare:.2f}")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
