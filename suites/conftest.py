"""The suites' fixtures come from the quay-harness pytest plugin (harness/pytest_plugin.py), which pip registers
through the `pytest11` entry point. When plugin autoloading is off (PYTEST_DISABLE_PLUGIN_AUTOLOAD) it is
loaded here instead; fixtures and hooks stay in the plugin module (conftest stays small)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("quay_harness"):
        config.pluginmanager.import_plugin("harness.pytest_plugin")
