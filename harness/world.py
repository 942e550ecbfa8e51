"""Declarative seeding on a target under a run-unique prefix, journaled so cleanup always happens.

Everything a World creates is named `<prefix><kind><n>` (prefix = "qh" + run id + worker, e.g. "qh5f3a9c1e2w0"),
recorded in the journal before the test sees it, and removed in reverse order when the World closes (fixture
teardown, atexit, or `quay-harness cleanup --run-id` replaying the journal). It never deletes anything it did
not create: every deletion comes from a journal entry.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.audit.ledger import Ledger
from harness.audit.verify import LogReader, PagedLogReader, SuperuserLogReader, Verifier
from harness.auth import ALL_SCOPES, USER_PATH, BearerAuth, SessionAuth, mint_token
from harness.catalog import Catalog
from harness.checks import TargetMismatch, expect
from harness.client import QuayClient
from harness.config import HarnessConfig
from harness.errors import AuthError, ConfigError, HarnessError, MissingCredential
from harness.journal import Entry, Journal, pending_entries
from harness.oci import RegistryClient
from harness.profile import TargetProfile, build_profile, read_config
from harness.reporting.recorder import Recorder, seeding
from harness.reporting.redact import register_secret
from harness.tracking import CreationTracker
from harness.transport import make_transport

log = logging.getLogger("harness.world")
OWNERS_TEAM = "owners"  # Quay creates it with every organization, holding the creator, role admin
_UNDO_OK = frozenset({200, 201, 202, 204, 404})
# Quay answers 400 (DataModelException) rather than 404 for an unknown robot or permission row.
_UNDO_GONE_400 = frozenset({"robot", "grant", "membership"})


@contextmanager
def _seeding() -> Iterator[None]:
    token = seeding.set(True)
    try:
        yield
    finally:
        seeding.reset(token)


@dataclass(frozen=True)
class Robot:
    name: str  # "namespace+short"
    namespace: str
    short: str
    token: str = field(repr=False)


class Persona:
    """A user on the target. `client(scopes)` is a bearer-token client minted for exactly those scopes (None = all
    eight); `session()` signs in with the password (session cookie + CSRF); `registry_login()` is what /v2/auth
    takes for it."""

    def __init__(self, target: Target, name: str, password: str | None, token: str | None = None) -> None:
        register_secret(password)
        register_secret(token)
        self.target = target
        self.name = name
        self.password = password
        self.configured_token = token  # an all-scopes token from the configuration (the superuser's)
        self._tokens: dict[frozenset[str], str] = {}
        if token is not None:
            self._tokens[frozenset(ALL_SCOPES)] = token
        self._clients: dict[frozenset[str], QuayClient] = {}
        self._session: QuayClient | None = None
        target.personas[name] = self

    def __repr__(self) -> str:
        return f"Persona({self.name!r})"

    def __str__(self) -> str:
        return self.name

    def session(self) -> QuayClient:
        if self._session is None:
            if self.password is None:
                raise MissingCredential(f"{self.name}'s password is not configured, so the run cannot sign in as "
                                        f"{self.name}")
            self._session = self.target.make_client(SessionAuth(self.name, self.password), f"{self.name}[session]",
                                                    identity=self.name)
        return self._session

    def token(self, scopes: Iterable[str] | None = None) -> str:
        """A bearer token holding exactly `scopes` (None = all eight), minted once and kept."""
        key = frozenset(ALL_SCOPES if scopes is None else scopes)
        if key not in self._tokens:
            self._tokens[key] = self.target.mint(self, sorted(key))
        return self._tokens[key]

    def minted(self, scopes: Iterable[str] | None = None) -> str | None:
        """The token holding exactly `scopes` if the run has it already (never mints one)."""
        return self._tokens.get(frozenset(ALL_SCOPES if scopes is None else scopes))

    def client(self, scopes: Iterable[str] | None = None) -> QuayClient:
        key = frozenset(ALL_SCOPES if scopes is None else scopes)
        if key not in self._clients:
            token = self.token(key)
            label = "all scopes" if key == frozenset(ALL_SCOPES) else " ".join(sorted(key))
            self._clients[key] = self.target.make_client(BearerAuth(token), f"{self.name}[{label}]",
                                                         identity=self.name)
        return self._clients[key]

    def registry_login(self) -> tuple[str, str]:
        """(username, secret) for /v2/auth: the password, or Quay's `$oauthtoken` with an all-scopes token."""
        if self.password is not None:
            return self.name, self.password
        return "$oauthtoken", self.token()


class Target:
    """One connection to a target for a process (an xdist worker): catalog, profile, admin and anonymous clients,
    the name counter, the journal, the OAuth application used to mint persona tokens, and the audit ledger that
    every client reports its successful mutating calls to (verified against the target's logs by the pytest
    plugin).

    The superuser always calls the API with a bearer token: the configured one, or with only a password one minted
    through the run's OAuth application, so both ways of configuring it behave the same."""

    def __init__(self, config: HarnessConfig, base_url: str, catalog: Catalog, *, worker: str | None = None,
                 recorder: Recorder | None = None, transport: httpx.BaseTransport | None = None,
                 profile: TargetProfile | None = None) -> None:
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.catalog = catalog
        self.recorder = recorder or Recorder()
        self.transport = transport
        self.prefix = config.worker_prefix(worker)
        self.run_prefix = config.namespace_prefix + config.run_id  # every worker's names start with it
        # ... followed by the worker's tag ("m", "w0", "w1" ...), so run "r6" does not claim run "r61"'s names.
        self._owned = re.compile(re.escape(self.run_prefix) + r"(?:m|w\d+)")
        self.profile = profile or build_profile(
            catalog, None, {"username": config.username or config.superuser_name},
            full_access_setting=config.superusers_full_access, readonly_superuser=config.readonly_username)
        # One TLS context for every client of this target: building one loads the CA bundle (about 20 ms), and
        # the suites make a client per persona and scope, hundreds per run.
        self.tls = httpx.create_ssl_context(verify=config.verify_tls)
        self.journal = Journal(config.run_dir / f"journal-{self.prefix}.jsonl")
        self._counter = itertools.count(1)
        self._clients: list[QuayClient] = []
        self._raw: dict[str, QuayClient] = {}
        self._lock = threading.RLock()
        self.personas: dict[str, Persona] = {}
        self.tracker = CreationTracker(self)
        self.audit = Ledger(catalog)
        if config.audit_log_check:
            # A client without hooks: reading the logs must never be recorded, nor reenter a hooked client.
            reader, _ = self.inventory_clients()
            self.audit.verify = Verifier(SuperuserLogReader(reader), retry_s=config.audit_log_retry_s,
                                         namespace_logs=self._namespace_log_readers)
        self.anon = self.make_client(None, "anonymous")
        self.admin_persona = Persona(self, self._admin_name,
                                     config.password.get_secret_value() if config.password else None,
                                     config.token.get_secret_value() if config.token else None)
        self._oauth: tuple[str, str, str] | None = None  # (org, client_id, redirect_uri)
        self._readonly: Persona | None = None
        self._oauth_world: World | None = None

    @classmethod
    def connect(cls, config: HarnessConfig, *, worker: str | None = None, recorder: Recorder | None = None,
                transport: httpx.BaseTransport | None = None) -> Target:
        """Read the target's discovery and profile, and ask it who the configured credentials belong to."""
        if config.target_url is None:
            raise ConfigError("no target URL: set QH_TARGET_URL or let the harness start the reference server")
        tls = httpx.create_ssl_context(verify=config.verify_tls)
        with httpx.Client(base_url=config.target_url, transport=make_transport(tls, transport),
                          timeout=config.request_timeout) as http:
            catalog = Catalog.from_target(http)
            site_config = read_config(http)
            user_view = whoami(http, _admin_auth(config))
        name = str(user_view.get("username") or "")
        if config.username and name != config.username:
            raise ConfigError(f"the target says the configured credentials belong to {name!r}, not "
                              f"{config.username!r}")
        profile = build_profile(catalog, site_config, user_view, full_access_setting=config.superusers_full_access,
                                readonly_superuser=config.readonly_username if config.readonly_password else None)
        return cls(config, config.target_url, catalog, worker=worker, recorder=recorder, transport=transport,
                   profile=profile)

    @property
    def _admin_name(self) -> str:
        return self.profile.superuser or self.config.username or self.config.superuser_name

    def _admin_auth(self) -> httpx.Auth:
        return _admin_auth(self.config)

    @property
    def admin(self) -> QuayClient:
        return self.admin_persona.client()

    def _raw_client(self, auth: httpx.Auth, name: str) -> QuayClient:
        """A client without hooks (nothing recorded, nothing journaled): for reading what exists and the logs."""
        with self._lock:
            if name not in self._raw:
                self._raw[name] = QuayClient(self.base_url, auth, self.catalog, transport=self.transport,
                                             timeout=self.config.request_timeout, verify=self.tls, name=name)
                self._clients.append(self._raw[name])
            return self._raw[name]

    def inventory_clients(self) -> tuple[QuayClient, QuayClient | None]:
        """Clients that read what exists without creating anything first (no token minting, no hooks): the
        superuser with its configured credentials, and the global read-only superuser when one is configured."""
        readonly = None
        if self.config.readonly_username and self.config.readonly_password:
            readonly = self._raw_client(SessionAuth(self.config.readonly_username,
                                                    self.config.readonly_password.get_secret_value()),
                                        "readonly[read]")
        return self._raw_client(self._admin_auth(), "admin[read]"), readonly

    def _namespace_log_readers(self, namespace: str, caller: str | None) -> list[LogReader]:
        """Who may read one namespace's own log listing: a user namespace of the run only its owner (listUserLogs);
        an organization its admins (the caller, when its all-scopes token exists already), the global read-only
        superuser, and the superuser with full access (listOrgLogs)."""
        owner = self.personas.get(namespace)
        if owner is not None:
            token = owner.minted()
            if token is None:
                return []
            return [PagedLogReader(self._raw_client(BearerAuth(token), f"{namespace}[logs]"), "listUserLogs",
                                   who=namespace)]
        readers: list[LogReader] = []
        acting = self.personas.get(caller or "")
        token = acting.minted() if acting is not None else None
        if acting is not None and token is not None:
            readers.append(PagedLogReader(self._raw_client(BearerAuth(token), f"{acting.name}[logs]"), "listOrgLogs",
                                          who=acting.name, orgname=namespace))
        admin, readonly = self.inventory_clients()
        for client, who in ((readonly, self.config.readonly_username), (admin, self._admin_name)):
            if client is not None:
                readers.append(PagedLogReader(client, "listOrgLogs", who=str(who), orgname=namespace))
        return readers

    def _bootstrap_client(self) -> QuayClient:
        """The superuser before it has a token of the run's own making: its configured token, or its session."""
        admin = self.admin_persona
        return admin.client() if admin.configured_token else admin.session()

    def global_readonly_persona(self) -> Persona | None:
        """The target's global read-only superuser, when the configuration names one (None: not configured)."""
        if self._readonly is None and self.config.readonly_username and self.config.readonly_password:
            self._readonly = Persona(self, self.config.readonly_username,
                                     self.config.readonly_password.get_secret_value())
        return self._readonly

    def make_client(self, auth: httpx.Auth | None, name: str, *, identity: str | None = None) -> QuayClient:
        """A client of this target. `identity`: the username the credentials belong to (a session knows its own);
        without it the audit check leaves the performer of this client's calls unchecked."""
        if identity is None and isinstance(auth, SessionAuth):
            identity = auth.username
        client = QuayClient(self.base_url, auth, self.catalog, self.recorder, transport=self.transport,
                            timeout=self.config.request_timeout, verify=self.tls, name=name,
                            identity=identity, ledger=self.audit, on_response=[self.tracker.observe])
        self._clients.append(client)
        return client

    def registry_client(self, username: str | None, password: str | None, *, record: bool = True) -> RegistryClient:
        """A /v2 client of this target, closed by its caller. `record=False` for image set-up that the reports
        need not show."""
        return RegistryClient(self.base_url, username, password, transport=make_transport(self.tls, self.transport),
                              recorder=self.recorder if record else None, timeout=self.config.registry_timeout,
                              verify=self.tls)

    def next_name(self, kind: str) -> str:
        return f"{self.prefix}{kind}{next(self._counter)}"

    def owns(self, name: str) -> bool:
        """Does this name (a namespace, or "namespace/repo", "namespace+robot") belong to this run?"""
        return self._owned.match(name) is not None

    def world(self) -> World:
        return World(self)

    # -- token minting --------------------------------------------------------------------------------------
    def _oauth_app(self) -> tuple[str, str, str]:
        """The per-run organization "<prefix>oauth" and its one OAuth application, made on first use. Tokens with
        chosen scopes come from the implicit grant, and Quay lets only admins of an application's organization
        authorize it, so the personas are made owners of this org while they authorize (see `mint`)."""
        with self._lock:
            if self._oauth is None:
                boot = self._bootstrap_client()
                world = self._oauth_world = World(self)
                org = f"{self.prefix}oauth"
                redirect = f"{self.base_url}/oauth/localapp"
                with _seeding():
                    expect(boot.call("createOrganization", json={"name": org, "email": f"{org}@example.com"}), 201)
                    world.adopt_org(org, self.admin_persona)
                    answer = expect(boot.call("createOrganizationApplication", orgname=org,
                                              json={"name": f"{self.prefix}app", "redirect_uri": redirect,
                                                    "application_uri": self.base_url,
                                                    "description": "quay-harness"}), 200)
                client_id = str(answer["client_id"])
                register_secret(answer.get("client_secret"))
                self._oauth = (org, client_id, redirect)
            return self._oauth

    def mint(self, persona: Persona, scopes: list[str]) -> str:
        """A bearer token of `persona` holding exactly `scopes`: the OAuth implicit grant when the persona's
        password is known, else (the superuser configured with only a token) the organization application token
        API of Quay 3.18 and later."""
        with self._lock:
            org, client_id, redirect = self._oauth_app()
            if persona.password is None:
                return self._mint_by_api(persona, org, client_id, scopes)
            boot = self._bootstrap_client()
            member = persona.name != self.admin_persona.name
            with _seeding():
                if member:
                    _add_member(self, org, OWNERS_TEAM, persona, boot)
                try:
                    return mint_token(persona.session().http, client_id, redirect, scopes)
                finally:
                    if member:
                        # Tokens outlive the membership (Quay checks the app's org only when authorizing), and
                        # tests expect a fresh persona to belong to no organization: take it out again.
                        expect(boot.call("deleteOrganizationTeamMember", orgname=org, teamname=OWNERS_TEAM,
                                         membername=persona.name), (200, 204))

    def _mint_by_api(self, persona: Persona, org: str, client_id: str, scopes: list[str]) -> str:
        operation = "createOrganizationApplicationToken"
        if persona.configured_token is None:
            raise MissingCredential(f"{persona.name} has neither a password nor a token configured")
        if operation not in self.catalog:
            raise MissingCredential(f"a token with only {' '.join(scopes) or 'no scope'} for {persona.name} needs "
                                    f"its password (the implicit grant) or the token API of Quay 3.18 "
                                    f"({operation}), which this target lacks")
        if not scopes:
            raise AuthError(f"invalid_scope: {operation} mints no token without a scope")
        with _seeding():
            answer = expect(persona.client().call(operation, orgname=org, client_id=client_id,
                                                json={"name": f"{self.prefix} {' '.join(scopes)}",
                                                      "scope": " ".join(scopes)}), (200, 201))
        token = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(token, str):
            raise AuthError(f"{operation} answered no token")
        register_secret(token)
        return token

    def close(self) -> None:
        if self._oauth_world is not None:
            self._oauth_world.close()
            self._oauth_world = None
            self._oauth = None
        for client in self._clients:
            client.close()
        self._clients.clear()


def _admin_auth(config: HarnessConfig) -> httpx.Auth:
    if config.token is not None:
        return BearerAuth(config.token.get_secret_value())
    if config.username and config.password:
        return SessionAuth(config.username, config.password.get_secret_value())
    raise ConfigError("no superuser credentials: set QH_TOKEN, or QH_USERNAME and QH_PASSWORD")


def whoami(http: httpx.Client, auth: httpx.Auth) -> dict[str, Any]:
    """The target's user view of the configured credentials (GET /api/v1/user/); a refusal is a configuration
    error, named in one line."""
    try:
        response = http.get(USER_PATH, auth=auth)
    except AuthError as exc:
        raise ConfigError(f"the superuser credentials were refused: {exc}") from None
    except httpx.HTTPError as exc:
        raise HarnessError(f"cannot reach the target to ask who the credentials belong to: {exc}") from None
    if response.status_code in (401, 403):
        raise ConfigError(f"the superuser credentials were refused: GET {USER_PATH} answered "
                          f"{response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("username"):
        raise HarnessError(f"GET {USER_PATH} answered {response.status_code} without a username; is this Quay?")
    return body


def _add_member(target: Target, org: str, team: str, member: Persona | Robot | str,
                actor: QuayClient | None = None) -> None:
    """PUT .../members/{name} as `actor` (an admin of the org; default the superuser). With Quay's defaults
    (MAILING + REQUIRE_TEAM_INVITE) a user who is in no team of the org gets an invite instead; accept it as that
    persona through the notification that carries its code."""
    name = member.name if isinstance(member, Persona | Robot) else member
    client = actor or target.admin
    added = client.call("updateOrganizationTeamMember", orgname=org, teamname=team, membername=name)
    body = expect(added, 200)
    invited = isinstance(body, dict) and body.get("invited") is True
    if invited and not target.profile.team_invites:
        raise TargetMismatch(added, "the target's configuration says it adds users to teams directly (MAILING or "
                                    "REQUIRE_TEAM_INVITE off), yet it answered with an invite")
    if invited and isinstance(member, Persona):
        session = member.session()
        listed = session.call("listUserNotifications", params={"limit": 100})
        notes = expect(listed, 200)
        for note in (notes or {}).get("notifications", []):
            meta = note.get("metadata") or {}
            if note.get("kind") == "org_team_invite" and meta.get("org") == org and meta.get("team") == team:
                register_secret(meta.get("code"))
                expect(session.call("acceptOrganizationTeamInvite", code=meta["code"]), 200)
                return
        raise TargetMismatch(listed, f"Quay gives the invitee an org_team_invite notification carrying the code; "
                                     f"{name} has none for {org}/{team}")


class World:
    """Per-test seeding. Methods return names (or Persona / Robot) the test uses with the catalog."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._entries: list[Entry] = []
        self._personas: dict[str, Persona] = {target.admin_persona.name: target.admin_persona}
        self._owners: dict[str, Persona] = {target.admin_persona.name: target.admin_persona}
        self.cleanup_failures: list[str] = []
        _live_worlds.add(self)

    @property
    def admin(self) -> Persona:
        return self.target.admin_persona

    def _record(self, kind: str, name: str, within: str | None, undo_op: str, params: dict[str, str],
                actor: Persona, superuser_op: str | None = None) -> None:
        self._entries.append(self.target.journal.record(kind, name, within, undo_op, params, actor.name,
                                                        superuser_op))

    def _owner(self, namespace: str, as_: Persona | None) -> Persona:
        if as_ is not None:
            return as_
        try:
            return self._owners[namespace]
        except KeyError:
            raise HarnessError(f"the World does not know who administers {namespace!r}; pass as_=") from None

    # -- seeding ---------------------------------------------------------------------------------------------
    def user(self, name: str | None = None) -> Persona:
        """A new user made by the superuser (POST /api/v1/superuser/users/ answers its generated password)."""
        username = name or self.target.next_name("user")
        with _seeding():
            body = expect(self.target.admin.call("createInstallUser",
                                                 json={"username": username, "email": f"{username}@example.com"}),
                          (200, 201))
            self._record("user", username, None, "deleteInstallUser", {"username": username}, self.admin,
                         superuser_op="deleteInstallUser")
            # With FEATURE_MAILING (Quay's default) a superuser-made account is unverified and cannot sign in;
            # a superuser e-mail change verifies it (Quay's update_email(auto_verify=True)).
            expect(self.target.admin.call("changeInstallUser", username=username,
                                          json={"email": f"{username}@example.com"}), 200)
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(password, str):
            raise HarnessError(f"createInstallUser returned no password for {username}")
        persona = Persona(self.target, username, password)
        self._personas[username] = self._owners[username] = persona
        return persona

    def org(self, owner: Persona | None = None, name: str | None = None) -> str:
        """A new organization created by `owner` (default: the admin), who lands in its owners team."""
        owner = owner or self.admin
        orgname = name or self.target.next_name("org")
        with _seeding():
            expect(owner.client().call("createOrganization",
                                       json={"name": orgname, "email": f"{orgname}@example.com"}), 201)
            self._record("org", orgname, None, "deleteAdminedOrganization", {"orgname": orgname}, owner,
                         superuser_op="deleteOrganization")
        self._owners[orgname] = owner
        return orgname

    def adopt_org(self, orgname: str, owner: Persona) -> None:
        """Journal an organization made without `org()` (the run's OAuth org, made before any token exists)."""
        self._record("org", orgname, None, "deleteAdminedOrganization", {"orgname": orgname}, owner,
                     superuser_op="deleteOrganization")
        self._owners[orgname] = owner

    def team(self, org: str, name: str | None = None, role: str = "member",
             members: Iterable[Persona | Robot | str] = (), as_: Persona | None = None) -> str:
        actor = self._owner(org, as_)
        teamname = name or self.target.next_name("team")
        with _seeding():
            expect(actor.client().call("updateOrganizationTeam", orgname=org, teamname=teamname,
                                       json={"role": role, "description": ""}), 200)
            self._record("team", teamname, org, "deleteOrganizationTeam", {"orgname": org, "teamname": teamname},
                         actor)
            for member in members:
                _add_member(self.target, org, teamname, member if not isinstance(member, str)
                            else self._personas.get(member, member), actor.client())
        return teamname

    def add_member(self, org: str, team: str, member: Persona | Robot | str, as_: Persona | None = None) -> None:
        """Put `member` in an existing team as the org's admin, accepting Quay's invite as the member if one is made.
        (Membership goes with the team or org when the World deletes it.)"""
        actor = self._owner(org, as_)
        with _seeding():
            _add_member(self.target, org, team, member if not isinstance(member, str)
                        else self._personas.get(member, member), actor.client())

    def repo(self, namespace: str, name: str | None = None, visibility: str = "private",
             as_: Persona | None = None) -> str:
        """A new repository; returns "namespace/name" (what the `repository` path parameter takes)."""
        actor = self._owner(namespace, as_)
        reponame = name or self.target.next_name("repo")
        full = f"{namespace}/{reponame}"
        with _seeding():
            expect(actor.client().call("createRepo", json={"namespace": namespace, "repository": reponame,
                                                           "visibility": visibility, "description": ""}), 201)
            self._record("repo", full, namespace, "deleteRepository", {"repository": full}, actor)
        return full

    def robot(self, namespace: str, name: str | None = None, as_: Persona | None = None) -> Robot:
        actor = self._owner(namespace, as_)
        short = name or self.target.next_name("robot")
        is_user = namespace in self._personas
        with _seeding():
            if is_user:
                body = expect(actor.client().call("createUserRobot", robot_shortname=short,
                                                  json={"description": ""}), 201)
                self._record("robot", f"{namespace}+{short}", namespace, "deleteUserRobot",
                             {"robot_shortname": short}, actor)
            else:
                body = expect(actor.client().call("createOrgRobot", orgname=namespace, robot_shortname=short,
                                                  json={"description": ""}), 201)
                self._record("robot", f"{namespace}+{short}", namespace, "deleteOrgRobot",
                             {"orgname": namespace, "robot_shortname": short}, actor)
        token = str(body.get("token", "")) if isinstance(body, dict) else ""
        register_secret(token)
        return Robot(f"{namespace}+{short}", namespace, short, token)

    def grant(self, repo: str, user: Persona | Robot | str | None = None, team: str | None = None,
              role: str = "read", as_: Persona | None = None) -> None:
        if (user is None) == (team is None):
            raise HarnessError("grant() takes exactly one of user= or team=")
        actor = self._owner(repo.split("/", 1)[0], as_)
        with _seeding():
            if user is not None:
                who = user.name if isinstance(user, Persona | Robot) else user
                expect(actor.client().call("changeUserPermissions", repository=repo, username=who,
                                           json={"role": role}), 200)
                self._record("grant", f"{repo}:{who}", repo.split("/", 1)[0], "deleteUserPermissions",
                             {"repository": repo, "username": who}, actor)
            else:
                assert team is not None
                expect(actor.client().call("changeTeamPermissions", repository=repo, teamname=team,
                                           json={"role": role}), 200)
                self._record("grant", f"{repo}:team:{team}", repo.split("/", 1)[0], "deleteTeamPermissions",
                             {"repository": repo, "teamname": team}, actor)

    # -- cleanup -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Undo everything in reverse order. Failures are collected (and left pending in the journal for
        `quay-harness cleanup`), not raised: a test that deleted its own repo must not turn into an error."""
        _live_worlds.discard(self)
        entries, self._entries = self._entries, []
        clients = {name: p for name, p in self._personas.items()}
        with _seeding():
            self.cleanup_failures += undo_entries(self.target, entries, clients)

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def undo_entries(target: Target, entries: list[Entry], personas: dict[str, Persona] | None = None) -> list[str]:
    """Undo `entries` newest first and check that each namespace is really gone. Things inside a namespace this
    batch also deletes are left to that deletion. Without the creating persona (a replay in a new process), or when
    it is refused, namespaces are removed with the superuser's operation and the rest with the admin client."""
    personas = personas or {}
    namespaces = {e.name for e in entries if e.kind in ("user", "org")}
    failures: list[str] = []
    covered: dict[str, list[Entry]] = {}
    for entry in reversed(entries):
        if entry.within in namespaces:
            covered.setdefault(str(entry.within), []).append(entry)
            continue
        try:
            problem = _undo(target, entry, personas.get(entry.actor))
        except (httpx.HTTPError, HarnessError) as exc:
            problem = str(exc)
        if problem is None:
            target.journal.done(entry)
            for inner in covered.pop(entry.name, []):
                target.journal.done(inner)
        else:
            failures.append(f"{entry.kind} {entry.name}: {problem}")
    for failure in failures:
        log.warning("cleanup left behind %s", failure)
    return failures


def _undo(target: Target, entry: Entry, actor: Persona | None) -> str | None:
    """Undo one entry; None when it is gone, else what went wrong."""
    attempts: list[tuple[QuayClient, str, dict[str, Any]]] = []
    if actor is not None:
        attempts.append((actor.client(), entry.undo_op, dict(entry.undo_params)))
    if entry.superuser_op and (actor is None or entry.superuser_op != entry.undo_op):
        params: dict[str, Any] = ({"name": entry.name} if entry.superuser_op == "deleteOrganization"
                                  else dict(entry.undo_params))
        attempts.append((target.admin, entry.superuser_op, params))
    if not attempts:
        attempts.append((target.admin, entry.undo_op, dict(entry.undo_params)))
    answers = []
    for client, op, params in attempts:
        response = client.call(op, **params)
        answers.append(f"{op} answered {response.status_code}")
        done = response.status_code in _UNDO_OK or (response.status_code == 400 and entry.kind in _UNDO_GONE_400)
        if entry.kind in ("user", "org"):
            # Quay answers 204 to deleting a disabled user and keeps it, and checks admin rights before existence
            # (403 for an org a test already removed): only a lookup tells whether the namespace is gone.
            if _namespace_gone(target, entry):
                return None
            if entry.kind == "user" and done and _reenable(target, entry.name):
                again = target.admin.call("deleteInstallUser", username=entry.name)
                answers.append(f"deleteInstallUser after re-enabling answered {again.status_code}")
                if _namespace_gone(target, entry):
                    return None
            continue
        if done:
            return None
        if response.status_code not in (401, 403):
            break
    return "; ".join(answers) + ("; it still exists" if entry.kind in ("user", "org") else "")


def _namespace_gone(target: Target, entry: Entry) -> bool:
    """A deleted namespace is renamed and queued for garbage collection by Quay: its name no longer resolves."""
    if entry.kind == "user":
        lookup = target.admin.call("getInstallUser", username=entry.name)
    else:
        lookup = target.anon.call("getOrganization", orgname=entry.name)
    return lookup.status_code == 404


def _reenable(target: Target, username: str) -> bool:
    """Enable a user a test disabled, so that deleting it does something (Quay leaves disabled users alone)."""
    body = target.admin.call("getInstallUser", username=username)
    if body.status_code != 200 or not isinstance(body.json(), dict) or body.json().get("enabled") is not False:
        return False
    return target.admin.call("changeInstallUser", username=username, json={"enabled": True}).status_code == 200


def replay_journal(target: Target, path: Path) -> list[str]:
    """Undo every pending entry of a journal file (the `quay-harness cleanup` command)."""
    entries = pending_entries(path)
    journal = target.journal
    target.journal = Journal(path)
    try:
        with _seeding():
            return undo_entries(target, entries)
    finally:
        target.journal = journal


# Worlds still open when the interpreter exits (Ctrl-C outside pytest's teardown, SIGTERM turned into SystemExit)
# are cleaned up here as a last resort.
_live_worlds: set[World] = set()


@atexit.register
def _close_live_worlds() -> None:
    for world in list(_live_worlds):
        try:
            world.close()
        except Exception:
            log.exception("cleanup at exit failed")

