"""Load profiles as data (load/profiles.yaml): what each profile seeds and its stage table.

Never imports locust: the `quay-harness load` parent process reads profiles too, and importing locust would
monkey-patch that process with gevent."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROFILES_FILE = Path(__file__).with_name("profiles.yaml")
# A load test is always bounded: no stage table (and no --run-time) may ask for more than this.
MAX_RUN_SECONDS = 6 * 3600
_DURATION = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*$")


class ProfileError(ValueError):
    """A profile or stage table cannot be used; the message is one line."""


def parse_duration(value: Any) -> float:
    """Seconds from 90, "90", "90s", "2m", "1h30m" (Locust's --run-time spelling)."""
    if isinstance(value, bool):
        raise ProfileError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match or not any(match.groups()):
            raise ProfileError(f"not a duration: {value!r} (use e.g. 30s, 2m, 1h30m)")
        hours, minutes, secs = match.groups()
        seconds = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)
    if seconds <= 0:
        raise ProfileError(f"a duration must be positive, got {value!r}")
    return seconds


@dataclass(frozen=True)
class Stage:
    duration: float  # seconds this stage lasts (not cumulative: tables read top to bottom)
    users: int
    spawn_rate: float

    def as_dict(self) -> dict[str, float | int]:
        return {"duration": self.duration, "users": self.users, "spawn_rate": self.spawn_rate}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    stages: tuple[Stage, ...]
    wait: tuple[float, float]  # seconds between a user's tasks (uniform in the range)
    seed: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.stages)


def parse_stages(raw: Any, where: str = "stages") -> tuple[Stage, ...]:
    if not isinstance(raw, list) or not raw:
        raise ProfileError(f"{where} must be a non-empty list of {{duration, users, spawn_rate}}")
    stages = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not {"duration", "users"} <= set(item):
            raise ProfileError(f"{where}[{i}] needs duration and users")
        unknown = set(item) - {"duration", "users", "spawn_rate"}
        if unknown:
            raise ProfileError(f"{where}[{i}] has unknown key(s) {', '.join(sorted(unknown))}")
        users = item["users"]
        rate = item.get("spawn_rate", users or 1)
        if not isinstance(users, int) or isinstance(users, bool) or users < 0:
            raise ProfileError(f"{where}[{i}].users must be a whole number >= 0")
        if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
            raise ProfileError(f"{where}[{i}].spawn_rate must be a positive number")
        stages.append(Stage(parse_duration(item["duration"]), users, float(rate)))
    total = sum(s.duration for s in stages)
    if total > MAX_RUN_SECONDS:
        raise ProfileError(f"{where} lasts {total:.0f} s; the limit is {MAX_RUN_SECONDS} s")
    return tuple(stages)


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise ProfileError(f"{path} is not valid YAML") from None
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
        raise ProfileError(f"{path} must hold a 'profiles' mapping")
    out = {}
    for name, raw in data["profiles"].items():
        if not isinstance(raw, dict):
            raise ProfileError(f"profile {name!r} must be a mapping")
        wait = raw.get("wait", [0.0, 0.0])
        if (not isinstance(wait, list) or len(wait) != 2
                or not all(isinstance(w, int | float) and w >= 0 for w in wait) or wait[0] > wait[1]):
            raise ProfileError(f"profile {name!r}: wait must be [min, max] seconds")
        seed = raw.get("seed") or {}
        if not isinstance(seed, dict):
            raise ProfileError(f"profile {name!r}: seed must be a mapping")
        out[str(name)] = Profile(str(name), str(raw.get("description", "")),
                                 parse_stages(raw.get("stages"), f"profile {name!r} stages"),
                                 (float(wait[0]), float(wait[1])), dict(seed))
    return out


def effective_stages(profile: Profile, users: int | None = None, spawn_rate: float | None = None,
                     run_time: float | None = None) -> tuple[Stage, ...]:
    """The stage table a run uses. --users replaces the table with one flat stage; --run-time caps the total
    (cutting the table short), so every run ends on its own."""
    stages = profile.stages
    if users is not None:
        duration = run_time if run_time is not None else profile.duration
        stages = (Stage(duration, users, float(spawn_rate if spawn_rate is not None else max(users, 1))),)
    elif spawn_rate is not None:
        stages = tuple(Stage(s.duration, s.users, float(spawn_rate)) for s in stages)
    if run_time is not None:
        capped, left = [], run_time
        for stage in stages:
            if left <= 0:
                break
            capped.append(Stage(min(stage.duration, left), stage.users, stage.spawn_rate))
            left -= stage.duration
        stages = tuple(capped)
    return stages


def tick(stages: tuple[Stage, ...], elapsed: float) -> tuple[int, float] | None:
    """(users, spawn_rate) at `elapsed` seconds into the run, or None once the table is over (ends the run)."""
    start = 0.0
    for stage in stages:
        start += stage.duration
        if elapsed < start:
            return stage.users, stage.spawn_rate
    return None


def tag_counts(profile: Profile, max_tags: int | None) -> list[int]:
    """Tags per seeded repository: powers of ten from 10^2 up to --tags (and --tags itself), or the profile's
    own list when --tags is not given."""
    if max_tags is None:
        counts = profile.seed.get("tags", [])
        if not isinstance(counts, list) or not all(isinstance(c, int) and c > 0 for c in counts):
            raise ProfileError(f"profile {profile.name!r}: seed.tags must be a list of positive numbers")
        return sorted(set(counts))
    if max_tags < 1 or max_tags > 1_000_000:
        raise ProfileError("--tags must be between 1 and 1000000")
    counts = [10 ** k for k in range(2, 6) if 10 ** k <= max_tags]
    return sorted({*counts, max_tags})
