"""The /v2 registry protocol in process: token auth, pushes and pulls, uploads, mounts, tag history, quota."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import jwt
from sqlalchemy import insert, select

from reference_server.storage import schema as t
from tests.conftest import Server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
QUOTA_BODY = {"errors": [{"code": "DENIED", "message": "Quota has been exceeded on namespace", "detail": {}}]}


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def registry_token(server: Server, scope: str | None, username: str = "admin", password: str = "password1",
                   anonymous: bool = False) -> str:
    params = {"service": "testserver"}
    if scope:
        params["scope"] = scope
    answer = server.client.get("/v2/auth", params=params, headers={} if anonymous else basic(username, password))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def push_blob(server: Server, name: str, token: str, data: bytes) -> str:
    d = digest(data)
    answer = server.client.post(f"/v2/{name}/blobs/uploads/", params={"digest": d}, content=data,
                                headers=bearer(token))
    assert answer.status_code == 201, answer.text
    assert answer.headers["Docker-Content-Digest"] == d
    return d


def image(server: Server, name: str, token: str, layers: list[bytes], label: str = "x") -> tuple[bytes, str]:
    """Push the blobs of a small image; return (manifest bytes, manifest digest)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"purpose": label}},
                         "rootfs": {"type": "layers", "diff_ids": [digest(x) for x in layers]}}).encode()
    push_blob(server, name, token, config)
    for layer in layers:
        push_blob(server, name, token, layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(x),
                    "size": len(x)} for x in layers],
    }).encode()
    return manifest, digest(manifest)


def put_manifest(server: Server, name: str, ref: str, token: str, manifest: bytes,
                 media_type: str = OCI_MANIFEST) -> Any:
    return server.client.put(f"/v2/{name}/manifests/{ref}", content=manifest,
                             headers={**bearer(token), "Content-Type": media_type})


def test_version_check_challenges_without_a_token(server: Server) -> None:
    answer = server.client.get("/v2/")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="http://testserver/v2/auth",service="testserver"'
    assert answer.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    token = registry_token(server, None)
    assert server.client.get("/v2/", headers=bearer(token)).status_code == 200
    assert server.client.get("/v2/", headers=bearer("nonsense")).status_code == 401


def test_token_claims_and_repository_creation(server: Server) -> None:
    token = registry_token(server, "repository:admin/app:push,pull")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert claims["access"] == [{"type": "repository", "name": "admin/app", "actions": ["push", "pull"]}]
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["sub"] == "admin" and claims["aud"] == "testserver"
    # Pushing created the repository, private, with the pusher as admin.
    repo = server.call("GET", "/api/v1/repository/admin/app", server.admin_token).json()
    assert repo["is_public"] is False


def test_token_down_scopes_and_refuses_bad_credentials(server: Server) -> None:
    registry_token(server, "repository:admin/app:push,pull")
    server.make_user("bob")
    token = registry_token(server, "repository:admin/app:push,pull", username="bob")
    assert jwt.decode(token, options={"verify_signature": False})["access"][0]["actions"] == []
    token = registry_token(server, "repository:admin/app:pull", anonymous=True)
    assert jwt.decode(token, options={"verify_signature": False})["access"][0]["actions"] == []
    # bob cannot create in admin's namespace; nothing was created.
    token = registry_token(server, "repository:admin/other:push", username="bob")
    assert server.call("GET", "/api/v1/repository/admin/other", server.admin_token).status_code == 404
    wrong = server.client.get("/v2/auth", params={"scope": "repository:admin/app:pull"},
                              headers=basic("admin", "wrong-password"))
    assert wrong.status_code == 401 and wrong.json()["errors"][0]["code"] == "UNAUTHORIZED"
    bad_scope = server.client.get("/v2/auth", params={"scope": "repo:admin/app:pull"},
                                  headers=basic("admin", "password1"))
    assert bad_scope.status_code == 400 and bad_scope.json()["errors"][0]["code"] == "INVALID_REQUEST"
    assert server.client.get("/v2/auth").status_code == 401


def test_push_and_pull_a_multi_layer_image(server: Server) -> None:
    token = registry_token(server, "repository:admin/app:push,pull")
    layers = [b"layer-one" * 100, b"layer-two" * 50, b"layer-three"]
    manifest, manifest_digest = image(server, "admin/app", token, layers)
    put = put_manifest(server, "admin/app", "v1", token, manifest)
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == manifest_digest

    got = server.client.get("/v2/admin/app/manifests/v1", headers={**bearer(token), "Accept": OCI_MANIFEST})
    assert got.status_code == 200
    assert got.content == manifest and got.headers["Docker-Content-Digest"] == manifest_digest
    assert got.headers["Content-Type"].startswith(OCI_MANIFEST)
    by_digest = server.client.get(f"/v2/admin/app/manifests/{manifest_digest}", headers=bearer(token))
    assert by_digest.content == manifest
    head = server.client.head("/v2/admin/app/manifests/v1", headers={**bearer(token), "Accept": OCI_MANIFEST})
    assert head.status_code == 200 and head.headers["Docker-Content-Digest"] == manifest_digest
    # A client that accepts only Docker types cannot read an OCI manifest.
    docker_only = server.client.get("/v2/admin/app/manifests/v1", headers={
        **bearer(token), "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert docker_only.status_code == 404

    for layer in layers:
        blob = server.client.get(f"/v2/admin/app/blobs/{digest(layer)}", headers=bearer(token))
        assert blob.status_code == 200 and blob.content == layer
        assert blob.headers["Docker-Content-Digest"] == digest(layer)
    head_blob = server.client.head(f"/v2/admin/app/blobs/{digest(layers[0])}", headers=bearer(token))
    assert head_blob.status_code == 200 and head_blob.headers["Content-Length"] == str(len(layers[0]))
    partial = server.client.get(f"/v2/admin/app/blobs/{digest(layers[0])}",
                                headers={**bearer(token), "Range": "bytes=5-14"})
    assert partial.status_code == 206 and partial.content == layers[0][5:15]
    assert partial.headers["Content-Range"] == f"bytes 5-14/{len(layers[0])}"

    tags = server.client.get("/v2/admin/app/tags/list", headers=bearer(token))
    assert tags.json() == {"name": "admin/app", "tags": ["v1"]}
    # The manifest records its layers' compressed size; the image config's labels became manifest labels.
    with server.storage.transaction() as db:
        repo = db.repository("admin", "app")
        assert repo is not None
        stored = db.manifest_by_digest(repo.id, manifest_digest)
        assert stored is not None and stored.layers_compressed_size == sum(len(x) for x in layers)
        assert [(lb.key, lb.value, lb.source_type) for lb in db.manifest_labels(stored.id)] == \
            [("purpose", "x", "manifest")]
        kinds = [row.kind for row in db.logs_for(repository_id=repo.id)]
    assert "push_repo" in kinds and "pull_repo" in kinds


def test_unauthenticated_and_anonymous_access(server: Server) -> None:
    token = registry_token(server, "repository:admin/app:push,pull")
    manifest, _ = image(server, "admin/app", token, [b"abc"])
    assert put_manifest(server, "admin/app", "v1", token, manifest).status_code == 201
    denied = server.client.get("/v2/admin/app/manifests/v1")
    assert denied.status_code == 401
    assert denied.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert 'scope="repository:admin/app:pull"' in denied.headers["WWW-Authenticate"]
    pull_only = registry_token(server, "repository:admin/app:pull")
    refused = server.client.post("/v2/admin/app/blobs/uploads/", headers=bearer(pull_only))
    assert refused.status_code == 401
    server.call("POST", "/api/v1/repository/admin/app/changevisibility", server.admin_token,
                json={"visibility": "public"})
    assert server.client.get("/v2/admin/app/manifests/v1", headers={"Accept": OCI_MANIFEST}).status_code == 200


def test_chunked_upload_with_ranges_and_cancel(server: Server) -> None:
    token = registry_token(server, "repository:admin/app:push,pull")
    data = bytes(range(256)) * 40
    start = server.client.post("/v2/admin/app/blobs/uploads/", headers=bearer(token))
    assert start.status_code == 202
    location = start.headers["Location"]
    assert location.startswith("http://testserver/v2/admin/app/blobs/uploads/")
    first = server.client.patch(location, content=data[:4000], headers={
        **bearer(token), "Content-Range": "0-3999", "Content-Type": "application/octet-stream"})
    assert first.status_code == 202 and first.headers["Range"] == "0-3999"
    wrong = server.client.patch(first.headers["Location"], content=data[4000:], headers={
        **bearer(token), "Content-Range": "10-20"})
    assert wrong.status_code == 416
    second = server.client.patch(first.headers["Location"], content=data[4000:], headers={
        **bearer(token), "Content-Range": f"4000-{len(data) - 1}"})
    assert second.headers["Range"] == f"0-{len(data) - 1}"
    bad = server.client.put(second.headers["Location"], params={"digest": digest(b"other")},
                            headers=bearer(token))
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "DIGEST_INVALID"

    again = server.client.post("/v2/admin/app/blobs/uploads/", headers=bearer(token)).headers["Location"]
    server.client.patch(again, content=data, headers=bearer(token))
    done = server.client.put(again, params={"digest": digest(data)}, headers=bearer(token))
    assert done.status_code == 201
    assert server.client.get(f"/v2/admin/app/blobs/{digest(data)}", headers=bearer(token)).content == data

    cancelled = server.client.post("/v2/admin/app/blobs/uploads/", headers=bearer(token)).headers["Location"]
    assert server.client.delete(cancelled, headers=bearer(token)).status_code == 204
    gone = server.client.patch(cancelled, content=b"x", headers=bearer(token))
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_cross_repository_mount_needs_read_access_to_the_source(server: Server) -> None:
    token = registry_token(server, "repository:admin/app:push,pull")
    layer = push_blob(server, "admin/app", token, b"shared layer")
    other = registry_token(server, "repository:admin/other:push,pull")
    # Blobs are per repository: the other repository cannot serve it until mounted.
    assert server.client.head(f"/v2/admin/other/blobs/{layer}", headers=bearer(other)).status_code == 404
    mounted = server.client.post("/v2/admin/other/blobs/uploads/", params={"mount": layer, "from": "admin/app"},
                                 headers=bearer(other))
    assert mounted.status_code == 201 and mounted.headers["Docker-Content-Digest"] == layer
    assert server.client.head(f"/v2/admin/other/blobs/{layer}", headers=bearer(other)).status_code == 200

    server.make_user("bob")
    bob = registry_token(server, "repository:bob/mine:push,pull", username="bob")
    refused = server.client.post("/v2/bob/mine/blobs/uploads/", params={"mount": layer, "from": "admin/app"},
                                 headers=bearer(bob))
    assert refused.status_code == 202  # no read access to the source: an ordinary upload starts instead


def test_tag_history_moves_and_deletes(server: Server) -> None:
    token = registry_token(server, "repository:admin/app:push,pull")
    first, first_digest = image(server, "admin/app", token, [b"one"], label="a")
    second, second_digest = image(server, "admin/app", token, [b"two"], label="b")
    assert put_manifest(server, "admin/app", "v1", token, first).status_code == 201
    assert put_manifest(server, "admin/app", "v1", token, first).status_code == 201  # same target: no new row
    assert put_manifest(server, "admin/app", "v1", token, second).status_code == 201
    with server.storage.transaction() as db:
        repo = db.repository("admin", "app")
        assert repo is not None
        rows = db.tag_history(repo.id, offset=0, limit=10)
    assert [(r.tag.name, r.manifest_digest) for r in rows] == [("v1", second_digest), ("v1", first_digest)]
    assert rows[0].tag.lifetime_end_ms is None and rows[1].tag.lifetime_end_ms is not None
    assert rows[1].tag.lifetime_end_ms == rows[0].tag.lifetime_start_ms

    # The first manifest is no longer tagged: deleting it by digest finds no tag.
    assert server.client.delete(f"/v2/admin/app/manifests/{first_digest}", headers=bearer(token)).status_code == 404
    assert server.client.delete(f"/v2/admin/app/manifests/{second_digest}",
                                headers=bearer(token)).status_code == 202
    expired = server.client.get("/v2/admin/app/manifests/v1", headers=bearer(token))
    assert expired.status_code == 404 and expired.json()["errors"][0]["code"] == "TAG_EXPIRED"
    assert server.client.get("/v2/admin/app/tags/list", headers=bearer(token)).json()["tags"] == []
    with server.storage.transaction() as db:
        repo = db.repository("admin", "app")
        assert repo is not None
        deleted = [r for r in db.logs_for(repository_id=repo.id) if r.kind == "delete_tag"]
    assert deleted[0].metadata["tag"] == "v1" and deleted[0].metadata["username"] == "admin"


def test_manifest_list_and_missing_references(server: Server) -> None:
    token = registry_token(server, "repository:admin/app:push,pull")
    child, child_digest = image(server, "admin/app", token, [b"arm layer"])
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": child_digest, "size": len(child),
         "platform": {"architecture": "arm64", "os": "linux"}}]}).encode()
    missing_child = put_manifest(server, "admin/app", "multi", token, index, OCI_INDEX)
    assert missing_child.status_code == 400 and missing_child.json()["errors"][0]["code"] == "MANIFEST_INVALID"
    assert put_manifest(server, "admin/app", child_digest, token, child).status_code == 201
    assert put_manifest(server, "admin/app", "multi", token, index, OCI_INDEX).status_code == 201
    got = server.client.get("/v2/admin/app/manifests/multi", headers={**bearer(token), "Accept": OCI_INDEX})
    assert got.content == index

    orphan = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                         "config": {"mediaType": "x", "digest": digest(b"nope"), "size": 4},
                         "layers": []}).encode()
    refused = put_manifest(server, "admin/app", "bad", token, orphan)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["detail"]["message"] == f"Unknown blob `{digest(b'nope')}`"
    mismatch = put_manifest(server, "admin/app", digest(b"whatever"), token, child)
    assert mismatch.status_code == 400


def test_catalog_lists_what_the_caller_can_read(server: Server) -> None:
    registry_token(server, "repository:admin/app:push,pull")
    registry_token(server, "repository:admin/nested/deep:push,pull")
    token = registry_token(server, None)
    listing = server.client.get("/v2/_catalog", headers=bearer(token))
    assert listing.json() == {"repositories": ["admin/app", "admin/nested/deep"]}
    first = server.client.get("/v2/_catalog", params={"n": 1}, headers=bearer(token))
    assert first.json() == {"repositories": ["admin/app"]} and 'rel="next"' in first.headers["Link"]
    assert server.client.get("/v2/_catalog").json() == {"repositories": []}


def test_usage_counts_distinct_blobs_and_reject_quota_denies_pushes(make_server: Any) -> None:
    server = make_server({"FEATURE_QUOTA_MANAGEMENT": True})
    token = registry_token(server, "repository:admin/app:push,pull")
    shared = b"s" * 1000
    first, _ = image(server, "admin/app", token, [shared, b"a" * 500], label="one")
    assert put_manifest(server, "admin/app", "v1", token, first).status_code == 201
    with server.storage.transaction() as db:
        admin = db.user_by_name("admin")
        assert admin is not None
        after_first = db.namespace_usage(admin.id)
    config_size = len(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"purpose": "one"}},
                                  "rootfs": {"type": "layers",
                                             "diff_ids": [digest(shared), digest(b"a" * 500)]}}).encode())
    assert after_first == 1500 + config_size
    other = registry_token(server, "repository:admin/other:push,pull")
    second, _ = image(server, "admin/other", other, [shared], label="one")
    assert put_manifest(server, "admin/other", "v1", other, second).status_code == 201
    with server.storage.transaction() as db:
        second_usage = db.namespace_usage(admin.id)
        config2 = db.manifest_by_digest(db.repository("admin", "other").id, digest(second))  # type: ignore[union-attr]
    assert config2 is not None
    # Only the new config blob was added: the shared layer counts once per namespace.
    assert second_usage > after_first and second_usage - after_first < 500

    # Deleting the tag does not reduce usage.
    assert server.client.delete(f"/v2/admin/app/manifests/{digest(first)}", headers=bearer(token)).status_code == 202
    with server.storage.transaction() as db:
        assert db.namespace_usage(admin.id) == second_usage
        quota = db.conn.execute(insert(t.namespace_quota).values(namespace_id=admin.id,
                                                                 limit_bytes=second_usage - 1))
        quota_id = quota.inserted_primary_key[0]  # type: ignore[index]
        db.conn.execute(insert(t.quota_limit).values(quota_id=quota_id, type="Reject", percent=100))
    # usage > limit: refused at upload start, with Quay's body.
    refused = server.client.post("/v2/admin/app/blobs/uploads/", headers=bearer(token))
    assert refused.status_code == 403 and refused.json() == QUOTA_BODY
    refused_manifest = put_manifest(server, "admin/app", "v2", token, first)
    assert refused_manifest.status_code == 403 and refused_manifest.json() == QUOTA_BODY
    assert server.client.get("/v2/admin/app/tags/list", headers=bearer(token)).json()["tags"] == []

    # Below the threshold, the bytes of uploads in flight count: once a chunk has taken usage past the
    # limit, the next chunk is refused (Quay checks before taking each chunk).
    with server.storage.transaction() as db:
        db.conn.execute(t.namespace_quota.update().values(limit_bytes=second_usage + 100))
    start = server.client.post("/v2/admin/app/blobs/uploads/", headers=bearer(token))
    assert start.status_code == 202
    chunk = server.client.patch(start.headers["Location"], content=b"z" * 200, headers=bearer(token))
    assert chunk.status_code == 202
    chunk = server.client.patch(start.headers["Location"], content=b"z" * 10,
                                headers={**bearer(token), "Content-Range": "200-209"})
    assert chunk.status_code == 403 and chunk.json() == QUOTA_BODY
    with server.storage.transaction() as db:
        assert db.conn.execute(select(t.blob_upload)).first() is None  # the refused upload was cancelled


def test_robot_and_app_token_credentials(server: Server) -> None:
    registry_token(server, "repository:admin/app:push,pull")
    robot = server.call("PUT", "/api/v1/user/robots/ci", server.admin_token, json={})
    assert robot.status_code == 201, robot.text
    grant = server.call("PUT", "/api/v1/repository/admin/app/permissions/user/admin+ci", server.admin_token,
                        json={"role": "write"})
    assert grant.status_code == 200, grant.text
    token = registry_token(server, "repository:admin/app:push,pull", username="admin+ci",
                           password=robot.json()["token"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["access"][0]["actions"] == ["push", "pull"] and claims["sub"] == "admin+ci"
    manifest, _ = image(server, "admin/app", token, [b"robot layer"])
    assert put_manifest(server, "admin/app", "robot", token, manifest).status_code == 201
    with server.storage.transaction() as db:
        repo = db.repository("admin", "app")
        assert repo is not None
        push = next(r for r in db.logs_for(repository_id=repo.id) if r.kind == "push_repo")
    assert push.metadata["is_robot"] is True and push.metadata["username"] == "admin+ci"

    app_token = server.call("POST", "/api/v1/user/apptoken", server.admin_token, json={"title": "cli"})
    assert app_token.status_code == 200, app_token.text
    code = app_token.json()["token"]["token_code"]
    token = registry_token(server, "repository:admin/app:pull", username="$app", password=code)
    assert jwt.decode(token, options={"verify_signature": False})["access"][0]["actions"] == ["pull"]
    oauth = registry_token(server, "repository:admin/app:pull", username="$oauthtoken", password=server.admin_token)
    assert jwt.decode(oauth, options={"verify_signature": False})["access"][0]["actions"] == ["pull"]
