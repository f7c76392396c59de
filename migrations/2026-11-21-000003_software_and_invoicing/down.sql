DROP INDEX user_licences_trial;
DROP INDEX user_licences_credits;
DROP INDEX orders_quote_key;
ALTER TABLE orders DROP COLUMN quote_id;
DROP SEQUENCE invoice_number_seq;
ALTER TABLE organizations DROP COLUMN updates_frozen_at;
