-- Billing runs: a period and a scope rendered as XLSX and CSV by the worker, stored
-- in Postgres in chunks so any process can serve them, with the run's own totals.
-- The placeholder table held nothing and is replaced.

DROP TABLE billing_runs;

-- From when a paid licence is billed: its start, or for a trial made paid the moment
-- it was paid for (trial days are never billed). Trial licences have none.
ALTER TABLE business_licences ADD COLUMN billable_from timestamptz;
ALTER TABLE user_licences ADD COLUMN billable_from timestamptz;
UPDATE business_licences b
   SET billable_from = CASE WHEN b.trial_id IS NULL THEN b.starts_at
                            ELSE (SELECT o.created_at FROM orders o WHERE o.id = b.order_id) END
 WHERE b.kind = 'paid';
UPDATE user_licences u
   SET billable_from = CASE WHEN u.trial_id IS NULL THEN u.starts_at
                            ELSE (SELECT o.created_at FROM orders o WHERE o.id = u.order_id) END
 WHERE u.kind = 'paid';
-- A run reads the licences billed in a period by organization.
CREATE INDEX business_licences_billable ON business_licences (organization_id, billable_from)
    WHERE billable_from IS NOT NULL;
CREATE INDEX user_licences_billable ON user_licences (organization_id, billable_from)
    WHERE billable_from IS NOT NULL;
-- Orders paid and refunds given in a period.
CREATE INDEX invoices_paid_at ON invoices (paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX credit_notes_created_at ON credit_notes (created_at);

CREATE TABLE billing_runs (
    id             uuid PRIMARY KEY,
    -- Who the run is for: vendor finance (all partners, or partner_id) or one partner
    -- (partner_id, its own customers).
    audience       text NOT NULL CONSTRAINT billing_runs_audience_valid CHECK (audience IN ('vendor', 'partner')),
    partner_id     uuid REFERENCES partners (organization_id) ON DELETE CASCADE,
    period_start   date NOT NULL,
    period_end     date NOT NULL,
    -- 1 for the first run of this audience, scope and period; a rerun is the next.
    version        integer NOT NULL,
    scheduled      boolean NOT NULL DEFAULT false,
    csv_separator  text NOT NULL DEFAULT ',' CONSTRAINT billing_runs_separator_valid CHECK (csv_separator IN (',', ';')),
    csv_bom        boolean NOT NULL DEFAULT false,
    status         text NOT NULL DEFAULT 'queued'
        CONSTRAINT billing_runs_status_valid CHECK (status IN ('queued', 'running', 'ready', 'failed')),
    lines_written  bigint NOT NULL DEFAULT 0,
    line_count     bigint,
    error          text,
    requested_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,
    -- Files are deleted after this; the run's record and totals stay.
    expires_at     timestamptz NOT NULL,
    CONSTRAINT billing_runs_period_valid CHECK (period_start <= period_end),
    CONSTRAINT billing_runs_partner_scope CHECK (audience = 'vendor' OR partner_id IS NOT NULL)
);
CREATE UNIQUE INDEX billing_runs_version ON billing_runs
    (audience, coalesce(partner_id, '00000000-0000-0000-0000-000000000000'), period_start, period_end, version);
-- The monthly run happens once, however many workers try.
CREATE UNIQUE INDEX billing_runs_scheduled ON billing_runs (period_start, period_end) WHERE scheduled;
-- The lists: finance's (all vendor runs) and each partner's, newest first.
CREATE INDEX billing_runs_vendor_list ON billing_runs (created_at DESC, id DESC) WHERE audience = 'vendor';
CREATE INDEX billing_runs_partner_list ON billing_runs (partner_id, created_at DESC, id DESC) WHERE audience = 'partner';
CREATE INDEX billing_runs_expiry ON billing_runs (expires_at);

-- What a run billed, per partner (none: the vendor's direct customers) and currency.
CREATE TABLE billing_run_totals (
    run_id     uuid NOT NULL REFERENCES billing_runs (id) ON DELETE CASCADE,
    partner_id uuid,
    currency   char(3) NOT NULL,
    lines      bigint NOT NULL,
    amount     numeric(16, 2) NOT NULL
);
CREATE UNIQUE INDEX billing_run_totals_key ON billing_run_totals
    (run_id, coalesce(partner_id, '00000000-0000-0000-0000-000000000000'), currency);

-- A run's files: size and SHA-256 checksum, the bytes in chunks of at most a MiB.
CREATE TABLE billing_files (
    run_id     uuid NOT NULL REFERENCES billing_runs (id) ON DELETE CASCADE,
    format     text NOT NULL CONSTRAINT billing_files_format_valid CHECK (format IN ('xlsx', 'csv')),
    size       bigint NOT NULL,
    sha256     text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, format)
);
CREATE TABLE billing_file_chunks (
    run_id uuid NOT NULL,
    format text NOT NULL,
    seq    integer NOT NULL,
    data   bytea NOT NULL,
    PRIMARY KEY (run_id, format, seq),
    FOREIGN KEY (run_id, format) REFERENCES billing_files (run_id, format) ON DELETE CASCADE
);
