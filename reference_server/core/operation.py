"""The one declaration per API operation. Routing, enforcement, validation and discovery all read it."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from reference_server.auth.scopes import RepoRole, Scope, TeamRole, UserRole

JsonSchema = dict[str, Any]

_PLACEHOLDER = re.compile(r"{(\w+)}")


# ---- permissions: what the pipeline checks before (or after) validation -----------------------------


@dataclass(frozen=True)
class Anyone:
    """No check at all (public data, or the handler refines the answer itself)."""


@dataclass(frozen=True)
class SignedIn:
    """Any user acting on their own account, with at least `role` on it after the scope cap."""

    role: UserRole = UserRole.ADMIN


@dataclass(frozen=True)
class RepoPermission:
    """A role on the `{repository}` of the path. Public repositories satisfy READ for everyone."""

    role: RepoRole
    global_readonly: bool = False  # the global read-only superuser passes too
    full_access: bool = True  # superusers with FEATURE_SUPERUSERS_FULL_ACCESS pass too


@dataclass(frozen=True)
class OrgPermission:
    """A team role in the organization named by `param` (a user is admin of their own namespace)."""

    role: TeamRole
    global_readonly: bool = False
    full_access: bool = True
    param: str = "orgname"


@dataclass(frozen=True)
class SuperuserPermission:
    global_readonly: bool = False
    full_access_only: bool = False  # plain superusers are refused; SU with full access (or GRO) pass


@dataclass(frozen=True)
class HandlerChecks:
    """The handler enforces access itself (Quay checks inside the handler here); the reason is stated."""

    reason: str


Permission = Anyone | SignedIn | RepoPermission | OrgPermission | SuperuserPermission | HandlerChecks


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    type: str = "string"  # swagger 2.0 primitive type
    location: Literal["path", "query"] = "path"
    required: bool = False
    default: Any = None
    enum: tuple[str, ...] | None = None


Handler = Callable[..., Any]


@dataclass(frozen=True)
class Body:
    """A named draft-4 JSON schema for the request body; `name` becomes the discovery definition."""

    name: str
    schema: JsonSchema
    required: bool = True


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    tag: str
    description: str
    handler: Handler
    scope: Scope | None
    permission: Permission
    params: tuple[Param, ...] = ()
    body: Body | None = None
    success: int = 200
    internal: bool = False
    feature: str | None = None
    order: Literal["permission-first", "validate-first"] = "permission-first"
    fresh_login: bool = False
    # Extra status codes this operation documents (besides success and the common 400/401/403/404).
    other_statuses: tuple[int, ...] = ()
    # Quay's CSRF exemption (POST /api/v1/bootstrap/renew with a bearer token).
    csrf_exempt: bool = False
    # Checks Quay's decorators make after the permission check and before the body is validated
    # (disallow_for_non_normal_repositories, disallow_for_user_namespace): each takes the Ctx and raises.
    guards: tuple[Callable[[Any], None], ...] = ()
    # Web endpoints outside the API blueprint (csrf_token, OAuth, user/initialize): routed and enforced
    # the same way, but absent from discovery and sent without the API's CORS headers.
    web: bool = False
    # The body is an HTML form (OAuth authorizeapp) rather than JSON.
    form_body: bool = False
    # Runs in a worker thread (read-only operations whose queries can take long on big data), off the event loop.
    offload: bool = False
    # A 200 answer may be kept whole and sent again for the same path, query and credentials, until the next
    # write or the handler's Reply.shared_until_ms. Only for GETs whose answer depends on nothing else (no host,
    # no clock beyond that instant) and that write nothing (no audit entry).
    shared_response: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"{self.method} {self.path} ({self.operation_id})"
        if self.method not in {"GET", "POST", "PUT", "DELETE"}:
            raise ValueError(f"{where}: unsupported method")
        placeholders = _PLACEHOLDER.findall(self.path)
        path_params = [p.name for p in self.params if p.location == "path"]
        if sorted(placeholders) != sorted(path_params):
            raise ValueError(f"{where}: placeholders {placeholders} != path params {path_params}")
        if not self.web and self.tag == "":
            raise ValueError(f"{where}: API operations need a discovery tag")
        if not self.description or not self.description.endswith("."):
            raise ValueError(f"{where}: description must be one plain sentence")
        if self.scope is None and not isinstance(self.permission, Anyone | HandlerChecks) and \
                not self.extra.get("no_scope_metadata"):
            raise ValueError(f"{where}: a guarded operation must declare its OAuth scope")
        if self.offload and self.method != "GET":
            raise ValueError(f"{where}: only read-only operations may run in a worker thread")
        if self.shared_response and self.method != "GET":
            raise ValueError(f"{where}: only read-only operations may share their answers")
        if isinstance(self.permission, RepoPermission) and "repository" not in placeholders:
            raise ValueError(f"{where}: RepoPermission needs a {{repository}} placeholder")
        if isinstance(self.permission, OrgPermission) and self.permission.param not in placeholders:
            raise ValueError(f"{where}: OrgPermission needs a {{{self.permission.param}}} placeholder")
        # The handler takes the request context plus exactly the path parameters, by name.
        sig = inspect.signature(self.handler)
        names = list(sig.parameters)
        if not names or names[0] != "ctx" or sorted(names[1:]) != sorted(placeholders):
            raise ValueError(f"{where}: handler {self.handler.__name__}{sig} must take (ctx, {placeholders})")

    # Derived once per operation: request validation reads them on every request.
    @cached_property
    def query_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.location == "query")

    @cached_property
    def query_param_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.query_params)


def path_param(name: str, description: str) -> Param:
    return Param(name=name, description=description, location="path", required=True)


def query_param(name: str, description: str, type: str = "string", default: Any = None,
                required: bool = False, enum: tuple[str, ...] | None = None) -> Param:
    return Param(name=name, description=description, type=type, location="query",
                 default=default, required=required, enum=enum)


REPOSITORY = path_param("repository", "The full path of the repository, namespace/name.")
ORGNAME = path_param("orgname", "The name of the organization.")

# The admin-level checks most areas share, with and without the global read-only superuser (GRO) for reads.
ORG_ADMIN = OrgPermission(TeamRole.ADMIN)
ORG_ADMIN_OR_GRO = OrgPermission(TeamRole.ADMIN, global_readonly=True)
REPO_ADMIN = RepoPermission(RepoRole.ADMIN)
REPO_ADMIN_OR_GRO = RepoPermission(RepoRole.ADMIN, global_readonly=True)
