"""Start and stop the reference server. The only module of `harness` that imports `reference_server`,
and only lazily, so the harness works against any Quay without it."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import httpx
import yaml


def run_reference_server(host: str, port: int, data_dir: Path, db_url: str | None, config_path: Path | None,
                         superusers: list[str], log_level: str) -> None:
    from reference_server.config import ConfigError
    from reference_server.server import serve

    try:
        serve(host, port, data_dir, db_url, config_path, superusers, log_level)
    except ConfigError as exc:
        raise ValueError(str(exc)) from exc


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now. Another process may take it before the server binds it; `ReferenceServer`
    retries with a new port when that happens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


READONLY_SUPERUSER = "qhreadonly"


def server_config(superuser: str = "admin", full_access: bool = False,
                  features: dict[str, bool] | None = None, readonly: str = READONLY_SUPERUSER) -> dict[str, Any]:
    """The Quay-style config.yaml for a harness run: the first user can be created over HTTP, and the chosen
    variant's switches."""
    config: dict[str, Any] = {"SUPER_USERS": [superuser], "FEATURE_USER_INITIALIZE": True,
                              "FEATURE_SUPERUSERS_FULL_ACCESS": full_access,
                              # A global read-only superuser for the role matrix; the harness creates the account.
                              "GLOBAL_READONLY_SUPER_USERS": [readonly],
                              # Offers changeRepoState (and nothing else we do not implement) for the suites.
                              "FEATURE_REPO_MIRROR": True,
                              # Off in Quay's defaults; on here so the suites (and the security matrices) reach the
                              # quota, auto-prune and immutability operations. `features` may switch them off again.
                              "FEATURE_QUOTA_MANAGEMENT": True, "FEATURE_AUTO_PRUNE": True,
                              "FEATURE_IMMUTABLE_TAGS": True,
                              # Quay's own keys for the prune worker's cadence (defaults 30 s and 60 min): a test
                              # configuration polls every second and may re-run a namespace at once.
                              "AUTO_PRUNING_POLL_PERIOD": 1, "AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES": 0,
                              # Ours: the server lives as long as the run, on a temporary database, and the suites
                              # create thousands of users; the standard password hashing cost would dominate it.
                              "REFERENCE_FAST_PASSWORD_HASHING": True}
    for name, value in (features or {}).items():
        key = name.upper()
        config[key if key.startswith("FEATURE_") else f"FEATURE_{key}"] = value
    return config


class DirectWriter:
    """Writes load-seed rows (many tags, a long audit history) straight into the database of a reference
    server this process started: minutes of API calls become seconds. Follow it with one API write, which
    empties the running server's read cache (see reference_server/bulk.py)."""

    def __init__(self, data_dir: Path, db_url: str | None) -> None:
        from reference_server.storage import Storage

        self._storage = Storage.open(db_url, data_dir)

    def tags(self, repository: str, names: Sequence[str], manifest_digest: str,
             advance: Callable[[int], None]) -> int:
        from reference_server.bulk import BulkError, insert_tags

        try:
            return insert_tags(self._storage, repository, names, manifest_digest, advance=advance)
        except BulkError as exc:
            raise ValueError(str(exc)) from exc

    def log_history(self, repository: str, count: int, performer: str, advance: Callable[[int], None]) -> int:
        from reference_server.bulk import BulkError, insert_log_history

        try:
            return insert_log_history(self._storage, repository, count, performer, advance=advance)
        except BulkError as exc:
            raise ValueError(str(exc)) from exc

    def close(self) -> None:
        self._storage.close()


def _title(answer: httpx.Response) -> Any:
    try:
        body = answer.json()
    except ValueError:
        return None
    return body.get("config", {}).get("REGISTRY_TITLE") if isinstance(body, dict) else None


class ReferenceServer:
    """`with ReferenceServer() as server: server.url` runs `quay-harness serve` in a subprocess on a free port,
    waits until GET /api/v1/discovery answers, and stops it with SIGTERM on exit."""

    def __init__(self, *, data_dir: Path | None = None, db_url: str | None = None, superuser: str = "admin",
                 full_access: bool = False, features: dict[str, bool] | None = None, host: str = "127.0.0.1",
                 port: int | None = None, startup_timeout: float = 30.0, log_level: str = "warning") -> None:
        self.host = host
        self.requested_port = port
        self.port = 0
        self.db_url = db_url
        self.superuser = superuser
        self.config = server_config(superuser, full_access, features)
        # A title only this server carries: the start-up check asks for it, so a server of another process that
        # answers on the same port (two picked the same free port) is never taken for this one.
        self.config["REGISTRY_TITLE"] = f"quay-harness reference server {secrets.token_hex(6)}"
        self.startup_timeout = startup_timeout
        self.log_level = log_level
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="qh-server-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ReferenceServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from harness.errors import ServerStartError

        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.data_dir / "harness-config.yaml"
        config_path.write_text(yaml.safe_dump(self.config))
        attempts = 1 if self.requested_port else 3
        last = ""
        for _ in range(attempts):
            self.port = self.requested_port or free_port(self.host)
            self._launch(config_path)
            ok, last = self._wait()
            if ok:
                return
            self._terminate()
            if "address already in use" not in last.lower():
                break
        self._cleanup_dir()
        raise ServerStartError(f"the reference server did not start on {self.url}; its stderr ends with:\n{last}")

    def _launch(self, config_path: Path) -> None:
        command = [sys.executable, "-m", "harness.cli", "serve", "--host", self.host, "--port", str(self.port),
                   "--data-dir", str(self.data_dir), "--config", str(config_path),
                   "--superuser", self.superuser, "--log-level", self.log_level]
        if self.db_url:
            command += ["--db", self.db_url]
        # Lives as long as the server (closed in _terminate), so no `with` block here.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                         stdin=subprocess.DEVNULL)

    def _tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        return "\n".join(text.strip().splitlines()[-20:])

    def _wait(self) -> tuple[bool, str]:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    return False, self._tail() or f"exited with status {self._process.returncode}"
                try:
                    answer = http.get("/config")
                    if answer.status_code == 200 and _title(answer) == self.config["REGISTRY_TITLE"]:
                        return True, ""
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        return False, self._tail() or f"no answer within {self.startup_timeout:.0f} s"

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _cleanup_dir(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def direct_writer(self) -> DirectWriter:
        """A writer into this server's own database (the caller closes it)."""
        return DirectWriter(self.data_dir, self.db_url)

    def stop(self) -> None:
        self._terminate()
        self._cleanup_dir()


def start_for_run(config: Any) -> tuple[ReferenceServer, dict[str, Any]]:
    """Start the reference server a run tests when no target URL is configured, make its superuser (over HTTP,
    as any client would) and its global read-only superuser, and return the server with the settings that point a
    HarnessConfig at it. The caller stops the server."""
    from harness.auth import create_verified_user, initialize_first_user
    from harness.reporting.redact import register_secret

    db_url = config.db_url.get_secret_value() if config.db_url else None
    data_dir = config.data_dir / (os.environ.get("PYTEST_XDIST_WORKER") or "main") if config.data_dir else None
    server = ReferenceServer(data_dir=data_dir, db_url=db_url, superuser=config.superuser_name,
                             full_access=config.superusers_full_access, features=config.server_features)
    server.start()
    try:
        password = secrets.token_urlsafe(18)
        register_secret(password)
        with httpx.Client(base_url=server.url) as http:
            token = initialize_first_user(http, config.superuser_name, password)
            readonly_password = create_verified_user(http, token, READONLY_SUPERUSER)
    except Exception:
        server.stop()
        raise
    return server, {"target_url": server.url, "token": token, "username": config.superuser_name,
                    "password": password, "readonly_username": READONLY_SUPERUSER,
                    "readonly_password": readonly_password}
