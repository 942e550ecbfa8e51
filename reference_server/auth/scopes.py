"""OAuth scopes and the role caps they impose (Quay's rule: scopes cap roles, they never grant)."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from functools import lru_cache


class Scope(StrEnum):
    REPO_READ = "repo:read"
    REPO_WRITE = "repo:write"
    REPO_ADMIN = "repo:admin"
    REPO_CREATE = "repo:create"
    USER_READ = "user:read"
    USER_ADMIN = "user:admin"
    ORG_ADMIN = "org:admin"
    SUPERUSER = "super:user"
    # Pseudo-scope of a browser session: every role, never grantable to an application.
    DIRECT_LOGIN = "direct_user_login"


GRANTABLE_SCOPES: tuple[Scope, ...] = tuple(s for s in Scope if s is not Scope.DIRECT_LOGIN)

# Text shown for each scope in discovery and on the consent page; our own words.
SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.REPO_READ: "Read and pull every repository the granting user can see.",
    Scope.REPO_WRITE: "Read, push and pull every repository the granting user may write to.",
    Scope.REPO_ADMIN: "Administer every repository the granting user administers.",
    Scope.REPO_CREATE: "Create repositories wherever the granting user may create them.",
    Scope.USER_READ: "Read the granting user's account details, such as name and e-mail.",
    Scope.USER_ADMIN: "Administer the granting user's account, robots and their permissions.",
    Scope.ORG_ADMIN: "Administer the granting user's organizations: teams, robots, members, applications.",
    Scope.SUPERUSER: "Use the registry's superuser panel with the granting user's superuser rights.",
}


class RepoRole(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2
    ADMIN = 3


class TeamRole(IntEnum):
    NONE = 0
    MEMBER = 1
    CREATOR = 2
    ADMIN = 3


class UserRole(IntEnum):
    NONE = 0
    READ = 1
    ADMIN = 2


REPO_ROLE_NAMES = {RepoRole.READ: "read", RepoRole.WRITE: "write", RepoRole.ADMIN: "admin"}
TEAM_ROLE_NAMES = {TeamRole.MEMBER: "member", TeamRole.CREATOR: "creator", TeamRole.ADMIN: "admin"}

# The single table of caps: the highest role each scope lets a token's holder exercise.
_REPO_CAP = {Scope.REPO_READ: RepoRole.READ, Scope.REPO_WRITE: RepoRole.WRITE,
             Scope.REPO_ADMIN: RepoRole.ADMIN, Scope.DIRECT_LOGIN: RepoRole.ADMIN}
_TEAM_CAP = {Scope.REPO_CREATE: TeamRole.CREATOR, Scope.ORG_ADMIN: TeamRole.ADMIN,
             Scope.DIRECT_LOGIN: TeamRole.ADMIN}
_USER_CAP = {Scope.USER_READ: UserRole.READ, Scope.USER_ADMIN: UserRole.ADMIN,
             Scope.DIRECT_LOGIN: UserRole.ADMIN}


@lru_cache(maxsize=1024)
def repo_cap(scopes: frozenset[Scope]) -> RepoRole:
    return max((_REPO_CAP.get(s, RepoRole.NONE) for s in scopes), default=RepoRole.NONE)


@lru_cache(maxsize=1024)
def team_cap(scopes: frozenset[Scope]) -> TeamRole:
    return max((_TEAM_CAP.get(s, TeamRole.NONE) for s in scopes), default=TeamRole.NONE)


@lru_cache(maxsize=1024)
def user_cap(scopes: frozenset[Scope]) -> UserRole:
    return max((_USER_CAP.get(s, UserRole.NONE) for s in scopes), default=UserRole.NONE)


def superuser_scope(scopes: frozenset[Scope]) -> bool:
    return Scope.SUPERUSER in scopes or Scope.DIRECT_LOGIN in scopes


@lru_cache(maxsize=1024)
def parse_scopes(text: str) -> frozenset[Scope] | None:
    """Parse a space- or comma-separated scope string; one unknown name invalidates the whole set."""
    names = [n for n in text.replace(",", " ").split() if n]
    try:
        found = frozenset(Scope(n) for n in names)
    except ValueError:
        return None
    if Scope.DIRECT_LOGIN in found:
        return None
    return found


def scope_string(scopes: frozenset[Scope]) -> str:
    return " ".join(sorted(s.value for s in scopes))
