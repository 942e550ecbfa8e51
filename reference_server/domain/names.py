"""Name rules Quay applies to namespaces, teams, repositories, tags and e-mail addresses."""

from __future__ import annotations

import re

NAMESPACE_PATTERN = r"^([a-z0-9]+(?:[._-][a-z0-9]+)*)$"
_NAMESPACE_RE = re.compile(NAMESPACE_PATTERN)
_REPO_RE = re.compile(r"^(?=.{0,255}$)[a-z0-9][\.a-z0-9_-]*(?:\/[a-z0-9][\.a-z0-9_-]*)*$")
_REPO_FLAT_RE = re.compile(r"^[a-z0-9][\.a-z0-9_-]{0,254}$")
TAG_PATTERN = r"^[\w][\w.-]{0,127}$"
_TAG_RE = re.compile(TAG_PATTERN, re.ASCII)
TAG_ERROR = (
    'Invalid tag: must match [A-Za-z0-9_.-], NOT start with "." or "-", '
    "and can contain 1-128 characters"
)


def namespace_error(name: str) -> str | None:
    """The reason a user/org/robot short name is refused, or None when it is valid."""
    if not _NAMESPACE_RE.match(name):
        return f"Namespace must match expression {NAMESPACE_PATTERN}"
    if len(name) < 2:
        return "Namespace must be between 2 and 255 characters in length"
    if len(name) > 255:
        return "Namespace must be between 2 and 255 characters in length"
    return None


def valid_repository_name(name: str, extended: bool = True) -> bool:
    return bool((_REPO_RE if extended else _REPO_FLAT_RE).match(name))


def valid_tag_name(name: str) -> bool:
    return bool(_TAG_RE.match(name))


def valid_email(address: str) -> bool:
    if len(address) > 254 or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    labels = domain.split(".")
    return bool(local) and len(labels) >= 2 and all(labels)


def valid_password(password: str) -> bool:
    return len(password) >= 8 and not any(c.isspace() for c in password)


def split_robot_name(name: str) -> tuple[str, str] | None:
    if "+" not in name:
        return None
    namespace, short = name.split("+", 1)
    return namespace, short
