//! Identities at single sign-on providers, linked to accounts by (issuer, subject).
//!
//! An identity reaches an account in one of three ways: it is linked already; the
//! provider vouches for an address that an account has (the link is made then, and
//! stays with that account whatever the address becomes later); or the person links it
//! from their profile while signed in. An address the provider does not vouch for links
//! nothing. A verified address without an account starts one with no organization: as
//! after sign-up, access to an organization needs an accepted membership.

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::json;
use uuid::Uuid;

use crate::platform::oidc::VerifiedIdentity;
use crate::{
    Ctx, Error, Result,
    identity::{
        accounts::{self, Principal},
        sessions::{Session, SessionMeta},
    },
    platform::audit::{Action, Who},
    platform::config::{Config, SsoProvider},
    platform::domain::{Email, Language, format_time},
    platform::links::Page,
    platform::mail::EmailKind,
    platform::op::{self, Op},
    schema::{identity_links as l, sessions, users},
};

/// An identity linked to an account, as the profile lists it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = l)]
pub struct Identity {
    pub id: Uuid,
    pub provider: String,
    pub email: Option<String>,
    pub linked_via: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

fn not_verified(provider: &SsoProvider) -> Error {
    tracing::info!(provider = %provider.name, "an identity without a verified address was not linked");
    Error::Forbidden {
        code: "sso_email_not_verified",
        message: "The provider did not confirm your e-mail address, so it cannot be matched to an account. Log in with your password and link the provider from your profile."
            .to_owned(),
    }
}

/// Signs in with a verified identity: the linked account, else the account of the
/// verified address (linking it), else a new account. Returns the session, its raw
/// token and whether the account is new.
pub(super) async fn sign_in(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    provider: &SsoProvider,
    identity: &VerifiedIdentity,
    meta: &SessionMeta,
) -> Result<SignedIn> {
    op::run_as(conn, ctx, Who::system(None), async |op| {
        let linked: Option<(Uuid, Uuid, bool)> = l::table
            .filter(l::issuer.eq(&identity.issuer))
            .filter(l::subject.eq(&identity.subject))
            .select((l::id, l::user_id, l::counts_for_sso))
            .for_update()
            .first(op.conn)
            .await
            .optional()?;
        let new_link = linked.is_none();
        let (link_id, user_id, counts, new_account) = match linked {
            Some((link_id, user_id, counts)) => {
                let counts = counts || vouches_for_account(op, user_id, identity).await?;
                diesel::update(l::table.find(link_id))
                    .set((
                        l::last_used_at.eq(op.now),
                        l::email.eq(&identity.email),
                        l::counts_for_sso.eq(counts),
                    ))
                    .execute(op.conn)
                    .await?;
                (link_id, user_id, counts, false)
            }
            None => {
                let (link_id, user_id, new_account) = link_by_address(op, provider, identity).await?;
                (link_id, user_id, true, new_account)
            }
        };
        let active: bool = users::table.find(user_id).select(users::active).first(op.conn).await?;
        if !active {
            return Err(Error::unauthenticated("account_disabled", "The account is disabled"));
        }
        let (session, token) =
            crate::identity::sessions::open_session(op, user_id.into(), meta, Some(link_id), counts).await?;
        let linked = match new_link {
            true => Some(
                l::table
                    .find(link_id)
                    .select(Identity::as_select())
                    .first(op.conn)
                    .await?,
            ),
            false => None,
        };
        Ok(SignedIn {
            session,
            token,
            new_account,
            linked,
        })
    })
    .await
}

/// A sign-in: the session opened, and the identity this sign-in linked (to an account
/// found by its verified address, or to the account it made), if it was not linked yet.
pub(super) struct SignedIn {
    pub session: Session,
    pub token: String,
    pub new_account: bool,
    pub linked: Option<Identity>,
}

/// Whether the provider now vouches for the account's own address: an identity linked
/// from a password session then satisfies organizations that require single sign-on.
async fn vouches_for_account(op: &mut Op<'_>, user_id: Uuid, identity: &VerifiedIdentity) -> Result<bool> {
    if !identity.email_verified {
        return Ok(false);
    }
    let email: String = users::table.find(user_id).select(users::email).first(op.conn).await?;
    Ok(identity.email.as_deref() == Some(email.as_str()))
}

/// The first sign-in of an identity: only a verified address finds or makes the
/// account.
async fn link_by_address(
    op: &mut Op<'_>,
    provider: &SsoProvider,
    identity: &VerifiedIdentity,
) -> Result<(Uuid, Uuid, bool)> {
    if !identity.email_verified {
        return Err(not_verified(provider));
    }
    let email = identity
        .email
        .as_deref()
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| not_verified(provider))?;
    let existing: Option<(Uuid, Option<DateTime<Utc>>)> = users::table
        .filter(users::email.eq(email.as_str()))
        .select((users::id, users::email_verified_at))
        .for_update()
        .first(op.conn)
        .await
        .optional()?;
    let (user_id, via, new_account) = match existing {
        Some((user_id, verified_at)) => {
            if verified_at.is_none() {
                // The provider proved the address, as a link e-mailed to it would.
                diesel::update(users::table.find(user_id))
                    .set(users::email_verified_at.eq(op.now))
                    .execute(op.conn)
                    .await?;
            }
            let via = if verified_at.is_none() {
                "verified_email_confirmed"
            } else {
                "verified_email"
            };
            (user_id, via, false)
        }
        None => (new_account(op, identity, &email).await?, "sign_up", true),
    };
    let link_id = insert_link(op, user_id, identity, via, true).await?;
    Ok((link_id, user_id, new_account))
}

/// An account for a verified address nobody has yet: no password, no organization.
async fn new_account(op: &mut Op<'_>, identity: &VerifiedIdentity, email: &Email) -> Result<Uuid> {
    let clip = |s: &str| s.trim().chars().take(100).collect::<String>();
    let local_part = email.as_str().split('@').next().unwrap_or("").to_owned();
    let first = identity
        .first_name
        .as_deref()
        .map(clip)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| clip(&local_part));
    let last = identity.last_name.as_deref().map(clip).unwrap_or_default();
    let language = identity
        .locale
        .as_deref()
        .and_then(|l| Language::parse(&l.chars().take(2).collect::<String>().to_ascii_lowercase()).ok())
        .unwrap_or(Language::En);
    let user = accounts::insert_user(op.conn, op.now, email, None, &first, &last, language).await?;
    op.audit_as(
        Who::user(user.id.into(), None),
        Action::UserSignedUp,
        user.id,
        json!({ "email": user.email, "provider": identity.provider }),
    )
    .await?;
    Ok(user.id)
}

/// Links the identity. `via` says how (`verified_email_confirmed`: by a verified
/// address that also confirmed the account's address, stored as `verified_email`).
async fn insert_link(
    op: &mut Op<'_>,
    user_id: Uuid,
    identity: &VerifiedIdentity,
    via: &str,
    counts_for_sso: bool,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let (stored_via, confirmed) = match via {
        "verified_email_confirmed" => ("verified_email", true),
        other => (other, false),
    };
    diesel::insert_into(l::table)
        .values((
            l::id.eq(id),
            l::user_id.eq(user_id),
            l::provider.eq(&identity.provider),
            l::issuer.eq(&identity.issuer),
            l::subject.eq(&identity.subject),
            l::tenant_id.eq(&identity.tenant_id),
            l::object_id.eq(&identity.object_id),
            l::email.eq(&identity.email),
            l::linked_via.eq(stored_via),
            l::counts_for_sso.eq(counts_for_sso),
            l::created_at.eq(op.now),
            l::last_used_at.eq(op.now),
        ))
        .execute(op.conn)
        .await?;
    if via != "sign_up" {
        // The account's holder hears of every new way into it.
        let (email, language): (String, String) = users::table
            .find(user_id)
            .select((users::email, users::language))
            .first(op.conn)
            .await?;
        op.email(
            &format!("identity.linked:{id}"),
            &Email::parse(&email)?,
            Language::from_db(&language),
            EmailKind::IdentityLinked { link_id: id },
        )
        .await?;
    }
    op.audit_as(
        Who::user(user_id.into(), None),
        Action::IdentityLinked,
        id,
        json!({
            "provider": identity.provider, "issuer": identity.issuer, "email": identity.email,
            "via": stored_via, "counts_for_sso": counts_for_sso, "address_confirmed": confirmed,
        }),
    )
    .await?;
    Ok(id)
}

/// Links an identity to the signed-in person's account (from the profile). An
/// identity linked to another account stays there. Linked in a session opened with
/// single sign-on (`sso_session`), it satisfies organizations that require it.
pub(super) async fn link(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    user_id: Uuid,
    identity: &VerifiedIdentity,
    sso_session: bool,
) -> Result<Identity> {
    op::run_as(conn, ctx, Who::user(user_id.into(), None), async |op| {
        let linked: Option<(Uuid, Uuid)> = l::table
            .filter(l::issuer.eq(&identity.issuer))
            .filter(l::subject.eq(&identity.subject))
            .select((l::id, l::user_id))
            .for_update()
            .first(op.conn)
            .await
            .optional()?;
        let id = match linked {
            Some((_, owner)) if owner != user_id => {
                return Err(Error::conflict(
                    "sso_identity_linked_elsewhere",
                    None,
                    "This identity signs in to another account; remove it there first",
                ));
            }
            Some((id, _)) => id,
            None => insert_link(op, user_id, identity, "profile", sso_session).await?,
        };
        Ok(l::table.find(id).select(Identity::as_select()).first(op.conn).await?)
    })
    .await
}

/// The person's linked identities, oldest first.
pub async fn list(conn: &mut AsyncPgConnection, principal: &Principal) -> Result<Vec<Identity>> {
    let user_id = principal.personal()?;
    Ok(l::table
        .filter(l::user_id.eq(user_id))
        .order(l::id.asc())
        .limit(100)
        .select(Identity::as_select())
        .load(conn)
        .await?)
}

/// Removes one of the person's identities and ends the other sessions opened with it.
/// The last way to sign in of an account without a password stays.
pub async fn remove(conn: &mut AsyncPgConnection, ctx: &Ctx, principal: &Principal, id: Uuid) -> Result<()> {
    let user_id = principal.personal()?;
    let current = match principal.credential {
        accounts::Credential::Session { id, .. } => Some(id),
        accounts::Credential::Token { .. } => None,
    };
    op::run_as(conn, ctx, Who::user(user_id.into(), None), async |op| {
        let (provider, has_password): (String, bool) = l::table
            .inner_join(users::table)
            .filter(l::id.eq(id))
            .filter(l::user_id.eq(user_id))
            .select((l::provider, users::password_hash.is_not_null()))
            .for_update()
            .first(op.conn)
            .await
            .optional()?
            .ok_or_else(|| Error::not_found("identity"))?;
        let links: i64 = l::table.filter(l::user_id.eq(user_id)).count().get_result(op.conn).await?;
        if !has_password && links <= 1 {
            return Err(Error::conflict(
                "last_sign_in_method",
                None,
                "This is the only way to sign in to your account: set a password first (Forgot your password? on the log-in page)",
            ));
        }
        diesel::update(
            sessions::table
                .filter(sessions::identity_link_id.eq(id))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::id.ne(current.unwrap_or_default())),
        )
        .set(sessions::revoked_at.eq(op.now))
        .execute(op.conn)
        .await?;
        diesel::delete(l::table.find(id)).execute(op.conn).await?;
        op.audit(Action::IdentityRemoved, id, json!({ "provider": provider })).await
    })
    .await
}

/// What the e-mail about a newly linked identity tells the account's holder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IdentityLinkedEmail {
    pub first_name: String,
    pub provider: String,
    pub provider_email: String,
    pub linked_at: String,
    pub profile_url: String,
}

impl IdentityLinkedEmail {
    pub async fn load(conn: &mut AsyncPgConnection, config: &Config, link_id: Uuid) -> Result<Option<Self>> {
        let row: Option<(String, Option<String>, DateTime<Utc>, String)> = l::table
            .inner_join(users::table)
            .filter(l::id.eq(link_id))
            .select((l::provider, l::email, l::created_at, users::first_name))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(
            |(provider, provider_email, linked_at, first_name)| IdentityLinkedEmail {
                first_name,
                provider: config
                    .sso_provider(&provider)
                    .map(|p| p.label.clone())
                    .unwrap_or(provider),
                provider_email: provider_email.unwrap_or_default(),
                linked_at: format_time(linked_at),
                profile_url: Page::Profile.url(config),
            },
        ))
    }
}
