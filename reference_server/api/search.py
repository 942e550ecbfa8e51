"""Entity autocomplete and registry-wide search (discovery tag `search`)."""

from __future__ import annotations

import unicodedata
from typing import Any

from reference_server.auth.authz import effective_user_role
from reference_server.auth.scopes import Scope, TeamRole, UserRole
from reference_server.core.context import Ctx
from reference_server.core.errors import MessageError
from reference_server.core.operation import Anyone, HandlerChecks, Operation, path_param, query_param
from reference_server.core.render import avatar
from reference_server.domain.models import Repository, Team, User
from reference_server.domain.names import split_robot_name

ENTITY_SCORE = 1
TEAM_SCORE = 2
REPOSITORY_SCORE = 4
RESULTS_PER_PAGE = 10
MAX_PAGE = 10
NOT_FOUND_MESSAGE = ("The requested URL was not found on the server. If you entered the URL manually please "
                     "check your spelling and try again.")


# ---- string similarity ------------------------------------------------------------------------------------
# The LiquidMetal scheme (as in Quicksilver-style launchers): each character of the candidate gets a score,
# 1 where the query's letters match in order, a little less around word starts and after the last match,
# and the candidate's score is the mean. No ordered match at all scores 0.

_MATCH, _TRAILING, _TRAILING_STARTED, _BUFFER, _NO_MATCH = 1.0, 0.8, 0.9, 0.85, 0.0
_SEPARATORS = " \t_-"


def similarity(candidate: str, query: str) -> float:
    if not query:
        return _TRAILING
    if len(query) > len(candidate):
        return _NO_MATCH
    lower = candidate.lower()
    scores = [_NO_MATCH] * len(candidate)
    last = -1
    started = False
    for char in query.lower():
        index = lower.find(char, last + 1)
        if index < 0:
            return _NO_MATCH
        if index == 0:
            started = True
        if index > 0 and candidate[index - 1] in _SEPARATORS:
            # A match at the start of a word: the separator counts fully, the skipped text partly.
            scores[index - 1] = _MATCH
            for i in range(last + 1, index - 1):
                scores[i] = _BUFFER
        elif candidate[index].isupper():
            for i in range(last + 1, index):
                scores[i] = _BUFFER
        scores[index] = _MATCH
        last = index
    trailing = _TRAILING_STARTED if started else _TRAILING
    for i in range(last + 1, len(candidate)):
        scores[i] = trailing
    return sum(scores) / len(scores)


# ---- views ----------------------------------------------------------------------------------------------


def entity_view(caller: str | None, entity: User, short_name: bool = False) -> dict[str, Any]:
    """How find/all shows a user, organization or robot (also the `namespace` of a repository hit)."""
    kind, title, href = "user", "user", "/user/" + entity.username
    entity_avatar: dict[str, str] | None = avatar(entity.username, entity.email, "user")
    if entity.organization:
        kind, title, href = "organization", "org", "/organization/" + entity.username
        entity_avatar = avatar(entity.username, entity.email, "org")
    elif entity.robot:
        owner = (split_robot_name(entity.username) or (entity.username, ""))[0]
        where = "/user/" + owner if owner == caller else "/organization/" + owner
        kind, title, href = "robot", "robot", f"{where}?tab=robots&showRobot={entity.username}"
        entity_avatar = None
    view: dict[str, Any] = {"title": title, "kind": kind, "avatar": entity_avatar, "name": entity.username,
                            "score": ENTITY_SCORE, "href": href}
    if short_name:
        view["short_name"] = (split_robot_name(entity.username) or ("", entity.username))[1]
    return view


def repo_view(ctx: Ctx, caller: str | None, repo: Repository, **extra: Any) -> dict[str, Any]:
    kind = "application" if repo.kind == "application" else "repository"
    namespace = ctx.db.user_by_id(repo.namespace_id)
    assert namespace is not None
    view: dict[str, Any] = {
        "kind": kind, "title": "app" if kind == "application" else "repo",
        "namespace": entity_view(caller, namespace), "name": repo.name, "description": repo.description,
        "is_public": repo.is_public, "score": REPOSITORY_SCORE,
        "href": f"/{kind}/{repo.namespace}/{repo.name}",
    }
    view.update({k: v for k, v in extra.items() if v is not None})
    return view


def team_hit(team: Team, org: User, caller: str) -> dict[str, Any]:
    return {"kind": "team", "name": team.name, "organization": entity_view(caller, org),
            "avatar": avatar(team.name, None, "team"), "score": TEAM_SCORE,
            "href": f"/organization/{org.username}/teams/{team.name}"}


# ---- handlers ---------------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Names are ASCII, so fold the query to ASCII, drop spaces and lower-case it."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return ascii_text.replace(" ", "").lower()


def get_matching_entities(ctx: Ctx, prefix: str) -> Any:
    prefix = _fold(prefix)
    namespace_name: str = ctx.query["namespace"] or ""
    user = ctx.user
    namespace = ctx.db.user_by_name(namespace_name) if namespace_name else None
    organization = namespace if namespace is not None and namespace.organization else None
    robot_namespace: str | None = None
    teams: list[Team] = []
    org_data: list[dict[str, Any]] = []
    if organization is not None:
        if ctx.org_role(organization) >= TeamRole.MEMBER or ctx.has_full_access():
            robot_namespace = namespace_name
            if ctx.query["includeTeams"]:
                teams = ctx.db.org_teams_with_prefix(organization.id, prefix)
            # Quay offers the organization itself to any member here (its admin check is never evaluated).
            if ctx.query["includeOrgs"] and namespace_name.startswith(prefix):
                org_data = [{"name": namespace_name, "kind": "org", "is_org_member": True,
                             "avatar": avatar(organization.username, organization.email, "org")}]
    elif user is not None and user.username == namespace_name \
            and effective_user_role(ctx.identity) >= UserRole.ADMIN:
        robot_namespace = namespace_name
    users = ctx.db.matching_users(prefix, robot_namespace=robot_namespace, limit=10,
                                  exact_only=not ctx.config.feature("PARTIAL_USER_AUTOCOMPLETE"))
    members = ctx.db.org_member_ids(organization.id) if organization is not None else set()
    results: list[dict[str, Any]] = [
        {"name": team.name, "kind": "team", "is_org_member": True, "avatar": avatar(team.name, None, "team")}
        for team in teams]
    for found in users:
        view: dict[str, Any] = {"name": found.username, "kind": "user", "is_robot": found.robot,
                                "avatar": avatar(found.username, found.email, "robot" if found.robot else "user")}
        if organization is not None:
            view["is_org_member"] = found.robot or found.id in members
        results.append(view)
    return {"results": results + org_data}


def conduct_search(ctx: Ctx) -> Any:
    query: str = ctx.query["query"] or ""
    if not query:
        return {"results": []}
    user = ctx.user
    caller = user.username if user is not None else None
    results: list[dict[str, Any]] = []
    if user is not None:
        seen: set[int] = set()
        for admined in (False, True):
            for team, org in ctx.db.matching_teams(query, user_id=user.id, admined=admined, limit=5):
                if team.id not in seen:
                    seen.add(team.id)
                    results.append(team_hit(team, org, user.username))
        for robot in ctx.db.matching_robots(query, user=user, limit=5):
            results.append(entity_view(caller, robot, short_name=True))
    user_id = user.id if user is not None else None
    for repo in ctx.db.matching_repositories(query, user_id=user_id, offset=0, limit=5):
        results.append(repo_view(ctx, caller, repo))
    for entity in ctx.db.matching_namespaces(query, user_id=user_id, limit=5):
        results.append(entity_view(caller, entity))
    # Weigh each hit by how closely its name resembles the query (an unrelated name still keeps half).
    for hit in results:
        hit["score"] = hit["score"] * (similarity(hit.get("short_name", hit["name"]), query) or 0.5)
    return {"results": sorted(results, key=lambda hit: hit["score"], reverse=True)}


def conduct_repo_search(ctx: Ctx) -> Any:
    query: str = ctx.query["query"] or ""
    page = min(max(1, ctx.query["page"] or 1), MAX_PAGE)
    offset = (page - 1) * RESULTS_PER_PAGE
    user = ctx.user
    caller = user.username if user is not None else None
    # Quay asks for offset + one page + one rows starting at the offset; only the first page is kept.
    repos = ctx.db.matching_repositories(query, user_id=user.id if user is not None else None, offset=offset,
                                         limit=offset + RESULTS_PER_PAGE + 1)
    if ctx.query["includeUsage"]:
        ids = [r.id for r in repos]
        stars = ctx.db.star_counts(ids)
        sums = ctx.db.repo_action_sums(ids)
        results = [repo_view(ctx, caller, r, stars=stars.get(r.id, 0), popularity=float(sums.get(r.id, 0)))
                   for r in repos]
    else:
        # Quay adds the usage fields (stars, popularity, last_modified) only when includeUsage is asked for.
        results = [repo_view(ctx, caller, r) for r in repos]
    return {"results": results[:RESULTS_PER_PAGE], "has_additional": len(results) > RESULTS_PER_PAGE,
            "page": page, "page_size": RESULTS_PER_PAGE, "start_index": offset}


def link_external_user(ctx: Ctx, username: str) -> Any:
    # Linking needs a federated login service (LDAP, Keystone...); the reference server has none, and
    # Quay answers a bare 404 before looking at the caller in that case.
    raise MessageError(404, NOT_FOUND_MESSAGE)


OPERATIONS = (
    Operation("POST", "/api/v1/entities/link/{username}", "linkExternalUser", "search",
              "Link a user of the external login service to a registry account.", link_external_user, None,
              HandlerChecks("404 without a federated login service, before any identity check"),
              params=(path_param("username", "The user's name in the external service."),), internal=True),
    Operation("GET", "/api/v1/entities/{prefix}", "getMatchingEntities", "search",
              "Suggest users, robots, teams and organizations whose names start with a prefix.",
              get_matching_entities, None, Anyone(),
              params=(path_param("prefix", "The start of the names to look for."),
                      query_param("includeOrgs", "Also suggest the organization itself.", "boolean",
                                  default=False),
                      query_param("includeTeams", "Also suggest the organization's teams.", "boolean",
                                  default=False),
                      query_param("namespace", "The organization or user whose robots and teams to include.",
                                  default=""))),
    Operation("GET", "/api/v1/find/all", "conductSearch", "search",
              "Search repositories, users, organizations, teams and robots by name.", conduct_search,
              Scope.REPO_READ, Anyone(), params=(query_param("query", "The text to look for.", default=""),)),
    Operation("GET", "/api/v1/find/repositories", "conductRepoSearch", "search",
              "Search the repositories the caller can see, ten per page.", conduct_repo_search, None, Anyone(),
              params=(query_param("includeUsage", "Add storage usage to each result.", "boolean", default=False),
                      query_param("page", "The page of results, from 1.", "integer", default=1),
                      query_param("query", "The text to look for.", default=""))),
)
