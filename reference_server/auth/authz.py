"""Authorization as pure functions: effective role = min(granted role, cap from the token's scopes)."""

from __future__ import annotations

from dataclasses import dataclass

from reference_server.auth.identity import Identity
from reference_server.auth.scopes import (
    RepoRole,
    TeamRole,
    UserRole,
    repo_cap,
    superuser_scope,
    team_cap,
    user_cap,
)


@dataclass(frozen=True)
class Grants:
    """What storage says a user was granted in one namespace (and optionally one repository)."""

    own_namespace: bool = False
    team_role: TeamRole = TeamRole.NONE  # highest role over the user's teams in that org
    repo_role: RepoRole = RepoRole.NONE  # highest direct or team permission on the repository


@dataclass(frozen=True)
class Privilege:
    """The registry-wide standing of a user, from configuration."""

    superuser: bool = False
    global_readonly: bool = False
    full_access_enabled: bool = False


def effective_team_role(identity: Identity, grants: Grants) -> TeamRole:
    if identity.user is None:
        return TeamRole.NONE
    granted = TeamRole.ADMIN if grants.own_namespace else grants.team_role
    return min(granted, team_cap(identity.scopes))


def effective_repo_role(identity: Identity, grants: Grants) -> RepoRole:
    if identity.user is None:
        return RepoRole.NONE
    granted = grants.repo_role
    # Owning the namespace, or sitting in an org team with the admin role, administers every repo in it.
    if grants.own_namespace or grants.team_role == TeamRole.ADMIN:
        granted = RepoRole.ADMIN
    return min(granted, repo_cap(identity.scopes))


def effective_user_role(identity: Identity) -> UserRole:
    if identity.user is None:
        return UserRole.NONE
    return user_cap(identity.scopes)


def is_superuser(identity: Identity, privilege: Privilege) -> bool:
    """A superuser acting as one: the token must carry super:user (a session always does)."""
    return (
        identity.user is not None
        and privilege.superuser
        and not privilege.global_readonly
        and superuser_scope(identity.scopes)
    )


def is_global_readonly(identity: Identity, privilege: Privilege) -> bool:
    return identity.user is not None and privilege.global_readonly


def has_full_access(identity: Identity, privilege: Privilege) -> bool:
    """Superusers pass every namespace and repository check only when full access is switched on."""
    return privilege.full_access_enabled and is_superuser(identity, privilege)
