-- Delegated administration: grants with a lifetime, requests for more, and bounded
-- sessions in which a partner's staff member manages a customer or logs in as one of
-- its users.

-- The customer's grants to its service provider may end; then they are gone at once.
ALTER TABLE service_provider_links ADD COLUMN grants_end_at timestamptz;
CREATE INDEX service_provider_links_grants_ending ON service_provider_links (grants_end_at)
    WHERE ended_at IS NULL AND grants_end_at IS NOT NULL;

-- A partner asks its customer for more permissions; the customer accepts or declines,
-- or the request expires unanswered. One open request per link.
CREATE TABLE grant_requests (
    id           uuid PRIMARY KEY,
    link_id      uuid NOT NULL REFERENCES service_provider_links (id) ON DELETE CASCADE,
    customer_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    partner_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    permissions  text[] NOT NULL,
    message      text CONSTRAINT grant_requests_message_length CHECK (length(message) <= 1000),
    requested_by uuid REFERENCES users (id) ON DELETE SET NULL,
    requested_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    -- NULL while open.
    decision     text CONSTRAINT grant_requests_decision CHECK (decision IN ('accepted', 'declined', 'expired', 'withdrawn')),
    decided_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    decided_at   timestamptz
);
CREATE UNIQUE INDEX grant_requests_one_open ON grant_requests (link_id) WHERE decision IS NULL;
CREATE INDEX grant_requests_customer ON grant_requests (customer_id, requested_at DESC);

-- A partner staff member acting inside one customer: a management session (with the
-- customer's grants) or "login as" one of its users. Bounded in time; the customer
-- sees and can end every one.
CREATE TABLE delegated_sessions (
    id                   uuid PRIMARY KEY,
    kind                 text NOT NULL CONSTRAINT delegated_sessions_kind CHECK (kind IN ('manage', 'login_as')),
    user_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    partner_id           uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    customer_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    impersonated_user_id uuid REFERENCES users (id) ON DELETE CASCADE,
    reason               text CONSTRAINT delegated_sessions_reason_length CHECK (length(reason) <= 500),
    started_at           timestamptz NOT NULL,
    expires_at           timestamptz NOT NULL,
    ended_at             timestamptz,
    ended_by             uuid REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT delegated_sessions_login_as_names_user
        CHECK ((kind = 'login_as') = (impersonated_user_id IS NOT NULL))
);
CREATE INDEX delegated_sessions_customer ON delegated_sessions (customer_id, started_at DESC);
CREATE INDEX delegated_sessions_user_open ON delegated_sessions (user_id) WHERE ended_at IS NULL;

-- The portal session a delegated session runs in (the banner, Exit).
ALTER TABLE sessions DROP COLUMN managed_organization_id;
ALTER TABLE sessions DROP COLUMN impersonated_user_id;
ALTER TABLE sessions DROP COLUMN parent_session_id;
ALTER TABLE sessions ADD COLUMN delegated_session_id uuid REFERENCES delegated_sessions (id) ON DELETE SET NULL;

-- Every audit entry made inside a delegated session names it.
ALTER TABLE audit_log ADD COLUMN delegated_session_id uuid REFERENCES delegated_sessions (id) ON DELETE SET NULL;
CREATE INDEX audit_log_delegated_session ON audit_log (delegated_session_id, id) WHERE delegated_session_id IS NOT NULL;
