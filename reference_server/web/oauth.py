"""The OAuth implicit grant (/oauth/authorize, /oauth/authorizeapp, /oauth/localapp)."""

from __future__ import annotations

from reference_server.core.operation import Operation

OPERATIONS: tuple[Operation, ...] = ()
