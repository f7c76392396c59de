//! `Body<T>`: a JSON request body like poem-openapi's `Json<T>`, but a body that does not
//! match the schema gets a problem naming each offending field (missing, wrong type,
//! not one of the allowed values) instead of a parser message, and text with a NUL
//! character (which PostgreSQL cannot store) is refused with its field named. The body
//! arrives size-limited by the `limits` middleware and is parsed once, without copies.

use poem::{FromRequest, Request, RequestBody, http::StatusCode};
use poem_openapi::{
    impl_apirequest_for_payload,
    payload::{ParsePayload, Payload},
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};
use serde_json::Value;

use crate::error::{ApiError, Problem, ProblemField};

pub struct Body<T>(pub T);

impl<T: Type> Payload for Body<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for Body<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = Vec::<u8>::from_request(request, body).await?;
        let parse = |data: &[u8]| -> Result<Value, ApiError> {
            if data.is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_slice(data)
                .map_err(|e| ApiError::bad_request("invalid_json", format!("The request body is not valid JSON: {e}")))
        };
        let value = parse(&data)?;
        if let Some(field) = nul_field(&value, String::new()) {
            return Err(ApiError::from(partnerdesk_core::Error::field(
                &field,
                "invalid_characters",
                "Contains characters that are not allowed (a NUL byte)",
            ))
            .into());
        }
        let unknown = unknown_fields::<T>(&value);
        if !unknown.is_empty() {
            return Err(ApiError::from(partnerdesk_core::Error::Validation(unknown)).into());
        }
        match T::parse_from_json(Some(value)) {
            Ok(parsed) => Ok(Body(parsed)),
            // Parse again to explain the failure; the good path keeps one copy only.
            Err(err) => Err(schema_problem::<T>(&parse(&data)?, err.into_message()).into()),
        }
    }
}

impl_apirequest_for_payload!(Body<T>, T: ParseFromJSON);

/// The path of the first string (or key) holding a NUL character: `name`,
/// `items[2].name`.
fn nul_field(value: &Value, path: String) -> Option<String> {
    let here = |p: &str| if p.is_empty() { "body".to_owned() } else { p.to_owned() };
    match value {
        Value::String(s) if s.contains('\0') => Some(here(&path)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_field(v, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                Some(here(&path))
            } else {
                nul_field(v, p)
            }
        }),
        _ => None,
    }
}

/// Every key of the body that its schema does not name, at any depth (`items[1].emial`):
/// a misspelt optional field would otherwise be ignored without a word; and every value
/// of the wrong type (a number or a boolean for a text field among them).
fn unknown_fields<T: Type>(value: &Value) -> Vec<partnerdesk_core::FieldError> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let mut found = Vec::new();
    collect_unknown(&registry, &T::schema_ref(), value, "", &mut found);
    found
}

fn collect_unknown(
    registry: &Registry,
    schema: &MetaSchemaRef,
    value: &Value,
    path: &str,
    found: &mut Vec<partnerdesk_core::FieldError>,
) {
    let Some(schema) = resolve(registry, schema) else {
        return;
    };
    match value {
        Value::Object(map) if schema.ty == "object" && schema.additional_properties.is_none() => {
            for (key, v) in map {
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match schema.properties.iter().find(|(name, _)| name == key) {
                    Some((_, prop)) => collect_unknown(registry, prop, v, &field, found),
                    None => {
                        let hint = schema
                            .properties
                            .iter()
                            .map(|(name, _)| *name)
                            .find(|name| close(name, key))
                            .map(|name| format!(" (did you mean `{name}`?)"))
                            .unwrap_or_default();
                        found.push(partnerdesk_core::FieldError::new(
                            field,
                            "unknown_field",
                            format!("Not a field of this request{hint}"),
                        ));
                    }
                }
            }
        }
        Value::Array(items) if schema.ty == "array" => {
            if let Some(item) = &schema.items {
                for (i, v) in items.iter().enumerate() {
                    collect_unknown(registry, item, v, &format!("{path}[{i}]"), found);
                }
            }
        }
        // A value of the wrong type, named with the others. (poem-openapi would read a
        // number or a boolean into a text field as its text: text fields, amounts and
        // rates among them, take strings only.)
        // (A body that is not an object at all is answered by `schema_problem`.)
        Value::Null => {}
        _ if path.is_empty() => {}
        _ => {
            if let Some((code, message)) = type_matches(schema, value) {
                found.push(partnerdesk_core::FieldError::new(path, code, message));
            }
        }
    }
}

/// Whether two names are one typo apart (an edit distance of at most two).
fn close(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(here + 1);
            prev = here;
        }
    }
    row[b.len()] <= 2
}

/// The schema behind a reference, also when a described field wraps it in `allOf`.
fn resolve<'r>(registry: &'r Registry, schema: &'r MetaSchemaRef) -> Option<&'r MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(s) if s.ty.is_empty() && !s.all_of.is_empty() => s
            .all_of
            .iter()
            .filter_map(|part| resolve(registry, part))
            .find(|part| !part.ty.is_empty())
            .or(Some(s)),
        MetaSchemaRef::Inline(s) => Some(s),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }
}

fn type_matches(schema: &MetaSchema, value: &Value) -> Option<(&'static str, String)> {
    let ok = match schema.ty {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if !ok {
        return Some(("invalid_type", format!("Expected {}", article(schema.ty))));
    }
    if !schema.enum_items.is_empty() && !schema.enum_items.contains(value) {
        let allowed: Vec<String> = schema.enum_items.iter().map(|v| v.to_string()).collect();
        return Some(("invalid_value", format!("Must be one of {}", allowed.join(", "))));
    }
    if schema.ty == "integer"
        && schema.format.is_some_and(|f| f.starts_with("uint"))
        && value.as_i64().is_some_and(|n| n < 0)
    {
        return Some(("out_of_range", "Must not be negative".to_owned()));
    }
    None
}

fn article(ty: &str) -> String {
    match ty {
        "integer" => "a whole number".into(),
        "array" => "a list".into(),
        "object" => "an object".into(),
        "boolean" => "true or false".into(),
        other => format!("a {other}"),
    }
}

fn schema_problem<T: Type>(value: &Value, parser_message: String) -> ApiError {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let mut fields = Vec::new();
    let root = T::schema_ref();
    let schema = resolve(&registry, &root);
    match (schema, value) {
        (Some(schema), Value::Object(map)) if schema.ty == "object" => {
            for (name, prop) in &schema.properties {
                let present = map.get(*name).filter(|v| !v.is_null());
                match (present, schema.required.contains(name)) {
                    (None, true) => fields.push(ProblemField {
                        field: (*name).to_owned(),
                        code: "required".into(),
                        message: "This field is required".into(),
                    }),
                    (Some(v), _) => {
                        if let Some((code, message)) = resolve(&registry, prop).and_then(|s| type_matches(s, v)) {
                            fields.push(ProblemField {
                                field: (*name).to_owned(),
                                code: code.into(),
                                message,
                            });
                        }
                    }
                    (None, false) => {}
                }
            }
        }
        (Some(schema), _) if schema.ty == "object" => {
            return ApiError::from_problem(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "The request body must be a JSON object",
            ));
        }
        _ => {}
    }
    if fields.is_empty() {
        return ApiError::from_problem(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("The request body does not match the schema: {parser_message}"),
        ));
    }
    let detail = match fields.as_slice() {
        [one] => format!("{}: {}", one.field, one.message),
        many => format!("{} fields are invalid", many.len()),
    };
    ApiError::from_problem(Problem {
        errors: fields,
        ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail)
    })
}
