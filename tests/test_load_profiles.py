"""Profiles and stage tables (load/profiles.yaml): every run is bounded, --users/--run-time reshape the table."""

from __future__ import annotations

import pytest

from load.cli import is_loopback, map_exit
from load.profiles import (
    MAX_RUN_SECONDS,
    ProfileError,
    Stage,
    effective_stages,
    load_profiles,
    parse_duration,
    parse_stages,
    tick,
)


def test_shipped_profiles_load_and_end() -> None:
    profiles = load_profiles()
    assert {"smoke", "tag-listing", "log-queries", "mixed"} <= set(profiles)
    for profile in profiles.values():
        assert 0 < profile.duration <= MAX_RUN_SECONDS
        assert tick(profile.stages, profile.duration + 0.01) is None


def test_stage_table_is_read_top_to_bottom() -> None:
    stages = parse_stages([{"duration": "10s", "users": 5, "spawn_rate": 5}, {"duration": "1m", "users": 20}])
    assert stages == (Stage(10, 5, 5.0), Stage(60, 20, 20.0))
    assert tick(stages, 0) == (5, 5.0) and tick(stages, 10) == (20, 20.0) and tick(stages, 70) is None


def test_users_flatten_and_run_time_caps() -> None:
    profile = load_profiles()["tag-listing"]
    assert effective_stages(profile, users=7, run_time=12) == (Stage(12, 7, 7.0),)
    capped = effective_stages(profile, run_time=30)
    assert sum(s.duration for s in capped) == 30 and capped[0] == profile.stages[0]


@pytest.mark.parametrize("raw", [[], [{"users": 1}], [{"duration": 0, "users": 1}], [{"duration": 1, "users": -1}],
                                 [{"duration": 1, "users": 1, "ramp": 2}],
                                 [{"duration": MAX_RUN_SECONDS + 1, "users": 1}]])
def test_bad_stage_tables_are_refused(raw: object) -> None:
    with pytest.raises(ProfileError):
        parse_stages(raw)


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400 and parse_duration(5) == 5 and parse_duration("2.5s") == 2.5
    with pytest.raises(ProfileError):
        parse_duration("soon")


def test_loopback_and_exit_mapping() -> None:
    assert is_loopback("http://127.0.0.1:8080") and is_loopback("http://localhost") and is_loopback("http://[::1]:1")
    assert not is_loopback("https://quay.example.com")
    assert [map_exit(c) for c in (0, 1, 2, 3, -9)] == [0, 1, 2, 3, 1]
