-- Single sign-on: identities at OpenID Connect providers linked to accounts.
--
-- The link is the provider's (issuer, subject), never the e-mail address: an address
-- that changes at the provider does not move the sign-in to another account.
CREATE TABLE identity_links (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The configured provider's name (microsoft, google, ...), for display and buttons.
    provider text NOT NULL CHECK (length(provider) BETWEEN 1 AND 32),
    issuer text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 500),
    subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    -- Microsoft: the directory (tid) and the object id (oid) of the person in it.
    tenant_id text CHECK (length(tenant_id) <= 100),
    object_id text CHECK (length(object_id) <= 100),
    -- The address the provider gave at the last sign-in (shown in the profile only).
    email text CHECK (length(email) <= 320),
    linked_via text NOT NULL CHECK (linked_via IN ('verified_email', 'profile', 'sign_up')),
    -- Sessions opened with it satisfy an organization that requires single sign-on:
    -- linked by the provider's verified address, or from a session that did already.
    -- An identity linked from a password session does not (a stolen password must not
    -- be enough to add one's own identity and pass the requirement).
    counts_for_sso boolean NOT NULL,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz,
    UNIQUE (issuer, subject)
);
CREATE INDEX identity_links_user ON identity_links (user_id, id);

-- A session opened with single sign-on names the identity it was opened with.
ALTER TABLE sessions
    ADD COLUMN identity_link_id uuid REFERENCES identity_links (id) ON DELETE SET NULL;
CREATE INDEX sessions_identity_link ON sessions (identity_link_id) WHERE identity_link_id IS NOT NULL;

-- An organization's administrators can require single sign-on of its members.
ALTER TABLE organizations ADD COLUMN require_sso boolean NOT NULL DEFAULT false;
