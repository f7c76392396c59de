//! Talking to OpenID Connect providers: discovery, the JWKS (fetched again when a token
//! names a key not seen yet, which is how providers rotate), the code exchange with
//! PKCE, and verification of the ID token's signature, issuer, audience, expiry and
//! nonce (the `openidconnect` crate), plus the Microsoft rules for issuers and
//! addresses.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, IdToken, IdTokenClaims,
    IssuerUrl, Nonce, PkceCodeVerifier, RedirectUrl, SignatureVerificationError,
    core::{
        CoreClient, CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm, CoreProviderMetadata,
    },
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::{
    Error, Result,
    platform::config::{Config, MICROSOFT_CONSUMER_TENANT, SsoKind, SsoProvider},
};

/// The longest answer read from a provider (discovery, keys, tokens).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Discovery documents are read again after this long.
const METADATA_TTL: Duration = Duration::from_secs(24 * 3600);

/// Claims beyond the standard ones: Microsoft's directory, object id and whether the
/// directory verified the address's domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xms_edov: Option<serde_json::Value>,
    /// Google Workspace: the domain that manages the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hd: Option<String>,
}

impl AdditionalClaims for ExtraClaims {}

type Token = IdToken<ExtraClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;
type Claims = IdTokenClaims<ExtraClaims, CoreGenderClaim>;

/// Who the provider says signed in, after every check passed.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub tenant_id: Option<String>,
    pub object_id: Option<String>,
    pub email: Option<String>,
    /// The provider vouches that the person controls `email`.
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
}

/// What the provider published, as last read.
struct Discovered {
    metadata: CoreProviderMetadata,
    read_at: std::time::Instant,
}

/// One provider's cache: what it published, and when reading it last failed (no new
/// attempt for `RETRY_AFTER_FAILURE`, so that log-in buttons pressed while a provider
/// is down do not each wait for it).
#[derive(Default)]
struct Slot {
    discovered: Option<Arc<Discovered>>,
    failed_at: Option<std::time::Instant>,
}

const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// The configured providers with their discovery documents and keys, shared by all
/// requests of the process.
pub struct Providers {
    http: HttpsClient,
    cache: HashMap<String, Mutex<Slot>>,
}

impl Providers {
    pub fn new(config: &Config) -> Self {
        Providers {
            http: http_client(),
            cache: config
                .sso
                .iter()
                .map(|p| (p.name.clone(), Mutex::new(Slot::default())))
                .collect(),
        }
    }

    /// The discovery document with keys: read when missing or a day old, the keys read
    /// again when `refresh_keys` (a token named a key not seen yet). One read at a time
    /// per provider; a stale document serves while the provider cannot be reached.
    async fn discovered(&self, provider: &SsoProvider, refresh_keys: bool) -> Result<Arc<Discovered>> {
        let slot = self.cache.get(&provider.name).ok_or_else(unknown_provider)?;
        let mut slot = slot.lock().await;
        let current = slot.discovered.clone();
        if let Some(d) = &current
            && !refresh_keys
            && d.read_at.elapsed() < METADATA_TTL
        {
            return Ok(d.clone());
        }
        if slot.failed_at.is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE) {
            return current.ok_or_else(|| unavailable(format!("{} failed moments ago", provider.name)));
        }
        let read = match (&current, refresh_keys) {
            (Some(d), true) if d.read_at.elapsed() < METADATA_TTL => self
                .keys(d.metadata.jwks_uri().url().as_str())
                .await
                .map(|keys| Discovered {
                    metadata: d.metadata.clone().set_jwks(keys),
                    read_at: d.read_at,
                }),
            _ => self.read(provider).await,
        };
        match read {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *slot = Slot {
                    discovered: Some(fresh.clone()),
                    failed_at: None,
                };
                Ok(fresh)
            }
            Err(e) => {
                slot.failed_at = Some(std::time::Instant::now());
                current.filter(|_| !refresh_keys).ok_or(e)
            }
        }
    }

    /// Reads the discovery document (its issuer must be the configured one) and keys.
    async fn read(&self, provider: &SsoProvider) -> Result<Discovered> {
        let metadata: CoreProviderMetadata = serde_json::from_slice(&self.get(provider.discovery_url.as_str()).await?)
            .map_err(|e| unavailable(format!("discovery document of {}: {e}", provider.name)))?;
        if provider.kind != SsoKind::Microsoft && metadata.issuer().as_str() != provider.issuer {
            return Err(unavailable(format!(
                "{} names issuer {} instead of {}",
                provider.discovery_url,
                metadata.issuer().as_str(),
                provider.issuer
            )));
        }
        // The code, the client secret and the keys travel over https only (http only
        // for a provider on this machine, as its configuration allows).
        let local = provider.discovery_url.scheme() == "http";
        let endpoints = [
            Some(metadata.authorization_endpoint().url()),
            metadata.token_endpoint().map(|t| t.url()),
            Some(metadata.jwks_uri().url()),
        ];
        if let Some(plain) = endpoints
            .into_iter()
            .flatten()
            .find(|u| u.scheme() != "https" && !local)
        {
            return Err(unavailable(format!(
                "{} names a plain http endpoint: {plain}",
                provider.name
            )));
        }
        let keys = self.keys(metadata.jwks_uri().url().as_str()).await?;
        Ok(Discovered {
            metadata: metadata.set_jwks(keys),
            read_at: std::time::Instant::now(),
        })
    }

    async fn keys(&self, url: &str) -> Result<CoreJsonWebKeySet> {
        serde_json::from_slice(&self.get(url).await?).map_err(|e| unavailable(format!("keys at {url}: {e}")))
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| unavailable(format!("{url}: {e}")))?;
        let resp = send(&self.http, request)
            .await
            .map_err(|e| unavailable(format!("{url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("{url} answered {}", resp.status())));
        }
        Ok(resp.into_body())
    }

    /// Where to send the browser: the provider's authorization endpoint with the state,
    /// nonce and PKCE challenge of this attempt.
    pub async fn authorization_url(
        &self,
        config: &Config,
        provider: &SsoProvider,
        state: &str,
        nonce: &str,
        challenge: openidconnect::PkceCodeChallenge,
    ) -> Result<String> {
        let discovered = self.discovered(provider, false).await?;
        let client = client(config, provider, &discovered.metadata)?;
        let (state, nonce) = (state.to_owned(), nonce.to_owned());
        let (url, _, _) = client
            .authorize_url(
                openidconnect::AuthenticationFlow::<openidconnect::core::CoreResponseType>::AuthorizationCode,
                move || openidconnect::CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scope(openidconnect::Scope::new("email".to_owned()))
            .add_scope(openidconnect::Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(url.to_string())
    }

    /// Exchanges the code (with the PKCE verifier) and verifies the ID token.
    pub async fn exchange(
        &self,
        config: &Config,
        provider: &SsoProvider,
        code: String,
        verifier: String,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedIdentity> {
        let discovered = self.discovered(provider, false).await?;
        let client = client(config, provider, &discovered.metadata)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| unavailable(format!("{}: {e}", provider.name)))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&Http(&self.http))
            .await
            .map_err(|e| {
                tracing::info!(provider = %provider.name, error = %e, "the provider refused the code");
                Error::bad_request(
                    "sso_code_refused",
                    None,
                    "The provider did not accept this sign-in; start again",
                )
            })?;
        let raw = openidconnect::TokenResponse::id_token(&response)
            .ok_or_else(|| invalid_token("the provider sent no ID token".to_owned()))?
            .to_string();
        let token: Token = raw
            .parse()
            .map_err(|e| invalid_token(format!("unreadable ID token: {e}")))?;
        let claims = match verify(provider, &discovered.metadata, &token, nonce, now) {
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                // A key not published when the keys were read: the provider rotated.
                let discovered = self.discovered(provider, true).await?;
                verify(provider, &discovered.metadata, &token, nonce, now)
            }
            other => other,
        }
        .map_err(|e| invalid_token(e.to_string()))?;
        identity(provider, &claims)
    }
}

type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<bytes::Bytes>,
>;

/// The providers' HTTP: rustls on ring with the Mozilla roots (plain http only where
/// the configuration allows it: a provider on this machine), no redirects followed
/// (nothing is fetched from where a provider points), bounded time and size.
fn http_client() -> HttpsClient {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth();
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https)
}

/// One request and its whole answer (at most `MAX_RESPONSE_BYTES`), within 10 s.
async fn send(
    client: &HttpsClient,
    request: http::Request<Vec<u8>>,
) -> std::result::Result<http::Response<Vec<u8>>, String> {
    use http_body_util::BodyExt as _;
    let request = request.map(|body| http_body_util::Full::new(bytes::Bytes::from(body)));
    tokio::time::timeout(Duration::from_secs(10), async {
        let resp = client.request(request).await.map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let body = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body.to_vec()))
    })
    .await
    .map_err(|_| "no answer within 10 s".to_owned())?
}

/// The `openidconnect` HTTP client over the same connection pool.
struct Http<'a>(&'a HttpsClient);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http<'_> {
    type Error = HttpError;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<openidconnect::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move { send(self.0, request).await.map_err(HttpError) })
    }
}

type Client = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client(config: &Config, provider: &SsoProvider, metadata: &CoreProviderMetadata) -> Result<Client> {
    let redirect = RedirectUrl::new(config.sso_redirect_url(&provider.name))
        .map_err(|e| Error::internal(format!("the redirect URL of {}: {e}", provider.name)))?;
    Ok(CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.client_id.clone()),
        Some(ClientSecret::new(provider.client_secret.clone())),
    )
    .set_redirect_uri(redirect))
}

/// Signature (a key the provider publishes, never `none`), issuer, audience, expiry
/// and nonce.
fn verify(
    provider: &SsoProvider,
    metadata: &CoreProviderMetadata,
    token: &Token,
    nonce: &str,
    now: DateTime<Utc>,
) -> std::result::Result<Claims, ClaimsVerificationError> {
    let issuer =
        IssuerUrl::new(metadata.issuer().to_string()).map_err(|e| ClaimsVerificationError::Other(e.to_string()))?;
    let verifier = CoreIdTokenVerifier::new_confidential_client(
        ClientId::new(provider.client_id.clone()),
        ClientSecret::new(provider.client_secret.clone()),
        issuer,
        metadata.jwks().clone(),
    )
    .set_time_fn(move || now)
    // Microsoft's directories each issue as themselves: checked below against `tid`.
    .require_issuer_match(provider.kind != SsoKind::Microsoft);
    let claims = token.claims(&verifier, &Nonce::new(nonce.to_owned()))?.clone();
    if provider.kind == SsoKind::Microsoft {
        microsoft_issuer(provider, &claims).map_err(ClaimsVerificationError::InvalidIssuer)?;
    }
    Ok(claims)
}

/// A Microsoft token's issuer is its directory's, and the directory is one the
/// configured tenant admits.
fn microsoft_issuer(provider: &SsoProvider, claims: &Claims) -> std::result::Result<(), String> {
    let tid = claims.additional_claims().tid.as_deref().ok_or("no tid claim")?;
    let expected = provider.issuer.replace("{tenantid}", tid);
    if claims.issuer().as_str() != expected {
        return Err(format!("issuer {} is not {expected}", claims.issuer().as_str()));
    }
    let admitted = match provider.tenant.as_deref().unwrap_or("organizations") {
        "common" => true,
        "organizations" => tid != MICROSOFT_CONSUMER_TENANT,
        "consumers" => tid == MICROSOFT_CONSUMER_TENANT,
        one => tid.eq_ignore_ascii_case(one),
    };
    if admitted {
        Ok(())
    } else {
        Err(format!("directory {tid} is not admitted"))
    }
}

/// Whether the provider vouches that the person controls the address now.
/// * Microsoft work accounts carry an address the directory's administrator typed: it
///   counts only when the directory verified the domain (`xms_edov`), or for personal
///   Microsoft accounts.
/// * Google checked a non-Gmail address once, when the Google account was made; it
///   counts only for Gmail or when the address's domain manages the account (`hd`),
///   so that a former holder of a company address cannot take over its account.
pub(crate) fn email_verified(kind: SsoKind, email_verified: Option<bool>, extra: &ExtraClaims, email: &str) -> bool {
    let domain = email
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    match kind {
        SsoKind::Microsoft => {
            email_verified == Some(true)
                || matches!(&extra.xms_edov, Some(serde_json::Value::Bool(true)))
                || matches!(&extra.xms_edov, Some(serde_json::Value::String(s)) if s == "1" || s == "true")
                || extra.tid.as_deref() == Some(MICROSOFT_CONSUMER_TENANT)
        }
        SsoKind::Google => {
            email_verified == Some(true)
                && (domain == "gmail.com"
                    || domain == "googlemail.com"
                    || extra.hd.as_deref().is_some_and(|hd| hd.eq_ignore_ascii_case(&domain)))
        }
        SsoKind::Generic => email_verified == Some(true),
    }
}

fn identity(provider: &SsoProvider, claims: &Claims) -> Result<VerifiedIdentity> {
    let extra = claims.additional_claims();
    let name = |c: Option<&openidconnect::LocalizedClaim<_>>| {
        c.and_then(|c| c.get(None))
            .map(|v: &openidconnect::EndUserGivenName| v.to_string())
    };
    let family = claims.family_name().and_then(|c| c.get(None)).map(|v| v.to_string());
    let email = claims.email().map(|e| e.to_string().trim().to_ascii_lowercase());
    Ok(VerifiedIdentity {
        provider: provider.name.clone(),
        issuer: claims.issuer().to_string(),
        subject: claims.subject().to_string(),
        tenant_id: extra.tid.clone(),
        object_id: extra.oid.clone(),
        email_verified: email_verified(
            provider.kind,
            claims.email_verified(),
            extra,
            email.as_deref().unwrap_or_default(),
        ),
        email,
        first_name: name(claims.given_name()),
        last_name: family,
        locale: claims.locale().map(|l| l.to_string()),
    })
}

fn unknown_provider() -> Error {
    Error::not_found("sign-in provider")
}

fn unavailable(detail: String) -> Error {
    tracing::warn!(%detail, "a single sign-on provider is unavailable");
    Error::Unavailable {
        code: "sso_unavailable",
        message: "The sign-in provider cannot be reached; try again in a moment, or log in with your password"
            .to_owned(),
        retry_after: 30,
    }
}

fn invalid_token(detail: String) -> Error {
    tracing::warn!(%detail, "an ID token was refused");
    Error::unauthenticated(
        "sso_token_invalid",
        "The provider's answer could not be verified; sign-in refused",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::config::Config;

    fn microsoft(tenant: &str) -> SsoProvider {
        let config = Config::from_pairs([
            ("DATABASE_URL", "postgres://db/x".to_owned()),
            ("PARTNERDESK_ENV", "development".to_owned()),
            ("SSO_PROVIDERS", "microsoft".to_owned()),
            ("SSO_MICROSOFT_TENANT", tenant.to_owned()),
            ("SSO_MICROSOFT_CLIENT_ID", "client".to_owned()),
            ("SSO_MICROSOFT_CLIENT_SECRET", "secret".to_owned()),
        ])
        .expect("a Microsoft provider");
        config.sso[0].clone()
    }

    fn claims(iss: &str, tid: &str) -> Claims {
        serde_json::from_value(serde_json::json!({
            "iss": iss, "sub": "s", "aud": "client", "exp": 2_000_000_000, "iat": 1_700_000_000, "tid": tid,
        }))
        .expect("claims")
    }

    const WORK: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    #[test]
    fn a_microsoft_token_is_issued_by_its_own_directory_and_one_the_tenant_admits() {
        let iss = |tid: &str| format!("https://login.microsoftonline.com/{tid}/v2.0");
        let organizations = microsoft("organizations");
        assert!(microsoft_issuer(&organizations, &claims(&iss(WORK), WORK)).is_ok());
        // Another directory's issuer with this directory's tid.
        let other = "11111111-2222-3333-4444-555555555555";
        assert!(microsoft_issuer(&organizations, &claims(&iss(other), WORK)).is_err());
        // Personal accounts are not organizations.
        let consumer = MICROSOFT_CONSUMER_TENANT;
        assert!(microsoft_issuer(&organizations, &claims(&iss(consumer), consumer)).is_err());
        assert!(microsoft_issuer(&microsoft("common"), &claims(&iss(consumer), consumer)).is_ok());
        assert!(microsoft_issuer(&microsoft("consumers"), &claims(&iss(WORK), WORK)).is_err());
        // One directory only.
        assert!(microsoft_issuer(&microsoft(WORK), &claims(&iss(WORK), WORK)).is_ok());
        assert!(microsoft_issuer(&microsoft(WORK), &claims(&iss(other), other)).is_err());
    }

    #[test]
    fn a_microsoft_work_address_counts_only_when_its_domain_is_verified() {
        let extra = |tid: &str, edov: Option<serde_json::Value>| ExtraClaims {
            tid: Some(tid.to_owned()),
            xms_edov: edov,
            ..ExtraClaims::default()
        };
        let ms = SsoKind::Microsoft;
        let at = "sam@contoso.example";
        assert!(
            !email_verified(ms, None, &extra(WORK, None), at),
            "an address an administrator typed"
        );
        assert!(email_verified(
            ms,
            None,
            &extra(WORK, Some(serde_json::json!(true))),
            at
        ));
        assert!(email_verified(ms, None, &extra(WORK, Some(serde_json::json!("1"))), at));
        assert!(!email_verified(
            ms,
            None,
            &extra(WORK, Some(serde_json::json!(false))),
            at
        ));
        assert!(email_verified(ms, None, &extra(MICROSOFT_CONSUMER_TENANT, None), at));
        // Only Microsoft's own claims count for Microsoft.
        let edov = extra(MICROSOFT_CONSUMER_TENANT, Some(serde_json::json!(true)));
        assert!(!email_verified(SsoKind::Generic, None, &edov, at));
        assert!(email_verified(
            SsoKind::Generic,
            Some(true),
            &ExtraClaims::default(),
            at
        ));
    }

    #[test]
    fn a_google_address_counts_for_gmail_or_the_workspace_that_manages_it() {
        let google = SsoKind::Google;
        let none = ExtraClaims::default();
        assert!(email_verified(google, Some(true), &none, "sam@gmail.com"));
        assert!(!email_verified(google, None, &none, "sam@gmail.com"));
        // Checked once, when the Google account was made: the address may have moved on.
        assert!(!email_verified(google, Some(true), &none, "sam@contoso.example"));
        let workspace = ExtraClaims {
            hd: Some("contoso.example".to_owned()),
            ..ExtraClaims::default()
        };
        assert!(email_verified(google, Some(true), &workspace, "sam@contoso.example"));
        assert!(!email_verified(google, Some(true), &workspace, "sam@fabrikam.example"));
    }
}
