-- Modules, licences, credits, trials, quotes, orders, invoices, software releases,
-- integrations, commissions, payouts and billing runs.

CREATE TABLE modules (
    id             uuid PRIMARY KEY,
    code           text NOT NULL CONSTRAINT modules_code_key UNIQUE,
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    currency       char(3) NOT NULL DEFAULT 'EUR',
    -- Monthly prices.
    business_price numeric(12, 2) NOT NULL CONSTRAINT modules_business_price_valid CHECK (business_price >= 0),
    user_price     numeric(12, 2) NOT NULL CONSTRAINT modules_user_price_valid CHECK (user_price >= 0),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE TABLE trials (
    id                   uuid PRIMARY KEY,
    organization_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    module_id            uuid NOT NULL REFERENCES modules (id),
    max_users            integer NOT NULL,
    starts_at            timestamptz NOT NULL,
    ends_at              timestamptz NOT NULL,
    status               text NOT NULL DEFAULT 'active'
        CONSTRAINT trials_status_valid CHECK (status IN ('active', 'ended', 'upgraded')),
    ended_at             timestamptz,
    created_by           uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at           timestamptz NOT NULL,
    CONSTRAINT trials_one_per_module UNIQUE (organization_id, module_id)
);
CREATE INDEX trials_active_ends ON trials (ends_at) WHERE status = 'active';

CREATE TABLE orders (
    id              uuid PRIMARY KEY,
    number          bigserial CONSTRAINT orders_number_key UNIQUE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- The partner that served the customer when the order was placed, if any.
    partner_id      uuid REFERENCES partners (organization_id) ON DELETE SET NULL,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    source          text NOT NULL CONSTRAINT orders_source_valid
        CHECK (source IN ('activation', 'credits', 'trial_upgrade', 'add_products')),
    currency        char(3) NOT NULL,
    total           numeric(12, 2) NOT NULL,
    status          text NOT NULL DEFAULT 'open' CONSTRAINT orders_status_valid CHECK (status IN ('open', 'paid', 'cancelled', 'refunded')),
    created_at      timestamptz NOT NULL
);
CREATE INDEX orders_organization ON orders (organization_id, created_at);

CREATE TABLE order_lines (
    id           uuid PRIMARY KEY,
    order_id     uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    module_id    uuid NOT NULL REFERENCES modules (id),
    licence_kind text NOT NULL CONSTRAINT order_lines_licence_kind_valid CHECK (licence_kind IN ('business', 'user', 'credit')),
    description  text NOT NULL,
    quantity     integer NOT NULL CONSTRAINT order_lines_quantity_valid CHECK (quantity > 0),
    unit_price   numeric(12, 2) NOT NULL,
    amount       numeric(12, 2) NOT NULL,
    period_start date NOT NULL,
    period_end   date NOT NULL
);
CREATE INDEX order_lines_order ON order_lines (order_id);

-- A quote is what a paid activation costs; it only takes effect when confirmed.
CREATE TABLE quotes (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    acting_organization_id uuid REFERENCES organizations (id) ON DELETE SET NULL,
    action          jsonb NOT NULL,
    lines           jsonb NOT NULL,
    currency        char(3) NOT NULL,
    monthly_total   numeric(12, 2) NOT NULL,
    period_total    numeric(12, 2) NOT NULL,
    -- Hash of the state the quote was computed from; a changed state makes it stale.
    fingerprint     text NOT NULL,
    expires_at      timestamptz NOT NULL,
    confirmed_at    timestamptz,
    order_id        uuid REFERENCES orders (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL
);

CREATE TABLE business_licences (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    module_id       uuid NOT NULL REFERENCES modules (id),
    kind            text NOT NULL CONSTRAINT business_licences_kind_valid CHECK (kind IN ('paid', 'trial')),
    trial_id        uuid REFERENCES trials (id) ON DELETE SET NULL,
    order_id        uuid REFERENCES orders (id) ON DELETE SET NULL,
    active          boolean NOT NULL DEFAULT true,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz,
    deactivated_at  timestamptz,
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX business_licences_one_active ON business_licences (organization_id, module_id) WHERE active;

-- User licences; a row without a user is a credit: prepared, billed, assignable later.
CREATE TABLE user_licences (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    module_id       uuid NOT NULL REFERENCES modules (id),
    user_id         uuid REFERENCES users (id) ON DELETE SET NULL,
    kind            text NOT NULL CONSTRAINT user_licences_kind_valid CHECK (kind IN ('paid', 'trial')),
    trial_id        uuid REFERENCES trials (id) ON DELETE SET NULL,
    order_id        uuid REFERENCES orders (id) ON DELETE SET NULL,
    active          boolean NOT NULL DEFAULT true,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz,
    assigned_at     timestamptz,
    deactivated_at  timestamptz,
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX user_licences_one_active ON user_licences (user_id, module_id) WHERE active AND user_id IS NOT NULL;
CREATE INDEX user_licences_organization ON user_licences (organization_id, module_id) WHERE active;

CREATE TABLE invoices (
    id                 uuid PRIMARY KEY,
    number             text NOT NULL CONSTRAINT invoices_number_key UNIQUE,
    order_id           uuid NOT NULL CONSTRAINT invoices_order_key UNIQUE REFERENCES orders (id) ON DELETE CASCADE,
    organization_id    uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    currency           char(3) NOT NULL,
    amount             numeric(12, 2) NOT NULL,
    status             text NOT NULL DEFAULT 'open' CONSTRAINT invoices_status_valid CHECK (status IN ('open', 'paid', 'void')),
    -- The public payment link carries a token whose SHA-256 is stored here.
    payment_token_hash text NOT NULL CONSTRAINT invoices_payment_token_hash_key UNIQUE,
    payment_provider   text NOT NULL,
    provider_reference text,
    due_at             timestamptz NOT NULL,
    paid_at            timestamptz,
    created_at         timestamptz NOT NULL
);

CREATE TABLE releases (
    id            uuid PRIMARY KEY,
    version       text NOT NULL,
    channel       text NOT NULL CONSTRAINT releases_channel_valid CHECK (channel IN ('alpha', 'beta', 'stable')),
    notes_md      text NOT NULL DEFAULT '',
    file_location text NOT NULL,
    published_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    published_at  timestamptz NOT NULL,
    CONSTRAINT releases_version_channel_key UNIQUE (version, channel)
);

-- Connectors and integrations a company administrator manages (phone connector, CRM, ERP).
CREATE TABLE integrations (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind            text NOT NULL CONSTRAINT integrations_kind_valid CHECK (kind IN ('phone_connector', 'crm', 'erp')),
    name            text NOT NULL,
    settings        jsonb NOT NULL DEFAULT '{}'::jsonb,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE commission_payouts (
    id          uuid PRIMARY KEY,
    partner_id  uuid NOT NULL REFERENCES partners (organization_id) ON DELETE CASCADE,
    amount      numeric(12, 2) NOT NULL CONSTRAINT commission_payouts_amount_valid CHECK (amount > 0),
    currency    char(3) NOT NULL,
    reference   text NOT NULL,
    paid_at     timestamptz NOT NULL,
    recorded_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE commissions (
    id              uuid PRIMARY KEY,
    partner_id      uuid NOT NULL REFERENCES partners (organization_id) ON DELETE CASCADE,
    customer_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    order_id        uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    invoice_id      uuid REFERENCES invoices (id) ON DELETE SET NULL,
    commission_type text NOT NULL CONSTRAINT commissions_type_valid CHECK (commission_type IN ('self', 'affiliate', 'partner')),
    currency        char(3) NOT NULL,
    base_amount     numeric(12, 2) NOT NULL,
    rate            numeric(5, 2) NOT NULL,
    amount          numeric(12, 2) NOT NULL,
    status          text NOT NULL DEFAULT 'open' CONSTRAINT commissions_status_valid CHECK (status IN ('open', 'paid', 'reversed')),
    payout_id       uuid REFERENCES commission_payouts (id) ON DELETE SET NULL,
    earned_at       timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT commissions_order_partner_key UNIQUE (order_id, partner_id)
);
CREATE INDEX commissions_partner ON commissions (partner_id, status);

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
