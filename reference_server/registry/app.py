"""The /v2 registry protocol as an ASGI app: token endpoint, blobs and uploads, manifests, tags, catalog.

Every step that touches the database is one transaction and never spans an `await`: request bodies are
streamed to disk between transactions, so concurrent requests in the event loop never hold SQLite locks
across each other. The server runs one process, so quota accounting is serialised by construction.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import uuid as uuidlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from reference_server.auth import authz
from reference_server.auth.scopes import RepoRole
from reference_server.config import ServerConfig
from reference_server.domain.models import Repository
from reference_server.domain.names import valid_tag_name
from reference_server.registry import errors as e
from reference_server.registry import manifests as mf
from reference_server.registry.access import (
    Caller,
    authenticate,
    authorize_scope,
    caller_from_context,
    log_metadata,
    token_context,
)
from reference_server.registry.blobstore import BlobStore
from reference_server.registry.errors import RegistryError
from reference_server.registry.tokens import Grant, InvalidToken, TokenSigner
from reference_server.storage import Db, Storage
from reference_server.storage.registry import ManifestRecord, UploadRecord, now_ms

log = logging.getLogger("reference_server.registry")

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
BLOB_CONTENT_TYPE = "application/octet-stream"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_PAGE = 100
# Quay keeps a manifest pushed by digest (a manifest list's child) alive this long through a hidden tag.
TEMP_TAG_EXPIRATION_S = 3600
EXPIRES_AFTER_LABEL = "quay.expires-after"
_DURATION_RE = re.compile(r"^(\d+)([smhdw])$")
_DURATION_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RANGE_RE = re.compile(r"^(?:bytes=)?(\d+)-(\d+)$")
_GET_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")

_ROUTES: list[tuple[str, re.Pattern[str]]] = [
    ("tags", re.compile(r"^/v2/(?P<name>.+?)/tags/list$")),
    ("manifest", re.compile(r"^/v2/(?P<name>.+?)/manifests/(?P<ref>[^/]+)$")),
    ("uploads", re.compile(r"^/v2/(?P<name>.+?)/blobs/uploads/?$")),
    ("upload", re.compile(r"^/v2/(?P<name>.+?)/blobs/uploads/(?P<uuid>[^/]+)$")),
    ("blob", re.compile(r"^/v2/(?P<name>.+?)/blobs/(?P<digest>[^/]+)$")),
]


def split_name(name: str) -> tuple[str, str]:
    namespace, _, repo = name.partition("/")
    # A bare name lives in Quay's library namespace.
    return ("library", namespace) if not repo else (namespace, repo)


def _duration_ms(text: str) -> int | None:
    found = _DURATION_RE.match(text.strip())
    return int(found.group(1)) * _DURATION_UNIT[found.group(2)] * 1000 if found else None


class RegistryApp:
    def __init__(self, config: ServerConfig, storage: Storage) -> None:
        self.config = config
        self.storage = storage
        root = storage.blob_dir if storage.blob_dir is not None else Path(tempfile.mkdtemp(prefix="quay-blobs-"))
        self.blobs = BlobStore(root)
        self.signer = TokenSigner(storage)

    # ---- plumbing --------------------------------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[Db]:
        """One short transaction. Registry writes never change what the API read cache holds (users, tokens,
        repositories, grants), so it may be used; a repository created by /v2/auth bumps it explicitly."""
        with self.storage.transaction(read_only=True) as db:
            yield db

    def base_url(self, request: Request) -> str:
        host = request.headers.get("host") or self.config.server_hostname
        return f"{request.url.scheme}://{host}"

    def service(self, request: Request) -> str:
        """The token audience this registry advertises: SERVER_HOSTNAME when configured, else the Host the
        client used (so a server on 127.0.0.1:<port> works without configuration)."""
        if "SERVER_HOSTNAME" in self.config.raw:
            return self.config.server_hostname
        return request.headers.get("host") or self.config.server_hostname

    def challenge(self, request: Request, repository: str | None = None, scopes: tuple[str, ...] = ()) -> str:
        value = f'Bearer realm="{self.base_url(request)}/v2/auth",service="{self.service(request)}"'
        if repository:
            value += f',scope="repository:{repository}' + (":" + ",".join(scopes) if scopes else "") + '"'
        return value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.dispatch(request)
        except RegistryError as exc:
            response = self.error(request, exc)
        except Exception:
            log.exception("unhandled registry error on %s %s", request.method, request.url.path)
            response = self.error(request, RegistryError("UNKNOWN", "unknown error", 500))
        response.headers.update(API_VERSION_HEADER)
        await response(scope, receive, send)

    def error(self, request: Request, exc: RegistryError) -> Response:
        headers = dict(exc.headers)
        if exc.status == 401:
            headers["WWW-Authenticate"] = self.challenge(request, exc.repository, exc.scopes)
        body = b"" if request.method == "HEAD" else json.dumps(exc.body()).encode()
        response = Response(body, exc.status, headers, media_type="application/json")
        if request.method == "HEAD":
            response.headers["Content-Length"] = str(len(json.dumps(exc.body())))
        return response

    async def dispatch(self, request: Request) -> Response:
        path = request.url.path
        method = request.method
        if path in ("/v2", "/v2/"):
            return self.base(request)
        if path == "/v2/auth":
            return self.auth(request)
        if path == "/v2/_catalog":
            return self.catalog(request)
        for kind, pattern in _ROUTES:
            found = pattern.match(path)
            if found is None:
                continue
            args = found.groupdict()
            name = args.pop("name")
            if kind == "tags" and method in ("GET", "HEAD"):
                return self.tags_list(request, name)
            if kind == "manifest":
                if method in ("GET", "HEAD"):
                    return self.get_manifest(request, name, args["ref"])
                if method == "PUT":
                    return await self.put_manifest(request, name, args["ref"])
                if method == "DELETE":
                    return self.delete_manifest(request, name, args["ref"])
            if kind == "uploads" and method == "POST":
                return await self.start_upload(request, name)
            if kind == "upload":
                if method == "GET":
                    return self.upload_status(request, name, args["uuid"])
                if method == "PATCH":
                    return await self.upload_chunk(request, name, args["uuid"])
                if method == "PUT":
                    return await self.finish_upload(request, name, args["uuid"])
                if method == "DELETE":
                    return self.cancel_upload(request, name, args["uuid"])
            if kind == "blob":
                if method in ("GET", "HEAD"):
                    return self.get_blob(request, name, args["digest"])
                if method == "DELETE":
                    self.grant(request, name, push=True)
                    raise e.unsupported()
            return Response(json.dumps({"errors": [{"code": "UNSUPPORTED", "message":
                                        "The operation is unsupported.", "detail": {}}]}).encode(), 405,
                            media_type="application/json")
        return Response(json.dumps({"errors": [{"code": "NOT_FOUND", "message": "not found", "detail": {}}]})
                        .encode(), 404, media_type="application/json")

    # ---- authorization ---------------------------------------------------------------------------------

    def token(self, request: Request, name: str | None, scopes: tuple[str, ...]) -> Grant | None:
        """The verified bearer token, None without one; a bad one is refused with a fresh challenge."""
        header = request.headers.get("authorization", "").strip()
        if not header:
            return None
        kind, _, credential = header.partition(" ")
        if kind.lower() != "bearer" or not credential.strip():
            raise e.unauthorized(name, scopes)
        try:
            return self.signer.verify(credential.strip(), self.service(request))
        except InvalidToken as exc:
            raise e.unauthorized(name, scopes) from exc

    def grant(self, request: Request, name: str, *, push: bool) -> Grant | None:
        """Check the token's access list for this repository (pull or push); anonymous pulls of public
        repositories are checked by `readable`."""
        scopes = ("pull", "push") if push else ("pull",)
        found = self.token(request, name, scopes)
        if push and (found is None or not found.can_push(name)):
            raise e.unauthorized(name, scopes)
        return found

    def readable(self, request: Request, db: Db, name: str) -> tuple[Repository | None, Grant | None]:
        found = self.grant(request, name, push=False)
        namespace, repo_name = split_name(name)
        repo = db.repository(namespace, repo_name)
        if found is not None and found.can_pull(name):
            return repo, found
        if repo is not None and repo.is_public and self.config.feature("ANONYMOUS_ACCESS"):
            if repo.kind != "image":
                raise e.unsupported(f"This repository is for managing {repo.kind} and not container images.")
            return repo, found
        raise e.unauthorized(name, ("pull",))

    def caller(self, db: Db, found: Grant | None) -> Caller:
        if found is None:
            return caller_from_context(db, "(anonymous)", {})
        return caller_from_context(db, found.subject, found.context)

    def audit(self, db: Db, request: Request, kind: str, repo: Repository, found: Grant | None,
              **extra: Any) -> None:
        caller = self.caller(db, found)
        metadata: dict[str, Any] = {"repo": repo.name, "namespace": repo.namespace,
                                    "user-agent": request.headers.get("user-agent", "")}
        metadata.update(extra)
        metadata.update(log_metadata(db, caller))
        db.write_log(kind, account_id=repo.namespace_id, performer_id=caller.user.id if caller.user else None,
                     repository_id=repo.id, ip=request.client.host if request.client else None, metadata=metadata)

    @staticmethod
    def existing(db: Db, name: str) -> Repository:
        namespace, repo_name = split_name(name)
        repo = db.repository(namespace, repo_name)
        if repo is None:
            raise e.name_unknown()
        return repo

    def quota_on(self) -> bool:
        return self.config.feature("QUOTA_MANAGEMENT") and self.config.feature("VERIFY_QUOTA")

    def check_quota(self, db: Db, repo: Repository, extra_bytes: int = 0) -> bool:
        """True when a Reject limit is hit (usage >= threshold, Quay's rule)."""
        if not self.quota_on():
            return False
        default_reject = int(self.config.raw.get("DEFAULT_SYSTEM_REJECT_QUOTA_BYTES") or 0)
        return db.quota_severity(repo.namespace_id, extra_bytes=extra_bytes,
                                 default_reject_bytes=default_reject) == "Reject"

    # ---- base and token endpoints ----------------------------------------------------------------------

    def base(self, request: Request) -> Response:
        found = self.token(request, None, ())
        headers = {"WWW-Authenticate": self.challenge(request)}
        # Quay answers the version check with the literal `true`, 401 when no valid token came with it.
        return Response(b"true", 200 if found is not None else 401, headers, media_type="text/html")

    def auth(self, request: Request) -> Response:
        header = request.headers.get("authorization")
        scopes = request.query_params.getlist("scope")
        if not header and not self.config.feature("ANONYMOUS_ACCESS"):
            raise e.unauthorized()
        created = False
        with self.tx() as db:
            caller = authenticate(db, self.config, header)
            if caller.anonymous and not scopes:
                raise e.unauthorized()
            hostnames = [self.config.server_hostname, request.headers.get("host") or self.config.server_hostname]
            access: list[dict[str, Any]] = []
            names: list[str] = []
            for scope in scopes:
                if not scope:
                    if caller.anonymous:
                        raise e.unauthorized()
                    continue
                result = authorize_scope(db, self.config, caller, scope, hostnames)
                created = created or result.created is not None
                access.append({"type": "repository", "name": result.name, "actions": result.actions})
                names.append(f"{result.namespace}/{result.repository}")
            context, subject = token_context(caller, names)
        if created:
            # A repository appeared outside the API: the API's read cache must forget negative lookups.
            self.storage.read_cache.bump()
        token = self.signer.issue(audience=request.query_params.get("service"), subject=subject, context=context,
                                  access=access)
        return Response(json.dumps({"token": token}).encode(), 200,
                        {"Cache-Control": "no-cache, no-store, must-revalidate"}, media_type="application/json")

    # ---- catalog and tags ------------------------------------------------------------------------------

    @staticmethod
    def _limit(request: Request, minimum: int) -> int:
        raw = request.query_params.get("n")
        try:
            wanted = int(raw) if raw is not None else MAX_PAGE
        except ValueError:
            wanted = MAX_PAGE if minimum == 0 else 0
        return max(min(wanted, MAX_PAGE), minimum)

    def catalog(self, request: Request) -> Response:
        found = self.token(request, None, ())
        limit = self._limit(request, 1)
        page_token = request.query_params.get("next_page") or request.query_params.get("last")
        start_id: int | None = None
        if page_token:
            plain = self.storage.secrets.decrypt(page_token)
            try:
                start_id = int(json.loads(plain)["start_id"]) if plain else None
            except (ValueError, KeyError, TypeError):
                start_id = None
        include_public = bool(self.config.raw.get("FEATURE_PUBLIC_CATALOG", False))
        with self.tx() as db:
            caller = self.caller(db, found)
            if caller.user is None and not include_public:
                repos: list[Repository] = []
            else:
                repos = db.visible_repositories(user_id=caller.user.id if caller.user else None,
                                                include_public=include_public, kind="image", start_id=start_id,
                                                limit=limit + 1)
        headers: dict[str, str] = {}
        if len(repos) > limit:
            next_token = self.storage.secrets.encrypt(json.dumps({"start_id": max(r.id for r in repos)}))
            query = urlencode({"n": limit, "next_page": next_token})
            headers["Link"] = f'<{self.base_url(request)}/v2/_catalog?{query}>; rel="next"'
        body = {"repositories": [r.full_name for r in repos][:limit]}
        return Response(json.dumps(body).encode(), 200, headers, media_type="application/json")

    def tags_list(self, request: Request, name: str) -> Response:
        limit = self._limit(request, 0)
        last = request.query_params.get("last")
        last = last.strip() if last is not None else None
        with self.tx() as db:
            repo, _found = self.readable(request, db, name)
            if repo is None:
                raise e.name_unknown()
            names = db.live_tag_names(repo.id, after=last, limit=limit + 1) if limit > 0 else []
        headers: dict[str, str] = {}
        if len(names) > limit and limit > 0:
            query = urlencode({"n": limit, "last": names[limit - 1]})
            headers["Link"] = f'<{self.base_url(request)}/v2/{name}/tags/list?{query}>; rel="next"'
        body = {"name": f"{repo.namespace}/{repo.name}", "tags": names[:limit]}
        return Response(json.dumps(body).encode(), 200, headers, media_type="application/json")

    # ---- blobs -----------------------------------------------------------------------------------------

    def get_blob(self, request: Request, name: str, digest: str) -> Response:
        with self.tx() as db:
            repo, _found = self.readable(request, db, name)
            if repo is None:
                raise e.blob_unknown()
            blob = db.repo_blob(repo.id, digest)
        if blob is None or not self.blobs.absolute(blob.path).exists():
            raise e.blob_unknown()
        headers = {"Docker-Content-Digest": digest, "Content-Type": BLOB_CONTENT_TYPE, "Accept-Ranges": "bytes",
                   "Cache-Control": "max-age=31536000"}
        start, end, status = 0, blob.size - 1, 200
        wanted = request.headers.get("range")
        if wanted and request.method == "GET":
            found = _GET_RANGE_RE.match(wanted.strip())
            if found is None or (not found.group(1) and not found.group(2)):
                return Response(b"", 416, {"Content-Range": f"bytes */{blob.size}"})
            if found.group(1):
                start = int(found.group(1))
                end = min(int(found.group(2)), blob.size - 1) if found.group(2) else blob.size - 1
            else:  # a suffix range: the last N bytes
                start = max(blob.size - int(found.group(2)), 0)
            if start > end or start >= blob.size:
                return Response(b"", 416, {"Content-Range": f"bytes */{blob.size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
        headers["Content-Length"] = str(max(end - start + 1, 0))
        if request.method == "HEAD":
            return Response(b"", status, headers)
        return StreamingResponse(self.blobs.read_range(blob.path, start, end), status, headers)

    def _upload_location(self, request: Request, name: str, upload_uuid: str) -> str:
        return f"{self.base_url(request)}/v2/{name}/blobs/uploads/{upload_uuid}"

    def _blob_created(self, request: Request, name: str, digest: str) -> Response:
        return Response(b"", 201, {"Docker-Content-Digest": digest,
                                   "Location": f"{self.base_url(request)}/v2/{name}/blobs/{digest}"})

    def _try_mount(self, request: Request, db: Db, repo: Repository, name: str, digest: str,
                   found: Grant | None) -> Response | None:
        source_name = request.query_params.get("from")
        if source_name is None:
            raise e.invalid_request("Missing `from` repository argument")
        namespace, repo_name = split_name(source_name)
        source = db.repository(namespace, repo_name)
        if source is None:
            return None
        if not (source.is_public or (found is not None and found.can_pull(source_name))
                or self._caller_can_read(db, found, source)):
            return None
        blob = db.repo_blob(source.id, digest)
        if blob is None:
            return None
        db.link_repo_blob(repo.id, digest)
        return self._blob_created(request, name, digest)

    def _caller_can_read(self, db: Db, found: Grant | None, repo: Repository) -> bool:
        """Mounting checks the caller's own read permission on the source, not only the token's list
        (clients rarely ask for a pull scope on the source repository)."""
        caller = self.caller(db, found)
        if caller.user is None:
            return False
        namespace = db.user_by_id(repo.namespace_id)
        role = authz.effective_repo_role(caller.identity, db.grants(caller.user, namespace, repo))
        return role >= RepoRole.READ

    async def start_upload(self, request: Request, name: str) -> Response:
        found = self.grant(request, name, push=True)
        mount = request.query_params.get("mount")
        digest = request.query_params.get("digest")
        upload_uuid = str(uuidlib.uuid4())
        with self.tx() as db:
            repo = self.existing(db, name)
            if mount is not None:
                mounted = self._try_mount(request, db, repo, name, mount, found)
                if mounted is not None:
                    return mounted
            if self.check_quota(db, repo):
                raise e.quota_exceeded()
            upload = db.create_upload(repo.id, upload_uuid, self.blobs.start_upload(upload_uuid))
        if digest is None:
            # Quay renders the empty range of a new upload as "bytes=0--1"; kept for fidelity.
            return Response(b"", 202, {"Docker-Upload-UUID": upload_uuid, "Range": "bytes=0--1",
                                       "Location": self._upload_location(request, name, upload_uuid)})
        await self._receive_chunk(request, name, repo, upload)
        return self._commit(request, name, repo, upload, digest)

    def _load_upload(self, db: Db, name: str, upload_uuid: str) -> tuple[Repository, UploadRecord]:
        repo = self.existing(db, name)
        upload = db.upload(repo.id, upload_uuid)
        if upload is None:
            raise e.blob_upload_unknown()
        return repo, upload

    def upload_status(self, request: Request, name: str, upload_uuid: str) -> Response:
        self.grant(request, name, push=True)
        with self.tx() as db:
            _repo, upload = self._load_upload(db, name, upload_uuid)
        return Response(b"", 204, {"Docker-Upload-UUID": upload_uuid,
                                   # Quay's upload status range ends at the byte count itself.
                                   "Range": f"bytes=0-{upload.byte_count}",
                                   "Location": self._upload_location(request, name, upload_uuid)})

    async def _receive_chunk(self, request: Request, name: str, repo: Repository, upload: UploadRecord) -> int:
        """Check quota with the bytes already in flight (Quay checks before taking the chunk), then append the
        request body and record the new size; a refused chunk cancels the upload. Returns the new size."""
        content_range = request.headers.get("content-range")
        if content_range:
            found = _RANGE_RE.match(content_range.strip())
            if found is None:
                raise e.invalid_request("Invalid range header")
            start, end = int(found.group(1)), int(found.group(2))
            if end < start:
                raise e.invalid_request("Invalid range header")
            if start != upload.byte_count:
                raise RegistryError("BLOB_UPLOAD_INVALID", "blob upload invalid", 416, headers={
                    "Location": self._upload_location(request, name, upload.uuid),
                    "Range": f"0-{max(upload.byte_count - 1, 0)}", "Docker-Upload-UUID": upload.uuid})
        with self.tx() as db:
            refused = self.check_quota(db, repo, db.uploading_bytes(repo.id))
            if refused:
                db.delete_upload(upload.id)
        if refused:
            self.blobs.discard(upload.temp_path)
            raise e.quota_exceeded()
        received = 0
        try:
            with open(self.blobs.absolute(upload.temp_path), "ab") as fh:
                async for chunk in request.stream():
                    if chunk:
                        fh.write(chunk)
                        received += len(chunk)
        except OSError as exc:
            raise e.blob_upload_unknown() from exc
        size = upload.byte_count + received
        with self.tx() as db:
            if db.upload(repo.id, upload.uuid) is None:
                raise e.blob_upload_unknown()
            db.set_upload_bytes(upload.id, size)
        return size

    async def upload_chunk(self, request: Request, name: str, upload_uuid: str) -> Response:
        self.grant(request, name, push=True)
        with self.tx() as db:
            repo, upload = self._load_upload(db, name, upload_uuid)
        size = await self._receive_chunk(request, name, repo, upload)
        return Response(b"", 202, {"Location": self._upload_location(request, name, upload_uuid),
                                   "Range": f"0-{max(size - 1, 0)}", "Docker-Upload-UUID": upload_uuid})

    async def finish_upload(self, request: Request, name: str, upload_uuid: str) -> Response:
        self.grant(request, name, push=True)
        digest = request.query_params.get("digest")
        if digest is None:
            raise e.blob_upload_invalid({"reason": "Missing digest arg on monolithic upload"})
        with self.tx() as db:
            repo, upload = self._load_upload(db, name, upload_uuid)
        size = await self._receive_chunk(request, name, repo, upload)
        return self._commit(request, name, repo, UploadRecord(upload.id, upload.uuid, repo.id, size,
                                                              upload.temp_path), digest)

    def _commit(self, request: Request, name: str, repo: Repository, upload: UploadRecord, digest: str) -> Response:
        """Verify the received bytes against the digest and store them at their content address."""
        problem = mf.check_digest_format(digest)
        actual = self.blobs.digest_of(upload.temp_path)
        if problem is not None or actual != digest:
            with self.tx() as db:
                db.delete_upload(upload.id)
            self.blobs.discard(upload.temp_path)
            raise problem or e.digest_invalid({"digest": digest, "actual": actual})
        size = self.blobs.size(upload.temp_path)
        stored = self.blobs.commit(upload.temp_path, digest)
        with self.tx() as db:
            db.add_blob(digest, size, stored)
            db.link_repo_blob(repo.id, digest)
            db.delete_upload(upload.id)
        return self._blob_created(request, name, digest)

    def cancel_upload(self, request: Request, name: str, upload_uuid: str) -> Response:
        self.grant(request, name, push=True)
        with self.tx() as db:
            _repo, upload = self._load_upload(db, name, upload_uuid)
            db.delete_upload(upload.id)
        self.blobs.discard(upload.temp_path)
        return Response(b"", 204)

    # ---- manifests -------------------------------------------------------------------------------------

    @staticmethod
    def _accepted(request: Request) -> list[str]:
        out = []
        for header in request.headers.getlist("accept"):
            for part in header.split(","):
                media = part.split(";")[0].strip()
                if media:
                    out.append(media)
        return out

    def _negotiate(self, db: Db, request: Request, manifest: ManifestRecord) -> ManifestRecord | None:
        """The stored manifest when the client accepts its type; for a list the client cannot read, its
        linux/amd64 image when that one is acceptable (Quay's fallback); otherwise nothing."""
        accepted = self._accepted(request)
        if not accepted or "*/*" in accepted or manifest.media_type in accepted:
            return manifest
        if manifest.is_manifest_list:
            try:
                entries = json.loads(manifest.manifest_bytes).get("manifests", [])
            except (ValueError, AttributeError):
                entries = []
            children = {c.digest: c for c in db.manifest_children(manifest.id)}
            for entry in entries:
                platform = entry.get("platform") or {}
                child = children.get(entry.get("digest"))
                if (child is not None and platform.get("os") == "linux"
                        and platform.get("architecture") == "amd64" and child.media_type in accepted):
                    return child
        return None

    def get_manifest(self, request: Request, name: str, ref: str) -> Response:
        by_digest = bool(mf.DIGEST_RE.match(ref))
        with self.tx() as db:
            repo, found = self.readable(request, db, name)
            if repo is None:
                raise e.name_unknown()
            if by_digest:
                manifest = db.manifest_by_digest(repo.id, ref)
                if manifest is None or not db.manifest_is_referenced(repo.id, manifest.id):
                    raise e.manifest_unknown()
                served = manifest
            else:
                tag = db.live_tag(repo.id, ref) if valid_tag_name(ref) else None
                if tag is None:
                    if valid_tag_name(ref) and db.has_expired_tag(repo.id, ref):
                        raise e.tag_expired(ref)
                    raise e.manifest_unknown()
                manifest = db.manifest_by_id(tag.manifest_id)
                if manifest is None:
                    raise e.manifest_invalid()
                negotiated = self._negotiate(db, request, manifest)
                if negotiated is None:
                    raise e.manifest_unknown()
                served = negotiated
            if request.method == "GET":
                extra = {"manifest_digest": ref} if by_digest else {"tag": ref}
                self.audit(db, request, "pull_repo", repo, found, **extra)
        body = served.manifest_bytes.encode()
        headers = {"Docker-Content-Digest": served.digest, "Content-Length": str(len(body))}
        if request.method == "HEAD":
            return Response(b"", 200, headers, media_type=served.media_type)
        return Response(body, 200, headers, media_type=served.media_type)

    async def put_manifest(self, request: Request, name: str, ref: str) -> Response:
        found = self.grant(request, name, push=True)
        by_digest = bool(mf.DIGEST_RE.match(ref))
        if not by_digest and not valid_tag_name(ref):
            raise RegistryError("TAG_INVALID", "manifest tag did not match URI", 400)
        raw = await request.body()
        if len(raw) > MAX_MANIFEST_BYTES:
            raise e.manifest_invalid("manifest too large", 413)
        parsed = mf.parse(raw, request.headers.get("content-type"))
        if by_digest and parsed.digest != ref:
            raise e.manifest_invalid("manifest digest mismatch")
        labels: dict[str, str] = {}
        with self.tx() as db:
            repo = self.existing(db, name)
            if parsed.config is not None:
                config_blob = db.repo_blob(repo.id, parsed.config.digest)
                if config_blob is not None and config_blob.size <= MAX_MANIFEST_BYTES:
                    labels = mf.config_labels(self.blobs.absolute(config_blob.path).read_bytes())
        with self.tx() as db:
            repo = self.existing(db, name)
            manifest, created = self._store_manifest(db, repo, parsed, labels)
            if not by_digest:
                current = db.live_tag(repo.id, ref)
                if current is not None and current.immutable and current.manifest_id != manifest.id:
                    raise e.tag_immutable(ref)
            refused = self.check_quota(db, repo)
            if refused:
                # Quay keeps the written manifest (and its accounting) but only under an already-expired
                # hidden tag, so garbage collection removes it.
                db.create_hidden_tag(repo.id, manifest.id, now_ms())
            elif by_digest:
                db.create_hidden_tag(repo.id, manifest.id, now_ms() + TEMP_TAG_EXPIRATION_S * 1000)
            else:
                expires = _duration_ms(labels.get(EXPIRES_AFTER_LABEL, "")) if created else None
                start = now_ms()
                db.set_tag(repo.id, ref, manifest.id, at_ms=start,
                           expires_ms=start + expires if expires else None)
                if self.config.feature("IMMUTABLE_TAGS"):
                    # Immutability policies cover tags pushed after them too, in the same transaction.
                    db.apply_immutability_policies(repo.id, ref)
                self.audit(db, request, "push_repo", repo, found, tag=ref)
        # Tags changed: read requests must not be answered from the cache's tag lists any more.
        self.storage.read_cache.bump()
        if refused:
            raise e.quota_exceeded()
        return Response(b"OK", 201, {"Docker-Content-Digest": manifest.digest,
                                     "Location": f"{self.base_url(request)}/v2/{name}/manifests/{manifest.digest}"})

    def _store_manifest(self, db: Db, repo: Repository, parsed: mf.ParsedManifest,
                        labels: dict[str, str]) -> tuple[ManifestRecord, bool]:
        existing = db.manifest_by_digest(repo.id, parsed.digest)
        if existing is not None:
            return existing, False
        child_ids: list[int] = []
        layers_size: int | None = None
        if parsed.is_list:
            children = db.manifests_by_digest(repo.id, [c.digest for c in parsed.children])
            for child in parsed.children:
                if child.digest not in children:
                    raise e.manifest_invalid(f"Unknown child manifest `{child.digest}`")
                child_ids.append(children[child.digest].id)
        else:
            for digest in parsed.blob_digests:
                if db.repo_blob(repo.id, digest) is None:
                    raise e.manifest_invalid(f"Unknown blob `{digest}`")
            stored = db.blobs(d.digest for d in parsed.layers if not d.foreign)
            layers_size = sum(stored[d.digest].size for d in parsed.layers if not d.foreign)
        manifest, created = db.create_manifest(
            repo.id, digest=parsed.digest, media_type=parsed.media_type, manifest_bytes=parsed.raw.decode("utf-8"),
            config_digest=parsed.config.digest if parsed.config else None, blob_digests=parsed.blob_digests,
            child_ids=child_ids, layers_compressed_size=layers_size, is_manifest_list=parsed.is_list)
        if created:
            db.add_namespace_blobs(repo.namespace_id, parsed.blob_digests)
            for key, value in labels.items():
                if key:
                    db.add_label(manifest.id, key, value, source_type="manifest",
                                 media_type="application/json" if _is_json(value) else "text/plain")
        return manifest, created

    def delete_manifest(self, request: Request, name: str, ref: str) -> Response:
        found = self.grant(request, name, push=True)
        if not mf.DIGEST_RE.match(ref):
            # Deleting by tag is not part of the protocol.
            raise e.unsupported()
        with self.tx() as db:
            repo = self.existing(db, name)
            manifest = db.manifest_by_digest(repo.id, ref)
            if manifest is None:
                raise e.manifest_unknown()
            tags = db.live_tags_for_manifest(repo.id, manifest.id)
            if not tags:
                raise e.manifest_unknown()
            for tag in tags:
                if tag.immutable:
                    raise e.tag_immutable(tag.name)
            at = now_ms()
            for tag in tags:
                db.end_tag(tag.id, at)
                self.audit(db, request, "delete_tag", repo, found, tag=tag.name, digest=ref)
        self.storage.read_cache.bump()
        return Response(b"", 202)


def _is_json(value: str) -> bool:
    text = value.strip()
    if not text.startswith(("{", "[")):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True

