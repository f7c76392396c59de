//! The JSON API: one `#[OpenApi]` struct per resource, combined once here.

use partnerdesk_core::platform::config::Config;
use poem_openapi::{
    ApiResponse, Object, OpenApiService, Tags,
    payload::Json,
    types::{ParseFromJSON, ToJSON},
};

pub mod billing;
pub mod commerce;
pub mod delegation;
pub mod dev;
pub mod earnings;
pub mod identity;
pub mod ops;
pub mod tenancy;

#[derive(Tags)]
pub enum ApiTags {
    /// Sign-up, login, sessions, the current user and API tokens.
    Auth,
    /// Organizations, their members and permissions, and their audit log.
    Organizations,
    /// Requests for partner status, the sales team's decisions, partner terms.
    Partners,
    /// Self-registration of a new partner company.
    PartnerRegistration,
    /// My customers: adding, editing, listing, activating; the partner's own account.
    Customers,
    /// Inviting customers by e-mail, and registering through an invitation.
    CustomerInvitations,
    /// Users of an organization: overview, adding, CSV import, profiles; the software heartbeat.
    Users,
    /// Licences, quotes, credits, trials, orders, invoices and payment links.
    Licences,
    /// Delegated administration: a partner's management sessions and "login as" for a
    /// customer, within what the customer granted; the customer's view of them.
    Delegation,
    /// The module catalogue, software releases and downloads.
    Catalogue,
    /// Attribution, commissions, the partner dashboard and affiliate figures, refunds and payouts.
    Commissions,
    /// Billing runs: XLSX and CSV files of what each customer is billed for a period.
    Billing,
    /// The job queue for vendor ops: queues, jobs, workers; retry, discard, pause.
    Operations,
    /// Tools for development: the mail outbox.
    Development,
}

/// 201 with the created resource.
#[derive(ApiResponse)]
pub enum Created<T: ParseFromJSON + ToJSON + Send + Sync> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
}

#[derive(Object, Debug)]
pub struct Accepted {
    /// What happens next, for people.
    pub message: String,
}

/// 202: the request is taken; an e-mail is on its way.
#[derive(ApiResponse)]
pub enum AcceptedResponse {
    /// Accepted; an e-mail is on its way.
    #[oai(status = 202)]
    Accepted(Json<Accepted>),
}

impl AcceptedResponse {
    pub fn accepted(message: &str) -> Self {
        AcceptedResponse::Accepted(Json(Accepted {
            message: message.to_owned(),
        }))
    }
}

/// 204 without a body.
#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

/// The page size a list answers with when `limit` is not given.
pub fn default_limit() -> i64 {
    partnerdesk_core::platform::domain::DEFAULT_PAGE
}

/// Every resource's API, grouped by area (each area lists its own).
pub type Api = (
    identity::Api,
    tenancy::Api,
    delegation::Api,
    commerce::Api,
    earnings::CommissionsApi,
    billing::BillingApi,
    ops::OpsApi,
    dev::DevApi,
);

pub fn service(config: &Config) -> OpenApiService<Api, ()> {
    OpenApiService::new(Api::default(), "Partnerdesk API", env!("CARGO_PKG_VERSION"))
        .description(
            "The partner and reseller portal API. Authenticate with a session cookie (POST /auth/login) or a \
         bearer token (POST /me/tokens). Choose the organization you act as with the `X-Organization` \
         header; without it, the session's choice or your first organization is used. Inside a \
         delegated session (a partner managing a customer, or logged in as its user) send its id as \
         `X-Delegated-Session`. Errors are \
         `application/problem+json` with a stable `code`. Money and rates are strings with two decimals.",
        )
        .server(config.url("/api"))
}

/// The OpenAPI document as served at `/api/openapi.json`: poem-openapi's, with the
/// annotation-only parts of `allOf` removed. A described field of a named type comes out
/// as `allOf: [$ref, {description}]`, which some generators cannot read; the description
/// is on the field already, so `allOf: [$ref]` says the same.
pub fn document(config: &Config) -> String {
    let mut doc: serde_json::Value =
        serde_json::from_str(&service(config).spec()).expect("poem-openapi writes valid JSON");
    simplify_all_of(&mut doc);
    declare_downloads(&mut doc);
    serde_json::to_string_pretty(&doc).expect("a JSON value serializes")
}

/// Every file a response sends (`format: binary`: CSV, XLSX) is declared as
/// `application/octet-stream` too, first: generated clients read such a response as
/// bytes, where they would read `text/csv` as text into a byte buffer (and fail) and skip
/// a spreadsheet's own media type altogether. The file is still sent with its own type,
/// which stays declared.
fn declare_downloads(doc: &mut serde_json::Value) {
    const BYTES: &str = "application/octet-stream";
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let responses = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses").and_then(|r| r.as_object_mut()))
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let Some(content) = response.get_mut("content").and_then(|c| c.as_object_mut()) else {
            continue;
        };
        let file = content.values().find_map(|media| {
            let schema = media.get("schema")?;
            (schema.get("format").and_then(|f| f.as_str()) == Some("binary")).then(|| media.clone())
        });
        if let Some(media) = file {
            content.entry(BYTES).or_insert(media);
        }
    }
}

fn simplify_all_of(value: &mut serde_json::Value) {
    const ANNOTATIONS: [&str; 6] = [
        "description",
        "nullable",
        "default",
        "readOnly",
        "writeOnly",
        "deprecated",
    ];
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Array(parts)) = map.get_mut("allOf") {
                parts.retain(|part| {
                    part.as_object()
                        .is_none_or(|p| !p.keys().all(|k| ANNOTATIONS.contains(&k.as_str())))
                });
            }
            map.values_mut().for_each(simplify_all_of);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(simplify_all_of),
        _ => {}
    }
}

// The `limit` validators above write the maximum as a literal; it is core's.
const _: () = assert!(
    partnerdesk_core::platform::domain::MAX_PAGE == 200,
    "update the limit validators"
);
