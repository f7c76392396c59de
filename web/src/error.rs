//! problem+json (RFC 9457): every error leaves the service in this one shape, with a
//! stable `code` and, for validation, the failing fields. 5xx bodies never carry
//! internals; the detail goes to the log.

use partnerdesk_core::Error as CoreError;
use poem::{Response, http::StatusCode};
use poem_openapi::{ApiResponse, Object, payload::Json};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One failing input field.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
pub struct ProblemField {
    /// The field, as named in the request (`permissions[2]` for list items).
    pub field: String,
    /// Stable machine-readable reason, e.g. `required`, `invalid_email`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
}

/// An error response.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
#[oai(example)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[oai(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// Stable machine-readable code; clients branch on this.
    pub code: String,
    /// The field a conflict is about, when there is one.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
    /// Every invalid field, for validation problems (absent otherwise).
    #[oai(default, skip_serializing_if_is_empty)]
    pub errors: Vec<ProblemField>,
    /// Seconds to wait before trying again (sent as the Retry-After header).
    #[oai(skip, nullable)]
    pub retry_after: Option<u64>,
}

impl poem_openapi::types::Example for Problem {
    fn example() -> Self {
        Problem {
            kind: "/problems/validation_failed".into(),
            title: "Unprocessable Content".into(),
            status: 422,
            detail: "One or more fields are invalid".into(),
            code: "validation_failed".into(),
            field: None,
            errors: vec![ProblemField {
                field: "country".into(),
                code: "invalid_country".into(),
                message: "Not an ISO 3166-1 alpha-2 country code (for example NL, DE, BE)".into(),
            }],
            retry_after: None,
        }
    }
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            field: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }
}

/// Every error an endpoint can return, documented once for all operations.
#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// The request is malformed.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Not authenticated: no, an invalid, an expired or a revoked credential.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// Authenticated but not allowed, e.g. `no_organization`, `not_authorized`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// The resource does not exist.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The path exists, but not with this method; `Allow` lists the methods it has.
    #[oai(status = 405, content_type = "application/problem+json")]
    MethodNotAllowed(Json<Problem>, #[oai(header = "Allow")] String),
    /// The request conflicts with the current state.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The request body did not arrive in time.
    #[oai(status = 408, content_type = "application/problem+json")]
    RequestTimeout(Json<Problem>),
    /// A link that was valid once: used, expired or replaced.
    #[oai(status = 410, content_type = "application/problem+json")]
    Gone(Json<Problem>),
    /// The request body is larger than allowed.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body is not in a content type this operation reads.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// One or more fields are invalid; `errors` lists each.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Too many attempts (log-ins, e-mails to one address); wait as Retry-After says.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// Something failed on our side; the details are in the service log.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// The service is busy (no database connection free in time, a lock held too long);
    /// try again after Retry-After seconds.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

impl ApiError {
    pub fn problem(&self) -> &Problem {
        match self {
            ApiError::BadRequest(p)
            | ApiError::Unauthorized(p)
            | ApiError::Forbidden(p)
            | ApiError::NotFound(p)
            | ApiError::MethodNotAllowed(p, _)
            | ApiError::UnsupportedMediaType(p)
            | ApiError::Conflict(p)
            | ApiError::RequestTimeout(p)
            | ApiError::Gone(p)
            | ApiError::PayloadTooLarge(p)
            | ApiError::Unprocessable(p)
            | ApiError::TooManyRequests(p, _)
            | ApiError::Internal(p)
            | ApiError::Unavailable(p, _) => &p.0,
        }
    }

    pub fn from_problem(problem: Problem) -> Self {
        let retry_after = problem.retry_after.unwrap_or(1);
        let p = Json(problem);
        match p.0.status {
            400 => ApiError::BadRequest(p),
            401 => ApiError::Unauthorized(p),
            403 => ApiError::Forbidden(p),
            404 => ApiError::NotFound(p),
            405 => ApiError::MethodNotAllowed(p, String::new()),
            408 => ApiError::RequestTimeout(p),
            409 => ApiError::Conflict(p),
            410 => ApiError::Gone(p),
            413 => ApiError::PayloadTooLarge(p),
            415 => ApiError::UnsupportedMediaType(p),
            422 => ApiError::Unprocessable(p),
            429 => ApiError::TooManyRequests(p, retry_after),
            503 => ApiError::Unavailable(p, retry_after),
            _ => ApiError::Internal(p),
        }
    }

    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        ApiError::from_problem(Problem::new(StatusCode::BAD_REQUEST, code, detail))
    }
}

/// The HTTP status of a service error: the one mapping the API and the pages share.
pub fn status_of(err: &CoreError) -> StatusCode {
    match err {
        CoreError::NotFound { .. } => StatusCode::NOT_FOUND,
        CoreError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
        CoreError::Forbidden { .. } => StatusCode::FORBIDDEN,
        CoreError::Conflict { .. } => StatusCode::CONFLICT,
        CoreError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        CoreError::Gone { .. } => StatusCode::GONE,
        CoreError::BadRequest { .. } => StatusCode::BAD_REQUEST,
        CoreError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        CoreError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        CoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> Self {
        let status = status_of(&err);
        let problem = match err {
            CoreError::NotFound { resource } => {
                Problem::new(status, "not_found", format!("The {resource} does not exist"))
            }
            CoreError::Unauthenticated { code, message }
            | CoreError::Forbidden { code, message }
            | CoreError::Gone { code, message } => Problem::new(status, code, message),
            CoreError::Conflict { code, field, message } | CoreError::BadRequest { code, field, message } => Problem {
                field,
                ..Problem::new(status, code, message)
            },
            CoreError::TooManyRequests {
                code,
                message,
                retry_after,
            }
            | CoreError::Unavailable {
                code,
                message,
                retry_after,
            } => Problem {
                retry_after: Some(retry_after),
                ..Problem::new(status, code, message)
            },
            CoreError::Validation(fields) => {
                let detail = match fields.as_slice() {
                    [one] => format!("{}: {}", one.field, one.message),
                    _ => format!("{} fields are invalid", fields.len()),
                };
                Problem {
                    errors: fields
                        .into_iter()
                        .map(|f| ProblemField {
                            field: f.field,
                            code: f.code.to_owned(),
                            message: f.message,
                        })
                        .collect(),
                    ..Problem::new(status, "validation_failed", detail)
                }
            }
            CoreError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Problem::new(
                    status,
                    "internal_error",
                    "Something went wrong on our side. Please try again later.",
                )
            }
        };
        ApiError::from_problem(problem)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.problem();
        write!(f, "{} {}: {}", p.status, p.code, p.detail)
    }
}

pub fn problem_response(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({
        "type": problem.kind,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "code": problem.code,
    });
    let mut body = body;
    if let Some(field) = problem.field {
        body["field"] = serde_json::Value::String(field);
    }
    if !problem.errors.is_empty() {
        body["errors"] = serde_json::Value::Array(
            problem
                .errors
                .into_iter()
                .map(|e| serde_json::json!({ "field": e.field, "code": e.code, "message": e.message }))
                .collect(),
        );
    }
    let mut builder = Response::builder().status(status).content_type(PROBLEM_JSON);
    if let Some(seconds) = problem.retry_after {
        builder = builder.header(poem::http::header::RETRY_AFTER, seconds.to_string());
    }
    builder.body(body.to_string())
}

/// Turns any error that reaches the outside (unknown route, unparsable body, missing
/// parameter, our own problems) into problem+json.
pub async fn to_problem(err: poem::Error) -> Response {
    let status = err.status();
    let message = err.to_string();
    let problem = if err.is::<poem_openapi::error::ParseRequestPayloadError>() {
        body_problem(&message)
    } else if let Some(param) = err.downcast_ref::<poem_openapi::error::ParseParamError>() {
        param_problem(param.name, &param.reason)
    } else if let Some(param) = err.downcast_ref::<poem_openapi::error::ParsePathError>() {
        param_problem(param.name, &param.reason)
    } else if err.is::<poem_openapi::error::ContentTypeError>() {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "This operation does not read that content type (JSON bodies are application/json)",
        )
    } else if !err.has_source() {
        // A response our own code produced (an `ApiError`, a page): pass it through, but
        // make sure anything that is not a page ends up as problem+json.
        let resp = err.into_response();
        let content_type = resp
            .headers()
            .get(poem::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if content_type.starts_with(PROBLEM_JSON)
            || content_type.starts_with("text/html")
            || resp.status().is_redirection()
        {
            return resp;
        }
        generic_problem(resp.status(), &message)
    } else {
        generic_problem(status, &message)
    };
    problem_response(problem)
}

/// A query, path or header parameter that does not parse: named, with what it may be.
fn param_problem(name: &str, reason: &str) -> Problem {
    let (code, message) = if reason.contains("Expect a valid enumeration value") {
        let allowed = type_name(reason).and_then(enum_values).unwrap_or_default();
        ("invalid_value", format!("Must be one of {}", allowed.join(", ")))
    } else if let Some((_, rule)) = reason.split_once("verification failed. ") {
        ("out_of_range", format!("Outside the allowed range: {rule}"))
    } else {
        ("invalid", reason.to_owned())
    };
    Problem {
        field: Some(name.to_owned()),
        errors: vec![ProblemField {
            field: name.to_owned(),
            code: code.into(),
            message: message.clone(),
        }],
        ..Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("{name}: {message}"),
        )
    }
}

/// `failed to parse "SortBy": …` names the type that refused the value.
fn type_name(reason: &str) -> Option<&str> {
    let rest = reason.split_once("failed to parse \"")?.1;
    rest.split_once('"').map(|(name, _)| name)
}

/// The API's schemas, handed over once by `app` (which knows the API).
static SCHEMAS: std::sync::OnceLock<poem_openapi::registry::Registry> = std::sync::OnceLock::new();

/// Learns the API's schemas, so that a refused enum value is answered with the values
/// the API takes.
pub fn know_api_schemas(registry: poem_openapi::registry::Registry) {
    SCHEMAS.get_or_init(|| registry);
}

/// The values of an enum the API declares, as the OpenAPI document lists them.
fn enum_values(name: &str) -> Option<Vec<String>> {
    let schema = SCHEMAS.get()?.schemas.get(name)?;
    Some(
        schema
            .enum_items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect(),
    )
}

fn generic_problem(status: StatusCode, message: &str) -> Problem {
    if status == StatusCode::NOT_FOUND {
        Problem::new(status, "not_found", "No such resource")
    } else if status == StatusCode::METHOD_NOT_ALLOWED {
        Problem::new(status, "method_not_allowed", "This method is not allowed here")
    } else if status.is_server_error() {
        tracing::error!(%message, "unhandled error");
        Problem::new(
            status,
            "internal_error",
            "Something went wrong on our side. Please try again later.",
        )
    } else {
        Problem::new(status, "invalid_request", message)
    }
}

/// A JSON body that does not match the schema: name the field when the parser did.
fn body_problem(message: &str) -> Problem {
    let field = extract_field(message);
    let detail = format!(
        "The request body is not valid: {}",
        message.trim_start_matches("parse request payload error: ")
    );
    match field {
        Some(field) => Problem {
            errors: vec![ProblemField {
                field: field.clone(),
                code: "invalid".into(),
                message: detail.clone(),
            }],
            field: Some(field),
            ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", detail)
        },
        None => Problem::new(StatusCode::BAD_REQUEST, "invalid_body", detail),
    }
}

/// poem-openapi names the field as `field `name`` or `(field name)` in its messages.
fn extract_field(message: &str) -> Option<String> {
    for marker in ["field `", "field \"", "(field ", "field: "] {
        if let Some(start) = message.find(marker) {
            let rest = &message[start + marker.len()..];
            let end = rest.find(['`', '"', ')', ':', ' ', ',']).unwrap_or(rest.len());
            let name = rest[..end].trim();
            if !name.is_empty() {
                return Some(name.to_owned());
            }
        }
    }
    None
}

pub type ApiResult<T> = Result<T, ApiError>;
