"""Who may call each operation, written from Quay's rules (quay-api.md section A and B), never read from the
reference server. One row per operationId; the role and scope matrices derive their expectations from it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    ANYONE = "anyone"  # public; the handler may still filter what it shows
    USER = "user"  # any signed-in user acting on their own account
    REPO = "repo"  # a role on the repository of the path (public repos satisfy read)
    CREATE_REPO = "create_repo"  # creator or admin role in the target namespace
    ORG = "org"  # a team role in the organization of the path
    TEAM_VIEW = "team_view"  # a member of that team, or an org admin
    SUPERUSER = "superuser"
    SPECIAL = "special"  # needs a credential the matrix cannot give (bootstrap token, federated login)


@dataclass(frozen=True)
class Rule:
    kind: Kind
    role: str = ""  # repo: read|write|admin; org: member|creator|admin; user: read|admin
    gro: bool = False  # the global read-only superuser passes too
    full_access: bool = True  # a superuser with FEATURE_SUPERUSERS_FULL_ACCESS passes (repo/org kinds)
    full_access_only: bool = False  # superuser kind: plain superusers are refused (only SU-FA passes)
    needs_user_admin: bool = False  # also needs the user:admin scope (require_user_admin on top)
    csrf_exempt: bool = False
    refusal: int = 403  # the status an authenticated caller is refused with


ANYONE = Rule(Kind.ANYONE)
USER_ADMIN = Rule(Kind.USER, "admin")
OA = Rule(Kind.ORG, "admin")
OA_GRO = Rule(Kind.ORG, "admin", gro=True)
OM_GRO = Rule(Kind.ORG, "member", gro=True)
R = Rule(Kind.REPO, "read", gro=True)
W = Rule(Kind.REPO, "write")
A = Rule(Kind.REPO, "admin")
A_GRO = Rule(Kind.REPO, "admin", gro=True)
SU = Rule(Kind.SUPERUSER)
SU_GRO = Rule(Kind.SUPERUSER, gro=True)
# An organization's own quota writes (quay-api.md D5): the path names an organization, but no org role counts, not even
# admin (403); only a superuser with FEATURE_SUPERUSERS_FULL_ACCESS passes, and with a token only through super:user.
SU_FA_ONLY = Rule(Kind.SUPERUSER, full_access_only=True)

RULES: dict[str, Rule] = {
    # public
    "discovery": ANYONE, "getErrorDescription": ANYONE, "getRegistryCapabilities": ANYONE,
    "getApplicationInformation": ANYONE, "getMatchingEntities": ANYONE, "conductSearch": ANYONE,
    "conductRepoSearch": ANYONE, "getOrganization": ANYONE, "getUserInformation": ANYONE, "listRepos": ANYONE,
    "requestRecoveryEmail": ANYONE, "signinUser": ANYONE, "logout": ANYONE, "createNewUser": ANYONE,
    "retrieveExternalLoginAuthorizationUrl": ANYONE,
    # the signed-in user's own account
    # Quay refuses a token without user:read here as if it were anonymous: 401 invalid_token.
    "getLoggedInUser": Rule(Kind.USER, "read", refusal=401),
    "changeUserDetails": USER_ADMIN, "deleteCurrentUser": USER_ADMIN, "verifyUser": USER_ADMIN,
    "detachExternalLogin": USER_ADMIN, "generateUserClientKey": USER_ADMIN,
    "convertUserToOrganization": USER_ADMIN, "listStarredRepos": USER_ADMIN, "createStar": USER_ADMIN,
    "deleteStar": USER_ADMIN, "listUserNotifications": USER_ADMIN, "getUserNotification": USER_ADMIN,
    "updateUserNotification": USER_ADMIN, "listUserAuthorizations": USER_ADMIN,
    "getUserAuthorization": USER_ADMIN, "deleteUserAuthorization": USER_ADMIN,
    "listAssignedAuthorizations": USER_ADMIN, "deleteAssignedAuthorization": USER_ADMIN,
    "listAppTokens": USER_ADMIN, "createAppToken": USER_ADMIN, "getAppToken": USER_ADMIN,
    "revokeAppToken": USER_ADMIN, "createOrganization": USER_ADMIN,
    "acceptOrganizationTeamInvite": USER_ADMIN, "declineOrganizationTeamInvite": USER_ADMIN,
    "getUserRobots": USER_ADMIN, "getUserRobot": USER_ADMIN, "createUserRobot": USER_ADMIN,
    "deleteUserRobot": USER_ADMIN, "getUserRobotFederation": USER_ADMIN, "createUserRobotFederation": USER_ADMIN,
    "deleteUserRobotFederation": USER_ADMIN, "getUserRobotPermissions": USER_ADMIN,
    "regenerateUserRobotToken": USER_ADMIN,
    # organizations
    "changeOrganizationDetails": OA, "deleteAdminedOrganization": OA,
    "getOrganizationApplications": OA_GRO, "createOrganizationApplication": OA,
    "getOrganizationApplication": OA_GRO, "updateOrganizationApplication": OA,
    "deleteOrganizationApplication": OA, "resetOrganizationApplicationClientSecret": OA,
    "listOrganizationApplicationTokens": OA_GRO, "createOrganizationApplicationToken": OA,
    "deleteOrganizationApplicationToken": OA,
    "getOrganizationCollaborators": OA_GRO, "getOrganizationMembers": OA_GRO,
    "getOrganizationMember": OA_GRO, "removeOrganizationMember": OA,
    "getOrganizationPrototypePermissions": OA_GRO, "createOrganizationPrototypePermission": OA,
    "updateOrganizationPrototypePermission": OA, "deleteOrganizationPrototypePermission": OA,
    "getOrgRobots": OM_GRO, "getOrgRobot": OA_GRO, "createOrgRobot": OA, "deleteOrgRobot": OA,
    "getOrgRobotFederation": OA_GRO, "createOrgRobotFederation": OA, "deleteOrgRobotFederation": OA,
    "regenerateOrgRobotToken": OA,
    "getOrgRobotPermissions": Rule(Kind.ORG, "admin", gro=True, needs_user_admin=True),
    # teams
    "updateOrganizationTeam": OA, "deleteOrganizationTeam": OA, "updateOrganizationTeamMember": OA,
    "deleteOrganizationTeamMember": OA, "inviteTeamMemberEmail": OA, "deleteTeamMemberEmailInvite": OA,
    "getOrganizationTeamPermissions": OA_GRO,
    "getOrganizationTeamMembers": Rule(Kind.TEAM_VIEW, gro=True),
    # repositories
    "createRepo": Rule(Kind.CREATE_REPO, "creator"),
    "getRepo": R, "updateRepo": W, "deleteRepository": A, "changeRepoVisibility": A, "changeRepoState": A,
    "listRepoUserPermissions": A_GRO, "getUserPermissions": A_GRO, "changeUserPermissions": A,
    "deleteUserPermissions": A, "getUserTransitivePermission": A_GRO,
    "listRepoTeamPermissions": A_GRO, "getTeamPermissions": A_GRO, "changeTeamPermissions": A,
    "deleteTeamPermissions": A,
    "listRepoTokens": A_GRO, "getTokens": A_GRO, "createToken": A, "changeToken": A, "deleteToken": A,
    "checkRepoEmailAuthorized": A_GRO, "sendAuthorizeRepoEmail": A,
    # superuser panel
    "listAllUsers": SU_GRO, "getInstallUser": SU_GRO, "createInstallUser": SU, "changeInstallUser": SU,
    "deleteInstallUser": SU, "listAllOrganizations": SU_GRO, "changeOrganization": SU,
    "deleteOrganization": SU, "takeOwnership": SU, "getChangeLog": SU_GRO, "sendInstallUserRecoveryEmail": SU,
    "listAllAppTokens": Rule(Kind.SUPERUSER, gro=True, full_access_only=True),
    # tags, manifests, labels, security scan (R includes GRO; writes are W and never GRO)
    "listRepoTags": R, "changeTag": W, "deleteFullTag": W, "removeTagFromTimemachine": W,
    "getTagPullStatistics": R, "restoreTag": W,
    "getRepoManifest": R, "listManifestLabels": R, "addManifestLabel": W, "getManifestLabel": R,
    "deleteManifestLabel": W, "getManifestPullStatistics": R, "getRepoManifestSecurity": R,
    # quota: organization quota reads OM (+GRO, SU-FA), writes SU-FA only; the user's own quota
    "listOrganizationQuota": OM_GRO, "getOrganizationQuota": OM_GRO, "listOrganizationQuotaLimit": OM_GRO,
    "getOrganizationQuotaLimit": OM_GRO,
    "createOrganizationQuota": SU_FA_ONLY, "changeOrganizationQuota": SU_FA_ONLY,
    "deleteOrganizationQuota": SU_FA_ONLY, "createOrganizationQuotaLimit": SU_FA_ONLY,
    "changeOrganizationQuotaLimit": SU_FA_ONLY, "deleteOrganizationQuotaLimit": SU_FA_ONLY,
    "listUserQuota": USER_ADMIN, "getUserQuota": USER_ADMIN, "listUserQuotaLimit": USER_ADMIN,
    "getUserQuotaLimit": USER_ADMIN,
    # auto-prune policies
    "listOrganizationAutoPrunePolicies": OA_GRO, "getOrganizationAutoPrunePolicy": OA_GRO,
    "createOrganizationAutoPrunePolicy": OA, "updateOrganizationAutoPrunePolicy": OA,
    "deleteOrganizationAutoPrunePolicy": OA,
    "listRepositoryAutoPrunePolicies": A_GRO, "getRepositoryAutoPrunePolicy": A_GRO,
    "createRepositoryAutoPrunePolicy": A, "updateRepositoryAutoPrunePolicy": A, "deleteRepositoryAutoPrunePolicy": A,
    "listUserAutoPrunePolicies": USER_ADMIN, "getUserAutoPrunePolicy": USER_ADMIN,
    "createUserAutoPrunePolicy": USER_ADMIN, "updateUserAutoPrunePolicy": USER_ADMIN,
    "deleteUserAutoPrunePolicy": USER_ADMIN,
    # immutability policies
    "listOrgImmutabilityPolicies": OA_GRO, "getOrgImmutabilityPolicy": OA_GRO, "createOrgImmutabilityPolicy": OA,
    "updateOrgImmutabilityPolicy": OA, "deleteOrgImmutabilityPolicy": OA,
    "listRepositoryImmutabilityPolicies": A_GRO, "getRepositoryImmutabilityPolicy": A_GRO,
    "createRepositoryImmutabilityPolicy": A, "updateRepositoryImmutabilityPolicy": A,
    "deleteRepositoryImmutabilityPolicy": A,
    # logs; Quay lets the global read-only superuser export an organization's logs (a write), not a repository's
    "listUserLogs": USER_ADMIN, "getAggregateUserLogs": USER_ADMIN, "exportUserLogs": USER_ADMIN,
    "listOrgLogs": OA_GRO, "getAggregateOrgLogs": OA_GRO, "exportOrgLogs": OA_GRO,
    "listRepoLogs": A_GRO, "getAggregateRepoLogs": A_GRO, "exportRepoLogs": A,
    # superuser panel: logs, quotas of any namespace (no full access needed), registry size
    "listAllLogs": SU_GRO, "listAllAggregateLogs": SU_GRO,
    "listOrganizationQuotaSuperUser": SU_GRO, "createOrganizationQuotaSuperUser": SU,
    "changeOrganizationQuotaSuperUser": SU, "deleteOrganizationQuotaSuperUser": SU,
    "listUserQuotaSuperUser": SU_GRO, "createUserQuotaSuperUser": SU, "changeUserQuotaSuperUser": SU,
    "deleteUserQuotaSuperUser": SU,
    "getRegistrySize": SU_GRO, "queueRegistrySizeCalculation": SU,
    # credentials the matrix cannot hold
    "renewBootstrapToken": Rule(Kind.SPECIAL, csrf_exempt=True),
    # Without a federated login service Quay answers 404 to every signed-in caller, whatever their scopes.
    "linkExternalUser": Rule(Kind.USER, ""),
}

REPO_ROLES = ("", "read", "write", "admin")
TEAM_ROLES = ("", "member", "creator", "admin")
USER_ROLES = ("", "read", "admin")


def at_least(order: tuple[str, ...], held: str, needed: str) -> bool:
    return order.index(held) >= order.index(needed)
