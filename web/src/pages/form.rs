//! Forms as browsers send them (`application/x-www-form-urlencoded`): each form is a
//! `Deserialize` struct, read by [`Form`]. Every value arrives trimmed, and a field left
//! empty is a missing one (`None`); a group of checkboxes of one name is a `Vec`; a
//! checkbox is an `Option<String>` (`Some` when ticked). Decoding is serde_html_form's
//! (serde_urlencoded's fork that reads repeated fields into sequences).

use poem::{FromRequest, Request, RequestBody, error::ParseFormError};
use serde::de::DeserializeOwned;

/// A submitted form: `fields` as the struct the handler reads, and `typed`, the form as
/// typed, to show it again next to the messages when it is refused.
pub(crate) struct Form<T> {
    pub fields: T,
    pub typed: Pairs,
}

impl<'a, T: DeserializeOwned> FromRequest<'a> for Form<T> {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let poem::web::Form(typed) = poem::web::Form::<Pairs>::from_request(req, body).await?;
        let fields = decode(&typed).map_err(ParseFormError::UrlDecode)?;
        Ok(Form { fields, typed })
    }
}

/// The pairs, trimmed, as `T`: empty values are left out, so an `Option` left empty is
/// `None` and a `String` left empty is its default (with `#[serde(default)]`).
fn decode<T: DeserializeOwned>(pairs: &Pairs) -> Result<T, serde::de::value::Error> {
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            pairs
                .0
                .iter()
                .map(|(k, v)| (k.as_str(), v.trim()))
                .filter(|(_, v)| !v.is_empty()),
        )
        .finish();
    serde_html_form::from_str(&encoded)
}

/// A submitted form as typed: its name/value pairs in order.
#[derive(serde::Deserialize, Default)]
#[serde(transparent)]
pub(crate) struct Pairs(Vec<(String, String)>);

impl Pairs {
    /// Whether the form has the field at all (sent, even if left empty).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// The form as typed, to show it again: each field's first value, never a password or
/// the CSRF token.
impl serde::Serialize for Pairs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut shown = std::collections::BTreeMap::new();
        for (k, v) in &self.0 {
            if k != "password" && k != super::csrf::FIELD {
                shown.entry(k.as_str()).or_insert(v.as_str());
            }
        }
        s.collect_map(shown)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::{Pairs, decode};

    #[derive(Deserialize, Debug, PartialEq)]
    struct Invite {
        #[serde(default)]
        email: String,
        language: Option<String>,
        active: Option<String>,
        #[serde(default)]
        permissions: Vec<String>,
    }

    fn typed(pairs: &[(&str, &str)]) -> Pairs {
        Pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn a_form_arrives_trimmed_with_empty_fields_missing_and_checkbox_groups_as_lists() {
        let form: Invite = decode(&typed(&[
            ("email", "  jan@example.com "),
            ("language", "   "),
            ("permissions", "view_users"),
            ("permissions", "edit_users"),
            ("csrf_token", "t"),
        ]))
        .unwrap();
        assert_eq!(
            form,
            Invite {
                email: "jan@example.com".into(),
                language: None,
                active: None,
                permissions: vec!["view_users".into(), "edit_users".into()],
            }
        );
        let ticked: Invite = decode(&typed(&[("active", "on"), ("permissions", "view_users")])).unwrap();
        assert_eq!((ticked.email.as_str(), ticked.active.as_deref()), ("", Some("on")));
        assert_eq!(ticked.permissions, ["view_users"]);
    }

    #[test]
    fn the_form_shown_again_leaves_out_passwords_and_the_csrf_token() {
        let shown = serde_json::to_value(typed(&[
            ("email", "a@b.c"),
            ("password", "secret"),
            ("csrf_token", "t"),
        ]))
        .unwrap();
        assert_eq!(shown, serde_json::json!({ "email": "a@b.c" }));
    }
}
