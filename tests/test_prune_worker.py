"""The auto-prune worker: task queue, policy order, what is never pruned, failures, the thread's lifecycle."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, update

from reference_server.config import ServerConfig
from reference_server.storage import schema as t
from reference_server.storage.policies import PolicyRecord, is_signature_tag, prune_selects
from reference_server.storage.registry import now_ms
from reference_server.workers.autoprune import AutoPruneWorker, PruneSettings, default_policy
from tests.conftest import Server
from tests.test_api_policy import FEATURES, ORG, add_tags, live_tags, log_metadata, make_repo
from tests.test_api_repository import make_org

HOUR_MS = 3600 * 1000
# A worker that may re-run a namespace at once (AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES: 0).
EAGER = PruneSettings(poll_period_s=1, min_interval_ms=0)


@pytest.fixture
def srv(make_server: Any) -> Server:
    server: Server = make_server({**FEATURES, "AUTO_PRUNING_POLL_PERIOD": 1,
                                  "AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES": 0})
    server.owner = server.make_user("owner")  # type: ignore[attr-defined]
    make_org(server, "acme", "owner")
    return server


def policy(server: Server, body: dict[str, Any], repo: str | None = None) -> str:
    path = f"/api/v1/repository/acme/{repo}/autoprunepolicy/" if repo else ORG
    r = server.call("POST", path, server.owner, json=body)  # type: ignore[attr-defined]
    assert r.status_code == 201, r.text
    return str(r.json()["uuid"])


def namespace_id(server: Server, name: str = "acme") -> int:
    with server.storage.read() as db:
        user = db.user_by_name(name)
        assert user is not None
        return user.id


def test_settings_from_config() -> None:
    config = ServerConfig.from_mapping({"AUTO_PRUNING_POLL_PERIOD": 1, "AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES": 1,
                                        "DEFAULT_NAMESPACE_AUTOPRUNE_POLICY": {"method": "number_of_tags",
                                                                               "value": 2}})
    settings = PruneSettings.from_config(config)
    assert (settings.poll_period_s, settings.min_interval_ms, settings.batch_size) == (1.0, 60_000, 10)
    assert settings.default_policy == {"method": "number_of_tags", "value": 2, "tag_pattern": None,
                                       "tag_pattern_matches": True}
    defaults = PruneSettings.from_config(ServerConfig())
    assert (defaults.poll_period_s, defaults.min_interval_ms, defaults.default_policy) == (30.0, 3_600_000, None)
    assert default_policy({"method": "number_of_tags", "value": "2"}) is None


def test_pattern_rules() -> None:
    assert prune_selects("release-1", "ease", True)  # unanchored search
    assert not prune_selects("release-1", "ease", False)
    assert prune_selects("anything", None, True)
    assert is_signature_tag("sha256-" + "a" * 64 + ".sig") and is_signature_tag("sha256-" + "b" * 64 + ".att")
    assert not is_signature_tag("sha256-latest.sig") and not is_signature_tag("v1.sig")


def test_number_of_tags_keeps_the_newest(srv: Server) -> None:
    repo = make_repo(srv, "acme", "app")
    add_tags(srv, repo, ["t1", "t2", "t3", "t4", "t5"])
    policy(srv, {"method": "number_of_tags", "value": 2})
    outcome = AutoPruneWorker(srv.storage, EAGER).run_once()
    assert sorted(tag for _, _, tag in outcome.pruned) == ["t1", "t2", "t3"]
    assert live_tags(srv, repo) == {"t4": False, "t5": False}
    # Soft delete: the versions stay in the history (the time machine) with an end time.
    with srv.storage.read() as db:
        ended = db.conn.execute(select(t.tag.c.name).where(t.tag.c.repository_id == repo,
                                                           t.tag.c.lifetime_end_ms.is_not(None))).scalars().all()
        task = db.autoprune_task(namespace_id(srv))
    assert sorted(ended) == ["t1", "t2", "t3"]
    assert task is not None and task.status == "success" and task.last_ran_ms is not None
    assert log_metadata(srv, "autoprune_tag_delete")[0] == {
        "performer": "autoprune worker", "namespace": "acme", "repo": "app", "tag": "t3"}
    with srv.storage.read() as db:
        entry = db.conn.execute(select(t.log_entry).where(t.log_entry.c.kind == "autoprune_tag_delete")).first()
    assert entry is not None and entry._mapping["performer_id"] is None and entry._mapping["repository_id"] == repo


def test_creation_date_runs_before_number_of_tags(srv: Server) -> None:
    repo = make_repo(srv, "acme", "app")
    now = now_ms()
    # Newest first: b1 is recent; a1 and b2 are older than an hour.
    add_tags(srv, repo, ["b2"], start_ms=now - 3 * HOUR_MS)
    add_tags(srv, repo, ["a1"], start_ms=now - 2 * HOUR_MS)
    add_tags(srv, repo, ["b1"], start_ms=now - 1000)
    # Created first, but the count rule must wait for the age rule: after a1 goes, b1 and b2 are the two kept.
    policy(srv, {"method": "number_of_tags", "value": 2})
    policy(srv, {"method": "creation_date", "value": "1h", "tagPattern": "^a"}, repo="app")
    AutoPruneWorker(srv.storage, EAGER).run_once()
    assert live_tags(srv, repo) == {"b1": False, "b2": False}


def test_patterns_and_policies_add_up(srv: Server) -> None:
    app, lib = make_repo(srv, "acme", "app"), make_repo(srv, "acme", "lib")
    add_tags(srv, app, ["dev-1", "dev-2", "dev-3", "rel-1", "rel-2"])
    add_tags(srv, lib, ["dev-1", "dev-2", "rel-1"])
    policy(srv, {"method": "number_of_tags", "value": 1, "tagPattern": "dev"})  # namespace: one dev-* tag
    policy(srv, {"method": "number_of_tags", "value": 1, "tagPattern": "dev", "tagPatternMatches": False},
           repo="app")  # app only: one tag that is not dev-*
    AutoPruneWorker(srv.storage, EAGER).run_once()
    assert live_tags(srv, app) == {"dev-3": False, "rel-2": False}
    assert live_tags(srv, lib) == {"dev-2": False, "rel-1": False}


def test_protected_tags_are_never_pruned_nor_counted(srv: Server) -> None:
    repo = make_repo(srv, "acme", "app")
    sig = "sha256-" + "c" * 64 + ".sig"
    add_tags(srv, repo, ["old-locked", sig, "a", "b", "c"], start_ms=now_ms() - 10 * HOUR_MS, step_ms=HOUR_MS)
    with srv.storage.transaction() as db:
        locked = db.live_tag(repo, "old-locked")
        assert locked is not None
        db.set_tag_immutable(locked.id, True)
        hidden = db.live_tag(repo, "a")
        assert hidden is not None
        db.create_hidden_tag(repo, hidden.manifest_id, now_ms() + HOUR_MS)
    policy(srv, {"method": "number_of_tags", "value": 1})
    policy(srv, {"method": "creation_date", "value": "1s", "tagPattern": "^c$", "tagPatternMatches": False})
    AutoPruneWorker(srv.storage, EAGER).run_once()
    # The immutable tag and the signature survive and do not take one of the kept places.
    assert live_tags(srv, repo) == {"old-locked": True, sig: False, "c": False}
    with srv.storage.read() as db:
        hidden_live = db.conn.execute(select(t.tag.c.id).where(t.tag.c.hidden.is_(True),
                                                               t.tag.c.lifetime_end_ms > now_ms())).all()
    assert len(hidden_live) == 1


def test_task_queue_interval_and_cleanup(srv: Server) -> None:
    repo = make_repo(srv, "acme", "app")
    uuid = policy(srv, {"method": "number_of_tags", "value": 1})
    ns = namespace_id(srv)
    hourly = AutoPruneWorker(srv.storage, PruneSettings(min_interval_ms=HOUR_MS))
    assert hourly.run_once().namespaces == [ns]
    add_tags(srv, repo, ["x", "y"])
    # Ran a moment ago: not due again within the interval, even with new tags.
    assert hourly.run_once().namespaces == []
    assert live_tags(srv, repo) == {"x": False, "y": False}
    outcome = AutoPruneWorker(srv.storage, EAGER).run_once()
    assert outcome.namespaces == [ns]  # once per pass, even with a zero interval
    assert live_tags(srv, repo) == {"y": False}
    # With no policy left the task goes away.
    srv.call("DELETE", ORG + uuid, srv.owner)  # type: ignore[attr-defined]
    assert AutoPruneWorker(srv.storage, EAGER).run_once().tasks_deleted == [ns]
    with srv.storage.read() as db:
        assert db.autoprune_task(ns) is None


def test_oldest_first_batch_and_disabled_namespaces(srv: Server) -> None:
    names = [f"user{i}" for i in range(12)]
    ids = []
    for name in names:
        token = srv.make_user(name)
        r = srv.call("POST", "/api/v1/user/autoprunepolicy/", token, json={"method": "number_of_tags", "value": 3})
        assert r.status_code == 201
        ids.append(namespace_id(srv, name))
    with srv.storage.transaction() as db:
        db.conn.execute(update(t.user).where(t.user.c.id == ids[0]).values(enabled=False))
        # user1 ran long ago, the others never: never-run tasks come first.
        db.conn.execute(update(t.autoprune_task).where(t.autoprune_task.c.namespace_id == ids[1])
                        .values(last_ran_ms=1))
    first = AutoPruneWorker(srv.storage, EAGER).run_once().namespaces
    assert first == ids[2:12]
    assert AutoPruneWorker(srv.storage, EAGER).run_once().namespaces[0] == ids[1]
    assert ids[0] not in AutoPruneWorker(srv.storage, EAGER).run_once().namespaces


def test_a_failing_namespace_is_rolled_back_and_recorded(srv: Server) -> None:
    repo = make_repo(srv, "acme", "app")
    add_tags(srv, repo, ["a", "b", "c"])
    policy(srv, {"method": "number_of_tags", "value": 1})
    policy(srv, {"method": "number_of_tags", "value": 2, "tagPattern": "["}, repo="app")
    outcome = AutoPruneWorker(srv.storage, EAGER).run_once()
    assert list(outcome.failures) == [namespace_id(srv)]
    assert live_tags(srv, repo) == {"a": False, "b": False, "c": False}
    assert log_metadata(srv, "autoprune_tag_delete") == []
    with srv.storage.read() as db:
        task = db.autoprune_task(namespace_id(srv))
    assert task is not None and task.status.startswith("failure: unterminated character set")


def test_only_normal_repositories_are_pruned(srv: Server) -> None:
    repo = make_repo(srv, "acme", "app")
    add_tags(srv, repo, ["a", "b"])
    with srv.storage.transaction() as db:
        db.conn.execute(update(t.repository).where(t.repository.c.id == repo).values(state="READ_ONLY"))
    policy(srv, {"method": "number_of_tags", "value": 1})
    AutoPruneWorker(srv.storage, EAGER).run_once()
    assert live_tags(srv, repo) == {"a": False, "b": False}


def test_default_namespace_policy_runs_daily_on_every_namespace(srv: Server) -> None:
    repo = make_repo(srv, "acme", "app")
    add_tags(srv, repo, ["a", "b", "c"])
    config = default_policy({"method": "number_of_tags", "value": 2})
    clock = [time.time()]
    worker = AutoPruneWorker(srv.storage, PruneSettings(default_policy=config), clock=lambda: clock[0])
    assert [tag for _, _, tag in worker.run_once().pruned] == ["a"]
    add_tags(srv, repo, ["d"])
    assert worker.run_once().pruned == []  # not again the same day
    clock[0] += 24 * 3600 + 1
    assert [tag for _, _, tag in worker.run_once().pruned] == ["b"]


def test_the_worker_thread_follows_the_app_lifespan(srv: Server) -> None:
    repo = make_repo(srv, "acme", "app")
    add_tags(srv, repo, ["a", "b", "c"])
    with srv.client:  # runs the lifespan: startup starts the worker, exit stops it
        assert any(th.name == "autoprune-worker" for th in threading.enumerate())
        policy(srv, {"method": "number_of_tags", "value": 1})
        deadline = time.time() + 10
        while time.time() < deadline and len(live_tags(srv, repo)) > 1:
            time.sleep(0.1)
        assert live_tags(srv, repo) == {"c": False}
    assert not any(th.name == "autoprune-worker" for th in threading.enumerate())


def test_stop_wakes_an_idle_worker_at_once(srv: Server) -> None:
    worker = AutoPruneWorker(srv.storage, PruneSettings(poll_period_s=3600))
    worker.start()
    assert worker.running
    started = time.time()
    worker.stop()
    assert not worker.running and time.time() - started < 5


def test_policy_record_views() -> None:
    record = PolicyRecord(1, "u", 2, None, {"method": "creation_date", "value": "1d", "tag_pattern": None,
                                            "tag_pattern_matches": True})
    assert record.autoprune_view() == {"uuid": "u", "method": "creation_date", "value": "1d", "tagPattern": None,
                                       "tagPatternMatches": True}


def test_only_a_pass_that_prunes_empties_the_read_cache(srv: Server) -> None:
    repo = make_repo(srv, "acme", "app")
    add_tags(srv, repo, ["t1", "t2", "t3"])
    policy(srv, {"method": "number_of_tags", "value": 2})
    cache = srv.storage.read_cache
    generation = cache.generation
    AutoPruneWorker(srv.storage, EAGER).run_once()  # prunes t1: cached tag lists must go
    assert cache.generation > generation
    generation = cache.generation
    # The policy stays and is claimed again at once (zero interval), but nothing is left to prune; an idle poll
    # must not empty the cache either, or a busy server would lose it every second.
    assert AutoPruneWorker(srv.storage, EAGER).run_once().namespaces == [namespace_id(srv)]
    AutoPruneWorker(srv.storage, EAGER).run_once()
    assert cache.generation == generation
