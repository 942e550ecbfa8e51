"""Conformance of repository e-mail authorization (`/repository/{r}/authorizedemail/{email}`, MAILING): starting
an authorization answers the record without its confirmation code, checking an unknown address is 404, and both
need repo admin. Expectations are Quay's (quay-api.md A rows 120-121, D11)."""

from __future__ import annotations

import pytest

from harness.checks import expect
from harness.world import Persona, Target, World

pytestmark = pytest.mark.area("repoemail")


def _org_repo(world: World) -> tuple[Persona, str, str]:
    owner = world.user()
    org = world.org(owner=owner)
    return owner, org, world.repo(org, as_=owner)


@pytest.mark.operation("sendAuthorizeRepoEmail", "checkRepoEmailAuthorized")
def test_send_authorization_returns_the_unconfirmed_record_without_code(world: World, target: Target) -> None:
    owner, org, repo = _org_repo(world)
    email = f"{target.next_name('mail')}@example.com"
    body = expect(owner.client().call("sendAuthorizeRepoEmail", repository=repo, email=email), 200)
    assert body == {"email": email, "repository": repo.split("/", 1)[1], "namespace": org, "confirmed": False}
    again = expect(owner.client().call("checkRepoEmailAuthorized", repository=repo, email=email), 200)
    assert again == body


@pytest.mark.operation("sendAuthorizeRepoEmail")
def test_sending_authorization_twice_keeps_one_unconfirmed_record(world: World, target: Target) -> None:
    owner, _, repo = _org_repo(world)
    email = f"{target.next_name('mail')}@example.com"
    first = expect(owner.client().call("sendAuthorizeRepoEmail", repository=repo, email=email), 200)
    second = expect(owner.client().call("sendAuthorizeRepoEmail", repository=repo, email=email), 200)
    assert first == second and "code" not in second


@pytest.mark.operation("checkRepoEmailAuthorized")
def test_checking_an_address_never_authorized_is_404(world: World, target: Target) -> None:
    owner, _, repo = _org_repo(world)
    response = owner.client().call("checkRepoEmailAuthorized", repository=repo,
                                   email=f"{target.next_name('mail')}@example.com")
    assert response.status_code == 404


@pytest.mark.operation("checkRepoEmailAuthorized", "sendAuthorizeRepoEmail")
def test_repo_email_authorization_is_403_for_writer_and_401_for_anonymous(world: World, target: Target) -> None:
    owner, _, repo = _org_repo(world)
    writer = world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    email = f"{target.next_name('mail')}@example.com"
    expect(writer.client().call("sendAuthorizeRepoEmail", repository=repo, email=email), 403,
           error_type="insufficient_scope")
    expect(writer.client().call("checkRepoEmailAuthorized", repository=repo, email=email), 403,
           error_type="insufficient_scope")
    expect(target.anon.call("checkRepoEmailAuthorized", repository=repo, email=email), 401,
           error_type="invalid_token")
    assert owner.client().call("checkRepoEmailAuthorized", repository=repo, email=email).status_code == 404


@pytest.mark.operation("sendAuthorizeRepoEmail")
def test_repo_email_authorization_with_token_lacking_repo_admin_is_403(world: World, target: Target) -> None:
    owner, _, repo = _org_repo(world)
    expect(owner.client(["repo:write", "org:admin"]).call("sendAuthorizeRepoEmail", repository=repo,
                                                          email=f"{target.next_name('mail')}@example.com"),
           403, error_type="insufficient_scope")
