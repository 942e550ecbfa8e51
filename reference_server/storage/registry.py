"""Storage queries for the registry protocol (/v2) and for the API endpoints that show its data: blobs,
uploads, manifests, tags (with their history), labels and namespace quota (a mixin of Db).

Tags follow Quay's model: every version of a tag is a row with a lifetime [start, end) in epoch milliseconds.
Moving a tag ends the live row and starts a new one; deleting it ends the live row. Ended rows are the history
("time machine"). A tag is *live* when its end is null or in the future.

Quota usage is exact and incremental: `namespace_blob` holds each distinct blob referenced by a manifest of
the namespace once, with its size; usage is their sum. Only garbage collection (not implemented) would remove
rows, so deleting a tag never lowers usage, as in Quay.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, and_, bindparam, delete, func, insert, or_, select, update

from reference_server.storage import schema as t
from reference_server.storage.base import BaseQueries, aware, inserted_id, new_uuid, now


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class BlobRecord:
    digest: str
    size: int
    path: str  # relative to the storage's blob directory


@dataclass(frozen=True)
class UploadRecord:
    id: int
    uuid: str
    repository_id: int
    byte_count: int
    temp_path: str


@dataclass(frozen=True)
class ManifestRecord:
    id: int
    repository_id: int
    digest: str
    media_type: str
    manifest_bytes: str
    config_digest: str | None
    layers_compressed_size: int | None
    is_manifest_list: bool
    created: datetime | None


@dataclass(frozen=True)
class TagRecord:
    id: int
    repository_id: int
    name: str
    manifest_id: int
    lifetime_start_ms: int
    lifetime_end_ms: int | None
    reversion: bool
    hidden: bool
    immutable: bool

    def is_live(self, at_ms: int) -> bool:
        return self.lifetime_end_ms is None or self.lifetime_end_ms > at_ms


@dataclass(frozen=True)
class TagWithManifest:
    """A tag row joined with what the tag API shows of its manifest."""

    tag: TagRecord
    manifest_digest: str
    media_type: str
    is_manifest_list: bool
    layers_compressed_size: int | None


@dataclass(frozen=True)
class LabelRecord:
    id: int
    uuid: str
    manifest_id: int
    key: str
    value: str
    source_type: str
    media_type: str


@dataclass(frozen=True)
class QuotaLimitRecord:
    id: int
    type: str  # "Warning" | "Reject"
    percent: int


@dataclass(frozen=True)
class QuotaRecord:
    id: int
    namespace_id: int
    limit_bytes: int
    limits: tuple[QuotaLimitRecord, ...]


@dataclass(frozen=True)
class RegistrySizeRecord:
    size_bytes: int
    completed_ms: int | None  # when the last calculation finished, epoch milliseconds
    queued: bool
    running: bool


def _tag(row: Any) -> TagRecord:
    m = row._mapping
    return TagRecord(id=m["id"], repository_id=m["repository_id"], name=m["name"], manifest_id=m["manifest_id"],
                     lifetime_start_ms=int(m["lifetime_start_ms"]),
                     lifetime_end_ms=None if m["lifetime_end_ms"] is None else int(m["lifetime_end_ms"]),
                     reversion=bool(m["reversion"]), hidden=bool(m["hidden"]), immutable=bool(m["immutable"]))


def _manifest(row: Any) -> ManifestRecord:
    m = row._mapping
    return ManifestRecord(id=m["id"], repository_id=m["repository_id"], digest=m["digest"],
                          media_type=m["media_type"], manifest_bytes=m["manifest_bytes"],
                          config_digest=m["config_digest"], layers_compressed_size=m["layers_compressed_size"],
                          is_manifest_list=bool(m["is_manifest_list"]), created=aware(m["created"]))


def _label(row: Any) -> LabelRecord:
    m = row._mapping
    return LabelRecord(id=m["id"], uuid=m["uuid"], manifest_id=m["manifest_id"], key=m["key"], value=m["value"],
                       source_type=m["source_type"], media_type=m["media_type"])


def _live(at_ms: int) -> Any:
    return or_(t.tag.c.lifetime_end_ms.is_(None), t.tag.c.lifetime_end_ms > at_ms)


# One row of the API tag list: tag id, name, manifest id, lifetime start and end (ms), reversion, immutable,
# manifest digest, media type, is manifest list, layers' compressed size.
TagPageRow = tuple[int, str, int, int, int | None, bool, bool, str, str, bool, int | None]
_TAG_PAGE_STATEMENTS: dict[tuple[bool, bool, bool], Any] = {}


def _tag_page_statement(only_active: bool, by_name: bool, name_contains: bool) -> Any:
    """The tag page query for one combination of filters, built once with bind parameters (repo_id, lim, off,
    and at_ms / name / pattern as the filters need): building and cache-keying a statement per request costs
    more than running it."""
    key = (only_active, by_name, name_contains)
    found = _TAG_PAGE_STATEMENTS.get(key)
    if found is not None:
        return found
    tag, manifest = t.tag, t.manifest
    conds = [tag.c.repository_id == bindparam("repo_id"), tag.c.hidden.is_(False)]
    if only_active:
        at = bindparam("at_ms", type_=BigInteger)
        conds.append(or_(tag.c.lifetime_end_ms.is_(None), tag.c.lifetime_end_ms > at))
    if by_name:
        conds.append(tag.c.name == bindparam("name"))
    if name_contains:
        conds.append(tag.c.name.ilike(bindparam("pattern"), escape="\\"))
    start: Any = tag.c.lifetime_start_ms
    if by_name:
        # One name has few versions: look them up by (repository_id, name) and sort those. `+ 0` keeps
        # SQLite from walking the whole start-ordered index for an order it would get for free.
        start = start + 0
    statement = (
        select(tag.c.id, tag.c.name, tag.c.manifest_id, tag.c.lifetime_start_ms, tag.c.lifetime_end_ms,
               tag.c.reversion, tag.c.immutable, manifest.c.digest, manifest.c.media_type,
               manifest.c.is_manifest_list, manifest.c.layers_compressed_size)
        .select_from(tag.join(manifest, manifest.c.id == tag.c.manifest_id))
        .where(and_(*conds))
        .order_by(start.desc(), tag.c.name, tag.c.id.desc())
        .limit(bindparam("lim", type_=Integer)).offset(bindparam("off", type_=Integer)))
    _TAG_PAGE_STATEMENTS[key] = statement
    return statement


# Which of some digests are manifests of the repository stored with content (a manifest list's present children).
_STORED_CHILDREN = select(t.manifest.c.digest).where(
    t.manifest.c.repository_id == bindparam("repo_id"), t.manifest.c.digest.in_(bindparam("digests", expanding=True)),
    func.length(t.manifest.c.manifest_bytes) > 0)


class RegistryQueries(BaseQueries):
    # ---- who pushed or pulled (audit metadata) ----------------------------------------------------------

    def oauth_token_application(self, token_id: int) -> tuple[str, str] | None:
        """(client id, application name) of the application an OAuth token was issued to."""
        app = t.oauth_application
        row = self.conn.execute(
            select(app.c.client_id, app.c.name)
            .select_from(t.oauth_token.join(app, app.c.id == t.oauth_token.c.application_id))
            .where(t.oauth_token.c.id == token_id)).first()
        return (row[0], row[1]) if row else None

    def app_token_title(self, uuid: str) -> str | None:
        value: str | None = self.conn.execute(select(t.app_specific_token.c.title)
                                              .where(t.app_specific_token.c.uuid == uuid)).scalar()
        return value

    # ---- blobs -----------------------------------------------------------------------------------------

    def blob(self, digest: str) -> BlobRecord | None:
        row = self.conn.execute(select(t.blob.c.digest, t.blob.c.size, t.blob.c.path)
                                .where(t.blob.c.digest == digest)).first()
        return BlobRecord(row[0], int(row[1]), row[2]) if row else None

    def add_blob(self, digest: str, size: int, path: str) -> BlobRecord:
        """Record a stored blob (idempotent: the same digest is the same content)."""
        found = self.blob(digest)
        if found is not None:
            return found
        self.conn.execute(insert(t.blob).values(digest=digest, size=size, path=path, created=now()))
        return BlobRecord(digest, size, path)

    def link_repo_blob(self, repo_id: int, digest: str) -> None:
        present = self.conn.execute(select(t.repo_blob.c.digest).where(
            t.repo_blob.c.repository_id == repo_id, t.repo_blob.c.digest == digest)).first()
        if present is None:
            self.conn.execute(insert(t.repo_blob).values(repository_id=repo_id, digest=digest))

    def repo_blob(self, repo_id: int, digest: str) -> BlobRecord | None:
        """The blob when this repository may serve it (uploaded, mounted or referenced by its manifests)."""
        row = self.conn.execute(
            select(t.blob.c.digest, t.blob.c.size, t.blob.c.path)
            .select_from(t.blob.join(t.repo_blob, t.repo_blob.c.digest == t.blob.c.digest))
            .where(t.repo_blob.c.repository_id == repo_id, t.blob.c.digest == digest)).first()
        return BlobRecord(row[0], int(row[1]), row[2]) if row else None

    def blobs(self, digests: Iterable[str]) -> dict[str, BlobRecord]:
        wanted = list(set(digests))
        if not wanted:
            return {}
        rows = self.conn.execute(select(t.blob.c.digest, t.blob.c.size, t.blob.c.path)
                                 .where(t.blob.c.digest.in_(wanted))).all()
        return {r[0]: BlobRecord(r[0], int(r[1]), r[2]) for r in rows}

    # ---- uploads ---------------------------------------------------------------------------------------

    def create_upload(self, repo_id: int, uuid: str, temp_path: str) -> UploadRecord:
        upload_id = inserted_id(self.conn.execute(insert(t.blob_upload).values(
            uuid=uuid, repository_id=repo_id, byte_count=0, temp_path=temp_path, created=now())))
        return UploadRecord(upload_id, uuid, repo_id, 0, temp_path)

    def upload(self, repo_id: int, uuid: str) -> UploadRecord | None:
        u = t.blob_upload
        row = self.conn.execute(select(u.c.id, u.c.uuid, u.c.repository_id, u.c.byte_count, u.c.temp_path)
                                .where(u.c.uuid == uuid, u.c.repository_id == repo_id)).first()
        return UploadRecord(row[0], row[1], row[2], int(row[3]), row[4]) if row else None

    def set_upload_bytes(self, upload_id: int, byte_count: int) -> None:
        self.conn.execute(update(t.blob_upload).where(t.blob_upload.c.id == upload_id)
                          .values(byte_count=byte_count))

    def delete_upload(self, upload_id: int) -> None:
        self.conn.execute(delete(t.blob_upload).where(t.blob_upload.c.id == upload_id))

    def uploading_bytes(self, repo_id: int) -> int:
        """Bytes received by the repository's unfinished uploads (counted against quota while in flight)."""
        value = self.conn.execute(select(func.coalesce(func.sum(t.blob_upload.c.byte_count), 0))
                                  .where(t.blob_upload.c.repository_id == repo_id)).scalar()
        return int(value or 0)

    # ---- manifests -------------------------------------------------------------------------------------

    def manifest_by_digest(self, repo_id: int, digest: str) -> ManifestRecord | None:
        row = self.conn.execute(select(t.manifest).where(t.manifest.c.repository_id == repo_id,
                                                         t.manifest.c.digest == digest)).first()
        return _manifest(row) if row else None

    def manifest_by_id(self, manifest_id: int) -> ManifestRecord | None:
        row = self.conn.execute(select(t.manifest).where(t.manifest.c.id == manifest_id)).first()
        return _manifest(row) if row else None

    def manifests_by_digest(self, repo_id: int, digests: Iterable[str]) -> dict[str, ManifestRecord]:
        wanted = list(set(digests))
        if not wanted:
            return {}
        rows = self.conn.execute(select(t.manifest).where(t.manifest.c.repository_id == repo_id,
                                                          t.manifest.c.digest.in_(wanted))).all()
        return {r._mapping["digest"]: _manifest(r) for r in rows}

    def create_manifest(self, repo_id: int, *, digest: str, media_type: str, manifest_bytes: str,
                        config_digest: str | None, blob_digests: list[str], child_ids: list[int],
                        layers_compressed_size: int | None, is_manifest_list: bool) -> tuple[ManifestRecord, bool]:
        """(manifest, created?). The caller has checked that every blob and child exists; re-pushing the same
        digest returns the stored manifest unchanged."""
        found = self.manifest_by_digest(repo_id, digest)
        if found is not None:
            return found, False
        manifest_id = inserted_id(self.conn.execute(insert(t.manifest).values(
            repository_id=repo_id, digest=digest, media_type=media_type, manifest_bytes=manifest_bytes,
            config_digest=config_digest, layers_compressed_size=layers_compressed_size,
            is_manifest_list=is_manifest_list, created=now())))
        unique_blobs = list(dict.fromkeys(blob_digests))
        if unique_blobs:
            self.conn.execute(insert(t.manifest_blob), [{"manifest_id": manifest_id, "digest": d}
                                                        for d in unique_blobs])
            for d in unique_blobs:
                self.link_repo_blob(repo_id, d)
        unique_children = list(dict.fromkeys(child_ids))
        if unique_children:
            self.conn.execute(insert(t.manifest_child), [{"manifest_id": manifest_id, "child_manifest_id": c}
                                                         for c in unique_children])
        created = self.manifest_by_id(manifest_id)
        assert created is not None
        return created, True

    def manifest_blob_digests(self, manifest_id: int) -> list[str]:
        return list(self.conn.execute(select(t.manifest_blob.c.digest)
                                      .where(t.manifest_blob.c.manifest_id == manifest_id)).scalars().all())

    def manifest_children(self, manifest_id: int) -> list[ManifestRecord]:
        rows = self.conn.execute(
            select(t.manifest)
            .select_from(t.manifest.join(t.manifest_child, t.manifest_child.c.child_manifest_id == t.manifest.c.id))
            .where(t.manifest_child.c.manifest_id == manifest_id)).all()
        return [_manifest(r) for r in rows]

    # ---- tags ------------------------------------------------------------------------------------------

    def live_tag(self, repo_id: int, name: str, at_ms: int | None = None) -> TagRecord | None:
        """The live, visible version of a tag."""
        at = now_ms() if at_ms is None else at_ms
        row = self.conn.execute(
            select(t.tag).where(t.tag.c.repository_id == repo_id, t.tag.c.name == name,
                                t.tag.c.hidden.is_(False), _live(at))
            .order_by(t.tag.c.lifetime_start_ms.desc(), t.tag.c.id.desc())).first()
        return _tag(row) if row else None

    def manifest_is_alive(self, repo_id: int, manifest_id: int, at_ms: int | None = None) -> bool:
        """Whether a live, visible tag points at the manifest, or at a manifest list holding it (Quay's lookup of a
        manifest that a tag may be moved to; one reachable only from ended tags is found by restoreTag alone)."""
        at = now_ms() if at_ms is None else at_ms
        visible_live = (t.tag.c.repository_id == repo_id, t.tag.c.hidden.is_(False), _live(at))
        direct = select(t.tag.c.id).where(t.tag.c.manifest_id == manifest_id, *visible_live).limit(1)
        if self.conn.execute(direct).first() is not None:
            return True
        parent = (select(t.tag.c.id)
                  .join(t.manifest_child, t.manifest_child.c.manifest_id == t.tag.c.manifest_id)
                  .where(t.manifest_child.c.child_manifest_id == manifest_id, *visible_live).limit(1))
        return self.conn.execute(parent).first() is not None

    def has_expired_tag(self, repo_id: int, name: str, at_ms: int | None = None) -> bool:
        """Whether the tag has an ended (deleted or expired) version: pulling it says so instead of 'unknown'."""
        at = now_ms() if at_ms is None else at_ms
        return self.conn.execute(
            select(t.tag.c.id).where(t.tag.c.repository_id == repo_id, t.tag.c.name == name,
                                     t.tag.c.hidden.is_(False), t.tag.c.lifetime_end_ms.is_not(None),
                                     t.tag.c.lifetime_end_ms <= at).limit(1)).first() is not None

    def set_tag(self, repo_id: int, name: str, manifest_id: int, *, reversion: bool = False,
                at_ms: int | None = None, expires_ms: int | None = None) -> tuple[TagRecord, TagRecord | None]:
        """Point a tag at a manifest: (live tag, previous live version or None).

        The previous live version is ended at now (it stays as history) and a new version starts, keeping the
        old one's immutability. Pointing a tag at the manifest it already has changes nothing. The caller
        refuses immutable tags first.
        """
        at = now_ms() if at_ms is None else at_ms
        previous = self.live_tag(repo_id, name, at)
        if previous is not None and previous.manifest_id == manifest_id and not reversion:
            return previous, previous
        if previous is not None:
            self.conn.execute(update(t.tag).where(t.tag.c.id == previous.id).values(lifetime_end_ms=at))
        tag_id = inserted_id(self.conn.execute(insert(t.tag).values(
            repository_id=repo_id, name=name, manifest_id=manifest_id, lifetime_start_ms=at,
            lifetime_end_ms=expires_ms, reversion=reversion, hidden=False,
            immutable=previous.immutable if previous is not None else False)))
        return self.tag_by_id(tag_id), previous

    def create_hidden_tag(self, repo_id: int, manifest_id: int, expires_ms: int) -> TagRecord:
        """A temporary tag that keeps a manifest pushed by digest alive until it expires (never listed)."""
        tag_id = inserted_id(self.conn.execute(insert(t.tag).values(
            repository_id=repo_id, name=f"$temp-{new_uuid()}", manifest_id=manifest_id,
            lifetime_start_ms=now_ms(), lifetime_end_ms=expires_ms, reversion=False, hidden=True,
            immutable=False)))
        return self.tag_by_id(tag_id)

    def tag_by_id(self, tag_id: int) -> TagRecord:
        return _tag(self.conn.execute(select(t.tag).where(t.tag.c.id == tag_id)).one())

    def end_tag(self, tag_id: int, at_ms: int | None = None) -> None:
        """Soft-delete one tag version: it leaves the live set and stays in the history."""
        self.conn.execute(update(t.tag).where(t.tag.c.id == tag_id)
                          .values(lifetime_end_ms=now_ms() if at_ms is None else at_ms))

    def set_tag_end(self, tag_id: int, end_ms: int | None) -> None:
        """Change a live tag's expiration (None: never expires)."""
        self.conn.execute(update(t.tag).where(t.tag.c.id == tag_id).values(lifetime_end_ms=end_ms))

    def set_tag_immutable(self, tag_id: int, immutable: bool) -> None:
        self.conn.execute(update(t.tag).where(t.tag.c.id == tag_id).values(immutable=immutable))

    def live_tags_for_manifest(self, repo_id: int, manifest_id: int, at_ms: int | None = None) -> list[TagRecord]:
        at = now_ms() if at_ms is None else at_ms
        rows = self.conn.execute(select(t.tag).where(
            t.tag.c.repository_id == repo_id, t.tag.c.manifest_id == manifest_id, t.tag.c.hidden.is_(False),
            _live(at)).order_by(t.tag.c.name)).all()
        return [_tag(r) for r in rows]

    def manifest_is_referenced(self, repo_id: int, manifest_id: int) -> bool:
        """Whether a manifest can still be fetched by digest: Quay finds only manifests held by a live tag
        (hidden ones count) or by a live manifest list that has it as a child."""
        at = now_ms()
        held = select(t.tag.c.id).where(t.tag.c.repository_id == repo_id, t.tag.c.manifest_id == manifest_id,
                                        _live(at)).limit(1)
        if self.conn.execute(held).first() is not None:
            return True
        parents = select(t.manifest_child.c.manifest_id).where(t.manifest_child.c.child_manifest_id == manifest_id)
        by_parent = select(t.tag.c.id).where(t.tag.c.repository_id == repo_id, t.tag.c.manifest_id.in_(parents),
                                             _live(at)).limit(1)
        return self.conn.execute(by_parent).first() is not None

    def live_tag_names(self, repo_id: int, *, after: str | None, limit: int) -> list[str]:
        """Names of the live tags in name order, after `after` (the /v2 tags/list page)."""
        at = now_ms()
        query = select(t.tag.c.name).where(t.tag.c.repository_id == repo_id, t.tag.c.hidden.is_(False), _live(at))
        if after is not None:
            query = query.where(t.tag.c.name > after)
        return list(self.conn.execute(query.order_by(t.tag.c.name).limit(limit)).scalars().all())

    def tag_history(self, repo_id: int, *, offset: int, limit: int, only_active: bool = False,
                    name: str | None = None, name_contains: str | None = None) -> list[TagWithManifest]:
        """Tag versions newest first (lifetime start desc, then name), hidden ones left out: the API tag list.
        `name` is an exact match; `name_contains` a case-insensitive substring. Ask for limit+1 to learn
        whether another page exists."""
        return self.tag_list_page(repo_id, offset=offset, limit=limit, only_active=only_active, name=name,
                                  name_contains=name_contains)

    # ---- labels ----------------------------------------------------------------------------------------

    def add_label(self, manifest_id: int, key: str, value: str, *, source_type: str = "api",
                  media_type: str = "text/plain") -> LabelRecord:
        label_id = inserted_id(self.conn.execute(insert(t.label).values(
            manifest_id=manifest_id, uuid=new_uuid(), key=key, value=value, source_type=source_type,
            media_type=media_type)))
        return _label(self.conn.execute(select(t.label).where(t.label.c.id == label_id)).one())

    def manifest_labels(self, manifest_id: int, key_prefix: str | None = None) -> list[LabelRecord]:
        query = select(t.label).where(t.label.c.manifest_id == manifest_id)
        if key_prefix:
            query = query.where(func.substr(t.label.c.key, 1, len(key_prefix)) == key_prefix)
        return [_label(r) for r in self.conn.execute(query.order_by(t.label.c.id)).all()]

    def manifest_label(self, manifest_id: int, uuid: str) -> LabelRecord | None:
        row = self.conn.execute(select(t.label).where(t.label.c.manifest_id == manifest_id,
                                                      t.label.c.uuid == uuid)).first()
        return _label(row) if row else None

    def delete_label(self, label_id: int) -> None:
        self.conn.execute(delete(t.label).where(t.label.c.id == label_id))

    # ---- quota -----------------------------------------------------------------------------------------

    def add_namespace_blobs(self, namespace_id: int, digests: Iterable[str]) -> int:
        """Count the blobs of a new manifest against its namespace: only blobs the namespace does not
        reference yet are added. Returns the bytes added."""
        wanted = self.blobs(digests)
        if not wanted:
            return 0
        present = set(self.conn.execute(select(t.namespace_blob.c.digest).where(
            t.namespace_blob.c.namespace_id == namespace_id,
            t.namespace_blob.c.digest.in_(list(wanted)))).scalars().all())
        new = [b for d, b in wanted.items() if d not in present]
        if new:
            self.conn.execute(insert(t.namespace_blob), [
                {"namespace_id": namespace_id, "digest": b.digest, "size": b.size} for b in new])
        return sum(b.size for b in new)

    def namespace_usage(self, namespace_id: int) -> int:
        value = self.conn.execute(select(func.coalesce(func.sum(t.namespace_blob.c.size), 0))
                                  .where(t.namespace_blob.c.namespace_id == namespace_id)).scalar()
        return int(value or 0)

    def repository_usage(self, repo_id: int) -> int:
        """Distinct blobs referenced by the repository's manifests, each counted once."""
        distinct = (select(t.manifest_blob.c.digest).distinct()
                    .select_from(t.manifest_blob.join(t.manifest, t.manifest.c.id == t.manifest_blob.c.manifest_id))
                    .where(t.manifest.c.repository_id == repo_id)).subquery()
        value = self.conn.execute(
            select(func.coalesce(func.sum(t.blob.c.size), 0))
            .select_from(t.blob.join(distinct, distinct.c.digest == t.blob.c.digest))).scalar()
        return int(value or 0)

    def namespace_quota(self, namespace_id: int) -> QuotaRecord | None:
        q = t.namespace_quota
        row = self.conn.execute(select(q.c.id, q.c.namespace_id, q.c.limit_bytes)
                                .where(q.c.namespace_id == namespace_id)).first()
        if row is None:
            return None
        return QuotaRecord(id=row[0], namespace_id=row[1], limit_bytes=int(row[2]), limits=self._limits(row[0]))

    def _limits(self, quota_id: int) -> tuple[QuotaLimitRecord, ...]:
        ql = t.quota_limit
        rows = self.conn.execute(select(ql.c.id, ql.c.type, ql.c.percent)
                                 .where(ql.c.quota_id == quota_id).order_by(ql.c.id)).all()
        return tuple(QuotaLimitRecord(id=r[0], type=r[1], percent=int(r[2])) for r in rows)

    def create_namespace_quota(self, namespace_id: int, limit_bytes: int) -> QuotaRecord:
        quota_id = inserted_id(self.conn.execute(insert(t.namespace_quota).values(
            namespace_id=namespace_id, limit_bytes=limit_bytes)))
        return QuotaRecord(id=quota_id, namespace_id=namespace_id, limit_bytes=limit_bytes, limits=())

    def update_namespace_quota(self, quota_id: int, limit_bytes: int) -> None:
        self.conn.execute(update(t.namespace_quota).where(t.namespace_quota.c.id == quota_id)
                          .values(limit_bytes=limit_bytes))

    def delete_namespace_quota(self, quota_id: int) -> None:
        self.conn.execute(delete(t.quota_limit).where(t.quota_limit.c.quota_id == quota_id))
        self.conn.execute(delete(t.namespace_quota).where(t.namespace_quota.c.id == quota_id))

    def add_quota_limit(self, quota_id: int, limit_type: str, percent: int) -> QuotaLimitRecord:
        limit_id = inserted_id(self.conn.execute(insert(t.quota_limit).values(
            quota_id=quota_id, type=limit_type, percent=percent)))
        return QuotaLimitRecord(id=limit_id, type=limit_type, percent=percent)

    def update_quota_limit(self, limit_id: int, *, limit_type: str | None = None,
                           percent: int | None = None) -> None:
        values: dict[str, Any] = {}
        if limit_type is not None:
            values["type"] = limit_type
        if percent is not None:
            values["percent"] = percent
        if values:
            self.conn.execute(update(t.quota_limit).where(t.quota_limit.c.id == limit_id).values(**values))

    def delete_quota_limit(self, limit_id: int) -> None:
        self.conn.execute(delete(t.quota_limit).where(t.quota_limit.c.id == limit_id))

    def quota_severity(self, namespace_id: int, *, extra_bytes: int = 0,
                       default_reject_bytes: int = 0) -> str | None:
        """Quay's check (data/model/namespacequota.check_limits): each limit allows int(limit_bytes * percent / 100)
        bytes and is hit once usage (plus `extra_bytes`, the uploads in flight) reaches that (>=, since Quay 3.18;
        before it, strictly above); the hit limit allowing the most bytes decides ("Warning" or "Reject"). Without
        a quota, a positive system default rejects once usage reaches it (>=)."""
        usage = self.namespace_usage(namespace_id) + extra_bytes
        quota = self.namespace_quota(namespace_id)
        if quota is None:
            if default_reject_bytes > 0 and usage >= default_reject_bytes:
                return "Reject"
            return None
        best: tuple[int, str] | None = None
        for limit in quota.limits:
            allowed = int(quota.limit_bytes * limit.percent / 100)
            if usage >= allowed and (best is None or allowed > best[0]):
                best = (allowed, limit.type)
        return best[1] if best else None

    # ---- quota API lookups and the registry size (superuser panel) -------------------------------------

    def quota_limit_quota_id(self, limit_id: int) -> int | None:
        """The quota a limit belongs to, whatever its namespace: limit ids are global, so the API can tell
        an unknown limit from one of another quota."""
        value = self.conn.execute(select(t.quota_limit.c.quota_id)
                                  .where(t.quota_limit.c.id == limit_id)).scalar()
        return None if value is None else int(value)

    def stored_blob_bytes(self) -> int:
        """Bytes of every blob the registry stores, each distinct blob counted once."""
        value = self.conn.execute(select(func.coalesce(func.sum(t.blob.c.size), 0))).scalar()
        return int(value or 0)

    def registry_size(self) -> RegistrySizeRecord | None:
        r = t.registry_size
        row = self.conn.execute(select(r.c.size_bytes, r.c.completed_ms, r.c.queued, r.c.running)
                                .order_by(r.c.id).limit(1)).first()
        if row is None:
            return None
        return RegistrySizeRecord(size_bytes=int(row[0]), completed_ms=None if row[1] is None else int(row[1]),
                                  queued=bool(row[2]), running=bool(row[3]))

    def record_registry_size(self, size_bytes: int, completed_ms: int) -> None:
        """Store a finished calculation (the single row is created on first use)."""
        values = {"size_bytes": size_bytes, "completed_ms": completed_ms, "queued": False, "running": False}
        if self.conn.execute(update(t.registry_size).values(**values)).rowcount == 0:
            self.conn.execute(insert(t.registry_size).values(**values))

    # ---- the tag and manifest API (appended: reads the registry protocol itself does not need) -------------

    def tag_list_page(self, repo_id: int, *, offset: int, limit: int, only_active: bool = False,
                      name: str | None = None, name_contains: str | None = None,
                      at_ms: int | None = None) -> list[TagWithManifest]:
        """Tag versions newest first (see `tag_page_rows`) as records."""
        return [TagWithManifest(
                    tag=TagRecord(id=r[0], repository_id=repo_id, name=r[1], manifest_id=r[2],
                                  lifetime_start_ms=r[3], lifetime_end_ms=r[4], reversion=r[5], hidden=False,
                                  immutable=r[6]),
                    manifest_digest=r[7], media_type=r[8], is_manifest_list=r[9], layers_compressed_size=r[10])
                for r in self.tag_page_rows(repo_id, offset=offset, limit=limit, only_active=only_active,
                                            name=name, name_contains=name_contains, at_ms=at_ms)]

    def tag_page_rows(self, repo_id: int, *, offset: int, limit: int, only_active: bool = False,
                      name: str | None = None, name_contains: str | None = None,
                      at_ms: int | None = None) -> list[TagPageRow]:
        """One page of tag versions, newest first, as plain tuples (`TAG_PAGE_COLUMNS`): the API tag list's hot
        path. Hidden tags are left out. The order (lifetime start desc, name, id desc) is exactly the
        ix_tag_repo_start index's, so the database walks the index and stops after offset+limit rows instead of
        sorting the repository's history; the manifest columns come from the same query (a primary-key join per
        row). Ask for limit+1 to learn whether another page exists."""
        params: dict[str, Any] = {"repo_id": repo_id, "lim": limit, "off": offset}
        if only_active:
            params["at_ms"] = now_ms() if at_ms is None else at_ms
        if name is not None:
            params["name"] = name
        if name_contains is not None:
            escaped = name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params["pattern"] = f"%{escaped}%"
        statement = _tag_page_statement(only_active, name is not None, name_contains is not None)
        # The column types already convert (Boolean gives bool on SQLite too); rows only become plain tuples.
        return [tuple(r) for r in self.conn.execute(statement, params).all()]

    def manifest_list_children(self, repo_id: int, list_ids: Iterable[int]) -> dict[int, list[ChildPresence]]:
        """For each manifest list, its entries (from the list's own JSON, so entries that were never stored
        count too) and whether each child is stored with content. At most two queries for any number of lists.

        Read-only requests remember what cannot go stale before the read cache is next emptied: a list's entries
        (content addressed: they never change while the manifest exists, and only an API deletion of the
        repository removes manifests) and which children are stored (a stored manifest stays stored until then).
        Children not known to be stored are asked for every time: a registry push may store them at any moment
        without emptying the cache."""
        wanted = sorted(set(list_ids))
        if not wanted:
            return {}
        entries = self._cached(("manifest_list_entries", *wanted), lambda: self._manifest_list_entries(wanted))
        stored: set[str] = self._cached(("stored_manifest_digests", repo_id), set)
        unknown = sorted({d for ds in entries.values() for d in ds if d not in stored})
        if unknown:
            stored.update(self.conn.execute(_STORED_CHILDREN, {"repo_id": repo_id, "digests": unknown})
                          .scalars().all())
        return {list_id: [ChildPresence(d, d in stored) for d in ds] for list_id, ds in entries.items()}

    def _manifest_list_entries(self, wanted: list[int]) -> dict[int, list[str]]:
        lists = self.conn.execute(select(t.manifest.c.id, t.manifest.c.manifest_bytes)
                                  .where(t.manifest.c.id.in_(wanted))).all()
        return {int(list_id): _list_entry_digests(raw) for list_id, raw in lists}

    def next_tag_expiry_ms(self, repo_id: int, at_ms: int) -> float:
        """The first instant after `at_ms` at which a visible tag of the repository ends by itself (inf when none
        will): until then only writes change which of its tags are live, and writes empty the read cache."""
        def compute() -> tuple[float, float]:
            found = self.conn.execute(select(func.min(t.tag.c.lifetime_end_ms)).where(
                t.tag.c.repository_id == repo_id, t.tag.c.hidden.is_(False),
                t.tag.c.lifetime_end_ms > at_ms)).scalar()
            until = math.inf if found is None else float(found)
            return until, until

        return self._cached_until(("next_tag_expiry", repo_id), compute, at_ms)

    def latest_tag_starts(self, repo_ids: Iterable[int], at_ms: int | None = None) -> dict[int, int]:
        """Most recent lifetime start (ms) of a live, visible tag per repository (listRepos' last_modified)."""
        wanted = list(set(repo_ids))
        if not wanted:
            return {}
        rows = self.conn.execute(
            select(t.tag.c.repository_id, func.max(t.tag.c.lifetime_start_ms))
            .where(t.tag.c.repository_id.in_(wanted), t.tag.c.hidden.is_(False),
                   _live(now_ms() if at_ms is None else at_ms))
            .group_by(t.tag.c.repository_id)).all()
        return {int(r[0]): int(r[1]) for r in rows if r[1] is not None}

    def tag_versions_in_window(self, repo_id: int, name: str, manifest_id: int, *, since_ms: int,
                               until_ms: int) -> list[int]:
        """Ids of the ended versions of a tag on one manifest whose end lies in (since, until]: the rows
        still recoverable through the time machine."""
        return [int(i) for i in self.conn.execute(
            select(t.tag.c.id).where(
                t.tag.c.repository_id == repo_id, t.tag.c.name == name, t.tag.c.manifest_id == manifest_id,
                t.tag.c.lifetime_end_ms.is_not(None), t.tag.c.lifetime_end_ms <= until_ms,
                t.tag.c.lifetime_end_ms > since_ms).order_by(t.tag.c.id)).scalars().all()]

    def expire_hidden_child_tags(self, repo_id: int, manifest_id: int, end_ms: int) -> None:
        """End the temporary tags that keep a manifest list's children alive, no later than `end_ms`."""
        children = select(t.manifest_child.c.child_manifest_id).where(t.manifest_child.c.manifest_id == manifest_id)
        self.conn.execute(update(t.tag).where(
            t.tag.c.repository_id == repo_id, t.tag.c.manifest_id.in_(children), t.tag.c.hidden.is_(True),
            or_(t.tag.c.lifetime_end_ms.is_(None), t.tag.c.lifetime_end_ms > end_ms)).values(lifetime_end_ms=end_ms))

    def pull_counts(self, repo_id: int, *, tag: str | None = None,
                    manifest_digest: str | None = None) -> tuple[int, datetime | None]:
        """(count, last time) of the audited pulls of a repository by tag or by digest, read from the
        pull_repo audit entries (Quay derives its pull statistics from the same events)."""
        meta = t.log_entry.c.metadata
        conds = [t.log_entry.c.repository_id == repo_id, t.log_entry.c.kind == "pull_repo"]
        if tag is not None:
            conds.append(meta["tag"].as_string() == tag)
        if manifest_digest is not None:
            conds.append(meta["manifest_digest"].as_string() == manifest_digest)
        row = self.conn.execute(select(func.count(), func.max(t.log_entry.c.datetime)).where(and_(*conds))).one()
        return int(row[0] or 0), aware(row[1])



@dataclass(frozen=True)
class ChildPresence:
    """One entry of a manifest list and whether its manifest is stored here with content."""

    digest: str
    present: bool


def _list_entry_digests(raw: str) -> list[str]:
    try:
        doc = json.loads(raw)
    except ValueError:
        return []
    entries = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        return []
    out = []
    for entry in entries:
        digest = entry.get("digest") if isinstance(entry, dict) else None
        if isinstance(digest, str) and digest not in out:
            out.append(digest)
    return out
