"""A Hypothesis state machine that builds organizations, teams, memberships, repositories, robots and permission
rows on the target in random order, then compares what the target lets each identity do with an independent model
of Quay's effective roles (suites/property/rbac_model.py, written from Quay's rules).

Roles are observed through the API only: read = getRepo, write = updateRepo, admin = listRepoUserPermissions,
create = createRepo in the namespace, org admin = getOrganizationMembers; permission rows through
listRepoUserPermissions and getUserTransitivePermission. Every identity is tried with several credentials (a
session and OAuth tokens with chosen scopes), since scopes cap roles.

Three personas are made once per test (their tokens are minted once, lazily); each example starts an empty model
and works in new organizations and repositories under the run prefix, so earlier examples cannot leak into it.
The World deletes the personas and the organizations at the end, which takes everything else with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from harness.auth import ALL_SCOPES
from harness.checks import TargetMismatch, expect
from harness.client import QuayClient
from harness.world import Persona, Target, World
from suites.property.rbac_model import OWNERS_TEAM, SESSION, Model, Refused, RepoRole, TeamRole, is_robot

# Credentials a persona is tried with: a session (direct_user_login) and tokens with these exact scopes. Chosen to
# hit every cap: each repo:* level, repo:create (org role capped at creator), org:admin (no repo role at all),
# user:read (neither), and mixtures where the org-admin path and the repo cap meet.
CREDENTIALS: dict[str, frozenset[str]] = {
    "session": SESSION,
    "all scopes": frozenset(ALL_SCOPES),
    "repo:read": frozenset({"repo:read"}),
    "repo:write": frozenset({"repo:write"}),
    "repo:admin": frozenset({"repo:admin"}),
    "repo:create": frozenset({"repo:create"}),
    "org:admin": frozenset({"org:admin"}),
    "user:read": frozenset({"user:read"}),
    "repo:read org:admin": frozenset({"repo:read", "org:admin"}),
    "repo:create repo:write": frozenset({"repo:create", "repo:write"}),
}
CREDENTIAL_NAMES = sorted(CREDENTIALS)

# Bounds per example keep the state small enough that each observation touches something that changed.
MAX_ORGS = 2
MAX_TEAMS_PER_ORG = 2  # besides owners
MAX_REPOS = 4
MAX_ROBOTS = 2
MAX_TOUCHED_CHECKS = 1  # full observations the invariant makes of what a step changed
# A cap on steps per example (Hypothesis' default is 50); the number of examples comes from the active profile.
MAX_STEPS = 12

REPO_ROLES = ["read", "write", "admin"]
TEAM_ROLES = ["member", "creator", "admin"]

OPERATIONS = (
    # what the machine changes
    "createOrganization", "updateOrganizationTeam", "deleteOrganizationTeam", "updateOrganizationTeamMember",
    "deleteOrganizationTeamMember", "createRepo",
    "createOrgRobot", "createUserRobot", "changeUserPermissions", "deleteUserPermissions",
    "changeTeamPermissions", "deleteTeamPermissions",
    # what it observes
    "getRepo", "updateRepo", "listRepoUserPermissions", "getUserTransitivePermission", "getOrganizationMembers",
)


def machine_settings() -> settings:
    """The active profile (dev/ci/thorough) with the steps per example capped."""
    active = settings()
    return settings(active, stateful_step_count=min(active.stateful_step_count, MAX_STEPS))


@dataclass
class Context:
    """What lives for the whole test: the World and the personas (their minted tokens are cached on them)."""

    target: Target
    world: World
    personas: list[Persona]
    by_name: dict[str, Persona] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {p.name: p for p in [self.world.admin, *self.personas]}

    def client(self, persona: Persona, credential: str) -> QuayClient:
        if credential == "session":
            return persona.session()
        return persona.client(CREDENTIALS[credential])


class RbacMachine(RuleBasedStateMachine):
    # Set on a subclass made per test (Hypothesis builds the machine with no arguments).
    context: ClassVar[Context]

    def __init__(self) -> None:
        super().__init__()
        self.ctx = ctx = self.context
        # One rule for team membership, read from the target: invites, or direct adds (then the invite
        # operations are absent from its discovery and never called).
        self.model = Model(invites=ctx.target.profile.team_invites)
        for persona in ctx.by_name.values():
            self.model.add_user(persona.name)
        self.aliases: dict[str, str] = {ctx.world.admin.name: "admin"}
        for i, persona in enumerate(ctx.personas):
            self.aliases[persona.name] = f"p{i}"
        self.trace: list[str] = []
        # (subject or None for anonymous, repository) pairs and (subject, org) pairs a step changed; the
        # invariant observes some of them so a wrong answer shows up right after the step that caused it.
        self.touched_repos: list[tuple[str | None, str]] = []
        self.touched_orgs: list[tuple[str, str]] = []
        self.step = 0

    # -- helpers --------------------------------------------------------------------------------------------------
    def alias(self, name: str | None) -> str:
        if name is None:
            return "anonymous"
        if name in self.aliases:
            return self.aliases[name]
        for sep in ("/", "+"):
            if sep in name:
                head, tail = name.split(sep, 1)
                return f"{self.alias(head)}{sep}{self.aliases.get(tail, tail)}"
        return name

    def name(self, kind: str) -> str:
        real = self.ctx.target.next_name(kind)
        count = sum(1 for a in self.aliases.values() if a.startswith(kind))
        self.aliases[real] = f"{kind}{count + 1}"
        return real

    def note(self, text: str) -> None:
        # Real names inside texts (the model's refusal reasons) are shown by alias too.
        for real, short in sorted(self.aliases.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(real, short)
        self.trace.append(text)

    def check(self, response: httpx.Response, status: int, claim: str) -> Any:
        """`expect`, with the model's claim and the steps so far in the failure message."""
        try:
            return expect(response, status)
        except TargetMismatch as exc:
            raise AssertionError(self.explain(f"{claim}\n{exc}")) from None

    def require(self, ok: bool, claim: str) -> None:
        if not ok:
            raise AssertionError(self.explain(claim))

    def explain(self, message: str) -> str:
        steps = "\n".join(f"  {i + 1}. {s}" for i, s in enumerate(self.trace))
        legend = ", ".join(f"{short}={real}" for real, short in self.aliases.items())
        return (f"target disagrees with Quay's role model: {message}\nsteps of this example (each followed by the "
                f"invariant's checks):\n{steps}\naliases: {legend}")

    def persona(self, name: str) -> Persona:
        return self.ctx.by_name[name]

    def namespace_admin(self, namespace: str) -> QuayClient:
        """A full-scope client of whoever administers the namespace (org creator, or the user itself)."""
        org = self.model.orgs.get(namespace)
        return self.persona(org.creator if org else namespace).client()

    def persona_names(self) -> list[str]:
        return [p.name for p in self.ctx.personas]

    def namespaces(self) -> list[str]:
        return sorted(self.model.orgs) + self.persona_names()

    def org_repos(self, org: str) -> list[str]:
        return sorted(r for r, repo in self.model.repos.items() if repo.namespace == org)

    def touch_team(self, org: str, team: str, extra: tuple[str, ...] = ()) -> None:
        members = sorted(self.model.orgs[org].teams[team].members | set(extra)) if team in \
            self.model.orgs[org].teams else sorted(extra)
        humans = [m for m in members if not is_robot(m) and m in self.persona_names()]
        self.touched_orgs += [(m, org) for m in humans]
        self.touched_repos += [(m, r) for m in humans for r in self.org_repos(org)]

    # -- a starting point ---------------------------------------------------------------------------------------
    @initialize(owner=st.integers(min_value=-1, max_value=2), role=st.sampled_from(TEAM_ROLES),
                public=st.booleans(), user=st.integers(min_value=0, max_value=2), user_public=st.booleans())
    def start(self, owner: int, role: str, public: bool, user: int, user_public: bool) -> None:
        """Every example starts with an organization holding a team and a repository, and a repository in a
        persona's namespace, so the random steps spend their budget on memberships and permissions."""
        self.create_org(owner)
        org = sorted(self.model.orgs)[0]
        self.make_team(org, role)
        self.make_repo(org, public)
        self.make_repo(self.ctx.personas[user].name, user_public)

    # -- organizations and teams ----------------------------------------------------------------------------------
    @precondition(lambda self: len(self.model.orgs) < MAX_ORGS)
    @rule(owner=st.integers(min_value=-1, max_value=2))
    def create_org(self, owner: int) -> None:
        """owner -1 is the superuser (then no persona starts in the owners team)."""
        persona = self.ctx.world.admin if owner < 0 else self.ctx.personas[owner]
        org = self.ctx.world.org(owner=persona, name=self.name("org"))
        self.model.create_org(org, persona.name)
        self.note(f"{self.alias(persona.name)} creates organization {self.alias(org)}")
        if owner >= 0:
            self.touched_orgs.append((persona.name, org))

    @precondition(lambda self: any(len(o.teams) <= MAX_TEAMS_PER_ORG for o in self.model.orgs.values()))
    @rule(data=st.data(), role=st.sampled_from(TEAM_ROLES))
    def create_team(self, data: st.DataObject, role: str) -> None:
        org = data.draw(st.sampled_from([n for n, o in sorted(self.model.orgs.items())
                                         if len(o.teams) <= MAX_TEAMS_PER_ORG]), label="org")
        self.make_team(org, role)

    def make_team(self, org: str, role: str) -> None:
        team = self.name("team")
        self.note(f"create team {self.alias(team)} in {self.alias(org)} with role {role}")
        self.check(self.namespace_admin(org).call("updateOrganizationTeam", orgname=org, teamname=team,
                                                  json={"role": role, "description": ""}), 200,
                   f"the org creator creates team {self.alias(team)}")
        self.model.set_team(org, team, TeamRole.parse(role))

    def _teams(self, owners: bool) -> list[tuple[str, str]]:
        return [(o, t) for o, org in sorted(self.model.orgs.items()) for t in sorted(org.teams)
                if owners or t != OWNERS_TEAM]

    @precondition(lambda self: bool(self._teams(owners=False)))
    @rule(data=st.data(), role=st.sampled_from(TEAM_ROLES))
    def set_team_role(self, data: st.DataObject, role: str) -> None:
        org, team = data.draw(st.sampled_from(self._teams(owners=False)), label="team")
        self.note(f"change role of {self.alias(org)}/{self.alias(team)} to {role}")
        self.check(self.namespace_admin(org).call("updateOrganizationTeam", orgname=org, teamname=team,
                                                  json={"role": role, "description": ""}), 200,
                   "the org creator changes a team's role")
        self.model.set_team(org, team, TeamRole.parse(role))
        self.touch_team(org, team)

    @precondition(lambda self: bool(self._teams(owners=False)))
    @rule(data=st.data())
    def delete_team(self, data: st.DataObject) -> None:
        org, team = data.draw(st.sampled_from(self._teams(owners=False)), label="team")
        self.note(f"delete team {self.alias(org)}/{self.alias(team)}")
        affected = tuple(self.model.orgs[org].teams[team].members)
        self.check(self.namespace_admin(org).call("deleteOrganizationTeam", orgname=org, teamname=team), 204,
                   "the org creator deletes a team")
        self.model.delete_team(org, team)
        self.touch_team(org, team, affected)

    def _candidates(self, org: str, team: str) -> list[str]:
        t = self.model.orgs[org].teams[team]
        robots = sorted(r for r in self.model.robots if r.startswith(org + "+"))
        return [m for m in self.persona_names() + robots if m not in t.members and m not in t.invited]

    def _addable(self) -> list[tuple[str, str]]:
        return [(o, t) for o, t in self._teams(owners=True) if self._candidates(o, t)]

    @precondition(lambda self: bool(self._addable()))
    @rule(data=st.data(), accept=st.booleans())
    def add_member(self, data: st.DataObject, accept: bool) -> None:
        """With `accept`, an invite is accepted in the same step (reaching a membership takes one step, not two);
        without it, the invite stays pending and must give nothing."""
        org, team = data.draw(st.sampled_from(self._addable()), label="team")
        member = data.draw(st.sampled_from(self._candidates(org, team)), label="member")
        invited = self.model.add_member(org, team, member)
        self.note(f"add {self.alias(member)} to {self.alias(org)}/{self.alias(team)}"
                  + (" (an invite: not yet in any team of the org)" if invited else ""))
        body = self.check(self.namespace_admin(org).call("updateOrganizationTeamMember", orgname=org,
                                                         teamname=team, membername=member), 200,
                          "the org creator adds a team member")
        got = bool(body.get("invited")) if isinstance(body, dict) else None
        rule = ("the target invites users who are in no team of the org" if self.model.invites
                else "the target adds users directly")
        self.require(got == invited, f"adding {self.alias(member)} to {self.alias(team)}: expected invited="
                                     f"{invited} ({rule}), got {got}")
        self.touch_team(org, team)
        if invited and accept:
            self.accept(member, org)

    def _pending(self) -> list[tuple[str, str]]:
        return [(u, o) for o in sorted(self.model.orgs) for u in self.persona_names()
                if self.model.pending_invites(u, o)]

    @precondition(lambda self: bool(self._pending()))
    @rule(data=st.data())
    def accept_invites(self, data: st.DataObject) -> None:
        user, org = data.draw(st.sampled_from(self._pending()), label="invitee")
        self.accept(user, org)

    def accept(self, user: str, org: str) -> None:
        self.note(f"{self.alias(user)} accepts its invite(s) to {self.alias(org)} "
                  f"({', '.join(self.alias(t) for t in self.model.pending_invites(user, org))})")
        session = self.persona(user).session()
        # One large page: invites of earlier examples may still sit in the list (Quay pages notifications).
        body = self.check(session.call("listUserNotifications", params={"limit": 1000}), 200,
                          "a user lists its notifications")
        codes = [str((n.get("metadata") or {}).get("code")) for n in (body or {}).get("notifications", [])
                 if n.get("kind") == "org_team_invite" and (n.get("metadata") or {}).get("org") == org]
        accepted = False
        for code in codes:
            # A notification can outlive its invite (team deleted, invite withdrawn): such codes are refused.
            if session.call("acceptOrganizationTeamInvite", code=code).status_code == 200:
                accepted = True
                break
        self.require(accepted, f"{self.alias(user)} has a pending invite to {self.alias(org)} but no "
                               f"org_team_invite notification carried a code the target accepted")
        for team in self.model.pending_invites(user, org):
            self.touch_team(org, team, (user,))
        self.model.accept_invites(user, org)

    def _removable(self) -> list[tuple[str, str, str]]:
        out = []
        for org, team in self._teams(owners=True):
            t = self.model.orgs[org].teams[team]
            for m in sorted(t.members | t.invited):
                # The creator stays in owners: Quay refuses to drop the last admin of an org.
                if not (team == OWNERS_TEAM and m == self.model.orgs[org].creator):
                    out.append((org, team, m))
        return out

    @precondition(lambda self: bool(self._removable()))
    @rule(data=st.data())
    def remove_member(self, data: st.DataObject) -> None:
        org, team, member = data.draw(st.sampled_from(self._removable()), label="membership")
        pending = member in self.model.orgs[org].teams[team].invited
        self.note(f"remove {self.alias(member)} from {self.alias(org)}/{self.alias(team)}"
                  + (" (withdraws the pending invite)" if pending else ""))
        self.check(self.namespace_admin(org).call("deleteOrganizationTeamMember", orgname=org, teamname=team,
                                                  membername=member), 204, "the org creator removes a member")
        self.touch_team(org, team)
        self.model.remove_member(org, team, member)

    # -- repositories and robots ----------------------------------------------------------------------------------
    @precondition(lambda self: len(self.model.repos) < MAX_REPOS)
    @rule(data=st.data(), public=st.booleans())
    def create_repo(self, data: st.DataObject, public: bool) -> None:
        self.make_repo(data.draw(st.sampled_from(self.namespaces()), label="namespace"), public)

    def make_repo(self, namespace: str, public: bool) -> None:
        org = self.model.orgs.get(namespace)
        actor = self.persona(org.creator if org else namespace)
        full = self.ctx.world.repo(namespace, name=self.name("repo"), visibility="public" if public else "private",
                                   as_=actor)
        self.model.create_repo(full, public, actor.name)
        self.note(f"{self.alias(actor.name)} creates {'public' if public else 'private'} repository "
                  f"{self.alias(full)}")
        self.touched_repos += [(None, full)] + [(p, full) for p in self.persona_names()]

    @precondition(lambda self: len(self.model.robots) < MAX_ROBOTS)
    @rule(data=st.data())
    def create_robot(self, data: st.DataObject) -> None:
        namespace = data.draw(st.sampled_from(self.namespaces()), label="namespace")
        org = self.model.orgs.get(namespace)
        short = self.name("bot")
        robot = self.ctx.world.robot(namespace, name=short, as_=self.persona(org.creator if org else namespace))
        self.model.add_robot(robot.name)
        self.note(f"create robot {self.alias(robot.name)}")

    def _grantees(self, full: str) -> list[str]:
        namespace = self.model.repos[full].namespace
        return self.persona_names() + sorted(r for r in self.model.robots if r.startswith(namespace + "+"))

    def change_row(self, full: str, who: str, role: str | None) -> None:
        """PUT (role) or DELETE (None) a user/robot row as the namespace's admin; 400 when the model refuses."""
        try:
            if role is None:
                self.model.delete_user_permission(full, who)
            else:
                self.model.set_user_permission(full, who, RepoRole.parse(role))
            status = 204 if role is None else 200
        except Refused as why:
            status, reason = 400, str(why)
        action = f"grant {self.alias(who)} {role} on" if role else f"revoke {self.alias(who)}'s permission on"
        self.note(f"{action} {self.alias(full)}" + (f" (refused: {reason})" if status == 400 else ""))
        admin = self.namespace_admin(self.model.repos[full].namespace)
        if role is None:
            response = admin.call("deleteUserPermissions", repository=full, username=who)
        else:
            response = admin.call("changeUserPermissions", repository=full, username=who, json={"role": role})
        body = self.check(response, status, f"{action} {self.alias(full)}")
        if status == 200:
            self.require(isinstance(body, dict) and body.get("role") == role,
                         f"changeUserPermissions answered {body!r}, expected role {role}")
        if who in self.persona_names():
            self.touched_repos.append((who, full))

    @precondition(lambda self: bool(self.model.repos))
    @rule(data=st.data(), role=st.sampled_from(REPO_ROLES))
    def grant_user(self, data: st.DataObject, role: str) -> None:
        full = data.draw(st.sampled_from(sorted(self.model.repos)), label="repository")
        self.change_row(full, data.draw(st.sampled_from(self._grantees(full)), label="user"), role)

    def _rows(self) -> list[tuple[str, str]]:
        return [(r, u) for r, repo in sorted(self.model.repos.items()) for u in sorted(repo.users)
                if u != repo.namespace]

    @precondition(lambda self: bool(self._rows()))
    @rule(data=st.data())
    def revoke_user(self, data: st.DataObject) -> None:
        full, who = data.draw(st.sampled_from(self._rows()), label="permission")
        self.change_row(full, who, None)

    def _refusals(self) -> list[tuple[str, str, str | None]]:
        """Row changes Quay refuses with 400: the user namespace's owner (always admin), a robot of another
        namespace, and deleting a row that does not exist."""
        out: list[tuple[str, str, str | None]] = []
        for full, repo in sorted(self.model.repos.items()):
            if repo.namespace in self.model.users:
                out += [(full, repo.namespace, "read"), (full, repo.namespace, None)]
            out += [(full, r, "write") for r in sorted(self.model.robots) if not r.startswith(repo.namespace + "+")]
            out += [(full, p, None) for p in self.persona_names() if p not in repo.users and p != repo.namespace]
        return out

    @precondition(lambda self: bool(self._refusals()))
    @rule(data=st.data())
    def refused_row_change(self, data: st.DataObject) -> None:
        full, who, role = data.draw(st.sampled_from(self._refusals()), label="refused change")
        self.change_row(full, who, role)

    def _team_targets(self) -> list[tuple[str, str]]:
        return [(r, t) for r, repo in sorted(self.model.repos.items()) if repo.namespace in self.model.orgs
                for t in sorted(self.model.orgs[repo.namespace].teams)]

    @precondition(lambda self: bool(self._team_targets()))
    @rule(data=st.data(), role=st.sampled_from(REPO_ROLES))
    def grant_team(self, data: st.DataObject, role: str) -> None:
        full, team = data.draw(st.sampled_from(self._team_targets()), label="team permission")
        self.model.set_team_permission(full, team, RepoRole.parse(role))
        org = self.model.repos[full].namespace
        self.note(f"grant team {self.alias(team)} {role} on {self.alias(full)}")
        body = self.check(self.namespace_admin(org).call("changeTeamPermissions", repository=full, teamname=team,
                                                         json={"role": role}), 200,
                          f"setting team {self.alias(team)}'s permission")
        self.require(isinstance(body, dict) and body.get("role") == role,
                     f"changeTeamPermissions answered {body!r}, expected role {role}")
        self.touch_team(org, team)

    def _team_rows(self) -> list[tuple[str, str]]:
        return [(r, t) for r, repo in sorted(self.model.repos.items()) for t in sorted(repo.teams)]

    @precondition(lambda self: bool(self._team_rows()))
    @rule(data=st.data())
    def revoke_team(self, data: st.DataObject) -> None:
        full, team = data.draw(st.sampled_from(self._team_rows()), label="team permission")
        org = self.model.repos[full].namespace
        self.note(f"revoke team {self.alias(team)}'s permission on {self.alias(full)}")
        self.check(self.namespace_admin(org).call("deleteTeamPermissions", repository=full, teamname=team), 204,
                   f"deleting team {self.alias(team)}'s permission")
        self.model.delete_team_permission(full, team)
        self.touch_team(org, team)

    # -- observations ---------------------------------------------------------------------------------------------
    def observe_repo(self, subject: str | None, credential: str, full: str) -> None:
        """All three levels, each through the operation that enforces it."""
        role = self.read_check(subject, credential, full)
        who, repo = self.who(subject, credential), self.alias(full)
        client = self.client(subject, credential)
        deny = 401 if subject is None else 403
        # An anonymous write has no session, so Quay's CSRF check refuses it with 403 before any permission check.
        self.check(client.call("updateRepo", repository=full, json={"description": f"written by {who}"}),
                   200 if role >= RepoRole.WRITE else 403, f"{who} writing {repo}: model role {role.label}")
        body = self.check(client.call("listRepoUserPermissions", repository=full),
                          200 if role >= RepoRole.ADMIN else deny,
                          f"{who} administering {repo}: model role {role.label}")
        if role >= RepoRole.ADMIN:
            self.check_rows(full, body)

    def who(self, subject: str | None, credential: str) -> str:
        return self.alias(subject) + ("" if subject is None else f" [{credential}]")

    def client(self, subject: str | None, credential: str) -> QuayClient:
        return self.ctx.target.anon if subject is None else self.ctx.client(self.persona(subject), credential)

    def read_check(self, subject: str | None, credential: str, full: str) -> RepoRole:
        """getRepo: its status is the read check, and its can_write/can_admin flags are Quay's write and admin
        checks made with the caller's (scope-capped) identity, so one request shows all three levels."""
        scopes = CREDENTIALS[credential]
        role = self.model.repo_role(subject, full, scopes)
        who, repo = self.who(subject, credential), self.alias(full)
        body = self.check(self.client(subject, credential).call("getRepo", repository=full,
                                                                  params={"includeTags": "false"}),
                          200 if role >= RepoRole.READ else (401 if subject is None else 403),
                          f"{who} reading {repo}: model role {role.label}")
        if role >= RepoRole.READ:
            capped = self.model.capped_repo_role(subject, full, scopes)  # public visibility is no role
            flags = (body.get("can_write"), body.get("can_admin")) if isinstance(body, dict) else None
            self.require(flags == (capped >= RepoRole.WRITE, capped >= RepoRole.ADMIN),
                         f"{who} reading {repo}: (can_write, can_admin) = {flags}, model role {capped.label}")
        return role

    def check_rows(self, full: str, body: Any) -> None:
        perms = body.get("permissions") if isinstance(body, dict) else None
        got = {name: p.get("role") for name, p in perms.items()} if isinstance(perms, dict) else perms
        want = {name: role.label for name, role in self.model.direct_rows(full).items()}
        self.require(got == want, f"permission rows of {self.alias(full)}: got "
                                  f"{ {self.alias(k): v for k, v in (got or {}).items()} }, model "
                                  f"{ {self.alias(k): v for k, v in want.items()} }")

    @precondition(lambda self: bool(self.model.repos))
    @rule(data=st.data(), subject=st.integers(min_value=-1, max_value=2),
          credential=st.sampled_from(CREDENTIAL_NAMES))
    def observe(self, data: st.DataObject, subject: int, credential: str) -> None:
        full = data.draw(st.sampled_from(sorted(self.model.repos)), label="repository")
        user = None if subject < 0 else self.ctx.personas[subject].name
        self.note(f"check {self.who(user, credential)} on {self.alias(full)}")
        self.observe_repo(user, credential, full)

    @precondition(lambda self: bool(self.model.repos))
    @rule(data=st.data())
    def observe_rows(self, data: st.DataObject) -> None:
        """getUserTransitivePermission: the user's own row plus its teams' rows (robots included)."""
        full = data.draw(st.sampled_from(sorted(self.model.repos)), label="repository")
        who = data.draw(st.sampled_from(self.persona_names() + sorted(self.model.robots)), label="user")
        want = self.model.row_roles(who, full)
        self.note(f"check the permission rows of {self.alias(who)} on {self.alias(full)}")
        response = self.namespace_admin(self.model.repos[full].namespace).call(
            "getUserTransitivePermission", repository=full, username=who)
        claim = f"rows for {self.alias(who)} on {self.alias(full)}: model {[r.label for r in want]}"
        body = self.check(response, 200 if want else 404, claim)
        if want:
            perms = body.get("permissions") if isinstance(body, dict) else None
            got = sorted(RepoRole.parse(str(p.get("role"))) for p in perms or [])
            self.require(got == want, f"{claim}, got {[r.label for r in got]}")

    @precondition(lambda self: len(self.model.repos) < MAX_REPOS)
    @rule(data=st.data(), subject=st.integers(min_value=0, max_value=2), credential=st.sampled_from(CREDENTIAL_NAMES),
          public=st.booleans())
    def try_create_repo(self, data: st.DataObject, subject: int, credential: str, public: bool) -> None:
        namespace = data.draw(st.sampled_from(self.namespaces()), label="namespace")
        persona = self.ctx.personas[subject]
        scopes = CREDENTIALS[credential]
        allowed = self.model.can_create_repo(persona.name, namespace, scopes)
        name = self.name("repo")
        full = f"{namespace}/{name}"
        self.note(f"{self.alias(persona.name)} [{credential}] creates {self.alias(full)}"
                  + ("" if allowed else " (refused)"))
        response = self.ctx.client(persona, credential).call(
            "createRepo", json={"namespace": namespace, "repository": name, "description": "",
                                "visibility": "public" if public else "private"})
        self.check(response, 201 if allowed else 403,
                   f"{self.alias(persona.name)} [{credential}] creating a repository in {self.alias(namespace)}: "
                   f"model org role {self.model.org_role(persona.name, namespace, scopes).label}")
        if allowed:
            # Not journaled: it lives in an org or a persona's namespace, and both are deleted with the World.
            self.model.create_repo(full, public, persona.name)
            self.touched_repos += [(persona.name, full), (None, full)]

    @precondition(lambda self: bool(self.model.orgs))
    @rule(data=st.data(), subject=st.integers(min_value=-1, max_value=2),
          credential=st.sampled_from(CREDENTIAL_NAMES))
    def observe_org(self, data: st.DataObject, subject: int, credential: str) -> None:
        org = data.draw(st.sampled_from(sorted(self.model.orgs)), label="org")
        user = None if subject < 0 else self.ctx.personas[subject].name
        self.note(f"check {self.who(user, credential)} administering {self.alias(org)}")
        self.observe_org_admin(user, credential, org)

    def observe_org_admin(self, subject: str | None, credential: str, org: str) -> None:
        scopes = CREDENTIALS[credential]
        allowed = self.model.can_admin_org(subject, org, scopes)
        who = self.alias(subject) + ("" if subject is None else f" [{credential}]")
        client = self.ctx.target.anon if subject is None else self.ctx.client(self.persona(subject), credential)
        body = self.check(client.call("getOrganizationMembers", orgname=org),
                          200 if allowed else (401 if subject is None else 403),
                          f"{who} listing the members of {self.alias(org)}: model org role "
                          f"{self.model.org_role(subject, org, scopes).label}")
        if allowed:
            members = body.get("members") if isinstance(body, dict) else None
            got = {m.get("name"): {t.get("name") for t in m.get("teams", [])} for m in members or []}
            want = self.model.org_members(org)
            self.require(got == want, f"members of {self.alias(org)}: got {self._alias_members(got)}, model "
                                      f"{self._alias_members(want)}")

    def _alias_members(self, members: dict[Any, set[Any]]) -> dict[str, list[str]]:
        return {self.alias(str(k)): sorted(self.alias(str(t)) for t in v) for k, v in members.items()}

    @invariant()
    def target_answers_as_modelled(self) -> None:
        """After each step: every identity reads one repository (rotating with the step, each persona with a
        rotating credential), and one (identity, object) pair the step changed gets the full set of checks, so a
        wrong answer shows up right after the step that caused it."""
        self.step += 1
        repos = sorted(self.model.repos)
        if repos:
            full = repos[self.step % len(repos)]
            for i, subject in enumerate([None, *self.persona_names()]):
                self.read_check(subject, CREDENTIAL_NAMES[(self.step + 3 * i) % len(CREDENTIAL_NAMES)], full)
        touched = [p for p in dict.fromkeys(self.touched_repos) if p[1] in self.model.repos]
        orgs = [p for p in dict.fromkeys(self.touched_orgs) if p[1] in self.model.orgs]
        self.touched_repos, self.touched_orgs = [], []
        for subject, full in touched[:MAX_TOUCHED_CHECKS]:
            self.observe_repo(subject, CREDENTIAL_NAMES[self.step % len(CREDENTIAL_NAMES)], full)
        for subject, org in orgs[:1]:
            self.observe_org_admin(subject, CREDENTIAL_NAMES[self.step % len(CREDENTIAL_NAMES)], org)


@pytest.mark.operation(*OPERATIONS)
@pytest.mark.area("security")
def test_effective_roles_follow_quay_role_model(target: Target, world: World) -> None:
    personas = [world.user() for _ in range(3)]

    class Machine(RbacMachine):
        context = Context(target, world, personas)

    run_state_machine_as_test(Machine, settings=machine_settings())
