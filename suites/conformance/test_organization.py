"""Conformance of the organization area: creating, reading, changing and deleting organizations, their members and
collaborators, and their OAuth applications. Expectations are Quay's (quay-api.md A rows 15-54 and 1, B, C, D1, D8,
D10; quay-observed.md), never the reference server's declarations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from harness.checks import expect
from harness.client import QuayClient
from harness.profile import BEHAVIOUR_SINCE
from harness.world import Persona, Robot, Target, World

pytestmark = pytest.mark.area("organization")

NAME_TAKEN = "A user or organization with this name already exists"
DEFAULT_TAG_EXPIRATION_S = 1209600  # 2w, Quay's DEFAULT_TAG_EXPIRATION
APP_VIEW_KEYS = {"name", "description", "application_uri", "client_id", "client_secret", "redirect_uri",
                 "avatar_email"}


@contextmanager
def _new_org(client: QuayClient, name: str) -> Iterator[None]:
    """Delete an organization a test created directly (the World journals only what it made itself)."""
    try:
        yield
    finally:
        client.call("deleteAdminedOrganization", orgname=name)


def _team_with(world: World, owner: Persona, org: str, *members: Persona | Robot, role: str = "member") -> str:
    return world.team(org, role=role, members=members, as_=owner)


def _org_with_member(world: World) -> tuple[Persona, Persona, str, str]:
    """(owner, member, org, team): the member sits in a `member`-role team of an org the owner created."""
    owner, member = world.user(), world.user()
    org = world.org(owner=owner)
    team = _team_with(world, owner, org, member)
    return owner, member, org, team


def _new_app(client: QuayClient, org: str, world: World, **extra: Any) -> dict[str, Any]:
    name = world.target.next_name("app")
    body = {"name": name, "redirect_uri": "https://client.example.com/callback",
            "application_uri": "https://client.example.com/", "description": "conformance"} | extra
    return dict(expect(client.call("createOrganizationApplication", orgname=org, json=body), 200))


# ---- createOrganization ----------------------------------------------------------------------------------------
@pytest.mark.operation("createOrganization", "getOrganization")
def test_create_org_returns_201_created_string_and_creator_lands_in_owners(world: World, target: Target) -> None:
    user = world.user()
    client = user.client()
    name = target.next_name("org")
    with _new_org(client, name):
        body = expect(client.call("createOrganization", json={"name": name, "email": f"{name}@example.com"}), 201)
        assert body == "Created"
        org = expect(client.call("getOrganization", orgname=name), 200)
        assert org["name"] == name
        assert org["is_admin"] is True and org["is_member"] is True
        assert org["ordered_teams"] == ["owners"]
        owners = org["teams"]["owners"]
        assert owners["role"] == "admin"
        assert owners["member_count"] == 1


@pytest.mark.operation("createOrganization")
def test_create_org_with_a_taken_org_name_is_400_invalid_request(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    body = expect(owner.client().call("createOrganization", json={"name": org, "email": f"x{org}@example.com"}),
                  400, error_type="invalid_request")
    assert body["detail"] == NAME_TAKEN


@pytest.mark.operation("createOrganization")
def test_create_org_with_a_taken_user_name_is_400_invalid_request(world: World) -> None:
    user, other = world.user(), world.user()
    body = expect(user.client().call("createOrganization",
                                     json={"name": other.name, "email": f"x{other.name}@example.com"}),
                  400, error_type="invalid_request")
    assert body["detail"] == NAME_TAKEN


@pytest.mark.operation("createOrganization")
@pytest.mark.parametrize("shape", ["{p}Upper", "-{p}", "{p}-", "{p}..x", "{p} x", "a", "A"])
def test_create_org_with_an_invalid_name_is_400_invalid_request(world: World, target: Target, shape: str) -> None:
    user = world.user()
    name = shape.format(p=target.next_name("org"))
    response = user.client().call("createOrganization", json={"name": name, "email": f"x{len(name)}@example.com"})
    if response.status_code == 201:  # never leave a wrongly accepted org behind
        user.client().call("deleteAdminedOrganization", orgname=name)
    body = expect(response, 400, error_type="invalid_request")
    assert str(body["detail"]).startswith(f"Invalid namespace {name}")


@pytest.mark.operation("createOrganization")
def test_create_org_with_a_non_string_name_is_400_schema_error(world: World) -> None:
    user = world.user()
    body = expect(user.client().call("createOrganization", json={"name": 12}), 400, error_type="invalid_request")
    assert "is not of type 'string'" in body["detail"]


@pytest.mark.operation("createOrganization")
def test_create_org_without_name_is_400_schema_error(world: World) -> None:
    user = world.user()
    body = expect(user.client().call("createOrganization", json={"email": "x@example.com"}), 400,
                  error_type="invalid_request")
    assert "'name' is a required property" in body["detail"]


@pytest.mark.operation("createOrganization")
def test_create_org_without_email_follows_the_targets_version_and_mailing(world: World, target: Target) -> None:
    user = world.user()
    client = user.client()
    name = target.next_name("org")
    since = BEHAVIOUR_SINCE["org_email_optional"]
    with _new_org(client, name):
        response = client.call("createOrganization", json={"name": name})
        if target.profile.mailing and not target.profile.has("org_email_optional"):
            body = expect(response, 400, error_type="invalid_request",
                          why=f"with mailing on, Quay before {since} refuses an organization without e-mail")
            assert body["detail"] == "Email address is required"
        else:
            why = (f"Quay {since} and later create an organization without e-mail" if target.profile.mailing
                   else "with mailing off, Quay creates an organization without e-mail")
            assert expect(response, 201, why=why) == "Created"


@pytest.mark.operation("createOrganization")
def test_create_org_with_token_lacking_user_admin_is_403(world: World, target: Target) -> None:
    user = world.user()
    name = target.next_name("org")
    client = user.client(["repo:read", "repo:create", "org:admin", "user:read"])
    with _new_org(user.client(), name):
        expect(client.call("createOrganization", json={"name": name, "email": f"{name}@example.com"}), 403,
               error_type="insufficient_scope")
    expect(target.anon.call("getOrganization", orgname=name), 404, error_type="not_found")


# ---- getOrganization -------------------------------------------------------------------------------------------
@pytest.mark.operation("getOrganization")
def test_org_admin_sees_email_settings_and_teams(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    body = expect(owner.client().call("getOrganization", orgname=org), 200)
    assert body["name"] == org
    assert body["email"] == f"{org}@example.com"
    assert body["is_admin"] is True and body["is_member"] is True
    assert set(body["avatar"]) >= {"name", "hash", "color", "kind"}
    assert body["tag_expiration_s"] == DEFAULT_TAG_EXPIRATION_S
    assert body["invoice_email"] is False
    assert body["invoice_email_address"] is None
    assert body["is_free_account"] is True
    owners = body["teams"]["owners"]
    assert set(owners) >= {"name", "description", "role", "avatar", "can_view", "repo_count", "member_count",
                           "is_synced"}
    assert owners["can_view"] is True and owners["is_synced"] is False and owners["repo_count"] == 0


@pytest.mark.operation("getOrganization")
def test_org_member_sees_teams_but_not_email_or_settings(world: World) -> None:
    _, member, org, team = _org_with_member(world)
    body = expect(member.client().call("getOrganization", orgname=org), 200)
    assert body["is_member"] is True and body["is_admin"] is False
    assert body["email"] == ""
    assert "tag_expiration_s" not in body and "invoice_email" not in body
    assert set(body["ordered_teams"]) == {"owners", team}
    assert body["teams"][team]["can_view"] is True
    assert body["teams"]["owners"]["can_view"] is False
    assert body["teams"][team]["role"] == "member"
    assert body["teams"][team]["member_count"] == 1


@pytest.mark.operation("getOrganization")
@pytest.mark.parametrize("caller", ["outsider", "anonymous"])
def test_org_outsider_and_anonymous_see_only_the_public_view(world: World, target: Target, caller: str) -> None:
    org = world.org(owner=world.user())
    client = world.user().client() if caller == "outsider" else target.anon
    body = expect(client.call("getOrganization", orgname=org), 200)
    assert body["name"] == org
    assert body["email"] == ""
    assert body["is_admin"] is False and body["is_member"] is False
    for hidden in ("teams", "ordered_teams", "tag_expiration_s", "invoice_email"):
        assert hidden not in body, f"{caller} sees {hidden}"


@pytest.mark.operation("getOrganization")
def test_unknown_org_is_404_not_found_even_for_anonymous(target: Target) -> None:
    body = expect(target.anon.call("getOrganization", orgname=target.next_name("nosuchorg")), 404,
                  error_type="not_found")
    assert body["detail"] == "Not Found"


@pytest.mark.operation("getOrganization")
def test_user_namespace_is_not_an_organization(world: World, target: Target) -> None:
    user = world.user()
    expect(target.anon.call("getOrganization", orgname=user.name), 404, error_type="not_found")


# ---- changeOrganizationDetails ----------------------------------------------------------------------------------
@pytest.mark.operation("changeOrganizationDetails", "getOrganization")
def test_org_admin_changes_email_and_tag_expiration(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    email = f"{target.next_name('mail')}@example.com"
    body = expect(owner.client().call("changeOrganizationDetails", orgname=org,
                                      json={"email": email, "tag_expiration_s": 86400}), 200)
    assert body["name"] == org
    assert body["email"] == email
    assert body["tag_expiration_s"] == 86400
    assert "owners" in body["teams"]
    again = expect(owner.client().call("getOrganization", orgname=org), 200)
    assert again["email"] == email and again["tag_expiration_s"] == 86400


@pytest.mark.operation("changeOrganizationDetails")
def test_tag_expiration_outside_the_allowed_options_is_400_message(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    body = expect(owner.client().call("changeOrganizationDetails", orgname=org, json={"tag_expiration_s": 12345}),
                  400, shape="message")
    assert body["message"] == "Invalid tag expiration option"


@pytest.mark.operation("changeOrganizationDetails")
def test_changing_org_email_to_a_used_address_follows_the_targets_version(world: World, target: Target) -> None:
    owner, other = world.user(), world.user()
    org = world.org(owner=owner)
    used = f"{other.name}@example.com"
    response = owner.client().call("changeOrganizationDetails", orgname=org, json={"email": used})
    since = BEHAVIOUR_SINCE["org_email_shared"]
    if target.profile.has("org_email_shared"):
        body = expect(response, 200, why=f"Quay {since} and later accept an organization e-mail that another "
                                         "account already uses")
        assert body["email"] == used, f"the organization's view shows the new e-mail {used!r}, not {body['email']!r}"
    else:
        body = expect(response, 400, error_type="invalid_request",
                      why=f"Quay before {since} refuses an e-mail another account already uses")
        assert body["detail"] == "E-mail address already used"


@pytest.mark.operation("changeOrganizationDetails")
def test_bad_org_body_from_outsider_is_400_because_org_endpoints_validate_first(world: World) -> None:
    org = world.org(owner=world.user())
    outsider = world.user()
    expect(outsider.client().call("changeOrganizationDetails", orgname=org, json={"tag_expiration_s": "soon"}),
           400, error_type="invalid_request")


@pytest.mark.operation("changeOrganizationDetails")
def test_org_details_change_is_403_for_member_outsider_and_token_without_org_admin(world: World) -> None:
    owner, member, org, _ = _org_with_member(world)
    outsider = world.user()
    for client in (member.client(), outsider.client(),
                   owner.client(["user:admin", "user:read", "repo:admin", "repo:create"])):
        expect(client.call("changeOrganizationDetails", orgname=org, json={"tag_expiration_s": 0}), 403,
               error_type="insufficient_scope")
    assert expect(owner.client().call("getOrganization", orgname=org), 200)["tag_expiration_s"] == \
        DEFAULT_TAG_EXPIRATION_S


@pytest.mark.operation("changeOrganizationDetails")
def test_unknown_org_details_change_is_403_for_a_non_admin(world: World, target: Target) -> None:
    expect(world.user().client().call("changeOrganizationDetails", orgname=target.next_name("nosuchorg"),
                                      json={"tag_expiration_s": 0}), 403, error_type="insufficient_scope")


# ---- deleteAdminedOrganization -----------------------------------------------------------------------------------
@pytest.mark.operation("deleteAdminedOrganization", "getOrganization")
def test_org_admin_deletes_org_with_204_and_it_is_gone(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    response = owner.client().call("deleteAdminedOrganization", orgname=org)
    assert expect(response, 204) is None
    expect(target.anon.call("getOrganization", orgname=org), 404, error_type="not_found")


@pytest.mark.operation("deleteAdminedOrganization", "getOrganization")
def test_org_delete_is_403_for_member_and_outsider(world: World, target: Target) -> None:
    _, member, org, _ = _org_with_member(world)
    for client in (member.client(), world.user().client()):
        expect(client.call("deleteAdminedOrganization", orgname=org), 403, error_type="insufficient_scope")
    expect(target.anon.call("getOrganization", orgname=org), 200)


@pytest.mark.operation("deleteAdminedOrganization")
def test_org_delete_with_token_lacking_org_admin_is_403(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    client = owner.client(["repo:admin", "repo:create", "user:admin", "user:read"])
    expect(client.call("deleteAdminedOrganization", orgname=org), 403, error_type="insufficient_scope")


# ---- members and collaborators -----------------------------------------------------------------------------------
@pytest.mark.operation("getOrganizationMembers")
def test_org_members_lists_humans_with_their_teams_and_direct_repositories(world: World) -> None:
    owner, member, org, team = _org_with_member(world)
    robot = world.robot(org)
    _team_with(world, owner, org, robot)
    repo = world.repo(org)
    world.grant(repo, user=member, role="read")
    body = expect(owner.client().call("getOrganizationMembers", orgname=org), 200)
    by_name = {m["name"]: m for m in body["members"]}
    assert set(by_name) == {owner.name, member.name}, "robots are not members in this listing"
    entry = by_name[member.name]
    assert entry["kind"] == "user"
    assert set(entry["avatar"]) >= {"name", "hash", "color", "kind"}
    assert [t["name"] for t in entry["teams"]] == [team]
    assert entry["repositories"] == [repo.split("/", 1)[1]]
    assert [t["name"] for t in by_name[owner.name]["teams"]] == ["owners"]


@pytest.mark.operation("getOrganizationMembers")
def test_org_members_is_403_for_member_and_outsider_and_401_for_anonymous(world: World, target: Target) -> None:
    _, member, org, _ = _org_with_member(world)
    for client in (member.client(), world.user().client()):
        expect(client.call("getOrganizationMembers", orgname=org), 403, error_type="insufficient_scope")
    expect(target.anon.call("getOrganizationMembers", orgname=org), 401, error_type="invalid_token")


@pytest.mark.operation("getOrganizationMember")
def test_org_member_detail_shows_teams_and_direct_repositories(world: World) -> None:
    owner, member, org, team = _org_with_member(world)
    repo = world.repo(org)
    world.grant(repo, user=member, role="write")
    body = expect(owner.client().call("getOrganizationMember", orgname=org, membername=member.name), 200)
    assert body["name"] == member.name
    assert body["kind"] == "user"
    assert [t["name"] for t in body["teams"]] == [team]
    assert set(body["teams"][0]["avatar"]) >= {"name", "hash", "color", "kind"}
    assert body["repositories"] == [repo.split("/", 1)[1]]


@pytest.mark.operation("getOrganizationMember")
def test_org_robot_in_no_team_is_still_a_member_of_kind_robot(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    body = expect(owner.client().call("getOrganizationMember", orgname=org, membername=robot.name), 200)
    assert body["name"] == robot.name
    assert body["kind"] == "robot"
    assert body["teams"] == []


@pytest.mark.operation("getOrganizationMember")
def test_org_member_detail_is_404_for_non_member_and_unknown_user(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    outsider = world.user()
    for name in (outsider.name, target.next_name("nosuchuser")):
        expect(owner.client().call("getOrganizationMember", orgname=org, membername=name), 404,
               error_type="not_found")


@pytest.mark.operation("getOrganizationMember")
def test_org_member_detail_is_403_for_a_plain_member(world: World) -> None:
    owner, member, org, _ = _org_with_member(world)
    expect(member.client().call("getOrganizationMember", orgname=org, membername=owner.name), 403,
           error_type="insufficient_scope")


@pytest.mark.operation("removeOrganizationMember", "getOrganizationMembers", "listRepoUserPermissions")
def test_removing_a_member_drops_teams_and_direct_repo_permissions(world: World) -> None:
    owner, member, org, _ = _org_with_member(world)
    repo = world.repo(org)
    world.grant(repo, user=member, role="read")
    assert expect(owner.client().call("removeOrganizationMember", orgname=org, membername=member.name), 204) is None
    members = expect(owner.client().call("getOrganizationMembers", orgname=org), 200)["members"]
    assert [m["name"] for m in members] == [owner.name]
    perms = expect(owner.client().call("listRepoUserPermissions", repository=repo), 200)["permissions"]
    assert member.name not in perms


@pytest.mark.operation("removeOrganizationMember")
def test_removing_the_only_org_admin_is_400_message(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    body = expect(owner.client().call("removeOrganizationMember", orgname=org, membername=owner.name), 400,
                  shape="message")
    assert body["message"] == "Cannot remove user as they are the only organization admin"


@pytest.mark.operation("removeOrganizationMember")
def test_removing_an_unknown_user_is_404(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    expect(owner.client().call("removeOrganizationMember", orgname=org, membername=target.next_name("nosuch")),
           404, error_type="not_found")


@pytest.mark.operation("removeOrganizationMember", "getOrganizationMember")
def test_removing_a_member_is_403_for_a_plain_member(world: World) -> None:
    owner, member, org, _ = _org_with_member(world)
    other = world.user()
    _team_with(world, owner, org, other)
    expect(member.client().call("removeOrganizationMember", orgname=org, membername=other.name), 403,
           error_type="insufficient_scope")
    expect(owner.client().call("getOrganizationMember", orgname=org, membername=other.name), 200)


@pytest.mark.operation("getOrganizationCollaborators")
def test_collaborators_are_users_with_direct_repo_permissions_outside_every_team(world: World) -> None:
    owner, member, org, _ = _org_with_member(world)
    collaborator = world.user()
    repo = world.repo(org)
    world.grant(repo, user=collaborator, role="read")
    world.grant(repo, user=member, role="read")
    body = expect(owner.client().call("getOrganizationCollaborators", orgname=org), 200)
    assert [c["name"] for c in body["collaborators"]] == [collaborator.name]
    entry = body["collaborators"][0]
    assert entry["kind"] == "user"
    assert entry["repositories"] == [repo.split("/", 1)[1]]
    assert set(entry["avatar"]) >= {"name", "hash", "color", "kind"}


@pytest.mark.operation("getOrganizationCollaborators")
def test_collaborators_is_403_for_member_outsider_and_token_without_org_admin(world: World) -> None:
    owner, member, org, _ = _org_with_member(world)
    for client in (member.client(), world.user().client(), owner.client(["repo:admin", "user:admin"])):
        expect(client.call("getOrganizationCollaborators", orgname=org), 403, error_type="insufficient_scope")


@pytest.mark.operation("getOrganizationCollaborators")
def test_collaborators_of_unknown_org_is_403_for_non_admin_and_401_for_anonymous(world: World,
                                                                                 target: Target) -> None:
    name = target.next_name("nosuchorg")
    expect(world.user().client().call("getOrganizationCollaborators", orgname=name), 403,
           error_type="insufficient_scope")
    expect(target.anon.call("getOrganizationCollaborators", orgname=name), 401, error_type="invalid_token")


# ---- OAuth applications ----------------------------------------------------------------------------------------
@pytest.mark.operation("createOrganizationApplication")
def test_create_application_returns_200_with_client_id_and_secret(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    body = _new_app(owner.client(), org, world, avatar_email="app@example.com")
    assert set(body) == APP_VIEW_KEYS
    assert body["description"] == "conformance"
    assert body["redirect_uri"] == "https://client.example.com/callback"
    assert body["application_uri"] == "https://client.example.com/"
    assert body["avatar_email"] == "app@example.com"
    assert isinstance(body["client_id"], str) and body["client_id"]
    assert isinstance(body["client_secret"], str) and body["client_secret"]


@pytest.mark.operation("createOrganizationApplication")
def test_create_application_without_name_is_400(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    body = expect(owner.client().call("createOrganizationApplication", orgname=org,
                                      json={"redirect_uri": "https://x.example.com/"}), 400,
                  error_type="invalid_request")
    assert "'name' is a required property" in body["detail"]


@pytest.mark.operation("createOrganizationApplication", "getOrganizationApplications")
def test_create_application_is_403_for_member_outsider_and_token_without_org_admin(world: World) -> None:
    owner, member, org, _ = _org_with_member(world)
    for client in (member.client(), world.user().client(), owner.client(["repo:admin", "user:admin"])):
        expect(client.call("createOrganizationApplication", orgname=org, json={"name": "sneaky"}), 403,
               error_type="insufficient_scope")
    assert expect(owner.client().call("getOrganizationApplications", orgname=org), 200) == {"applications": []}


@pytest.mark.operation("getOrganizationApplications")
def test_list_applications_shows_each_with_its_secret_to_admins(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    first, second = _new_app(owner.client(), org, world), _new_app(owner.client(), org, world)
    body = expect(owner.client().call("getOrganizationApplications", orgname=org), 200)
    by_id = {a["client_id"]: a for a in body["applications"]}
    assert set(by_id) == {first["client_id"], second["client_id"]}
    assert by_id[first["client_id"]] == first


@pytest.mark.operation("getOrganizationApplications")
def test_list_applications_is_403_for_member_and_401_for_anonymous(world: World, target: Target) -> None:
    _, member, org, _ = _org_with_member(world)
    expect(member.client().call("getOrganizationApplications", orgname=org), 403, error_type="insufficient_scope")
    expect(target.anon.call("getOrganizationApplications", orgname=org), 401, error_type="invalid_token")


@pytest.mark.operation("getOrganizationApplication")
def test_get_application_returns_the_admin_view(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    app = _new_app(owner.client(), org, world)
    body = expect(owner.client().call("getOrganizationApplication", orgname=org, client_id=app["client_id"]), 200)
    assert body == app


@pytest.mark.operation("getOrganizationApplication")
def test_get_application_unknown_client_id_is_404_and_outsider_is_403(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    app = _new_app(owner.client(), org, world)
    expect(owner.client().call("getOrganizationApplication", orgname=org, client_id=target.next_name("nosuch")),
           404, error_type="not_found")
    expect(world.user().client().call("getOrganizationApplication", orgname=org, client_id=app["client_id"]), 403,
           error_type="insufficient_scope")


@pytest.mark.operation("getOrganizationApplication")
def test_application_of_another_org_is_404_under_this_org(world: World) -> None:
    owner = world.user()
    org, other_org = world.org(owner=owner), world.org(owner=owner)
    app = _new_app(owner.client(), other_org, world)
    expect(owner.client().call("getOrganizationApplication", orgname=org, client_id=app["client_id"]), 404,
           error_type="not_found")


@pytest.mark.operation("updateOrganizationApplication", "getOrganizationApplication")
def test_update_application_replaces_its_fields_and_keeps_id_and_secret(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    app = _new_app(owner.client(), org, world)
    change = {"name": f"{app['name']}x", "redirect_uri": "https://new.example.com/cb",
              "application_uri": "https://new.example.com/", "description": "changed"}
    body = expect(owner.client().call("updateOrganizationApplication", orgname=org, client_id=app["client_id"],
                                      json=change), 200)
    for key, value in change.items():
        assert body[key] == value
    assert body["client_id"] == app["client_id"] and body["client_secret"] == app["client_secret"]
    assert body["avatar_email"] is None
    assert expect(owner.client().call("getOrganizationApplication", orgname=org, client_id=app["client_id"]),
                  200) == body


@pytest.mark.operation("updateOrganizationApplication")
def test_update_application_needs_name_redirect_and_application_uri(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    app = _new_app(owner.client(), org, world)
    body = expect(owner.client().call("updateOrganizationApplication", orgname=org, client_id=app["client_id"],
                                      json={"name": "x", "application_uri": "https://x.example.com/"}),
                  400, error_type="invalid_request")
    assert "'redirect_uri' is a required property" in body["detail"]


@pytest.mark.operation("updateOrganizationApplication")
def test_update_unknown_application_is_404_and_outsider_is_403(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    app = _new_app(owner.client(), org, world)
    change = {"name": "n", "redirect_uri": "https://x.example.com/", "application_uri": "https://x.example.com/"}
    expect(owner.client().call("updateOrganizationApplication", orgname=org, client_id=target.next_name("nosuch"),
                               json=change), 404, error_type="not_found")
    expect(world.user().client().call("updateOrganizationApplication", orgname=org, client_id=app["client_id"],
                                      json=change), 403, error_type="insufficient_scope")


@pytest.mark.operation("deleteOrganizationApplication", "getOrganizationApplication")
def test_delete_application_is_204_then_404(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    app = _new_app(owner.client(), org, world)
    client = owner.client()
    assert expect(client.call("deleteOrganizationApplication", orgname=org, client_id=app["client_id"]), 204) is None
    expect(client.call("getOrganizationApplication", orgname=org, client_id=app["client_id"]), 404,
           error_type="not_found")
    expect(client.call("deleteOrganizationApplication", orgname=org, client_id=app["client_id"]), 404,
           error_type="not_found")


@pytest.mark.operation("deleteOrganizationApplication", "getOrganizationApplication")
def test_delete_application_is_403_for_member(world: World) -> None:
    owner, member, org, _ = _org_with_member(world)
    app = _new_app(owner.client(), org, world)
    expect(member.client().call("deleteOrganizationApplication", orgname=org, client_id=app["client_id"]), 403,
           error_type="insufficient_scope")
    expect(owner.client().call("getOrganizationApplication", orgname=org, client_id=app["client_id"]), 200)


@pytest.mark.operation("resetOrganizationApplicationClientSecret", "getOrganizationApplication")
def test_reset_client_secret_returns_the_app_with_a_new_secret(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    app = _new_app(owner.client(), org, world)
    body = expect(owner.client().call("resetOrganizationApplicationClientSecret", orgname=org,
                                      client_id=app["client_id"]), 200)
    assert set(body) == APP_VIEW_KEYS
    assert body["client_id"] == app["client_id"]
    assert isinstance(body["client_secret"], str) and body["client_secret"]
    assert body["client_secret"] != app["client_secret"]
    assert expect(owner.client().call("getOrganizationApplication", orgname=org, client_id=app["client_id"]),
                  200)["client_secret"] == body["client_secret"]


@pytest.mark.operation("resetOrganizationApplicationClientSecret", "getOrganizationApplication")
def test_reset_client_secret_is_404_for_unknown_app_and_403_for_member(world: World, target: Target) -> None:
    owner, member, org, _ = _org_with_member(world)
    app = _new_app(owner.client(), org, world)
    expect(owner.client().call("resetOrganizationApplicationClientSecret", orgname=org,
                               client_id=target.next_name("nosuch")), 404, error_type="not_found")
    expect(member.client().call("resetOrganizationApplicationClientSecret", orgname=org,
                                client_id=app["client_id"]), 403, error_type="insufficient_scope")
    after = expect(owner.client().call("getOrganizationApplication", orgname=org, client_id=app["client_id"]), 200)
    assert after["client_secret"] == app["client_secret"]


@pytest.mark.operation("getApplicationInformation")
def test_application_information_is_public_and_hides_secrets(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    app = _new_app(owner.client(), org, world)
    body = expect(target.anon.call("getApplicationInformation", client_id=app["client_id"]), 200)
    assert set(body) == {"name", "description", "uri", "avatar", "organization"}
    assert body["name"] == app["name"]
    assert body["description"] == "conformance"
    assert body["uri"] == "https://client.example.com/"
    assert body["avatar"]["kind"] == "app"
    organization = body["organization"]
    assert organization["name"] == org
    assert organization["email"] == ""
    assert organization["is_admin"] is False and organization["is_member"] is False


@pytest.mark.operation("getApplicationInformation")
def test_application_information_for_unknown_client_id_is_404(target: Target) -> None:
    expect(target.anon.call("getApplicationInformation", client_id=target.next_name("nosuch")), 404,
           error_type="not_found")
