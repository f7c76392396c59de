DROP INDEX memberships_contact;
DROP INDEX customer_invitations_open;
DROP INDEX trials_partner_ends;
DROP INDEX service_provider_links_debtor_search;
DROP INDEX service_provider_links_name_search;
DROP INDEX service_provider_links_by_expiry;
DROP INDEX service_provider_links_inactive_by_name;
DROP INDEX service_provider_links_inactive_by_created;
DROP INDEX service_provider_links_inactive_by_expiry;
DROP INDEX service_provider_links_by_created;
DROP INDEX service_provider_links_by_name;
CREATE INDEX service_provider_links_partner ON service_provider_links (partner_id) WHERE ended_at IS NULL;
DROP FUNCTION customer_listing_rebuild();
DROP TRIGGER partner_customer_counts_insert ON service_provider_links;
DROP TRIGGER partner_customer_counts_update ON service_provider_links;
DROP TRIGGER partner_customer_counts_delete ON service_provider_links;
DROP FUNCTION partner_customer_counts_apply();
DROP TABLE partner_customer_counts;
DROP TRIGGER service_provider_links_to_trials ON service_provider_links;
DROP FUNCTION service_provider_links_to_trials();
DROP TRIGGER trials_fill_partner ON trials;
DROP FUNCTION trials_fill_partner();
DROP TRIGGER trials_figures_insert ON trials;
DROP TRIGGER trials_figures_update ON trials;
DROP TRIGGER trials_figures_delete ON trials;
DROP TRIGGER business_licences_figures_insert ON business_licences;
DROP TRIGGER business_licences_figures_update ON business_licences;
DROP TRIGGER business_licences_figures_delete ON business_licences;
DROP TRIGGER user_licences_figures_insert ON user_licences;
DROP TRIGGER user_licences_figures_update ON user_licences;
DROP TRIGGER user_licences_figures_delete ON user_licences;
DROP FUNCTION customer_figures_refresh();
DROP TRIGGER organizations_to_links ON organizations;
DROP FUNCTION organizations_to_links();
DROP TRIGGER service_provider_links_fill ON service_provider_links;
DROP FUNCTION service_provider_links_fill();
DROP FUNCTION customer_figures(uuid);
DROP INDEX business_licences_expiry;
DROP INDEX user_licences_expiry;
ALTER TABLE trials DROP COLUMN partner_id;
ALTER TABLE service_provider_links
    DROP COLUMN customer_name,
    DROP COLUMN customer_active,
    DROP COLUMN customer_created_at,
    DROP COLUMN coming_expiry,
    DROP COLUMN paying,
    DROP COLUMN in_trial,
    DROP COLUMN seats_used,
    DROP COLUMN seats_total;
