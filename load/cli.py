"""`quay-harness load`: seed a target, run a Locust profile against it in a child process, check the SLO.

Exit status: 0 all good; 1 requests failed (beyond any SLO error budget) or Locust/the target broke;
2 bad input (one line on stderr); 3 an SLO threshold was breached.

This process never imports locust (it would be monkey-patched by gevent): Locust runs as `python -m locust`
children, one master (or one local runner) and optionally N workers on 127.0.0.1.
"""

from __future__ import annotations

import csv
import importlib.util
import ipaddress
import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, NoReturn
from urllib.parse import urlsplit

import click
import httpx

from harness.errors import ConfigError, HarnessError
from load import seed as seeding
from load import slo
from load.profiles import ProfileError, Stage, effective_stages, load_profiles, parse_duration

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
DEFAULT_SLO = Path(__file__).with_name("slo.yaml")
EXIT_OK, EXIT_ERRORS, EXIT_CONFIG, EXIT_BREACH = 0, 1, 2, slo.EXIT_BREACH
# Time Locust gets beyond its stage table to seed (idempotent re-check), start workers and write reports.
GRACE_SECONDS = 120.0


def _fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    click.echo(f"quay-harness load: {message}", err=True)
    sys.exit(code)


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def locust_command(*, host: str, profile: str, stages: tuple[Stage, ...], run_dir: Path, seed: str,
                   tags: int | None, slo_file: Path | None, master: tuple[int, int] | None = None,
                   log_events: int | None = None) -> list[str]:
    """The master's (or local runner's) command line. No secret on it: the token travels in QH_TOKEN."""
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
               "--host", host, "--tags", profile, "--csv", str(run_dir / "locust"),
               "--html", str(run_dir / "locust.html"), "--qh-profile", profile, "--qh-seed", seed,
               "--qh-stages", json.dumps([s.as_dict() for s in stages]),
               "--qh-summary", str(run_dir / "load-summary.json")]
    if tags:
        command += ["--qh-tags", str(tags)]
    if log_events:
        command += ["--qh-log-events", str(log_events)]
    if slo_file is not None:
        command += ["--qh-slo", str(slo_file)]
    if master is not None:
        port, workers = master
        command += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                    "--expect-workers", str(workers)]
    return command


def worker_command(port: int) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host", "127.0.0.1",
            "--master-port", str(port)]


def map_exit(locust_code: int) -> int:
    """Locust's status to ours: 3 is set by the locustfile on a breach, 2 on a configuration problem it found."""
    if locust_code in (EXIT_OK, EXIT_BREACH, EXIT_CONFIG):
        return locust_code
    return EXIT_ERRORS


def summary_line(stats_csv: Path) -> str:
    """requests, failures, req/s and p50/p95/p99 of the whole run, from Locust's CSV."""
    if not stats_csv.exists():
        return "no statistics written"
    with stats_csv.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["Name"] == "Aggregated"]
    if not rows:
        return "no statistics written"
    r = rows[0]
    return (f"{r['Request Count']} requests, {r['Failure Count']} failed, {float(r['Requests/s']):.1f} req/s, "
            f"p50 {r['50%']} ms, p95 {r['95%']} ms, p99 {r['99%']} ms")


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_locust(command: list[str], env: dict[str, str], timeout: float, workers: int, port: int,
               run_dir: Path) -> int:
    """Start the master (or local runner) and its workers, wait at most `timeout`, stop every child."""
    master = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
    children: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
    try:
        for i in range(workers):
            # Worker output goes to files: N interleaved copies of Locust's log help nobody on the terminal.
            log_file = (run_dir / f"locust-worker-{i}.log").open("wb")
            children.append((subprocess.Popen(worker_command(port), env=env, stdin=subprocess.DEVNULL,
                                              stdout=log_file, stderr=subprocess.STDOUT), log_file))
        try:
            return master.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            click.echo(f"quay-harness load: Locust did not finish within {timeout:.0f} s; stopping it", err=True)
            _stop(master)
            return EXIT_ERRORS
    finally:
        _stop(master)
        for process, worker_log in children:
            # Workers leave on their own once the master quits; give them a moment before insisting.
            _stop(process, timeout=15.0)
            worker_log.close()


@click.command("load", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--profile", default="tag-listing", show_default=True,
              help="smoke, tag-listing, log-queries or mixed (load/profiles.yaml).")
@click.option("--target-url", default=None, help="A Quay to load; without it the reference server is started.")
@click.option("--token", default=None, help="OAuth token with every scope (or QH_TOKEN); never printed.")
@click.option("--allow-remote", is_flag=True, help="Allow a target that is not on this machine.")
@click.option("-u", "--users", type=click.IntRange(min=1), default=None,
              help="Flat load of this many users instead of the profile's stage table.")
@click.option("-r", "--spawn-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Users started per second.")
@click.option("-t", "--run-time", default=None, help="Cap on the run: 60, 60s, 5m (default: the stage table).")
@click.option("--tags", "max_tags", type=click.IntRange(1, 1_000_000), default=None,
              help="Seed repositories with 100, 1000 ... up to this many tags.")
@click.option("--log-events", type=click.IntRange(1, seeding.MAX_LOG_EVENTS), default=None,
              help="Seed an audit history of this many entries (e.g. 1000000) instead of the profile's.")
@click.option("--seed", default="1", show_default=True, help="Names the seeded data (same seed = reused).")
@click.option("--seed-only", is_flag=True, help="Seed, then stop without running Locust.")
@click.option("--seed-concurrency", type=click.IntRange(1, 256), default=seeding.DEFAULT_CONCURRENCY,
              show_default=True, help="Requests in flight while seeding.")
@click.option("-w", "--workers", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Local Locust workers under a master (0 = one local process).")
@click.option("--master-port", type=click.IntRange(0, 65535), default=0,
              help="Port the Locust master listens on (127.0.0.1; 0 = any free port).")
@click.option("--server-port", type=click.IntRange(0, 65535), default=0,
              help="Port for the reference server when no target is given (0 = any free port).")
@click.option("--slo", "slo_file", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_SLO,
              show_default="load/slo.yaml", help="SLO thresholds checked at the end.")
@click.option("--reports", "reports_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where <run-id>/ goes (default ./reports).")
@click.option("--run-id", default=None, help="Names this run's report directory.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Harness settings YAML (target_url, token ...).")
def load_command(profile: str, target_url: str | None, token: str | None, allow_remote: bool, users: int | None,
                 spawn_rate: float | None, run_time: str | None, max_tags: int | None, log_events: int | None,
                 seed: str, seed_only: bool,
                 seed_concurrency: int, workers: int, master_port: int, server_port: int, slo_file: Path,
                 reports_dir: Path | None, run_id: str | None, config_path: Path | None) -> None:
    """Run a Locust load profile against a Quay (or the reference server) and check its SLO."""
    from harness.config import load_config
    from harness.reporting.redact import register_secret

    # -- everything that can be wrong with the input fails here, before anything starts ----------------------
    try:
        cfg = load_config(config_path, target_url=target_url, token=token, reports_dir=reports_dir, run_id=run_id)
        profiles = load_profiles()
        if profile not in profiles:
            raise ProfileError(f"unknown profile {profile!r}; choose from {', '.join(profiles)}")
        stages = effective_stages(profiles[profile], users, spawn_rate,
                                  parse_duration(run_time) if run_time is not None else None)
        plan = seeding.SeedPlan.for_profile(profiles[profile], seed, max_tags, log_events)
        slo.load_slo(slo_file, profile)
    except (ConfigError, ProfileError, slo.SloError, seeding.SeedError) as exc:
        _fail(str(exc))
    if cfg.target_url is not None:
        if cfg.token is None:
            _fail("a target URL needs --token (or QH_TOKEN): an OAuth token with every scope")
        if not allow_remote and not is_loopback(cfg.target_url):
            _fail(f"{cfg.target_url} is not on this machine; pass --allow-remote to load it anyway")
    if not seed_only and importlib.util.find_spec("locust") is None:
        _fail("Locust is not installed: pip install 'quay-harness[load]' (or use tox -e load)")
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    duration = sum(s.duration for s in stages)

    server = None
    try:
        server, url, api_token = _target(cfg, server_port)
        register_secret(api_token)
        # -- seeding, here in the parent, with a progress bar; the master's test_start then finds it done ------
        from harness.auth import BearerAuth
        from harness.catalog import Catalog

        # A reference server started here is seeded in bulk, straight into its database: 10^5 tags or 10^6
        # audit entries take seconds instead of an hour of API calls.
        direct = server.direct_writer() if server is not None else None
        try:
            with httpx.Client(base_url=url, auth=BearerAuth(api_token), timeout=60.0,
                              limits=httpx.Limits(max_connections=seed_concurrency)) as http:
                catalog = Catalog.from_target(http)
                report = seeding.Seeder(http, catalog, api_token, concurrency=seed_concurrency,
                                        progress=sys.stderr.isatty(), log=lambda t: click.echo(f"seed: {t}"),
                                        direct=direct).run(plan)
        finally:
            if direct is not None:
                direct.close()
        click.echo(f"seed {seed}: {report.created} object(s) created in organization {plan.org}")
        if seed_only:
            sys.exit(EXIT_OK)
        # -- Locust -----------------------------------------------------------------------------------------
        from harness.server import free_port

        port = (master_port or free_port()) if workers else 0
        command = locust_command(host=url, profile=profile, stages=stages, run_dir=run_dir.resolve(), seed=seed,
                                 tags=max_tags, log_events=log_events, slo_file=slo_file.resolve(),
                                 master=(port, workers) if workers else None)
        env = {k: v for k, v in os.environ.items() if not k.startswith("QH_")}
        env["QH_TOKEN"] = api_token
        click.echo(f"load: profile {profile}, {len(stages)} stage(s), {duration:.0f} s, "
                   f"{workers or 'no'} worker(s), target {url}")
        code = map_exit(run_locust(command, env, duration + GRACE_SECONDS, workers, port, run_dir))
    except (HarnessError, seeding.SeedError, httpx.HTTPError) as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, EXIT_ERRORS)
    finally:
        if server is not None:
            server.stop()
    _print_summary(run_dir / "load-summary.json")
    click.echo(f"load: {summary_line(run_dir / 'locust_stats.csv')}")
    click.echo(f"reports: {run_dir} (locust.html, locust_stats.csv, load-summary.json)")
    sys.exit(code)


def _print_summary(path: Path) -> None:
    """Restate what the locustfile reported (skipped operations, why it stopped) after Locust's long output."""
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    for operation, tasks in sorted((summary.get("skipped") or {}).items()):
        click.echo(f"load: skipped {', '.join(tasks)}: the target's discovery has no {operation}")
    if summary.get("error"):
        click.echo(f"quay-harness load: {summary['error']}", err=True)


def _target(cfg: Any, server_port: int) -> tuple[Any, str, str]:
    """(None, url, token) of the given target, or (server, url, token) after starting the reference server and
    creating its first user (POST /api/v1/user/initialize with access_token); the caller stops the server."""
    if cfg.target_url is not None:
        return None, cfg.target_url, cfg.token.get_secret_value()
    from harness.auth import initialize_first_user
    from harness.reporting.redact import register_secret
    from harness.server import ReferenceServer

    server = ReferenceServer(superuser=cfg.superuser_name, port=server_port or None)
    server.start()
    try:
        password = secrets.token_urlsafe(18)
        register_secret(password)
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            token = initialize_first_user(http, cfg.superuser_name, password)
    except BaseException:
        server.stop()
        raise
    return server, server.url, token


if __name__ == "__main__":
    load_command()
