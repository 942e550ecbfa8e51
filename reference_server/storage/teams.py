"""Storage queries for the teams area (a mixin of Db)."""

from __future__ import annotations

from reference_server.storage.base import BaseQueries


class TeamQueries(BaseQueries):
    pass
