"""Derive known_deviations.yaml by comparing Quay's discovery document with the research notes on what Quay does.

    .venv/bin/python -m suites.fuzz.derive_known_deviations [--discovery PATH] [--notes PATH] [--write]

Inputs (defaults: ../shared beside the project, the team's read-only reference material):
  * quay-discovery-internal.json: Quay's own GET /api/v1/discovery?internal=true;
  * quay-api.md section A: one table row per operation with the status Quay returns ("success" column) and notes
    that name other statuses it answers with ("202 if already queued", "429 queue limit").

Output: the operations whose document omits a status Quay returns (2xx and 4xx; a 5xx is never excused), the
operations the document guards with an OAuth scope although Quay serves anonymous callers ("who" column ANON), and
the error bodies other than ApiError that Quay's api/v1 answers with (section C: {"message"}, {"error"} ...).
The result is printed (or written over known_deviations.yaml with --write) for a person to review before it is
committed; the fuzz suite reads only the committed file and never needs ../shared at run time.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared"
_ROW = re.compile(r"^\|\s*\d+\s*\|(?P<cells>.*)\|\s*$")
_CODE = re.compile(r"(?<![\d.])([24]\d\d)(?![\d.])")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass(frozen=True)
class Row:
    """One row of quay-api.md's table A."""

    operation_id: str
    who: str
    success: int
    notes: str


def parse_table(markdown: str) -> list[Row]:
    """Rows `| # | METHOD path | nickname | scope | who | success | notes |`; rows without a nickname are skipped."""
    rows = []
    for line in markdown.splitlines():
        match = _ROW.match(line)
        if not match:
            continue
        cells = [c.strip() for c in match["cells"].split("|")]
        if len(cells) < 6 or not re.fullmatch(r"[A-Za-z]\w*", cells[1]) or not cells[4].isdigit():
            continue
        rows.append(Row(cells[1], cells[3], int(cells[4]), " | ".join(cells[5:])))
    return rows


def statuses_in_notes(notes: str) -> set[int]:
    """2xx/4xx HTTP statuses the notes say Quay answers with; other numbers (sizes, limits) are not statuses."""
    found = set()
    for match in _CODE.finditer(notes):
        code = int(match.group(1))
        if code in HTTPStatus._value2member_map_:
            found.add(code)
    return found


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    ops = {}
    for entry in document.get("paths", {}).values():
        for method in _METHODS:
            op = entry.get(method)
            if isinstance(op, dict) and "operationId" in op:
                ops[op["operationId"]] = op
    return ops


def _snippet(notes: str, code: int) -> str:
    for part in re.split(r";\s*", notes):
        if str(code) in part:
            return part.strip()
    return notes.strip()


def error_shapes(markdown: str) -> list[dict[str, str]]:
    """The api/v1 error bodies quay-api.md section C lists besides ApiError, as the one key each carries."""
    section = markdown.split("## C.", 1)[-1].split("\n## D.", 1)[0]
    keys: dict[str, str] = {}
    for line in section.splitlines():
        if re.match(r"^\d\. ", line) and "not api/v1" not in line:
            for key in re.findall(r'`\{"([a-z_]+)":', line):
                keys.setdefault(key, line.split(":", 1)[0].strip("0123456789. "))
    return [{"key": key, "reason": f"Quay also answers errors as {{\"{key}\": <text>}} ({origin}), which its "
                                   f"discovery documents as ApiError"} for key, origin in keys.items()]


def derive(document: dict[str, Any], rows: list[Row]) -> dict[str, list[dict[str, Any]]]:
    ops = _operations(document)
    statuses: list[dict[str, Any]] = []
    anonymous: list[dict[str, Any]] = []
    for row in rows:
        op = ops.get(row.operation_id)
        if op is None:
            continue
        documented = sorted(int(k) for k in op.get("responses", {}) if str(k).isdigit())
        success_shown = ", ".join(str(c) for c in documented if 200 <= c < 300) or "no success status"
        returned = {row.success: f"Quay's normal answer is {row.success}; its discovery documents {success_shown}"}
        for code in sorted(statuses_in_notes(row.notes) - {row.success}):
            returned[code] = f"Quay also answers {code} ({_snippet(row.notes, code)!r}); its discovery omits it"
        for code, reason in sorted(returned.items()):
            if code not in documented:
                statuses.append({"operationId": row.operation_id, "status": code, "reason": reason})
        if row.who.upper().startswith("ANON") and op.get("security"):
            scopes = ", ".join(s for req in op["security"] for s in req.get("oauth2_implicit", []))
            anonymous.append({"operationId": row.operation_id,
                              "reason": f"Quay serves anonymous callers ({row.who}) although its discovery "
                                        f"declares the scope {scopes}"})
    return {"statuses": statuses, "anonymous": anonymous}


HEADER = """\
# Known deviations of Quay's own discovery document (GET /api/v1/discovery?internal=true) from what Quay does.
# The fuzz suite adds each listed status to the operation's documented responses, makes the listed operations'
# security optional, and lets ApiError also take the listed error bodies, in its copy of the target's document
# before testing, and reports every correction it applied. Nothing else is excused: an unlisted undocumented
# status, or an error body of another shape, still fails.
#
# Generated by `python -m suites.fuzz.derive_known_deviations --write` from ../shared/quay-discovery-internal.json
# and the table in ../shared/quay-api.md section A, then reviewed. Regenerate rather than edit by hand.
"""


def render(result: dict[str, list[dict[str, Any]]]) -> str:
    return HEADER + yaml.safe_dump(result, sort_keys=False, width=200, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--discovery", type=Path, default=SHARED / "quay-discovery-internal.json")
    parser.add_argument("--notes", type=Path, default=SHARED / "quay-api.md")
    parser.add_argument("--write", action="store_true", help="overwrite known_deviations.yaml")
    args = parser.parse_args(argv)
    notes = args.notes.read_text()
    result = {**derive(json.loads(args.discovery.read_text()), parse_table(notes)), "error_bodies": error_shapes(notes)}
    text = render(result)
    if args.write:
        (HERE / "known_deviations.yaml").write_text(text)
        print(f"wrote {len(result['statuses'])} status, {len(result['anonymous'])} anonymous and "
              f"{len(result['error_bodies'])} error body deviations", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
