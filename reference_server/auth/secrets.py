"""Passwords (slow hash), bearer tokens (fast keyed hash), and the few secrets Quay shows again (encrypted)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

# Interactive-login strength (OWASP's argon2id minimum): ~10 ms per hash or verify on these machines.
STANDARD_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# argon2id at its lowest cost (~0.1 ms), for throwaway servers only (REFERENCE_FAST_PASSWORD_HASHING): the suites
# create and sign in thousands of users, and at the standard cost hashing was about 40% of the server's work.
# Hashes carry their own parameters, so either hasher verifies what the other stored.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_ROBOT_ALPHABET = string.ascii_uppercase + string.digits


class Secrets:
    def __init__(self, hmac_key: bytes, fernet_key: bytes) -> None:
        self._hmac_key = hmac_key
        self._fernet = Fernet(fernet_key)
        self.password_hasher = STANDARD_HASHER

    @staticmethod
    def generate_keys() -> tuple[str, str]:
        return secrets.token_hex(32), Fernet.generate_key().decode()

    def token_hash(self, token: str) -> str:
        """Bearer tokens are high-entropy, so a keyed SHA-256 is enough and keeps the hot path fast."""
        return hmac.new(self._hmac_key, token.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str | None:
        try:
            return self._fernet.decrypt(value.encode()).decode()
        except InvalidToken:
            return None

    def hash_password(self, password: str) -> str:
        return self.password_hasher.hash(password)

    def verify_password(self, stored: str | None, password: str) -> bool:
        if not stored:
            return False
        try:
            return self.password_hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False


def new_oauth_token() -> str:
    # Quay's access tokens are 40 characters of letters and digits.
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))


def new_robot_token() -> str:
    return "".join(secrets.choice(_ROBOT_ALPHABET) for _ in range(64))


def new_app_token() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(120))


def new_client_secret() -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(40))


def new_client_id() -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20))


def new_code() -> str:
    return secrets.token_urlsafe(24)
