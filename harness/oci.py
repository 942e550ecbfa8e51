"""A small, typed OCI / Docker registry client on httpx, for suites and load profiles.

It speaks the /v2 protocol the way `docker`/`skopeo` do against Quay: GET /v2/ gives a 401 Bearer challenge (realm
and service); the client fetches a JWT from the realm with Basic credentials for `repository:<repo>:<actions>`
(cached per scope, fetched again once when the registry answers 401), then pushes blobs (HEAD to skip the ones the
repository already has, POST + PUT uploads, optionally monolithic or chunked), OCI manifests and indexes, and pulls
them back, verifying every digest.

Registry error answers raise `RegistryError` (status + the registry's `errors` list). It is a TargetMismatch, so a
push or pull a test expected to work and the target refused is reported as FAILED, not as our own ERROR. Its
message goes through the redaction layer, and every password and token the client handles is registered as a
secret, so neither shows up in reports.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import re
import ssl
import tarfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from harness.checks import TargetMismatch
from harness.reporting.recorder import Recorder
from harness.reporting.redact import register_secret

MANIFEST_OCI = "application/vnd.oci.image.manifest.v1+json"
INDEX_OCI = "application/vnd.oci.image.index.v1+json"
MANIFEST_DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
LIST_DOCKER = "application/vnd.docker.distribution.manifest.list.v2+json"
CONFIG_OCI = "application/vnd.oci.image.config.v1+json"
LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_ACCEPT = ", ".join((MANIFEST_OCI, INDEX_OCI, MANIFEST_DOCKER, LIST_DOCKER))
BLOB_CONTENT_TYPE = "application/octet-stream"
_GZIP_MAGIC = b"\x1f\x8b"
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_DIGEST = re.compile(r"^[A-Za-z0-9_+.-]+:[A-Fa-f0-9]+$")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_digest(ref: str) -> bool:
    return bool(_DIGEST.match(ref))


# -- errors ---------------------------------------------------------------------------------------------------------
def _error_list(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


class RegistryError(TargetMismatch):
    """The registry refused a request: `status` and the registry-format `errors` ([{code, message, detail}])."""

    def __init__(self, response: httpx.Response, problem: str) -> None:
        super().__init__(response, problem)
        self.errors = _error_list(response)
        # Which step of a push or pull was refused (the path carries no secret; the query may, so it is dropped).
        self.method = response.request.method
        self.path = response.request.url.path

    @property
    def codes(self) -> list[str]:
        return [str(e.get("code")) for e in self.errors]

    @property
    def code(self) -> str | None:
        return self.codes[0] if self.errors else None

    @property
    def message(self) -> str | None:
        return str(self.errors[0].get("message")) if self.errors else None


class DigestMismatch(TargetMismatch):
    """The registry served (or acknowledged) content whose digest is not the one asked for."""


# -- the token service ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic", lower case
    realm: str | None
    service: str | None
    scope: str | None


def parse_challenge(header: str) -> Challenge | None:
    """`Bearer realm="https://q/v2/auth",service="q",scope="repository:a/b:pull"` -> Challenge (None if empty)."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = dict(_CHALLENGE_PARAM.findall(rest))
    return Challenge(scheme.lower(), params.get("realm"), params.get("service"), params.get("scope"))


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified: the harness only reads what the registry granted (`access`); checking the
    signature is the registry's business, and its public key is not ours to know."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


@dataclass(frozen=True)
class TokenGrant:
    """A /v2/auth answer: the token and its (unverified) claims."""

    token: str = field(repr=False)
    claims: dict[str, Any]

    def actions(self, repo: str) -> list[str]:
        """The actions granted on `repo` (empty when the registry dropped them all: down-scoping)."""
        for entry in self.claims.get("access") or []:
            if isinstance(entry, dict) and entry.get("type") == "repository" and entry.get("name") == repo:
                return [str(a) for a in entry.get("actions") or []]
        return []


# -- images ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Image:
    """Blobs of one image: layers (as pushed) and its config."""

    layers: tuple[bytes, ...]
    config: dict[str, Any]

    @property
    def config_bytes(self) -> bytes:
        return config_bytes(self.config)

    @property
    def size(self) -> int:
        """Bytes of all blobs (config + layers): what a registry's quota counts for this image."""
        return len(self.config_bytes) + sum(len(layer) for layer in self.layers)

    @property
    def digests(self) -> list[str]:
        return [sha256_digest(self.config_bytes), *(sha256_digest(layer) for layer in self.layers)]


def config_bytes(config: Mapping[str, Any]) -> bytes:
    # Compact and key-sorted, so the same config always has the same digest.
    return json.dumps(config, separators=(",", ":"), sort_keys=True).encode()


def _tar_gz(name: str, data: bytes) -> bytes:
    """A one-file tar, gzipped, with every varying field fixed so the same input gives the same bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


def _diff_id(layer: bytes) -> str:
    # An OCI config lists the digests of the *uncompressed* layers.
    return sha256_digest(gzip.decompress(layer) if layer[:2] == _GZIP_MAGIC else layer)


def default_config(layers: Sequence[bytes], labels: Mapping[str, str] | None = None,
                   architecture: str = "amd64", os: str = "linux") -> dict[str, Any]:
    return {"architecture": architecture, "os": os, "config": {"Labels": dict(labels or {})},
            "rootfs": {"type": "layers", "diff_ids": [_diff_id(layer) for layer in layers]}}


def make_image(seed: int | str, n_layers: int = 2, layer_size: int = 1024, *, architecture: str = "amd64",
               os: str = "linux") -> Image:
    """A deterministic image: each layer a gzip tar of one file of `layer_size` seeded random bytes (random data
    does not compress, so each layer is a little over `layer_size`). Different seeds share no blob: the seed is
    also a config label, so even the configs differ."""
    rng = random.Random(f"quay-harness:{seed}")
    layers = tuple(_tar_gz(f"layer{i}.bin", rng.randbytes(layer_size)) for i in range(n_layers))
    config = default_config(layers, {"io.quay-harness.seed": str(seed)}, architecture, os)
    return Image(layers, config)


def layer_media_type(layer: bytes) -> str:
    return LAYER_TAR_GZIP if layer[:2] == _GZIP_MAGIC else LAYER_TAR


def build_manifest(layers: Sequence[bytes], config: Mapping[str, Any],
                   annotations: Mapping[str, str] | None = None) -> bytes:
    """An OCI image manifest for these blobs (the bytes whose sha256 is the manifest digest)."""
    raw_config = config_bytes(config)
    manifest: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": MANIFEST_OCI,
        "config": {"mediaType": CONFIG_OCI, "digest": sha256_digest(raw_config), "size": len(raw_config)},
        "layers": [{"mediaType": layer_media_type(layer), "digest": sha256_digest(layer), "size": len(layer)}
                   for layer in layers],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    return json.dumps(manifest, separators=(",", ":")).encode()


@dataclass(frozen=True)
class TagList:
    """One page of GET /v2/<repo>/tags/list: `next_last` is the `last` of the page the Link header points at."""

    name: str
    tags: list[str]
    next_url: str | None

    @property
    def next_last(self) -> str | None:
        if self.next_url is None:
            return None
        value = httpx.URL(self.next_url).params.get("last")
        return str(value) if value is not None else None


# -- the client -----------------------------------------------------------------------------------------------------
class RegistryClient:
    """One registry identity. `username`/`password` are what `docker login` takes: a user and password, a robot
    `ns+name` and token, `$app` and an app-specific token, `$oauthtoken` and an OAuth token; None for anonymous."""

    def __init__(self, base_url: str, username: str | None = None, password: str | None = None,
                 transport: httpx.BaseTransport | None = None, *, recorder: Recorder | None = None,
                 timeout: float = 60.0, verify: bool | ssl.SSLContext = True) -> None:
        register_secret(password)
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self._tokens: dict[str, str] = {}
        self._challenge: Challenge | None = None
        self._probed = False
        self._lock = threading.Lock()
        self.http = httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout, verify=verify,
                                 event_hooks=recorder.hooks() if recorder else None, follow_redirects=False)

    def __repr__(self) -> str:
        return f"RegistryClient({self.username or 'anonymous'!r} at {self.base_url})"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- tokens -----------------------------------------------------------------------------------------------
    def ping(self) -> httpx.Response:
        """GET /v2/ without credentials (the version check that carries the challenge)."""
        return self.http.get("/v2/")

    def challenge(self) -> Challenge | None:
        """The registry's Bearer challenge, learnt once from GET /v2/ (None: it wants no token)."""
        with self._lock:
            if not self._probed:
                response = self.ping()
                if response.status_code == 401:
                    self._challenge = parse_challenge(response.headers.get("www-authenticate", ""))
                self._probed = True
            return self._challenge

    def token_response(self, *scopes: str, service: str | None = None, with_credentials: bool = True,
                       challenge: Challenge | None = None) -> httpx.Response:
        """The raw answer of the token endpoint (the challenge's realm) for these scopes, for tests that check it."""
        found = challenge or self.challenge()
        if found is None or found.realm is None:
            raise RegistryError(self.ping(), "GET /v2/ gave no Bearer challenge with a realm")
        params: dict[str, str | list[str]] = {}
        if service or found.service:
            params["service"] = str(service or found.service)
        if scopes:
            params["scope"] = list(scopes)  # repeated: Quay accepts several scope parameters
        auth = None
        if with_credentials and self.username is not None:
            auth = httpx.BasicAuth(self.username, self._password or "")
        return self.http.get(found.realm, params=params, auth=auth)

    def grant(self, *scopes: str, challenge: Challenge | None = None) -> TokenGrant:
        """A token for these scopes, with the claims the registry put in it."""
        response = self.token_response(*scopes, challenge=challenge)
        if response.status_code != 200:
            raise RegistryError(response, "the token endpoint refused the credentials")
        try:
            body = response.json()
        except ValueError:
            raise RegistryError(response, "the token endpoint answered no JSON") from None
        # Docker's token spec allows either key.
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(response, "the token endpoint answered no token")
        register_secret(token)
        return TokenGrant(token, decode_jwt_claims(token))

    def _token(self, scope: str, refresh: bool = False, challenge: Challenge | None = None) -> str | None:
        with self._lock:
            if not refresh and scope in self._tokens:
                return self._tokens[scope]
        if challenge is None and self.challenge() is None:
            return None
        token = self.grant(scope, challenge=challenge).token
        with self._lock:
            self._tokens[scope] = token
        return token

    def forget_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # -- raw requests -------------------------------------------------------------------------------------------
    def send(self, method: str, url: str | httpx.URL, scope: str | None, *, params: Mapping[str, str] | None = None,
             headers: Mapping[str, str] | None = None, content: bytes | None = None,
             follow_redirects: bool = False) -> httpx.Response:
        """One request with the token for `scope` (None: no token). A 401 fetches the token again, once: tokens
        expire, and a registry may restart with a new key."""
        token = self._token(scope) if scope else None
        response = self._send(method, url, token, params, headers, content, follow_redirects)
        if response.status_code == 401 and scope:
            found = parse_challenge(response.headers.get("www-authenticate", ""))
            if found is not None and found.scheme == "bearer" and found.realm:
                token = self._token(scope, refresh=True, challenge=found)
                response = self._send(method, url, token, params, headers, content, follow_redirects)
        return response

    def _send(self, method: str, url: str | httpx.URL, token: str | None, params: Mapping[str, str] | None,
              headers: Mapping[str, str] | None, content: bytes | None, follow_redirects: bool) -> httpx.Response:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        return self.http.request(method, url, params=params, headers=sent, content=content,
                                 follow_redirects=follow_redirects)

    def request(self, method: str, repo: str, path: str, *, actions: str = "pull",
                params: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
                content: bytes | None = None, follow_redirects: bool = False) -> httpx.Response:
        """`request("GET", "ns/r", "blobs/sha256:...")`: /v2/<repo>/<path> with a token for `actions` on repo.
        Nothing is checked: for tests that look at the raw answer."""
        return self.send(method, f"/v2/{repo}/{path}", _scope(repo, actions), params=params, headers=headers,
                         content=content, follow_redirects=follow_redirects)

    @staticmethod
    def _ensure(response: httpx.Response, expected: int | tuple[int, ...], what: str) -> httpx.Response:
        allowed = (expected,) if isinstance(expected, int) else expected
        if response.status_code not in allowed:
            raise RegistryError(response, f"{what}: expected HTTP {' or '.join(map(str, allowed))}")
        return response

    # -- blobs --------------------------------------------------------------------------------------------------
    def blob_exists(self, repo: str, digest: str, actions: str = "pull") -> bool:
        response = self.request("HEAD", repo, f"blobs/{digest}", actions=actions)
        if response.status_code == 404:
            return False
        self._ensure(response, 200, f"HEAD blob {digest}")
        return True

    def push_blob(self, repo: str, data: bytes, *, monolithic: bool = False, chunk_size: int | None = None,
                  skip_existing: bool = True) -> str:
        """Upload one blob and return its digest. Default: POST an upload, PUT the bytes with ?digest=.
        `monolithic`: one POST with ?digest=. `chunk_size`: PATCH chunks with Content-Range, then an empty PUT."""
        digest = sha256_digest(data)
        # Every step of a push uses the one pull,push token, as docker does: asking for pull alone first would
        # hit a repository that only the push token creates.
        if skip_existing and self.blob_exists(repo, digest, actions="pull,push"):
            return digest
        scope = _scope(repo, "pull,push")
        uploads = f"/v2/{repo}/blobs/uploads/"
        octets = {"Content-Type": BLOB_CONTENT_TYPE}
        if monolithic:
            done = self.send("POST", uploads, scope, params={"digest": digest}, headers=octets, content=data)
        else:
            started = self._ensure(self.send("POST", uploads, scope), 202, "starting a blob upload")
            location = self._location(started)
            body = data
            if chunk_size:
                offset = 0
                while offset < len(data):
                    chunk = data[offset:offset + chunk_size]
                    ranged = {**octets, "Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
                    patched = self._ensure(self.send("PATCH", location, scope, headers=ranged, content=chunk),
                                           202, "uploading a chunk")
                    location = self._location(patched)
                    offset += len(chunk)
                body = b""
            done = self.send("PUT", location.copy_merge_params({"digest": digest}), scope, headers=octets,
                             content=body)
        self._ensure(done, 201, f"finishing the upload of {digest}")
        acknowledged = done.headers.get("docker-content-digest")
        if acknowledged and acknowledged != digest:
            raise DigestMismatch(done, f"uploaded {digest}, the registry acknowledged {acknowledged}")
        return digest

    def _location(self, response: httpx.Response) -> httpx.URL:
        location = response.headers.get("location")
        if not location:
            raise RegistryError(response, "the upload answer has no Location")
        # Location may be absolute or relative to the registry.
        return self.http.base_url.join(location)

    def pull_blob(self, repo: str, digest: str) -> bytes:
        """GET a blob (following a redirect to storage; httpx drops the token when leaving the origin) and verify
        that its bytes hash to `digest`."""
        response = self._ensure(self.request("GET", repo, f"blobs/{digest}", follow_redirects=True), 200,
                                f"GET blob {digest}")
        _verify(response, digest, response.content)
        return response.content

    # -- manifests ----------------------------------------------------------------------------------------------
    def push_manifest(self, repo: str, ref: str, body: bytes, media_type: str = MANIFEST_OCI) -> str:
        """PUT a manifest under a tag or its digest; returns the digest of `body`."""
        digest = sha256_digest(body)
        response = self._ensure(self.request("PUT", repo, f"manifests/{ref}", actions="pull,push",
                                             headers={"Content-Type": media_type}, content=body),
                                (200, 201), f"PUT manifest {ref}")
        acknowledged = response.headers.get("docker-content-digest")
        if acknowledged and acknowledged != digest:
            raise DigestMismatch(response, f"pushed manifest {digest}, the registry acknowledged {acknowledged}")
        return digest

    def push_image(self, repo: str, tag: str | None, layers: Sequence[bytes],
                   config: Mapping[str, Any] | None = None, *, monolithic: bool = False,
                   chunk_size: int | None = None, annotations: Mapping[str, str] | None = None) -> str:
        """Push blobs then an OCI image manifest under `tag` (None: by digest only); returns the manifest digest.
        Without `config` a minimal linux/amd64 config for these layers is used."""
        cfg = dict(config) if config is not None else default_config(layers)
        for blob in (config_bytes(cfg), *layers):
            self.push_blob(repo, blob, monolithic=monolithic, chunk_size=chunk_size)
        body = build_manifest(layers, cfg, annotations)
        return self.push_manifest(repo, tag or sha256_digest(body), body, MANIFEST_OCI)

    def push(self, repo: str, tag: str | None, image: Image, **options: Any) -> str:
        return self.push_image(repo, tag, image.layers, image.config, **options)

    def push_index(self, repo: str, tag: str, images: Mapping[str, Image]) -> str:
        """A multi-arch image: each image pushed by digest, then an OCI index under `tag` whose entries carry the
        platform given as the key ("linux/amd64", "linux/arm64/v8")."""
        entries: list[dict[str, Any]] = []
        for platform, image in images.items():
            child = build_manifest(image.layers, image.config)
            self.push(repo, None, image)
            os_name, arch, *variant = platform.split("/")
            described: dict[str, str] = {"os": os_name, "architecture": arch}
            if variant:
                described["variant"] = variant[0]
            entries.append({"mediaType": MANIFEST_OCI, "digest": sha256_digest(child), "size": len(child),
                            "platform": described})
        index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_OCI, "manifests": entries},
                           separators=(",", ":")).encode()
        return self.push_manifest(repo, tag, index, INDEX_OCI)

    def pull_manifest(self, repo: str, ref: str, accept: str = MANIFEST_ACCEPT) -> tuple[str, str, bytes]:
        """(digest, media type, bytes) of a manifest by tag or digest. The digest is computed from the bytes and
        must equal the Docker-Content-Digest header and, when `ref` is a digest, `ref`."""
        response = self._ensure(self.request("GET", repo, f"manifests/{ref}", headers={"Accept": accept}), 200,
                                f"GET manifest {ref}")
        body = response.content
        digest = sha256_digest(body)
        if is_digest(ref):
            _verify(response, ref, body)
        acknowledged = response.headers.get("docker-content-digest")
        if acknowledged and acknowledged != digest:
            raise DigestMismatch(response, f"the manifest hashes to {digest}, Docker-Content-Digest says "
                                           f"{acknowledged}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return digest, media_type, body

    def delete_manifest(self, repo: str, ref: str) -> None:
        self._ensure(self.request("DELETE", repo, f"manifests/{ref}", actions="pull,push"), (200, 202, 204),
                     f"DELETE manifest {ref}")

    # -- tags ---------------------------------------------------------------------------------------------------
    def tags_list(self, repo: str, n: int | None = None, last: str | None = None) -> TagList:
        params: dict[str, str] = {}
        if n is not None:
            params["n"] = str(n)
        if last is not None:
            params["last"] = last
        response = self._ensure(self.request("GET", repo, "tags/list", params=params), 200, "GET tags/list")
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("tags"), list | None):
            raise RegistryError(response, "expected {name, tags: [...]}")
        following = response.links.get("next", {}).get("url")
        return TagList(str(body.get("name", "")), [str(t) for t in body.get("tags") or []],
                       str(self.http.base_url.join(following)) if following else None)

    def all_tags(self, repo: str, n: int) -> list[str]:
        """Every tag, following the pagination `last` by `last`."""
        tags: list[str] = []
        last: str | None = None
        while True:
            page = self.tags_list(repo, n=n, last=last)
            tags += page.tags
            if page.next_last is None or page.next_last == last or not page.tags:
                return tags
            last = page.next_last


def _scope(repo: str, actions: str) -> str:
    return f"repository:{repo}:{actions}"


def _verify(response: httpx.Response, digest: str, body: bytes) -> None:
    algorithm, _, expected = digest.partition(":")
    if algorithm not in hashlib.algorithms_available:
        return  # an algorithm we cannot compute (the registry would have refused it anyway)
    actual = hashlib.new(algorithm, body).hexdigest()
    if actual != expected.lower():
        raise DigestMismatch(response, f"asked for {digest}, the content hashes to {algorithm}:{actual}")
