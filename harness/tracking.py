"""Journaling of what a test's own calls create, so that cleanup removes it even when the test does not.

The World journals what it seeds. A test also creates things by the calls it checks: an organization made by
`createOrganization` in a role-matrix cell, a robot made by `createUserRobot` as the configured superuser (in the
superuser's own namespace, outside the run's prefix). Every QuayClient of a Target reports its successful calls
here; a call that creates a namespace, or creates something in a namespace that is not the run's, is journaled
at once and undone when the test ends. Things created inside the run's own namespaces need no entry: they go when
their namespace goes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from harness.audit.ledger import parse_json
from harness.client import CALLER_EXTENSION, PARAMS_EXTENSION
from harness.reporting.recorder import OPERATION_EXTENSION, seeding

if TYPE_CHECKING:
    from harness.journal import Entry
    from harness.world import Target

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Made:
    """What a call made and how to undo it (the journal entry's fields)."""

    kind: str
    name: str
    within: str | None  # the namespace holding it; None for a namespace itself
    undo_op: str
    undo_params: dict[str, str]
    actor: str  # who may undo it
    superuser_op: str | None = None


@dataclass(frozen=True)
class Created:
    """The parts of a successful call a rule reads."""

    params: dict[str, str]
    body: dict[str, Any]
    reply: Any
    caller: str
    admin: str

    def reply_get(self, *keys: str) -> str:
        value: Any = self.reply
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return "" if value is None else str(value)


Rule = Callable[[Created], Made | None]


def _org(c: Created) -> Made:
    name = str(c.body.get("name", ""))
    return Made("org", name, None, "deleteAdminedOrganization", {"orgname": name}, c.caller, "deleteOrganization")


def _user(c: Created) -> Made:
    name = str(c.body.get("username", ""))
    return Made("user", name, None, "deleteInstallUser", {"username": name}, c.admin, "deleteInstallUser")


def _repo(c: Created) -> Made:
    namespace, name = str(c.body.get("namespace") or c.caller), str(c.body.get("repository", ""))
    full = f"{namespace}/{name}"
    return Made("repo", full, namespace, "deleteRepository", {"repository": full}, c.caller)


def _user_robot(c: Created) -> Made:
    short = c.params["robot_shortname"]
    return Made("robot", f"{c.caller}+{short}", c.caller, "deleteUserRobot", {"robot_shortname": short}, c.caller)


def _org_robot(c: Created) -> Made:
    org, short = c.params["orgname"], c.params["robot_shortname"]
    return Made("robot", f"{org}+{short}", org, "deleteOrgRobot", {"orgname": org, "robot_shortname": short},
                c.caller)


def _app_token(c: Created) -> Made | None:
    uuid = c.reply_get("token", "uuid")
    if not uuid:
        return None
    return Made("apptoken", f"{c.caller}:{uuid}", c.caller, "revokeAppToken", {"token_uuid": uuid}, c.caller)


def _application(c: Created) -> Made | None:
    org, client_id = c.params["orgname"], c.reply_get("client_id")
    if not client_id:
        return None
    return Made("application", f"{org}:{client_id}", org, "deleteOrganizationApplication",
                {"orgname": org, "client_id": client_id}, c.caller)


def _user_prune_policy(c: Created) -> Made | None:
    uuid = c.reply_get("uuid")
    if not uuid:
        return None
    return Made("policy", f"{c.caller}:{uuid}", c.caller, "deleteUserAutoPrunePolicy", {"policy_uuid": uuid},
                c.caller)


# operationId -> what a successful call of it creates. Operations that only change existing things are not here:
# the run's inventory check catches those when they touch something outside the prefix.
CREATIONS: dict[str, Rule] = {
    "createOrganization": _org,
    "createInstallUser": _user,
    "createNewUser": _user,
    "createRepo": _repo,
    "createUserRobot": _user_robot,
    "createOrgRobot": _org_robot,
    "createAppToken": _app_token,
    "createOrganizationApplication": _application,
    "createUserAutoPrunePolicy": _user_prune_policy,
}


class CreationTracker:
    """Response hook of every client of a Target (see the module docstring)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._entries: list[Entry] = []
        self._lock = threading.Lock()

    def observe(self, response: httpx.Response) -> None:
        request = response.request
        if not 200 <= response.status_code < 300 or request.method not in MUTATING or seeding.get():
            return
        op = request.extensions.get(OPERATION_EXTENSION)
        rule = CREATIONS.get(op) if isinstance(op, str) else None
        if rule is None:
            return
        response.read()
        caller = request.extensions.get(CALLER_EXTENSION)
        made = rule(Created(params=dict(request.extensions.get(PARAMS_EXTENSION) or {}), body=_dict(request.content),
                            reply=parse_json(response.content), caller=caller if isinstance(caller, str) else "",
                            admin=self.target.admin_persona.name))
        if made is None or not made.name or (made.within is not None and self.target.owns(made.within)):
            return
        entry = self.target.journal.record(made.kind, made.name, made.within, made.undo_op, made.undo_params,
                                           made.actor, made.superuser_op)
        with self._lock:
            self._entries.append(entry)

    def pending(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def undo(self) -> list[str]:
        """Undo what the calls since the last undo made, newest first; returns what could not be undone."""
        from harness.world import undo_entries

        with self._lock:
            entries, self._entries = self._entries, []
        if not entries:
            return []
        token = seeding.set(True)
        try:
            return undo_entries(self.target, entries, dict(self.target.personas))
        finally:
            seeding.reset(token)


def _dict(content: bytes) -> dict[str, Any]:
    value = parse_json(content)
    return value if isinstance(value, dict) else {}
