UPDATE service_provider_links SET granted_permissions = array_remove(granted_permissions, 'edit_company_status');
DROP INDEX email_deliveries_recipient;
DROP TABLE login_throttle;
ALTER TABLE api_tokens DROP COLUMN organization_id;
DROP INDEX user_licences_one_active;
CREATE UNIQUE INDEX user_licences_one_active ON user_licences (user_id, module_id) WHERE active AND user_id IS NOT NULL;
ALTER TABLE password_links DROP COLUMN membership_id;
DROP INDEX memberships_user_accepted;
ALTER TABLE users
    ADD COLUMN profile jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN last_seen_at timestamptz,
    ADD COLUMN software_version text;
DELETE FROM memberships WHERE accepted_at IS NULL;
ALTER TABLE memberships
    DROP COLUMN invited_email,
    DROP COLUMN invited_by,
    DROP COLUMN accepted_at,
    DROP COLUMN invite_generation,
    DROP COLUMN invite_token_hash,
    DROP COLUMN invite_expires_at,
    DROP COLUMN profile,
    DROP COLUMN last_seen_at,
    DROP COLUMN software_version;
ALTER TABLE users DROP COLUMN managed_by_organization_id;
DROP TABLE signups;
