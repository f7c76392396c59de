//! What templates read. Every page's context is a `Serialize` struct beside its handler;
//! the pieces here are the ones many pages share: an API view shown as the API shows it
//! ([`View`]), two contexts shown together ([`With`]), the message page ([`Message`]),
//! a service error next to a form ([`Shown`]), a form shown again as typed ([`Typed`]).

use std::collections::BTreeMap;

use partnerdesk_core::Error as CoreError;
use poem_openapi::types::ToJSON;
use serde::{Serialize, Serializer};

/// An API view as a template reads it: pages show what the API shows, field for field.
pub(crate) struct View<T>(pub T);

impl<T: ToJSON> Serialize for View<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.to_json().serialize(s)
    }
}

/// API views of a list, each made from what `core` returned.
pub(crate) fn views<T, V: From<T>>(items: impl IntoIterator<Item = T>) -> View<Vec<V>> {
    View(items.into_iter().map(V::from).collect())
}

/// Two contexts on one page: the fields of both, `b`'s where both name one.
#[derive(Serialize)]
pub(crate) struct With<A, B> {
    #[serde(flatten)]
    pub a: A,
    #[serde(flatten)]
    pub b: B,
}

/// `a` and `b` shown together.
pub(crate) fn with<A: Serialize, B: Serialize>(a: A, b: B) -> With<A, B> {
    With { a, b }
}

/// The message page: a title, what happened, and a link to log in when that is next.
#[derive(Serialize, Default)]
pub(crate) struct Message {
    pub title: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub login: bool,
}

impl Message {
    /// A message page titled `title`, whose content the caller adds.
    pub(crate) fn titled(title: &'static str) -> Self {
        Message {
            title,
            ..Default::default()
        }
    }

    /// What happened, in a sentence.
    pub(crate) fn saying(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// With a link to log in.
    pub(crate) fn with_login(mut self) -> Self {
        self.login = true;
        self
    }
}

/// A service error as a form shows it: each failing field's message next to its input,
/// and a line above the form.
#[derive(Serialize)]
pub(crate) struct Shown {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_errors: Option<BTreeMap<String, String>>,
}

impl Shown {
    pub(crate) fn of(err: &CoreError) -> Self {
        match err {
            CoreError::Validation(fields) => Shown {
                error: "Please correct the marked fields.".into(),
                field_errors: Some(fields.iter().map(|f| (f.field.clone(), f.message.clone())).collect()),
            },
            CoreError::Internal(detail) => {
                tracing::error!(%detail, "internal error on a page");
                Shown {
                    error: "Something went wrong on our side. Please try again later.".into(),
                    field_errors: None,
                }
            }
            other => Shown {
                error: other.to_string(),
                field_errors: None,
            },
        }
    }

    /// One field's message, for a form the page checks before any service does.
    pub(crate) fn field(field: &str, message: &str) -> Self {
        Shown {
            error: "Please correct the marked fields.".into(),
            field_errors: Some(BTreeMap::from([(field.to_owned(), message.to_owned())])),
        }
    }
}

/// A form shown again as it was typed (`{ "form": … }`), so nothing typed is lost.
#[derive(Serialize)]
pub(crate) struct Typed<F> {
    pub form: F,
}

/// A row of a list that failed (`{ "failed": id }`), so the page marks it.
#[derive(Serialize)]
pub(crate) struct Failed<I> {
    pub failed: I,
}
