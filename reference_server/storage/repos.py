"""Storage queries for the repos area (a mixin of Db)."""

from __future__ import annotations

from reference_server.storage.base import BaseQueries


class RepoQueries(BaseQueries):
    pass
