"""A per-process read cache for the lookups every request repeats (token owner, namespace, repository, grants).

The reference server runs one process, and every change to what is cached goes through a non-GET request or an
explicit `bump()`; the app clears the cache after each of those, so a GET never sees stale authorization data.

Some reads run in worker threads, concurrently with writes. Each bump starts a new generation, and a value is
stored only if no bump happened since its request began (`gen`): a value computed from a database snapshot older
than the last write is used once, never shared. Threads that miss the same expensive entry at once compute it
once (`get_until_once`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


class Shared(NamedTuple):
    """A whole response kept for identical requests: body and raw ASGI headers (status is always 200)."""

    body: bytes
    headers: list[tuple[bytes, bytes]]

_MAX_ENTRIES = 50_000
# Rendered responses (bytes) are the big entries; their total is bounded separately.
_MAX_BYTES = 64 * 1024 * 1024


class ReadCache:
    def __init__(self) -> None:
        self._data: dict[tuple[Any, ...], Any] = {}
        self._bytes = 0
        self.enabled = True
        self.generation = 0
        self._flights: dict[tuple[Any, ...], threading.Lock] = {}
        self._flights_lock = threading.Lock()

    def bump(self) -> None:
        self.generation += 1
        self._data.clear()
        self._bytes = 0

    def _store(self, key: tuple[Any, ...], entry: Any, value: Any, gen: int | None) -> None:
        if gen is not None and gen != self.generation:
            return  # computed from data older than the last write
        body = value.body if isinstance(value, Shared) else value
        size = len(body) if isinstance(body, bytes) else 0
        if len(self._data) >= _MAX_ENTRIES or self._bytes + size > _MAX_BYTES:
            self.bump()
        self._data[key] = entry
        self._bytes += size

    def get(self, key: tuple[Any, ...], compute: Callable[[], T], gen: int | None = None) -> T:
        if not self.enabled:
            return compute()
        try:
            return self._data[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        value = compute()
        self._store(key, value, value, gen)
        return value

    def _valid(self, key: tuple[Any, ...], now: float) -> tuple[Any, float] | None:
        """The (value, valid until) entry of `key` if it is still valid at `now`."""
        found: tuple[Any, float] | None = self._data.get(key) if self.enabled else None
        return found if found is not None and now < found[1] else None

    def get_until(self, key: tuple[Any, ...], compute: Callable[[], tuple[T, float]], now: float,
                  gen: int | None = None) -> T:
        """Like `get`, for values that also go stale with time: `compute` returns (value, valid until), and an
        entry past its time is computed again (e.g. tag lists, where a tag's expiry ends it without a write)."""
        return self.entry_until(key, compute, now, gen)[0]

    def entry_until(self, key: tuple[Any, ...], compute: Callable[[], tuple[T, float]], now: float,
                    gen: int | None = None) -> tuple[T, float]:
        """`get_until` that also tells until when the value holds."""
        found = self._valid(key, now)
        if found is not None:
            return found
        value, until = compute()
        if self.enabled:
            self._store(key, (value, until), value, gen)
        return value, until

    def share(self, key: tuple[Any, ...], response: Shared, until: float, gen: int | None) -> None:
        """Keep a whole rendered response until `until`, unless a write came since `gen` (see the app)."""
        if self.enabled:
            self._store(key, (response, until), response, gen)

    def peek_until(self, key: tuple[Any, ...], now: float) -> Any | None:
        """The value of a `get_until` entry still valid at `now`, or None; never computes."""
        found = self._valid(key, now)
        return None if found is None else found[0]

    def get_until_once(self, key: tuple[Any, ...], compute: Callable[[], tuple[T, float]], now: float,
                       gen: int | None = None) -> T:
        """`get_until` for worker threads: while one thread computes a missing entry, others asking for the same
        key wait for it instead of repeating the work. Never call it from the event loop (it may block)."""
        found = self._valid(key, now)
        if found is not None:
            return found[0]  # type: ignore[no-any-return]
        with self._flights_lock:
            flight = self._flights.setdefault(key, threading.Lock())
        with flight:
            try:
                return self.get_until(key, compute, now, gen)
            finally:
                with self._flights_lock:
                    if self._flights.get(key) is flight:
                        del self._flights[key]
