"""The schema as SQLAlchemy Core tables: what the repositories query.

The migrations in `router/storage/migrations/versions/` create the same schema on their
own (a migration must not change when this file does); a component test checks that the
two agree, so a column added here without a migration fails the suite.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite

from router.storage.types import PortableJson, SafeText, UtcDateTime

# Named constraints: SQLite's batch mode (table rebuilds) can only drop or alter what has
# a name, and explicit names keep both backends' DDL identical.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only auto-increments an `INTEGER PRIMARY KEY`; PostgreSQL gets a bigserial.
_AUTO_ID = BigInteger().with_variant(Integer(), "sqlite")

patients = Table(
    "patients",
    metadata,
    Column("id", SafeText, primary_key=True),
    Column("name", SafeText, nullable=False),
    Column("assigned_operator_id", SafeText),  # no FK: imports may name unsynced operators
    Column("team", SafeText),
    Column("tags", PortableJson, nullable=False),
    Column("language", SafeText),
    Column("preferred_branch", SafeText),
    Column("do_not_call", Boolean, nullable=False, server_default=false()),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("birth_year", SmallInteger),
    Column("last_contact_at", UtcDateTime),
    Column("last_contact_operator_id", SafeText),  # no FK, as for assigned_operator_id
    Column("last_contact_category", SafeText),
    Column("last_contact_outcome", SafeText),
    Index(None, "assigned_operator_id"),
)

# Several patients may share a phone (a family line), so the key is the pair. Its leading
# column is `phone`: the primary key's index serves lookups by phone.
patient_phones = Table(
    "patient_phones",
    metadata,
    Column("phone", SafeText, nullable=False),
    Column(
        "patient_id",
        SafeText,
        ForeignKey("patients.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", SmallInteger, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("phone", "patient_id"),
    Index(None, "patient_id"),  # replacing a patient's phones deletes by patient
)

# Replaced whole with the patient on every upsert. The index's leading column serves that
# delete and "this patient's appointments in time order" on the call path.
appointments = Table(
    "appointments",
    metadata,
    Column("id", _AUTO_ID, primary_key=True, autoincrement=True),
    Column(
        "patient_id",
        SafeText,
        ForeignKey("patients.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("doctor", SafeText),
    Column("branch", SafeText),
    Index(None, "patient_id", "starts_at"),
)

operators = Table(
    "operators",
    metadata,
    Column("id", SafeText, primary_key=True),
    Column("name", SafeText, nullable=False),
    Column("endpoint", SafeText, nullable=False),
    Column("team", SafeText),
    Column("branch", SafeText),
    # False once the operator left the configuration: the row stays for the journeys.
    Column("configured", Boolean, nullable=False, server_default=true()),
    Column("state", SafeText, nullable=False, server_default=text("'offline'")),
    Column("state_reason", SafeText),
    Column("state_changed_at", UtcDateTime),
    Column("idle_since", UtcDateTime),
    Column("calls_today", Integer, nullable=False, server_default=text("0")),
    Column("consecutive_no_answers", Integer, nullable=False, server_default=text("0")),
)

# No foreign keys to patients or operators: a call's journey must outlive a patient
# re-import or an operator's removal.
calls = Table(
    "calls",
    metadata,
    Column("id", SafeText, primary_key=True),  # the caller channel's Asterisk id
    Column("app", SafeText, nullable=False),
    Column("caller_raw", SafeText, nullable=False),
    Column("caller_e164", SafeText),
    Column("did", SafeText, nullable=False),
    Column("line", SafeText),
    Column("patient_id", SafeText),
    Column("started_at", UtcDateTime, nullable=False),
    Column("answered_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("outcome", SafeText),
    Column("operator_id", SafeText),
    Column("phase", SafeText, nullable=False, server_default=text("'new'")),
    Column("bridge_id", SafeText),
    Column("operator_channel_id", SafeText),
    Column("tried_operators", PortableJson, nullable=False),
    Column("rules_version", SafeText),
    Index(None, "started_at"),
    Index(None, "patient_id"),
    # Partial: only live calls are indexed, so the index stays tiny however long the
    # history grows, and reconnect's "what was I handling" query never scans it.
    Index(
        "ix_calls_open",
        "app",
        sqlite_where=text("ended_at IS NULL"),
        postgresql_where=text("ended_at IS NULL"),
    ),
)

call_events = Table(
    "call_events",
    metadata,
    Column("id", _AUTO_ID, primary_key=True, autoincrement=True),
    Column(
        "call_id",
        SafeText,
        ForeignKey("calls.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", SafeText, nullable=False),
    Column("data", PortableJson, nullable=False),
    Index(None, "call_id"),
    # A call's first wait, its line, a fallback: one seek each for the reports' sums
    # (migration 0010), however long the journey.
    Index(None, "call_id", "kind", "at"),
)

ring_attempts = Table(
    "ring_attempts",
    metadata,
    Column("id", _AUTO_ID, primary_key=True, autoincrement=True),
    Column(
        "call_id",
        SafeText,
        ForeignKey("calls.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("operator_id", SafeText, nullable=False),
    Column("channel_id", SafeText),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Column("result", SafeText),
    Column("duration_ms", Integer),
    Index(None, "call_id"),
    Index(None, "operator_id", "started_at"),  # "who does not pick up" per period
)

# The callback ledger. A task per patient number being worked; states are the values of
# `router.domain.callback_schedule.TaskState`. No foreign keys to calls or patients: a
# miss learned from the dialplan fallback has no call row, and tasks outlive re-imports.
ACTIVE_TASK = "state IN ('open', 'claimed')"
callback_tasks = Table(
    "callback_tasks",
    metadata,
    Column("id", _AUTO_ID, primary_key=True, autoincrement=True),
    Column("number_e164", SafeText, nullable=False),
    Column("patient_id", SafeText),
    Column("line", SafeText),
    Column("state", SafeText, nullable=False),
    Column("reasons", PortableJson, nullable=False),
    Column("miss_count", Integer, nullable=False),
    Column("first_missed_at", UtcDateTime, nullable=False),  # the task's place in line
    Column("last_missed_at", UtcDateTime, nullable=False),
    Column("priority", Integer, nullable=False, server_default=text("0")),
    Column("due_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("attempt_started_at", UtcDateTime),  # set while a dial may be under way
    Column("last_attempt_at", UtcDateTime),
    Column("last_outcome", SafeText),
    Column("claimed_by", SafeText),
    Column("claimed_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("close_reason", SafeText),
    Column("closed_by", SafeText),
    Column("closed_call_id", SafeText),
    Column("note", SafeText),
    Column("preferred_operator_id", SafeText),
    Column("callback_number", SafeText),
    Column("keep_place", Boolean, nullable=False, server_default=false()),
    Column("created_at", UtcDateTime, nullable=False),
    # How far the running attempt got (`AttemptStage`) and its operator (migration 0004).
    Column("attempt_stage", SafeText),
    Column("attempt_operator_id", SafeText),
    # Where the miss was meant to go (`CallbackTarget` as JSON, migration 0005).
    Column("target", PortableJson),
    # When the first attempt started (migration 0008): miss -> first attempt in reports.
    Column("first_attempt_at", UtcDateTime),
    # One active task per number, enforced by the database itself: two routers recording
    # misses of one number at once cannot both create one (the loser updates it instead).
    Index(
        "uq_callback_tasks_active_number",
        "number_e164",
        unique=True,
        sqlite_where=text(ACTIVE_TASK),
        postgresql_where=text(ACTIVE_TASK),
    ),
    # The dispatcher's scan: active tasks only, so it stays small however long history is.
    Index(
        "ix_callback_tasks_due",
        "due_at",
        sqlite_where=text(ACTIVE_TASK),
        postgresql_where=text(ACTIVE_TASK),
    ),
    Index(None, "closed_at"),  # the supervisors' figures over a period
)
# The dispatcher's pages in dispatch order (`due_scan.py`, migration 0013): walked in
# order, not sorted per page; active tasks only, like `ix_callback_tasks_due`.
Index(
    "ix_callback_tasks_dispatch",
    callback_tasks.c.priority.desc(),
    callback_tasks.c.first_missed_at,
    callback_tasks.c.id,
    sqlite_where=text(ACTIVE_TASK),
    postgresql_where=text(ACTIVE_TASK),
)

misses = Table(
    "misses",
    metadata,
    Column("id", _AUTO_ID, primary_key=True, autoincrement=True),
    Column("call_id", SafeText, nullable=False),
    Column("line", SafeText),
    Column("number_e164", SafeText),  # None: withheld or invalid caller ID
    Column("patient_id", SafeText),
    Column("reason", SafeText, nullable=False),
    Column("waited_s", Float, nullable=False),
    Column("missed_at", UtcDateTime, nullable=False),
    Column("task_id", _AUTO_ID, ForeignKey("callback_tasks.id", ondelete="SET NULL")),
    Column("anonymous", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("call_id"),  # one miss per call: a retried write records nothing twice
    Index(None, "missed_at"),
    Index(None, "task_id"),
)


# A callback attempt's rings (migration 0011): the operator's, then the patient's. A
# sibling of `ring_attempts`, whose rows belong to an inbound call: the operators' ring
# figures in the reports stay those of inbound calls. The channel is unique: a ring a
# restarted router adopts and records again is one row.
callback_rings = Table(
    "callback_rings",
    metadata,
    Column("id", _AUTO_ID, primary_key=True, autoincrement=True),
    Column(
        "task_id",
        _AUTO_ID,
        ForeignKey("callback_tasks.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("attempt", Integer, nullable=False),
    Column("party", SafeText, nullable=False),  # `operator` or `patient`
    Column("operator_id", SafeText, nullable=False),  # rung, or waiting for the patient
    Column("channel_id", SafeText, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime, nullable=False),
    Column("result", SafeText, nullable=False),  # a `RingResult` value
    Column("duration_ms", Integer, nullable=False),
    UniqueConstraint("channel_id"),
    Index(None, "task_id", "attempt"),
    Index(None, "operator_id", "started_at"),
)


# Every change of an operator's state (migration 0008), for wrap-up and pause time in the
# reports. The unique key makes a state written again unchanged one row, not two; its
# leading column serves "this operator's states in time order".
operator_states = Table(
    "operator_states",
    metadata,
    Column("id", _AUTO_ID, primary_key=True, autoincrement=True),
    Column("operator_id", SafeText, nullable=False),
    Column("state", SafeText, nullable=False),
    Column("reason", SafeText),
    Column("at", UtcDateTime, nullable=False),
    UniqueConstraint("operator_id", "at", "state"),
    Index(None, "at"),
)


# Interval rollups (migration 0012, `router/storage/report_rollup_sql.py`): the calls
# started in one 15-minute UTC interval, summed per line and queue (first waited for),
# and their rings and talk per operator, so a long period's report adds rows instead of
# sorting every call. Histograms are JSON {"second": count}. `report_rollups` lists the
# intervals built: only their rows are read; a write to a call of a built interval
# deletes its mark (the interval is then read raw until built again).
report_rollups = Table(
    "report_rollups",
    metadata,
    Column("interval_us", BigInteger, primary_key=True),
    Column("built_at", UtcDateTime, nullable=False),
    # all operators' time on duty in the interval (NULL: built before migration 0014,
    # without its `report_state_intervals` rows)
    Column("duty_us", BigInteger),
    # built with its hours' and days' rows (false: built before migration 0015)
    Column("spans", Boolean, nullable=False, server_default=false()),
)

_ROLLUP_COUNTS = (
    "calls", "answered", "ab_menu", "ab_waiting", "ab_ringing", "no_operator",
    "callback_promised", "message", "failed", "fallback", "waited", "speeds", "talks",
)  # fmt: skip
report_intervals = Table(
    "report_intervals",
    metadata,
    Column("interval_us", BigInteger, nullable=False),
    Column("line", SafeText),
    Column("queue", SafeText),
    *(Column(name, Integer, nullable=False) for name in _ROLLUP_COUNTS),
    Column("speed_us", BigInteger, nullable=False),
    Column("talk_us", BigInteger, nullable=False),
    Column("wait_us", BigInteger, nullable=False),
    Column("wait_max_us", BigInteger),
    Column("first_us", BigInteger, nullable=False),
    Column("waits", SafeText, nullable=False),  # floor seconds
    Column("speeds_up", SafeText, nullable=False),  # ceil seconds
    Column("route_known", SafeText, nullable=False),
    Column("route_unknown", SafeText, nullable=False),
    Index(None, "interval_us"),
)

report_operator_intervals = Table(
    "report_operator_intervals",
    metadata,
    Column("interval_us", BigInteger, nullable=False),
    Column("operator_id", SafeText, nullable=False),
    Column("result", SafeText),  # None: the row of the operator's talk
    Column("rings", Integer, nullable=False),
    Column("answers", Integer, nullable=False),
    Column("answer_ms", BigInteger, nullable=False),
    Column("talks", Integer, nullable=False),
    Column("talk_us", BigInteger, nullable=False),
    Column("answer_s", SafeText, nullable=False),  # answered rings, floor seconds
    Index(None, "interval_us"),
)


def _state_sums(name: str, key: str) -> Table:
    return Table(
        name,
        metadata,
        Column(key, BigInteger, nullable=False),
        Column("operator_id", SafeText, nullable=False),
        Column("state", SafeText, nullable=False),
        Column("reason", SafeText),
        Column("us", BigInteger, nullable=False),
        Index(None, key),
    )


# Each operator's microseconds per state (and pause reason) within one built interval
# (migration 0014, `router/storage/report_state_rollup.py`): the state sums the period's
# raw spans would give for that interval alone, keys of zero included; and the same
# summed over each UTC day (`day_us`) all of whose 96 intervals are built.
report_state_intervals = _state_sums("report_state_intervals", "interval_us")
report_state_days = _state_sums("report_state_days", "day_us")

# Coarser rollups (migration 0015, `router/storage/report_rollup_spans.py`): the interval
# rows of each whole UTC hour and day (calls) or day (operators) summed once more, so a
# year reads a fraction of the rows; written again whenever one of their intervals is
# built, as the state days are.
def _spans_of(name: str, intervals: Table) -> Table:
    """A coarser layer's table: the columns of `intervals`, each row starting at
    `span_us` (an hour's or a day's start) instead of `interval_us`."""
    return Table(
        name,
        metadata,
        Column("span_us", BigInteger, nullable=False),
        *(c._copy() for c in intervals.columns if c.name != "interval_us"),
        Index(None, "span_us"),
    )


report_call_hours = _spans_of("report_call_hours", report_intervals)
report_call_days = _spans_of("report_call_days", report_intervals)
report_operator_days = _spans_of("report_operator_days", report_operator_intervals)

# Console users (migration 0007). `role` is a `router.domain.console_access.Role` value;
# `operator_id` links an operator user to the rules (no FK: operators come from config).
console_users = Table(
    "console_users",
    metadata,
    Column("username", SafeText, primary_key=True),
    Column("role", SafeText, nullable=False),
    Column("operator_id", SafeText),
    Column("password_hash", SafeText, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", UtcDateTime, nullable=False),
    # A session signed in before this time is ended (a password change signs out everywhere).
    Column("password_changed_at", UtcDateTime, nullable=False),
)

# Console sessions held on the server: the cookie carries a random id whose SHA-256 is
# the key here, so sign-out, a new password or a disabled user ends a copied cookie too.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", SafeText, primary_key=True),
    Column("username", SafeText, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("seen_at", UtcDateTime, nullable=False),
    Index(None, "username"),
)

# Every sign-in (ok or failed) and every supervisor/admin action: who, what, when, from where.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _AUTO_ID, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", SafeText),  # the user name given (a failed sign-in names no real user)
    Column("action", SafeText, nullable=False),
    Column("target", SafeText),
    Column("ok", Boolean, nullable=False),
    Column("remote", SafeText),
    Column("details", PortableJson, nullable=False),
    Index(None, "at"),
)


def dialect_insert(dialect_name: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can take ON CONFLICT: both dialects spell it alike, each in its module."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
