-- With updates switched off, a customer sees no release published after this moment.
ALTER TABLE organizations ADD COLUMN updates_frozen_at timestamptz;

-- Invoice numbers: INV-<year>-<sequence>.
CREATE SEQUENCE invoice_number_seq;

-- A quote is confirmed once; its order points back at it.
ALTER TABLE orders ADD COLUMN quote_id uuid REFERENCES quotes (id) ON DELETE SET NULL;
CREATE UNIQUE INDEX orders_quote_key ON orders (quote_id) WHERE quote_id IS NOT NULL;

-- Unassigned credits are looked up per organization and module.
CREATE INDEX user_licences_credits ON user_licences (organization_id, module_id) WHERE active AND user_id IS NULL;

-- Trial licences belong to their trial.
CREATE INDEX user_licences_trial ON user_licences (trial_id) WHERE trial_id IS NOT NULL;
