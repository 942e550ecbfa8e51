"""Storage queries for the robots area (a mixin of Db)."""

from __future__ import annotations

from reference_server.storage.base import BaseQueries


class RobotQueries(BaseQueries):
    pass
