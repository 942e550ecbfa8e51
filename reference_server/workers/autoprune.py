"""The auto-prune worker: Quay's autopruneworker inside the reference server.

Every AUTO_PRUNING_POLL_PERIOD seconds it takes up to AUTO_PRUNING_BATCH_SIZE queued namespaces (creating a
policy queues its namespace), never-run first then least recently run, skipping disabled namespaces and any
namespace run within AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES. A namespace with no policy left loses its
task. For each NORMAL repository the namespace's policies and the repository's own add up: every
creation_date policy runs first, then every number_of_tags policy, each on what the previous ones left.
Pruning is the ordinary soft delete (the tag stays restorable in the time machine) plus an
`autoprune_tag_delete` audit entry. An optional registry-wide DEFAULT_NAMESPACE_AUTOPRUNE_POLICY is applied
to every active namespace once a day, without repository policies.

Each namespace is pruned in its own transaction, so a failure or a shutdown never leaves a namespace half
pruned; the failure is recorded on the task (`failure: ...`) as Quay does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reference_server.config import ServerConfig
from reference_server.storage import Db, Storage
from reference_server.storage.policies import (
    CREATION_DATE,
    NUMBER_OF_TAGS,
    PolicyError,
    PolicyRecord,
    creation_date_seconds,
    prune_selects,
    validate_autoprune_config,
)

log = logging.getLogger("reference_server.autoprune")

PERFORMER = "autoprune worker"
DEFAULT_POLICY_PERIOD_S = 24 * 3600


@dataclass(frozen=True)
class PruneSettings:
    poll_period_s: float = 30.0
    min_interval_ms: int = 60 * 60 * 1000
    batch_size: int = 10
    # The registry-wide policy in Quay's stored form, already validated; None when not configured.
    default_policy: dict[str, Any] | None = None
    default_period_s: float = DEFAULT_POLICY_PERIOD_S

    @classmethod
    def from_config(cls, config: ServerConfig) -> PruneSettings:
        raw = config.raw
        return cls(
            poll_period_s=float(raw.get("AUTO_PRUNING_POLL_PERIOD", 30)),
            min_interval_ms=int(float(raw.get("AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES", 60)) * 60 * 1000),
            batch_size=int(raw.get("AUTO_PRUNING_BATCH_SIZE", 10)),
            default_policy=default_policy(raw.get("DEFAULT_NAMESPACE_AUTOPRUNE_POLICY")),
        )


def default_policy(value: Any) -> dict[str, Any] | None:
    """DEFAULT_NAMESPACE_AUTOPRUNE_POLICY (`{method, value}`, optionally a tag pattern) in stored form; an
    unusable value is reported and ignored rather than stopping the server."""
    if not value:
        return None
    if not isinstance(value, dict):
        log.warning("DEFAULT_NAMESPACE_AUTOPRUNE_POLICY must be a mapping; ignored")
        return None
    pattern = value.get("tagPattern", value.get("tag_pattern"))
    config = {"method": value.get("method"), "value": value.get("value"),
              "tag_pattern": pattern.strip() if isinstance(pattern, str) else pattern,
              "tag_pattern_matches": value.get("tagPatternMatches", value.get("tag_pattern_matches", True))}
    try:
        validate_autoprune_config(config)
    except PolicyError as exc:
        log.warning("DEFAULT_NAMESPACE_AUTOPRUNE_POLICY ignored: %s", exc)
        return None
    return config


@dataclass
class PruneOutcome:
    """What one pass did: namespaces it processed, the tags it pruned, and the namespaces that failed."""

    namespaces: list[int] = field(default_factory=list)
    pruned: list[tuple[str, str, str]] = field(default_factory=list)  # (namespace, repository, tag)
    failures: dict[int, str] = field(default_factory=dict)
    tasks_deleted: list[int] = field(default_factory=list)


def _ordered(policies: list[PolicyRecord]) -> list[PolicyRecord]:
    """Age rules before count rules, so the result does not depend on the order policies were created."""
    return [p for p in policies if p.method == CREATION_DATE] + [p for p in policies if p.method == NUMBER_OF_TAGS]


def prune_repository(db: Db, namespace_id: int, namespace: str, repo_id: int, repo: str,
                     policies: list[PolicyRecord], at_ms: int) -> list[str]:
    """Apply the policies to one repository at time `at_ms`; returns the names of the tags pruned."""
    pruned: list[str] = []
    for policy in _ordered(policies):
        # Re-read the candidates for every policy: each one works on what the previous ones left.
        candidates = [tag for tag in db.prune_candidates(repo_id, at_ms)
                      if prune_selects(tag.name, policy.tag_pattern, policy.tag_pattern_matches)]
        if policy.method == CREATION_DATE:
            seconds = creation_date_seconds(policy.config.get("value"))
            if seconds is None:
                continue
            cutoff = at_ms - seconds * 1000
            doomed = [tag for tag in candidates if tag.lifetime_start_ms < cutoff]
        else:
            keep = policy.config.get("value")
            if not isinstance(keep, int) or isinstance(keep, bool) or keep <= 0:
                continue
            doomed = candidates[keep:]  # candidates are newest first
        for tag in doomed:
            db.end_tag(tag.id, at_ms)
            db.write_log("autoprune_tag_delete", account_id=namespace_id, performer_id=None, repository_id=repo_id,
                         ip=None, metadata={"performer": PERFORMER, "namespace": namespace, "repo": repo,
                                            "tag": tag.name})
            pruned.append(tag.name)
    return pruned


def prune_namespace(db: Db, namespace_id: int, namespace_policies: list[PolicyRecord],
                    repository_policies: dict[int, list[PolicyRecord]], at_ms: int) -> list[tuple[str, str, str]]:
    """Apply a namespace's policies to each of its NORMAL repositories, together with that repository's own."""
    owner = db.user_by_id(namespace_id)
    if owner is None:
        return []
    out: list[tuple[str, str, str]] = []
    for repo_id, repo_name in db.normal_repositories(namespace_id):
        policies = [*namespace_policies, *repository_policies.get(repo_id, [])]
        if policies:
            for tag in prune_repository(db, namespace_id, owner.username, repo_id, repo_name, policies, at_ms):
                out.append((owner.username, repo_name, tag))
    return out


class AutoPruneWorker:
    def __init__(self, storage: Storage, settings: PruneSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.settings = settings
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._default_last_run_s: float | None = None

    # ---- one pass (tests call this directly) ------------------------------------------------------------

    def run_once(self) -> PruneOutcome:
        outcome = PruneOutcome()
        # One instant per pass: with a zero minimum interval a namespace claimed in this pass is not due again
        # until the next one.
        at_ms = int(self.clock() * 1000)
        for _ in range(self.settings.batch_size):
            if self._stop.is_set():
                break
            # Claim in its own short transaction, like Quay's row-locked fetch: the namespace is stamped as
            # run now even if pruning it then fails, so a failing namespace waits the interval too. Only the
            # task's own bookkeeping changes, which no read request caches: an idle poll keeps the read cache.
            with self.storage.transaction(keep_cache=True) as db:
                claimed = db.claim_autoprune_tasks(at_ms, self.settings.min_interval_ms, 1)
            if not claimed:
                break
            self._run_task(claimed[0], at_ms, outcome)
        self._run_default_policy(outcome)
        return outcome

    def _run_task(self, namespace_id: int, at_ms: int, outcome: PruneOutcome) -> None:
        outcome.namespaces.append(namespace_id)
        before = len(outcome.pruned)
        try:
            with self.storage.transaction(keep_cache=True) as db:
                namespace_policies = db.policies("autoprune", namespace_id)
                repository_policies = db.repository_autoprune_policies(namespace_id)
                if not namespace_policies and not repository_policies:
                    db.delete_autoprune_task(namespace_id)
                    outcome.tasks_deleted.append(namespace_id)
                    return
                outcome.pruned += prune_namespace(db, namespace_id, namespace_policies, repository_policies, at_ms)
                db.set_autoprune_task_status(namespace_id, "success")
        except Exception as exc:  # any failure rolls the namespace back; it is recorded, the pass goes on
            log.exception("auto-prune of namespace %s failed", namespace_id)
            outcome.failures[namespace_id] = str(exc)
            with self.storage.transaction() as db:
                db.set_autoprune_task_status(namespace_id, f"failure: {exc}")
        finally:
            # Cached reads (tags of a repository, ...) must not outlive what was just pruned; a pass that
            # pruned nothing (a policy re-run every poll with a zero interval) leaves them be.
            self._bump_if_changed(outcome, before, namespace_id)

    def _bump_if_changed(self, outcome: PruneOutcome, pruned_before: int, namespace_id: int) -> None:
        """Empty the read cache after a namespace's pass if it pruned something (or failed half-way)."""
        if len(outcome.pruned) != pruned_before or namespace_id in outcome.failures:
            self.storage.read_cache.bump()

    def _run_default_policy(self, outcome: PruneOutcome) -> None:
        config = self.settings.default_policy
        now_s = self.clock()
        if config is None or (self._default_last_run_s is not None
                              and now_s - self._default_last_run_s < self.settings.default_period_s):
            return
        self._default_last_run_s = now_s
        with self.storage.transaction(read_only=True) as db:
            namespaces = db.active_namespaces()
        for namespace_id in namespaces:
            if self._stop.is_set():
                return
            record = PolicyRecord(id=0, uuid="", namespace_id=namespace_id, repository_id=None, config=config)
            before = len(outcome.pruned)
            try:
                with self.storage.transaction(keep_cache=True) as db:
                    outcome.pruned += prune_namespace(db, namespace_id, [record], {}, int(now_s * 1000))
            except Exception as exc:
                log.exception("default auto-prune policy failed on namespace %s", namespace_id)
                outcome.failures[namespace_id] = str(exc)
            finally:
                self._bump_if_changed(outcome, before, namespace_id)

    # ---- the thread ---------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="autoprune-worker", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        # Like Quay's scheduled operation: wait a period, run, repeat; stop() wakes the wait at once.
        while not self._stop.wait(self.settings.poll_period_s):
            try:
                self.run_once()
            except Exception:
                log.exception("auto-prune pass failed")

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to finish: it completes the namespace in progress (one transaction) and exits."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
