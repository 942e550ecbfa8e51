"""Errors raised by the harness itself. None of them means "the target is wrong": that is
`checks.TargetMismatch`, an AssertionError, so the outcome lattice can tell the two apart."""

from __future__ import annotations


class HarnessError(Exception):
    """Our own code, configuration or environment failed (outcome ERROR, exit code 2)."""


class ConfigError(HarnessError):
    """The settings cannot be used; the message is one line naming the setting."""


class UnknownOperation(HarnessError):
    """The target's discovery document has no such operationId.

    The pytest plugin reports a test that hits this as SKIPPED (the target lacks the feature); library callers
    see a clear error that is distinct from a target failure."""

    def __init__(self, operation_id: str) -> None:
        super().__init__(f"the target's discovery document has no operation {operation_id!r}")
        self.operation_id = operation_id


class AuthError(HarnessError):
    """Signing in or minting a token failed (wrong credentials, a flow the target refused)."""


class ServerStartError(HarnessError):
    """The reference server did not come up; the message carries the tail of its stderr."""


class MissingCredential(HarnessError):
    """A test needs a credential the configuration does not give (the superuser's password, say). The pytest plugin
    reports such a test as SKIPPED with this message: the run cannot check it, and it is not the target's fault."""
