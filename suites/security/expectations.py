"""Expected answers of the role and scope matrices, derived from RULES and Quay's scope caps.

The cap table here is written independently of the reference server (quay-api.md section B)."""

from __future__ import annotations

from dataclasses import dataclass

from suites.security.rules import REPO_ROLES, TEAM_ROLES, USER_ROLES, Kind, Rule, at_least

ALLOWED = 0  # anything but 401/403 (the operation then answers on its merits: 2xx, 400, 404...)

SCOPES = ("repo:read", "repo:write", "repo:admin", "repo:create", "user:read", "user:admin", "org:admin",
          "super:user")
_REPO_CAP = {"repo:read": "read", "repo:write": "write", "repo:admin": "admin"}
_TEAM_CAP = {"repo:create": "creator", "org:admin": "admin"}
_USER_CAP = {"user:read": "read", "user:admin": "admin"}


@dataclass(frozen=True)
class Standing:
    """What a persona holds in the matrix's organization and repository."""

    name: str
    anonymous: bool = False
    repo_role: str = ""
    team_role: str = ""
    in_team: bool = False  # member of the matrix's team
    superuser: bool = False
    global_readonly: bool = False


PERSONAS: tuple[Standing, ...] = (
    Standing("anonymous", anonymous=True),
    Standing("outsider"),
    Standing("org_member", team_role="member", in_team=True),
    Standing("team_creator", team_role="creator"),
    Standing("repo_reader", repo_role="read"),
    Standing("repo_writer", repo_role="write"),
    Standing("global_readonly", global_readonly=True),
    Standing("repo_admin", repo_role="admin"),
    Standing("org_admin", team_role="admin", repo_role="admin"),
    Standing("superuser", superuser=True),
)


def expected_status(rule: Rule, who: Standing, method: str, full_access: bool) -> int:
    """401, 403 or ALLOWED for a persona holding every scope."""
    if who.anonymous:
        if method not in ("GET", "HEAD") and not rule.csrf_exempt:
            return 403  # no token and no CSRF token: refused before anything else
        return ALLOWED if rule.kind is Kind.ANYONE else 401
    if rule.kind in (Kind.ANYONE, Kind.USER):
        return ALLOWED
    if who.global_readonly and rule.gro:
        return ALLOWED
    fa = full_access and who.superuser
    if rule.kind is Kind.SUPERUSER:
        if who.superuser and (fa or not rule.full_access_only):
            return ALLOWED
        return 403
    if rule.kind is Kind.SPECIAL:
        return 403
    if fa and rule.full_access:
        return ALLOWED
    if rule.kind is Kind.REPO:
        return ALLOWED if at_least(REPO_ROLES, who.repo_role, rule.role) else 403
    if rule.kind in (Kind.ORG, Kind.CREATE_REPO):
        return ALLOWED if at_least(TEAM_ROLES, who.team_role, rule.role) else 403
    if rule.kind is Kind.TEAM_VIEW:
        return ALLOWED if who.in_team or who.team_role == "admin" else 403
    raise AssertionError(rule)


def scope_allows(rule: Rule, scope: str | None, full_access: bool) -> bool:
    """May a superuser who administers the org and repo act with a token holding only `scope`?"""
    scopes = {scope} if scope else set()
    repo = max((_REPO_CAP[s] for s in scopes if s in _REPO_CAP), key=REPO_ROLES.index, default="")
    team = max((_TEAM_CAP[s] for s in scopes if s in _TEAM_CAP), key=TEAM_ROLES.index, default="")
    user = max((_USER_CAP[s] for s in scopes if s in _USER_CAP), key=USER_ROLES.index, default="")
    superuser = "super:user" in scopes
    if rule.needs_user_admin and user != "admin":
        return False
    if rule.kind is Kind.ANYONE:
        return True
    if rule.kind is Kind.USER:
        return at_least(USER_ROLES, user, rule.role)
    if rule.kind is Kind.SUPERUSER:
        return superuser and (full_access or not rule.full_access_only)
    if rule.kind is Kind.SPECIAL:
        return False
    if full_access and superuser and rule.full_access:
        return True
    if rule.kind is Kind.REPO:
        return at_least(REPO_ROLES, repo, rule.role)
    if rule.kind in (Kind.ORG, Kind.CREATE_REPO, Kind.TEAM_VIEW):
        return at_least(TEAM_ROLES, team, rule.role or "admin")
    raise AssertionError(rule)
