"""Operations of the `org_app_tokens` area."""

from __future__ import annotations

from reference_server.core.operation import Operation

OPERATIONS: tuple[Operation, ...] = ()
