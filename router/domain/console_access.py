"""Who may do what in the console: roles and their permissions (pure, no I/O).

One table decides access for the pages, the console's actions and the tests; a role
gains a page by gaining its permission here, never by a check written in a handler.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"  # linked to one operator id of the rules: sees their own page
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Permission(StrEnum):
    OWN_PAGE = "own_page"  # the operator page of the operator the user is linked to
    WALLBOARD = "wallboard"
    SUPERVISE = "supervise"  # pause/resume others, listen, move callers, work tasks
    RULES = "rules"
    AUDIT = "audit"
    FULL_NUMBERS = "full_numbers"  # unmasked numbers of calls that are not their own


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset({Permission.OWN_PAGE}),
    Role.SUPERVISOR: frozenset({Permission.WALLBOARD, Permission.SUPERVISE}),
    Role.ADMIN: frozenset(
        {Permission.WALLBOARD, Permission.SUPERVISE, Permission.RULES, Permission.AUDIT}
    ),
}


def may(role: Role, permission: Permission, *, full_numbers: frozenset[Role] = frozenset()) -> bool:
    """Whether `role` has `permission`; `full_numbers` are the roles the settings let see
    whole phone numbers (`console.full_numbers_for`)."""
    if permission is Permission.FULL_NUMBERS:
        return role in full_numbers
    return permission in _GRANTS[role]


def may_open_operator_page(role: Role, own_operator: str | None, operator_id: str) -> bool:
    """An operator opens only their own page; supervisors and admins open anyone's."""
    if may(role, Permission.SUPERVISE):
        return True
    return role is Role.OPERATOR and own_operator == operator_id


def home_path(role: Role, own_operator: str | None) -> str:
    """Where a user lands after signing in (relative to the console's root)."""
    if role is Role.OPERATOR:
        return f"operator/{own_operator}" if own_operator else "account"
    return "wallboard"
