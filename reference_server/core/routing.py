"""Path -> operations. Static paths resolve by dict lookup; templated ones by regex, most specific first."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from reference_server.core.operation import Operation

# `{repository}` is Quay's repository-path converter (namespace/name, nested names allowed);
# `{repopath}`-style params never appear elsewhere, so every other placeholder is one segment.
_CONVERTERS = {"repository": r"[^/]+(?:/[^/]+)+"}
_PLACEHOLDER = re.compile(r"{(\w+)}")
_BUCKET_DEPTH = 3  # "/api/v1/<area>"
_RECENT_PATHS = 10_000


@dataclass
class Route:
    template: str
    regex: re.Pattern[str] | None
    operations: dict[str, Operation] = field(default_factory=dict)

    @property
    def allow(self) -> str:
        return ", ".join(sorted({*self.operations, "OPTIONS"} | ({"HEAD"} if "GET" in self.operations else set())))

    @property
    def is_api(self) -> bool:
        """API routes answer with CORS headers; the web endpoints (csrf_token, OAuth) do not."""
        return not any(op.web for op in self.operations.values())


def _compile(template: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        out.append(re.escape(template[pos:m.start()]))
        name = m.group(1)
        out.append(f"(?P<{name}>{_CONVERTERS.get(name, '[^/]+')})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("^" + "".join(out) + "$")


def _specificity(template: str) -> tuple[int, int]:
    static = _PLACEHOLDER.sub("", template)
    return (-static.count("/"), -len(static))


class Router:
    def __init__(self, operations: list[Operation]) -> None:
        routes: dict[str, Route] = {}
        for op in operations:
            route = routes.get(op.path)
            if route is None:
                route = routes[op.path] = Route(op.path, None if "{" not in op.path else _compile(op.path))
            if op.method in route.operations:
                raise ValueError(f"two operations for {op.method} {op.path}")
            route.operations[op.method] = op
        self.static = {p: r for p, r in routes.items() if r.regex is None}
        self.dynamic = sorted((r for r in routes.values() if r.regex is not None),
                              key=lambda r: _specificity(r.template))
        # Templated routes bucketed by their first path segments (when those are static), so a request tries
        # only the few routes that can match rather than every templated route.
        self._buckets: dict[tuple[str, ...], list[Route]] = {}
        self._loose: list[Route] = []
        for route in self.dynamic:
            head = tuple(route.template.split("/")[1:_BUCKET_DEPTH + 1])
            if len(head) == _BUCKET_DEPTH and not any("{" in part for part in head):
                self._buckets.setdefault(head, []).append(route)
            else:
                self._loose.append(route)
        self.routes = list(routes.values())
        self._recent: dict[str, tuple[Route, dict[str, str]]] = {}

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        route = self.static.get(path)
        if route is not None:
            return route, {}
        # Clients repeat the same paths (a load test hammers a handful): remember recent answers.
        known = self._recent.get(path)
        if known is not None:
            return known[0], dict(known[1])
        found = self._match(path)
        if found is not None:
            if len(self._recent) >= _RECENT_PATHS:
                self._recent.clear()
            self._recent[path] = found
            return found[0], dict(found[1])
        return None

    def _match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        head = tuple(path.split("/", _BUCKET_DEPTH + 1)[1:_BUCKET_DEPTH + 1])
        for candidates in (self._buckets.get(head, ()), self._loose):
            for route in candidates:
                assert route.regex is not None
                m = route.regex.match(path)
                if m:
                    return route, m.groupdict()
        return None
