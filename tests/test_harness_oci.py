"""harness/oci.py against a small fake registry on httpx.MockTransport: the token dance, uploads, pulls with digest
verification, pagination, errors and redaction."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from harness.oci import (
    INDEX_OCI,
    LAYER_TAR,
    LAYER_TAR_GZIP,
    MANIFEST_OCI,
    DigestMismatch,
    RegistryClient,
    RegistryError,
    TokenGrant,
    build_manifest,
    decode_jwt_claims,
    make_image,
    parse_challenge,
    sha256_digest,
)
from harness.reporting.redact import scrub

BASE = "http://registry.test"
PASSWORD = "s3cret-password-1"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"code": code, "message": message, "detail": {}}]},
                          headers=headers)


class FakeRegistry:
    """Enough of a registry: Bearer challenge, a token endpoint granting what a user `alice` may have (push and
    pull on alice/*, pull only elsewhere), blob uploads, manifests and tags. Tokens are fake JWTs."""

    def __init__(self, *, absolute_location: bool = False) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[str, bytes]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.uploads: dict[str, bytearray] = {}
        self.valid_tokens: set[str] = set()
        self.token_requests: list[list[str]] = []
        self.requests: list[tuple[str, str]] = []
        self.corrupt_blobs = False
        self.absolute_location = absolute_location
        self._n = 0

    def _challenge(self, scope: str | None = None) -> dict[str, str]:
        value = f'Bearer realm="{BASE}/v2/auth",service="registry.test"'
        if scope:
            value += f',scope="{scope}"'
        return {"WWW-Authenticate": value}

    def _token(self, scopes: list[str], user: str | None) -> str:
        access = []
        for scope in scopes:
            _, repo, actions = scope.split(":")
            wanted = actions.split(",")
            allowed = {"pull", "push"} if user == "alice" and repo.startswith("alice/") else {"pull"}
            access.append({"type": "repository", "name": repo, "actions": [a for a in wanted if a in allowed]})
        self._n += 1
        token = f"{_b64({'alg': 'none'})}.{_b64({'sub': user, 'access': access, 'n': self._n})}.signature{self._n}"
        self.valid_tokens.add(token)
        return token

    def _access(self, request: httpx.Request, repo: str, action: str) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.valid_tokens:
            return False
        claims = decode_jwt_claims(header[7:])
        return any(e["name"] == repo and action in e["actions"] for e in claims["access"])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        self.requests.append((method, path))
        if path == "/v2/":
            return httpx.Response(401, headers=self._challenge(), text="true")
        if path == "/v2/auth":
            return self._auth(request)
        rest = path.removeprefix("/v2/")
        for marker in ("/blobs/uploads/", "/blobs/", "/manifests/", "/tags/list"):
            if marker in rest:
                repo, _, tail = rest.partition(marker)
                break
        else:
            return _error(404, "NOT_FOUND", "not found")
        action = "pull" if method in ("GET", "HEAD") else "push"
        if not self._access(request, repo, action):
            return _error(401, "UNAUTHORIZED", "access to the requested resource is not authorized",
                          self._challenge(f"repository:{repo}:{action}"))
        if marker == "/blobs/uploads/":
            return self._upload(request, repo, tail)
        if marker == "/blobs/":
            return self._blob(request, tail)
        if marker == "/manifests/":
            return self._manifest(request, repo, tail)
        return self._tags(request, repo)

    def _auth(self, request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.url.query.decode())
        assert query.get("service") == ["registry.test"]
        header = request.headers.get("authorization")
        user = None
        if header:
            assert header.startswith("Basic ")
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if name != "alice" or password != PASSWORD:
                return _error(401, "UNAUTHORIZED", "Invalid Username or Password")
            user = name
        scopes = query.get("scope", [])
        self.token_requests.append(scopes)
        return httpx.Response(200, json={"token": self._token(scopes, user)})

    def _location(self, repo: str, uuid: str) -> str:
        path = f"/v2/{repo}/blobs/uploads/{uuid}"
        return f"{BASE}{path}" if self.absolute_location else path

    def _upload(self, request: httpx.Request, repo: str, uuid: str) -> httpx.Response:
        digest = request.url.params.get("digest")
        if request.method == "POST":
            if digest:
                return self._commit(digest, request.content)
            uuid = f"u{len(self.uploads)}"
            self.uploads[uuid] = bytearray()
            return httpx.Response(202, headers={"Location": self._location(repo, uuid), "Range": "0-0"})
        buffer = self.uploads[uuid]
        if request.method == "PATCH":
            start, _, end = request.headers["content-range"].partition("-")
            assert int(start) == len(buffer) and int(end) == len(buffer) + len(request.content) - 1
            buffer += request.content
            return httpx.Response(202, headers={"Location": self._location(repo, uuid)})
        assert request.method == "PUT" and digest
        buffer += request.content
        return self._commit(digest, bytes(self.uploads.pop(uuid)))

    def _commit(self, digest: str, data: bytes) -> httpx.Response:
        if sha256_digest(data) != digest:
            return _error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        self.blobs[digest] = data
        return httpx.Response(201, headers={"Docker-Content-Digest": digest})

    def _blob(self, request: httpx.Request, digest: str) -> httpx.Response:
        if digest not in self.blobs:
            return _error(404, "BLOB_UNKNOWN", "blob unknown to registry")
        data = self.blobs[digest]
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Content-Length": str(len(data))})
        return httpx.Response(200, content=data[::-1] if self.corrupt_blobs else data)

    def _manifest(self, request: httpx.Request, repo: str, ref: str) -> httpx.Response:
        tags = self.tags.setdefault(repo, {})
        if request.method == "PUT":
            digest = sha256_digest(request.content)
            self.manifests[digest] = (request.headers["content-type"], request.content)
            if not ref.startswith("sha256:"):
                tags[ref] = digest
            return httpx.Response(201, headers={"Docker-Content-Digest": digest})
        digest = ref if ref.startswith("sha256:") else tags.get(ref, "")
        if digest not in self.manifests:
            return _error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        if request.method == "DELETE":
            del self.manifests[digest]
            for name in [t for t, d in tags.items() if d == digest]:
                del tags[name]
            return httpx.Response(202)
        media_type, body = self.manifests[digest]
        return httpx.Response(200, content=body, headers={"Content-Type": media_type,
                                                          "Docker-Content-Digest": digest})

    def _tags(self, request: httpx.Request, repo: str) -> httpx.Response:
        names = sorted(self.tags.get(repo, {}))
        last = request.url.params.get("last")
        if last:
            names = [n for n in names if n > last]
        headers = {}
        n = request.url.params.get("n")
        if n is not None and len(names) > int(n):
            names = names[:int(n)]
            headers["Link"] = f'</v2/{repo}/tags/list?n={n}&last={names[-1]}>; rel="next"'
        return httpx.Response(200, json={"name": repo, "tags": names}, headers=headers)


@pytest.fixture
def fake() -> FakeRegistry:
    return FakeRegistry()


def _client(fake: FakeRegistry, username: str | None = "alice", password: str | None = PASSWORD) -> RegistryClient:
    return RegistryClient(BASE, username, password, transport=httpx.MockTransport(fake))


# -- images ---------------------------------------------------------------------------------------------------------
def test_make_image_is_deterministic_and_seeds_share_no_blob() -> None:
    first, again, other = make_image(1, 3, 500), make_image(1, 3, 500), make_image(2, 3, 500)
    assert first == again
    assert first.digests == again.digests
    assert not set(first.digests) & set(other.digests)
    assert len(first.layers) == 3
    assert first.size == len(first.config_bytes) + sum(len(x) for x in first.layers)


def test_make_image_layers_are_gzip_tars_matching_the_diff_ids() -> None:
    image = make_image("seed", 2, 300)
    for layer, diff_id in zip(image.layers, image.config["rootfs"]["diff_ids"], strict=True):
        raw = gzip.decompress(layer)
        assert sha256_digest(raw) == diff_id
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            (member,) = tar.getmembers()
            assert member.size == 300


def test_build_manifest_describes_every_blob() -> None:
    image = make_image(3, 2, 100)
    manifest = json.loads(build_manifest([*image.layers, b"plain"], image.config))
    assert manifest["mediaType"] == MANIFEST_OCI
    assert manifest["config"]["digest"] == sha256_digest(image.config_bytes)
    assert [x["mediaType"] for x in manifest["layers"]] == [LAYER_TAR_GZIP, LAYER_TAR_GZIP, LAYER_TAR]
    assert manifest["layers"][2] == {"mediaType": LAYER_TAR, "digest": sha256_digest(b"plain"), "size": 5}


# -- protocol pieces ------------------------------------------------------------------------------------------------
def test_parse_challenge() -> None:
    found = parse_challenge('Bearer realm="https://q.example/v2/auth",service="q.example",'
                            'scope="repository:a/b:pull,push"')
    assert found is not None
    assert (found.scheme, found.realm, found.service, found.scope) == (
        "bearer", "https://q.example/v2/auth", "q.example", "repository:a/b:pull,push")
    assert parse_challenge("") is None


def test_decode_jwt_claims_and_granted_actions() -> None:
    access = [{"type": "repository", "name": "a/b", "actions": ["pull"]}]
    token = f"{_b64({'alg': 'RS256'})}.{_b64({'access': access})}.signature-part"
    grant = TokenGrant(token, decode_jwt_claims(token))
    assert grant.actions("a/b") == ["pull"]
    assert grant.actions("a/c") == []
    assert decode_jwt_claims("not-a-jwt") == {}
    assert token not in repr(grant)


# -- push and pull --------------------------------------------------------------------------------------------------
def test_push_then_pull_round_trip(fake: FakeRegistry) -> None:
    image = make_image(7, 3, 2000)
    with _client(fake) as client:
        digest = client.push("alice/app", "v1", image)
        got_digest, media_type, body = client.pull_manifest("alice/app", "v1")
        assert (got_digest, media_type) == (digest, MANIFEST_OCI)
        assert client.pull_manifest("alice/app", digest)[2] == body
        manifest = json.loads(body)
        for descriptor, layer in zip(manifest["layers"], image.layers, strict=True):
            assert client.pull_blob("alice/app", descriptor["digest"]) == layer
        assert client.pull_blob("alice/app", manifest["config"]["digest"]) == image.config_bytes


def test_tokens_are_cached_per_scope(fake: FakeRegistry) -> None:
    with _client(fake) as client:
        client.push("alice/app", "v1", make_image(1, 2, 100))
        client.pull_manifest("alice/app", "v1")
        client.pull_manifest("alice/app", "v1")
    assert fake.token_requests == [["repository:alice/app:pull,push"], ["repository:alice/app:pull"]]
    assert fake.requests.count(("GET", "/v2/")) == 1


def test_existing_blobs_are_not_uploaded_again(fake: FakeRegistry) -> None:
    image = make_image(1, 2, 100)
    with _client(fake) as client:
        client.push("alice/app", "v1", image)
        fake.requests.clear()
        client.push("alice/app", "v2", image)
    assert not [r for r in fake.requests if r[0] in ("POST", "PATCH") or "/uploads/" in r[1]]
    assert sorted(fake.tags["alice/app"]) == ["v1", "v2"]


@pytest.mark.parametrize("options", [{"monolithic": True}, {"chunk_size": 700}, {}],
                         ids=["monolithic", "chunked", "post-put"])
def test_upload_styles(fake: FakeRegistry, options: dict[str, Any]) -> None:
    image = make_image(5, 2, 1500)
    with _client(fake) as client:
        client.push("alice/app", "v1", image, **options)
    assert set(image.digests) <= set(fake.blobs)
    patches = [r for r in fake.requests if r[0] == "PATCH"]
    assert bool(patches) == ("chunk_size" in options)


def test_absolute_upload_location(fake: FakeRegistry) -> None:
    fake.absolute_location = True
    with _client(fake) as client:
        client.push_blob("alice/app", b"some bytes")
    assert sha256_digest(b"some bytes") in fake.blobs


def test_push_by_digest_and_index(fake: FakeRegistry) -> None:
    amd, arm = make_image(1, 1, 100), make_image(2, 1, 100, architecture="arm64")
    with _client(fake) as client:
        digest = client.push_index("alice/multi", "latest", {"linux/amd64": amd, "linux/arm64/v8": arm})
        got, media_type, body = client.pull_manifest("alice/multi", "latest")
    assert (got, media_type) == (digest, INDEX_OCI)
    entries = json.loads(body)["manifests"]
    assert [e["platform"] for e in entries] == [{"os": "linux", "architecture": "amd64"},
                                               {"os": "linux", "architecture": "arm64", "variant": "v8"}]
    assert all(e["digest"] in fake.manifests for e in entries)
    assert list(fake.tags["alice/multi"]) == ["latest"]  # children were pushed by digest only


def test_token_refreshed_once_on_401(fake: FakeRegistry) -> None:
    with _client(fake) as client:
        client.push("alice/app", "v1", make_image(1, 1, 100))
        fake.valid_tokens.clear()  # the registry forgets every token (restart, expiry)
        assert client.pull_manifest("alice/app", "v1")[1] == MANIFEST_OCI
    assert fake.token_requests[-1] == ["repository:alice/app:pull"]


def test_corrupt_blob_is_a_digest_mismatch(fake: FakeRegistry) -> None:
    with _client(fake) as client:
        digest = client.push_blob("alice/app", b"0123456789")
        fake.corrupt_blobs = True
        with pytest.raises(DigestMismatch, match="hashes to"):
            client.pull_blob("alice/app", digest)


# -- errors ---------------------------------------------------------------------------------------------------------
def test_unknown_manifest_and_blob_raise_registry_errors(fake: FakeRegistry) -> None:
    with _client(fake) as client:
        client.push("alice/app", "v1", make_image(1, 1, 100))
        with pytest.raises(RegistryError) as manifest:
            client.pull_manifest("alice/app", "nope")
        with pytest.raises(RegistryError) as blob:
            client.pull_blob("alice/app", sha256_digest(b"missing"))
    assert (manifest.value.status, manifest.value.code) == (404, "MANIFEST_UNKNOWN")
    assert (blob.value.status, blob.value.codes) == (404, ["BLOB_UNKNOWN"])
    assert blob.value.message == "blob unknown to registry"
    assert isinstance(manifest.value, AssertionError)  # a target failure: FAILED, not ERROR


def test_delete_manifest(fake: FakeRegistry) -> None:
    with _client(fake) as client:
        digest = client.push("alice/app", "v1", make_image(1, 1, 100))
        client.delete_manifest("alice/app", digest)
        with pytest.raises(RegistryError) as gone:
            client.pull_manifest("alice/app", digest)
    assert gone.value.code == "MANIFEST_UNKNOWN"


def test_bad_password_is_a_401_without_leaking_it(fake: FakeRegistry) -> None:
    with _client(fake, password="wrong-password-xyz") as client, pytest.raises(RegistryError) as refused:
        client.pull_manifest("alice/app", "v1")
    assert refused.value.status == 401
    assert refused.value.code == "UNAUTHORIZED"
    assert "wrong-password-xyz" not in str(refused.value)
    assert scrub("wrong-password-xyz") != "wrong-password-xyz"


def test_tokens_are_registered_as_secrets(fake: FakeRegistry) -> None:
    with _client(fake) as client:
        grant = client.grant("repository:alice/app:pull")
    assert grant.token not in scrub(f"token {grant.token}")
    assert grant.actions("alice/app") == ["pull"]


def test_down_scoped_push_is_refused(fake: FakeRegistry) -> None:
    with _client(fake) as client:
        grant = client.grant("repository:bob/app:pull,push")
        assert grant.actions("bob/app") == ["pull"]
        with pytest.raises(RegistryError) as refused:
            client.push_blob("bob/app", b"data")
    assert refused.value.status == 401


def test_anonymous_client_sends_no_basic_credentials(fake: FakeRegistry) -> None:
    with _client(fake, None, None) as client:
        grant = client.grant("repository:alice/app:pull")
    assert grant.claims["sub"] is None


def test_raw_request_returns_the_response_unchecked(fake: FakeRegistry) -> None:
    with _client(fake) as client:
        response = client.request("GET", "alice/app", "manifests/missing")
    assert response.status_code == 404


# -- tags -----------------------------------------------------------------------------------------------------------
def test_tags_list_pagination(fake: FakeRegistry) -> None:
    image = make_image(1, 1, 50)
    with _client(fake) as client:
        for tag in ("a", "b", "c", "d", "e"):
            client.push("alice/app", tag, image)
        page = client.tags_list("alice/app", n=2)
        assert (page.name, page.tags, page.next_last) == ("alice/app", ["a", "b"], "b")
        assert page.next_url is not None and page.next_url.startswith(BASE)
        assert client.tags_list("alice/app", n=2, last="b").tags == ["c", "d"]
        last = client.tags_list("alice/app", n=2, last="d")
        assert (last.tags, last.next_last) == (["e"], None)
        assert client.tags_list("alice/app").tags == ["a", "b", "c", "d", "e"]
        assert client.all_tags("alice/app", n=2) == ["a", "b", "c", "d", "e"]


def test_sha256_digest() -> None:
    assert sha256_digest(b"") == "sha256:" + hashlib.sha256(b"").hexdigest()
