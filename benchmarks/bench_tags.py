"""Requests/s and median latency of listRepoTags (GET /api/v1/repository/{repository}/tag/, bearer token) on
repositories of 10^3 and 10^5 tags, next to a bare Starlette JSON endpoint, measured in one run with wrk.

The repositories are seeded fast and deterministically by bulk-inserting rows straight into the server's SQLite
database before the server starts (no HTTP, no registry pushes): every tag name has a live version with its own
lifetime start, spread over about a year; some tags were moved (an ended earlier version on another manifest),
some deleted (the live version ended in the past), a few expire in the future; a handful of manifests, one of
them a manifest list, tagged by every 40th name (its children are kept alive by hidden tags, never listed).

The server keeps a repeated request's whole answer (same path, query and token) until the next write, so
wrk's identical requests are answered from that after the first. Two more figures show the layers below it:
"a new query string each time" adds a throwaway query parameter that the operation ignores, so every request
runs the whole pipeline (authentication, permission, the cached page) without a kept answer; and a second server
on the same database runs with the read cache off (REFERENCE_READ_CACHE: false), the database path itself. The
goals are judged on the server as it ships.

Prints req/s and p50 of each measurement (medians over the rounds) and the two figures that matter, each the
median over the rounds of that round's own ratio:
  ratio  = req/s(10^5, page of 50) / req/s(bare)      goal >= 0.5
  growth = p50(10^5, page of 50) / p50(10^3, page of 50)  goal <= 1.5

Usage: python benchmarks/bench_tags.py [--seconds 6] [--rounds 5] [--connections 16] [--sizes 1000,100000]
                                       [--port 0] [--bare-port 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import insert

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from common import free_port, serve_bare, serve_reference, to_ms, wait  # noqa: E402  (sibling module; scripts run as python benchmarks/x.py)

from reference_server.storage import Storage  # noqa: E402
from reference_server.storage import schema as t  # noqa: E402
from reference_server.storage.base import inserted_id, new_uuid, now  # noqa: E402

ORG = "bench"
BATCH = 10_000
DAY_MS = 86_400_000
MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
# Every scope a first user's token gets (initializeUser mints the same set).
SCOPES = "org:admin repo:admin repo:create repo:read repo:write super:user user:admin user:read"


# ---- seeding ------------------------------------------------------------------------------------------------


def _digest(rng: random.Random) -> str:
    return "sha256:" + "".join(rng.choice("0123456789abcdef") for _ in range(64))


def _manifests(repo_id: int, rng: random.Random) -> list[dict[str, Any]]:
    """Seven image manifests and one manifest list over the first two of them (complete, as most lists are; a
    sparse list costs one more small query per page: whether its missing children arrived meanwhile)."""
    rows: list[dict[str, Any]] = []
    for i in range(7):
        body = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_TYPE,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": _digest(rng), "size": 400 + i},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": _digest(rng), "size": 1_000_000 * (i + 1)}]})
        rows.append({"repository_id": repo_id, "digest": _digest(rng), "media_type": MEDIA_TYPE,
                     "manifest_bytes": body, "config_digest": None, "layers_compressed_size": 1_000_000 * (i + 1),
                     "is_manifest_list": False, "created": now()})
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [
        {"mediaType": MEDIA_TYPE, "digest": rows[0]["digest"], "size": 500,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": MEDIA_TYPE, "digest": rows[1]["digest"], "size": 500,
         "platform": {"architecture": "arm64", "os": "linux"}}]})
    rows.append({"repository_id": repo_id, "digest": _digest(rng), "media_type": INDEX_TYPE, "manifest_bytes": index,
                 "config_digest": None, "layers_compressed_size": None, "is_manifest_list": True, "created": now()})
    return rows


def tag_rows(repo_id: int, count: int, manifest_ids: list[int], list_id: int, now_ms: int,
             rng: random.Random) -> list[dict[str, Any]]:
    """`count` tag names, each with a live-or-deleted current version and perhaps an earlier moved one.

    Starts are distinct and spread over the last ~year (newest tag t<count-1>); ~10% of the names were moved
    (an ended version on another manifest whose end is the current version's start), ~5% were deleted (their
    current version ended before now), ~1% expire in the future, every 40th points at the manifest list."""
    images = [m for m in manifest_ids if m != list_id]
    span = 365 * DAY_MS
    step = span // count
    rows: list[dict[str, Any]] = []
    for i in range(count):
        name = f"t{i:06d}"
        start = now_ms - span + i * step + rng.randrange(max(1, step // 2))
        # Every 40th name points at the manifest list, at the same places in every repository.
        manifest = list_id if i % 40 == 7 else rng.choice(images)
        if rng.random() < 0.10:  # moved once: the earlier version ended when this one started
            earlier = start - rng.randrange(DAY_MS // 24, 7 * DAY_MS)
            rows.append(_tag(repo_id, name, rng.choice(images), earlier, start))
        roll = rng.random()
        if roll < 0.05:
            end: int | None = start + rng.randrange(1, max(2, now_ms - start))  # deleted since
        elif roll < 0.06:
            end = now_ms + rng.randrange(DAY_MS, 30 * DAY_MS)  # expires later
        else:
            end = None
        rows.append(_tag(repo_id, name, manifest, start, end))
    # The list's children are kept alive by hidden temporary tags, as a push by digest leaves them.
    for child in images[:2]:
        rows.append(_tag(repo_id, f"$temp-{new_uuid()}", child, now_ms - DAY_MS, now_ms + 7 * DAY_MS, hidden=True))
    return rows


def _tag(repo_id: int, name: str, manifest_id: int, start: int, end: int | None, *,
         hidden: bool = False) -> dict[str, Any]:
    return {"repository_id": repo_id, "name": name, "manifest_id": manifest_id, "lifetime_start_ms": start,
            "lifetime_end_ms": end, "reversion": False, "hidden": hidden, "immutable": False}


def seed(data_dir: Path, sizes: list[int]) -> str:
    """Admin user + token, organization `bench` with one repository per size (`tags<size>`); returns the token."""
    storage = Storage.open(None, data_dir)
    rng = random.Random(20240501)
    now_ms = int(time.time() * 1000)
    try:
        with storage.transaction() as db:
            admin = db.create_namespace("admin", email="admin@example.com", password="password1")
            token = db.create_initial_token(admin, SCOPES)
            org = db.create_organization(ORG, "bench@example.com", admin)
            plans = []
            for size in sizes:
                repo = db.create_repository(org, f"tags{size}", visibility="private", description="", kind="image")
                ids = []
                for row in _manifests(repo.id, rng):
                    ids.append(inserted_id(db.conn.execute(insert(t.manifest).values(**row))))
                children = [{"manifest_id": ids[-1], "child_manifest_id": c} for c in ids[:2]]
                db.conn.execute(insert(t.manifest_child), children)
                plans.append((size, tag_rows(repo.id, size, ids, ids[-1], now_ms, rng)))
            columns = [TextColumn("[bold]seed[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn()]
            with Progress(*columns, transient=False) as progress:
                for size, rows in plans:
                    task = progress.add_task(f"tags{size}", total=len(rows))
                    for start in range(0, len(rows), BATCH):
                        chunk = rows[start:start + BATCH]
                        db.conn.execute(insert(t.tag), chunk)  # executemany
                        progress.advance(task, len(chunk))
        with storage.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        storage.close()
    return token


# ---- measuring ----------------------------------------------------------------------------------------------


def get_json(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Figure:
    label: str
    rps: float
    p50_ms: float
    cpu_us: float  # server CPU time per request: robust to other load on the machine, unlike req/s
    non2xx: int


# wrk script: a throwaway query parameter, new on every request, so no request repeats an earlier one.
UNIQUE_QUERY = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, wrk.path .. "&unique=" .. counter)
end
"""


def wrk(label: str, url: str, seconds: int, connections: int, token: str | None, pid: int,
        script: Path | None = None) -> Figure:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    if script is not None:
        cmd += ["-s", str(script)]
    cpu_before = cpu_seconds(pid)
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu_before
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+(\S+)", out)
    done = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    count = int(done.group(1)) if done else 0
    return Figure(label, float(rps.group(1)) if rps else float("nan"), to_ms(p50.group(1)) if p50 else float("nan"),
                  cpu / count * 1e6 if count else float("nan"), int(bad.group(1)) if bad else 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=6, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds over all targets (median)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--sizes", default="1000,100000", help="comma-separated tag counts (small first)")
    parser.add_argument("--port", type=int, default=0, help="reference server port (0 = any free one)")
    parser.add_argument("--bare-port", type=int, default=0, help="bare endpoint port (0 = any free one)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (Debian package 'wrk')")
    sizes = [int(s) for s in args.sizes.split(",")]
    small, large = sizes[0], sizes[-1]
    data = Path(tempfile.mkdtemp(prefix="qh-bench-tags-"))
    began = time.perf_counter()
    token = seed(data, sizes)
    print(f"seeded {sum(sizes)} tag names into {data} in {time.perf_counter() - began:.1f} s")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        port = args.port or free_port()
        procs.append(serve_reference(data, port))
        # A second server on the same database with the read cache off: the database path's own figures.
        uncached_port = free_port()
        procs.append(serve_reference(data, uncached_port, read_cache=False))
        bare_port = args.bare_port or free_port()
        procs.append(serve_bare(bare_port))
        base = f"http://127.0.0.1:{port}/api/v1/repository/{ORG}"
        bare_url = f"http://127.0.0.1:{bare_port}/api/v1/repository/bench/repo"
        uncached = f"http://127.0.0.1:{uncached_port}/api/v1/repository/{ORG}"
        wait(f"http://127.0.0.1:{port}/api/v1/discovery")
        wait(f"http://127.0.0.1:{uncached_port}/api/v1/discovery")
        wait(bare_url)
        deep_page = large // 50 // 2  # half-way down the history
        runs = [(f"{small} tags, page 1 of 50", f"{base}/tags{small}/tag/?limit=50&page=1"),
                (f"{large} tags, page 1 of 1 (fixed cost)", f"{base}/tags{large}/tag/?limit=1&page=1"),
                (f"{large} tags, page 1 of 50", f"{base}/tags{large}/tag/?limit=50&page=1"),
                (f"{large} tags, page {deep_page} of 50", f"{base}/tags{large}/tag/?limit=50&page={deep_page}"),
                (f"{large} tags, onlyActiveTags", f"{base}/tags{large}/tag/?limit=50&page=1&onlyActiveTags=true")]
        for _, url in runs:  # sanity: every URL answers a full page
            body = get_json(url, token)
            assert len(body["tags"]) == (1 if "limit=1&" in url else 50), (url, body)
        # The throwaway parameter changes nothing in the answer (the operation ignores unknown parameters).
        assert get_json(runs[2][1] + "&unique=0", token) == get_json(runs[2][1], token)
        wrk("warm-up", runs[2][1], 2, args.connections, token, procs[0].pid)
        server_pid, uncached_pid, bare_pid = procs[0].pid, procs[1].pid, procs[2].pid
        unique = data / "unique-query.lua"
        unique.write_text(UNIQUE_QUERY)
        # The three runs the goals compare come first and back to back in every round (small, large, bare), and
        # the goals are judged on the median of each round's own ratio: this machine's speed drifts by a third
        # from one run to the next, and a drift slower than a round cancels out of a ratio taken within it.
        key = [runs[0], runs[2]]
        targets: list[tuple[str, str, str | None, int, Path | None]] = [
            (label, url, token, server_pid, None) for label, url in key]
        targets.append(("bare Starlette JSON endpoint", bare_url, None, bare_pid, None))
        targets += [(label, url, token, server_pid, None) for label, url in runs if (label, url) not in key]
        targets.append((f"{large} tags, page 1 of 50, new query each time", runs[2][1], token, server_pid, unique))
        for size in (small, large):
            targets.append((f"{size} tags, page 1 of 50, no read cache",
                            f"{uncached}/tags{size}/tag/?limit=50&page=1", token, uncached_pid, None))
        rounds: list[list[Figure]] = []
        for number in range(args.rounds):
            # Every other round runs the large repository before the small one, so neither always goes first.
            first = [1, 0] if number % 2 else [0, 1]
            done: dict[int, Figure] = {}
            for i in [*first, *range(2, len(targets))]:
                label, url, tok, pid, script = targets[i]
                done[i] = wrk(label, url, args.seconds, args.connections, tok, pid, script)
            rounds.append([done[i] for i in range(len(targets))])
            print(f"round {number + 1}/{args.rounds}: " + ", ".join(f"{f.rps:.0f}" for f in rounds[-1]) + " req/s")
        figures = [Figure(label, statistics.median(r[i].rps for r in rounds),
                          statistics.median(r[i].p50_ms for r in rounds),
                          statistics.median(r[i].cpu_us for r in rounds), sum(r[i].non2xx for r in rounds))
                   for i, (label, *_) in enumerate(targets)]
        print(f"listRepoTags (bearer), wrk -t1 -c{args.connections} -d{args.seconds}s --latency, median of "
              f"{args.rounds} interleaved round(s)")
        for f in figures:
            extra = f"  ({f.non2xx} non-2xx!)" if f.non2xx else ""
            print(f"  {f.label:<48} {f.rps:9.1f} req/s  p50 {f.p50_ms:8.2f} ms  server CPU {f.cpu_us:7.0f} us/req"
                  f"{extra}")
        small_fig, large_fig, bare_fig = figures[0], figures[1], figures[2]
        pipeline, db_small, db_large = figures[-3], figures[-2], figures[-1]
        ratios = [r[1].rps / r[2].rps for r in rounds]
        growths = [r[1].p50_ms / r[0].p50_ms for r in rounds]
        ratio, growth = statistics.median(ratios), statistics.median(growths)
        print(f"ratio req/s({large} tags, page of 50) / req/s(bare): {ratio:.2f}  (goal >= 0.5: "
              f"{'met' if ratio >= 0.5 else 'NOT met'}; median of the rounds' "
              f"{', '.join(f'{x:.2f}' for x in ratios)})")
        print(f"p50({large}) / p50({small}): {growth:.2f}  (goal <= 1.5: {'met' if growth <= 1.5 else 'NOT met'}; "
              f"median of the rounds' {', '.join(f'{x:.2f}' for x in growths)})")
        print(f"whole pipeline (a new query string each time, no kept answer): ratio "
              f"{pipeline.rps / bare_fig.rps:.2f} of bare")
        print(f"database path (read cache off): ratio {db_large.rps / bare_fig.rps:.2f} of bare, "
              f"p50({large}) / p50({small}) {db_large.p50_ms / db_small.p50_ms:.2f}")
        print(f"cross-check by server CPU per request (insensitive to other load on the machine): "
              f"bare/ours {bare_fig.cpu_us / large_fig.cpu_us:.2f}, "
              f"ours({large})/ours({small}) {large_fig.cpu_us / small_fig.cpu_us:.2f}; "
              f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
