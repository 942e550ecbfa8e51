"""Operations of the `bootstrap` area."""

from __future__ import annotations

from reference_server.core.operation import Operation

OPERATIONS: tuple[Operation, ...] = ()
