-- Running commission totals per partner and state, so the partner's dashboard reads a
-- handful of rows instead of summing every commission the partner ever earned. Kept
-- by statement-level triggers: one aggregate of the changed rows per statement, so a
-- recompute of a million commissions adds one grouped pass, not a million upserts.
CREATE TABLE commission_totals (
    partner_id  uuid NOT NULL REFERENCES partners (organization_id) ON DELETE CASCADE,
    state       text NOT NULL,
    amount      numeric(16, 2) NOT NULL,
    commissions bigint NOT NULL,
    PRIMARY KEY (partner_id, state)
);

CREATE FUNCTION commission_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Rows leave their old (partner, state) and join their new one; groups whose
    -- change nets to nothing are not touched (no lock, no dead tuple). Sorted so that
    -- concurrent statements lock totals rows in the same order.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO commission_totals AS t (partner_id, state, amount, commissions)
        SELECT partner_id, state, sum(amount), count(*) FROM changed_new
        GROUP BY partner_id, state ORDER BY partner_id, state
        ON CONFLICT (partner_id, state) DO UPDATE
            SET amount = t.amount + EXCLUDED.amount, commissions = t.commissions + EXCLUDED.commissions;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO commission_totals AS t (partner_id, state, amount, commissions)
        SELECT partner_id, state, -sum(amount), -count(*) FROM changed_old
        -- A partner being deleted takes its totals with it.
        WHERE EXISTS (SELECT 1 FROM partners p WHERE p.organization_id = changed_old.partner_id)
        GROUP BY partner_id, state ORDER BY partner_id, state
        ON CONFLICT (partner_id, state) DO UPDATE
            SET amount = t.amount + EXCLUDED.amount, commissions = t.commissions + EXCLUDED.commissions;
    ELSE
        INSERT INTO commission_totals AS t (partner_id, state, amount, commissions)
        SELECT partner_id, state, sum(amount), sum(n)::bigint
        FROM (SELECT partner_id, state, amount, 1 AS n FROM changed_new
              UNION ALL
              SELECT partner_id, state, -amount, -1 FROM changed_old) d
        GROUP BY partner_id, state
        HAVING sum(amount) <> 0 OR sum(n) <> 0
        ORDER BY partner_id, state
        ON CONFLICT (partner_id, state) DO UPDATE
            SET amount = t.amount + EXCLUDED.amount, commissions = t.commissions + EXCLUDED.commissions;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER commission_totals_insert AFTER INSERT ON commissions
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION commission_totals_apply();
CREATE TRIGGER commission_totals_update AFTER UPDATE ON commissions
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION commission_totals_apply();
CREATE TRIGGER commission_totals_delete AFTER DELETE ON commissions
    REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION commission_totals_apply();

INSERT INTO commission_totals (partner_id, state, amount, commissions)
SELECT partner_id, state, sum(amount), count(*) FROM commissions GROUP BY partner_id, state;
