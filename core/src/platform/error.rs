//! One error type for every service. `web` turns it into problem+json responses; the
//! `code` strings are part of the API contract and never change meaning.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The refusal shown when the account has no organization at all.
pub const NO_ORGANIZATION: &str = "Your account does not yet have an organization";
/// The refusal shown when a permission is missing.
pub const NOT_AUTHORIZED: &str = "You do not have the necessary authorization to view this page";

/// A problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resource does not exist, or the caller may not know that it exists.
    #[error("{resource} not found")]
    NotFound { resource: &'static str },
    /// No valid credentials (401).
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    /// Authenticated, but not allowed (403).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The request conflicts with the current state (409).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    /// One or more input fields are invalid (422).
    #[error("invalid input: {0:?}")]
    Validation(Vec<FieldError>),
    /// A link or resource that existed but can no longer be used (410).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// The request itself is malformed, e.g. a paging cursor that was not issued (400).
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    /// Too many attempts; try again after `retry_after` seconds (429).
    #[error("{message}")]
    TooManyRequests {
        code: &'static str,
        message: String,
        retry_after: u64,
    },
    /// The service is too busy right now (no free database connection, a lock held too
    /// long); try again after `retry_after` seconds (503).
    #[error("{message}")]
    Unavailable {
        code: &'static str,
        message: String,
        retry_after: u64,
    },
    /// Anything else; the detail is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn not_found(resource: &'static str) -> Self {
        Error::NotFound { resource }
    }

    /// Names `resource` in a "not found" answer, so that an unrelated organization's
    /// resource is answered exactly like one that does not exist.
    pub fn not_found_as(self, resource: &'static str) -> Self {
        match self {
            Error::NotFound { .. } => Error::NotFound { resource },
            other => other,
        }
    }

    pub fn forbidden() -> Self {
        Error::Forbidden {
            code: "not_authorized",
            message: NOT_AUTHORIZED.to_owned(),
        }
    }

    pub fn no_organization() -> Self {
        Error::Forbidden {
            code: "no_organization",
            message: NO_ORGANIZATION.to_owned(),
        }
    }

    pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> Self {
        Error::Unauthenticated {
            code,
            message: message.into(),
        }
    }

    pub fn conflict(code: &'static str, field: Option<&str>, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    pub fn gone(code: &'static str, message: impl Into<String>) -> Self {
        Error::Gone {
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, field: Option<&str>, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    pub fn too_many(code: &'static str, message: impl Into<String>, retry_after: u64) -> Self {
        Error::TooManyRequests {
            code,
            message: message.into(),
            retry_after: retry_after.max(1),
        }
    }

    /// The database is busy: no connection within the wait, or a lock held too long.
    pub fn busy(detail: impl std::fmt::Display) -> Self {
        tracing::warn!(%detail, "database busy");
        Error::Unavailable {
            code: "service_busy",
            message: "The service is busy; please try again in a moment".to_owned(),
            retry_after: 2,
        }
    }

    pub fn field(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Error::Internal(detail.to_string())
    }
}

/// Constraint names mapped to the field they protect and a stable code, so that a race
/// the service did not catch still yields a precise 409/422 instead of a 500.
fn constraint_problem(name: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match name {
        "users_email_key" => (
            "email",
            "email_taken",
            "An account with this e-mail address already exists",
        ),
        "memberships_user_organization_key" => (
            "email",
            "already_member",
            "This person is already a member of the organization",
        ),
        "partner_requests_one_open" => (
            "organization_id",
            "partner_request_open",
            "This organization already has an open partner request",
        ),
        "partners_pkey" => (
            "organization_id",
            "already_partner",
            "This organization is already a partner",
        ),
        "service_provider_links_debtor_number_key" => (
            "debtor_number",
            "debtor_number_taken",
            "This debtor number is already used for another of your customers",
        ),
        "service_provider_links_one_current" => (
            "partner_code",
            "service_provider_exists",
            "The organization already has a service provider",
        ),
        "trials_one_per_module" => (
            "module_id",
            "trial_exists",
            "A trial for this module has already been used",
        ),
        "modules_code_key" => ("code", "module_code_taken", "A module with this code already exists"),
        "releases_version_channel_key" => (
            "version",
            "release_exists",
            "This version is already published in this channel",
        ),
        "business_licences_one_active" => (
            "module_id",
            "licence_exists",
            "The organization already has this business licence",
        ),
        "user_licences_one_active" => ("user_ids", "licence_exists", "The user already has this licence"),
        "api_tokens_name_not_blank" => ("name", "required", "A name is required"),
        "organizations_name_not_blank" => ("name", "required", "A name is required"),
        "organizations_country_valid" => ("country", "invalid_country", "Not an ISO 3166-1 alpha-2 country code"),
        "organizations_customer_type_valid" => ("customer_type", "invalid_customer_type", "Unknown customer type"),
        "organizations_language_valid" | "users_language_valid" => {
            ("language", "invalid_language", "Language must be en, nl or de")
        }
        "partners_default_commission_rate_valid"
        | "service_provider_links_commission_rate_valid"
        | "customer_invitations_commission_rate_valid" => {
            ("commission_rate", "invalid_rate", "A rate must be between 0 and 100")
        }
        _ => return None,
    })
}

impl From<FieldError> for Error {
    fn from(err: FieldError) -> Self {
        Error::Validation(vec![err])
    }
}

impl From<DieselError> for Error {
    fn from(err: DieselError) -> Self {
        match &err {
            DieselError::NotFound => Error::NotFound { resource: "resource" },
            DieselError::DatabaseError(kind, info) => {
                let problem = info.constraint_name().and_then(constraint_problem);
                match (kind, problem) {
                    (DatabaseErrorKind::UniqueViolation, Some((field, code, message))) => Error::Conflict {
                        code,
                        field: Some(field.to_owned()),
                        message: message.to_owned(),
                    },
                    (DatabaseErrorKind::CheckViolation, Some((field, code, message))) => {
                        Error::Validation(vec![FieldError::new(field, code, message)])
                    }
                    // lock_timeout and statement_timeout (SQLSTATE 55P03 and 57014;
                    // diesel reports them by message only).
                    (DatabaseErrorKind::Unknown, _)
                        if info.message().contains("lock timeout") || info.message().contains("statement timeout") =>
                    {
                        Error::busy(info.message())
                    }
                    _ => Error::Internal(err.to_string()),
                }
            }
            _ => Error::Internal(err.to_string()),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for Error {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        use diesel_async::pooled_connection::deadpool::PoolError;
        match err {
            PoolError::Timeout(_) => Error::busy("no database connection became free in time"),
            other => Error::Internal(format!("database pool: {other}")),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::Internal(format!("json: {err}"))
    }
}

/// Collects field errors so that one response names every invalid field.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value, or records the field's error and yields `None`.
    pub fn check<T>(&mut self, result: std::result::Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.errors.push(err);
                None
            }
        }
    }

    pub fn push(&mut self, err: FieldError) {
        self.errors.push(err);
    }

    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Err(Validation)` when any field failed.
    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }
}

/// Unwraps a value checked by a [`Validator`] whose `finish()` returned `Ok`.
pub fn validated<T>(value: Option<T>) -> T {
    value.expect("validator finished without errors, so every checked value is present")
}
