"""The personas of the role matrix and the fresh scene each matrix row runs against."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from harness.checks import expect
from harness.client import QuayClient
from harness.world import Persona, Target, World
from suites.security.calls import Scene
from suites.security.expectations import PERSONAS, Standing


@dataclass
class Cast:
    """One user per standing (made once per module), plus the anonymous client."""

    target: Target
    world: World
    people: dict[str, Persona] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def assemble(cls, target: Target, world: World, readonly: Persona | None) -> Cast:
        cast = cls(target, world)
        for standing in PERSONAS:
            if standing.anonymous:
                continue
            if standing.superuser:
                cast.people[standing.name] = world.admin
            elif standing.global_readonly:
                if readonly is not None:
                    cast.people[standing.name] = readonly
            else:
                cast.people[standing.name] = world.user()
        cast.people["outsider_target"] = world.user()  # the object of operations on "some other user"
        return cast

    def has(self, standing: Standing) -> bool:
        return standing.anonymous or standing.name in self.people

    def client(self, standing: Standing, scopes: list[str] | None = None) -> QuayClient:
        if standing.anonymous:
            return self.target.anon
        return self.people[standing.name].client(scopes)

    def unique(self) -> str:
        return f"m{next(self._counter)}"

    def scene(self, world: World) -> Scene:
        """A fresh organization administered by org_admin, with the standings of PERSONAS in it."""
        admin = self.people["org_admin"]
        org = world.org(owner=admin)
        team = world.team(org, role="member", members=[self.people["org_member"]], as_=admin)
        world.team(org, role="creator", members=[self.people["team_creator"]], as_=admin)
        repo = world.repo(org, as_=admin)
        for standing, role in (("repo_reader", "read"), ("repo_writer", "write"), ("repo_admin", "admin")):
            world.grant(repo, user=self.people[standing], role=role, as_=admin)
        robot = world.robot(org, as_=admin)
        app = expect(admin.client().call("createOrganizationApplication", orgname=org,
                                         json={"name": f"{org}app", "redirect_uri": "http://localhost/cb"}), 200)
        outsider = self.people["outsider_target"]
        return Scene(org=org, repo=repo, team=team, robot=robot.short, client_id=str(app["client_id"]),
                     outsider=outsider.name, outsider_password=outsider.password or "",
                     caller="", caller_password="", unique=self.unique())
