"""Conformance of default-permission prototypes (`/organization/{org}/prototypes`): listing, creating (200, not 201),
changing the role, deleting, and their effect on repositories created afterwards. Expectations are Quay's
(quay-api.md A rows 73-76, C, D2, D9)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import expect
from harness.world import Persona, Target, World

pytestmark = pytest.mark.area("prototype")


def _owned_org(world: World) -> tuple[Persona, str]:
    owner = world.user()
    return owner, world.org(owner=owner)


def _create(owner: Persona, org: str, body: dict[str, Any]) -> dict[str, Any]:
    return dict(expect(owner.client().call("createOrganizationPrototypePermission", orgname=org, json=body), 200))


@pytest.mark.operation("createOrganizationPrototypePermission")
def test_create_prototype_for_a_team_returns_200_with_the_view(world: World) -> None:
    owner, org = _owned_org(world)
    team = world.team(org, as_=owner)
    body = _create(owner, org, {"role": "write", "delegate": {"kind": "team", "name": team}})
    assert set(body) == {"id", "role", "activating_user", "delegate"}
    assert isinstance(body["id"], str) and body["id"]
    assert body["role"] == "write"
    assert body["activating_user"] is None
    assert body["delegate"]["name"] == team and body["delegate"]["kind"] == "team"
    assert body["delegate"]["avatar"]["kind"] == "team"


@pytest.mark.operation("createOrganizationPrototypePermission")
def test_create_prototype_for_a_user_with_activating_user(world: World) -> None:
    owner, org = _owned_org(world)
    delegate = world.user()
    body = _create(owner, org, {"role": "read", "delegate": {"kind": "user", "name": delegate.name},
                                "activating_user": {"name": owner.name}})
    assert body["delegate"]["name"] == delegate.name
    assert body["delegate"]["kind"] == "user"
    assert body["delegate"]["is_robot"] is False
    assert body["delegate"]["is_org_member"] is False
    assert body["activating_user"]["name"] == owner.name
    assert body["activating_user"]["is_org_member"] is True


@pytest.mark.operation("createOrganizationPrototypePermission")
@pytest.mark.parametrize("body", [
    {"role": "read"},
    {"delegate": {"kind": "user", "name": "x"}},
    {"role": "owner", "delegate": {"kind": "user", "name": "x"}},
    {"role": "read", "delegate": {"kind": "robot", "name": "x"}},
    {"role": "read", "delegate": {"name": "x"}},
], ids=["no-delegate", "no-role", "bad-role", "bad-kind", "no-kind"])
def test_create_prototype_with_invalid_body_is_400(world: World, body: dict[str, Any]) -> None:
    owner, org = _owned_org(world)
    expect(owner.client().call("createOrganizationPrototypePermission", orgname=org, json=body), 400,
           error_type="invalid_request")


@pytest.mark.operation("createOrganizationPrototypePermission")
def test_create_prototype_for_unknown_user_or_activating_user_is_400(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    missing = target.next_name("nosuch")
    body = expect(owner.client().call("createOrganizationPrototypePermission", orgname=org,
                                      json={"role": "read", "delegate": {"kind": "user", "name": missing}}),
                  400, error_type="invalid_request")
    assert body["detail"] == "Missing delegate user or team"
    body = expect(owner.client().call("createOrganizationPrototypePermission", orgname=org,
                                      json={"role": "read", "delegate": {"kind": "user", "name": owner.name},
                                            "activating_user": {"name": missing}}),
                  400, error_type="invalid_request")
    assert body["detail"] == "Unknown activating user"


@pytest.mark.operation("createOrganizationPrototypePermission")
def test_create_prototype_for_unknown_team_is_400_message(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    expect(owner.client().call("createOrganizationPrototypePermission", orgname=org,
                               json={"role": "read", "delegate": {"kind": "team", "name": target.next_name("t")}}),
           400, shape="message")


@pytest.mark.operation("createOrganizationPrototypePermission", "getOrganizationPrototypePermissions")
def test_create_prototype_is_403_for_outsider_and_token_without_org_admin(world: World) -> None:
    owner, org = _owned_org(world)
    body = {"role": "read", "delegate": {"kind": "user", "name": owner.name}}
    for client in (world.user().client(), owner.client(["repo:admin", "repo:create", "user:admin"])):
        expect(client.call("createOrganizationPrototypePermission", orgname=org, json=body), 403,
               error_type="insufficient_scope")
    assert expect(owner.client().call("getOrganizationPrototypePermissions", orgname=org), 200) == {"prototypes": []}


@pytest.mark.operation("getOrganizationPrototypePermissions")
def test_list_prototypes_returns_each_created_view(world: World) -> None:
    owner, org = _owned_org(world)
    team = world.team(org, as_=owner)
    first = _create(owner, org, {"role": "read", "delegate": {"kind": "team", "name": team}})
    second = _create(owner, org, {"role": "admin", "delegate": {"kind": "user", "name": owner.name}})
    body = expect(owner.client().call("getOrganizationPrototypePermissions", orgname=org), 200)
    by_id = {p["id"]: p for p in body["prototypes"]}
    assert by_id == {first["id"]: first, second["id"]: second}


@pytest.mark.operation("getOrganizationPrototypePermissions")
def test_list_prototypes_is_403_for_outsider_even_of_unknown_org_and_401_for_anonymous(
        world: World, target: Target) -> None:
    _, org = _owned_org(world)
    expect(world.user().client().call("getOrganizationPrototypePermissions", orgname=org), 403,
           error_type="insufficient_scope")
    expect(target.anon.call("getOrganizationPrototypePermissions", orgname=org), 401, error_type="invalid_token")
    expect(world.user().client().call("getOrganizationPrototypePermissions", orgname=target.next_name("nosuchorg")),
           403, error_type="insufficient_scope")


@pytest.mark.operation("updateOrganizationPrototypePermission", "getOrganizationPrototypePermissions")
def test_update_prototype_changes_only_the_role(world: World) -> None:
    owner, org = _owned_org(world)
    team = world.team(org, as_=owner)
    proto = _create(owner, org, {"role": "read", "delegate": {"kind": "team", "name": team}})
    body = expect(owner.client().call("updateOrganizationPrototypePermission", orgname=org, prototypeid=proto["id"],
                                      json={"role": "admin"}), 200)
    assert body == proto | {"role": "admin"}
    listed = expect(owner.client().call("getOrganizationPrototypePermissions", orgname=org), 200)["prototypes"]
    assert listed == [body]


@pytest.mark.operation("updateOrganizationPrototypePermission")
def test_update_prototype_bad_role_is_400_and_unknown_id_is_404(world: World) -> None:
    owner, org = _owned_org(world)
    proto = _create(owner, org, {"role": "read", "delegate": {"kind": "user", "name": owner.name}})
    expect(owner.client().call("updateOrganizationPrototypePermission", orgname=org, prototypeid=proto["id"],
                               json={"role": "owner"}), 400, error_type="invalid_request")
    expect(owner.client().call("updateOrganizationPrototypePermission", orgname=org,
                               prototypeid="00000000-0000-0000-0000-000000000000", json={"role": "read"}),
           404, error_type="not_found")


@pytest.mark.operation("updateOrganizationPrototypePermission")
def test_update_prototype_is_403_for_outsider(world: World) -> None:
    owner, org = _owned_org(world)
    proto = _create(owner, org, {"role": "read", "delegate": {"kind": "user", "name": owner.name}})
    expect(world.user().client().call("updateOrganizationPrototypePermission", orgname=org,
                                      prototypeid=proto["id"], json={"role": "admin"}), 403,
           error_type="insufficient_scope")


@pytest.mark.operation("deleteOrganizationPrototypePermission", "getOrganizationPrototypePermissions")
def test_delete_prototype_is_204_then_404(world: World) -> None:
    owner, org = _owned_org(world)
    proto = _create(owner, org, {"role": "read", "delegate": {"kind": "user", "name": owner.name}})
    client = owner.client()
    assert expect(client.call("deleteOrganizationPrototypePermission", orgname=org, prototypeid=proto["id"]),
                  204) is None
    assert expect(client.call("getOrganizationPrototypePermissions", orgname=org), 200) == {"prototypes": []}
    expect(client.call("deleteOrganizationPrototypePermission", orgname=org, prototypeid=proto["id"]), 404,
           error_type="not_found")


@pytest.mark.operation("deleteOrganizationPrototypePermission", "getOrganizationPrototypePermissions")
def test_delete_prototype_is_403_for_outsider(world: World) -> None:
    owner, org = _owned_org(world)
    proto = _create(owner, org, {"role": "read", "delegate": {"kind": "user", "name": owner.name}})
    expect(world.user().client().call("deleteOrganizationPrototypePermission", orgname=org,
                                      prototypeid=proto["id"]), 403, error_type="insufficient_scope")
    assert len(expect(owner.client().call("getOrganizationPrototypePermissions", orgname=org),
                      200)["prototypes"]) == 1


@pytest.mark.operation("createOrganizationPrototypePermission", "createRepo", "listRepoTeamPermissions",
                       "listRepoUserPermissions")
def test_prototypes_apply_to_repositories_created_afterwards(world: World) -> None:
    owner, org = _owned_org(world)
    team = world.team(org, as_=owner)
    reader = world.user()
    _create(owner, org, {"role": "write", "delegate": {"kind": "team", "name": team}})
    _create(owner, org, {"role": "read", "delegate": {"kind": "user", "name": reader.name}})
    repo = world.repo(org, as_=owner)
    teams = expect(owner.client().call("listRepoTeamPermissions", repository=repo), 200)["permissions"]
    assert teams[team]["role"] == "write"
    users = expect(owner.client().call("listRepoUserPermissions", repository=repo), 200)["permissions"]
    assert users[reader.name]["role"] == "read"
    assert users[owner.name]["role"] == "admin", "the creator gets an explicit admin row"
