"""What Quay writes to its audit log for each mutating operation: our own reviewed declaration, independent of any
target (the reference server is graded by it, never consulted for it).

Sources: quay-api.md D4 (the log kinds, metadata examples) and, where it is silent, the `log_action(...)` calls of
Quay's endpoints/api/*.py (repository quay/quay), read and restated here as data. Each rule turns one recorded
call into the entries Quay writes for it: the kind (or the kinds, when the choice depends on state the request
does not show), the namespace the entry belongs to, the performer, and the metadata values the request implies.
A rule checks a subset of the metadata: the keys whose values the call determines.

`UNLOGGED` lists the mutating operations Quay writes no entry for, each with the reason. A meta-test
(tests/test_audit_expectations.py) proves every mutating operation of the reference server's discovery is in
exactly one of the two tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from harness.audit.ledger import MutatingCall


@dataclass(frozen=True)
class Expected:
    """One entry a call makes Quay write."""

    kinds: tuple[str, ...]  # one of these
    namespace: str | None  # the entry's namespace; None: not checked (the call renames or removes it)
    metadata: Mapping[str, Any] = field(default_factory=dict)  # these keys with these values (others may exist)
    performer: str | None = None  # the performer's name; None with check_performer: no performer at all
    check_performer: bool = True
    required: bool = True  # False: Quay writes it only in a state the request does not reveal (not checked)

    def describe(self) -> str:
        kinds = "|".join(self.kinds)
        who = (f"performer {self.performer}" if self.performer else "no performer") if self.check_performer \
            else "any performer"
        where = f"namespace {self.namespace}" if self.namespace else "any namespace"
        return f"{kinds} in {where}, {who}, metadata {dict(self.metadata)}"


Rule = Callable[[MutatingCall], list[Expected]]


@dataclass(frozen=True)
class OneOf:
    """A metadata value Quay may write in more than one spelling."""

    options: tuple[Any, ...]

    def __repr__(self) -> str:
        return " or ".join(repr(option) for option in self.options)


def repo_name_as_logged(name: str) -> Any:
    """Quay logs a repository name as the request's path carried it: a character the client percent-encoded
    (":" -> "%3A") stays encoded in the entry. Either spelling names the same repository."""
    encoded = quote(name, safe="")
    return name if encoded == name else OneOf((name, encoded))


@dataclass(frozen=True)
class Logged:
    source: str  # where the fact comes from
    rule: Rule


def expect(call: MutatingCall, kinds: str | tuple[str, ...], in_namespace: str | None, /, *, required: bool = True,
           any_performer: bool = False, **metadata: Any) -> Expected:
    """The entry `call` makes in `in_namespace`, performed by its caller (no performer when it was anonymous;
    unchecked when we do not know who holds the credentials). Metadata given as None is left out: the request does
    not determine it. (Positional-only parameters, so `namespace` can be a metadata key.)"""
    kinds_t = (kinds,) if isinstance(kinds, str) else kinds
    meta = {key: value for key, value in metadata.items() if value is not None}
    if any_performer or (call.caller is None and not call.anonymous):
        return Expected(kinds_t, in_namespace, meta, None, check_performer=False, required=required)
    return Expected(kinds_t, in_namespace, meta, call.caller, required=required)


def _in_repo(call: MutatingCall, kinds: str | tuple[str, ...], /, *, with_namespace: bool = True,
             required: bool = True, **metadata: Any) -> Expected:
    """An entry on the call's repository: Quay files it under the repository's namespace with `repo` (and most
    of the time `namespace`) in the metadata."""
    namespace, name = call.repo_parts
    if with_namespace:
        metadata["namespace"] = namespace
    return expect(call, kinds, namespace, required=required, repo=repo_name_as_logged(name), **metadata)


def _own(call: MutatingCall) -> str | None:
    """The caller's own namespace (user endpoints)."""
    return call.caller


def _nested(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# -- repositories (endpoints/api/repository.py, permission.py) ----------------------------------------------------
def _create_repo(c: MutatingCall) -> list[Expected]:
    namespace = _str(c.body_dict.get("namespace")) or c.caller
    return [expect(c, "create_repo", namespace, repo=c.body_dict.get("repository"), namespace=namespace)]


# -- tags (endpoints/api/tag.py) -----------------------------------------------------------------------------------
def _change_tag(c: MutatingCall) -> list[Expected]:
    body, tag = c.body_dict, c.param("tag")
    out = []
    if "expiration" in body:
        # Logged unless both the old and the new expiration are empty; the old one is not in the request.
        out.append(_in_repo(c, "change_tag_expiration", tag=tag, username=c.caller,
                            required=body["expiration"] is not None))
    if body.get("immutable") is not None:
        # The kind exists for exactly this (migration "add logentrykind for tag immutability changes"); Quay's
        # metadata for it is not in our sources, so only the kind, namespace and performer are checked.
        out.append(expect(c, "change_tag_immutability", c.repo_parts[0]))
    if body.get("manifest_digest"):
        out.append(_in_repo(c, ("create_tag", "move_tag"), tag=tag, username=c.caller,
                            manifest_digest=body["manifest_digest"]))
    return out


def _expire_tag(c: MutatingCall) -> list[Expected]:
    body = c.body_dict
    digest = None if body.get("is_alive") else body.get("manifest_digest")
    return [_in_repo(c, "permanently_delete_tag", tag=c.param("tag"), username=c.caller, manifest_digest=digest)]


def _add_label(c: MutatingCall) -> list[Expected]:
    body = c.body_dict
    return [_in_repo(c, "manifest_label_add", id=_nested(c.reply_dict, "label", "id"), key=body.get("key"),
                     value=body.get("value"), manifest_digest=c.param("manifestref"),
                     media_type=body.get("media_type"))]


# -- organizations, applications (endpoints/api/organization.py, organization_application_tokens.py) --------------
def _change_org(c: MutatingCall) -> list[Expected]:
    org, body = c.param("orgname"), c.body_dict
    out = []
    if "invoice_email" in body:
        out.append(expect(c, "org_change_invoicing", org, invoice_email=body["invoice_email"], namespace=org))
    if "invoice_email_address" in body:  # only when it differs from the stored one
        out.append(expect(c, "org_change_invoicing", org, required=False, namespace=org))
    if "email" in body:  # only when it differs from the stored one
        out.append(expect(c, "org_change_email", org, required=False, email=body["email"], namespace=org))
    if "tag_expiration_s" in body:  # FEATURE_CHANGE_TAG_EXPIRATION, on by default
        out.append(expect(c, "org_change_tag_expiration", org, tag_expiration=body["tag_expiration_s"],
                          namespace=org))
    return out


def _app_token_name(c: MutatingCall) -> str | None:
    name = c.body_dict.get("name")
    return name.strip() if isinstance(name, str) else None


# -- teams (endpoints/api/team.py) ----------------------------------------------------------------------------------
def _update_team(c: MutatingCall) -> list[Expected]:
    org, team, body = c.param("orgname"), c.param("teamname"), c.body_dict
    if c.reply_dict.get("new_team") is True:
        return [expect(c, "org_create_team", org, team=team)]
    # An existing team: each change is logged only when the value differs from the stored one.
    out = []
    if "description" in body:
        out.append(expect(c, "org_set_team_description", org, required=False, team=team,
                          description=body["description"]))
    if "role" in body:
        out.append(expect(c, "org_set_team_role", org, required=False, team=team, role=body["role"]))
    return out


def _add_team_member(c: MutatingCall) -> list[Expected]:
    org, team, member = c.param("orgname"), c.param("teamname"), c.param("membername")
    if c.reply_dict.get("invited") is True:
        return [expect(c, "org_invite_team_member", org, user=member, member=member, team=team)]
    return [expect(c, "org_add_team_member", org, member=member, team=team)]


# -- prototypes (endpoints/api/prototype.py) -------------------------------------------------------------------------
def _create_prototype(c: MutatingCall) -> list[Expected]:
    body = c.body_dict
    delegate = body["delegate"] if isinstance(body.get("delegate"), dict) else {}
    activating = body["activating_user"] if isinstance(body.get("activating_user"), dict) else {}
    meta: dict[str, Any] = {"prototypeid": c.reply_dict.get("id"), "username": c.caller, "role": body.get("role"),
                            "activating_username": activating.get("name")}
    meta["delegate_user" if delegate.get("kind") == "user" else "delegate_team"] = delegate.get("name")
    return [expect(c, "create_prototype_permission", c.param("orgname"), **meta)]


# -- users (endpoints/api/user.py, appspecifictokens.py) -------------------------------------------------------------
def _change_user(c: MutatingCall) -> list[Expected]:
    me, body = _own(c), c.body_dict
    out = []
    if "password" in body:
        out.append(expect(c, "account_change_password", me))
    if "invoice_email" in body:
        out.append(expect(c, "user_change_invoicing", me, invoice_email=body["invoice_email"]))
    if "tag_expiration_s" in body:
        out.append(expect(c, "user_change_tag_expiration", me, tag_expiration=body["tag_expiration_s"]))
    if "invoice_email_address" in body:  # only when it differs from the stored one
        out.append(expect(c, "user_change_invoicing", me, required=False))
    if "email" in body:  # only without FEATURE_MAILING (with it, a confirmation mail goes out instead)
        out.append(expect(c, "user_change_email", me, required=False, email=body["email"]))
    if any(k in body for k in ("given_name", "family_name", "company", "location")):  # FEATURE_USER_METADATA
        out.append(expect(c, "user_change_metadata", me, required=False))
    if "username" in body:  # only when renaming is allowed and the name differs
        out.append(expect(c, "user_change_name", _str(body["username"]), required=False, old_username=me))
    return out


def _signin(c: MutatingCall) -> list[Expected]:
    # ACTION_LOG_AUDIT_LOGINS (on in Quay's defaults). The caller may sign in with an e-mail address; the entry is
    # filed under the user's name then, which the request does not show.
    name = _str(c.body_dict.get("username"))
    namespace = name if name and "@" not in name else None
    return [expect(c, "login_success", namespace, any_performer=True, type="quayauth")]


def _logout(c: MutatingCall) -> list[Expected]:
    if c.anonymous:
        return []  # Quay logs logout_success only when somebody was signed in
    return [expect(c, "logout_success", _own(c))]


# -- auto-prune and immutability policies (endpoints/api/policy.py, immutability_policy.py) ------------------------
def _prune_meta(c: MutatingCall) -> dict[str, Any]:
    body = c.body_dict
    return {"method": body.get("method"), "value": body.get("value"), "tag_pattern": _stripped(body.get("tagPattern")),
            "tag_pattern_matches": body.get("tagPatternMatches", True)}


def _immutability_meta(c: MutatingCall) -> dict[str, Any]:
    body = c.body_dict
    return {"tag_pattern": _stripped(body.get("tagPattern")),
            "tag_pattern_matches": body.get("tagPatternMatches", True)}


# -- superuser (endpoints/api/superuser.py) ----------------------------------------------------------------------------
def _change_install_user(c: MutatingCall) -> list[Expected]:
    name, body = c.param("username"), c.body_dict
    out = []
    if "password" in body:
        out.append(expect(c, "user_change_password", name, username=name, superuser=c.caller))
    if "email" in body:
        out.append(expect(c, "user_change_email", name, email=body["email"], superuser=c.caller))
    if "enabled" in body:
        kind = "user_enable" if body["enabled"] else "user_disable"
        out.append(expect(c, kind, name, username=name, superuser=c.caller))
    return out


API = "Quay endpoints/api/"

LOGGED: dict[str, Logged] = {
    # repository.py
    "createRepo": Logged(API + "repository.py; quay-api.md D4", _create_repo),
    "updateRepo": Logged(API + "repository.py", lambda c: [
        _in_repo(c, "set_repo_description", description=c.body_dict.get("description"))]),
    "deleteRepository": Logged(API + "repository.py", lambda c: [_in_repo(c, "delete_repo")]),
    "changeRepoVisibility": Logged(API + "repository.py", lambda c: [
        _in_repo(c, "change_repo_visibility", visibility=c.body_dict.get("visibility"))]),
    "changeRepoState": Logged(API + "repository.py", lambda c: [
        _in_repo(c, "change_repo_state", state_changed=c.body_dict.get("state"))]),
    # permission.py (a user grant is change_repo_permission whether it is new or not)
    "changeUserPermissions": Logged(API + "permission.py; quay-api.md D4", lambda c: [
        _in_repo(c, "change_repo_permission", username=c.param("username"), role=c.body_dict.get("role"))]),
    "deleteUserPermissions": Logged(API + "permission.py", lambda c: [
        _in_repo(c, "delete_repo_permission", username=c.param("username"))]),
    "changeTeamPermissions": Logged(API + "permission.py; quay-api.md D4", lambda c: [
        _in_repo(c, "change_repo_permission", with_namespace=False, team=c.param("teamname"),
                 role=c.body_dict.get("role"))]),
    "deleteTeamPermissions": Logged(API + "permission.py", lambda c: [
        _in_repo(c, "delete_repo_permission", with_namespace=False, team=c.param("teamname"))]),
    # tag.py
    "changeTag": Logged(API + "tag.py; quay-api.md D3, D4", _change_tag),
    "deleteFullTag": Logged(API + "tag.py; quay-api.md D4", lambda c: [
        _in_repo(c, "delete_tag", tag=c.param("tag"), username=c.caller)]),
    "restoreTag": Logged(API + "tag.py; quay-api.md D3", lambda c: [
        _in_repo(c, "revert_tag", with_namespace=False, tag=c.param("tag"), username=c.caller,
                 manifest_digest=c.body_dict.get("manifest_digest"))]),
    "removeTagFromTimemachine": Logged(API + "tag.py", _expire_tag),
    # manifest.py
    "addManifestLabel": Logged(API + "manifest.py", _add_label),
    "deleteManifestLabel": Logged(API + "manifest.py", lambda c: [
        _in_repo(c, "manifest_label_delete", id=c.param("labelid"), manifest_digest=c.param("manifestref"))]),
    # organization.py
    "createOrganization": Logged(API + "organization.py", lambda c: [
        expect(c, "org_create", _str(c.body_dict.get("name")), namespace=c.body_dict.get("name"),
               email=c.body_dict.get("email"))]),
    "changeOrganizationDetails": Logged(API + "organization.py", _change_org),
    # Logged before the organization is marked for deletion, which renames it: the namespace is not checked.
    "deleteAdminedOrganization": Logged(API + "organization.py", lambda c: [
        expect(c, "org_delete", None, namespace=c.param("orgname"))]),
    "createProxyCacheConfig": Logged(API + "organization.py", lambda c: [
        expect(c, "create_proxy_cache_config", c.param("orgname"),
               upstream_registry=c.body_dict.get("upstream_registry"))]),
    "deleteProxyCacheConfig": Logged(API + "organization.py", lambda c: [
        expect(c, "delete_proxy_cache_config", c.param("orgname"))]),
    "createOrganizationApplication": Logged(API + "organization.py", lambda c: [
        expect(c, "create_application", c.param("orgname"), application_name=c.body_dict.get("name"),
               client_id=c.reply_dict.get("client_id"))]),
    "updateOrganizationApplication": Logged(API + "organization.py", lambda c: [
        expect(c, "update_application", c.param("orgname"), application_name=c.body_dict.get("name"),
               client_id=c.param("client_id"))]),
    "deleteOrganizationApplication": Logged(API + "organization.py", lambda c: [
        expect(c, "delete_application", c.param("orgname"), client_id=c.param("client_id"))]),
    "resetOrganizationApplicationClientSecret": Logged(API + "organization.py", lambda c: [
        expect(c, "reset_application_client_secret", c.param("orgname"), client_id=c.param("client_id"))]),
    # organization_application_tokens.py
    "createOrganizationApplicationToken": Logged(API + "organization_application_tokens.py", lambda c: [
        expect(c, "create_oauth_api_token", c.param("orgname"), oauth_token_uuid=c.reply_dict.get("uuid"),
               client_id=c.param("client_id"), token_display_name=_app_token_name(c))]),
    "deleteOrganizationApplicationToken": Logged(API + "organization_application_tokens.py", lambda c: [
        expect(c, "revoke_oauth_api_token", c.param("orgname"), oauth_token_uuid=c.param("token_uuid"),
               client_id=c.param("client_id"))]),
    # team.py
    "updateOrganizationTeam": Logged(API + "team.py", _update_team),
    "deleteOrganizationTeam": Logged(API + "team.py", lambda c: [
        expect(c, "org_delete_team", c.param("orgname"), team=c.param("teamname"))]),
    "updateOrganizationTeamMember": Logged(API + "team.py", _add_team_member),
    # A pending invite is withdrawn first when there is one; the 204 does not say which happened.
    "deleteOrganizationTeamMember": Logged(API + "team.py", lambda c: [
        expect(c, ("org_remove_team_member", "org_delete_team_member_invite"), c.param("orgname"),
               member=c.param("membername"), team=c.param("teamname"))]),
    "inviteTeamMemberEmail": Logged(API + "team.py", lambda c: [
        expect(c, "org_invite_team_member", c.param("orgname"), email=c.param("email"), member=c.param("email"),
               team=c.param("teamname"))]),
    "deleteTeamMemberEmailInvite": Logged(API + "team.py", lambda c: [
        expect(c, "org_delete_team_member_invite", c.param("orgname"), email=c.param("email"),
               member=c.param("email"), team=c.param("teamname"))]),
    "acceptOrganizationTeamInvite": Logged(API + "team.py", lambda c: [
        expect(c, "org_team_member_invite_accepted", _str(c.reply_dict.get("org")), member=c.caller,
               team=c.reply_dict.get("team"))]),
    # The invite code does not reveal the organization.
    "declineOrganizationTeamInvite": Logged(API + "team.py", lambda c: [
        expect(c, "org_team_member_invite_declined", None, member=c.caller)]),
    # prototype.py
    "createOrganizationPrototypePermission": Logged(API + "prototype.py", _create_prototype),
    "updateOrganizationPrototypePermission": Logged(API + "prototype.py", lambda c: [
        expect(c, "modify_prototype_permission", c.param("orgname"), prototypeid=c.param("prototypeid"),
               username=c.caller, role=c.body_dict.get("role"))]),
    "deleteOrganizationPrototypePermission": Logged(API + "prototype.py", lambda c: [
        expect(c, "delete_prototype_permission", c.param("orgname"), prototypeid=c.param("prototypeid"),
               username=c.caller)]),
    # robot.py (`robot` is the short name)
    "createUserRobot": Logged(API + "robot.py", lambda c: [
        expect(c, "create_robot", _own(c), robot=c.param("robot_shortname"))]),
    "deleteUserRobot": Logged(API + "robot.py", lambda c: [
        expect(c, "delete_robot", _own(c), robot=c.param("robot_shortname"))]),
    "regenerateUserRobotToken": Logged(API + "robot.py", lambda c: [
        expect(c, "regenerate_robot_token", _own(c), robot=c.param("robot_shortname"))]),
    "createUserRobotFederation": Logged(API + "robot.py", lambda c: [
        expect(c, "create_robot_federation", _own(c), robot=c.param("robot_shortname"))]),
    "deleteUserRobotFederation": Logged(API + "robot.py", lambda c: [
        expect(c, "delete_robot_federation", _own(c), robot=c.param("robot_shortname"))]),
    "createOrgRobot": Logged(API + "robot.py", lambda c: [
        expect(c, "create_robot", c.param("orgname"), robot=c.param("robot_shortname"))]),
    "deleteOrgRobot": Logged(API + "robot.py", lambda c: [
        expect(c, "delete_robot", c.param("orgname"), robot=c.param("robot_shortname"))]),
    "regenerateOrgRobotToken": Logged(API + "robot.py", lambda c: [
        expect(c, "regenerate_robot_token", c.param("orgname"), robot=c.param("robot_shortname"))]),
    "createOrgRobotFederation": Logged(API + "robot.py", lambda c: [
        expect(c, "create_robot_federation", c.param("orgname"), robot=c.param("robot_shortname"))]),
    "deleteOrgRobotFederation": Logged(API + "robot.py", lambda c: [
        expect(c, "delete_robot_federation", c.param("orgname"), robot=c.param("robot_shortname"))]),
    # user.py
    "createNewUser": Logged(API + "user.py", lambda c: [
        expect(c, "user_create", _str(c.body_dict.get("username")), username=c.body_dict.get("username"),
               email=c.body_dict.get("email"))]),
    "changeUserDetails": Logged(API + "user.py", _change_user),
    # The account is renamed as it is marked for deletion, and its performer goes with it.
    "deleteCurrentUser": Logged(API + "user.py", lambda c: [
        expect(c, "user_delete", None, any_performer=True, username=c.caller)]),
    "signinUser": Logged(API + "user.py (ACTION_LOG_AUDIT_LOGINS)", _signin),
    "logout": Logged(API + "user.py", _logout),
    "generateUserClientKey": Logged(API + "user.py", lambda c: [expect(c, "user_generate_client_key", _own(c))]),
    "convertUserToOrganization": Logged(API + "user.py", lambda c: [
        expect(c, "account_convert", _own(c), any_performer=True)]),
    # appspecifictokens.py
    "createAppToken": Logged(API + "appspecifictokens.py", lambda c: [
        expect(c, "create_app_specific_token", _own(c), app_specific_token_title=c.body_dict.get("title"),
               app_specific_token=_nested(c.reply_dict, "token", "uuid"))]),
    "revokeAppToken": Logged(API + "appspecifictokens.py", lambda c: [
        expect(c, "revoke_app_specific_token", _own(c), app_specific_token=c.param("token_uuid"))]),
    # policy.py
    "createOrganizationAutoPrunePolicy": Logged(API + "policy.py", lambda c: [
        expect(c, "create_namespace_autoprune_policy", c.param("orgname"), namespace=c.param("orgname"),
               **_prune_meta(c))]),
    "updateOrganizationAutoPrunePolicy": Logged(API + "policy.py", lambda c: [
        expect(c, "update_namespace_autoprune_policy", c.param("orgname"), namespace=c.param("orgname"),
               **_prune_meta(c))]),
    "deleteOrganizationAutoPrunePolicy": Logged(API + "policy.py", lambda c: [
        expect(c, "delete_namespace_autoprune_policy", c.param("orgname"), namespace=c.param("orgname"),
               policy_uuid=c.param("policy_uuid"))]),
    "createUserAutoPrunePolicy": Logged(API + "policy.py", lambda c: [
        expect(c, "create_namespace_autoprune_policy", _own(c), namespace=_own(c), **_prune_meta(c))]),
    "updateUserAutoPrunePolicy": Logged(API + "policy.py", lambda c: [
        expect(c, "update_namespace_autoprune_policy", _own(c), namespace=_own(c), **_prune_meta(c))]),
    "deleteUserAutoPrunePolicy": Logged(API + "policy.py", lambda c: [
        expect(c, "delete_namespace_autoprune_policy", _own(c), namespace=_own(c),
               policy_uuid=c.param("policy_uuid"))]),
    "createRepositoryAutoPrunePolicy": Logged(API + "policy.py", lambda c: [
        _in_repo(c, "create_repository_autoprune_policy", **_prune_meta(c))]),
    "updateRepositoryAutoPrunePolicy": Logged(API + "policy.py", lambda c: [
        _in_repo(c, "update_repository_autoprune_policy", **_prune_meta(c))]),
    "deleteRepositoryAutoPrunePolicy": Logged(API + "policy.py", lambda c: [
        _in_repo(c, "delete_repository_autoprune_policy", policy_uuid=c.param("policy_uuid"))]),
    # immutability_policy.py
    "createOrgImmutabilityPolicy": Logged(API + "immutability_policy.py", lambda c: [
        expect(c, "create_immutability_policy", c.param("orgname"), namespace=c.param("orgname"),
               **_immutability_meta(c))]),
    "updateOrgImmutabilityPolicy": Logged(API + "immutability_policy.py", lambda c: [
        expect(c, "update_immutability_policy", c.param("orgname"), namespace=c.param("orgname"),
               **_immutability_meta(c))]),
    "deleteOrgImmutabilityPolicy": Logged(API + "immutability_policy.py", lambda c: [
        expect(c, "delete_immutability_policy", c.param("orgname"), namespace=c.param("orgname"),
               policy_uuid=c.param("policy_uuid"))]),
    "createRepositoryImmutabilityPolicy": Logged(API + "immutability_policy.py", lambda c: [
        _in_repo(c, "create_immutability_policy", **_immutability_meta(c))]),
    "updateRepositoryImmutabilityPolicy": Logged(API + "immutability_policy.py", lambda c: [
        _in_repo(c, "update_immutability_policy", **_immutability_meta(c))]),
    "deleteRepositoryImmutabilityPolicy": Logged(API + "immutability_policy.py", lambda c: [
        _in_repo(c, "delete_immutability_policy", policy_uuid=c.param("policy_uuid"))]),
    # namespacequota.py (the audit entries added for PROJQUAY-9859, as its tests state them)
    "createOrganizationQuota": Logged(API + "namespacequota.py (test_namespacequota.py)", lambda c: [
        expect(c, "org_create_quota", c.param("orgname"), namespace=c.param("orgname"),
               limit_bytes=c.body_dict.get("limit_bytes"))]),
    # Quay logs only when the body names a size (an empty body changes nothing and writes nothing).
    "changeOrganizationQuota": Logged(API + "namespacequota.py (test_namespacequota.py)", lambda c: [
        expect(c, "org_change_quota", c.param("orgname"), namespace=c.param("orgname"),
               limit_bytes=c.body_dict.get("limit_bytes"))]
        if c.body_dict.get("limit_bytes") or c.body_dict.get("limit") else []),
    "deleteOrganizationQuota": Logged(API + "namespacequota.py (test_namespacequota.py)", lambda c: [
        expect(c, "org_delete_quota", c.param("orgname"), namespace=c.param("orgname"),
               quota_id=c.param("quota_id"))]),
    "createOrganizationQuotaLimit": Logged(API + "namespacequota.py (test_namespacequota.py)", lambda c: [
        expect(c, "org_create_quota_limit", c.param("orgname"), namespace=c.param("orgname"),
               type=c.body_dict.get("type"), threshold_percent=c.body_dict.get("threshold_percent"))]),
    "changeOrganizationQuotaLimit": Logged(API + "namespacequota.py (test_namespacequota.py)", lambda c: [
        expect(c, "org_change_quota_limit", c.param("orgname"), namespace=c.param("orgname"),
               threshold_percent=c.body_dict.get("threshold_percent"))]),
    "deleteOrganizationQuotaLimit": Logged(API + "namespacequota.py (test_namespacequota.py)", lambda c: [
        expect(c, "org_delete_quota_limit", c.param("orgname"), namespace=c.param("orgname"),
               limit_id=c.param("limit_id"))]),
    # superuser.py
    "createInstallUser": Logged(API + "superuser.py", lambda c: [
        expect(c, "user_create", _str(c.body_dict.get("username")), username=c.body_dict.get("username"),
               email=c.body_dict.get("email"), superuser=c.caller)]),
    "changeInstallUser": Logged(API + "superuser.py", _change_install_user),
    # Logged just before the account is marked for deletion (and renamed): the namespace is not checked.
    "deleteInstallUser": Logged(API + "superuser.py", lambda c: [
        expect(c, "user_delete", None, username=c.param("username"))]),
    # Logged under the old name, which the rename replaces: the namespace is not checked.
    "changeOrganization": Logged(API + "superuser.py", lambda c: [
        expect(c, "org_change_name", None, old_name=c.param("name"), new_name=c.body_dict.get("name"),
               superuser=c.caller)]),
    "takeOwnership": Logged(API + "superuser.py", lambda c: [
        expect(c, "take_ownership", c.caller, namespace=c.param("namespace"), superuser=c.caller)]),
    # bootstrap.py: logged without a performer, under the bootstrap token's owner, whom the request does not name.
    "renewBootstrapToken": Logged(API + "bootstrap.py", lambda c: [
        expect(c, "create_oauth_api_token", None, any_performer=True, auth_method="token_renewal")]),
}

UNLOGGED: dict[str, str] = {
    "removeOrganizationMember": "organization.py removes the member from every team without a log_action",
    "deleteOrganization": "superuser.py marks the organization for deletion without a log_action",
    "validateProxyCacheConfig": "organization.py only tries the upstream registry; nothing changes or is logged",
    "verifyUser": "re-checks the signed-in user's password; nothing changes and nothing is logged",
    "retrieveExternalLoginAuthorizationUrl": "only builds an external login URL and CSRF token",
    "detachExternalLogin": "user.py detaches the external login without a log_action",
    "requestRecoveryEmail": "sends a recovery e-mail; no log_action",
    "createStar": "starring a repository writes no audit entry",
    "deleteStar": "unstarring a repository writes no audit entry",
    "updateUserNotification": "dismissing an inbox notification writes no audit entry",
    "deleteUserAuthorization": "user.py deletes the granted OAuth token without a log_action",
    "deleteAssignedAuthorization": "user.py deletes the assigned authorization without a log_action",
    "createToken": "deprecated repository tokens: Quay answers 410 and changes nothing",
    "changeToken": "deprecated repository tokens: Quay answers 410 and changes nothing",
    "deleteToken": "deprecated repository tokens: Quay answers 410 and changes nothing",
    "sendAuthorizeRepoEmail": "repoemail.py stores the pending authorization and sends mail without a log_action",
    "linkExternalUser": "search.py links a federated user without a log_action",
    "sendInstallUserRecoveryEmail": "superuser.py sends a recovery e-mail without a log_action",
    "queueRegistrySizeCalculation": "superuser.py queues a background job without a log_action",
    "exportUserLogs": "the export worker logs export_logs_success/failure later, not the request",
    "exportOrgLogs": "the export worker logs export_logs_success/failure later, not the request",
    "exportRepoLogs": "the export worker logs export_logs_success/failure later, not the request",
    "createUserQuotaSuperUser": "superuser.py changes quotas without a log_action",
    "createOrganizationQuotaSuperUser": "superuser.py changes quotas without a log_action",
    "changeUserQuotaSuperUser": "superuser.py changes quotas without a log_action",
    "changeOrganizationQuotaSuperUser": "superuser.py changes quotas without a log_action",
    "deleteUserQuotaSuperUser": "superuser.py changes quotas without a log_action",
    "deleteOrganizationQuotaSuperUser": "superuser.py changes quotas without a log_action",
}
