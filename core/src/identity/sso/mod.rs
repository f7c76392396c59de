//! Single sign-on with OpenID Connect providers (Microsoft, Google, any issuer),
//! next to passwords.
//!
//! An attempt starts here with a fresh state, nonce and PKCE verifier. They travel in
//! a cookie signed with the server secret, so the provider's answer is accepted only in
//! the browser that started the attempt, within ten minutes; the provider takes each
//! code once, and the portal clears the cookie when the answer comes. The answer's code is
//! exchanged at the provider and its ID token verified (`platform::oidc`); then the identity
//! signs in to the account it is linked to, or is linked by a verified address, or
//! starts a new account with no organization (`identities`).

mod identities;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub use identities::{Identity, IdentityLinkedEmail, list, remove};

use crate::{
    Ctx, Error, Result,
    identity::sessions::{Session, SessionMeta},
    platform::config::{SsoKind, SsoProvider},
    platform::db::Pool,
    platform::tokens,
};

/// The cookie that carries an attempt from its start to the provider's answer.
pub const COOKIE: &str = "pd_sso";
/// How long a person has at the provider.
const ATTEMPT_MINUTES: i64 = 10;

/// What the attempt's cookie holds (signed, not readable by scripts).
#[derive(Debug, Serialize, Deserialize)]
struct Attempt {
    provider: String,
    state: String,
    nonce: String,
    verifier: String,
    /// Set when a signed-in person links an identity from their profile.
    link_user: Option<Uuid>,
    next: Option<String>,
    expires: i64,
}

/// A started attempt: send the browser to `authorization_url` with `cookie` set.
#[derive(Debug, Clone)]
pub struct Started {
    pub authorization_url: String,
    pub cookie: String,
    pub expires_at: DateTime<Utc>,
}

/// A path on this site to return to after signing in, or nothing.
pub fn local_path(next: Option<&str>) -> Option<String> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && n.len() <= 500
            // Browsers drop tabs and newlines and read `\` as `/`: `/\t/evil` is `//evil`.
            && !n.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    })
    .map(str::to_owned)
}

fn provider<'c>(ctx: &'c Ctx, name: &str) -> Result<&'c SsoProvider> {
    ctx.config
        .sso_provider(name)
        .ok_or_else(|| Error::not_found("sign-in provider"))
}

/// Starts signing in (`link_user` empty) or linking an identity to the signed-in
/// person's account.
pub async fn start(ctx: &Ctx, provider_name: &str, link_user: Option<Uuid>, next: Option<&str>) -> Result<Started> {
    let provider = provider(ctx, provider_name)?;
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    let (state, nonce) = (tokens::random_token(), tokens::random_token());
    let authorization_url = ctx
        .sso
        .authorization_url(&ctx.config, provider, &state, &nonce, challenge)
        .await?;
    let expires_at = ctx.now() + Duration::minutes(ATTEMPT_MINUTES);
    let attempt = Attempt {
        provider: provider.name.clone(),
        state,
        nonce,
        verifier: verifier.secret().clone(),
        link_user,
        next: local_path(next),
        expires: expires_at.timestamp(),
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&attempt).map_err(Error::internal)?);
    let signature = tokens::sign(ctx.secret(), "sso-attempt", &payload);
    Ok(Started {
        authorization_url,
        cookie: format!("{payload}.{signature}"),
        expires_at,
    })
}

fn state_mismatch() -> Error {
    Error::bad_request(
        "sso_state_mismatch",
        Some("state"),
        "This sign-in was not started in this browser, was used already or took too long; start again",
    )
}

/// Reads the attempt's cookie: signed by this service, not expired.
fn open(ctx: &Ctx, cookie: Option<&str>) -> Result<Attempt> {
    let (payload, signature) = cookie.and_then(|c| c.split_once('.')).ok_or_else(state_mismatch)?;
    if !tokens::verify(ctx.secret(), "sso-attempt", payload, signature) {
        return Err(state_mismatch());
    }
    let attempt: Attempt = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(state_mismatch)?;
    if attempt.expires <= ctx.now().timestamp() {
        return Err(state_mismatch());
    }
    Ok(attempt)
}

/// The provider's answer as it arrives at the redirect URL.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    /// RFC 9207: the issuer that answered, when the provider says.
    pub iss: Option<String>,
    pub error: Option<String>,
}

/// How an attempt ended.
#[derive(Debug)]
pub enum Outcome {
    SignedIn {
        session: Session,
        token: String,
        /// The account was made by this sign-in.
        new_account: bool,
        /// The identity this sign-in linked, when it was not linked before.
        linked: Option<Identity>,
        next: Option<String>,
    },
    Linked {
        identity: Identity,
        next: Option<String>,
    },
}

/// Completes an attempt: the answer must belong to the attempt in `cookie` (provider
/// and state), the code is exchanged and the ID token verified, then the identity signs
/// in or is linked. `current` is the person signed in with a portal session in this
/// browser, if any, and whether that session was opened with single sign-on.
pub async fn complete(
    pool: &Pool,
    ctx: &Ctx,
    provider_name: &str,
    cookie: Option<&str>,
    callback: Callback,
    current: Option<(Uuid, bool)>,
    meta: SessionMeta,
) -> Result<Outcome> {
    let provider = provider(ctx, provider_name)?;
    let attempt = open(ctx, cookie)?;
    let state_matches = callback
        .state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(attempt.state.as_bytes())));
    if attempt.provider != provider.name || !state_matches {
        return Err(state_mismatch());
    }
    // A provider that names itself must be the one the attempt went to (mix-up).
    if let Some(iss) = callback.iss.as_deref()
        && provider.kind != SsoKind::Microsoft
        && iss != provider.issuer
    {
        return Err(state_mismatch());
    }
    if let Some(error) = callback.error {
        let error: String = error.chars().take(100).collect();
        tracing::info!(provider = %provider.name, %error, "the provider did not sign the person in");
        return Err(Error::bad_request(
            "sso_provider_refused",
            None,
            "The provider did not sign you in; start again",
        ));
    }
    let code = callback
        .code
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or_else(|| Error::bad_request("sso_code_missing", Some("code"), "The provider sent no code"))?;
    let identity = ctx
        .sso
        .exchange(&ctx.config, provider, code, attempt.verifier, &attempt.nonce, ctx.now())
        .await?;
    let mut conn = pool.get().await?;
    match attempt.link_user {
        Some(user_id) => {
            // Linking is finished by the person who started it, still signed in.
            let Some((current_user, sso_session)) = current.filter(|(u, _)| *u == user_id) else {
                return Err(state_mismatch());
            };
            let identity = identities::link(&mut conn, ctx, current_user, &identity, sso_session).await?;
            Ok(Outcome::Linked {
                identity,
                next: attempt.next,
            })
        }
        None => {
            let signed_in = identities::sign_in(&mut conn, ctx, provider, &identity, &meta).await?;
            Ok(Outcome::SignedIn {
                session: signed_in.session,
                token: signed_in.token,
                new_account: signed_in.new_account,
                linked: signed_in.linked,
                next: attempt.next,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_on_this_site_are_returned_to() {
        assert_eq!(
            local_path(Some("/customers?page=2")).as_deref(),
            Some("/customers?page=2")
        );
        for away in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "evil",
        ] {
            assert_eq!(local_path(Some(away)), None, "{away:?}");
        }
        assert_eq!(local_path(Some(&format!("/{}", "a".repeat(600)))), None);
    }
}
