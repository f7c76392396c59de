DROP TABLE commissions;
DROP TABLE payouts;
DROP TABLE credit_notes;
DROP TABLE affiliate_visits;
DROP TABLE attributions;

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
