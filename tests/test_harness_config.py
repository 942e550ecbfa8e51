"""Settings precedence (env > YAML > defaults, explicit overrides above all) and secret redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_config
from harness.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("QH_") and key != "QH_TEST_PG_URL":
            monkeypatch.delenv(key)


def test_defaults_without_file_or_env() -> None:
    cfg = load_config()
    assert cfg.target_url is None
    assert cfg.hypothesis_profile == "dev"
    assert cfg.suites == ["conformance", "security", "property", "fuzz"]


def test_env_beats_yaml_and_yaml_beats_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "qh.yaml"
    path.write_text("target_url: https://file.example.com\nfuzz_max_examples: 7\nhypothesis-profile: ci\n")
    monkeypatch.setenv("QH_TARGET_URL", "https://env.example.com/")
    cfg = load_config(path)
    assert cfg.target_url == "https://env.example.com"
    assert cfg.fuzz_max_examples == 7
    assert cfg.hypothesis_profile == "ci"
    assert load_config(path, target_url="https://cli.example.com").target_url == "https://cli.example.com"


def test_lists_come_from_env_as_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QH_SUITES", "conformance, fuzz")
    monkeypatch.setenv("QH_DISABLED_AREAS", "quota,mirror")
    cfg = load_config()
    assert cfg.suites == ["conformance", "fuzz"]
    assert cfg.disabled_areas == ["quota", "mirror"]


def test_secrets_never_show_in_printed_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QH_PASSWORD", "hunter2-secret-pw")
    cfg = load_config(username="admin", token="tok-very-secret-123", db_url="postgresql://u:dbpass99@h/db")
    for text in (repr(cfg), str(cfg), str(cfg.describe())):
        for secret in ("hunter2-secret-pw", "tok-very-secret-123", "dbpass99"):
            assert secret not in text
    assert cfg.to_env()["QH_TOKEN"] == "tok-very-secret-123"  # children still get the real value


@pytest.mark.parametrize(("overrides", "needle"), [
    ({"suites": "conformance,nope"}, "suites"),
    ({"run_id": "Bad_ID"}, "run_id"),
    ({"target_url": "ftp://x"}, "target_url"),
    ({"username": "admin"}, "password go together"),
    ({"workers": "many"}, "workers"),
])
def test_bad_settings_are_one_line_errors(overrides: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(**overrides)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_yaml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("target_url: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("no_such_setting: 1\n")
    with pytest.raises(ConfigError, match="no_such_setting"):
        load_config(unknown)


def test_cli_exits_2_with_one_line_on_bad_config(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from harness.cli import main

    result = CliRunner().invoke(main, ["run", "--run-id", "NOT OK", "--reports", str(tmp_path)])
    assert result.exit_code == 2
    assert "run_id" in result.output and len(result.output.strip().splitlines()) == 1


def test_worker_prefixes_are_valid_quay_names() -> None:
    import re

    cfg = load_config(run_id="abc123")
    name = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
    for worker in (None, "gw0", "gw12"):
        assert name.match(cfg.worker_prefix(worker) + "user1")
    assert cfg.worker_prefix("gw1") != cfg.worker_prefix("gw11")
