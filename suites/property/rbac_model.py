"""An independent model of Quay's effective roles, written from Quay's rules (quay-api.md section 0 "Role model",
section B on scopes, D2, D7, D8, D9; and Quay's auth/permissions.py, data/model/permission.py, data/model/team.py),
never from the reference server. Pure Python: no I/O, so tests/test_rbac_model.py can pin it with concrete cases.

What it encodes:

* Repo roles read < write < admin. A repository's granted role for a user is the best of: its own permission row,
  the rows of every team (of the repository's organization) it belongs to, `admin` when it owns the (user)
  namespace, and `admin` when it is in a team whose org role is `admin`. Team roles `member` and `creator` give no
  org-wide repository access.
* Scopes cap roles, they never grant them: the cap is the best role any scope of the token allows (Quay's
  SCOPE_MAX_REPO_ROLES / SCOPE_MAX_TEAM_ROLES); a session carries `direct_user_login`, which caps nothing.
* Public repositories are readable by everyone, anonymous included, whatever the scopes (the public check in
  `require_repo_read` does not look at the identity); writing or administering them still needs a role.
* Creating a repository needs team role creator or admin (after the cap) in the namespace; in one's own
  namespace a user counts as admin. The creator gets an explicit `admin` row on the new repository.
* Adding a user to a team of an organization where it is in no team yet makes an invite when the target requires
  invites (Quay's defaults: MAILING + REQUIRE_TEAM_INVITE), which gives nothing until it is accepted; accepting
  confirms every pending invite of that user in that organization. Without invites every user is added directly.
  Robots (of the organization only) are always added directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

OWNERS_TEAM = "owners"  # made with every organization, role admin, holding the creator


class RepoRole(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> RepoRole:
        return cls[name.upper()]


class TeamRole(IntEnum):
    NONE = 0
    MEMBER = 1
    CREATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> TeamRole:
        return cls[name.upper()]


# The best role each scope allows (Quay's tables); a scope missing here allows nothing of that kind.
DIRECT_LOGIN = "direct_user_login"
REPO_SCOPE_CAP: dict[str, RepoRole] = {
    "repo:read": RepoRole.READ, "repo:write": RepoRole.WRITE, "repo:admin": RepoRole.ADMIN,
    DIRECT_LOGIN: RepoRole.ADMIN,
}
TEAM_SCOPE_CAP: dict[str, TeamRole] = {
    "repo:create": TeamRole.CREATOR, "org:admin": TeamRole.ADMIN, DIRECT_LOGIN: TeamRole.ADMIN,
}
SESSION: frozenset[str] = frozenset({DIRECT_LOGIN})


def repo_cap(scopes: Iterable[str]) -> RepoRole:
    return max((REPO_SCOPE_CAP.get(s, RepoRole.NONE) for s in scopes), default=RepoRole.NONE)


def team_cap(scopes: Iterable[str]) -> TeamRole:
    return max((TEAM_SCOPE_CAP.get(s, TeamRole.NONE) for s in scopes), default=TeamRole.NONE)


class Refused(Exception):
    """Quay refuses the change with 400 (a DataModelException): the model says so, the state stays as it was."""


def is_robot(name: str) -> bool:
    return "+" in name


@dataclass
class Team:
    role: TeamRole
    members: set[str] = field(default_factory=set)  # users and robots
    invited: set[str] = field(default_factory=set)  # users with a pending invite


@dataclass
class Org:
    creator: str
    teams: dict[str, Team] = field(default_factory=dict)


@dataclass
class Repo:
    namespace: str
    public: bool
    users: dict[str, RepoRole] = field(default_factory=dict)  # permission rows of users and robots
    teams: dict[str, RepoRole] = field(default_factory=dict)  # permission rows of teams


@dataclass
class Model:
    """Namespaces, teams, repositories and permission rows; `users` are the people that exist (namespaces)."""

    users: set[str] = field(default_factory=set)
    # Whether the target invites users who are in no team of the org (Quay does when MAILING and
    # REQUIRE_TEAM_INVITE are both on) or adds everyone directly.
    invites: bool = True
    orgs: dict[str, Org] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)  # "namespace/name"
    robots: set[str] = field(default_factory=set)  # "namespace+short"

    # -- changes ------------------------------------------------------------------------------------------------
    def add_user(self, name: str) -> None:
        self.users.add(name)

    def create_org(self, name: str, creator: str) -> None:
        self.orgs[name] = Org(creator, {OWNERS_TEAM: Team(TeamRole.ADMIN, {creator})})

    def set_team(self, org: str, team: str, role: TeamRole) -> None:
        """PUT .../team/{team}: creates the team or changes its role."""
        teams = self.orgs[org].teams
        if team in teams:
            teams[team].role = role
        else:
            teams[team] = Team(role)

    def delete_team(self, org: str, team: str) -> None:
        """The team goes with its memberships, invites and repository rows."""
        del self.orgs[org].teams[team]
        for repo in self.repos.values():
            if repo.namespace == org:
                repo.teams.pop(team, None)

    def in_org(self, member: str, org: str) -> bool:
        """A member of some team of the org (pending invites do not count)."""
        return any(member in t.members for t in self.orgs[org].teams.values())

    def add_member(self, org: str, team: str, member: str) -> bool:
        """PUT .../members/{member}; returns True when Quay makes an invite instead of a membership."""
        t = self.orgs[org].teams[team]
        if member in t.members or member in t.invited:
            raise Refused(f"{member} is already in (or invited to) {org}/{team}")
        if is_robot(member):
            if not member.startswith(org + "+"):
                raise Refused(f"robot {member} is not of {org}")
            t.members.add(member)
            return False
        if not self.invites or self.in_org(member, org):
            t.members.add(member)
            return False
        t.invited.add(member)
        return True

    def pending_invites(self, user: str, org: str) -> list[str]:
        return sorted(name for name, t in self.orgs[org].teams.items() if user in t.invited)

    def accept_invites(self, user: str, org: str) -> None:
        """Accepting one invite confirms all of the user's invites in that organization."""
        for t in self.orgs[org].teams.values():
            if user in t.invited:
                t.invited.discard(user)
                t.members.add(user)

    def remove_member(self, org: str, team: str, member: str) -> None:
        """DELETE .../members/{member}: a pending invite goes first, else the membership."""
        t = self.orgs[org].teams[team]
        if member in t.invited:
            t.invited.discard(member)
        elif member in t.members:
            t.members.discard(member)
        else:
            raise Refused(f"{member} is not in {org}/{team}")

    def create_repo(self, full: str, public: bool, creator: str) -> None:
        namespace = full.split("/", 1)[0]
        # The creating user always gets an explicit admin row (even in its own namespace).
        self.repos[full] = Repo(namespace, public, {creator: RepoRole.ADMIN})

    def add_robot(self, name: str) -> None:
        self.robots.add(name)

    def set_user_permission(self, full: str, user: str, role: RepoRole) -> None:
        repo = self.repos[full]
        if user == repo.namespace:
            raise Refused("Namespace owner must always be admin.")
        if is_robot(user) and user.split("+", 1)[0] != repo.namespace:
            raise Refused(f"Cannot add robot {user} under namespace {repo.namespace}")
        repo.users[user] = role

    def delete_user_permission(self, full: str, user: str) -> None:
        repo = self.repos[full]
        if user == repo.namespace:
            raise Refused("Namespace owner must always be admin.")
        if user not in repo.users:
            raise Refused("User does not have permission for repo.")
        del repo.users[user]

    def set_team_permission(self, full: str, team: str, role: RepoRole) -> None:
        repo = self.repos[full]
        org = self.orgs.get(repo.namespace)
        if org is None or team not in org.teams:
            raise Refused(f"No team {team} in organization {repo.namespace}")
        repo.teams[team] = role

    def delete_team_permission(self, full: str, team: str) -> None:
        repo = self.repos[full]
        if team not in repo.teams:
            raise Refused("Team does not have permission for repo.")
        del repo.teams[team]

    # -- questions ----------------------------------------------------------------------------------------------
    def team_role(self, user: str, namespace: str) -> TeamRole:
        """The org-wide role before scopes: the best role of the user's teams; a user administers itself."""
        if namespace == user:
            return TeamRole.ADMIN
        org = self.orgs.get(namespace)
        if org is None:
            return TeamRole.NONE
        return max((t.role for t in org.teams.values() if user in t.members), default=TeamRole.NONE)

    def row_roles(self, user: str, full: str) -> list[RepoRole]:
        """The permission rows that apply to the user: its own and its teams' (what .../transitive lists)."""
        repo = self.repos[full]
        roles = [repo.users[user]] if user in repo.users else []
        org = self.orgs.get(repo.namespace)
        if org is not None:
            roles += [role for team, role in repo.teams.items() if user in org.teams[team].members]
        return sorted(roles)

    def granted_repo_role(self, user: str, full: str) -> RepoRole:
        """The role before scopes, ignoring public visibility."""
        namespace = self.repos[full].namespace
        orgwide = RepoRole.ADMIN if self.team_role(user, namespace) == TeamRole.ADMIN else RepoRole.NONE
        return max([orgwide, *self.row_roles(user, full)])

    def capped_repo_role(self, user: str | None, full: str, scopes: frozenset[str] = SESSION) -> RepoRole:
        """The role the identity holds: granted, capped by the scopes (what getRepo's can_write/can_admin show)."""
        return RepoRole.NONE if user is None else min(self.granted_repo_role(user, full), repo_cap(scopes))

    def repo_role(self, user: str | None, full: str, scopes: frozenset[str] = SESSION) -> RepoRole:
        """The effective role for a check: a public repository is readable by anyone, whatever the scopes."""
        capped = self.capped_repo_role(user, full, scopes)
        return max(capped, RepoRole.READ) if self.repos[full].public else capped

    def org_role(self, user: str | None, namespace: str, scopes: frozenset[str] = SESSION) -> TeamRole:
        if user is None:
            return TeamRole.NONE
        return min(self.team_role(user, namespace), team_cap(scopes))

    def can_create_repo(self, user: str | None, namespace: str, scopes: frozenset[str] = SESSION) -> bool:
        return self.org_role(user, namespace, scopes) >= TeamRole.CREATOR

    def can_admin_org(self, user: str | None, org: str, scopes: frozenset[str] = SESSION) -> bool:
        return self.org_role(user, org, scopes) == TeamRole.ADMIN

    def org_members(self, org: str) -> dict[str, set[str]]:
        """GET .../members: humans in some team (robots and invites left out) -> the names of their teams."""
        out: dict[str, set[str]] = {}
        for name, team in self.orgs[org].teams.items():
            for member in team.members:
                if not is_robot(member):
                    out.setdefault(member, set()).add(name)
        return out

    def direct_rows(self, full: str) -> dict[str, RepoRole]:
        """GET .../permissions/user/: every user and robot row."""
        return dict(self.repos[full].users)
