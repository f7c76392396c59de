//! What every request passes through before a handler sees it:
//!
//! * `dev_only`: development endpoints answer 404 in production before anything else.
//! * `limits`: the body is read up to a limit (1 MiB by default, more for the CSV
//!   import) within a deadline, so a large or trickling body costs neither memory nor a
//!   worker for long: 413 or 408 problem+json. Query strings and form bodies with a NUL
//!   character are refused with 422 naming the parameter.
//! * `security_headers`: every answer says nosniff and a same-origin Referrer-Policy,
//!   and may not be framed (the API and its docs included); pages carry a
//!   Content-Security-Policy that allows scripts, styles and forms from this site only
//!   (no inline script); with an https `PUBLIC_URL`, every answer sends HSTS.
//! * `allow`: a 405 from the API names the methods the path has in `Allow`.
//! * `read_your_writes`: with a replica configured, a browser that changed something
//!   reads its lists from the primary for a few seconds after (a cookie says so).
//! * `log_requests`: one log line per request, with the secret tokens of e-mailed and
//!   payment links redacted from the path; and the request's metrics (by route pattern,
//!   method and status).

use std::{sync::Arc, time::Instant};

use futures::StreamExt;
use partnerdesk_core::Error as CoreError;
use poem::{Endpoint, IntoResponse, PathPattern, Request, Response, http::StatusCode};
use tracing::Instrument;

use crate::{
    error::{ApiError, Problem, problem_response},
    state::AppState,
};

fn state(req: &Request) -> &AppState {
    req.data::<AppState>().expect("AppState is attached to every route")
}

/// Signing in and out change nothing a list shows.
const SIGNING_IN: [&str; 4] = ["/login", "/logout", "/api/auth/login", "/api/auth/logout"];

/// With a replica, a browser's requests in the seconds after one that changed something
/// (any method but GET, HEAD and OPTIONS that did not fail) read the primary, so that the
/// list a form returns to shows what it just did even when the replica lags.
pub async fn read_your_writes<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let state = state(&req);
    if state.reads.replica().is_none() {
        return ep.call(req).await.map(IntoResponse::into_response);
    }
    let wrote_lately = req.cookie().get(crate::auth::WROTE_COOKIE).is_some();
    let writes = !matches!(
        *req.method(),
        poem::http::Method::GET | poem::http::Method::HEAD | poem::http::Method::OPTIONS
    ) && !SIGNING_IN.contains(&req.uri().path())
        && !req.uri().path().starts_with("/api/auth/sso/");
    // Made before the request is handed on (it takes the state with it).
    let cookie = writes.then(|| crate::auth::set_wrote_cookie(state, state.ctx.config.database_replica_after_write));
    let mut resp = crate::state::READS_PRIMARY
        .scope(wrote_lately, ep.call(req))
        .await?
        .into_response();
    if let Some(cookie) = cookie.filter(|_| resp.status().as_u16() < 400)
        && let Ok(value) = poem::http::HeaderValue::from_str(&cookie)
    {
        resp.headers_mut().append(poem::http::header::SET_COOKIE, value);
    }
    Ok(resp)
}

/// Development endpoints: 404 in production, before parsing or touching the database.
pub async fn dev_only<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let path = req.uri().path();
    let dev_path = path == "/api/dev" || path.starts_with("/api/dev/") || path == "/dev" || path.starts_with("/dev/");
    if dev_path && !state(&req).ctx.config.is_development() {
        return Ok(problem_response(Problem::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such resource",
        )));
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

/// The CSV import takes a larger body than everything else.
fn is_import(path: &str) -> bool {
    path.starts_with("/api/organizations/") && path.ends_with("/users/import")
}

fn nul_problem(name: &str) -> Response {
    ApiError::from(CoreError::field(
        name,
        "invalid_characters",
        "Contains characters that are not allowed (a NUL byte)",
    ))
    .into_response()
}

/// The first query or form parameter with a NUL character in its name or value.
fn nul_parameter(encoded: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(encoded)
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| k.replace('\0', ""))
}

/// Body size, body deadline and NUL characters in parameters.
pub async fn limits<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let limits = state(&req).ctx.config.limits.clone();
    if let Some(name) = req.uri().query().and_then(|q| nul_parameter(q.as_bytes())) {
        return Ok(nul_problem(&name));
    }
    let limit = if is_import(req.uri().path()) {
        limits.max_import_bytes
    } else {
        limits.max_body_bytes
    };
    let too_large = || {
        problem_response(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body is larger than {limit} bytes"),
        ))
    };
    let declared = req
        .headers()
        .get(poem::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(too_large());
    }
    let deadline = tokio::time::Instant::now() + limits.body_read_timeout;
    let mut stream = req.take_body().into_bytes_stream();
    let mut body: Vec<u8> = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                return Ok(problem_response(Problem::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "The request body did not arrive in time",
                )));
            }
            Ok(None) => break,
            Ok(Some(Err(err))) => {
                return Ok(problem_response(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    format!("The request body could not be read: {err}"),
                )));
            }
            Ok(Some(Ok(chunk))) => {
                if body.len() + chunk.len() > limit {
                    return Ok(too_large());
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
    let is_form = req
        .content_type()
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form && let Some(name) = nul_parameter(&body) {
        return Ok(nul_problem(&name));
    }
    req.set_body(body);
    ep.call(req).await.map(IntoResponse::into_response)
}

/// Paths whose next segment is a secret token.
const TOKEN_PREFIXES: &[&str] = &[
    "/pay/",
    "/password/",
    "/register/partner/",
    "/register/customer/",
    "/invitations/",
    "/signup/confirm/",
    "/api/auth/password-links/",
    "/api/auth/signups/",
    "/api/payments/",
    "/api/partner-registrations/",
    "/api/customer-registrations/",
    "/api/membership-invitations/",
];

/// Query parameters that carry a secret: signatures, tokens, and the authorization code
/// a single sign-on provider sends back to the callback.
const SECRET_PARAMETERS: &[&str] = &["sig", "token", "code", "id_token", "access_token"];

/// The path and query of a request as logs may show them: tokens replaced by `***`.
pub fn redact(path: &str, query: Option<&str>) -> String {
    let mut out = path.to_owned();
    for prefix in TOKEN_PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix) {
            let (token, tail) = rest.split_once('/').map_or((rest, ""), |(t, tail)| (t, tail));
            if !token.is_empty() && token != "forgot" {
                out = if tail.is_empty() {
                    format!("{prefix}***")
                } else {
                    format!("{prefix}***/{tail}")
                };
            }
            break;
        }
    }
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        let parts: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if SECRET_PARAMETERS.contains(&k) => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&parts.join("&"));
    }
    out
}

/// One line per request: method, redacted path, status and duration.
pub async fn log_requests<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let method = req.method().clone();
    let path = redact(req.uri().path(), req.uri().query());
    let started = Instant::now();
    let span = tracing::info_span!("request", %method, %path);
    let (result, statements) =
        partnerdesk_core::platform::db::count_statements(ep.call(req).instrument(span.clone())).await;
    let result = result.map(IntoResponse::into_response);
    let elapsed = started.elapsed();
    let ms = elapsed.as_millis() as u64;
    let _entered = span.enter();
    let (status, route) = match &result {
        Ok(resp) => {
            tracing::info!(
                status = resp.status().as_u16(),
                duration_ms = ms,
                statements,
                "request finished"
            );
            (resp.status(), resp.data::<PathPattern>().map(|p| p.0.clone()))
        }
        Err(err) => {
            tracing::info!(
                status = err.status().as_u16(),
                duration_ms = ms,
                statements,
                "request failed"
            );
            (err.status(), err.data::<PathPattern>().map(|p| p.0.clone()))
        }
    };
    record_request(&method, route.as_deref(), status, elapsed, statements);
    result
}

/// Counts a request, its latency and the SQL statements it sent by route pattern
/// (never the raw path: ids and tokens would make a series per value), method and
/// status.
fn record_request(
    method: &poem::http::Method,
    route: Option<&str>,
    status: StatusCode,
    elapsed: std::time::Duration,
    statements: u32,
) {
    let route = route.unwrap_or("unmatched").to_owned();
    let method = method.as_str().to_owned();
    let counted = [
        ("route", route.clone()),
        ("method", method.clone()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("partnerdesk_http_requests_total", &counted).increment(1);
    let timed = [("route", route), ("method", method)];
    metrics::histogram!("partnerdesk_http_request_duration_seconds", &timed).record(elapsed.as_secs_f64());
    metrics::histogram!("partnerdesk_http_request_db_statements", &timed).record(f64::from(statements));
}

/// The Content-Security-Policy of every portal page.
pub const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// The Content-Security-Policy of the API and its interactive docs (which bring their own
/// inline script): nobody may frame them.
pub const API_POLICY: &str = "frame-ancestors 'none'";

/// How long a browser keeps to https once it has seen this site over https (a year).
const HSTS: &str = "max-age=31536000";

/// Security headers on every answer: no framing anywhere (pages, the API and its docs),
/// the page policy on everything but the API, and HSTS when the public address is https.
pub async fn security_headers<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    use poem::http::{HeaderValue, header};
    let api = req.uri().path().starts_with("/api/") || req.uri().path() == "/api";
    let https = state(&req).ctx.config.public_url.scheme() == "https";
    let mut resp = ep.call(req).await?.into_response();
    let headers = resp.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let policy = if api { API_POLICY } else { PAGE_POLICY };
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    Ok(resp)
}

/// Each API path (segments; `None` is a parameter) with the methods it answers.
type Routes = Vec<(Vec<Option<String>>, Vec<String>)>;

/// The API's paths and methods, handed over once by `app` (which knows the API).
static ROUTES: std::sync::OnceLock<Routes> = std::sync::OnceLock::new();

/// Learns the API's paths and methods from its description, for `Allow` headers.
pub fn know_api_routes(apis: Vec<poem_openapi::registry::MetaApi>) {
    ROUTES.get_or_init(|| {
        let mut routes: Routes = Vec::new();
        for api in apis {
            for path in api.paths {
                let segments = path
                    .path
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| (!(s.starts_with('{') || s.starts_with(':'))).then(|| s.to_owned()))
                    .collect();
                let methods = path.operations.iter().map(|o| o.method.to_string()).collect();
                routes.push((segments, methods));
            }
        }
        routes
    });
}

/// The methods an API path answers, as the `Allow` header lists them.
fn allowed_methods(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let mut methods: Vec<&str> = ROUTES
        .get()?
        .iter()
        .filter(|(segments, _)| {
            segments.len() == parts.len()
                && segments
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| s.as_deref().is_none_or(|s| s == *p))
        })
        .flat_map(|(_, methods)| methods.iter().map(String::as_str))
        .collect();
    methods.sort_unstable();
    methods.dedup();
    (!methods.is_empty()).then(|| methods.join(", "))
}

/// 405 answers carry `Allow`, as HTTP asks.
pub async fn allow<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut resp = ep.call(req).await?.into_response();
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(methods) = allowed_methods(&path)
        && let Ok(value) = poem::http::HeaderValue::from_str(&methods)
    {
        resp.headers_mut().insert(poem::http::header::ALLOW, value);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_paths_and_queries_are_redacted() {
        assert_eq!(redact("/pay/abc123", None), "/pay/***");
        assert_eq!(redact("/api/payments/abc123/pay", None), "/api/payments/***/pay");
        assert_eq!(redact("/password/forgot", None), "/password/forgot");
        assert_eq!(redact("/password/s3cr3t", None), "/password/***");
        assert_eq!(redact("/register/customer/tok", None), "/register/customer/***");
        assert_eq!(redact("/invitations/tok", None), "/invitations/***");
        assert_eq!(
            redact("/downloads/0190-aa", Some("expires=1&sig=abcdef")),
            "/downloads/0190-aa?expires=1&sig=***"
        );
        assert_eq!(
            redact("/auth/sso/acme/callback", Some("code=SplxlOBeZQQYbYS6WxSbIA&state=xyz")),
            "/auth/sso/acme/callback?code=***&state=xyz"
        );
        assert_eq!(
            redact("/api/customers", Some("status=both")),
            "/api/customers?status=both"
        );
    }

    #[test]
    fn nul_characters_in_parameters_are_found() {
        assert_eq!(nul_parameter(b"search=a%00b&x=1").as_deref(), Some("search"));
        assert_eq!(nul_parameter(b"search=ab"), None);
    }
}
