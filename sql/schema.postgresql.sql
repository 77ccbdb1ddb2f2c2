-- clinic-router schema for postgresql, generated from router/storage/migrations
-- by sql/render_schema.py. Do not edit: write a migration, then regenerate.

BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE patients (
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    assigned_operator_id TEXT,
    team TEXT,
    tags JSONB NOT NULL,
    language TEXT,
    preferred_branch TEXT,
    do_not_call BOOLEAN DEFAULT false NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_patients PRIMARY KEY (id)
);

CREATE INDEX ix_patients_assigned_operator_id ON patients (assigned_operator_id);

CREATE TABLE patient_phones (
    phone TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    position SMALLINT DEFAULT 0 NOT NULL,
    CONSTRAINT pk_patient_phones PRIMARY KEY (phone, patient_id),
    CONSTRAINT fk_patient_phones_patient_id_patients FOREIGN KEY(patient_id) REFERENCES patients (id) ON DELETE CASCADE
);

CREATE INDEX ix_patient_phones_patient_id ON patient_phones (patient_id);

CREATE TABLE operators (
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    team TEXT,
    branch TEXT,
    configured BOOLEAN DEFAULT true NOT NULL,
    state TEXT DEFAULT 'offline' NOT NULL,
    state_reason TEXT,
    state_changed_at TIMESTAMP WITH TIME ZONE,
    idle_since TIMESTAMP WITH TIME ZONE,
    calls_today INTEGER DEFAULT 0 NOT NULL,
    consecutive_no_answers INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT pk_operators PRIMARY KEY (id)
);

CREATE TABLE calls (
    id TEXT NOT NULL,
    app TEXT NOT NULL,
    caller_raw TEXT NOT NULL,
    caller_e164 TEXT,
    did TEXT NOT NULL,
    line TEXT,
    patient_id TEXT,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    answered_at TIMESTAMP WITH TIME ZONE,
    ended_at TIMESTAMP WITH TIME ZONE,
    outcome TEXT,
    operator_id TEXT,
    phase TEXT DEFAULT 'new' NOT NULL,
    bridge_id TEXT,
    operator_channel_id TEXT,
    tried_operators JSONB NOT NULL,
    rules_version TEXT,
    CONSTRAINT pk_calls PRIMARY KEY (id)
);

CREATE INDEX ix_calls_started_at ON calls (started_at);

CREATE INDEX ix_calls_patient_id ON calls (patient_id);

CREATE INDEX ix_calls_open ON calls (app) WHERE ended_at IS NULL;

CREATE TABLE call_events (
    id BIGSERIAL NOT NULL,
    call_id TEXT NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    kind TEXT NOT NULL,
    data JSONB NOT NULL,
    CONSTRAINT pk_call_events PRIMARY KEY (id),
    CONSTRAINT fk_call_events_call_id_calls FOREIGN KEY(call_id) REFERENCES calls (id) ON DELETE CASCADE
);

CREATE INDEX ix_call_events_call_id ON call_events (call_id);

CREATE TABLE ring_attempts (
    id BIGSERIAL NOT NULL,
    call_id TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    channel_id TEXT,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    ended_at TIMESTAMP WITH TIME ZONE,
    result TEXT,
    duration_ms INTEGER,
    CONSTRAINT pk_ring_attempts PRIMARY KEY (id),
    CONSTRAINT fk_ring_attempts_call_id_calls FOREIGN KEY(call_id) REFERENCES calls (id) ON DELETE CASCADE
);

CREATE INDEX ix_ring_attempts_call_id ON ring_attempts (call_id);

CREATE INDEX ix_ring_attempts_operator_id_started_at ON ring_attempts (operator_id, started_at);

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING alembic_version.version_num;

-- Running upgrade 0001 -> 0002

ALTER TABLE patients ADD COLUMN birth_year SMALLINT;

ALTER TABLE patients ADD COLUMN last_contact_at TIMESTAMP WITH TIME ZONE;

ALTER TABLE patients ADD COLUMN last_contact_operator_id TEXT;

ALTER TABLE patients ADD COLUMN last_contact_category TEXT;

ALTER TABLE patients ADD COLUMN last_contact_outcome TEXT;

CREATE TABLE appointments (
    id BIGSERIAL NOT NULL,
    patient_id TEXT NOT NULL,
    starts_at TIMESTAMP WITH TIME ZONE NOT NULL,
    doctor TEXT,
    branch TEXT,
    CONSTRAINT pk_appointments PRIMARY KEY (id),
    CONSTRAINT fk_appointments_patient_id_patients FOREIGN KEY(patient_id) REFERENCES patients (id) ON DELETE CASCADE
);

CREATE INDEX ix_appointments_patient_id_starts_at ON appointments (patient_id, starts_at);

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

-- Running upgrade 0002 -> 0003

CREATE TABLE callback_tasks (
    id BIGSERIAL NOT NULL,
    number_e164 TEXT NOT NULL,
    patient_id TEXT,
    line TEXT,
    state TEXT NOT NULL,
    reasons JSONB NOT NULL,
    miss_count INTEGER NOT NULL,
    first_missed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_missed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    priority INTEGER DEFAULT 0 NOT NULL,
    due_at TIMESTAMP WITH TIME ZONE NOT NULL,
    attempts INTEGER DEFAULT 0 NOT NULL,
    attempt_started_at TIMESTAMP WITH TIME ZONE,
    last_attempt_at TIMESTAMP WITH TIME ZONE,
    last_outcome TEXT,
    claimed_by TEXT,
    claimed_at TIMESTAMP WITH TIME ZONE,
    closed_at TIMESTAMP WITH TIME ZONE,
    close_reason TEXT,
    closed_by TEXT,
    closed_call_id TEXT,
    note TEXT,
    preferred_operator_id TEXT,
    callback_number TEXT,
    keep_place BOOLEAN DEFAULT false NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_callback_tasks PRIMARY KEY (id)
);

CREATE UNIQUE INDEX uq_callback_tasks_active_number ON callback_tasks (number_e164) WHERE state IN ('open', 'claimed');

CREATE INDEX ix_callback_tasks_due ON callback_tasks (due_at) WHERE state IN ('open', 'claimed');

CREATE INDEX ix_callback_tasks_closed_at ON callback_tasks (closed_at);

CREATE TABLE misses (
    id BIGSERIAL NOT NULL,
    call_id TEXT NOT NULL,
    line TEXT,
    number_e164 TEXT,
    patient_id TEXT,
    reason TEXT NOT NULL,
    waited_s FLOAT NOT NULL,
    missed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    task_id BIGINT,
    anonymous BOOLEAN DEFAULT false NOT NULL,
    CONSTRAINT pk_misses PRIMARY KEY (id),
    CONSTRAINT fk_misses_task_id_callback_tasks FOREIGN KEY(task_id) REFERENCES callback_tasks (id) ON DELETE SET NULL,
    CONSTRAINT uq_misses_call_id UNIQUE (call_id)
);

CREATE INDEX ix_misses_missed_at ON misses (missed_at);

CREATE INDEX ix_misses_task_id ON misses (task_id);

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

-- Running upgrade 0003 -> 0004

ALTER TABLE callback_tasks ADD COLUMN attempt_stage TEXT;

ALTER TABLE callback_tasks ADD COLUMN attempt_operator_id TEXT;

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

-- Running upgrade 0004 -> 0005

ALTER TABLE callback_tasks ADD COLUMN target JSONB;

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

-- Running upgrade 0005 -> 0007

CREATE TABLE console_users (
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    operator_id TEXT,
    password_hash TEXT NOT NULL,
    disabled BOOLEAN DEFAULT false NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    password_changed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_console_users PRIMARY KEY (username)
);

CREATE TABLE audit_log (
    id BIGSERIAL NOT NULL,
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    target TEXT,
    ok BOOLEAN NOT NULL,
    remote TEXT,
    details JSONB NOT NULL,
    CONSTRAINT pk_audit_log PRIMARY KEY (id)
);

CREATE INDEX ix_audit_log_at ON audit_log (at);

UPDATE alembic_version SET version_num='0007' WHERE alembic_version.version_num = '0005';

-- Running upgrade 0007 -> 0008

CREATE TABLE operator_states (
    id BIGSERIAL NOT NULL,
    operator_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_operator_states PRIMARY KEY (id),
    CONSTRAINT uq_operator_states_operator_id_at_state UNIQUE (operator_id, at, state)
);

CREATE INDEX ix_operator_states_at ON operator_states (at);

ALTER TABLE callback_tasks ADD COLUMN first_attempt_at TIMESTAMP WITH TIME ZONE;

UPDATE alembic_version SET version_num='0008' WHERE alembic_version.version_num = '0007';

-- Running upgrade 0008 -> 0009

CREATE TABLE console_sessions (
    id_hash TEXT NOT NULL,
    username TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    seen_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_console_sessions PRIMARY KEY (id_hash)
);

CREATE INDEX ix_console_sessions_username ON console_sessions (username);

UPDATE alembic_version SET version_num='0009' WHERE alembic_version.version_num = '0008';

-- Running upgrade 0009 -> 0010

CREATE INDEX ix_call_events_call_id_kind_at ON call_events (call_id, kind, at);

UPDATE alembic_version SET version_num='0010' WHERE alembic_version.version_num = '0009';

-- Running upgrade 0010 -> 0011

CREATE TABLE callback_rings (
    id BIGSERIAL NOT NULL,
    task_id BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    party TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    ended_at TIMESTAMP WITH TIME ZONE NOT NULL,
    result TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    CONSTRAINT pk_callback_rings PRIMARY KEY (id),
    CONSTRAINT fk_callback_rings_task_id_callback_tasks FOREIGN KEY(task_id) REFERENCES callback_tasks (id) ON DELETE CASCADE,
    CONSTRAINT uq_callback_rings_channel_id UNIQUE (channel_id)
);

CREATE INDEX ix_callback_rings_task_id_attempt ON callback_rings (task_id, attempt);

CREATE INDEX ix_callback_rings_operator_id_started_at ON callback_rings (operator_id, started_at);

UPDATE alembic_version SET version_num='0011' WHERE alembic_version.version_num = '0010';

-- Running upgrade 0011 -> 0012

CREATE TABLE report_rollups (
    interval_us BIGSERIAL NOT NULL,
    built_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_report_rollups PRIMARY KEY (interval_us)
);

CREATE TABLE report_intervals (
    interval_us BIGINT NOT NULL,
    line TEXT,
    queue TEXT,
    calls INTEGER NOT NULL,
    answered INTEGER NOT NULL,
    ab_menu INTEGER NOT NULL,
    ab_waiting INTEGER NOT NULL,
    ab_ringing INTEGER NOT NULL,
    no_operator INTEGER NOT NULL,
    callback_promised INTEGER NOT NULL,
    message INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    fallback INTEGER NOT NULL,
    waited INTEGER NOT NULL,
    speeds INTEGER NOT NULL,
    talks INTEGER NOT NULL,
    speed_us BIGINT NOT NULL,
    talk_us BIGINT NOT NULL,
    wait_us BIGINT NOT NULL,
    wait_max_us BIGINT,
    first_us BIGINT NOT NULL,
    waits TEXT NOT NULL,
    speeds_up TEXT NOT NULL,
    route_known TEXT NOT NULL,
    route_unknown TEXT NOT NULL
);

CREATE INDEX ix_report_intervals_interval_us ON report_intervals (interval_us);

CREATE TABLE report_operator_intervals (
    interval_us BIGINT NOT NULL,
    operator_id TEXT NOT NULL,
    result TEXT,
    rings INTEGER NOT NULL,
    answers INTEGER NOT NULL,
    answer_ms BIGINT NOT NULL,
    talks INTEGER NOT NULL,
    talk_us BIGINT NOT NULL,
    answer_s TEXT NOT NULL
);

CREATE INDEX ix_report_operator_intervals_interval_us ON report_operator_intervals (interval_us);

UPDATE alembic_version SET version_num='0012' WHERE alembic_version.version_num = '0011';

-- Running upgrade 0012 -> 0013

CREATE INDEX ix_callback_tasks_dispatch ON callback_tasks (priority DESC, first_missed_at, id) WHERE state IN ('open', 'claimed');

UPDATE alembic_version SET version_num='0013' WHERE alembic_version.version_num = '0012';

-- Running upgrade 0013 -> 0014

ALTER TABLE report_rollups ADD COLUMN duty_us BIGINT;

CREATE TABLE report_state_intervals (
    interval_us BIGINT NOT NULL,
    operator_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    us BIGINT NOT NULL
);

CREATE INDEX ix_report_state_intervals_interval_us ON report_state_intervals (interval_us);

CREATE TABLE report_state_days (
    day_us BIGINT NOT NULL,
    operator_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    us BIGINT NOT NULL
);

CREATE INDEX ix_report_state_days_day_us ON report_state_days (day_us);

UPDATE alembic_version SET version_num='0014' WHERE alembic_version.version_num = '0013';

-- Running upgrade 0014 -> 0015

ALTER TABLE report_rollups ADD COLUMN spans BOOLEAN DEFAULT false NOT NULL;

CREATE TABLE report_call_hours (
    span_us BIGINT NOT NULL,
    line TEXT,
    queue TEXT,
    calls INTEGER NOT NULL,
    answered INTEGER NOT NULL,
    ab_menu INTEGER NOT NULL,
    ab_waiting INTEGER NOT NULL,
    ab_ringing INTEGER NOT NULL,
    no_operator INTEGER NOT NULL,
    callback_promised INTEGER NOT NULL,
    message INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    fallback INTEGER NOT NULL,
    waited INTEGER NOT NULL,
    speeds INTEGER NOT NULL,
    talks INTEGER NOT NULL,
    speed_us BIGINT NOT NULL,
    talk_us BIGINT NOT NULL,
    wait_us BIGINT NOT NULL,
    wait_max_us BIGINT,
    first_us BIGINT NOT NULL,
    waits TEXT NOT NULL,
    speeds_up TEXT NOT NULL,
    route_known TEXT NOT NULL,
    route_unknown TEXT NOT NULL
);

CREATE INDEX ix_report_call_hours_span_us ON report_call_hours (span_us);

CREATE TABLE report_call_days (
    span_us BIGINT NOT NULL,
    line TEXT,
    queue TEXT,
    calls INTEGER NOT NULL,
    answered INTEGER NOT NULL,
    ab_menu INTEGER NOT NULL,
    ab_waiting INTEGER NOT NULL,
    ab_ringing INTEGER NOT NULL,
    no_operator INTEGER NOT NULL,
    callback_promised INTEGER NOT NULL,
    message INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    fallback INTEGER NOT NULL,
    waited INTEGER NOT NULL,
    speeds INTEGER NOT NULL,
    talks INTEGER NOT NULL,
    speed_us BIGINT NOT NULL,
    talk_us BIGINT NOT NULL,
    wait_us BIGINT NOT NULL,
    wait_max_us BIGINT,
    first_us BIGINT NOT NULL,
    waits TEXT NOT NULL,
    speeds_up TEXT NOT NULL,
    route_known TEXT NOT NULL,
    route_unknown TEXT NOT NULL
);

CREATE INDEX ix_report_call_days_span_us ON report_call_days (span_us);

CREATE TABLE report_operator_days (
    span_us BIGINT NOT NULL,
    operator_id TEXT NOT NULL,
    result TEXT,
    rings INTEGER NOT NULL,
    answers INTEGER NOT NULL,
    answer_ms BIGINT NOT NULL,
    talks INTEGER NOT NULL,
    talk_us BIGINT NOT NULL,
    answer_s TEXT NOT NULL
);

CREATE INDEX ix_report_operator_days_span_us ON report_operator_days (span_us);

UPDATE alembic_version SET version_num='0015' WHERE alembic_version.version_num = '0014';

COMMIT;
