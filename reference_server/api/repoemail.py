"""Authorizing e-mail addresses to receive a repository's notifications (discovery tag `repoemail`)."""

from __future__ import annotations

from typing import Any

from reference_server.auth.scopes import Scope
from reference_server.core.context import Ctx
from reference_server.core.errors import MessageError
from reference_server.core.operation import (
    REPO_ADMIN,
    REPO_ADMIN_OR_GRO,
    REPOSITORY,
    Operation,
    path_param,
)
from reference_server.domain.models import Repository
from reference_server.storage.repos import AuthorizedEmail

# Werkzeug's text for a bare 404, which is what Quay's handler sends when nothing is on record.
NOT_FOUND_MESSAGE = ("The requested URL was not found on the server. If you entered the URL manually please "
                     "check your spelling and try again.")
MAIL_KIND = "repo_authorization"


def _view(ctx: Ctx, repo: Repository, record: AuthorizedEmail) -> dict[str, Any]:
    # The confirmation code goes only to the mailbox; Quay removes it from the answer.
    return {"email": record.email, "repository": repo.name, "namespace": repo.namespace,
            "confirmed": record.confirmed}


def check_repo_email_authorized(ctx: Ctx, repository: str, email: str) -> Any:
    repo = ctx.repo
    record = ctx.db.authorized_email(repo.id, email) if repo is not None else None
    if repo is None or record is None:
        raise MessageError(404, NOT_FOUND_MESSAGE)
    return _view(ctx, repo, record)


def send_authorize_repo_email(ctx: Ctx, repository: str, email: str) -> Any:
    repo = ctx.repository()
    record = ctx.db.authorized_email(repo.id, email)
    if record is not None and record.confirmed:
        return _view(ctx, repo, record)
    if record is None:
        record = ctx.db.create_authorized_email(repo.id, email)
    # No mail relay: the message is recorded in the outbox, code included, so a test can confirm it.
    # Quay writes no audit entry for this operation, so neither do we.
    ctx.db.record_mail(MAIL_KIND, email, {"namespace": repo.namespace, "repository": repo.name,
                                          "code": ctx.db.repo_email_code(repo.id, email)})
    return _view(ctx, repo, record)


EMAIL = path_param("email", "The e-mail address.")
_PATH = "/api/v1/repository/{repository}/authorizedemail/{email}"

OPERATIONS = (
    Operation("GET", _PATH, "checkRepoEmailAuthorized", "repoemail",
              "Show whether an e-mail address may receive the repository's notifications.",
              check_repo_email_authorized, Scope.REPO_ADMIN, REPO_ADMIN_OR_GRO,
              params=(REPOSITORY, EMAIL), internal=True, feature="MAILING"),
    Operation("POST", _PATH, "sendAuthorizeRepoEmail", "repoemail",
              "Send a confirmation mail so an address may receive the repository's notifications.",
              send_authorize_repo_email, Scope.REPO_ADMIN, REPO_ADMIN,
              params=(REPOSITORY, EMAIL), internal=True, feature="MAILING"),
)
