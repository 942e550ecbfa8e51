"""How the matrices call each operation: path parameters, query and body, built from a fresh matrix world.

Sub-objects that do not matter for authorization are placeholders (`missing...`): a caller who passes the check
then gets 400/404 on the merits, which the matrix counts as allowed; a caller who fails it gets 401/403."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scene:
    """The fresh objects one matrix row runs against."""

    org: str  # organization administered by the org_admin persona
    repo: str  # "org/name", private
    team: str  # the org's member-role team (org_member sits in it)
    robot: str  # short name of an org robot
    client_id: str  # an OAuth application of the org
    outsider: str  # a user who belongs to nothing in the org
    outsider_password: str
    caller: str  # the persona making the call (for operations on one's own account)
    caller_password: str
    unique: str  # a fresh suffix for names created by the call


@dataclass(frozen=True)
class Call:
    path: dict[str, Any]  # path parameters, passed to QuayClient.call as keywords
    json: Any = None
    params: dict[str, str] | None = None
    # The call would destroy, convert or sign out the caller's own account: run it as a throwaway user instead.
    throwaway_caller: bool = False
    # The call writes to the caller's own account (a robot, an app token, a log export): a caller that is not the
    # run's own (the configured superuser, the read-only superuser) acts through a throwaway user, so nothing
    # outside the run's prefix is touched. Own-account rules do not depend on who the signed-in user is.
    writes_own_account: bool = False
    # The call sends the caller's password: a caller whose password the run does not hold (the superuser configured
    # with only a token) acts through a throwaway user, whose password it knows.
    needs_caller_password: bool = False

    def stand_in_needed(self, caller: str, password: str, run_owns: Callable[[str], bool]) -> bool:
        return (self.throwaway_caller or (self.writes_own_account and not run_owns(caller))
                or (self.needs_caller_password and not password))


CallSpec = Callable[[Scene], Call]
MISSING = "missingobj1"
NO_MANIFEST = "sha256:" + "0" * 64  # a well-formed digest no repository holds
NO_ID = "999999"  # a numeric id (quota, quota limit) that does not exist
EXPORT = {"callback_email": "x@example.com"}
PRUNE_POLICY = {"method": "number_of_tags", "value": 10}
IMMUTABILITY_POLICY = {"tagPattern": "^v.*"}
QUOTA = {"limit_bytes": 1000000}
QUOTA_LIMIT = {"type": "Warning", "threshold_percent": 80}


def _org(extra: dict[str, str] | None = None) -> CallSpec:
    return lambda s: Call({"orgname": s.org, **(extra or {})})


def _repo(extra: dict[str, str] | None = None, json: Any = None) -> CallSpec:
    return lambda s: Call({"repository": s.repo, **(extra or {})}, json)


def _tag(json: Any = None) -> CallSpec:
    return _repo({"tag": MISSING}, json)


def _manifest(extra: dict[str, str] | None = None, json: Any = None) -> CallSpec:
    return _repo({"manifestref": NO_MANIFEST, **(extra or {})}, json)


def _own(extra: dict[str, str] | None = None, json: Any = None) -> CallSpec:
    """An operation on the caller's own account."""
    return lambda s: Call(dict(extra or {}), json)


CALLS: dict[str, CallSpec] = {
    "discovery": lambda s: Call({}),
    "getErrorDescription": lambda s: Call({"error_type": "not_found"}),
    "getRegistryCapabilities": lambda s: Call({}),
    "getApplicationInformation": lambda s: Call({"client_id": s.client_id}),
    "getMatchingEntities": lambda s: Call({"prefix": s.outsider[:4]}, params={"namespace": s.org}),
    "conductSearch": lambda s: Call({}, params={"query": s.org}),
    "conductRepoSearch": lambda s: Call({}, params={"query": s.org}),
    "getOrganization": _org(),
    "getUserInformation": lambda s: Call({"username": s.outsider}),
    "listRepos": lambda s: Call({}, params={"namespace": s.org}),
    "requestRecoveryEmail": lambda s: Call({}, {"email": f"{s.outsider}@example.com"}),
    "signinUser": lambda s: Call({}, {"username": s.outsider, "password": s.outsider_password}),
    # Quay ends every session of the user who signs out: never the run's own superuser.
    "logout": lambda s: Call({}, throwaway_caller=True),
    "createNewUser": lambda s: Call({}, {"username": f"nu{s.unique}", "password": "short", "email": "bad"}),
    "retrieveExternalLoginAuthorizationUrl": lambda s: Call({"service_id": "missingservice"}, {"kind": "login"}),
    # own account
    "getLoggedInUser": lambda s: Call({}),
    "changeUserDetails": lambda s: Call({}, {}, writes_own_account=True),
    "deleteCurrentUser": lambda s: Call({}, throwaway_caller=True),
    "verifyUser": lambda s: Call({}, {"password": s.caller_password}, needs_caller_password=True),
    "detachExternalLogin": lambda s: Call({"service_id": "missingservice"}),
    "generateUserClientKey": lambda s: Call({}, {"password": s.caller_password}, needs_caller_password=True),
    "convertUserToOrganization": lambda s: Call({}, {"adminUser": s.outsider, "adminPassword": "wrong-password"},
                                                throwaway_caller=True),
    "listStarredRepos": lambda s: Call({}),
    "createStar": lambda s: Call({}, {"namespace": s.org, "repository": s.repo.split("/", 1)[1]},
                                 writes_own_account=True),
    "deleteStar": lambda s: Call({"repository": s.repo}, writes_own_account=True),
    "listUserNotifications": lambda s: Call({}),
    "getUserNotification": lambda s: Call({"uuid": MISSING}),
    "updateUserNotification": lambda s: Call({"uuid": MISSING}, {"dismissed": True}),
    "listUserAuthorizations": lambda s: Call({}),
    "getUserAuthorization": lambda s: Call({"access_token_uuid": MISSING}),
    "deleteUserAuthorization": lambda s: Call({"access_token_uuid": MISSING}),
    "listAssignedAuthorizations": lambda s: Call({}),
    "deleteAssignedAuthorization": lambda s: Call({"assigned_authorization_uuid": MISSING}),
    "listAppTokens": lambda s: Call({}),
    "createAppToken": lambda s: Call({}, {"title": f"matrix {s.unique}"}, writes_own_account=True),
    "getAppToken": lambda s: Call({"token_uuid": MISSING}),
    "revokeAppToken": lambda s: Call({"token_uuid": MISSING}),
    "createOrganization": lambda s: Call({}, {"name": f"{s.org}x{s.unique}", "email": f"o{s.unique}@example.com"}),
    "acceptOrganizationTeamInvite": lambda s: Call({"code": MISSING}),
    "declineOrganizationTeamInvite": lambda s: Call({"code": MISSING}),
    "getUserRobots": lambda s: Call({}),
    "getUserRobot": lambda s: Call({"robot_shortname": MISSING}),
    "createUserRobot": lambda s: Call({"robot_shortname": f"r{s.unique}"}, writes_own_account=True),
    "deleteUserRobot": lambda s: Call({"robot_shortname": MISSING}),
    "getUserRobotFederation": lambda s: Call({"robot_shortname": MISSING}),
    "createUserRobotFederation": lambda s: Call({"robot_shortname": MISSING}, []),
    "deleteUserRobotFederation": lambda s: Call({"robot_shortname": MISSING}),
    "getUserRobotPermissions": lambda s: Call({"robot_shortname": MISSING}),
    "regenerateUserRobotToken": lambda s: Call({"robot_shortname": MISSING}),
    # organization
    "changeOrganizationDetails": lambda s: Call({"orgname": s.org}, {}),
    "deleteAdminedOrganization": _org(),
    "getOrganizationApplications": _org(),
    "createOrganizationApplication": lambda s: Call({"orgname": s.org}, {"name": f"app{s.unique}"}),
    "getOrganizationApplication": _org({"client_id": MISSING}),
    "updateOrganizationApplication": lambda s: Call(
        {"orgname": s.org, "client_id": MISSING},
        {"name": "n", "redirect_uri": "http://localhost/cb", "application_uri": "http://localhost"}),
    "deleteOrganizationApplication": _org({"client_id": MISSING}),
    "resetOrganizationApplicationClientSecret": _org({"client_id": MISSING}),
    "listOrganizationApplicationTokens": lambda s: Call({"orgname": s.org, "client_id": s.client_id}),
    "createOrganizationApplicationToken": lambda s: Call({"orgname": s.org, "client_id": MISSING},
                                                         {"name": "matrix", "scope": "repo:read"}),
    "deleteOrganizationApplicationToken": lambda s: Call({"orgname": s.org, "client_id": s.client_id,
                                                          "token_uuid": MISSING}),
    "getOrganizationCollaborators": _org(),
    "getOrganizationMembers": _org(),
    "getOrganizationMember": lambda s: Call({"orgname": s.org, "membername": s.outsider}),
    "removeOrganizationMember": lambda s: Call({"orgname": s.org, "membername": s.outsider}),
    "getOrganizationPrototypePermissions": _org(),
    "createOrganizationPrototypePermission": lambda s: Call(
        {"orgname": s.org}, {"role": "read", "delegate": {"name": s.team, "kind": "team"}}),
    "updateOrganizationPrototypePermission": lambda s: Call({"orgname": s.org, "prototypeid": MISSING},
                                                            {"role": "write"}),
    "deleteOrganizationPrototypePermission": _org({"prototypeid": MISSING}),
    "getOrgRobots": _org(),
    "getOrgRobot": lambda s: Call({"orgname": s.org, "robot_shortname": s.robot}),
    "createOrgRobot": lambda s: Call({"orgname": s.org, "robot_shortname": f"r{s.unique}"}),
    "deleteOrgRobot": _org({"robot_shortname": MISSING}),
    "getOrgRobotFederation": lambda s: Call({"orgname": s.org, "robot_shortname": s.robot}),
    "createOrgRobotFederation": lambda s: Call({"orgname": s.org, "robot_shortname": MISSING}, []),
    "deleteOrgRobotFederation": _org({"robot_shortname": MISSING}),
    "getOrgRobotPermissions": lambda s: Call({"orgname": s.org, "robot_shortname": s.robot}),
    "regenerateOrgRobotToken": _org({"robot_shortname": MISSING}),
    # teams
    "updateOrganizationTeam": lambda s: Call({"orgname": s.org, "teamname": f"t{s.unique}"}, {"role": "member"}),
    "deleteOrganizationTeam": _org({"teamname": MISSING}),
    "getOrganizationTeamMembers": lambda s: Call({"orgname": s.org, "teamname": s.team}),
    "updateOrganizationTeamMember": lambda s: Call({"orgname": s.org, "teamname": s.team, "membername": MISSING}),
    "deleteOrganizationTeamMember": lambda s: Call({"orgname": s.org, "teamname": s.team, "membername": MISSING}),
    "inviteTeamMemberEmail": lambda s: Call({"orgname": s.org, "teamname": s.team,
                                             "email": f"i{s.unique}@example.com"}),
    "deleteTeamMemberEmailInvite": lambda s: Call({"orgname": s.org, "teamname": s.team,
                                                   "email": "nobody@example.com"}),
    "getOrganizationTeamPermissions": lambda s: Call({"orgname": s.org, "teamname": s.team}),
    # repositories
    "createRepo": lambda s: Call({}, {"namespace": s.org, "repository": f"r{s.unique}", "visibility": "private",
                                      "description": ""}),
    "getRepo": _repo(),
    "updateRepo": _repo(json={"description": "changed by the matrix"}),
    "deleteRepository": _repo(),
    "changeRepoVisibility": _repo(json={"visibility": "private"}),
    "changeRepoState": _repo(json={"state": "NORMAL"}),
    "listRepoUserPermissions": _repo(),
    "getUserPermissions": lambda s: Call({"repository": s.repo, "username": s.outsider}),
    "changeUserPermissions": lambda s: Call({"repository": s.repo, "username": s.outsider}, {"role": "read"}),
    "deleteUserPermissions": lambda s: Call({"repository": s.repo, "username": MISSING}),
    "getUserTransitivePermission": lambda s: Call({"repository": s.repo, "username": s.outsider}),
    "listRepoTeamPermissions": _repo(),
    "getTeamPermissions": lambda s: Call({"repository": s.repo, "teamname": s.team}),
    "changeTeamPermissions": lambda s: Call({"repository": s.repo, "teamname": s.team}, {"role": "read"}),
    "deleteTeamPermissions": lambda s: Call({"repository": s.repo, "teamname": MISSING}),
    "listRepoTokens": _repo(),
    "getTokens": _repo({"code": MISSING}),
    "createToken": _repo(json={"friendlyName": "matrix"}),
    "changeToken": _repo({"code": MISSING}, json={"role": "read"}),
    "deleteToken": _repo({"code": MISSING}),
    "checkRepoEmailAuthorized": _repo({"email": "nobody@example.com"}),
    "sendAuthorizeRepoEmail": _repo({"email": "nobody@example.com"}),
    # superuser panel
    "listAllUsers": lambda s: Call({}),
    "getInstallUser": lambda s: Call({"username": s.outsider}),
    "createInstallUser": lambda s: Call({}, {"username": "Invalid Name!", "email": "bad"}),
    "changeInstallUser": lambda s: Call({"username": MISSING}, {}),
    "deleteInstallUser": lambda s: Call({"username": MISSING}),
    "listAllOrganizations": lambda s: Call({}),
    "changeOrganization": lambda s: Call({"name": MISSING}, {}),
    "deleteOrganization": lambda s: Call({"name": MISSING}),
    "takeOwnership": lambda s: Call({"namespace": MISSING}),
    "getChangeLog": lambda s: Call({}),
    "sendInstallUserRecoveryEmail": lambda s: Call({"username": MISSING}),
    "listAllAppTokens": lambda s: Call({}),
    # tags and manifests: a tag and a manifest the repository does not have
    "listRepoTags": _repo(),
    "changeTag": _tag({"manifest_digest": NO_MANIFEST}),
    "deleteFullTag": _tag(),
    "removeTagFromTimemachine": _tag({"manifest_digest": NO_MANIFEST, "is_alive": False}),
    "getTagPullStatistics": _tag(),
    "restoreTag": _tag({"manifest_digest": NO_MANIFEST}),
    "getRepoManifest": _manifest(),
    "listManifestLabels": _manifest(),
    "addManifestLabel": _manifest(json={"key": "matrix", "value": "v", "media_type": "text/plain"}),
    "getManifestLabel": _manifest({"labelid": MISSING}),
    "deleteManifestLabel": _manifest({"labelid": MISSING}),
    "getManifestPullStatistics": _manifest(),
    "getRepoManifestSecurity": _manifest(),
    # organization quota (the scene's organization has none: reads list nothing, ids do not exist)
    "listOrganizationQuota": _org(),
    "createOrganizationQuota": lambda s: Call({"orgname": s.org}, QUOTA),
    "getOrganizationQuota": _org({"quota_id": NO_ID}),
    "changeOrganizationQuota": lambda s: Call({"orgname": s.org, "quota_id": NO_ID}, QUOTA),
    "deleteOrganizationQuota": _org({"quota_id": NO_ID}),
    "listOrganizationQuotaLimit": _org({"quota_id": NO_ID}),
    "createOrganizationQuotaLimit": lambda s: Call({"orgname": s.org, "quota_id": NO_ID}, QUOTA_LIMIT),
    "getOrganizationQuotaLimit": _org({"quota_id": NO_ID, "limit_id": NO_ID}),
    "changeOrganizationQuotaLimit": lambda s: Call({"orgname": s.org, "quota_id": NO_ID, "limit_id": NO_ID},
                                                   QUOTA_LIMIT),
    "deleteOrganizationQuotaLimit": _org({"quota_id": NO_ID, "limit_id": NO_ID}),
    "listUserQuota": _own(),
    "getUserQuota": _own({"quota_id": NO_ID}),
    "listUserQuotaLimit": _own({"quota_id": NO_ID}),
    "getUserQuotaLimit": _own({"quota_id": NO_ID, "limit_id": NO_ID}),
    # auto-prune policies
    "listOrganizationAutoPrunePolicies": _org(),
    "createOrganizationAutoPrunePolicy": lambda s: Call({"orgname": s.org}, PRUNE_POLICY),
    "getOrganizationAutoPrunePolicy": _org({"policy_uuid": MISSING}),
    "updateOrganizationAutoPrunePolicy": lambda s: Call({"orgname": s.org, "policy_uuid": MISSING}, PRUNE_POLICY),
    "deleteOrganizationAutoPrunePolicy": _org({"policy_uuid": MISSING}),
    "listRepositoryAutoPrunePolicies": _repo(),
    "createRepositoryAutoPrunePolicy": _repo(json=PRUNE_POLICY),
    "getRepositoryAutoPrunePolicy": _repo({"policy_uuid": MISSING}),
    "updateRepositoryAutoPrunePolicy": _repo({"policy_uuid": MISSING}, PRUNE_POLICY),
    "deleteRepositoryAutoPrunePolicy": _repo({"policy_uuid": MISSING}),
    "listUserAutoPrunePolicies": _own(),
    # A real policy on the caller's own namespace (the superuser's is shared by the whole run): use a throwaway user.
    "createUserAutoPrunePolicy": lambda s: Call({}, PRUNE_POLICY, throwaway_caller=True),
    "getUserAutoPrunePolicy": _own({"policy_uuid": MISSING}),
    "updateUserAutoPrunePolicy": _own({"policy_uuid": MISSING}, PRUNE_POLICY),
    "deleteUserAutoPrunePolicy": _own({"policy_uuid": MISSING}),
    # immutability policies
    "listOrgImmutabilityPolicies": _org(),
    "createOrgImmutabilityPolicy": lambda s: Call({"orgname": s.org}, IMMUTABILITY_POLICY),
    "getOrgImmutabilityPolicy": _org({"policy_uuid": MISSING}),
    "updateOrgImmutabilityPolicy": lambda s: Call({"orgname": s.org, "policy_uuid": MISSING}, IMMUTABILITY_POLICY),
    "deleteOrgImmutabilityPolicy": _org({"policy_uuid": MISSING}),
    "listRepositoryImmutabilityPolicies": _repo(),
    "createRepositoryImmutabilityPolicy": _repo(json=IMMUTABILITY_POLICY),
    "getRepositoryImmutabilityPolicy": _repo({"policy_uuid": MISSING}),
    "updateRepositoryImmutabilityPolicy": _repo({"policy_uuid": MISSING}, IMMUTABILITY_POLICY),
    "deleteRepositoryImmutabilityPolicy": _repo({"policy_uuid": MISSING}),
    # logs
    "listUserLogs": _own(),
    "getAggregateUserLogs": _own(),
    "exportUserLogs": lambda s: Call({}, EXPORT, writes_own_account=True),
    "listOrgLogs": _org(),
    "getAggregateOrgLogs": _org(),
    "exportOrgLogs": lambda s: Call({"orgname": s.org}, EXPORT),
    "listRepoLogs": _repo(),
    "getAggregateRepoLogs": _repo(),
    "exportRepoLogs": _repo(json=EXPORT),
    # superuser panel: logs, any namespace's quota (the scene's organization, the outsider's account), registry size
    "listAllLogs": lambda s: Call({}),
    "listAllAggregateLogs": lambda s: Call({}),
    "listOrganizationQuotaSuperUser": lambda s: Call({"namespace": s.org}),
    "createOrganizationQuotaSuperUser": lambda s: Call({"namespace": s.org}, QUOTA),
    "changeOrganizationQuotaSuperUser": lambda s: Call({"namespace": s.org, "quota_id": NO_ID}, QUOTA),
    "deleteOrganizationQuotaSuperUser": lambda s: Call({"namespace": s.org, "quota_id": NO_ID}),
    "listUserQuotaSuperUser": lambda s: Call({"namespace": s.outsider}),
    "createUserQuotaSuperUser": lambda s: Call({"namespace": s.outsider}, QUOTA),
    "changeUserQuotaSuperUser": lambda s: Call({"namespace": s.outsider, "quota_id": NO_ID}, QUOTA),
    "deleteUserQuotaSuperUser": lambda s: Call({"namespace": s.outsider, "quota_id": NO_ID}),
    "getRegistrySize": lambda s: Call({}),
    "queueRegistrySizeCalculation": lambda s: Call({}),
    "renewBootstrapToken": lambda s: Call({}),
    "linkExternalUser": lambda s: Call({"username": MISSING}),
}
