"""What exists on the target, as its superuser sees it, before and after a run: users, organizations, robots, teams,
OAuth applications, quotas, repositories and app-specific tokens. Comparing the two proves the run's promise:
nothing outside its prefix changed, and nothing of its own survived cleanup.

Each item has a kind, a name, the namespace it lives in (which decides whether it is the run's) and a small state
of the attributes a run could change (a user's e-mail and enabled flag, a team's role and member count, a quota's
limits). Attributes the target changes by itself (last access times, usage figures, backfill status) are left out.
What the superuser may not list (another organization's robots without full access, say) is noted, not guessed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.client import QuayClient
from harness.errors import HarnessError

WORKERS = 4  # concurrent reads: a Quay with many namespaces is inventoried in a few seconds
SERVER_ERROR_TRIES = 3
MAX_REPO_PAGES = 100


@dataclass(frozen=True, order=True)
class Item:
    kind: str  # user | org | team | robot | application | quota | repo | apptoken
    name: str
    namespace: str
    state: str = ""  # JSON of the attributes compared

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.name

    def describe(self) -> str:
        return f"{self.kind} {self.name}" + (f" {self.state}" if self.state and self.state != "{}" else "")


@dataclass
class Inventory:
    items: dict[tuple[str, str], Item] = field(default_factory=dict)
    unseen: list[str] = field(default_factory=list)  # what the superuser could not list, and why

    def add(self, kind: str, name: str, namespace: str, /, **state: Any) -> None:
        item = Item(kind, name, namespace, json.dumps(state, sort_keys=True, default=str))
        self.items[item.key] = item

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for kind, _ in self.items:
            out[kind] = out.get(kind, 0) + 1
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, Any]:
        return {"items": [[i.kind, i.name, i.namespace, i.state] for i in sorted(self.items.values())],
                "unseen": self.unseen}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Inventory:
        inventory = cls(unseen=[str(u) for u in data.get("unseen", [])])
        for kind, name, namespace, state in data.get("items", []):
            item = Item(str(kind), str(name), str(namespace), str(state))
            inventory.items[item.key] = item
        return inventory

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Inventory:
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise HarnessError(f"cannot read the inventory {path}: {exc}") from None


def _body(client: QuayClient, op: str, **kwargs: Any) -> tuple[int, Any]:
    response = client.call(op, **kwargs)
    try:
        return response.status_code, response.json() if response.content else None
    except ValueError:
        return response.status_code, None


class _Reader:
    """Reads as the admin, and as the global read-only superuser where the admin may not look."""

    def __init__(self, admin: QuayClient, readonly: QuayClient | None) -> None:
        self.clients = [admin] + ([readonly] if readonly is not None else [])
        self.catalog = admin.catalog

    def get(self, op: str, **kwargs: Any) -> tuple[int, Any]:
        status, body = 0, None
        for client in self.clients:
            for attempt in range(SERVER_ERROR_TRIES):
                status, body = _body(client, op, **kwargs)
                if status < 500:
                    break
                # Quay's listings can fail while another client deletes a namespace (it builds each row with a
                # lookup by name that no longer resolves): a listing of a moment later is as good.
                time.sleep(0.5 * (attempt + 1))
            if status not in (401, 403):
                break
        return status, body


def take_inventory(admin: QuayClient, readonly: QuayClient | None = None) -> Inventory:
    """The target's inventory as the superuser (and the read-only superuser, when given) can list it."""
    reader = _Reader(admin, readonly)
    inventory = Inventory()
    for op in ("listAllUsers", "listAllOrganizations"):
        if op not in reader.catalog:
            raise HarnessError(f"the target's discovery has no {op}: the run cannot list what exists")
    status, users = reader.get("listAllUsers")
    if status != 200 or not isinstance(users, dict):
        raise HarnessError(f"listAllUsers answered {status}: the run cannot list the target's users")
    status, orgs = reader.get("listAllOrganizations")
    if status != 200 or not isinstance(orgs, dict):
        raise HarnessError(f"listAllOrganizations answered {status}: the run cannot list the target's organizations")
    user_names = []
    for user in users.get("users", []):
        name = str(user.get("username"))
        user_names.append(name)
        inventory.add("user", name, name, email=user.get("email"), enabled=user.get("enabled"),
                      super_user=user.get("super_user"))
        _quotas(inventory, name, user.get("quotas"))
    org_names = []
    for org in orgs.get("organizations", []):
        name = str(org.get("name"))
        org_names.append(name)
        inventory.add("org", name, name, email=org.get("email"))
        _quotas(inventory, name, org.get("quotas"))
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(_org_details, reader, inventory, name) for name in org_names]
        futures += [pool.submit(_repositories, reader, inventory, name) for name in [*user_names, *org_names]]
        futures += [pool.submit(_own_account, client, inventory) for client in reader.clients]
        for future in futures:
            future.result()
    inventory.unseen.sort()
    return inventory


def _quotas(inventory: Inventory, namespace: str, quotas: Any) -> None:
    for quota in quotas if isinstance(quotas, list) else []:
        limits = sorted((str(lim.get("type")), lim.get("limit_percent")) for lim in quota.get("limits") or [])
        inventory.add("quota", namespace, namespace, limit_bytes=quota.get("limit_bytes"), limits=limits)


def _org_details(reader: _Reader, inventory: Inventory, org: str) -> None:
    status, body = reader.get("getOrganization", orgname=org)
    teams = body.get("teams") if status == 200 and isinstance(body, dict) else None
    if isinstance(teams, dict):
        for name, team in teams.items():
            inventory.add("team", f"{org}/{name}", org, role=team.get("role"), members=team.get("member_count"))
    else:
        inventory.unseen.append(f"teams of {org} (getOrganization shows none to the superuser)")
    status, body = reader.get("getOrgRobots", orgname=org)
    if status == 200 and isinstance(body, dict):
        for robot in body.get("robots", []):
            inventory.add("robot", str(robot.get("name")), org)
    else:
        inventory.unseen.append(f"robots of {org} (getOrgRobots answered {status})")
    status, body = reader.get("getOrganizationApplications", orgname=org)
    if status == 200 and isinstance(body, dict):
        for app in body.get("applications", []):
            inventory.add("application", f"{org}:{app.get('client_id')}", org, name=app.get("name"))
    else:
        inventory.unseen.append(f"OAuth applications of {org} (getOrganizationApplications answered {status})")


def _repositories(reader: _Reader, inventory: Inventory, namespace: str) -> None:
    token: str | None = None
    for _ in range(MAX_REPO_PAGES):
        params: dict[str, Any] = {"namespace": namespace}
        if token:
            params["next_page"] = token
        status, body = reader.get("listRepos", params=params)
        if status != 200 or not isinstance(body, dict):
            inventory.unseen.append(f"repositories of {namespace} (listRepos answered {status})")
            return
        for repo in body.get("repositories", []):
            inventory.add("repo", f"{namespace}/{repo.get('name')}", namespace, public=repo.get("is_public"))
        token = body.get("next_page") if isinstance(body.get("next_page"), str) else None
        if not token:
            return
    inventory.unseen.append(f"repositories of {namespace} beyond {MAX_REPO_PAGES} pages")


def _own_account(client: QuayClient, inventory: Inventory) -> None:
    """The robots and app-specific tokens of a superuser's own account (no API lists another user's)."""
    status, me = _body(client, "getLoggedInUser")
    name = str(me.get("username")) if status == 200 and isinstance(me, dict) else ""
    if not name:
        inventory.unseen.append(f"the account of {client.name} (getLoggedInUser answered {status})")
        return
    status, body = _body(client, "getUserRobots")
    if status == 200 and isinstance(body, dict):
        for robot in body.get("robots", []):
            inventory.add("robot", str(robot.get("name")), name)
    if "listAppTokens" in client.catalog:
        status, body = _body(client, "listAppTokens")
        if status == 200 and isinstance(body, dict):
            for token in body.get("tokens", []):
                inventory.add("apptoken", f"{name}:{token.get('uuid')}", name, title=token.get("title"))


@dataclass
class InventoryDiff:
    """Before against after, split by whose the items are."""

    added_outside: list[Item] = field(default_factory=list)
    removed_outside: list[Item] = field(default_factory=list)
    changed_outside: list[tuple[Item, Item]] = field(default_factory=list)
    left_inside: list[Item] = field(default_factory=list)  # the run's own items still there

    @property
    def clean(self) -> bool:
        return not (self.added_outside or self.removed_outside or self.changed_outside or self.left_inside)

    def lines(self) -> list[str]:
        out = [f"outside the prefix, new: {i.describe()}" for i in self.added_outside]
        out += [f"outside the prefix, gone: {i.describe()}" for i in self.removed_outside]
        out += [f"outside the prefix, changed: {a.kind} {a.name} {a.state} -> {b.state}"
                for a, b in self.changed_outside]
        out += [f"left behind by the run: {i.describe()}" for i in self.left_inside]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"clean": self.clean, "differences": self.lines()}


def compare(before: Inventory, after: Inventory, owned: Callable[[str], bool]) -> InventoryDiff:
    """`owned(name)`: does a namespace or object name belong to the run (its prefix)?"""
    diff = InventoryDiff()

    def ours(item: Item) -> bool:
        return owned(item.namespace) or owned(item.name.split("+", 1)[-1].split("/", 1)[-1].split(":", 1)[0])

    for key, item in sorted(after.items.items()):
        if ours(item):
            diff.left_inside.append(item)
        elif key not in before.items:
            diff.added_outside.append(item)
        elif before.items[key].state != item.state:
            diff.changed_outside.append((before.items[key], item))
    for key, item in sorted(before.items.items()):
        if key not in after.items and not ours(item):
            diff.removed_outside.append(item)
    return diff


def summarize(items: Iterable[Item]) -> str:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    return ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(counts.items())) or "nothing"
