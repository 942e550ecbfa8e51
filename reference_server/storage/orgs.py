"""Storage queries for the orgs area (a mixin of Db)."""

from __future__ import annotations

from reference_server.storage.base import BaseQueries


class OrgQueries(BaseQueries):
    pass
