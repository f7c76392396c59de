ALTER TABLE organizations DROP COLUMN require_sso;
DROP INDEX sessions_identity_link;
ALTER TABLE sessions DROP COLUMN identity_link_id;
DROP TABLE identity_links;
