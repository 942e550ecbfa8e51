"""The scope-cap rule, checked against an independent model over every scope set and grant."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given
from hypothesis import strategies as st

from reference_server.auth import authz
from reference_server.auth.identity import AuthKind, Identity
from reference_server.auth.scopes import RepoRole, Scope, TeamRole, UserRole, parse_scopes
from reference_server.domain.models import User

USER = User(id=1, username="someone", email=None, uuid="u")
ALL_SCOPE_SETS = [frozenset(c) for n in range(len(Scope) + 1) for c in combinations(list(Scope), n)]


def model_repo_role(scopes: frozenset[Scope], grants: authz.Grants) -> RepoRole:
    """Quay's rule written out independently: which repo roles does each scope let through?"""
    allowed = {RepoRole.NONE}
    if scopes & {Scope.REPO_READ, Scope.REPO_WRITE, Scope.REPO_ADMIN, Scope.DIRECT_LOGIN}:
        allowed.add(RepoRole.READ)
    if scopes & {Scope.REPO_WRITE, Scope.REPO_ADMIN, Scope.DIRECT_LOGIN}:
        allowed.add(RepoRole.WRITE)
    if scopes & {Scope.REPO_ADMIN, Scope.DIRECT_LOGIN}:
        allowed.add(RepoRole.ADMIN)
    granted = RepoRole.ADMIN if grants.own_namespace or grants.team_role == TeamRole.ADMIN else grants.repo_role
    return max(r for r in allowed if r <= granted)


def model_team_role(scopes: frozenset[Scope], grants: authz.Grants) -> TeamRole:
    allowed = {TeamRole.NONE}
    if scopes & {Scope.REPO_CREATE, Scope.ORG_ADMIN, Scope.DIRECT_LOGIN}:
        allowed |= {TeamRole.MEMBER, TeamRole.CREATOR}
    if scopes & {Scope.ORG_ADMIN, Scope.DIRECT_LOGIN}:
        allowed.add(TeamRole.ADMIN)
    granted = TeamRole.ADMIN if grants.own_namespace else grants.team_role
    return max(r for r in allowed if r <= granted)


grants_strategy = st.builds(authz.Grants, own_namespace=st.booleans(), team_role=st.sampled_from(TeamRole),
                            repo_role=st.sampled_from(RepoRole))


@given(scopes=st.sampled_from(ALL_SCOPE_SETS), grants=grants_strategy)
def test_repo_role_is_granted_role_capped_by_scopes(scopes: frozenset[Scope], grants: authz.Grants) -> None:
    identity = Identity(kind=AuthKind.OAUTH, user=USER, scopes=scopes)
    assert authz.effective_repo_role(identity, grants) == model_repo_role(scopes, grants)


@given(scopes=st.sampled_from(ALL_SCOPE_SETS), grants=grants_strategy)
def test_team_role_is_granted_role_capped_by_scopes(scopes: frozenset[Scope], grants: authz.Grants) -> None:
    identity = Identity(kind=AuthKind.OAUTH, user=USER, scopes=scopes)
    assert authz.effective_team_role(identity, grants) == model_team_role(scopes, grants)


def test_scopes_never_grant_more_than_was_granted() -> None:
    none = authz.Grants()
    for scopes in ALL_SCOPE_SETS:
        identity = Identity(kind=AuthKind.OAUTH, user=USER, scopes=scopes)
        assert authz.effective_repo_role(identity, none) == RepoRole.NONE
        assert authz.effective_team_role(identity, none) == TeamRole.NONE


def test_org_admin_scope_gives_no_repository_access_and_repo_scopes_no_org_access() -> None:
    org_admin = authz.Grants(team_role=TeamRole.ADMIN)
    only_org = Identity(kind=AuthKind.OAUTH, user=USER, scopes=frozenset({Scope.ORG_ADMIN}))
    only_repo = Identity(kind=AuthKind.OAUTH, user=USER, scopes=frozenset({Scope.REPO_ADMIN}))
    assert authz.effective_repo_role(only_org, org_admin) == RepoRole.NONE
    assert authz.effective_team_role(only_repo, org_admin) == TeamRole.NONE


def test_user_role_cap() -> None:
    expect = {frozenset(): UserRole.NONE, frozenset({Scope.USER_READ}): UserRole.READ,
              frozenset({Scope.USER_ADMIN}): UserRole.ADMIN, frozenset({Scope.REPO_ADMIN}): UserRole.NONE,
              frozenset({Scope.DIRECT_LOGIN}): UserRole.ADMIN}
    for scopes, role in expect.items():
        assert authz.effective_user_role(Identity(kind=AuthKind.OAUTH, user=USER, scopes=scopes)) == role


def test_anonymous_has_no_role_whatever_it_claims() -> None:
    anon = Identity(kind=AuthKind.ANONYMOUS, scopes=frozenset(Scope))
    assert authz.effective_repo_role(anon, authz.Grants(own_namespace=True)) == RepoRole.NONE
    assert authz.effective_user_role(anon) == UserRole.NONE


def test_superuser_needs_the_super_user_scope_and_full_access_needs_the_switch() -> None:
    su = authz.Privilege(superuser=True, full_access_enabled=False)
    su_fa = authz.Privilege(superuser=True, full_access_enabled=True)
    with_scope = Identity(kind=AuthKind.OAUTH, user=USER, scopes=frozenset({Scope.SUPERUSER}))
    without = Identity(kind=AuthKind.OAUTH, user=USER, scopes=frozenset({Scope.REPO_ADMIN}))
    assert authz.is_superuser(with_scope, su) and not authz.is_superuser(without, su)
    assert not authz.has_full_access(with_scope, su) and authz.has_full_access(with_scope, su_fa)
    gro = authz.Privilege(superuser=True, global_readonly=True)
    assert not authz.is_superuser(with_scope, gro) and authz.is_global_readonly(without, gro)


def test_scope_strings_parse_like_quay() -> None:
    assert parse_scopes("repo:read,user:read") == {Scope.REPO_READ, Scope.USER_READ}
    assert parse_scopes("repo:read bogus") is None
    assert parse_scopes("direct_user_login") is None
    assert parse_scopes("") == frozenset()
