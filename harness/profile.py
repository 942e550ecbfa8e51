"""What the target is, read from the target itself: its version, the features it offers, the superuser the run acts
as and how team membership works there. Expectations that differ between Quay versions or configurations choose by
this profile; it is printed when a run starts and kept in results.yaml.

Sources, most trusted first: Quay's `GET /config` (its `features` switches and `version_number`), the discovery
document (which operations exist), and the user view of the configured credentials (`GET /api/v1/user/`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml

from harness.catalog import Catalog

PROFILE_FILE = "profile.yaml"  # beside results.yaml in reports/<run-id>/
CONFIG_PATH = "/config"
USER_PATH = "/api/v1/user/"
Version = tuple[int, int, int]

# Operations that first shipped in a Quay release and that no feature switch hides. A target whose discovery offers
# one is at least that release, whatever version it reports: a build from Quay's development branch reports the last
# version named in its changelog (v3.11.0 for the whole of 2026), not the release its code has passed.
FIRST_SHIPPED_IN: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("3.18.0", ("listOrganizationApplicationTokens", "createOrganizationApplicationToken")),
    ("3.17.0", ("getRegistryCapabilities",)),
)
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")
# Behaviour that changed in a Quay release: an expectation asks `profile.has(change)` and says which release the
# behaviour it checks belongs to.
BEHAVIOUR_SINCE: dict[str, str] = {
    # changeOrganizationDetails accepts an e-mail another account already uses (before: 400 "already used").
    "org_email_shared": "3.18.0",
    # createOrganization needs no e-mail, even with MAILING on (before: 400 "Email address is required").
    "org_email_optional": "3.18.0",
    # A quota limit is hit once usage reaches it (check_limits compares with >=; before: only above it, >).
    "quota_limit_inclusive": "3.18.0",
}


def parse_version(text: str | None) -> Version | None:
    """(3, 18, 0) from "Quay v3.18.0", "v3.18.0-nightly-20260801" or "3.18"; None when there is no version."""
    found = _VERSION.search(text or "")
    if not found:
        return None
    return int(found.group(1)), int(found.group(2)), int(found.group(3) or 0)


def version_text(version: Version) -> str:
    return ".".join(str(part) for part in version)


@dataclass(frozen=True)
class TargetProfile:
    """The facts expectations choose by. `features` holds the target's FEATURE_* switches as /config reports them
    (empty when it does not: then the discovery document stands in, see `feature`)."""

    version: str | None  # the Quay release whose behaviour to expect, e.g. "3.18.0"; None: unknown
    version_basis: str  # where `version` comes from, in words
    reported_version: str | None  # what the target says of itself (/config version_number)
    features: dict[str, bool]
    superuser: str  # who the configured credentials belong to
    superuser_confirmed: bool  # the target says this user is a superuser
    full_access: bool  # FEATURE_SUPERUSERS_FULL_ACCESS
    readonly_superuser: str | None  # a global read-only superuser the run may act as (None: none configured)
    team_membership: Literal["invite", "direct"]  # adding a user in no team of the org: an invite, or a member
    mailing: bool
    operations: int  # operations in the target's discovery (internal ones included)
    notes: list[str] = field(default_factory=list)

    def at_least(self, version: str) -> bool:
        """Is the target at least this Quay release? Unknown versions count as the newest (the behaviour of Quay's
        current code, which the reference server follows)."""
        mine = parse_version(self.version)
        wanted = parse_version(version)
        if wanted is None:
            raise ValueError(f"not a version: {version!r}")
        return mine is None or mine >= wanted

    def has(self, change: str) -> bool:
        """Does the target behave as Quay does since the release that made `change` (a BEHAVIOUR_SINCE key)?"""
        return self.at_least(BEHAVIOUR_SINCE[change])

    def feature(self, name: str, default: bool = False) -> bool:
        return self.features.get(name, default)

    @property
    def team_invites(self) -> bool:
        return self.team_membership == "invite"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = dict(sorted(self.features.items()))
        return data

    def summary_lines(self) -> list[str]:
        on = sorted(name for name, value in self.features.items() if value)
        lines = [
            f"Quay version  {self.version or 'unknown'} ({self.version_basis})",
            f"superuser     {self.superuser}" + ("" if self.superuser_confirmed else " (NOT confirmed as a superuser)")
            + (", full access" if self.full_access else ", no full access"),
            f"read-only su  {self.readonly_superuser or 'none configured'}",
            f"team members  {'invited (mail and REQUIRE_TEAM_INVITE on)' if self.team_invites else 'added directly'}",
            f"operations    {self.operations} in discovery; features on: {', '.join(on) if on else 'unknown'}",
        ]
        return lines + [f"note          {note}" for note in self.notes]


def read_config(http: httpx.Client) -> dict[str, Any] | None:
    """Quay's public `GET /config` (features, version_number), or None when the target has none."""
    try:
        response = http.get(CONFIG_PATH)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def infer_version(reported: str | None, catalog: Catalog) -> tuple[str | None, str]:
    """The release to expect and why: the reported version, raised to the newest release whose first-shipped
    operations the discovery document offers."""
    said = parse_version(reported)
    floor: Version | None = None
    evidence = ""
    for release, operations in FIRST_SHIPPED_IN:
        offered = [op for op in operations if op in catalog]
        if offered:
            floor, evidence = parse_version(release), offered[0]
            break
    if said is None and floor is None:
        return None, "the target reports no version and its discovery shows no later release"
    if floor is not None and (said is None or said < floor):
        why = f"at least {version_text(floor)}: its discovery offers {evidence}"
        return version_text(floor), why + (f" (it reports {reported!r})" if reported else " (it reports none)")
    assert said is not None
    return version_text(said), f"reported by GET {CONFIG_PATH}"


def build_profile(catalog: Catalog, config: Mapping[str, Any] | None, user_view: Mapping[str, Any],
                  *, full_access_setting: bool, readonly_superuser: str | None) -> TargetProfile:
    notes: list[str] = []
    raw_features = config.get("features") if config else None
    features = {str(k): bool(v) for k, v in raw_features.items()} if isinstance(raw_features, dict) else {}
    reported = str(config["version_number"]) if config and config.get("version_number") else None
    version, basis = infer_version(reported, catalog)
    if features:
        mailing = features.get("MAILING", False)
        invites = mailing and features.get("REQUIRE_TEAM_INVITE", True)
        full_access = features.get("SUPERUSERS_FULL_ACCESS", full_access_setting)
        if "SUPERUSERS_FULL_ACCESS" in features and full_access != full_access_setting and full_access_setting:
            notes.append("QH_SUPERUSERS_FULL_ACCESS is set but the target reports full access off; the target wins")
    else:
        # No /config: Quay shows its mail-only routes exactly when MAILING is on, and requires invites by default.
        mailing = invites = "inviteTeamMemberEmail" in catalog
        full_access = full_access_setting
        notes.append(f"the target has no GET {CONFIG_PATH}: features are inferred from its discovery document")
    return TargetProfile(
        version=version, version_basis=basis, reported_version=reported, features=features,
        superuser=str(user_view.get("username", "")), superuser_confirmed=user_view.get("super_user") is True,
        full_access=full_access, readonly_superuser=readonly_superuser,
        team_membership="invite" if invites else "direct", mailing=mailing, operations=len(catalog), notes=notes)


def save_profile(profile: TargetProfile, run_dir: Path) -> Path:
    """Write profile.yaml once per run (every process of a run reads the same target; the first one writes)."""
    path = run_dir / PROFILE_FILE
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{PROFILE_FILE}.{os.getpid()}")
        partial.write_text(yaml.safe_dump(profile.to_dict(), sort_keys=False, width=120), encoding="utf-8")
        partial.replace(path)
    return path


def load_profile(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / PROFILE_FILE
    if not path.exists():
        return None
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else None
