-- Lists and figures that stay fast with a million customers.
--
-- My customers filters, searches and sorts the partner's customers by the customer's
-- name, creation and coming expiry. Those live on other tables than the partner, and
-- no index spans two tables, so the current service-provider link carries a copy of
-- them, kept by triggers in the same statement as the change: the listing reads one
-- index range in order and stops after a page. The seats in use and in total are kept
-- there too (a page of large customers counts nothing). The same copy holds whether the
-- customer pays for a business licence and is in a trial, so that the partner's
-- dashboard reads counters instead of joining every customer with its licences.
-- Trials carry the partner serving their organization (the trials overview pages by
-- it and by the end date).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE service_provider_links
    ADD COLUMN customer_name text,
    ADD COLUMN customer_active boolean,
    ADD COLUMN customer_created_at timestamptz,
    -- The earliest end of the customer's running trials and active licences.
    ADD COLUMN coming_expiry timestamptz,
    -- The customer holds an active paid business licence.
    ADD COLUMN paying boolean NOT NULL DEFAULT false,
    -- The customer has an active trial.
    ADD COLUMN in_trial boolean NOT NULL DEFAULT false,
    -- The customer's active user licences held by a user, and all of them (credits too).
    ADD COLUMN seats_used bigint NOT NULL DEFAULT 0,
    ADD COLUMN seats_total bigint NOT NULL DEFAULT 0;

ALTER TABLE trials ADD COLUMN partner_id uuid REFERENCES partners (organization_id) ON DELETE SET NULL;

-- The smallest expiry of an organization's active user licences is the first entry
-- here (an organization with thousands of users is not read whole).
CREATE INDEX user_licences_expiry ON user_licences (organization_id, ends_at) WHERE active AND ends_at IS NOT NULL;
CREATE INDEX business_licences_expiry ON business_licences (organization_id, ends_at) WHERE active AND ends_at IS NOT NULL;

-- What the listing copies from an organization's licences and trials.
CREATE FUNCTION customer_figures(org uuid, OUT coming_expiry timestamptz, OUT paying boolean, OUT in_trial boolean,
                                 OUT seats_used bigint, OUT seats_total bigint)
LANGUAGE sql STABLE AS $$
    SELECT least(
               (SELECT min(t.ends_at) FROM trials t WHERE t.organization_id = org AND t.status = 'active'),
               (SELECT min(b.ends_at) FROM business_licences b WHERE b.organization_id = org AND b.active AND b.ends_at IS NOT NULL),
               (SELECT min(ul.ends_at) FROM user_licences ul WHERE ul.organization_id = org AND ul.active AND ul.ends_at IS NOT NULL)),
           EXISTS (SELECT 1 FROM business_licences b WHERE b.organization_id = org AND b.active AND b.kind = 'paid'),
           EXISTS (SELECT 1 FROM trials t WHERE t.organization_id = org AND t.status = 'active'),
           (SELECT count(*) FROM user_licences ul WHERE ul.organization_id = org AND ul.active AND ul.user_id IS NOT NULL),
           (SELECT count(*) FROM user_licences ul WHERE ul.organization_id = org AND ul.active)
$$;

-- A new link copies its customer's name, state, creation and figures.
CREATE FUNCTION service_provider_links_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT o.name, o.active, o.created_at
      INTO NEW.customer_name, NEW.customer_active, NEW.customer_created_at
      FROM organizations o WHERE o.id = NEW.customer_id;
    SELECT f.coming_expiry, f.paying, f.in_trial, f.seats_used, f.seats_total
      INTO NEW.coming_expiry, NEW.paying, NEW.in_trial, NEW.seats_used, NEW.seats_total
      FROM customer_figures(NEW.customer_id) f;
    RETURN NEW;
END;
$$;
CREATE TRIGGER service_provider_links_fill BEFORE INSERT ON service_provider_links
    FOR EACH ROW EXECUTE FUNCTION service_provider_links_fill();

-- A renamed, activated or deactivated organization shows so in its partner's list.
CREATE FUNCTION organizations_to_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE service_provider_links
       SET customer_name = NEW.name, customer_active = NEW.active
     WHERE customer_id = NEW.id AND ended_at IS NULL;
    RETURN NULL;
END;
$$;
CREATE TRIGGER organizations_to_links AFTER UPDATE OF name, active ON organizations
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.active IS DISTINCT FROM NEW.active)
    EXECUTE FUNCTION organizations_to_links();

-- A statement that changed trials or licences recomputes the figures of the
-- organizations it touched, once each; links whose figures stay the same are not
-- written.
CREATE FUNCTION customer_figures_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE service_provider_links l
       SET coming_expiry = f.coming_expiry, paying = f.paying, in_trial = f.in_trial,
           seats_used = f.seats_used, seats_total = f.seats_total
      FROM (SELECT DISTINCT organization_id FROM changed) c,
           LATERAL customer_figures(c.organization_id) f
     WHERE l.customer_id = c.organization_id AND l.ended_at IS NULL
       AND (l.coming_expiry, l.paying, l.in_trial, l.seats_used, l.seats_total)
           IS DISTINCT FROM (f.coming_expiry, f.paying, f.in_trial, f.seats_used, f.seats_total);
    RETURN NULL;
END;
$$;
CREATE TRIGGER trials_figures_insert AFTER INSERT ON trials
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION customer_figures_refresh();
CREATE TRIGGER trials_figures_update AFTER UPDATE ON trials
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION customer_figures_refresh();
CREATE TRIGGER trials_figures_delete AFTER DELETE ON trials
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION customer_figures_refresh();
CREATE TRIGGER business_licences_figures_insert AFTER INSERT ON business_licences
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION customer_figures_refresh();
CREATE TRIGGER business_licences_figures_update AFTER UPDATE ON business_licences
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION customer_figures_refresh();
CREATE TRIGGER business_licences_figures_delete AFTER DELETE ON business_licences
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION customer_figures_refresh();
CREATE TRIGGER user_licences_figures_insert AFTER INSERT ON user_licences
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION customer_figures_refresh();
CREATE TRIGGER user_licences_figures_update AFTER UPDATE ON user_licences
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION customer_figures_refresh();
CREATE TRIGGER user_licences_figures_delete AFTER DELETE ON user_licences
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION customer_figures_refresh();

-- A trial belongs to the partner serving its organization when it starts, and follows
-- the organization when it takes or leaves a partner.
CREATE FUNCTION trials_fill_partner() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT l.partner_id INTO NEW.partner_id
      FROM service_provider_links l WHERE l.customer_id = NEW.organization_id AND l.ended_at IS NULL;
    RETURN NEW;
END;
$$;
CREATE TRIGGER trials_fill_partner BEFORE INSERT ON trials
    FOR EACH ROW EXECUTE FUNCTION trials_fill_partner();

CREATE FUNCTION service_provider_links_to_trials() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.ended_at IS NULL THEN
        UPDATE trials SET partner_id = NEW.partner_id
         WHERE organization_id = NEW.customer_id AND partner_id IS DISTINCT FROM NEW.partner_id;
    ELSIF TG_OP = 'UPDATE' AND OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL THEN
        UPDATE trials SET partner_id = NULL
         WHERE organization_id = OLD.customer_id AND partner_id = OLD.partner_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER service_provider_links_to_trials AFTER INSERT OR UPDATE OF ended_at ON service_provider_links
    FOR EACH ROW EXECUTE FUNCTION service_provider_links_to_trials();

-- The dashboard's customer counts per partner, kept by statement-level triggers on the
-- links. Each connection adds to one of eight rows of its partner (by backend), so
-- that partner staff adding customers at the same time do not queue for one row; the
-- dashboard sums the eight.
CREATE TABLE partner_customer_counts (
    partner_id uuid NOT NULL REFERENCES partners (organization_id) ON DELETE CASCADE,
    shard      smallint NOT NULL,
    customers  bigint NOT NULL,
    paying     bigint NOT NULL,
    in_trial   bigint NOT NULL,
    PRIMARY KEY (partner_id, shard)
);

CREATE FUNCTION partner_customer_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO partner_customer_counts AS t (partner_id, shard, customers, paying, in_trial)
        SELECT partner_id, (pg_backend_pid() % 8)::smallint, count(*), count(*) FILTER (WHERE paying),
               count(*) FILTER (WHERE in_trial)
        FROM changed_new WHERE ended_at IS NULL
        GROUP BY partner_id ORDER BY partner_id
        ON CONFLICT (partner_id, shard) DO UPDATE
            SET customers = t.customers + EXCLUDED.customers, paying = t.paying + EXCLUDED.paying,
                in_trial = t.in_trial + EXCLUDED.in_trial;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO partner_customer_counts AS t (partner_id, shard, customers, paying, in_trial)
        SELECT partner_id, (pg_backend_pid() % 8)::smallint, -count(*), -count(*) FILTER (WHERE paying),
               -count(*) FILTER (WHERE in_trial)
        FROM changed_old WHERE ended_at IS NULL
        -- A partner being deleted takes its counts with it.
          AND EXISTS (SELECT 1 FROM partners p WHERE p.organization_id = changed_old.partner_id)
        GROUP BY partner_id ORDER BY partner_id
        ON CONFLICT (partner_id, shard) DO UPDATE
            SET customers = t.customers + EXCLUDED.customers, paying = t.paying + EXCLUDED.paying,
                in_trial = t.in_trial + EXCLUDED.in_trial;
    ELSE
        INSERT INTO partner_customer_counts AS t (partner_id, shard, customers, paying, in_trial)
        SELECT partner_id, (pg_backend_pid() % 8)::smallint, sum(n), sum(n * paying::int), sum(n * in_trial::int)
        FROM (SELECT partner_id, paying, in_trial, 1 AS n FROM changed_new WHERE ended_at IS NULL
              UNION ALL
              SELECT partner_id, paying, in_trial, -1 FROM changed_old WHERE ended_at IS NULL) d
        GROUP BY partner_id
        HAVING sum(n) <> 0 OR sum(n * paying::int) <> 0 OR sum(n * in_trial::int) <> 0
        ORDER BY partner_id
        ON CONFLICT (partner_id, shard) DO UPDATE
            SET customers = t.customers + EXCLUDED.customers, paying = t.paying + EXCLUDED.paying,
                in_trial = t.in_trial + EXCLUDED.in_trial;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER partner_customer_counts_insert AFTER INSERT ON service_provider_links
    REFERENCING NEW TABLE AS changed_new FOR EACH STATEMENT EXECUTE FUNCTION partner_customer_counts_apply();
CREATE TRIGGER partner_customer_counts_update AFTER UPDATE ON service_provider_links
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION partner_customer_counts_apply();
CREATE TRIGGER partner_customer_counts_delete AFTER DELETE ON service_provider_links
    REFERENCING OLD TABLE AS changed_old FOR EACH STATEMENT EXECUTE FUNCTION partner_customer_counts_apply();

-- Everything the triggers keep, computed in bulk from scratch: for this migration, and
-- for loading data with the triggers off (the scale data set).
CREATE FUNCTION customer_listing_rebuild() RETURNS void LANGUAGE sql AS $$
    UPDATE service_provider_links l
       SET customer_name = o.name, customer_active = o.active, customer_created_at = o.created_at,
           coming_expiry = e.coming_expiry, paying = p.organization_id IS NOT NULL,
           in_trial = t.organization_id IS NOT NULL,
           seats_used = coalesce(s.used, 0), seats_total = coalesce(s.total, 0)
      FROM organizations o
      LEFT JOIN (SELECT organization_id, min(ends_at) AS coming_expiry FROM (
                     SELECT organization_id, ends_at FROM trials WHERE status = 'active'
                     UNION ALL SELECT organization_id, ends_at FROM business_licences WHERE active
                     UNION ALL SELECT organization_id, ends_at FROM user_licences WHERE active) x
                 GROUP BY organization_id) e ON e.organization_id = o.id
      LEFT JOIN (SELECT DISTINCT organization_id FROM business_licences WHERE active AND kind = 'paid') p
             ON p.organization_id = o.id
      LEFT JOIN (SELECT DISTINCT organization_id FROM trials WHERE status = 'active') t
             ON t.organization_id = o.id
      LEFT JOIN (SELECT organization_id, count(*) FILTER (WHERE user_id IS NOT NULL) AS used, count(*) AS total
                 FROM user_licences WHERE active GROUP BY organization_id) s
             ON s.organization_id = o.id
     WHERE o.id = l.customer_id;
    UPDATE trials t SET partner_id = l.partner_id
      FROM service_provider_links l
     WHERE l.customer_id = t.organization_id AND l.ended_at IS NULL
       AND t.partner_id IS DISTINCT FROM l.partner_id;
    DELETE FROM partner_customer_counts;
    INSERT INTO partner_customer_counts (partner_id, shard, customers, paying, in_trial)
    SELECT partner_id, 0, count(*), count(*) FILTER (WHERE paying), count(*) FILTER (WHERE in_trial)
      FROM service_provider_links WHERE ended_at IS NULL GROUP BY partner_id;
$$;

SELECT customer_listing_rebuild();

ALTER TABLE service_provider_links
    ALTER COLUMN customer_name SET NOT NULL,
    ALTER COLUMN customer_active SET NOT NULL,
    ALTER COLUMN customer_created_at SET NOT NULL;

-- My customers: one range of one index per sort, in order, ending on the customer id.
-- (The partner's plain index is covered by these.)
DROP INDEX service_provider_links_partner;
CREATE INDEX service_provider_links_by_name
    ON service_provider_links (partner_id, lower(customer_name), customer_id) WHERE ended_at IS NULL;
CREATE INDEX service_provider_links_by_created
    ON service_provider_links (partner_id, customer_created_at, customer_id) WHERE ended_at IS NULL;
CREATE INDEX service_provider_links_by_expiry
    ON service_provider_links (partner_id, coming_expiry, customer_id) WHERE ended_at IS NULL;
-- The deactivated few, in the same orders (a list of them reads only them).
CREATE INDEX service_provider_links_inactive_by_name
    ON service_provider_links (partner_id, lower(customer_name), customer_id) WHERE ended_at IS NULL AND NOT customer_active;
CREATE INDEX service_provider_links_inactive_by_created
    ON service_provider_links (partner_id, customer_created_at, customer_id) WHERE ended_at IS NULL AND NOT customer_active;
CREATE INDEX service_provider_links_inactive_by_expiry
    ON service_provider_links (partner_id, coming_expiry, customer_id) WHERE ended_at IS NULL AND NOT customer_active;
-- Searching within names and debtor numbers (any part, any case).
CREATE INDEX service_provider_links_name_search
    ON service_provider_links USING gin (customer_name gin_trgm_ops) WHERE ended_at IS NULL;
CREATE INDEX service_provider_links_debtor_search
    ON service_provider_links USING gin (debtor_number gin_trgm_ops) WHERE ended_at IS NULL AND debtor_number IS NOT NULL;

-- The trials overview: the partner's trials by end date.
CREATE INDEX trials_partner_ends ON trials (partner_id, ends_at, id) WHERE partner_id IS NOT NULL;

-- A customer's primary contact: its first administrator, else its first company
-- administrator, each the first entry of a range here.
CREATE INDEX memberships_contact ON memberships (organization_id, role, created_at, id) WHERE active;

-- The dashboard's open invitations.
CREATE INDEX customer_invitations_open
    ON customer_invitations (partner_id, expires_at) WHERE accepted_at IS NULL AND revoked_at IS NULL;
