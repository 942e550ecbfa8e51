"""Conformance of the repository area: creating, listing, reading, describing, deleting repositories and changing
their visibility and state. Expectations are Quay's (quay-api.md A rows 113-118, 133, 135, B (401/403/404 rules),
C, D1, D2; quay-observed.md), never the reference server's declarations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from harness.checks import expect
from harness.client import QuayClient
from harness.world import Persona, Target, World

pytestmark = pytest.mark.area("repository")

REPO_VIEW_KEYS = {"namespace", "name", "kind", "description", "is_public", "is_organization", "is_starred",
                  "status_token", "trust_enabled", "tag_expiration_s", "is_free_account", "state", "tags",
                  "can_write", "can_admin"}
LIST_ITEM_KEYS = {"namespace", "name", "description", "is_public", "kind", "state"}


def _owned_org(world: World) -> tuple[Persona, str]:
    owner = world.user()
    return owner, world.org(owner=owner)


@contextmanager
def _cleanup_repo(client: QuayClient, full: str) -> Iterator[None]:
    """Delete a repository the test created directly (the World journals only what it made itself)."""
    try:
        yield
    finally:
        client.call("deleteRepository", repository=full)


def _new_repo_body(name: str, namespace: str | None = None, visibility: str = "private") -> dict[str, Any]:
    body: dict[str, Any] = {"repository": name, "visibility": visibility, "description": "conformance"}
    if namespace is not None:
        body["namespace"] = namespace
    return body


# ---- createRepo ----------------------------------------------------------------------------------------------
@pytest.mark.operation("createRepo")
def test_create_repo_in_own_namespace_returns_201_namespace_name_kind(world: World, target: Target) -> None:
    user = world.user()
    name = target.next_name("repo")
    with _cleanup_repo(user.client(), f"{user.name}/{name}"):
        body = expect(user.client().call("createRepo", json=_new_repo_body(name)), 201)
        assert body == {"namespace": user.name, "name": name, "kind": "image"}


@pytest.mark.operation("createRepo", "getRepo")
def test_create_repo_in_org_by_admin_is_201_and_readable(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    name = target.next_name("repo")
    with _cleanup_repo(owner.client(), f"{org}/{name}"):
        body = expect(owner.client().call("createRepo", json=_new_repo_body(name, org) | {"repo_kind": "image"}), 201)
        assert body == {"namespace": org, "name": name, "kind": "image"}
        repo = expect(owner.client().call("getRepo", repository=f"{org}/{name}"), 200)
        assert repo["description"] == "conformance" and repo["is_public"] is False
        assert repo["is_organization"] is True


@pytest.mark.operation("createRepo")
def test_create_existing_repo_is_400_repository_already_exists(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    body = expect(owner.client().call("createRepo", json=_new_repo_body(repo.split("/", 1)[1], org)), 400,
                  error_type="invalid_request")
    assert body["detail"] == "Repository already exists"


@pytest.mark.operation("createRepo")
@pytest.mark.parametrize("shape", ["{p}Upper", ".{p}", "-{p}", "{p}/", "{p}//x", "{p}:tag"])
def test_create_repo_with_invalid_name_is_400(world: World, target: Target, shape: str) -> None:
    owner, org = _owned_org(world)
    name = shape.format(p=target.next_name("repo"))
    with _cleanup_repo(owner.client(), f"{org}/{name}"):
        body = expect(owner.client().call("createRepo", json=_new_repo_body(name, org)), 400,
                      error_type="invalid_request")
        assert body["detail"] == "Invalid repository name"


@pytest.mark.operation("createRepo")
@pytest.mark.parametrize("body", [
    {"repository": "r", "visibility": "secret", "description": ""},
    {"repository": "r", "visibility": "private"},
    {"visibility": "private", "description": ""},
    {"repository": "r", "visibility": "private", "description": "", "repo_kind": "helm"},
], ids=["bad-visibility", "no-description", "no-repository", "bad-kind"])
def test_create_repo_with_invalid_body_is_400_schema_error(world: World, body: dict[str, Any]) -> None:
    owner, org = _owned_org(world)
    expect(owner.client().call("createRepo", json=body | {"namespace": org}), 400, error_type="invalid_request")


@pytest.mark.operation("createRepo", "getRepo")
def test_create_repo_in_org_is_403_for_outsider_and_plain_member(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    outsider = world.user()
    name = target.next_name("repo")
    with _cleanup_repo(owner.client(), f"{org}/{name}"):
        expect(outsider.client().call("createRepo", json=_new_repo_body(name, org)), 403,
               error_type="insufficient_scope")
        expect(owner.client().call("getRepo", repository=f"{org}/{name}"), 404, error_type="not_found")


@pytest.mark.operation("createRepo")
def test_create_repo_with_token_lacking_repo_create_is_403(world: World, target: Target) -> None:
    user = world.user()
    name = target.next_name("repo")
    with _cleanup_repo(user.client(), f"{user.name}/{name}"):
        # In one's own namespace org:admin (team role admin) would also do; neither scope is held here.
        expect(user.client(["repo:admin", "user:admin"]).call("createRepo", json=_new_repo_body(name)),
               403, error_type="insufficient_scope")


@pytest.mark.operation("createRepo")
def test_create_repo_in_another_users_namespace_is_403(world: World, target: Target) -> None:
    user, other = world.user(), world.user()
    name = target.next_name("repo")
    with _cleanup_repo(other.client(), f"{other.name}/{name}"):
        expect(user.client().call("createRepo", json=_new_repo_body(name, other.name)), 403,
               error_type="insufficient_scope")


# ---- listRepos -----------------------------------------------------------------------------------------------
@pytest.mark.operation("listRepos")
def test_list_repos_without_namespace_starred_or_public_is_400(world: World, target: Target) -> None:
    for client in (world.user().client(), target.anon):
        expect(client.call("listRepos"), 400, error_type="invalid_request")


@pytest.mark.operation("listRepos")
def test_list_repos_of_a_namespace_for_its_admin(world: World) -> None:
    owner, org = _owned_org(world)
    private, public = world.repo(org, as_=owner), world.repo(org, visibility="public", as_=owner)
    body = expect(owner.client().call("listRepos", params={"namespace": org}), 200)
    by_name = {f"{r['namespace']}/{r['name']}": r for r in body["repositories"]}
    assert set(by_name) == {private, public}
    item = by_name[private]
    assert set(item) >= LIST_ITEM_KEYS
    assert item["is_public"] is False and item["kind"] == "image" and item["state"] == "NORMAL"
    assert item["description"] == ""
    assert by_name[public]["is_public"] is True
    assert item["is_starred"] is False


@pytest.mark.operation("listRepos")
def test_list_repos_hides_private_repos_from_outsider_and_anonymous(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    world.repo(org, as_=owner)
    public = world.repo(org, visibility="public", as_=owner)
    for client in (world.user().client(), target.anon):
        body = expect(client.call("listRepos", params={"namespace": org, "public": "true"}), 200)
        assert [f"{r['namespace']}/{r['name']}" for r in body["repositories"]] == [public]


@pytest.mark.operation("listRepos")
def test_list_repos_shows_granted_private_repo_to_reader(world: World) -> None:
    owner, org = _owned_org(world)
    granted = world.repo(org, as_=owner)
    world.repo(org, as_=owner)
    reader = world.user()
    world.grant(granted, user=reader, role="read", as_=owner)
    body = expect(reader.client().call("listRepos", params={"namespace": org}), 200)
    assert [f"{r['namespace']}/{r['name']}" for r in body["repositories"]] == [granted]


@pytest.mark.operation("listRepos")
def test_list_repos_adds_last_modified_and_popularity_on_request(world: World) -> None:
    owner, org = _owned_org(world)
    world.repo(org, as_=owner)
    body = expect(owner.client().call("listRepos", params={"namespace": org, "last_modified": "true",
                                                           "popularity": "true"}), 200)
    item = body["repositories"][0]
    assert "last_modified" in item and "popularity" in item
    plain = expect(owner.client().call("listRepos", params={"namespace": org}), 200)["repositories"][0]
    assert "last_modified" not in plain and "popularity" not in plain


@pytest.mark.operation("listRepos")
def test_list_starred_repos_anonymously_is_400(target: Target) -> None:
    response = target.anon.call("listRepos", params={"starred": "true"})
    assert response.status_code == 400


# ---- getRepo -------------------------------------------------------------------------------------------------
@pytest.mark.operation("getRepo")
def test_get_repo_returns_the_full_view_to_its_admin(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    body = expect(owner.client().call("getRepo", repository=repo), 200)
    assert set(body) >= REPO_VIEW_KEYS
    assert f"{body['namespace']}/{body['name']}" == repo
    assert body["kind"] == "image" and body["state"] == "NORMAL"
    assert body["is_public"] is False and body["is_organization"] is True
    assert body["can_write"] is True and body["can_admin"] is True
    assert body["tags"] == {}
    assert body["tag_expiration_s"] == 1209600
    assert body["trust_enabled"] is False
    assert isinstance(body["status_token"], str) and body["status_token"]


@pytest.mark.operation("getRepo")
def test_get_repo_include_tags_false_leaves_tags_out(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    body = expect(owner.client().call("getRepo", repository=repo, params={"includeTags": "false"}), 200)
    assert "tags" not in body


@pytest.mark.operation("getRepo")
def test_private_repo_is_403_for_outsider_and_401_for_anonymous(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    expect(world.user().client().call("getRepo", repository=repo), 403, error_type="insufficient_scope")
    body = expect(target.anon.call("getRepo", repository=repo), 401, error_type="invalid_token")
    assert body["detail"] == "Requires authentication"


@pytest.mark.operation("getRepo")
def test_public_repo_is_readable_by_anyone_without_write_or_admin(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, visibility="public", as_=owner)
    for client in (target.anon, world.user().client()):
        body = expect(client.call("getRepo", repository=repo), 200)
        assert body["is_public"] is True
        assert body["can_write"] is False and body["can_admin"] is False


@pytest.mark.operation("getRepo")
def test_reader_sees_repo_with_can_write_false(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    reader = world.user()
    world.grant(repo, user=reader, role="read", as_=owner)
    body = expect(reader.client().call("getRepo", repository=repo), 200)
    assert body["can_write"] is False and body["can_admin"] is False


@pytest.mark.operation("getRepo")
def test_unknown_repo_is_404_for_namespace_admin_and_403_for_outsider(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    missing = f"{org}/{target.next_name('repo')}"
    expect(owner.client().call("getRepo", repository=missing), 404, error_type="not_found")
    expect(world.user().client().call("getRepo", repository=missing), 403, error_type="insufficient_scope")
    expect(target.anon.call("getRepo", repository=missing), 401, error_type="invalid_token")


@pytest.mark.operation("getRepo")
def test_token_lacking_repo_scopes_cannot_read_a_private_repo(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    expect(owner.client(["org:admin", "user:admin"]).call("getRepo", repository=repo), 403,
           error_type="insufficient_scope")


# ---- updateRepo ----------------------------------------------------------------------------------------------
@pytest.mark.operation("updateRepo", "getRepo")
def test_update_repo_description_returns_success_true(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    writer = world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    body = expect(writer.client().call("updateRepo", repository=repo, json={"description": "# new"}), 200)
    assert body == {"success": True}
    assert expect(owner.client().call("getRepo", repository=repo), 200)["description"] == "# new"


@pytest.mark.operation("updateRepo", "getRepo")
def test_update_repo_is_403_for_reader_and_token_without_repo_write(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    reader = world.user()
    world.grant(repo, user=reader, role="read", as_=owner)
    for client in (reader.client(), owner.client(["repo:read", "org:admin"])):
        expect(client.call("updateRepo", repository=repo, json={"description": "x"}), 403,
               error_type="insufficient_scope")
    assert expect(owner.client().call("getRepo", repository=repo), 200)["description"] == ""


@pytest.mark.operation("updateRepo")
def test_update_repo_bad_body_is_400_for_writer_but_403_for_outsider(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    # Repository endpoints check permission before validating the body.
    expect(world.user().client().call("updateRepo", repository=repo, json={}), 403,
           error_type="insufficient_scope")
    expect(owner.client().call("updateRepo", repository=repo, json={}), 400, error_type="invalid_request")


@pytest.mark.operation("updateRepo")
def test_update_unknown_repo_is_404_for_namespace_admin(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    expect(owner.client().call("updateRepo", repository=f"{org}/{target.next_name('repo')}",
                               json={"description": "x"}), 404, error_type="not_found")


# ---- deleteRepository ----------------------------------------------------------------------------------------
@pytest.mark.operation("deleteRepository", "getRepo")
def test_delete_repo_is_204_and_then_it_is_404(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    response = owner.client().call("deleteRepository", repository=repo)
    assert expect(response, 204) is None
    expect(owner.client().call("getRepo", repository=repo), 404, error_type="not_found")


@pytest.mark.operation("deleteRepository", "getRepo")
def test_delete_repo_is_403_for_writer_and_token_without_repo_admin(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    writer = world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    for client in (writer.client(), owner.client(["repo:write", "org:admin"])):
        expect(client.call("deleteRepository", repository=repo), 403, error_type="insufficient_scope")
    expect(owner.client().call("getRepo", repository=repo), 200)


@pytest.mark.operation("deleteRepository", "listRepos")
def test_deleted_repo_name_can_be_created_again(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    expect(owner.client().call("deleteRepository", repository=repo), 204)
    assert expect(owner.client().call("listRepos", params={"namespace": org}), 200)["repositories"] == []
    again = world.repo(org, name=repo.split("/", 1)[1], as_=owner)
    assert again == repo


# ---- changeRepoVisibility ------------------------------------------------------------------------------------
@pytest.mark.operation("changeRepoVisibility", "getRepo")
def test_make_repo_public_and_private_again(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    client = owner.client()
    assert expect(client.call("changeRepoVisibility", repository=repo, json={"visibility": "public"}),
                  200) == {"success": True}
    assert expect(target.anon.call("getRepo", repository=repo), 200)["is_public"] is True
    assert expect(client.call("changeRepoVisibility", repository=repo, json={"visibility": "private"}),
                  200) == {"success": True}
    expect(target.anon.call("getRepo", repository=repo), 401, error_type="invalid_token")


@pytest.mark.operation("changeRepoVisibility")
def test_change_visibility_with_bad_value_is_400(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    body = expect(owner.client().call("changeRepoVisibility", repository=repo, json={"visibility": "internal"}),
                  400, error_type="invalid_request")
    assert "'internal' is not one of" in body["detail"]


@pytest.mark.operation("changeRepoVisibility", "getRepo")
def test_change_visibility_is_403_for_writer_and_outsider_even_with_bad_body(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    writer = world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    expect(writer.client().call("changeRepoVisibility", repository=repo, json={"visibility": "public"}), 403,
           error_type="insufficient_scope")
    expect(world.user().client().call("changeRepoVisibility", repository=repo, json={"visibility": "x"}), 403,
           error_type="insufficient_scope")
    expect(target.anon.call("getRepo", repository=repo), 401, error_type="invalid_token")


# ---- changeRepoState -----------------------------------------------------------------------------------------
@pytest.mark.operation("changeRepoState", "getRepo")
def test_change_repo_state_to_read_only_and_back(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    client = owner.client()
    assert expect(client.call("changeRepoState", repository=repo, json={"state": "READ_ONLY"}),
                  200) == {"success": True}
    body = expect(client.call("getRepo", repository=repo), 200)
    assert body["state"] == "READ_ONLY"
    assert body["can_write"] is False, "a non-NORMAL repository is never writable"
    assert expect(client.call("changeRepoState", repository=repo, json={"state": "NORMAL"}),
                  200) == {"success": True}
    assert expect(client.call("getRepo", repository=repo), 200)["state"] == "NORMAL"


@pytest.mark.operation("changeRepoState")
@pytest.mark.parametrize("state", ["ORG_MIRROR", "MARKED_FOR_DELETION", "normal"])
def test_change_repo_state_outside_normal_read_only_mirror_is_400(world: World, state: str) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    expect(owner.client().call("changeRepoState", repository=repo, json={"state": state}), 400,
           error_type="invalid_request")


@pytest.mark.operation("changeRepoState", "getRepo")
def test_change_repo_state_is_403_for_writer(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    writer = world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    expect(writer.client().call("changeRepoState", repository=repo, json={"state": "READ_ONLY"}), 403,
           error_type="insufficient_scope")
    assert expect(owner.client().call("getRepo", repository=repo), 200)["state"] == "NORMAL"


@pytest.mark.operation("changeRepoState")
def test_change_state_of_unknown_repo_is_404_for_namespace_admin(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    expect(owner.client().call("changeRepoState", repository=f"{org}/{target.next_name('repo')}",
                               json={"state": "READ_ONLY"}), 404, error_type="not_found")
