"""Shows the fuzz run's figures in pytest's terminal summary (the fixtures live in test_schemathesis.py).
The figures come from reports/<run-id>/fuzz.yaml, which the (possibly remote, xdist) worker that ran the suite
wrote, so the controller can quote "fuzz cases run" too."""

from __future__ import annotations

import pytest
import yaml

from harness.config import load_config
from harness.errors import ConfigError
from suites.fuzz.support import REPORT_NAME, REPORT_PATH_KEY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    path = config.stash.get(REPORT_PATH_KEY, None)
    if path is None:  # the suite ran in an xdist worker: the run id comes from QH_RUN_ID, as for the worker
        try:
            path = load_config().run_dir / REPORT_NAME
        except ConfigError:
            return
    if not path.exists():
        return
    data = yaml.safe_load(path.read_text()) or {}
    terminalreporter.write_sep("-", "quay-harness fuzz")
    terminalreporter.write_line(
        f"fuzz cases run: {data.get('fuzz_cases_run', 0)} over {data.get('operations_fuzzed', 0)} operations "
        f"({data.get('max_examples_per_operation')} examples each, {data.get('seconds')} s); "
        f"known deviations applied: {len(data.get('corrections_applied') or [])}; "
        f"excluded: {', '.join(data.get('excluded_operations') or {})}; report: {path}")
