"""Run the reference server with uvicorn (used by `quay-harness serve` and by harness/server.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import uvicorn

from reference_server.app import create_app
from reference_server.config import ServerConfig
from reference_server.storage import Storage


def build(data_dir: Path, db_url: str | None, config_path: Path | None,
          superusers: list[str] | None = None) -> tuple[ServerConfig, Storage]:
    config = ServerConfig.load(config_path, superusers)
    storage = Storage.open(db_url, data_dir)
    return config, storage


def serve(host: str, port: int, data_dir: Path, db_url: str | None, config_path: Path | None,
          superusers: list[str] | None = None, log_level: str = "warning") -> None:
    config, storage = build(data_dir, db_url, config_path, superusers)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(config, storage)
    # uvicorn handles SIGTERM/SIGINT: it stops accepting, finishes in-flight requests, then runs lifespan
    # shutdown (which disposes the engine), so committed work is never lost.
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on",
                timeout_graceful_shutdown=10,
                # Longer than clients keep idle connections: a server closing one just as a client reuses it
                # shows up as "server disconnected without sending a response".
                timeout_keep_alive=120)
