"""Every operation the reference server serves, concatenated explicitly: a route is data you can read."""

from __future__ import annotations

from reference_server.api import (
    appspecifictokens,
    bootstrap,
    capabilities,
    discovery,
    error,
    immutability_policy,
    logs,
    manifest,
    namespacequota,
    org_app_tokens,
    organization,
    permission,
    policy,
    prototype,
    repoemail,
    repository,
    repotoken,
    robot,
    search,
    secscan,
    superuser,
    superuser_quota,
    tag,
    team,
    user,
)
from reference_server.core.operation import Operation
from reference_server.web import bootstrap as web_bootstrap
from reference_server.web import oauth

OPERATIONS: tuple[Operation, ...] = (
    *discovery.OPERATIONS,
    *error.OPERATIONS,
    *capabilities.OPERATIONS,
    *bootstrap.OPERATIONS,
    *user.OPERATIONS,
    *appspecifictokens.OPERATIONS,
    *organization.OPERATIONS,
    *org_app_tokens.OPERATIONS,
    *team.OPERATIONS,
    *prototype.OPERATIONS,
    *robot.OPERATIONS,
    *repository.OPERATIONS,
    *permission.OPERATIONS,
    *repotoken.OPERATIONS,
    *repoemail.OPERATIONS,
    *search.OPERATIONS,
    *superuser.OPERATIONS,
    *namespacequota.OPERATIONS,
    *superuser_quota.OPERATIONS,
    *logs.OPERATIONS,
    *tag.OPERATIONS,
    *manifest.OPERATIONS,
    *secscan.OPERATIONS,
    *policy.OPERATIONS,
    *immutability_policy.OPERATIONS,
    *web_bootstrap.OPERATIONS,
    *oauth.OPERATIONS,
)

_ids = [op.operation_id for op in OPERATIONS]
if len(_ids) != len(set(_ids)):
    raise ValueError(f"duplicate operationIds: {sorted({i for i in _ids if _ids.count(i) > 1})}")
