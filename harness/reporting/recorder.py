"""Redacted capture of every HTTP exchange, as httpx event hooks. Sinks (Allure, the per-test transcript) see
only redacted data."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.reporting.redact import redact_body, redact_headers, redact_url

OPERATION_EXTENSION = "qh_operation"
# Set while the World seeds data, so setup calls are not counted as operations a test checked.
seeding: contextvars.ContextVar[bool] = contextvars.ContextVar("seeding", default=False)


@dataclass(frozen=True)
class Exchange:
    method: str
    url: str
    status: int
    operation_id: str | None
    request_headers: dict[str, str]
    request_body: str
    response_headers: dict[str, str]
    response_body: str
    elapsed_ms: float
    seeding: bool

    @property
    def title(self) -> str:
        op = f"{self.operation_id} " if self.operation_id else ""
        return f"{op}{self.method} {self.url} -> {self.status}"

    def render(self) -> str:
        lines = [f"> {self.method} {self.url}"]
        lines += [f"> {k}: {v}" for k, v in self.request_headers.items()]
        if self.request_body:
            lines.append(f"> {self.request_body}")
        lines.append(f"< HTTP {self.status} ({self.elapsed_ms:.0f} ms)")
        lines += [f"< {k}: {v}" for k, v in self.response_headers.items()]
        if self.response_body:
            lines.append(f"< {self.response_body}")
        return "\n".join(lines)


Sink = Callable[[Exchange], None]


@dataclass
class Recorder:
    """Attach with `httpx.Client(event_hooks=recorder.hooks())`. Keeps the latest exchanges (for failure
    descriptions) and forwards each one to the registered sinks."""

    body_limit: int = 4000
    keep: int = 50
    sinks: list[Sink] = field(default_factory=list)
    _recent: list[Exchange] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return {"response": [self._on_response]}

    def _on_response(self, response: httpx.Response) -> None:
        request = response.request
        response.read()
        elapsed = response.elapsed.total_seconds() * 1000 if _has_elapsed(response) else 0.0
        exchange = Exchange(
            method=request.method,
            url=redact_url(str(request.url)),
            status=response.status_code,
            operation_id=request.extensions.get(OPERATION_EXTENSION),
            request_headers=redact_headers(request.headers),
            request_body=redact_body(request.content, request.headers.get("content-type", ""), self.body_limit),
            response_headers=redact_headers(response.headers),
            response_body=redact_body(response.content, response.headers.get("content-type", ""),
                                      self.body_limit),
            elapsed_ms=elapsed,
            seeding=seeding.get(),
        )
        with self._lock:
            self._recent.append(exchange)
            del self._recent[:-self.keep]
        for sink in list(self.sinks):
            sink(exchange)

    def recent(self) -> list[Exchange]:
        with self._lock:
            return list(self._recent)

    def clear(self) -> None:
        with self._lock:
            self._recent.clear()


def _has_elapsed(response: httpx.Response) -> bool:
    # `elapsed` is only set once the response is closed; reading it earlier raises RuntimeError.
    try:
        response.elapsed  # noqa: B018
    except RuntimeError:
        return False
    return True
