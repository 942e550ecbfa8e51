"""Password hashing: argon2id at the standard cost by default; the harness's throwaway servers may ask for the
lowest cost (REFERENCE_FAST_PASSWORD_HASHING), and hashes made either way verify under both."""

from __future__ import annotations

from typing import Any

import pytest

from reference_server.auth.secrets import FAST_HASHER, STANDARD_HASHER
from reference_server.config import ConfigError
from tests.conftest import Server
from tests.test_api_user import csrf


def stored_hash(server: Server, username: str) -> str:
    with server.storage.transaction() as db:
        user = db.user_by_name(username)
        assert user is not None
        stored = db.password_hash(user.id)
    assert stored is not None
    return stored


def signs_in(server: Server, username: str, password: str) -> bool:
    server.client.cookies.clear()
    answer = server.client.post("/api/v1/signin", json={"username": username, "password": password},
                                headers=csrf(server))
    return answer.status_code == 200 and answer.json().get("success") is True


def test_the_standard_cost_is_the_default_and_the_fast_one_is_asked_for(make_server: Any) -> None:
    with pytest.raises(ConfigError, match="REFERENCE_FAST_PASSWORD_HASHING"):
        make_server({"REFERENCE_FAST_PASSWORD_HASHING": "yes"})
    standard = make_server()
    fast = make_server({"REFERENCE_FAST_PASSWORD_HASHING": True})
    assert "$m=19456,t=2,p=1$" in stored_hash(standard, "admin")
    assert "$m=8,t=1,p=1$" in stored_hash(fast, "admin")
    assert signs_in(fast, "admin", "password1") and not signs_in(fast, "admin", "password2")


def test_hashes_of_either_cost_verify_under_both() -> None:
    for maker in (STANDARD_HASHER, FAST_HASHER):
        stored = maker.hash("password1")
        assert STANDARD_HASHER.verify(stored, "password1") and FAST_HASHER.verify(stored, "password1")
