"""The `quay-harness` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from harness.errors import ConfigError, HarnessError


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


def _fail(command: str, message: str) -> NoReturn:
    click.echo(f"quay-harness {command}: {message}", err=True)
    sys.exit(2)


def _exit_code(pytest_rc: int, data: dict[str, Any] | None) -> int:
    """0: everything passed (or was skipped/disabled); 1: the target failed something; 2: configuration or
    harness error, including any ERROR outcome and pytest's own usage/internal errors or an empty run."""
    if data is None or pytest_rc not in (0, 1):
        return 2
    totals = data.get("totals", {})
    if totals.get("error", 0):
        return 2
    if totals.get("failed", 0) or pytest_rc == 1:
        return 1
    return 0


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--target-url", default=None, help="A Quay to test; without it the reference server is started.")
@click.option("--token", default=None, help="Superuser OAuth token with every scope (or QH_TOKEN).")
@click.option("--username", default=None, help="Superuser name, with --password instead of a token.")
@click.option("--password", default=None, help="Superuser password (or QH_PASSWORD).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Harness settings YAML; QH_* variables override it, options override both.")
@click.option("--db", "db_url", default=None, help="Reference server database: postgresql://... (default SQLite).")
@click.option("--suites", default=None, help="Comma-separated: conformance,security,property,fuzz.")
@click.option("-n", "--workers", default=None, help="pytest-xdist workers: a number or 'auto' (0 = in process).")
@click.option("--reports", "reports_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where reports/<run-id>/ goes (default ./reports).")
@click.option("--run-id", default=None, help="Names this run (lowercase letters and digits).")
@click.option("--full-access/--no-full-access", "full_access", default=None,
              help="Reference server variant: FEATURE_SUPERUSERS_FULL_ACCESS.")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def run(target_url: str | None, token: str | None, username: str | None, password: str | None,
        config_path: Path | None, db_url: str | None, suites: str | None, workers: str | None,
        reports_dir: Path | None, run_id: str | None, full_access: bool | None,
        pytest_args: tuple[str, ...]) -> None:
    """Run the suites against a target and write reports/<run-id>/. Extra arguments go to pytest; test paths or
    node ids among them (suites/conformance/test_team.py, ...::test_name) narrow the run to those tests."""
    from harness.config import load_config

    try:
        cfg = load_config(config_path, target_url=target_url, token=token, username=username, password=password,
                          db_url=db_url, suites=suites, workers=workers, reports_dir=reports_dir, run_id=run_id,
                          superusers_full_access=full_access)
    except ConfigError as exc:
        _fail("run", str(exc))
    if cfg.target_url and cfg.token is None and cfg.username is None:
        _fail("run", "a target URL needs superuser credentials: --token, or --username and --password")
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    server = None
    inventory_failed = False
    try:
        if cfg.target_url is None:
            from harness.server import start_for_run

            server, settings_ = start_for_run(cfg)
            cfg = load_config(config_path, **{**_overrides(cfg), **settings_})
        target = _connect(cfg)
        try:
            _banner(cfg, target)
            if not target.profile.superuser_confirmed:
                raise HarnessError(f"the credentials belong to {target.profile.superuser}, whom the target does not "
                                   "show as a superuser (GET /api/v1/user/ has no super_user: true); the suites "
                                   "create users and read every namespace's logs, so they need a superuser")
            before = _inventory(cfg, target, "before") if cfg.inventory_check else None
            rc = _run_pytest(cfg, list(pytest_args))
            _cleanup_leftovers(cfg, target)
            if before is not None:
                inventory_failed = not _check_inventory(cfg, target, before)
        finally:
            target.close()
    except (HarnessError, OSError) as exc:
        _fail("run", str(exc))
    finally:
        if server is not None:
            server.stop()
    data = _read(run_dir / "results.yaml")
    if data is not None:
        from harness.reporting.results import print_summary

        print_summary(data)
        click.echo(f"reports: {run_dir}")
    else:
        click.echo(f"quay-harness run: pytest wrote no results (exit status {rc})", err=True)
    sys.exit(2 if inventory_failed else _exit_code(rc, data))


def _overrides(cfg: Any) -> dict[str, Any]:
    # Keep what the first load resolved (run id above all) when loading again with the server's address.
    return {"run_id": cfg.run_id, "reports_dir": cfg.reports_dir, "suites": cfg.suites, "workers": cfg.workers,
            "superusers_full_access": cfg.superusers_full_access}


def _connect(cfg: Any) -> Any:
    from harness.world import Target

    return Target.connect(cfg)


def _banner(cfg: Any, target: Any) -> None:
    """What this run is about to test, before anything is created on the target."""
    from harness.profile import save_profile

    save_profile(target.profile, cfg.run_dir)
    click.echo(f"quay-harness run {cfg.run_id} against {cfg.target_url} (names start with {target.run_prefix})")
    for line in target.profile.summary_lines():
        click.echo(f"  {line}")
    click.echo(f"  reports       {cfg.run_dir}")


def _inventory(cfg: Any, target: Any, when: str) -> Any:
    from harness.inventory import take_inventory

    inventory = take_inventory(*target.inventory_clients())
    inventory.save(cfg.run_dir / f"inventory-{when}.json")
    counts = ", ".join(f"{n} {kind}" for kind, n in inventory.counts().items())
    click.echo(f"  inventory {when}: {counts}" + (f" ({len(inventory.unseen)} lists not visible to the superuser)"
                                                   if inventory.unseen else ""))
    return inventory


def _check_inventory(cfg: Any, target: Any, before: Any) -> bool:
    """Compare the inventory now with the one taken before the run; print and keep the difference. True: clean."""
    from harness.inventory import compare
    from harness.reporting.results import read_results, write_results

    after = _inventory(cfg, target, "after")
    diff = compare(before, after, target.owns)
    results = cfg.run_dir / "results.yaml"
    if results.exists():
        data = read_results(results)
        data["inventory"] = diff.to_json()
        write_results(data, results)
    if diff.clean:
        click.echo("  inventory: nothing outside the run's prefix changed, and nothing of the run is left")
        return True
    click.echo(f"quay-harness: the target's inventory changed ({len(diff.lines())} differences):", err=True)
    for line in diff.lines():
        click.echo(f"  {line}", err=True)
    return False


def _selection(suites_dir: Path, selected: list[str], extra: list[str]) -> tuple[list[str], list[str]]:
    """(what pytest collects, the remaining arguments): the test paths or node ids among `extra` (relative to the
    current directory or to the suites package) when there are any, else the selected suite directories."""
    chosen: list[str] = []
    rest: list[str] = []
    bases = (Path.cwd(), suites_dir, suites_dir.parent)
    for arg in extra:
        path = arg.split("::", 1)[0]
        if arg.startswith("-") or (not path.endswith(".py") and not any((b / path).is_dir() for b in bases)):
            rest.append(arg)
            continue
        found = next((b / path for b in bases if (b / path).exists()), None)
        if found is None:
            raise HarnessError(f"no such test file or directory: {path}")
        chosen.append(str(found) + arg[len(path):])
    if chosen:
        return chosen, rest
    paths = [str(suites_dir / name) for name in selected if (suites_dir / name).is_dir()]
    if not paths:
        raise HarnessError("no suite directories found for " + ",".join(selected))
    return paths, rest


def _run_pytest(cfg: Any, extra: list[str]) -> int:
    import os
    import subprocess

    import suites

    suites_dir = Path(suites.__file__).parent
    paths, rest = _selection(suites_dir, cfg.suites, extra)
    run_dir = cfg.run_dir.resolve()
    command = [sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider", "-n", cfg.workers,
               f"--junitxml={run_dir / 'junit.xml'}", f"--alluredir={run_dir / 'allure-results'}",
               f"--qh-results={run_dir / 'results.yaml'}", "-q", *rest]
    # Workers learn the target (and the secrets) from QH_* variables, never from the command line.
    # Nor from a pytest-xdist worker we may be running inside (our own end-to-end test): the child is a run of
    # its own, not a worker of ours.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QH_", "PYTEST_XDIST_", "PYTEST_CURRENT"))}
    env.update(cfg.to_env())
    env["QH_REPORTS_DIR"] = str(cfg.reports_dir.resolve())
    return subprocess.run(command, env=env, check=False).returncode


def _read(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    from harness.reporting.results import read_results

    return read_results(path)


def _cleanup_leftovers(cfg: Any, target: Any) -> int:
    """Replay the run's journals: anything a crashed worker left behind is removed while the target is up."""
    from harness.journal import pending_entries
    from harness.world import replay_journal

    journals = sorted(cfg.run_dir.glob("journal-*.jsonl"))
    if not any(pending_entries(p) for p in journals):
        return 0
    failures = [f for p in journals for f in replay_journal(target, p)]
    for failure in failures:
        click.echo(f"quay-harness: cleanup left behind {failure}", err=True)
    return len(failures)


@main.command()
@click.option("--run-id", required=True, help="The run whose journal to replay.")
@click.option("--target-url", default=None)
@click.option("--token", default=None)
@click.option("--username", default=None)
@click.option("--password", default=None)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--reports", "reports_dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def cleanup(run_id: str, target_url: str | None, token: str | None, username: str | None, password: str | None,
            config_path: Path | None, reports_dir: Path | None) -> None:
    """Delete what a run created (its journal, newest first), after a crash or Ctrl-C, then check the target's
    inventory against the one taken before the run: exit 0 when nothing of the run is left and nothing outside its
    prefix changed, 2 otherwise."""
    from harness.config import load_config
    from harness.inventory import Inventory

    try:
        cfg = load_config(config_path, run_id=run_id, target_url=target_url, token=token, username=username,
                          password=password, reports_dir=reports_dir)
    except ConfigError as exc:
        _fail("cleanup", str(exc))
    if not cfg.run_dir.is_dir():
        _fail("cleanup", f"no reports for run {run_id} under {cfg.reports_dir}")
    if cfg.target_url is None:
        _fail("cleanup", "needs --target-url (the reference server of a finished run is gone already)")
    try:
        target = _connect(cfg)
        try:
            left = _cleanup_leftovers(cfg, target)
            saved = cfg.run_dir / "inventory-before.json"
            if saved.exists():
                clean = _check_inventory(cfg, target, Inventory.load(saved))
            else:
                click.echo(f"quay-harness cleanup: {saved} is missing, so only the journal was checked", err=True)
                clean = left == 0
        finally:
            target.close()
    except HarnessError as exc:
        _fail("cleanup", str(exc))
    sys.exit(0 if clean else 2)


def _register_load_command() -> None:
    # `quay-harness load` lives in the load package; importing it does not import locust (Locust runs in
    # child processes, because gevent patches the process it is imported into).
    from load.cli import load_command

    main.add_command(load_command, name="load")


_register_load_command()

if __name__ == "__main__":
    main()
