"""Security scan results of a manifest (discovery tag `secscan`).

The reference server has no vulnerability scanner. Quay without a configured scanner (Clair) answers this
endpoint with its no-op scanner, whose lookups always fail as "could not load": the endpoint turns that into
520 downstream_issue. We answer the same, after the same permission, repository and manifest checks.
"""

from __future__ import annotations

from typing import Any

from reference_server.api.manifest import DIGEST_RE
from reference_server.auth.scopes import RepoRole, Scope
from reference_server.core.context import Ctx
from reference_server.core.errors import ApiError, not_found
from reference_server.core.operation import REPOSITORY, Operation, RepoPermission, path_param, query_param

NO_SCANNER = "security scanner misconfigured"


def get_repo_manifest_security(ctx: Ctx, repository: str, manifestref: str) -> Any:
    repo = ctx.repository()
    # Any stored manifest qualifies, tagged or not (Quay looks dead manifests up too).
    manifest = ctx.db.manifest_by_digest(repo.id, manifestref) if DIGEST_RE.match(manifestref) else None
    if manifest is None:
        raise not_found()
    raise ApiError("downstream_issue", NO_SCANNER)


OPERATIONS = (
    Operation("GET", "/api/v1/repository/{repository}/manifest/{manifestref}/security", "getRepoManifestSecurity",
              "secscan", "Show the vulnerability scan status of a manifest.", get_repo_manifest_security,
              Scope.REPO_READ, RepoPermission(RepoRole.READ, global_readonly=True),
              params=(REPOSITORY, path_param("manifestref", "The manifest's digest, algorithm:hex."),
                      query_param("vulnerabilities", "Include the vulnerabilities found.", "boolean",
                                  default=False)),
              feature="SECURITY_SCANNER", other_statuses=(520,)),
)
