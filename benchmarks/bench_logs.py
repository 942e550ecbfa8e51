"""Requests/s and median latency of one page of repository logs, GET /api/v1/repository/{repository}/logs
(bearer token, a 30-day window), on a reference server whose log table holds 10^3 and then 10^6 entries, next
to the bare Starlette endpoint of bare_app.py, all measured with wrk on this machine.

Each size gets a fresh SQLite database: the server creates it, the script adds the organization and repository
over HTTP, then writes the entries straight into the `log_entry` table in bulk (half of them in the measured
repository, the rest spread over other repositories and namespaces, so the index has to pick them out).
Besides the first page it measures a page from the middle of the data (a `next_page` token pointing there),
which costs the same as the first one only if paging is by keyset rather than by offset.

A second server on the same database runs with the read cache off (REFERENCE_READ_CACHE: false), so the
database path's own figures are printed too; the goals are judged on the server as it ships.

Goals: log page >= 0.3 x bare requests/s; p50 at 10^6 within 1.5 x of p50 at 10^3.

Usage: python benchmarks/bench_logs.py [--seconds 10] [--connections 16] [--sizes 1000,1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import free_port, serve_bare, serve_reference, to_ms, wait  # sibling: run as python benchmarks/x.py
from cryptography.fernet import Fernet
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

BATCH = 20_000
KINDS = ("push_repo", "pull_repo", "create_tag", "delete_tag", "move_tag")
SPAN = timedelta(days=29)


@dataclass
class Figure:
    rps: float
    p50_ms: float


def call(method: str, url: str, body: object | None = None, token: str | None = None) -> dict[str, object]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data, headers, method=method)
    with urllib.request.urlopen(req) as r:
        answer: dict[str, object] = json.loads(r.read() or b"null")
        return answer


def wrk(url: str, seconds: int, connections: int, token: str | None) -> Figure:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+(\S+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise SystemExit(f"{url}: {non2xx.group(1)} failed responses\n{out}")
    return Figure(float(rps.group(1)) if rps else 0.0, to_ms(p50.group(1)) if p50 else float("nan"))


def seed(db_path: Path, count: int, repo_id: int, namespace_id: int, performer_id: int, end: datetime) -> None:
    """`count` entries, newest just before `end`, half of them in the measured repository."""
    rng = random.Random(7)
    con = sqlite3.connect(db_path, timeout=30)
    con.execute("PRAGMA synchronous=OFF")  # a benchmark fixture: durability does not matter here
    first = end - SPAN
    step = SPAN / count
    sql = ("INSERT INTO log_entry (kind, account_id, performer_id, repository_id, ip, datetime, metadata) "
           "VALUES (?, ?, ?, ?, ?, ?, ?)")
    with Progress(TextColumn("seeding {task.fields[n]:>9,} entries"), BarColumn(),
                  TextColumn("{task.percentage:>5.1f}%"), TimeRemainingColumn()) as progress:
        task = progress.add_task("seed", total=count, n=count)
        for offset in range(0, count, BATCH):
            rows = []
            for i in range(offset, min(offset + BATCH, count)):
                mine = i % 2 == 0
                kind = KINDS[i % len(KINDS)]
                when = first + step * i
                rows.append((
                    kind, namespace_id if mine else 1000 + rng.randrange(50), performer_id,
                    repo_id if mine else 1000 + rng.randrange(500), "10.0.0.1",
                    # SQLAlchemy's text form for DateTime columns on SQLite: naive UTC with microseconds.
                    when.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    json.dumps({"repo": "repo", "namespace": "bench", "tag": f"v{i}"}),
                ))
            with con:
                con.executemany(sql, rows)
            progress.update(task, advance=len(rows))
    con.close()


def middle_token(db_path: Path, repo_id: int) -> str:
    """A `next_page` token for the middle of the repository's entries, made as the server makes them (the
    Fernet key lives in the database), so the deep page can be measured without walking to it."""
    con = sqlite3.connect(db_path)
    key = con.execute("SELECT value FROM instance_secret WHERE name = 'fernet'").fetchone()[0]
    total = con.execute("SELECT count(*) FROM log_entry WHERE repository_id = ?", (repo_id,)).fetchone()[0]
    row = con.execute("SELECT datetime, id FROM log_entry WHERE repository_id = ? ORDER BY datetime DESC, id DESC "
                      "LIMIT 1 OFFSET ?", (repo_id, total // 2)).fetchone()
    con.close()
    when = datetime.fromisoformat(row[0]).replace(tzinfo=UTC)
    state = {"v": 1, "dt": when.isoformat(), "id": row[1], "page": 2, "exp": int(time.time()) + 86400}
    return Fernet(key.encode()).encrypt(json.dumps(state).encode()).decode()


def measure_size(count: int, args: argparse.Namespace) -> dict[str, Figure]:
    data = Path(tempfile.mkdtemp(prefix="qh-bench-logs-"))
    port = free_port()
    proc = serve_reference(data, port)
    uncached: subprocess.Popen[bytes] | None = None
    try:
        base = f"http://127.0.0.1:{port}"
        wait(f"{base}/api/v1/discovery")
        token = str(call("POST", f"{base}/api/v1/user/initialize",
                         {"username": "admin", "password": "password1", "access_token": True})["access_token"])
        call("POST", f"{base}/api/v1/organization/", {"name": "bench", "email": "bench@example.com"}, token)
        call("POST", f"{base}/api/v1/repository", {"namespace": "bench", "repository": "repo",
                                                   "visibility": "private", "description": ""}, token)
        db_path = data / "quay.db"
        con = sqlite3.connect(db_path)
        repo_id, namespace_id = con.execute(
            "SELECT r.id, r.namespace_id FROM repository r JOIN user u ON u.id = r.namespace_id "
            "WHERE u.username = 'bench' AND r.name = 'repo'").fetchone()
        performer_id = con.execute("SELECT id FROM user WHERE username = 'admin'").fetchone()[0]
        con.close()
        now = datetime.now(UTC)
        seed(db_path, count, repo_id, namespace_id, performer_id, now - timedelta(minutes=1))
        window = urllib.parse.urlencode({"starttime": (now - SPAN).strftime("%m/%d/%Y"),
                                         "endtime": now.strftime("%m/%d/%Y")})
        url = f"{base}/api/v1/repository/bench/repo/logs?{window}"
        page = call("GET", url, token=token)
        assert isinstance(page["logs"], list) and len(page["logs"]) == 20 and "next_page" in page, page
        deep_url = f"{url}&next_page={urllib.parse.quote(middle_token(db_path, repo_id))}"
        deep_page = call("GET", deep_url, token=token)
        assert isinstance(deep_page["logs"], list) and len(deep_page["logs"]) == 20, deep_page
        # The same database behind a server with the read cache off: the figures of the database path itself.
        db_port = free_port()
        uncached = serve_reference(data, db_port, read_cache=False)
        wait(f"http://127.0.0.1:{db_port}/api/v1/discovery")
        db_url, db_deep_url = (u.replace(f":{port}/", f":{db_port}/") for u in (url, deep_url))
        wrk(url, 2, args.connections, token)  # warm-up
        return {"page 1": wrk(url, args.seconds, args.connections, token),
                "middle page": wrk(deep_url, args.seconds, args.connections, token),
                "page 1, no read cache": wrk(db_url, args.seconds, args.connections, token),
                "middle page, no read cache": wrk(db_deep_url, args.seconds, args.connections, token)}
    finally:
        for process in (proc, uncached):
            if process is not None:
                process.terminate()
                process.wait(15)
        shutil.rmtree(data, ignore_errors=True)


def measure_bare(args: argparse.Namespace) -> Figure:
    port = free_port()
    proc = serve_bare(port)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/repository/bench/repo"
        wait(url)
        wrk(url, 2, args.connections, None)
        return wrk(url, args.seconds, args.connections, None)
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--sizes", default="1000,1000000")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (Debian package 'wrk')")
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {n: measure_size(n, args) for n in sizes}
    bare = measure_bare(args)
    print()
    print(f"{'bare Starlette JSON endpoint':<48} {bare.rps:9.1f} req/s  p50 {bare.p50_ms:7.2f} ms")
    for n, figures in results.items():
        for label, f in figures.items():
            print(f"{f'logs {label}, {n:,} entries':<48} {f.rps:9.1f} req/s  p50 {f.p50_ms:7.2f} ms  "
                  f"ratio to bare {f.rps / bare.rps:.2f}")
    if len(sizes) >= 2:
        small, large = results[min(sizes)], results[max(sizes)]
        ratio = large["page 1"].rps / bare.rps
        print(f"ratio req/s(page 1, {max(sizes):,}) / req/s(bare): {ratio:.2f}  (goal >= 0.3: "
              f"{'met' if ratio >= 0.3 else 'NOT met'})")
        for label in small:
            growth = large[label].p50_ms / small[label].p50_ms
            goal = f"  (goal <= 1.5: {'met' if growth <= 1.5 else 'NOT met'})" if label == "page 1" else ""
            print(f"p50 ratio {max(sizes):,} / {min(sizes):,} entries ({label}): {growth:.2f}{goal}")


if __name__ == "__main__":
    main()
