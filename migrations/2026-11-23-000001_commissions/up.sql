-- Commissions: who brought each customer (attribution), the affiliate link's visits,
-- refunds as credit notes, commissions per paid order line with their states, and
-- payouts. The earlier placeholder tables held nothing and are replaced.

DROP TABLE commissions;
DROP TABLE commission_payouts;

-- Which partner earns on a customer organization, and why. One per customer; first
-- touch wins; fixed (fixed_at) once the customer's first order is paid.
CREATE TABLE attributions (
    customer_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    partner_id  uuid NOT NULL REFERENCES partners (organization_id) ON DELETE CASCADE,
    kind        text NOT NULL CONSTRAINT attributions_kind_valid CHECK (kind IN ('partner', 'affiliate', 'self')),
    -- What it rests on: the invitation, the affiliate visit's day, the service provider link.
    evidence    jsonb NOT NULL,
    recorded_at timestamptz NOT NULL,
    fixed_at    timestamptz
);
CREATE INDEX attributions_partner ON attributions (partner_id, kind);

-- Visits through a partner's affiliate link, counted per day; nothing about the visitor.
CREATE TABLE affiliate_visits (
    partner_id uuid NOT NULL REFERENCES partners (organization_id) ON DELETE CASCADE,
    day        date NOT NULL,
    visits     bigint NOT NULL,
    PRIMARY KEY (partner_id, day)
);

-- A refund: finance credits (part of) an order line of a paid invoice.
CREATE TABLE credit_notes (
    id            uuid PRIMARY KEY,
    number        text NOT NULL CONSTRAINT credit_notes_number_key UNIQUE,
    invoice_id    uuid NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    order_line_id uuid NOT NULL REFERENCES order_lines (id) ON DELETE CASCADE,
    amount        numeric(12, 2) NOT NULL CONSTRAINT credit_notes_amount_valid CHECK (amount > 0),
    reason        text NOT NULL,
    recorded_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX credit_notes_order_line ON credit_notes (order_line_id);

-- A payment of approved commissions to a partner.
CREATE TABLE payouts (
    id          uuid PRIMARY KEY,
    number      bigserial CONSTRAINT payouts_number_key UNIQUE,
    partner_id  uuid NOT NULL REFERENCES partners (organization_id) ON DELETE CASCADE,
    currency    char(3) NOT NULL,
    amount      numeric(14, 2) NOT NULL CONSTRAINT payouts_amount_valid CHECK (amount > 0),
    -- Approved commissions earned up to this date are included.
    up_to       date NOT NULL,
    status      text NOT NULL DEFAULT 'open' CONSTRAINT payouts_status_valid CHECK (status IN ('open', 'paid')),
    reference   text,
    paid_at     timestamptz,
    created_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX payouts_partner ON payouts (partner_id, created_at DESC);

-- What a partner earns on one paid order line (or, with clawback_of, gives back for a
-- refund of a line whose commission was already paid).
CREATE TABLE commissions (
    id             uuid PRIMARY KEY,
    partner_id     uuid NOT NULL REFERENCES partners (organization_id) ON DELETE CASCADE,
    customer_id    uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    order_id       uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    order_line_id  uuid NOT NULL REFERENCES order_lines (id) ON DELETE CASCADE,
    kind           text NOT NULL CONSTRAINT commissions_kind_valid CHECK (kind IN ('partner', 'affiliate', 'self')),
    clawback_of    uuid REFERENCES commissions (id) ON DELETE CASCADE,
    credit_note_id uuid REFERENCES credit_notes (id) ON DELETE CASCADE,
    currency       char(3) NOT NULL,
    -- The line's amount less its refunds (negative for a clawback).
    base_amount    numeric(12, 2) NOT NULL,
    rate           numeric(5, 2) NOT NULL CONSTRAINT commissions_rate_valid CHECK (rate BETWEEN 0 AND 100),
    -- round(base_amount × rate / 100, 2), half away from zero.
    amount         numeric(12, 2) NOT NULL,
    state          text NOT NULL CONSTRAINT commissions_state_valid
        CHECK (state IN ('pending', 'approved', 'paid', 'reversed', 'declined')),
    earned_at      timestamptz NOT NULL,
    approve_after  timestamptz NOT NULL,
    approved_at    timestamptz,
    paid_at        timestamptz,
    reversed_at    timestamptz,
    declined_at    timestamptz,
    decline_reason text,
    payout_id      uuid REFERENCES payouts (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT commissions_clawback_has_note CHECK ((clawback_of IS NULL) = (credit_note_id IS NULL))
);
CREATE UNIQUE INDEX commissions_one_per_line ON commissions (order_line_id) WHERE clawback_of IS NULL;
CREATE UNIQUE INDEX commissions_one_clawback_per_note ON commissions (credit_note_id) WHERE credit_note_id IS NOT NULL;
CREATE INDEX commissions_partner_earned ON commissions (partner_id, earned_at DESC, id DESC);
CREATE INDEX commissions_pending ON commissions (approve_after) WHERE state = 'pending';
CREATE INDEX commissions_payable ON commissions (partner_id, earned_at) WHERE state = 'approved' AND payout_id IS NULL;
CREATE INDEX commissions_payout ON commissions (payout_id) WHERE payout_id IS NOT NULL;
