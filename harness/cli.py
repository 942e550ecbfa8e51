"""The `quay-harness` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Conformance and load testing for the Quay registry API."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data"),
              show_default=True, help="Where the SQLite database and blobs live.")
@click.option("--db", "db_url", default=None, help="postgresql://user:pass@host/db instead of SQLite.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A Quay-style config.yaml (SUPER_USERS, FEATURE_* ...).")
@click.option("--superuser", "superusers", multiple=True, help="Add a superuser (repeatable).")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def serve(host: str, port: int, data_dir: Path, db_url: str | None, config_path: Path | None,
          superusers: tuple[str, ...], log_level: str) -> None:
    """Run the reference server."""
    from harness.server import run_reference_server

    try:
        run_reference_server(host, port, data_dir, db_url, config_path, list(superusers), log_level)
    except (ValueError, OSError) as exc:
        click.echo(f"quay-harness serve: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
