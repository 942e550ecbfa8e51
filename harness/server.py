"""Start and stop the reference server. The only module of `harness` that imports `reference_server`,
and only lazily, so the harness works against any Quay without it."""

from __future__ import annotations

from pathlib import Path


def run_reference_server(host: str, port: int, data_dir: Path, db_url: str | None, config_path: Path | None,
                         superusers: list[str], log_level: str) -> None:
    from reference_server.config import ConfigError
    from reference_server.server import serve

    try:
        serve(host, port, data_dir, db_url, config_path, superusers, log_level)
    except ConfigError as exc:
        raise ValueError(str(exc)) from exc
