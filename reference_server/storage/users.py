"""Storage queries for the users area (a mixin of Db)."""

from __future__ import annotations

from reference_server.domain.models import User
from reference_server.storage.base import BaseQueries


class UserQueries(BaseQueries):

    def organizations_of(self, user_id: int) -> list[User]:
        """Organizations where the user sits in at least one team."""
        from sqlalchemy import select

        from reference_server.storage import schema as t
        from reference_server.storage.base import _USER_COLS, user_from_row

        rows = self.conn.execute(
            select(*_USER_COLS).distinct()
            .select_from(t.user.join(t.team, t.team.c.org_id == t.user.c.id)
                         .join(t.team_member, t.team_member.c.team_id == t.team.c.id))
            .where(t.team_member.c.user_id == user_id).order_by(t.user.c.username)
        ).all()
        return [user_from_row(r) for r in rows]
