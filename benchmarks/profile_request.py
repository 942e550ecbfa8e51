"""Profile one API request in-process (no HTTP server): where does the reference server spend its time?

Usage: python benchmarks/profile_request.py [--path /api/v1/repository/bench/repo] [--n 2000]
Prints microseconds per request and the top of a cProfile report."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request

from reference_server.app import create_app
from reference_server.config import ServerConfig
from reference_server.storage import Storage

ALL_SCOPES = "repo:read repo:write repo:admin repo:create user:read user:admin org:admin super:user"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", default="/api/v1/repository/bench/repo")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="qh-profile-"))
    storage = Storage.open(None, data)
    try:
        app = create_app(ServerConfig.from_mapping({"SUPER_USERS": ["admin"]}), storage)
        with storage.transaction() as db:
            admin = db.create_namespace("admin", email=None, password="password1")
            token, _ = db.create_oauth_token(admin, ALL_SCOPES, None)

        def request(method: str, path: str, body: bytes = b"") -> Request:
            scope: dict[str, Any] = {
                "type": "http", "method": method, "path": path, "query_string": b"", "scheme": "http",
                "headers": [(b"authorization", f"Bearer {token}".encode()), (b"host", b"bench"),
                            (b"content-type", b"application/json")],
                "server": ("bench", 80), "client": ("127.0.0.1", 1), "root_path": ""}

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body}
            return Request(scope, receive)

        async def setup() -> None:
            org = {"name": "bench", "email": "bench@example.com"}
            await app.handle(request("POST", "/api/v1/organization/", json.dumps(org).encode()))
            await app.handle(request("POST", "/api/v1/repository", json.dumps(
                {"namespace": "bench", "repository": "repo", "visibility": "private", "description": ""}).encode()))

        async def loop(n: int) -> int:
            status = 0
            for _ in range(n):
                status = (await app.handle(request("GET", args.path))).status_code
            return status

        asyncio.run(setup())
        asyncio.run(loop(200))  # warm the caches
        started = time.perf_counter()
        status = asyncio.run(loop(args.n))
        print(f"{args.path}: {(time.perf_counter() - started) / args.n * 1e6:.0f} us per request (status {status})")
        profiler = cProfile.Profile()
        profiler.runcall(asyncio.run, loop(args.n))
        pstats.Stats(profiler).sort_stats("tottime").print_stats(18)

    finally:
        storage.close()
        shutil.rmtree(data, ignore_errors=True)

if __name__ == "__main__":
    main()
