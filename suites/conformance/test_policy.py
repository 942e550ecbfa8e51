"""Conformance of the policy area: auto-prune policies (organization, user and repository scopes) and tag
immutability policies (organization and repository scopes). Expectations are Quay's (quay-api.md A rows 29-33,
38-42, 122-126, 137-141, 173, 251-255; C (error shapes, `tag_immutable`); D3 immutability; D6 auto-prune;
quay-observed.md autoprune bodies), never the reference server's declarations.

Pruning itself is asynchronous (a worker); suites/property/test_prune_model.py checks what the worker removes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness.checks import expect
from harness.client import QuayClient
from harness.world import Persona, Target, World
from suites._images import seed_repo

pytestmark = pytest.mark.area("policy")

UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"
PRUNE_VIEW_KEYS = {"uuid", "method", "value", "tagPattern", "tagPatternMatches"}
IMMUTABILITY_VIEW_KEYS = {"uuid", "tagPattern", "tagPatternMatches"}
BAD_METHOD = "Invalid method provided"
BAD_VALUE = "Invalid value given for method type"


# ---- scopes: one description of the five operations per place a policy can live ------------------------------
@dataclass(frozen=True)
class PolicyScope:
    """Where policies live: the client of an admin of that place, the operationIds and their path parameters."""

    client: QuayClient
    ops: dict[str, str]  # list/create/get/update/delete -> operationId
    params: dict[str, str]

    def call(self, verb: str, policy_uuid: str | None = None, json: Any = None) -> Any:
        params = dict(self.params)
        if policy_uuid is not None:
            params["policy_uuid"] = policy_uuid
        return self.client.call(self.ops[verb], json=json, **params)


def _ops(list_op: str, single: str) -> dict[str, str]:
    return {"list": list_op, "create": f"create{single}", "get": f"get{single}", "update": f"update{single}",
            "delete": f"delete{single}"}


ORG_PRUNE = _ops("listOrganizationAutoPrunePolicies", "OrganizationAutoPrunePolicy")
USER_PRUNE = _ops("listUserAutoPrunePolicies", "UserAutoPrunePolicy")
REPO_PRUNE = _ops("listRepositoryAutoPrunePolicies", "RepositoryAutoPrunePolicy")
ORG_IMMUTABILITY = _ops("listOrgImmutabilityPolicies", "OrgImmutabilityPolicy")
REPO_IMMUTABILITY = _ops("listRepositoryImmutabilityPolicies", "RepositoryImmutabilityPolicy")
PRUNE_SCOPES = {"org": ORG_PRUNE, "user": USER_PRUNE, "repo": REPO_PRUNE}
IMMUTABILITY_SCOPES = {"org": ORG_IMMUTABILITY, "repo": REPO_IMMUTABILITY}


def _scope(world: World, where: str, ops: dict[str, str]) -> PolicyScope:
    owner = world.user()
    if where == "user":
        return PolicyScope(owner.client(), ops, {})
    org = world.org(owner=owner)
    if where == "org":
        return PolicyScope(owner.client(), ops, {"orgname": org})
    return PolicyScope(owner.client(), ops, {"repository": world.repo(org, as_=owner)})


@pytest.fixture(params=sorted(PRUNE_SCOPES))
def prune_scope(request: pytest.FixtureRequest, world: World, target: Target) -> PolicyScope:
    ops = PRUNE_SCOPES[str(request.param)]
    missing = [op for op in ops.values() if op not in target.catalog]
    if missing:
        pytest.skip(f"the target's discovery has no {', '.join(missing)}")
    return _scope(world, str(request.param), ops)


def _create(scope: PolicyScope, body: dict[str, Any]) -> str:
    answer = expect(scope.call("create", json=body), 201)
    assert isinstance(answer, dict) and set(answer) == {"uuid"} and isinstance(answer["uuid"], str), \
        f"create answered {answer!r}; Quay answers 201 {{\"uuid\": ...}}"
    return str(answer["uuid"])


def _policies(scope: PolicyScope) -> list[dict[str, Any]]:
    body = expect(scope.call("list"), 200)
    assert isinstance(body, dict) and isinstance(body.get("policies"), list), body
    return list(body["policies"])


ALL_PRUNE_OPS = tuple(op for ops in PRUNE_SCOPES.values() for op in ops.values())


# ---- auto-prune: the life cycle ----------------------------------------------------------------------------------
@pytest.mark.operation(*ALL_PRUNE_OPS)
def test_autoprune_policy_create_list_get_update_delete(prune_scope: PolicyScope) -> None:
    uuid = _create(prune_scope, {"method": "number_of_tags", "value": 10})
    view = {"uuid": uuid, "method": "number_of_tags", "value": 10, "tagPattern": None, "tagPatternMatches": True}
    assert _policies(prune_scope) == [view]
    assert expect(prune_scope.call("get", uuid), 200) == view

    # PUT replaces the whole policy and answers 204.
    expect(prune_scope.call("update", uuid, json={"method": "creation_date", "value": "7d", "tagPattern": "^v",
                                                   "tagPatternMatches": False}), 204)
    changed = expect(prune_scope.call("get", uuid), 200)
    assert changed == {"uuid": uuid, "method": "creation_date", "value": "7d", "tagPattern": "^v",
                       "tagPatternMatches": False}

    assert expect(prune_scope.call("delete", uuid), 200) == {"uuid": uuid}
    expect(prune_scope.call("get", uuid), 404, error_type="not_found")
    assert _policies(prune_scope) == []


@pytest.mark.operation(*ALL_PRUNE_OPS)
def test_autoprune_several_policies_are_allowed_and_listed(prune_scope: PolicyScope) -> None:
    first = _create(prune_scope, {"method": "number_of_tags", "value": 10})
    second = _create(prune_scope, {"method": "creation_date", "value": "7d"})
    third = _create(prune_scope, {"method": "creation_date", "value": "2w", "tagPattern": "^v.*",
                                  "tagPatternMatches": True})
    listed = _policies(prune_scope)
    assert {p["uuid"] for p in listed} == {first, second, third}
    for policy in listed:
        assert set(policy) == PRUNE_VIEW_KEYS, policy
    by_uuid = {p["uuid"]: p for p in listed}
    assert by_uuid[third]["tagPattern"] == "^v.*" and by_uuid[third]["tagPatternMatches"] is True
    assert by_uuid[second]["value"] == "7d" and by_uuid[second]["tagPattern"] is None


@pytest.mark.operation(*ALL_PRUNE_OPS)
def test_autoprune_exact_duplicate_is_400(prune_scope: PolicyScope) -> None:
    body = {"method": "number_of_tags", "value": 5, "tagPattern": "rc", "tagPatternMatches": False}
    _create(prune_scope, body)
    expect(prune_scope.call("create", json=body), 400, error_type="invalid_request")
    # The same method and value with another pattern is another policy.
    _create(prune_scope, body | {"tagPatternMatches": True})
    assert len(_policies(prune_scope)) == 2


@pytest.mark.operation(*ALL_PRUNE_OPS)
def test_autoprune_unknown_uuid_is_404(prune_scope: PolicyScope) -> None:
    expect(prune_scope.call("get", UNKNOWN_UUID), 404, error_type="not_found")
    expect(prune_scope.call("update", UNKNOWN_UUID, json={"method": "number_of_tags", "value": 3}), 404,
           error_type="not_found")
    expect(prune_scope.call("delete", UNKNOWN_UUID), 404, error_type="not_found")


# ---- auto-prune: validation --------------------------------------------------------------------------------------
@pytest.mark.operation(*ALL_PRUNE_OPS)
def test_autoprune_bad_method_is_400_invalid_method_provided(prune_scope: PolicyScope) -> None:
    body = expect(prune_scope.call("create", json={"method": "bogus", "value": 1}), 400,
                  error_type="invalid_request")
    assert body["detail"] == BAD_METHOD
    assert _policies(prune_scope) == []


@pytest.mark.operation(*ALL_PRUNE_OPS)
@pytest.mark.parametrize("value", ["10", 0, -1, 2.5, "7d", None],
                         ids=["string-10", "zero", "negative", "float", "duration", "null"])
def test_autoprune_number_of_tags_needs_a_json_integer_above_zero(prune_scope: PolicyScope, value: Any) -> None:
    expect(prune_scope.call("create", json={"method": "number_of_tags", "value": value}), 400,
           error_type="invalid_request")
    assert _policies(prune_scope) == []


@pytest.mark.operation(*ALL_PRUNE_OPS)
@pytest.mark.parametrize("value", ["30s", "30m", "12h", "7d", "2w", "1y"])
def test_autoprune_creation_date_accepts_int_and_unit(prune_scope: PolicyScope, value: str) -> None:
    uuid = _create(prune_scope, {"method": "creation_date", "value": value})
    assert expect(prune_scope.call("get", uuid), 200)["value"] == value


@pytest.mark.operation(*ALL_PRUNE_OPS)
@pytest.mark.parametrize("value", ["7", "d7", "7x", "7 days", "", 7],
                         ids=["no-unit", "unit-first", "unknown-unit", "words", "empty", "integer"])
def test_autoprune_creation_date_refuses_other_values(prune_scope: PolicyScope, value: Any) -> None:
    expect(prune_scope.call("create", json={"method": "creation_date", "value": value}), 400,
           error_type="invalid_request")
    assert _policies(prune_scope) == []


@pytest.mark.operation(*ALL_PRUNE_OPS)
def test_autoprune_number_of_tags_as_string_detail(prune_scope: PolicyScope) -> None:
    body = expect(prune_scope.call("create", json={"method": "number_of_tags", "value": "10"}), 400,
                  error_type="invalid_request")
    assert body["detail"] == BAD_VALUE


@pytest.mark.operation(*ALL_PRUNE_OPS)
@pytest.mark.parametrize("body", [{"value": 3}, {"method": "number_of_tags"},
                                  {"method": "number_of_tags", "value": 3, "tagPattern": "   "},
                                  {"method": "number_of_tags", "value": 3, "tagPattern": ""}],
                         ids=["no-method", "no-value", "blank-pattern", "empty-pattern"])
def test_autoprune_missing_fields_or_empty_pattern_is_400(prune_scope: PolicyScope, body: dict[str, Any]) -> None:
    expect(prune_scope.call("create", json=body), 400)
    assert _policies(prune_scope) == []


@pytest.mark.operation(*ALL_PRUNE_OPS)
def test_autoprune_update_validates_like_create(prune_scope: PolicyScope) -> None:
    uuid = _create(prune_scope, {"method": "number_of_tags", "value": 4})
    body = expect(prune_scope.call("update", uuid, json={"method": "bogus", "value": 4}), 400,
                  error_type="invalid_request")
    assert body["detail"] == BAD_METHOD
    expect(prune_scope.call("update", uuid, json={"method": "number_of_tags", "value": "4"}), 400,
           error_type="invalid_request")
    assert expect(prune_scope.call("get", uuid), 200)["value"] == 4


# ---- auto-prune: who may ---------------------------------------------------------------------------------------
@pytest.mark.operation("listOrganizationAutoPrunePolicies", "createOrganizationAutoPrunePolicy")
def test_org_autoprune_is_403_for_outsider_and_401_anonymous(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    outsider = world.user()
    expect(outsider.client().call("listOrganizationAutoPrunePolicies", orgname=org), 403,
           error_type="insufficient_scope")
    expect(outsider.client().call("createOrganizationAutoPrunePolicy", orgname=org,
                                  json={"method": "number_of_tags", "value": 3}), 403,
           error_type="insufficient_scope")
    expect(target.anon.call("listOrganizationAutoPrunePolicies", orgname=org), 401, error_type="invalid_token")
    assert expect(owner.client().call("listOrganizationAutoPrunePolicies", orgname=org), 200) == {"policies": []}


@pytest.mark.operation("listRepositoryAutoPrunePolicies", "createRepositoryAutoPrunePolicy")
def test_repo_autoprune_needs_repo_admin(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    repo = world.repo(org, as_=owner)
    writer = world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    expect(writer.client().call("listRepositoryAutoPrunePolicies", repository=repo), 403,
           error_type="insufficient_scope")
    expect(writer.client().call("createRepositoryAutoPrunePolicy", repository=repo,
                                json={"method": "number_of_tags", "value": 3}), 403,
           error_type="insufficient_scope")
    expect(target.anon.call("listRepositoryAutoPrunePolicies", repository=repo), 401, error_type="invalid_token")


@pytest.mark.operation("listRepositoryAutoPrunePolicies")
def test_repo_autoprune_of_unknown_repo_is_404_for_namespace_admin(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    expect(owner.client().call("listRepositoryAutoPrunePolicies", repository=f"{org}/nosuchrepo"), 404,
           error_type="not_found")


# ---- immutability policies -------------------------------------------------------------------------------------
@pytest.fixture(params=sorted(IMMUTABILITY_SCOPES))
def immutability_scope(request: pytest.FixtureRequest, world: World, target: Target) -> PolicyScope:
    ops = IMMUTABILITY_SCOPES[str(request.param)]
    missing = [op for op in ops.values() if op not in target.catalog]
    if missing:
        pytest.skip(f"the target's discovery has no {', '.join(missing)}")
    return _scope(world, str(request.param), ops)


ALL_IMMUTABILITY_OPS = tuple(op for ops in IMMUTABILITY_SCOPES.values() for op in ops.values())


@pytest.mark.operation(*ALL_IMMUTABILITY_OPS)
def test_immutability_policy_create_list_get_update_delete(immutability_scope: PolicyScope) -> None:
    scope = immutability_scope
    uuid = _create(scope, {"tagPattern": "v[0-9]+", "tagPatternMatches": True})
    listed = _policies(scope)
    assert len(listed) == 1 and set(listed[0]) >= IMMUTABILITY_VIEW_KEYS, listed
    assert listed[0]["uuid"] == uuid and listed[0]["tagPattern"] == "v[0-9]+"
    assert listed[0]["tagPatternMatches"] is True
    got = expect(scope.call("get", uuid), 200)
    assert got["uuid"] == uuid and got["tagPattern"] == "v[0-9]+"

    expect(scope.call("update", uuid, json={"tagPattern": "release-.*", "tagPatternMatches": False}), 204)
    got = expect(scope.call("get", uuid), 200)
    assert got["tagPattern"] == "release-.*" and got["tagPatternMatches"] is False

    assert expect(scope.call("delete", uuid), 200) == {"uuid": uuid}
    expect(scope.call("get", uuid), 404, error_type="not_found")
    assert _policies(scope) == []


@pytest.mark.operation(*ALL_IMMUTABILITY_OPS)
def test_immutability_policy_unknown_uuid_is_404(immutability_scope: PolicyScope) -> None:
    expect(immutability_scope.call("get", UNKNOWN_UUID), 404, error_type="not_found")
    expect(immutability_scope.call("delete", UNKNOWN_UUID), 404, error_type="not_found")


@pytest.mark.operation(*ALL_IMMUTABILITY_OPS)
@pytest.mark.parametrize("body", [{}, {"tagPattern": "v[0-9"}, {"tagPattern": "x" * 257}],
                         ids=["no-pattern", "bad-regex", "too-long"])
def test_immutability_policy_needs_a_valid_pattern(immutability_scope: PolicyScope, body: dict[str, Any]) -> None:
    expect(immutability_scope.call("create", json=body), 400)
    assert _policies(immutability_scope) == []


# ---- immutability: the effect on tags ------------------------------------------------------------------------------
def _active_rows(client: QuayClient, repo: str) -> dict[str, dict[str, Any]]:
    body = expect(client.call("listRepoTags", repository=repo, params={"onlyActiveTags": "true", "limit": 100}), 200)
    return {row["name"]: row for row in body["tags"]}


def _set_tag(client: QuayClient, repo: str, tag: str, **body: Any) -> None:
    expect(client.call("changeTag", repository=repo, tag=tag, json=body), 201)


@dataclass
class TaggedRepo:
    owner: Persona
    org: str
    repo: str
    digest: str


@pytest.fixture
def tagged(world: World, target: Target) -> Iterator[TaggedRepo]:
    seeded = seed_repo(world, target, images=1)
    made = TaggedRepo(seeded.owner, seeded.org, seeded.repo, seeded.images[0].digest)
    try:
        yield made
    finally:
        # Leave no immutable tag behind, so the World can delete the repository (unsetting needs repo admin).
        client = made.owner.client()
        for name, row in _active_rows(client, made.repo).items():
            if row.get("immutable"):
                client.call("changeTag", repository=made.repo, tag=name, json={"immutable": False})


@pytest.mark.operation("createRepositoryImmutabilityPolicy", "changeTag", "listRepoTags", "deleteFullTag")
def test_repo_policy_makes_existing_matching_tags_immutable_with_an_anchored_pattern(tagged: TaggedRepo) -> None:
    client = tagged.owner.client()
    for name in ("v1.0", "v1.0-rc", "xv1.0"):
        _set_tag(client, tagged.repo, name, manifest_digest=tagged.digest)
    _create(PolicyScope(client, REPO_IMMUTABILITY, {"repository": tagged.repo}),
            {"tagPattern": r"v1\.0", "tagPatternMatches": True})
    rows = _active_rows(client, tagged.repo)
    # fullmatch: only "v1.0" itself; "v1.0-rc" and "xv1.0" merely contain the pattern.
    assert {name for name, row in rows.items() if row.get("immutable")} == {"v1.0"}, rows
    body = expect(client.call("deleteFullTag", repository=tagged.repo, tag="v1.0"), 409, error_type="tag_immutable")
    assert "v1.0" in str(body.get("detail", "")), body
    expect(client.call("deleteFullTag", repository=tagged.repo, tag="v1.0-rc"), 204)
    expect(client.call("deleteFullTag", repository=tagged.repo, tag="xv1.0"), 204)
    assert "v1.0" in _active_rows(client, tagged.repo)


@pytest.mark.operation("createOrgImmutabilityPolicy", "changeTag", "listRepoTags", "deleteFullTag")
def test_org_policy_makes_a_new_matching_tag_immutable(tagged: TaggedRepo) -> None:
    # A policy also covers tags made after it: D4's log kinds have `tag_made_immutable_by_policy` (one new tag)
    # beside `tags_made_immutable_by_policy` (the retroactive sweep when a policy is created).
    client = tagged.owner.client()
    _create(PolicyScope(client, ORG_IMMUTABILITY, {"orgname": tagged.org}),
            {"tagPattern": "stable-[0-9]+", "tagPatternMatches": True})
    _set_tag(client, tagged.repo, "stable-1", manifest_digest=tagged.digest)
    _set_tag(client, tagged.repo, "stable-x", manifest_digest=tagged.digest)
    rows = _active_rows(client, tagged.repo)
    assert rows["stable-1"].get("immutable") is True, rows["stable-1"]
    assert rows["stable-x"].get("immutable") is False, rows["stable-x"]
    expect(client.call("deleteFullTag", repository=tagged.repo, tag="stable-1"), 409, error_type="tag_immutable")
    expect(client.call("deleteFullTag", repository=tagged.repo, tag="stable-x"), 204)


@pytest.mark.operation("createRepositoryImmutabilityPolicy", "changeTag", "listRepoTags", "deleteFullTag")
def test_immutability_policy_with_matches_false_protects_the_other_tags(tagged: TaggedRepo) -> None:
    client = tagged.owner.client()
    for name in ("dev-1", "prod"):
        _set_tag(client, tagged.repo, name, manifest_digest=tagged.digest)
    _create(PolicyScope(client, REPO_IMMUTABILITY, {"repository": tagged.repo}),
            {"tagPattern": "dev-.*", "tagPatternMatches": False})
    rows = _active_rows(client, tagged.repo)
    assert rows["prod"].get("immutable") is True and rows["dev-1"].get("immutable") is False, rows
    expect(client.call("deleteFullTag", repository=tagged.repo, tag="prod"), 409, error_type="tag_immutable")
    expect(client.call("deleteFullTag", repository=tagged.repo, tag="dev-1"), 204)
