"""Conformance of the manifest area (reading a manifest, its labels, its pull statistics) and the secscan area
(a manifest's security report). Expectations are Quay's (quay-api.md A rows 143-149, B, C, D1 label keys),
read against endpoints/api/manifest.py in quay/quay; never the reference server's declarations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.checks import expect
from harness.oci import CONFIG_OCI, LAYER_TAR_GZIP
from harness.world import Persona, Target, World
from suites._images import ImagePusher, SeededRepo, seed_repo

pytestmark = pytest.mark.area("manifest")

UNKNOWN_DIGEST = "sha256:" + "0" * 64
MANIFEST_KEYS = {"digest", "is_manifest_list", "manifest_data", "config_media_type", "layers"}
LAYER_KEYS = {"index", "compressed_size", "is_remote", "urls", "command", "comment", "author", "blob_digest",
              "created_datetime"}
LABEL_KEYS = {"id", "key", "value", "source_type", "media_type"}
# Docker's reserved label namespaces, Quay's DEFAULT_LABEL_KEY_RESERVED_PREFIXES.
RESERVED_KEYS = ["com.docker.thing", "io.docker.thing", "org.dockerproject.thing"]
# Keys outside ^[a-z0-9](([a-z0-9]|[-.](?![.-]))*[a-z0-9])?$ (or longer than 255).
INVALID_KEYS = ["Upper", "-lead", "trail.", "a..b", "a-.b", "spa ce", "k" * 256]
SCAN_STATUSES = {"scanned", "failed", "queued", "unsupported", "manifest_layer_too_large"}


@pytest.fixture
def seeded(world: World, target: Target) -> SeededRepo:
    return seed_repo(world, target, images=2)


def _member(world: World, seeded: SeededRepo, role: str = "read") -> Persona:
    user = world.user()
    world.grant(seeded.repo, user=user, role=role, as_=seeded.owner)
    return user


def _add_label(seeded: SeededRepo, key: str, value: str = "v", media_type: str | None = "text/plain",
               digest: str | None = None) -> dict[str, Any]:
    response = seeded.owner.client().call("addManifestLabel", repository=seeded.repo,
                                          manifestref=digest or seeded.images[0].digest,
                                          json={"key": key, "value": value, "media_type": media_type})
    body = expect(response, 201)
    assert set(body) == {"label"}, body
    return dict(body["label"])


# ---- getRepoManifest -------------------------------------------------------------------------------------------
@pytest.mark.operation("getRepoManifest")
def test_get_manifest_returns_digest_data_config_type_and_layers(seeded: SeededRepo) -> None:
    image = seeded.images[1]  # two layers
    body = expect(seeded.owner.client().call("getRepoManifest", repository=seeded.repo, manifestref=image.digest),
                  200)
    assert set(body) >= MANIFEST_KEYS, sorted(body)
    assert body["digest"] == image.digest and body["is_manifest_list"] is False
    assert body["config_media_type"] == CONFIG_OCI
    data = json.loads(body["manifest_data"])
    assert data["config"]["digest"] == image.config_digest
    assert [layer["digest"] for layer in data["layers"]] == list(image.layer_digests)
    assert all(layer["mediaType"] == LAYER_TAR_GZIP for layer in data["layers"])
    if "layers_compressed_size" in body:
        assert body["layers_compressed_size"] == image.size
    layers = body["layers"]
    assert isinstance(layers, list) and len(layers) == len(image.layer_digests)
    for index, (layer, digest, size) in enumerate(zip(layers, image.layer_digests, image.layer_sizes, strict=True)):
        assert set(layer) >= LAYER_KEYS, sorted(layer)
        assert layer["index"] == index and layer["blob_digest"] == digest and layer["compressed_size"] == size
        assert layer["is_remote"] is False


@pytest.mark.operation("getRepoManifest")
def test_get_unknown_manifest_is_404(seeded: SeededRepo) -> None:
    expect(seeded.owner.client().call("getRepoManifest", repository=seeded.repo, manifestref=UNKNOWN_DIGEST), 404,
           error_type="not_found")


@pytest.mark.operation("getRepoManifest")
def test_get_manifest_of_private_repo_is_401_anonymous_403_outsider_200_reader(world: World, target: Target,
                                                                              seeded: SeededRepo) -> None:
    digest = seeded.images[0].digest
    expect(target.anon.call("getRepoManifest", repository=seeded.repo, manifestref=digest), 401,
           error_type="invalid_token")
    expect(world.user().client().call("getRepoManifest", repository=seeded.repo, manifestref=digest), 403,
           error_type="insufficient_scope")
    body = expect(_member(world, seeded).client().call("getRepoManifest", repository=seeded.repo,
                                                       manifestref=digest), 200)
    assert body["digest"] == digest


@pytest.mark.operation("getRepoManifest")
def test_get_manifest_of_public_repo_is_open_to_anonymous(world: World, target: Target) -> None:
    seeded = seed_repo(world, target, images=1, visibility="public")
    digest = seeded.images[0].digest
    body = expect(target.anon.call("getRepoManifest", repository=seeded.repo, manifestref=digest), 200)
    assert body["digest"] == digest


# ---- labels ----------------------------------------------------------------------------------------------------
@pytest.mark.operation("listManifestLabels")
def test_a_pushed_manifest_without_labels_lists_none(seeded: SeededRepo) -> None:
    body = expect(seeded.owner.client().call("listManifestLabels", repository=seeded.repo,
                                             manifestref=seeded.images[0].digest), 200)
    assert body == {"labels": []}


@pytest.mark.operation("listManifestLabels")
def test_image_config_labels_are_listed_as_manifest_labels(world: World, target: Target) -> None:
    seeded = seed_repo(world, target, images=0)
    with ImagePusher(target, seeded.owner) as pusher:
        image = pusher.push_image(seeded.repo, "labelled", "labelled", labels={"com.example.owner": "qa"})
    body = expect(seeded.owner.client().call("listManifestLabels", repository=seeded.repo,
                                             manifestref=image.digest), 200)
    labels = [{k: v for k, v in label.items() if k != "id"} for label in body["labels"]]
    assert labels == [{"key": "com.example.owner", "value": "qa", "source_type": "manifest",
                       "media_type": "text/plain"}]


@pytest.mark.operation("addManifestLabel", "getManifestLabel", "listManifestLabels")
def test_add_label_is_201_with_location_and_the_label_reads_back(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    digest = seeded.images[0].digest
    response = client.call("addManifestLabel", repository=seeded.repo, manifestref=digest,
                           json={"key": "com.example.team", "value": "infra", "media_type": "text/plain"})
    body = expect(response, 201)
    label = body["label"]
    assert set(label) == LABEL_KEYS
    assert label["key"] == "com.example.team" and label["value"] == "infra"
    assert label["source_type"] == "api" and label["media_type"] == "text/plain"
    assert isinstance(label["id"], str) and label["id"]
    location = response.headers.get("location", "")
    assert location.endswith(f"/api/v1/repository/{seeded.repo}/manifest/{digest}/labels/{label['id']}"), location
    got = expect(client.call("getManifestLabel", repository=seeded.repo, manifestref=digest, labelid=label["id"]),
                 200)
    assert got == label
    listed = expect(client.call("listManifestLabels", repository=seeded.repo, manifestref=digest), 200)
    assert listed == {"labels": [label]}


@pytest.mark.operation("addManifestLabel")
def test_add_label_with_json_media_type(seeded: SeededRepo) -> None:
    label = _add_label(seeded, "config", value='{"a": 1}', media_type="application/json")
    assert label["media_type"] == "application/json" and label["value"] == '{"a": 1}'


@pytest.mark.operation("addManifestLabel", "listManifestLabels")
def test_label_list_filter_is_a_key_prefix(seeded: SeededRepo) -> None:
    for key in ("com.example.a", "com.example.b", "org.other"):
        _add_label(seeded, key)
    body = expect(seeded.owner.client().call("listManifestLabels", repository=seeded.repo,
                                             manifestref=seeded.images[0].digest,
                                             params={"filter": "com.example"}), 200)
    assert sorted(label["key"] for label in body["labels"]) == ["com.example.a", "com.example.b"]


@pytest.mark.operation("addManifestLabel", "listManifestLabels")
def test_labels_belong_to_one_manifest(seeded: SeededRepo) -> None:
    _add_label(seeded, "only.first")
    body = expect(seeded.owner.client().call("listManifestLabels", repository=seeded.repo,
                                             manifestref=seeded.images[1].digest), 200)
    assert body == {"labels": []}


@pytest.mark.operation("addManifestLabel")
@pytest.mark.parametrize("key", RESERVED_KEYS)
def test_add_label_with_reserved_prefix_is_400_message(seeded: SeededRepo, key: str) -> None:
    response = seeded.owner.client().call("addManifestLabel", repository=seeded.repo,
                                          manifestref=seeded.images[0].digest,
                                          json={"key": key, "value": "v", "media_type": "text/plain"})
    body = expect(response, 400, shape="message")
    assert body["message"] == "Label has a reserved prefix"


@pytest.mark.operation("addManifestLabel")
def test_reserved_prefix_is_refused_before_the_manifest_is_looked_up(seeded: SeededRepo) -> None:
    # Quay checks the prefix first, so even an unknown manifest gives 400, while an invalid key (checked when the
    # label is created) on an unknown manifest gives 404.
    client = seeded.owner.client()
    reserved = client.call("addManifestLabel", repository=seeded.repo, manifestref=UNKNOWN_DIGEST,
                           json={"key": RESERVED_KEYS[0], "value": "v", "media_type": "text/plain"})
    expect(reserved, 400, shape="message")
    invalid = client.call("addManifestLabel", repository=seeded.repo, manifestref=UNKNOWN_DIGEST,
                          json={"key": INVALID_KEYS[0], "value": "v", "media_type": "text/plain"})
    expect(invalid, 404, error_type="not_found")


@pytest.mark.operation("addManifestLabel", "listManifestLabels")
def test_the_same_key_can_be_added_twice(seeded: SeededRepo) -> None:
    first, second = _add_label(seeded, "twice", value="1"), _add_label(seeded, "twice", value="2")
    assert first["id"] != second["id"]
    body = expect(seeded.owner.client().call("listManifestLabels", repository=seeded.repo,
                                             manifestref=seeded.images[0].digest), 200)
    assert sorted(label["value"] for label in body["labels"]) == ["1", "2"]


@pytest.mark.operation("addManifestLabel", "listManifestLabels")
@pytest.mark.parametrize("key", INVALID_KEYS, ids=["upper", "lead-dash", "trail-dot", "double-dot", "dash-dot",
                                                   "space", "256-chars"])
def test_add_label_with_invalid_key_is_400_message(seeded: SeededRepo, key: str) -> None:
    client = seeded.owner.client()
    digest = seeded.images[0].digest
    response = client.call("addManifestLabel", repository=seeded.repo, manifestref=digest,
                           json={"key": key, "value": "v", "media_type": "text/plain"})
    body = expect(response, 400, shape="message")
    assert body["message"].startswith("Label is of an invalid format")
    assert expect(client.call("listManifestLabels", repository=seeded.repo, manifestref=digest), 200) == \
        {"labels": []}


@pytest.mark.operation("addManifestLabel")
@pytest.mark.parametrize("body", [
    {"key": "k", "value": "v", "media_type": "text/html"},
    {"key": "k", "value": "v"},
    {"value": "v", "media_type": "text/plain"},
    {"key": "k", "value": 5, "media_type": "text/plain"},
], ids=["bad-media-type", "no-media-type", "no-key", "value-int"])
def test_add_label_with_invalid_body_is_400_schema_error(seeded: SeededRepo, body: dict[str, Any]) -> None:
    response = seeded.owner.client().call("addManifestLabel", repository=seeded.repo,
                                          manifestref=seeded.images[0].digest, json=body)
    expect(response, 400, error_type="invalid_request")


@pytest.mark.operation("addManifestLabel")
def test_add_label_to_unknown_manifest_is_404(seeded: SeededRepo) -> None:
    response = seeded.owner.client().call("addManifestLabel", repository=seeded.repo, manifestref=UNKNOWN_DIGEST,
                                          json={"key": "k", "value": "v", "media_type": "text/plain"})
    expect(response, 404, error_type="not_found")


@pytest.mark.operation("deleteManifestLabel", "getManifestLabel", "listManifestLabels")
def test_delete_label_is_204_and_it_is_gone(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    digest = seeded.images[0].digest
    label = _add_label(seeded, "to.delete")
    kept = _add_label(seeded, "to.keep")
    response = client.call("deleteManifestLabel", repository=seeded.repo, manifestref=digest, labelid=label["id"])
    expect(response, 204)
    assert response.content == b""
    expect(client.call("getManifestLabel", repository=seeded.repo, manifestref=digest, labelid=label["id"]), 404,
           error_type="not_found")
    listed = expect(client.call("listManifestLabels", repository=seeded.repo, manifestref=digest), 200)
    assert listed == {"labels": [kept]}
    expect(client.call("deleteManifestLabel", repository=seeded.repo, manifestref=digest, labelid=label["id"]),
           404, error_type="not_found")


@pytest.mark.operation("getManifestLabel")
def test_get_unknown_label_is_404(seeded: SeededRepo) -> None:
    response = seeded.owner.client().call("getManifestLabel", repository=seeded.repo,
                                          manifestref=seeded.images[0].digest, labelid="nosuchlabel")
    expect(response, 404, error_type="not_found")


@pytest.mark.operation("getManifestLabel")
def test_label_of_another_manifest_is_404(seeded: SeededRepo) -> None:
    label = _add_label(seeded, "on.first")
    response = seeded.owner.client().call("getManifestLabel", repository=seeded.repo,
                                          manifestref=seeded.images[1].digest, labelid=label["id"])
    expect(response, 404, error_type="not_found")


@pytest.mark.operation("listManifestLabels", "getManifestLabel")
def test_reader_can_read_labels(world: World, seeded: SeededRepo) -> None:
    label = _add_label(seeded, "readable")
    client = _member(world, seeded).client()
    digest = seeded.images[0].digest
    assert expect(client.call("listManifestLabels", repository=seeded.repo, manifestref=digest), 200) == \
        {"labels": [label]}
    assert expect(client.call("getManifestLabel", repository=seeded.repo, manifestref=digest,
                              labelid=label["id"]), 200) == label


@pytest.mark.operation("listManifestLabels", "getManifestLabel")
def test_labels_of_private_repo_are_401_anonymous_403_outsider(world: World, target: Target,
                                                               seeded: SeededRepo) -> None:
    label = _add_label(seeded, "secret")
    digest = seeded.images[0].digest
    expect(target.anon.call("listManifestLabels", repository=seeded.repo, manifestref=digest), 401,
           error_type="invalid_token")
    expect(target.anon.call("getManifestLabel", repository=seeded.repo, manifestref=digest, labelid=label["id"]),
           401, error_type="invalid_token")
    outsider = world.user().client()
    expect(outsider.call("listManifestLabels", repository=seeded.repo, manifestref=digest), 403,
           error_type="insufficient_scope")
    expect(outsider.call("getManifestLabel", repository=seeded.repo, manifestref=digest, labelid=label["id"]),
           403, error_type="insufficient_scope")


@pytest.mark.operation("addManifestLabel", "deleteManifestLabel", "listManifestLabels")
def test_reader_and_outsider_cannot_add_or_delete_labels(world: World, target: Target, seeded: SeededRepo) -> None:
    label = _add_label(seeded, "stays")
    digest = seeded.images[0].digest
    for persona in (_member(world, seeded), world.user()):
        client = persona.client()
        expect(client.call("addManifestLabel", repository=seeded.repo, manifestref=digest,
                           json={"key": "new", "value": "v", "media_type": "text/plain"}), 403,
               error_type="insufficient_scope")
        # Permission comes before the body and the reserved-prefix check.
        expect(client.call("addManifestLabel", repository=seeded.repo, manifestref=digest,
                           json={"key": "com.docker.x"}), 403, error_type="insufficient_scope")
        expect(client.call("deleteManifestLabel", repository=seeded.repo, manifestref=digest,
                           labelid=label["id"]), 403, error_type="insufficient_scope")
    expect(target.anon.call("deleteManifestLabel", repository=seeded.repo, manifestref=digest,
                            labelid=label["id"]), 403, shape="error")
    listed = expect(seeded.owner.client().call("listManifestLabels", repository=seeded.repo, manifestref=digest),
                    200)
    assert listed == {"labels": [label]}


@pytest.mark.operation("addManifestLabel", "deleteManifestLabel")
def test_writer_can_add_and_delete_labels(world: World, seeded: SeededRepo) -> None:
    client = _member(world, seeded, role="write").client()
    digest = seeded.images[0].digest
    body = expect(client.call("addManifestLabel", repository=seeded.repo, manifestref=digest,
                              json={"key": "by.writer", "value": "v", "media_type": "text/plain"}), 201)
    expect(client.call("deleteManifestLabel", repository=seeded.repo, manifestref=digest,
                       labelid=body["label"]["id"]), 204)


# ---- getManifestPullStatistics (only with IMAGE_PULL_STATS) ------------------------------------------------------
@pytest.mark.operation("getManifestPullStatistics")
def test_manifest_pull_statistics_names_the_manifest(seeded: SeededRepo) -> None:
    digest = seeded.images[0].digest
    body = expect(seeded.owner.client().call("getManifestPullStatistics", repository=seeded.repo,
                                             manifestref=digest), 200)
    assert set(body) >= {"manifest_digest", "manifest_pull_count", "last_manifest_pull_date"}
    assert body["manifest_digest"] == digest and isinstance(body["manifest_pull_count"], int)


@pytest.mark.operation("getManifestPullStatistics")
def test_manifest_pull_statistics_of_private_repo_is_401_anonymous_403_outsider(world: World, target: Target,
                                                                               seeded: SeededRepo) -> None:
    digest = seeded.images[0].digest
    expect(target.anon.call("getManifestPullStatistics", repository=seeded.repo, manifestref=digest), 401,
           error_type="invalid_token")
    expect(world.user().client().call("getManifestPullStatistics", repository=seeded.repo, manifestref=digest),
           403, error_type="insufficient_scope")


# ---- getRepoManifestSecurity (only with SECURITY_SCANNER) --------------------------------------------------------
@pytest.mark.area("secscan")
@pytest.mark.operation("getRepoManifestSecurity")
def test_manifest_security_reports_a_known_status_or_a_downstream_issue(seeded: SeededRepo) -> None:
    for params in (None, {"vulnerabilities": "true"}):
        response = seeded.owner.client().call("getRepoManifestSecurity", repository=seeded.repo,
                                              manifestref=seeded.images[0].digest, params=params)
        if response.status_code == 520:
            # Quay's answer when the scanner cannot be reached or is not configured (COULD_NOT_LOAD).
            expect(response, 520, error_type="downstream_issue")
            continue
        body = expect(response, 200)
        assert set(body) >= {"status", "data"}, sorted(body)
        assert body["status"] in SCAN_STATUSES
        assert body["data"] is None or isinstance(body["data"], dict)


@pytest.mark.area("secscan")
@pytest.mark.operation("getRepoManifestSecurity")
def test_manifest_security_of_unknown_manifest_is_404(seeded: SeededRepo) -> None:
    response = seeded.owner.client().call("getRepoManifestSecurity", repository=seeded.repo,
                                          manifestref=UNKNOWN_DIGEST)
    assert response.status_code == 404, response.text


@pytest.mark.area("secscan")
@pytest.mark.operation("getRepoManifestSecurity")
def test_manifest_security_of_private_repo_is_401_anonymous_403_outsider(world: World, target: Target,
                                                                        seeded: SeededRepo) -> None:
    digest = seeded.images[0].digest
    expect(target.anon.call("getRepoManifestSecurity", repository=seeded.repo, manifestref=digest), 401,
           error_type="invalid_token")
    expect(world.user().client().call("getRepoManifestSecurity", repository=seeded.repo, manifestref=digest), 403,
           error_type="insufficient_scope")
