"""The target's own discovery document as data: operationId -> method, path template, scope, parameters.
No test writes a URL by hand; a target that lacks an operation simply has no entry."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import httpx

from harness.errors import HarnessError, UnknownOperation

DISCOVERY_PATH = "/api/v1/discovery"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass(frozen=True)
class Param:
    name: str
    location: str  # path | query | body
    required: bool
    type: str | None


@dataclass(frozen=True)
class OperationInfo:
    operation_id: str
    method: str  # upper case
    path: str  # template, e.g. /api/v1/repository/{repository}/tag/{tag}
    scopes: tuple[str, ...]  # the OAuth scopes discovery documents for it (empty = none)
    params: tuple[Param, ...]
    internal: bool
    area: str  # the first discovery tag: Quay's API area ("repository", "tag" ...)
    fresh_login: bool

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.location == "path")

    @property
    def scope(self) -> str | None:
        return self.scopes[0] if self.scopes else None


def _params(raw: Any) -> list[Param]:
    out = []
    for p in raw or []:
        if isinstance(p, dict) and "name" in p:
            out.append(Param(str(p["name"]), str(p.get("in", "")), bool(p.get("required", False)), p.get("type")))
    return out


class Catalog(Mapping[str, OperationInfo]):
    """A read-only mapping operationId -> OperationInfo, plus URL building."""

    def __init__(self, document: dict[str, Any]) -> None:
        if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
            raise HarnessError("the discovery document has no 'paths' object")
        self.document = document
        self._ops: dict[str, OperationInfo] = {}
        self._matchers: dict[str, list[tuple[re.Pattern[str], OperationInfo]]] | None = None
        for path, entry in document["paths"].items():
            if not isinstance(entry, dict):
                continue
            shared = _params(entry.get("parameters"))
            for method in _METHODS:
                op = entry.get(method)
                if not isinstance(op, dict) or "operationId" not in op:
                    continue
                own = _params(op.get("parameters"))
                names = {(p.name, p.location) for p in own}
                params = tuple(own + [p for p in shared if (p.name, p.location) not in names])
                scopes: list[str] = []
                for requirement in op.get("security") or []:
                    scopes.extend((requirement or {}).get("oauth2_implicit", []))
                tags = op.get("tags") or [entry.get("x-tag", "")]
                info = OperationInfo(str(op["operationId"]), method.upper(), str(path), tuple(scopes), params,
                                     bool(op.get("x-internal", False)), str(tags[0] if tags else ""),
                                     bool(op.get("x-requires-fresh-login", False)))
                self._ops[info.operation_id] = info

    @classmethod
    def from_target(cls, http: httpx.Client) -> Catalog:
        """Read GET /api/v1/discovery?internal=true from the target (anonymous: discovery is public)."""
        try:
            response = http.get(DISCOVERY_PATH, params={"internal": "true"})
        except httpx.HTTPError as exc:
            raise HarnessError(f"cannot reach the target for its discovery document: {exc}") from None
        if response.status_code != 200:
            raise HarnessError(f"GET {DISCOVERY_PATH}?internal=true answered {response.status_code}; "
                               "is this a Quay API?")
        try:
            document = response.json()
        except ValueError:
            raise HarnessError(f"GET {DISCOVERY_PATH} did not answer JSON") from None
        return cls(document)

    # -- Mapping ---------------------------------------------------------------------------------------------
    def __getitem__(self, operation_id: str) -> OperationInfo:
        try:
            return self._ops[operation_id]
        except KeyError:
            raise UnknownOperation(operation_id) from None

    def __contains__(self, operation_id: object) -> bool:
        return operation_id in self._ops

    def __iter__(self) -> Iterator[str]:
        return iter(self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    # -- queries -----------------------------------------------------------------------------------------------
    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope the target offers (securityDefinitions.oauth2_implicit.scopes)."""
        definitions = self.document.get("securityDefinitions", {}).get("oauth2_implicit", {})
        return tuple(definitions.get("scopes", {}))

    def area_of(self, operation_id: str) -> str | None:
        info = self._ops.get(operation_id)
        return info.area if info else None

    def match(self, method: str, path: str) -> tuple[OperationInfo, dict[str, str]] | None:
        """The operation a concrete request is for, and its path parameters (URL-decoded): the reverse of
        `resolve`. When several templates fit, the one with the most literal text wins."""
        if self._matchers is None:
            self._matchers = _build_matchers(self._ops.values())
        for pattern, info in self._matchers.get(method.upper(), ()):
            found = pattern.match(path)
            if found:
                return info, {name: unquote(value) for name, value in found.groupdict().items()}
        return None

    def resolve(self, operation_id: str, **path_params: Any) -> tuple[str, str]:
        """(method, path) with the placeholders filled. `repository` is inserted raw because it is "ns/name"
        (Quay's path converter takes the slash); every other value is URL-quoted."""
        info = self[operation_id]
        wanted = set(info.path_params) | _placeholders(info.path)
        missing = sorted(wanted - set(path_params))
        extra = sorted(set(path_params) - wanted)
        if missing or extra:
            raise HarnessError(f"{operation_id} ({info.method} {info.path}) needs path parameters "
                               f"{sorted(wanted)}; missing {missing}, unexpected {extra}")
        path = info.path
        for name, value in path_params.items():
            text = str(value)
            path = path.replace("{" + name + "}", text if name == "repository" else quote(text, safe=""))
        return info.method, path


def _placeholders(template: str) -> set[str]:
    out: set[str] = set()
    rest = template
    while "{" in rest:
        start = rest.index("{")
        end = rest.index("}", start)
        out.add(rest[start + 1:end])
        rest = rest[end + 1:]
    return out


def _build_matchers(ops: Iterable[OperationInfo]) -> dict[str, list[tuple[re.Pattern[str], OperationInfo]]]:
    """One anchored regex per template. `{repository}` is "namespace/name" and may hold further slashes (Quay's
    extended repository names); every other placeholder is one path segment."""
    by_method: dict[str, list[tuple[int, re.Pattern[str], OperationInfo]]] = {}
    for info in ops:
        parts: list[str] = []
        literal = 0
        for piece in re.split(r"(\{[^}]+\})", info.path):
            if piece.startswith("{") and piece.endswith("}"):
                name = piece[1:-1]
                if not name.isidentifier():
                    break  # a placeholder no regex group can carry: this template is matched by nobody
                parts.append(f"(?P<{name}>[^/]+(?:/[^/]+)+?)" if name == "repository" else f"(?P<{name}>[^/]+)")
            else:
                literal += len(piece)
                parts.append(re.escape(piece))
        else:
            by_method.setdefault(info.method, []).append((literal, re.compile("^" + "".join(parts) + "$"), info))
    return {method: [(pattern, info) for _, pattern, info in sorted(found, key=lambda t: -t[0])]
            for method, found in by_method.items()}
