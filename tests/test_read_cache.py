"""The read cache's rules for values computed while writes happen elsewhere, and for concurrent misses."""

from __future__ import annotations

import threading
import time

from reference_server.storage.cache import ReadCache


def test_a_value_computed_before_a_write_is_used_once_but_not_kept() -> None:
    cache = ReadCache()
    began = cache.generation  # a request starts ...
    cache.bump()  # ... a write commits meanwhile ...
    assert cache.get(("k",), lambda: "old", began) == "old"  # ... its stale view serves that request only
    assert cache.get(("k",), lambda: "new", cache.generation) == "new"
    assert cache.get(("k",), lambda: "newer", cache.generation) == "new"  # kept from now on


def test_entries_expire_at_their_time_and_with_every_write() -> None:
    cache = ReadCache()
    assert cache.get_until(("k",), lambda: ("a", 10.0), now=1.0) == "a"
    assert cache.get_until(("k",), lambda: ("b", 20.0), now=9.0) == "a"
    assert cache.get_until(("k",), lambda: ("c", 20.0), now=10.0) == "c"
    cache.bump()
    assert cache.get_until(("k",), lambda: ("d", 20.0), now=11.0) == "d"


def test_concurrent_misses_of_one_key_compute_it_once() -> None:
    cache = ReadCache()
    calls: list[int] = []
    results: list[str] = []

    def compute() -> tuple[str, float]:
        calls.append(1)
        time.sleep(0.2)  # long enough that every thread asks while the first one computes
        return "answer", float("inf")

    threads = [threading.Thread(target=lambda: results.append(cache.get_until_once(("k",), compute, 0.0)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["answer"] * 8 and len(calls) == 1
    assert cache._flights == {}


def test_rendered_bytes_are_bounded() -> None:
    cache = ReadCache()
    big = b"x" * (40 * 1024 * 1024)
    cache.get(("a",), lambda: big)
    cache.get(("b",), lambda: big)  # over 64 MiB together: the cache starts again
    assert ("a",) not in cache._data and ("b",) in cache._data
