"""Deterministic seeding for load profiles: one organization and its repositories, named from the seed, filled
with 10^2..10^5 tags or with audit-log activity, through the target's own HTTP API.

* Idempotent: a repository whose description carries this seed's completion marker is skipped outright; an
  unfinished one is topped up (existing tags are listed first and not pushed again).
* Concurrent with a bound: a thread pool of `concurrency` workers over one httpx.Client, so at most that many
  requests are in flight. Inside Locust (gevent-patched) the threads are greenlets, which is what we want there.
* Against a reference server the load tool started itself, the big parts (tags, the audit history) are written
  straight into its database through `direct` (harness.server.DirectWriter), each followed by an API write.
* Otherwise tags are created through the registry protocol (PUT /v2/<repo>/manifests/<tag> of one tiny image with
  a token from /v2/auth). Without a registry, changeTag retargets new tag names to a manifest already in the
  repository.

Never imports locust (the CLI seeds in its own, unpatched process) and never prints the token.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from harness.catalog import Catalog
from load.profiles import Profile, tag_counts

_SEED = re.compile(r"^[a-z0-9]{1,16}$")
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DEFAULT_CONCURRENCY = 16
MAX_LOG_EVENTS = 10_000_000


class SeedError(Exception):
    """Seeding cannot proceed; the message is one line and never holds a secret."""


class DirectWrites(Protocol):
    """Bulk rows straight into the target's database: only for a reference server the load tool started itself
    (harness.server.DirectWriter). Each bulk step is followed by an API write, which the server needs to see."""

    def tags(self, repository: str, names: Sequence[str], manifest_digest: str,
             advance: Callable[[int], None]) -> int: ...

    def log_history(self, repository: str, count: int, performer: str, advance: Callable[[int], None]) -> int: ...


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer() -> tuple[bytes, bytes]:
    """(gzipped layer, uncompressed tar): one small file, with fixed timestamps so the bytes (and therefore every
    digest) are the same on every machine and every run."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        content = b"quay-harness load seed\n"
        info = tarfile.TarInfo("qh-load-seed.txt")
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), tar_bytes


@dataclass(frozen=True)
class SeedImage:
    """The one image every seeded tag points at."""

    layer: bytes
    config: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        return _digest(self.manifest)

    @classmethod
    def build(cls) -> SeedImage:
        layer, tar_bytes = _layer()
        config = json.dumps({
            "architecture": "amd64", "os": "linux", "config": {},
            "created": "1970-01-01T00:00:00Z",
            "rootfs": {"type": "layers", "diff_ids": [_digest(tar_bytes)]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "quay-harness load seed"}],
        }, sort_keys=True, separators=(",", ":")).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": _digest(config)},
            "layers": [{"mediaType": DOCKER_LAYER, "size": len(layer), "digest": _digest(layer)}],
        }, sort_keys=True, indent=3).encode()
        return cls(layer, config, manifest)


IMAGE = SeedImage.build()


@dataclass(frozen=True)
class SeedPlan:
    """Names and sizes of everything a profile needs. Pure data derived from (seed, profile, --tags), so every
    Locust worker rebuilds the same plan and knows the names without asking the master."""

    seed: str
    profile: str
    tag_counts: tuple[int, ...] = ()
    log_events: int = 0
    repos: int = 0
    write_repos: int = 0

    def __post_init__(self) -> None:
        if not _SEED.match(self.seed):
            raise SeedError("the seed must be 1-16 lowercase letters or digits (it becomes part of names)")

    @classmethod
    def for_profile(cls, profile: Profile, seed: str, max_tags: int | None = None,
                    log_events: int | None = None) -> SeedPlan:
        """`max_tags` and `log_events` (the CLI's --tags and --log-events) replace the profile's sizes."""
        spec = profile.seed
        counts = tuple(tag_counts(profile, max_tags)) if ("tags" in spec or max_tags is not None) else ()
        if log_events is not None and not 1 <= log_events <= MAX_LOG_EVENTS:
            raise SeedError(f"log events must be between 1 and {MAX_LOG_EVENTS:,}")
        events = int(spec.get("log_events", 0)) if log_events is None else log_events
        return cls(seed, profile.name, counts, events, int(spec.get("repos", 0)), int(spec.get("write_repos", 0)))

    @property
    def org(self) -> str:
        return f"qhload{self.seed}"

    def tag_repo(self, count: int) -> str:
        return f"{self.org}/tags{count}"

    @property
    def tag_repos(self) -> list[str]:
        return [self.tag_repo(c) for c in self.tag_counts]

    @property
    def plain_repos(self) -> list[str]:
        return [f"{self.org}/repo{i}" for i in range(self.repos)]

    @property
    def log_repo(self) -> str:
        return f"{self.org}/logs"

    def user_log_repo(self, username: str) -> str:
        # The caller's own namespace, so listUserLogs has activity to show.
        return f"{username}/qhload{self.seed}logs"

    @property
    def write_repo_names(self) -> list[str]:
        return [f"{self.org}/write{i}" for i in range(self.write_repos)]

    @staticmethod
    def tag_name(index: int) -> str:
        # Zero-padded so the name order equals the creation order and deep pages hold predictable names.
        return f"t{index:06d}"

    def marker(self, what: str) -> str:
        return f"quay-harness load seed {self.seed}: {what} complete"


@dataclass
class SeedReport:
    lines: list[str] = field(default_factory=list)
    created: int = 0

    def note(self, text: str) -> None:
        self.lines.append(text)


class _Progress:
    """A rich progress bar, or nothing (tests, --quiet). Kept behind this small interface so the seeding code
    does not care which."""

    def __init__(self, enabled: bool) -> None:
        self._bar: Any = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), transient=False)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def add(self, description: str, total: int, done: int = 0) -> Callable[[int], None]:
        if self._bar is None:
            return lambda n: None
        task = self._bar.add_task(description, total=total, completed=done)
        return lambda n: self._bar.advance(task, n)


class Seeder:
    """Creates a SeedPlan's data on a target. `http` carries the base URL and the bearer auth."""

    def __init__(self, http: httpx.Client, catalog: Catalog, token: str, *, concurrency: int = DEFAULT_CONCURRENCY,
                 progress: bool = False, log: Callable[[str], None] | None = None,
                 direct: DirectWrites | None = None) -> None:
        if concurrency < 1:
            raise SeedError("concurrency must be at least 1")
        self.http = http
        self.catalog = catalog
        self._token = token
        self.concurrency = concurrency
        self.progress = progress
        self.report = SeedReport()
        self._log = log or (lambda text: None)
        self._registry_tokens: dict[str, str] = {}
        self._registry: tuple[str, str] | bool | None = False  # False = not probed yet; None = no registry
        self._lock = threading.Lock()
        self.direct = direct

    # -- small helpers ---------------------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.report.note(text)
        self._log(text)

    def _call(self, operation_id: str, *, params: dict[str, Any] | None = None, json_body: Any = None,
              **path: Any) -> httpx.Response:
        method, url = self.catalog.resolve(operation_id, **path)
        return self.http.request(method, url, params=params, json=json_body)

    def _expect(self, response: httpx.Response, ok: Iterable[int], what: str) -> httpx.Response:
        if response.status_code not in set(ok):
            raise SeedError(f"{what} answered {response.status_code}: {response.text[:160]}")
        return response

    def _pool(self, jobs: Iterable[Callable[[], None]]) -> None:
        """Run jobs with at most `concurrency` in flight; the first failure stops the rest and is raised."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(job) for job in jobs]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    # -- namespaces and repositories ---------------------------------------------------------------------------
    def username(self) -> str:
        body = self._expect(self._call("getLoggedInUser"), (200,), "GET /api/v1/user/").json()
        return str(body["username"])

    def ensure_org(self, name: str) -> None:
        if self._call("getOrganization", orgname=name).status_code == 200:
            return
        self._expect(self._call("createOrganization", json_body={"name": name, "email": f"{name}@example.com"}),
                     (200, 201), f"creating organization {name}")
        self.report.created += 1
        self._say(f"created organization {name}")

    def ensure_repo(self, repository: str) -> str:
        """Create the repository when missing; return its description (where the completion marker lives)."""
        got = self._call("getRepo", repository=repository)
        if got.status_code == 200:
            return str(got.json().get("description") or "")
        namespace, name = repository.split("/", 1)
        self._expect(self._call("createRepo", json_body={"namespace": namespace, "repository": name,
                                                         "visibility": "private", "description": ""}),
                     (200, 201), f"creating repository {repository}")
        self.report.created += 1
        return ""

    def set_description(self, repository: str, text: str) -> None:
        self._expect(self._call("updateRepo", repository=repository, json_body={"description": text}),
                     (200,), f"updating repository {repository}")

    # -- the registry --------------------------------------------------------------------------------------
    def registry(self) -> tuple[str, str] | None:
        """(token realm path, service) from GET /v2/'s challenge, or None when the target serves no registry."""
        if self._registry is False:
            answer = self.http.get("/v2/")
            challenge = answer.headers.get("www-authenticate", "")
            if answer.status_code != 401 or not challenge.lower().startswith("bearer"):
                self._registry = None
            else:
                fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
                realm = urlsplit(fields.get("realm", "/v2/auth")).path or "/v2/auth"
                self._registry = (realm, fields.get("service", urlsplit(str(self.http.base_url)).netloc))
        return self._registry if isinstance(self._registry, tuple) else None

    def _registry_token(self, repository: str, refresh: bool = False) -> str:
        with self._lock:
            if refresh or repository not in self._registry_tokens:
                found = self.registry()
                assert found is not None
                realm, service = found
                # Quay's registry takes an OAuth token as the password of the `$oauthtoken` user.
                answer = self.http.get(realm, params={"service": service,
                                                      "scope": f"repository:{repository}:push,pull"},
                                       auth=httpx.BasicAuth("$oauthtoken", self._token))
                self._expect(answer, (200,), f"GET {realm} for {repository}")
                self._registry_tokens[repository] = str(answer.json()["token"])
            return self._registry_tokens[repository]

    def _v2(self, method: str, repository: str, url: str, **kwargs: Any) -> httpx.Response:
        """A /v2 request with the repository's registry token, fetched again once if it expired mid-seed."""
        for attempt in (0, 1):
            headers = {**kwargs.pop("headers", {}),
                       "Authorization": f"Bearer {self._registry_token(repository, refresh=attempt == 1)}"}
            # A per-request Authorization header must not be replaced by the client's API bearer auth.
            answer = self.http.request(method, url, headers=headers, auth=None, **kwargs)
            if answer.status_code != 401:
                return answer
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
        return answer

    def registry_tags(self, repository: str) -> set[str]:
        """Every tag name, following the Link header (registries page /tags/list)."""
        names: set[str] = set()
        url: str | None = f"/v2/{repository}/tags/list?n=1000"
        while url:
            answer = self._v2("GET", repository, url)
            if answer.status_code == 404:
                return names
            self._expect(answer, (200,), f"GET /v2/{repository}/tags/list")
            names.update(answer.json().get("tags") or [])
            link = answer.headers.get("link", "")
            match = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', link)
            url = match.group(1) if match else None
        return names

    def push_blobs(self, repository: str) -> None:
        for blob in (IMAGE.layer, IMAGE.config):
            digest = _digest(blob)
            if self._v2("HEAD", repository, f"/v2/{repository}/blobs/{digest}").status_code == 200:
                continue
            start = self._expect(self._v2("POST", repository, f"/v2/{repository}/blobs/uploads/"), (202,),
                                 f"starting a blob upload to {repository}")
            location = start.headers["location"]
            target = httpx.URL(location)
            path = target.raw_path.decode() if target.is_absolute_url else location
            joiner = "&" if "?" in path else "?"
            self._expect(self._v2("PUT", repository, f"{path}{joiner}digest={digest}", content=blob,
                                  headers={"Content-Type": "application/octet-stream"}),
                         (201,), f"finishing a blob upload to {repository}")

    def push_manifest(self, repository: str) -> None:
        """The seed image's manifest by digest, without a tag (bulk tags point at it)."""
        self._expect(self._v2("PUT", repository, f"/v2/{repository}/manifests/{IMAGE.digest}",
                              content=IMAGE.manifest, headers={"Content-Type": DOCKER_MANIFEST}), (201, 202),
                     f"pushing {repository}@{IMAGE.digest}")

    def push_tag(self, repository: str, tag: str) -> None:
        self._expect(self._v2("PUT", repository, f"/v2/{repository}/manifests/{tag}", content=IMAGE.manifest,
                              headers={"Content-Type": DOCKER_MANIFEST}), (201, 202), f"pushing {repository}:{tag}")

    # -- tags ----------------------------------------------------------------------------------------------
    def api_tags(self, repository: str) -> tuple[set[str], str | None]:
        """(active tag names, a manifest digest one of them points at) through listRepoTags."""
        names: set[str] = set()
        digest = None
        page = 1
        while True:
            answer = self._expect(self._call("listRepoTags", repository=repository,
                                             params={"onlyActiveTags": "true", "limit": 100, "page": page}),
                                  (200,), f"listing tags of {repository}")
            body = answer.json()
            for tag in body.get("tags", []):
                names.add(str(tag["name"]))
                digest = digest or tag.get("manifest_digest")
            if not body.get("has_additional"):
                return names, digest
            page += 1

    def seed_tags(self, repository: str, count: int, marker: str) -> None:
        if self.ensure_repo(repository) == marker:
            self._say(f"{repository}: {count} tags already seeded")
            return
        wanted = [SeedPlan.tag_name(i) for i in range(count)]
        if self.registry() is not None:
            existing = self.registry_tags(repository)
            self.push_blobs(repository)
            def create(tag: str) -> None:
                self.push_tag(repository, tag)
        elif "changeTag" in self.catalog and "listRepoTags" in self.catalog:
            existing, digest = self.api_tags(repository)
            if digest is None:
                raise SeedError(f"cannot create tags in {repository}: the target serves no /v2 registry and the "
                                "repository holds no manifest for changeTag to point new tags at")
            body = {"manifest_digest": digest}

            def create(tag: str) -> None:
                self._expect(self._call("changeTag", repository=repository, tag=tag, json_body=body), (200, 201),
                             f"changeTag {repository}:{tag}")
        else:
            raise SeedError(f"cannot create tags in {repository}: the target serves neither a /v2 registry nor "
                            "changeTag")
        missing = [t for t in wanted if t not in existing]
        bulk = self.direct is not None and self.registry() is not None
        with _Progress(self.progress) as bar:
            advance = bar.add(f"tags {repository}", count, count - len(missing))
            if bulk and missing:
                assert self.direct is not None
                self.push_manifest(repository)
                try:
                    self.direct.tags(repository, missing, IMAGE.digest, advance)
                except ValueError as exc:  # the writer names what it could not find
                    raise SeedError(f"bulk tags for {repository}: {exc}") from exc
            else:
                def job(tag: str) -> Callable[[], None]:
                    def run() -> None:
                        create(tag)
                        advance(1)
                    return run

                self._pool(job(t) for t in missing)
        self.report.created += len(missing)
        # An API write either way; after bulk rows it is also what empties the server's read cache.
        self.set_description(repository, marker)
        how = "written in bulk" if bulk else "created"
        self._say(f"{repository}: {count} tags ({len(missing)} {how}, {count - len(missing)} already there)")

    # -- audit-log activity ----------------------------------------------------------------------------------
    def seed_logs(self, repositories: list[str], events: int, marker: str) -> None:
        """`events` audit entries in all, shared out over the repositories, then the marker. Through the API each
        is a description change (a set_repo_description entry); with direct writes it is a history of varied
        kinds spread over the last 60 days. Audit logs only grow, so the marker is what makes this idempotent."""
        pending = [r for r in repositories if self.ensure_repo(r) != marker]
        if not pending:
            self._say(f"log activity ({events} events) already seeded")
            return
        shares = {r: events // len(repositories) + (1 if i < events % len(repositories) else 0)
                  for i, r in enumerate(repositories)}
        total = sum(shares[r] for r in pending)
        with _Progress(self.progress) as bar:
            advance = bar.add("log activity", total)
            if self.direct is not None:
                performer = self.username()
                for repository in pending:
                    try:
                        self.direct.log_history(repository, shares[repository], performer, advance)
                    except ValueError as exc:
                        raise SeedError(f"bulk log history for {repository}: {exc}") from exc
            else:
                def job(repository: str, i: int) -> Callable[[], None]:
                    def run() -> None:
                        self.set_description(repository, f"load seed activity {i}")
                        advance(1)
                    return run

                self._pool(job(r, i) for r in pending for i in range(shares[r]))
        for repository in pending:
            self.set_description(repository, marker)  # last API write: also empties the server's read cache
        self.report.created += total
        how = "in bulk" if self.direct is not None else "through the API"
        self._say(f"log activity: {total} events {how} over {', '.join(pending)}")

    # -- a whole plan ----------------------------------------------------------------------------------------
    def run(self, plan: SeedPlan) -> SeedReport:
        needed = ["getOrganization", "createOrganization", "getRepo", "createRepo", "updateRepo"]
        absent = [op for op in needed if op not in self.catalog]
        if absent:
            raise SeedError(f"the target's discovery lacks {', '.join(absent)}, needed to seed")
        self.ensure_org(plan.org)
        for repository in plan.plain_repos:
            self.ensure_repo(repository)
        if plan.repos:
            self._say(f"repositories {', '.join(plan.plain_repos)} ready")
        if plan.tag_counts:
            if "listRepoTags" not in self.catalog:
                # Nothing would read the tags: the profile's listing tasks are skipped on this target.
                self._say("tags: skipped, the target has no listRepoTags")
            else:
                for count in plan.tag_counts:
                    self.seed_tags(plan.tag_repo(count), count, plan.marker(f"{count} tags"))
        if plan.write_repos:
            for repository in plan.write_repo_names:
                self.ensure_repo(repository)
                if self.registry() is not None:
                    # changeTag in the mixed profile needs a manifest in the repository to point tags at.
                    self.push_blobs(repository)
                    self.push_tag(repository, "base")
            self._say(f"write repositories {', '.join(plan.write_repo_names)} ready")
        if plan.log_events:
            targets = [plan.log_repo]
            if "getLoggedInUser" in self.catalog:
                targets.append(plan.user_log_repo(self.username()))
            self.seed_logs(targets, plan.log_events, plan.marker(f"{plan.log_events} log events"))
        return self.report
