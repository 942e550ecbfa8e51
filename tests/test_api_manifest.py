"""The manifest API: one manifest with its layers, labels (list/add/get/delete and their key rules),
manifest pull statistics, the security endpoint without a scanner, and manifest-list fields in the tag list."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Server
from tests.test_registry import OCI_INDEX, OCI_MANIFEST, digest, push_blob, put_manifest, registry_token

REPO = "/api/v1/repository/admin/app"


def push_image(server: Server, tag: str = "v1", with_history: bool = True) -> tuple[str, str]:
    """Push an image whose config has a build history; return (manifest digest, config digest)."""
    token = registry_token(server, "repository:admin/app:push,pull")
    layers = [b"first layer", b"second layer"]
    config: dict[str, Any] = {"architecture": "amd64", "os": "linux", "config": {"Labels": {"purpose": "demo"}},
                              "rootfs": {"type": "layers", "diff_ids": [digest(x) for x in layers]}}
    if with_history:
        config["history"] = [
            {"created": "2024-05-01T10:00:00.123456789Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in /"},
            {"created": "2024-05-01T10:00:01Z", "created_by": "/bin/sh -c #(nop) ENV A=1", "empty_layer": True},
            {"created": "2024-05-01T10:00:02Z", "created_by": "/bin/sh -c make", "author": "dev",
             "comment": "build"},
        ]
    config_bytes = json.dumps(config).encode()
    config_digest = push_blob(server, "admin/app", token, config_bytes)
    for layer in layers:
        push_blob(server, "admin/app", token, layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config_bytes)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest(x),
                    "size": len(x)} for x in layers],
    }).encode()
    assert put_manifest(server, "admin/app", tag, token, manifest).status_code == 201
    return digest(manifest), config_digest


def labels_url(manifest_digest: str) -> str:
    return f"{REPO}/manifest/{manifest_digest}/labels"


def test_get_manifest_shows_layers_with_their_build_history(server: Server) -> None:
    manifest_digest, _ = push_image(server)
    answer = server.call("GET", f"{REPO}/manifest/{manifest_digest}", server.admin_token)
    assert answer.status_code == 200
    body = answer.json()
    assert list(body) == ["digest", "is_manifest_list", "manifest_data", "config_media_type",
                          "layers_compressed_size", "layers"]
    assert body["digest"] == manifest_digest and body["is_manifest_list"] is False
    assert json.loads(body["manifest_data"])["mediaType"] == OCI_MANIFEST
    assert body["config_media_type"] == "application/vnd.oci.image.config.v1+json"
    assert body["layers_compressed_size"] == len(b"first layer") + len(b"second layer")
    first, second = body["layers"]
    assert first["index"] == 0 and first["compressed_size"] == len(b"first layer")
    assert first["blob_digest"] == digest(b"first layer") and first["is_remote"] is False and first["urls"] is None
    assert first["command"] == ["/bin/sh -c #(nop) ADD file:abc in /"]
    assert first["created_datetime"] == "Wed, 01 May 2024 10:00:00 -0000"
    assert second["command"] == ["/bin/sh -c make"] and second["author"] == "dev" and second["comment"] == "build"


def test_unknown_or_malformed_manifest_is_not_found(server: Server) -> None:
    push_image(server)
    assert server.call("GET", f"{REPO}/manifest/sha256:{'0' * 64}", server.admin_token).status_code == 404
    assert server.call("GET", f"{REPO}/manifest/latest", server.admin_token).status_code == 404
    outsider = server.make_user("outsider")
    assert server.call("GET", f"{REPO}/manifest/sha256:{'0' * 64}", outsider).status_code == 403


def test_layers_without_history_carry_no_build_details(server: Server) -> None:
    manifest_digest, _ = push_image(server, with_history=False)
    layers = server.call("GET", f"{REPO}/manifest/{manifest_digest}", server.admin_token).json()["layers"]
    assert [layer["command"] for layer in layers] == [None, None]
    assert [layer["created_datetime"] for layer in layers] == [None, None]


def test_labels_lifecycle_and_audit(server: Server) -> None:
    manifest_digest, _ = push_image(server)
    # The image config's labels became manifest labels when it was pushed.
    [from_image] = server.call("GET", labels_url(manifest_digest), server.admin_token).json()["labels"]
    assert from_image["key"] == "purpose" and from_image["source_type"] == "manifest"
    added = server.call("POST", labels_url(manifest_digest), server.admin_token,
                        json={"key": "com.example.team", "value": "platform", "media_type": None})
    assert added.status_code == 201
    label = added.json()["label"]
    assert set(label) == {"id", "key", "value", "source_type", "media_type"}
    assert label["source_type"] == "api" and label["media_type"] == "text/plain"
    assert added.headers["Location"] == f"{labels_url(manifest_digest)}/{label['id']}"
    as_json = server.call("POST", labels_url(manifest_digest), server.admin_token,
                          json={"key": "com.example.cfg", "value": '{"a": 1}', "media_type": None}).json()["label"]
    assert as_json["media_type"] == "application/json"
    filtered = server.call("GET", labels_url(manifest_digest), server.admin_token,
                           params={"filter": "com.example.t"}).json()["labels"]
    assert [x["key"] for x in filtered] == ["com.example.team"]
    got = server.call("GET", f"{labels_url(manifest_digest)}/{label['id']}", server.admin_token)
    assert got.status_code == 200 and got.json() == label
    assert server.call("DELETE", f"{labels_url(manifest_digest)}/{label['id']}", server.admin_token
                       ).status_code == 204
    assert server.call("GET", f"{labels_url(manifest_digest)}/{label['id']}", server.admin_token).status_code == 404
    immutable = server.call("DELETE", f"{labels_url(manifest_digest)}/{from_image['id']}", server.admin_token)
    assert immutable.status_code == 400 and "message" in immutable.json()
    with server.storage.transaction() as db:
        repo = db.repository("admin", "app")
        assert repo is not None
        entries: dict[str, dict[str, Any]] = {}
        for row in db.logs_for(repository_id=repo.id):  # newest first
            entries.setdefault(row._mapping["kind"], dict(row._mapping["metadata"]))
    assert entries["manifest_label_add"]["key"] == "com.example.cfg"
    assert entries["manifest_label_add"]["manifest_digest"] == manifest_digest
    assert entries["manifest_label_delete"]["id"] == label["id"]
    assert entries["manifest_label_delete"]["value"] == "platform"


def test_label_key_rules(server: Server) -> None:
    manifest_digest, _ = push_image(server)
    url = labels_url(manifest_digest)
    reserved = server.call("POST", url, server.admin_token,
                           json={"key": "io.quay.expires-after", "value": "1d", "media_type": "text/plain"})
    assert reserved.status_code == 400 and reserved.json() == {"message": "Label has a reserved prefix"}
    for key in ("Upper", "a..b", "-lead", "x" * 256):
        bad = server.call("POST", url, server.admin_token, json={"key": key, "value": "v", "media_type": None})
        assert bad.status_code == 400 and bad.json()["message"].startswith("Label is of an invalid format"), key
    wrong_type = server.call("POST", url, server.admin_token,
                             json={"key": "ok", "value": "v", "media_type": "text/html"})
    assert wrong_type.status_code == 400 and wrong_type.json()["error_type"] == "invalid_request"
    missing = server.call("POST", labels_url("sha256:" + "0" * 64), server.admin_token,
                          json={"key": "ok", "value": "v", "media_type": None})
    assert missing.status_code == 404
    reader = server.make_user("reader")
    with server.storage.transaction() as db:
        repo, user = db.repository("admin", "app"), db.user_by_name("reader")
        assert repo is not None and user is not None
        db.set_repo_user_grant(repo.id, user.id, "read")
    assert server.call("GET", url, reader).status_code == 200
    assert server.call("POST", url, reader, json={"key": "ok", "value": "v", "media_type": None}).status_code == 403


def test_security_endpoint_without_a_scanner(make_server: Any) -> None:
    off = make_server()
    manifest_digest, _ = push_image(off)
    assert off.call("GET", f"{REPO}/manifest/{manifest_digest}/security", off.admin_token).status_code == 404
    server = make_server({"FEATURE_SECURITY_SCANNER": True})
    manifest_digest, _ = push_image(server)
    answer = server.call("GET", f"{REPO}/manifest/{manifest_digest}/security", server.admin_token)
    assert answer.status_code == 520 and answer.json()["error_type"] == "downstream_issue"
    unknown = server.call("GET", f"{REPO}/manifest/sha256:{'0' * 64}/security", server.admin_token)
    assert unknown.status_code == 404


def test_manifest_pull_statistics(make_server: Any) -> None:
    server = make_server({"FEATURE_IMAGE_PULL_STATS": True})
    manifest_digest, _ = push_image(server)
    stats = server.call("GET", f"{REPO}/manifest/{manifest_digest}/pull_statistics", server.admin_token).json()
    assert stats == {"manifest_digest": manifest_digest, "manifest_pull_count": 0, "last_manifest_pull_date": None}


def test_manifest_list_fields_in_the_tag_list(server: Server) -> None:
    child_digest, _ = push_image(server, tag="amd64")
    token = registry_token(server, "repository:admin/app:push,pull")
    child_size = len(server.client.get(f"/v2/admin/app/manifests/{child_digest}",
                                       headers={"Authorization": f"Bearer {token}"}).content)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": child_digest, "size": child_size,
         "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    assert put_manifest(server, "admin/app", "multi", token, index, OCI_INDEX).status_code == 201
    tags = server.call("GET", f"{REPO}/tag/", server.admin_token, params={"specificTag": "multi"}).json()["tags"]
    [multi] = tags
    assert multi["is_manifest_list"] is True and multi["is_sparse"] is False
    assert multi["child_manifest_count"] == 1 and multi["present_child_count"] == 1
    assert multi["child_manifests_presence"] == {child_digest: True}
    shown = server.call("GET", f"{REPO}/manifest/{digest(index)}", server.admin_token).json()
    assert shown["is_manifest_list"] is True and shown["layers"] is None and shown["config_media_type"] is None
