"""QuayClient: one httpx client per identity, calling operations by operationId through the catalog."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from harness.catalog import Catalog
from harness.reporting.recorder import OPERATION_EXTENSION, Recorder, seeding

# Operation ids called during the current test (outside seeding). The pytest plugin reads and resets it; a
# list guarded by a lock rather than a context variable because fixtures and tests run in different contexts.
_called_lock = threading.Lock()
_called: list[str] = []


def take_called_operations() -> list[str]:
    with _called_lock:
        out = list(dict.fromkeys(_called))
        _called.clear()
    return out


class QuayClient:
    """`call("changeTag", repository="ns/r", tag="v1", json={...})` -> httpx.Response. `.http` is the underlying
    httpx.Client for endpoints outside the catalog (/csrf_token, /oauth/..., /v2/...)."""

    def __init__(self, base_url: str, auth: httpx.Auth | None, catalog: Catalog, recorder: Recorder | None = None,
                 *, transport: httpx.BaseTransport | None = None, timeout: float = 30.0, verify: bool = True,
                 name: str = "anonymous") -> None:
        self.base_url = base_url.rstrip("/")
        self.catalog = catalog
        self.name = name
        self.auth = auth
        self.http = httpx.Client(base_url=self.base_url, auth=auth, transport=transport, timeout=timeout,
                                 verify=verify, event_hooks=recorder.hooks() if recorder else None,
                                 follow_redirects=False)

    def __repr__(self) -> str:
        return f"QuayClient({self.name!r} at {self.base_url})"

    def call(self, operation_id: str, *, json: Any = None, params: dict[str, Any] | None = None,
             data: Any = None, headers: dict[str, str] | None = None, content: bytes | str | None = None,
             **path_params: Any) -> httpx.Response:
        method, path = self.catalog.resolve(operation_id, **path_params)
        if not seeding.get():
            with _called_lock:
                _called.append(operation_id)
        return self.http.request(method, path, json=json, params=params, data=data, headers=headers,
                                 content=content, extensions={OPERATION_EXTENSION: operation_id})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> QuayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
