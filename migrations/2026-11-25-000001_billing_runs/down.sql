DROP TABLE billing_file_chunks;
DROP TABLE billing_files;
DROP TABLE billing_run_totals;
DROP TABLE billing_runs;
DROP INDEX credit_notes_created_at;
DROP INDEX invoices_paid_at;
ALTER TABLE user_licences DROP COLUMN billable_from;
ALTER TABLE business_licences DROP COLUMN billable_from;
CREATE TABLE billing_runs (
    id           uuid PRIMARY KEY,
    period_start date NOT NULL,
    period_end   date NOT NULL,
    status       text NOT NULL DEFAULT 'queued' CONSTRAINT billing_runs_status_valid CHECK (status IN ('queued', 'running', 'ready', 'failed')),
    requested_by uuid REFERENCES users (id) ON DELETE SET NULL,
    line_count   integer,
    total        numeric(14, 2),
    xlsx         bytea,
    csv          bytea,
    error        text,
    created_at   timestamptz NOT NULL,
    started_at   timestamptz,
    finished_at  timestamptz,
    CONSTRAINT billing_runs_period_valid CHECK (period_start <= period_end)
);
