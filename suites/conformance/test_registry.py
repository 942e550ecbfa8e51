"""Conformance of the /v2 registry protocol and its token service, through harness/oci.py. Expectations come from
Quay's behaviour (quay-api.md 0, D3, D5 and D15, and the OCI distribution protocol Quay implements), never from the
reference server.

Repositories made by a push live in a namespace the World created, so deleting the namespace removes them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.checks import expect
from harness.errors import HarnessError
from harness.oci import MANIFEST_OCI, RegistryClient, RegistryError, decode_jwt_claims, make_image, sha256_digest
from harness.world import Persona, Target, World

pytestmark = pytest.mark.area("registry")

Connect = Callable[[str | None, str | None], RegistryClient]
QUOTA_MESSAGE = "Quota has been exceeded on namespace"


@pytest.fixture
def connect(target: Target) -> Iterator[Connect]:
    """Registry clients for this test (username, password); closed afterwards."""
    made: list[RegistryClient] = []

    def make(username: str | None, password: str | None) -> RegistryClient:
        client = target.registry_client(username, password)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def _as(connect: Connect, persona: Persona) -> RegistryClient:
    return connect(persona.name, persona.password)


def _scope(repo: str, actions: str = "pull,push") -> str:
    return f"repository:{repo}:{actions}"


def _unique(world: World, kind: str) -> str:
    return world.target.next_name(kind)


# -- the version check and the token service ------------------------------------------------------------------------
def test_v2_base_challenges_with_a_bearer_realm_at_v2_auth(connect: Connect) -> None:
    response = connect(None, None).ping()
    assert response.status_code == 401, response.text
    assert response.headers.get("docker-distribution-api-version") == "registry/2.0"
    header = response.headers.get("www-authenticate", "")
    assert header.startswith("Bearer "), header
    client = connect(None, None)
    challenge = client.challenge()
    assert challenge is not None and challenge.scheme == "bearer"
    assert challenge.realm is not None and challenge.realm.endswith("/v2/auth"), challenge
    assert challenge.service, "the challenge must name the token service"


def test_v2_base_answers_200_with_a_valid_token(connect: Connect, world: World) -> None:
    persona = world.user()
    client = _as(connect, persona)
    token = client.grant().token
    response = client.http.get("/v2/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers.get("docker-distribution-api-version") == "registry/2.0"


def test_user_password_gets_pull_and_push_on_own_repository(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = world.repo(persona.name)
    client = _as(connect, persona)
    grant = client.grant(_scope(repo))
    assert sorted(grant.actions(repo)) == ["pull", "push"]
    claims = decode_jwt_claims(grant.token)
    assert {"iss", "aud", "iat", "exp", "sub", "access"} <= set(claims), claims
    challenge = client.challenge()
    assert challenge is not None and claims["aud"] == challenge.service, "aud is the service asked for"
    assert 0 < claims["exp"] - claims["iat"] <= 3600, "tokens live an hour"


@pytest.mark.operation("createOrgRobot", "changeUserPermissions")
def test_robot_token_gets_push_once_granted_write(connect: Connect, world: World) -> None:
    org = world.org()
    repo = world.repo(org)
    robot = world.robot(org)
    client = connect(robot.name, robot.token)
    assert client.grant(_scope(repo)).actions(repo) == [], "a robot with no permission gets no actions"
    world.grant(repo, robot, role="write")
    client.forget_tokens()
    assert sorted(client.grant(_scope(repo)).actions(repo)) == ["pull", "push"]
    digest = client.push(repo, "robot", make_image("robot", 1, 256))
    assert client.pull_manifest(repo, "robot")[0] == digest


@pytest.mark.operation("createAppToken")
def test_app_specific_token_authenticates_as_its_user(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = world.repo(persona.name)
    body = expect(persona.client().call("createAppToken", json={"title": "registry"}), 200)
    code = body["token"]["token_code"]
    client = connect("$app", code)
    assert sorted(client.grant(_scope(repo)).actions(repo)) == ["pull", "push"]
    assert connect("$app", code[:-4] + "xxxx").token_response(_scope(repo)).status_code == 401


def test_oauth_token_is_capped_by_its_scopes(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = world.repo(persona.name)
    full = world.target.mint(persona, ["repo:read", "repo:write"])
    assert sorted(connect("$oauthtoken", full).grant(_scope(repo)).actions(repo)) == ["pull", "push"]
    read_only = world.target.mint(persona, ["repo:read"])
    assert connect("$oauthtoken", read_only).grant(_scope(repo)).actions(repo) == ["pull"]


@pytest.mark.operation("changeUserPermissions")
def test_reader_asking_for_push_is_down_scoped_to_pull(connect: Connect, world: World) -> None:
    owner, reader = world.user(), world.user()
    repo = world.repo(owner.name)
    world.grant(repo, reader, role="read")
    response = _as(connect, reader).token_response(_scope(repo))
    assert response.status_code == 200, "down-scoping is not a failure"
    client = _as(connect, reader)
    assert client.grant(_scope(repo)).actions(repo) == ["pull"]


def test_outsider_gets_no_actions_on_a_private_repository(connect: Connect, world: World) -> None:
    owner, outsider = world.user(), world.user()
    repo = world.repo(owner.name)
    assert _as(connect, outsider).grant(_scope(repo)).actions(repo) == []


def test_outsider_cannot_push_or_pull(connect: Connect, world: World) -> None:
    owner, outsider = world.user(), world.user()
    repo = world.repo(owner.name)
    _as(connect, owner).push(repo, "v1", make_image("private", 1, 64))
    client = _as(connect, outsider)
    with pytest.raises(RegistryError) as refused:
        client.push_blob(repo, b"outsider data", skip_existing=False)
    assert (refused.value.status, refused.value.code) == (401, "UNAUTHORIZED")
    with pytest.raises(RegistryError) as hidden:
        client.pull_manifest(repo, "v1")
    assert (hidden.value.status, hidden.value.code) == (401, "UNAUTHORIZED")


def test_bad_password_is_401_unauthorized_in_registry_format(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = f"{persona.name}/{_unique(world, 'repo')}"
    response = connect(persona.name, "not-the-password-42").token_response(_scope(repo))
    assert response.status_code == 401, response.text
    errors = response.json()["errors"]
    assert isinstance(errors, list) and errors and errors[0]["code"] == "UNAUTHORIZED"
    assert set(errors[0]) >= {"code", "message"}


def test_unknown_namespace_gives_no_actions(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = f"{_unique(world, 'nons')}/{_unique(world, 'repo')}"
    assert _as(connect, persona).grant(_scope(repo)).actions(repo) == []


# -- push and pull --------------------------------------------------------------------------------------------------
@pytest.mark.operation("getRepo", "listRepoTags")
def test_push_creates_a_private_repository_and_pulls_back(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = f"{persona.name}/{_unique(world, 'pushed')}"
    image = make_image(repo, 3, 4096)
    client = _as(connect, persona)
    digest = client.push(repo, "v1", image)

    info = expect(persona.client().call("getRepo", repository=repo), 200)
    assert info["is_public"] is False, "a repository created by a push is private"
    tags = expect(persona.client().call("listRepoTags", repository=repo, params={"onlyActiveTags": "true"}), 200)
    assert [(t["name"], t["manifest_digest"]) for t in tags["tags"]] == [("v1", digest)]

    by_tag = client.pull_manifest(repo, "v1")
    by_digest = client.pull_manifest(repo, digest)
    assert by_tag == by_digest
    assert by_tag[0] == digest and by_tag[1] == MANIFEST_OCI
    manifest: dict[str, Any] = json.loads(by_tag[2])
    assert [x["digest"] for x in manifest["layers"]] == [sha256_digest(x) for x in image.layers]
    for layer in image.layers:
        assert client.pull_blob(repo, sha256_digest(layer)) == layer
    assert client.pull_blob(repo, manifest["config"]["digest"]) == image.config_bytes


def test_monolithic_and_chunked_uploads_are_accepted(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = f"{persona.name}/{_unique(world, 'uploads')}"
    client = _as(connect, persona)
    mono = client.push(repo, "mono", make_image("mono", 2, 1000), monolithic=True)
    chunked = client.push(repo, "chunked", make_image("chunked", 1, 3000), chunk_size=1024)
    assert client.pull_manifest(repo, "mono")[0] == mono
    assert client.pull_manifest(repo, "chunked")[0] == chunked


def test_range_get_of_a_blob(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = f"{persona.name}/{_unique(world, 'range')}"
    client = _as(connect, persona)
    image = make_image("range", 1, 2048)
    client.push(repo, "v1", image)
    layer = image.layers[0]
    response = client.request("GET", repo, f"blobs/{sha256_digest(layer)}", headers={"Range": "bytes=10-109"},
                              follow_redirects=True)
    # Range support is optional in HTTP (Quay streams local storage whole, object storage honours it): either the
    # exact slice as 206 with its Content-Range, or the whole blob as 200.
    if response.status_code == 206:
        assert response.content == layer[10:110]
        assert response.headers.get("content-range") == f"bytes 10-109/{len(layer)}"
    else:
        assert response.status_code == 200, response.text
        assert response.content == layer


def test_head_blob_reports_its_size(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = f"{persona.name}/{_unique(world, 'head')}"
    client = _as(connect, persona)
    image = make_image("head", 1, 700)
    client.push(repo, "v1", image)
    digest = sha256_digest(image.layers[0])
    response = client.request("HEAD", repo, f"blobs/{digest}")
    assert response.status_code == 200
    assert response.headers.get("docker-content-digest") == digest
    assert int(response.headers["content-length"]) == len(image.layers[0])


def test_tags_list_paginates_with_n_and_last(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = f"{persona.name}/{_unique(world, 'tags')}"
    client = _as(connect, persona)
    image = make_image("tags", 1, 128)
    names = ["alpha", "bravo", "charlie", "delta", "echo"]
    for name in names:
        client.push(repo, name, image)

    everything = client.tags_list(repo)
    assert everything.name == repo
    assert sorted(everything.tags) == names and everything.next_url is None

    first = client.tags_list(repo, n=2)
    assert len(first.tags) == 2
    assert first.next_url is not None, "a page that is not the last carries a Link rel=next"
    assert client.all_tags(repo, n=2) == everything.tags, "the pages, in order, are the whole listing"
    after = client.tags_list(repo, last="bravo")
    assert after.tags == ["charlie", "delta", "echo"]


def test_tags_list_of_unknown_repository_is_refused(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = f"{persona.name}/{_unique(world, 'missing')}"
    # Asking for pull only: a pull scope never creates the repository.
    response = _as(connect, persona).request("GET", repo, "tags/list")
    assert response.status_code in (401, 404), response.text
    codes = [e["code"] for e in response.json()["errors"]]
    assert codes[0] in ("NAME_UNKNOWN", "UNAUTHORIZED"), codes


def test_unknown_manifest_is_404_manifest_unknown(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = f"{persona.name}/{_unique(world, 'unknown')}"
    client = _as(connect, persona)
    client.push(repo, "v1", make_image("unknown", 1, 64))
    for ref in ("no-such-tag", sha256_digest(b"no such manifest")):
        with pytest.raises(RegistryError) as missing:
            client.pull_manifest(repo, ref)
        assert missing.value.status == 404
        assert missing.value.code == "MANIFEST_UNKNOWN"


def test_unknown_blob_is_404_blob_unknown(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = f"{persona.name}/{_unique(world, 'noblob')}"
    client = _as(connect, persona)
    client.push(repo, "v1", make_image("noblob", 1, 64))
    with pytest.raises(RegistryError) as missing:
        client.pull_blob(repo, sha256_digest(b"no such blob"))
    assert missing.value.status == 404
    assert missing.value.code == "BLOB_UNKNOWN"


@pytest.mark.operation("listRepoTags")
def test_delete_manifest_removes_it_and_its_tags(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = f"{persona.name}/{_unique(world, 'delete')}"
    client = _as(connect, persona)
    keep = client.push(repo, "keep", make_image("keep", 1, 64))
    gone = client.push(repo, "gone", make_image("gone", 1, 64))
    response = client.request("DELETE", repo, f"manifests/{gone}", actions="pull,push")
    assert response.status_code == 202, response.text
    with pytest.raises(RegistryError) as missing:
        client.pull_manifest(repo, gone)
    assert missing.value.code == "MANIFEST_UNKNOWN"
    assert client.tags_list(repo).tags == ["keep"]
    tags = expect(persona.client().call("listRepoTags", repository=repo, params={"onlyActiveTags": "true"}), 200)
    assert [(t["name"], t["manifest_digest"]) for t in tags["tags"]] == [("keep", keep)]


def test_multi_arch_index_round_trip(connect: Connect, world: World) -> None:
    persona = world.user()
    repo = f"{persona.name}/{_unique(world, 'multi')}"
    client = _as(connect, persona)
    images = {"linux/amd64": make_image("amd64", 1, 64),
              "linux/arm64": make_image("arm64", 1, 64, architecture="arm64")}
    digest = client.push_index(repo, "latest", images)
    got, media_type, body = client.pull_manifest(repo, "latest")
    assert got == digest
    assert media_type == "application/vnd.oci.image.index.v1+json"
    for entry in json.loads(body)["manifests"]:
        assert client.pull_manifest(repo, entry["digest"])[0] == entry["digest"]


@pytest.mark.operation("changeUserPermissions")
def test_reader_can_pull_but_not_push(connect: Connect, world: World) -> None:
    owner, reader = world.user(), world.user()
    repo = world.repo(owner.name)
    digest = _as(connect, owner).push(repo, "v1", make_image("shared", 1, 128))
    world.grant(repo, reader, role="read")
    client = _as(connect, reader)
    assert client.pull_manifest(repo, "v1")[0] == digest
    with pytest.raises(RegistryError) as refused:
        client.push(repo, "v2", make_image("reader", 1, 64))
    assert refused.value.status == 401


# -- quota ----------------------------------------------------------------------------------------------------------
def _quota_ops(target: Target) -> tuple[str, str]:
    """(create, list) operation ids to put a quota on an org: the superuser variants when offered (they need no
    FULL_ACCESS), else the organization ones."""
    if "createOrganizationQuotaSuperUser" in target.catalog and "listOrganizationQuotaSuperUser" in target.catalog:
        return "createOrganizationQuotaSuperUser", "listOrganizationQuotaSuperUser"
    if "createOrganizationQuota" in target.catalog and "listOrganizationQuota" in target.catalog:
        return "createOrganizationQuota", "listOrganizationQuota"
    pytest.skip("the target offers no quota management (QUOTA_MANAGEMENT / EDIT_QUOTA off)")


@pytest.mark.operation("createOrganizationQuotaLimit")
def test_push_is_refused_once_usage_reaches_a_reject_limit(connect: Connect, world: World) -> None:
    target = world.target
    create, listing = _quota_ops(target)
    if not target.profile.full_access:
        pytest.skip("adding a quota limit needs FEATURE_SUPERUSERS_FULL_ACCESS, which the target has off")
    org = world.org()
    repo = f"{org}/{_unique(world, 'quota')}"
    # Several small layers per image: any one blob in flight stays below the threshold (Quay may count bytes of
    # uploads in progress), while a whole third image takes usage past it. The threshold sits between two image
    # totals, so no push ever lands exactly on it.
    images = [make_image(f"{org}-{i}", 4, 1000) for i in range(4)]
    size, smallest = max(i.size for i in images), min(i.size for i in images)
    limit = int(size * 2.5)
    largest_blob = max(len(x) for i in images for x in (*i.layers, i.config_bytes))
    if not 2 * size + largest_blob < limit < 3 * smallest:
        raise HarnessError(f"image sizes do not fit the scenario: {[i.size for i in images]}")  # our bug
    key = "namespace" if create.endswith("SuperUser") else "orgname"
    expect(target.admin.call(create, json={"limit_bytes": limit}, **{key: org}), 201)
    quotas = expect(target.admin.call(listing, **{key: org}), 200)
    assert isinstance(quotas, list) and len(quotas) == 1 and quotas[0]["limit_bytes"] == limit, quotas
    expect(target.admin.call("createOrganizationQuotaLimit", orgname=org, quota_id=str(quotas[0]["id"]),
                             json={"type": "Reject", "threshold_percent": 100}), 201,
           why="a superuser with full access adds a quota limit")

    client = _as(connect, world.admin) if world.admin.password else None
    if client is None:
        robot = world.robot(org)
        world.grant(world.repo(org, name=repo.split("/", 1)[1]), robot, role="write")
        client = connect(robot.name, robot.token)

    # Below the threshold (usage after the push < limit): pushes succeed.
    for n, image in enumerate(images[:2], 1):
        client.push(repo, f"ok{n}", image)
    # This push takes usage past the threshold. Quay checks a manifest after writing it (D5), so the manifest PUT
    # is refused; the manifest keeps only an already-expired hidden tag, so the tag never appears.
    with pytest.raises(RegistryError) as crossing:
        client.push(repo, "crossing", images[2])
    _assert_quota_error(crossing.value)
    assert crossing.value.method == "PUT" and "/manifests/" in crossing.value.path, crossing.value
    assert sorted(client.tags_list(repo).tags) == ["ok1", "ok2"]
    # Usage is now at or over the threshold: the next push is refused when its upload starts.
    with pytest.raises(RegistryError) as refused:
        client.push(repo, "refused", images[3])
    _assert_quota_error(refused.value)
    assert refused.value.method == "POST" and refused.value.path.endswith("/blobs/uploads/"), refused.value


def _assert_quota_error(exc: RegistryError) -> None:
    assert exc.status == 403, exc
    assert exc.errors and exc.errors[0].get("code") == "DENIED", exc
    assert exc.errors[0].get("message") == QUOTA_MESSAGE, exc
