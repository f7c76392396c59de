-- Accounts are people, organizations are tenants. Joining an organization takes the
-- person's consent; what an organization sets for a person lives on the membership.

-- A sign-up waits for its e-mail address to be confirmed. The account is created only
-- when the e-mailed link is used, with the password of that very sign-up, so an
-- address someone else typed never becomes an account that can log in.
CREATE TABLE signups (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    first_name    text NOT NULL,
    last_name     text NOT NULL,
    language      text NOT NULL DEFAULT 'en' CONSTRAINT signups_language_valid CHECK (language IN ('en', 'nl', 'de')),
    password_hash text NOT NULL,
    token_hash    text NOT NULL CONSTRAINT signups_token_hash_key UNIQUE,
    expires_at    timestamptz NOT NULL,
    confirmed_at  timestamptz,
    user_id       uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX signups_email ON signups (email);

-- The organization that created an account for a new address (it may edit the names
-- while the person is a member nowhere else).
ALTER TABLE users ADD COLUMN managed_by_organization_id uuid REFERENCES organizations (id) ON DELETE SET NULL;

-- Consent: a membership grants nothing until the person accepted it. Until then the
-- organization sees only the address it typed.
ALTER TABLE memberships
    ADD COLUMN invited_email     text,
    ADD COLUMN invited_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN accepted_at       timestamptz,
    ADD COLUMN invite_generation integer NOT NULL DEFAULT 1,
    ADD COLUMN invite_token_hash text CONSTRAINT memberships_invite_token_hash_key UNIQUE,
    ADD COLUMN invite_expires_at timestamptz,
    -- Organization-scoped data of the person: the installed software's profile, and
    -- presence and version as the software reports them for this organization.
    ADD COLUMN profile           jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN last_seen_at      timestamptz,
    ADD COLUMN software_version  text;

UPDATE memberships m
SET accepted_at = m.created_at,
    profile = u.profile,
    last_seen_at = u.last_seen_at,
    software_version = u.software_version
FROM users u
WHERE u.id = m.user_id;

ALTER TABLE users
    DROP COLUMN profile,
    DROP COLUMN last_seen_at,
    DROP COLUMN software_version;

-- Accepted memberships of a person, oldest first (their organizations).
CREATE INDEX memberships_user_accepted ON memberships (user_id, created_at) WHERE accepted_at IS NOT NULL;

-- A set-password link sent with an invitation is also the consent to that membership.
ALTER TABLE password_links ADD COLUMN membership_id uuid REFERENCES memberships (id) ON DELETE SET NULL;

-- Licences belong to an organization: one active user licence per organization, user
-- and module, so a licence or trial in one organization never blocks another.
DROP INDEX user_licences_one_active;
CREATE UNIQUE INDEX user_licences_one_active
    ON user_licences (organization_id, user_id, module_id) WHERE active AND user_id IS NOT NULL;

-- An API token acts for the organization it was created in.
ALTER TABLE api_tokens ADD COLUMN organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE;

-- Failed log-ins per account and per client address, shared by every web process.
CREATE TABLE login_throttle (
    key               text PRIMARY KEY,
    failures          integer NOT NULL,
    window_started_at timestamptz NOT NULL,
    blocked_until     timestamptz
);

-- E-mails to one address in the last hour (the per-address sending limit).
CREATE INDEX email_deliveries_recipient ON email_deliveries (recipient, created_at);

-- Customers a partner created grant it everything, including their status.
UPDATE service_provider_links
SET granted_permissions = array_append(granted_permissions, 'edit_company_status')
WHERE origin = 'created_by_partner' AND NOT ('edit_company_status' = ANY (granted_permissions));

-- Accounts that already log in keep doing so; from now on a sign-up confirms its address
-- before the account exists.
UPDATE users SET email_verified_at = created_at WHERE email_verified_at IS NULL AND password_hash IS NOT NULL;
