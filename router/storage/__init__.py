"""Persistence: patients, operators, calls and their journeys, the callback ledger, on
SQLite or PostgreSQL.

SQLAlchemy 2 (async, Core) with alembic migrations. The repositories and their values
are re-exported here; migrations are run with `router.storage.migrate.migrate(url)`
(not re-exported: the function would shadow its module's name). Nothing is created at
import time.
"""

from router.storage.callbacks import CallbacksRepo, TaskClosedError
from router.storage.calls import CallRepository
from router.storage.db import Database, is_transient_error
from router.storage.models import (
    Appointment,
    CallbackSummary,
    CallbackTask,
    CallRow,
    EventRow,
    LastContact,
    MissInput,
    MissResult,
    MissRow,
    OperatorRow,
    OperatorSync,
    PatientRecord,
    RingAttemptRow,
)
from router.storage.operators import OperatorRepository
from router.storage.patients import PatientRepository
from router.storage.store import Store

__all__ = [
    "Appointment",
    "CallRepository",
    "CallRow",
    "CallbackSummary",
    "CallbackTask",
    "CallbacksRepo",
    "Database",
    "EventRow",
    "LastContact",
    "MissInput",
    "MissResult",
    "MissRow",
    "OperatorRepository",
    "OperatorRow",
    "OperatorSync",
    "PatientRecord",
    "PatientRepository",
    "RingAttemptRow",
    "Store",
    "TaskClosedError",
    "is_transient_error",
]
