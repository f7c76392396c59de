//! My customers: create, edit, list, activate/deactivate, and the partner's own account.

use chrono::{DateTime, Utc};
use partnerdesk_core::{
    platform::authz::Permission,
    platform::values::{CustomerOrigin, CustomerType},
};
use partnerdesk_core::{
    platform::money::Fixed2,
    tenancy::customers::{self, Customer, CustomerInput, ListQuery, SortKey, StatusFilter},
};
use poem::web::Data;
use poem_openapi::{
    Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use uuid::Uuid;

use crate::api::{ApiTags, Created, tenancy::organizations::OrganizationView};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct CustomersApi;

#[derive(Object, Debug)]
pub struct Usage {
    /// User licences assigned to users.
    pub used: i64,
    /// User licences in total, credits included.
    pub total: i64,
}

/// A row of My customers.
#[derive(Object, Debug)]
pub struct CustomerView {
    pub id: Uuid,
    /// The company name.
    pub company: String,
    /// The primary contact (the first administrator or company administrator).
    #[oai(nullable)]
    pub name: Option<String>,
    pub active: bool,
    pub customer_type: CustomerType,
    pub usage: Usage,
    /// The earliest end of a running trial or licence.
    #[oai(nullable)]
    pub coming_expiry_date: Option<DateTime<Utc>>,
    /// Your own number for this customer, printed in billing files.
    #[oai(nullable)]
    pub debtor_number: Option<String>,
    #[oai(nullable)]
    pub country: Option<String>,
    /// invitation, created_by_partner or chosen_by_customer.
    pub origin: CustomerOrigin,
    /// Percent, two decimals.
    pub commission_rate: Fixed2,
    pub language: String,
    #[oai(nullable)]
    pub contact_email: Option<String>,
    /// What the customer allows you to do inside its organization.
    pub granted_permissions: Vec<Permission>,
    pub partner_account_id: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<Customer> for CustomerView {
    fn from(c: Customer) -> Self {
        let granted = c.granted();
        CustomerView {
            id: c.id,
            company: c.name,
            name: c.contact_name,
            active: c.active,
            customer_type: c.customer_type,
            usage: Usage {
                used: c.seats_used,
                total: c.seats_total,
            },
            coming_expiry_date: c.coming_expiry,
            debtor_number: c.debtor_number,
            country: c.country,
            origin: c.origin,
            commission_rate: Fixed2::from(c.commission_rate),
            language: c.language,
            contact_email: c.contact_email,
            granted_permissions: granted,
            partner_account_id: c.partner_id,
            created_at: c.created_at,
        }
    }
}

#[derive(Object, Debug)]
pub struct CustomerPage {
    pub items: Vec<CustomerView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

#[derive(Object, Debug)]
#[oai(example)]
pub struct CreateCustomerRequest {
    pub name: String,
    pub active: bool,
    /// Percent, 0-100, at most two decimals.
    pub commission_rate: String,
    /// CUSTOMER (default), PROSPECT, PARTNER, TEST or INTERNAL.
    #[oai(nullable)]
    pub customer_type: Option<String>,
    /// Defaults to the partner organization you act as.
    #[oai(nullable)]
    pub partner_account_id: Option<Uuid>,
    /// ISO 3166-1 alpha-2; used for phone-number country codes.
    #[oai(nullable)]
    pub country: Option<String>,
    /// Your own number for this customer (unique among your customers).
    #[oai(nullable)]
    pub debtor_number: Option<String>,
    #[oai(nullable)]
    pub contact_email: Option<String>,
    /// en (default), nl or de.
    #[oai(nullable)]
    pub language: Option<String>,
}

impl Example for CreateCustomerRequest {
    fn example() -> Self {
        CreateCustomerRequest {
            name: "Jansen Installatietechniek".into(),
            active: true,
            commission_rate: "15.00".into(),
            customer_type: Some("CUSTOMER".into()),
            partner_account_id: None,
            country: Some("NL".into()),
            debtor_number: Some("D-1001".into()),
            contact_email: Some("jan@jansen.example".into()),
            language: Some("nl".into()),
        }
    }
}

impl From<CreateCustomerRequest> for CustomerInput {
    fn from(b: CreateCustomerRequest) -> Self {
        CustomerInput {
            name: Some(b.name),
            active: Some(b.active),
            commission_rate: Some(b.commission_rate),
            customer_type: b.customer_type,
            partner_account_id: b.partner_account_id,
            country: b.country,
            debtor_number: b.debtor_number,
            contact_email: b.contact_email,
            language: b.language,
        }
    }
}

#[derive(Object, Debug, Default)]
#[oai(example)]
pub struct UpdateCustomerRequest {
    #[oai(nullable)]
    pub name: Option<String>,
    #[oai(nullable)]
    pub active: Option<bool>,
    #[oai(nullable)]
    pub commission_rate: Option<String>,
    #[oai(nullable)]
    pub customer_type: Option<String>,
    #[oai(nullable)]
    pub country: Option<String>,
    /// An empty string removes the number.
    #[oai(nullable)]
    pub debtor_number: Option<String>,
    #[oai(nullable)]
    pub contact_email: Option<String>,
    #[oai(nullable)]
    pub language: Option<String>,
}

impl Example for UpdateCustomerRequest {
    fn example() -> Self {
        UpdateCustomerRequest {
            debtor_number: Some("D-2002".into()),
            commission_rate: Some("17.50".into()),
            ..Default::default()
        }
    }
}

impl From<UpdateCustomerRequest> for CustomerInput {
    fn from(b: UpdateCustomerRequest) -> Self {
        CustomerInput {
            name: b.name,
            active: b.active,
            commission_rate: b.commission_rate,
            customer_type: b.customer_type,
            partner_account_id: None,
            country: b.country,
            debtor_number: b.debtor_number,
            contact_email: b.contact_email,
            language: b.language,
        }
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum ActiveFilter {
    Active,
    Inactive,
    Both,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum SortBy {
    Name,
    Created,
    Expiry,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Object, Debug)]
pub struct MyAccountView {
    pub organization: OrganizationView,
    pub usage: Usage,
    /// Always true: your own account is never in the billing file.
    pub never_billed: bool,
}

#[OpenApi(tag = "ApiTags::Customers")]
impl CustomersApi {
    /// My customers
    ///
    /// The organizations that have you as their service provider (customers who only came
    /// through your affiliate link are not here). Filter active/inactive/both, search name
    /// and debtor number, sort by name, created or coming expiry; keyset paging with
    /// `cursor`.
    #[oai(operation_id = "listCustomers", path = "/customers", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        status: Query<Option<ActiveFilter>>,
        q: Query<Option<String>>,
        sort: Query<Option<SortBy>>,
        dir: Query<Option<Direction>>,
        #[oai(
            default = "crate::api::default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<CustomerPage>> {
        let mut conn = state.read_conn().await?;
        let query = ListQuery {
            status: match status.0 {
                None | Some(ActiveFilter::Active) => StatusFilter::Active,
                Some(ActiveFilter::Inactive) => StatusFilter::Inactive,
                Some(ActiveFilter::Both) => StatusFilter::Both,
            },
            search: q.0,
            sort: match sort.0 {
                None | Some(SortBy::Name) => SortKey::Name,
                Some(SortBy::Created) => SortKey::Created,
                Some(SortBy::Expiry) => SortKey::Expiry,
            },
            descending: dir.0 == Some(Direction::Desc),
            limit: limit.0,
            cursor: cursor.0,
        };
        let page = customers::list(&mut conn, &auth.actor, query).await?;
        Ok(Json(CustomerPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Add a customer
    ///
    /// Needs "create organizations for customers". Every invalid field is named in one
    /// response.
    #[oai(operation_id = "createCustomer", path = "/customers", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<CreateCustomerRequest>,
    ) -> ApiResult<Created<CustomerView>> {
        let mut conn = state.conn().await?;
        let customer = customers::create(&mut conn, &state.ctx, &auth.actor, body.0.into()).await?;
        Ok(Created::Created(Json(customer.into())))
    }

    /// Get a customer
    #[oai(operation_id = "getCustomer", path = "/customers/:id", method = "get")]
    async fn get(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<CustomerView>> {
        let mut conn = state.conn().await?;
        Ok(Json(customers::get(&mut conn, &auth.actor, id.0).await?.into()))
    }

    /// Edit a customer
    ///
    /// Rate, debtor number, type and active flag are yours to set; the organization's
    /// name, country, language and contact also need the customer's grant to edit company
    /// details. Deactivating switches off the customer's licences at once.
    #[oai(operation_id = "updateCustomer", path = "/customers/:id", method = "patch")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<Uuid>,
        body: Body<UpdateCustomerRequest>,
    ) -> ApiResult<Json<CustomerView>> {
        let mut conn = state.conn().await?;
        let customer = customers::update(&mut conn, &state.ctx, &auth.actor, id.0, body.0.into()).await?;
        Ok(Json(customer.into()))
    }

    /// Activate a customer
    #[oai(operation_id = "activateCustomer", path = "/customers/:id/activate", method = "post")]
    async fn activate(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<CustomerView>> {
        let mut conn = state.conn().await?;
        let input = CustomerInput {
            active: Some(true),
            ..Default::default()
        };
        Ok(Json(
            customers::update(&mut conn, &state.ctx, &auth.actor, id.0, input)
                .await?
                .into(),
        ))
    }

    /// Deactivate a customer
    ///
    /// The customer's licences are switched off in the same transaction.
    #[oai(
        operation_id = "deactivateCustomer",
        path = "/customers/:id/deactivate",
        method = "post"
    )]
    async fn deactivate(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<CustomerView>> {
        let mut conn = state.conn().await?;
        let input = CustomerInput {
            active: Some(false),
            ..Default::default()
        };
        Ok(Json(
            customers::update(&mut conn, &state.ctx, &auth.actor, id.0, input)
                .await?
                .into(),
        ))
    }

    /// My account
    ///
    /// Your own organization used like a customer. It is never billed.
    #[oai(operation_id = "getMyAccount", path = "/my-account", method = "get")]
    async fn my_account(&self, state: Data<&AppState>, auth: Auth) -> ApiResult<Json<MyAccountView>> {
        let mut conn = state.conn().await?;
        let account = customers::my_account(&mut conn, &auth.actor).await?;
        Ok(Json(MyAccountView {
            never_billed: account.organization.billing_exempt,
            organization: account.organization.into(),
            usage: Usage {
                used: account.seats_used,
                total: account.seats_total,
            },
        }))
    }
}
