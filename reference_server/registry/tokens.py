"""Registry bearer tokens: RS256 JWTs in the Docker token-auth format, signed with the instance key.

The key is made on first start and kept (PEM) in the instance_secret table, so tokens survive restarts and
every process over the same database verifies the same signatures.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reference_server.storage import Storage

KEY_SECRET_NAME = "registry_jwt_rsa"
ISSUER = "quay"  # Quay's instance service name
TOKEN_LIFETIME_S = 3600
ANONYMOUS_SUB = "(anonymous)"
PULL_ACTIONS = frozenset({"pull", "push", "*"})  # any grant on a repository lets its holder read it
PUSH_ACTIONS = frozenset({"push", "*"})


@dataclass(frozen=True)
class Grant:
    """What a verified token says about its holder."""

    subject: str
    context: dict[str, Any]
    access: dict[str, frozenset[str]] = field(default_factory=dict)  # "ns/repo" -> actions

    @property
    def anonymous(self) -> bool:
        return self.subject == ANONYMOUS_SUB

    def can_pull(self, repository: str) -> bool:
        return bool(self.access.get(repository, frozenset()) & PULL_ACTIONS)

    def can_push(self, repository: str) -> bool:
        return bool(self.access.get(repository, frozenset()) & PUSH_ACTIONS)


class InvalidToken(Exception):
    pass


class TokenSigner:
    def __init__(self, storage: Storage) -> None:
        self._private = _load_or_create_key(storage)
        public = self._private.public_key()
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        # A stable key id derived from the public key, so a verifier can tell keys apart.
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")[:43]
        self._public = public

    def issue(self, *, audience: str | None, subject: str, context: dict[str, Any],
              access: list[dict[str, Any]]) -> str:
        issued = int(time.time())
        claims = {"iss": ISSUER, "aud": audience, "nbf": issued, "iat": issued,
                  "exp": issued + TOKEN_LIFETIME_S, "sub": subject, "access": access, "context": context}
        return jwt.encode(claims, self._private, algorithm="RS256", headers={"kid": self.kid})

    def verify(self, token: str, audience: str) -> Grant:
        try:
            claims = jwt.decode(token, self._public, algorithms=["RS256"], audience=audience, issuer=ISSUER,
                                options={"require": ["exp", "iat", "sub"]}, leeway=30)
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        access: dict[str, frozenset[str]] = {}
        for entry in claims.get("access") or []:
            if isinstance(entry, dict) and entry.get("type") == "repository":
                name = str(entry.get("name", ""))
                access[name] = access.get(name, frozenset()) | frozenset(str(a) for a in entry.get("actions", []))
        context = claims.get("context")
        return Grant(subject=str(claims["sub"]), context=context if isinstance(context, dict) else {},
                     access=access)


def _new_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _load_or_create_key(storage: Storage) -> rsa.RSAPrivateKey:
    pem = storage.instance_secret(KEY_SECRET_NAME, _new_key_pem)
    loaded = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded
