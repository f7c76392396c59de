//! Partner onboarding: requests for partner status, the sales team's decision, and the
//! partner records it creates.

use crate::delegation::sessions::{Ending, end_all};
use crate::platform::ids::{OrgId, UserId};
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::op::{self, Op};
use crate::{
    Ctx, Error, FieldError, Result,
    platform::authz::{Actor, Permission},
    platform::config::Config,
    platform::domain::{CommissionRate, CountryCode, Email, Language, optional_text, optional_website, required_text},
    platform::error::{Validator, validated},
    platform::mail::EmailKind,
    platform::money::fixed2,
    platform::tokens,
    platform::values::{PartnerRequestStatus, PartnerStanding},
    schema::{organizations as orgs, partner_requests, partners, users},
    tenancy::organizations,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = partner_requests)]
pub struct PartnerRequest {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub requested_by: Option<Uuid>,
    pub company: String,
    pub contact_name: String,
    pub contact_email: String,
    pub website: Option<String>,
    pub country: String,
    pub expected_customers: i32,
    pub message: Option<String>,
    pub status: PartnerRequestStatus,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = partners)]
pub struct Partner {
    pub organization_id: Uuid,
    pub status: PartnerStanding,
    pub partner_code: String,
    pub affiliate_code: String,
    pub default_commission_rate: Decimal,
    pub approved_at: DateTime<Utc>,
}

/// Where an organization stands on its way to partner status.
#[derive(Debug, Clone)]
pub enum PartnerStatus {
    /// May request; the form is pre-filled from what is known.
    Eligible { prefill: RequestInput },
    /// A request is waiting for the sales team.
    Requested(PartnerRequest),
    /// Already a partner.
    Partner(Partner),
}

/// The request form.
#[derive(Debug, Clone, Default)]
pub struct RequestInput {
    pub company: String,
    pub contact_name: String,
    pub contact_email: String,
    pub website: Option<String>,
    pub country: String,
    pub expected_customers: Option<i64>,
    pub message: Option<String>,
}

/// A validated request form.
pub(crate) struct ValidRequest {
    company: String,
    contact_name: String,
    contact_email: Email,
    website: Option<String>,
    country: CountryCode,
    expected_customers: i32,
    message: Option<String>,
}

pub(crate) fn validate_request(input: &RequestInput, v: &mut Validator) -> Option<ValidRequest> {
    let company = v.check(required_text("company", &input.company, 200));
    let contact_name = v.check(required_text("contact_name", &input.contact_name, 200));
    let contact_email = v.check(Email::parse_field("contact_email", &input.contact_email));
    let website = v.check(optional_website("website", input.website.as_deref()));
    let country = v.check(CountryCode::parse(&input.country));
    let expected = match input.expected_customers {
        None => {
            v.push(FieldError::new(
                "expected_customers",
                "required",
                "How many customers do you expect to serve?",
            ));
            None
        }
        Some(n) if !(0..=1_000_000).contains(&n) => {
            v.push(FieldError::new(
                "expected_customers",
                "out_of_range",
                "Between 0 and 1,000,000",
            ));
            None
        }
        Some(n) => Some(n as i32),
    };
    let message = v.check(optional_text("message", input.message.as_deref(), 4000));
    Some(ValidRequest {
        company: company?,
        contact_name: contact_name?,
        contact_email: contact_email?,
        website: website?,
        country: country?,
        expected_customers: expected?,
        message: message?,
    })
}

async fn current_partner(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<Option<Partner>> {
    Ok(partners::table
        .find(org_id)
        .select(Partner::as_select())
        .first(conn)
        .await
        .optional()?)
}

async fn open_request(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<Option<PartnerRequest>> {
    Ok(partner_requests::table
        .filter(partner_requests::organization_id.eq(org_id))
        .filter(partner_requests::status.eq(PartnerRequestStatus::Open))
        .select(PartnerRequest::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The partner status page for the acting organization. Refused with "Your account does
/// not yet have an organization" or "You do not have the necessary authorization to
/// view this page" exactly as the portal promises.
pub async fn status(conn: &mut AsyncPgConnection, actor: &Actor) -> Result<PartnerStatus> {
    let org_id = actor.acting_org.ok_or_else(Error::no_organization)?;
    let org_id = op::grant(conn, actor, org_id.into(), Permission::RequestPartnerStatus)
        .await?
        .org();
    if let Some(partner) = current_partner(conn, org_id).await? {
        return Ok(PartnerStatus::Partner(partner));
    }
    if let Some(request) = open_request(conn, org_id).await? {
        return Ok(PartnerStatus::Requested(request));
    }
    let org = organizations::find(conn, org_id).await?;
    let (first, last, email): (String, String, String) = users::table
        .find(actor.user_id)
        .select((users::first_name, users::last_name, users::email))
        .first(conn)
        .await?;
    Ok(PartnerStatus::Eligible {
        prefill: RequestInput {
            company: org.name,
            contact_name: format!("{first} {last}").trim().to_owned(),
            contact_email: email,
            website: org.website,
            country: org.country.unwrap_or_default(),
            expected_customers: None,
            message: None,
        },
    })
}

pub(crate) async fn insert_request(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    org_id: OrgId,
    requested_by: UserId,
    req: &ValidRequest,
) -> Result<PartnerRequest> {
    Ok(diesel::insert_into(partner_requests::table)
        .values((
            partner_requests::id.eq(Uuid::now_v7()),
            partner_requests::organization_id.eq(org_id),
            partner_requests::requested_by.eq(requested_by),
            partner_requests::company.eq(&req.company),
            partner_requests::contact_name.eq(&req.contact_name),
            partner_requests::contact_email.eq(req.contact_email.as_str()),
            partner_requests::website.eq(&req.website),
            partner_requests::country.eq(req.country.as_str()),
            partner_requests::expected_customers.eq(req.expected_customers),
            partner_requests::message.eq(&req.message),
            partner_requests::created_at.eq(now),
        ))
        .returning(PartnerRequest::as_returning())
        .get_result(conn)
        .await?)
}

/// Queues the acknowledgement to the requester.
pub(crate) async fn queue_received_email(op: &mut Op<'_>, request: &PartnerRequest, lang: Language) -> Result<()> {
    let to = Email::parse(&request.contact_email)?;
    op.email(
        &format!("partner_request.received:{}", request.id),
        &to,
        lang,
        EmailKind::PartnerRequestReceived { request_id: request.id },
    )
    .await
}

async fn org_language(conn: &mut AsyncPgConnection, org_id: Uuid) -> Result<Language> {
    let lang: String = orgs::table.find(org_id).select(orgs::language).first(conn).await?;
    Ok(Language::from_db(&lang))
}

/// Requests partner status for the acting organization.
pub async fn submit_request(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    input: RequestInput,
) -> Result<PartnerRequest> {
    let org_id = actor.acting_org.ok_or_else(Error::no_organization)?;
    op::run(conn, ctx, actor, org_id, Permission::RequestPartnerStatus, async |op| {
        if current_partner(op.conn, org_id).await?.is_some() {
            return Err(Error::conflict(
                "already_partner",
                None,
                "This organization is already a partner",
            ));
        }
        if open_request(op.conn, org_id).await?.is_some() {
            return Err(Error::conflict(
                "partner_request_open",
                None,
                "This organization already has an open partner request",
            ));
        }
        let mut v = Validator::new();
        let valid = validate_request(&input, &mut v);
        v.finish()?;
        let valid = validated(valid);
        let request = insert_request(op.conn, op.now, org_id.into(), actor.user_id.into(), &valid).await?;
        op.audit(Action::PartnerRequestSubmitted,
            request.id,
            json!({ "company": request.company, "country": request.country, "expected_customers": request.expected_customers }),
        )
        .await?;
        let lang = org_language(op.conn, org_id).await?;
        queue_received_email(op, &request, lang).await?;
        Ok(request)
    })
    .await
}

/// Partner requests for the sales team, oldest first.
pub async fn list_requests(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    status: Option<PartnerRequestStatus>,
) -> Result<Vec<PartnerRequest>> {
    op::grant(conn, actor, op::Scope::Vendor, Permission::VendorSales).await?;
    let mut query = partner_requests::table
        .order((partner_requests::created_at.asc(), partner_requests::id.asc()))
        .select(PartnerRequest::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(partner_requests::status.eq(status));
    }
    Ok(query.load(conn).await?)
}

/// One request: for the sales team, or for the organization that made it.
pub async fn get_request(conn: &mut AsyncPgConnection, actor: &Actor, id: Uuid) -> Result<PartnerRequest> {
    let request: Option<PartnerRequest> = partner_requests::table
        .find(id)
        .select(PartnerRequest::as_select())
        .first(conn)
        .await
        .optional()?;
    match op::grant(conn, actor, op::Scope::Vendor, Permission::VendorSales).await {
        Ok(_) => request.ok_or(Error::not_found("partner request")),
        Err(_) => {
            let request = request.ok_or(Error::not_found("partner request"))?;
            op::grant(
                conn,
                actor,
                request.organization_id.into(),
                Permission::RequestPartnerStatus,
            )
            .await
            .map_err(|e| e.not_found_as("partner request"))?;
            Ok(request)
        }
    }
}

async fn lock_open_request(conn: &mut AsyncPgConnection, id: Uuid) -> Result<PartnerRequest> {
    let request: PartnerRequest = partner_requests::table
        .find(id)
        .select(PartnerRequest::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("partner request"))?;
    if request.status != PartnerRequestStatus::Open {
        return Err(Error::conflict(
            "request_decided",
            None,
            format!("This request was already {}", request.status),
        ));
    }
    Ok(request)
}

/// Generates a code not yet used in `column`.
async fn unused_code(conn: &mut AsyncPgConnection, affiliate: bool) -> Result<String> {
    for _ in 0..20 {
        let code = tokens::random_code(8);
        let taken: i64 = if affiliate {
            partners::table
                .filter(partners::affiliate_code.eq(&code))
                .count()
                .get_result(conn)
                .await?
        } else {
            partners::table
                .filter(partners::partner_code.eq(&code))
                .count()
                .get_result(conn)
                .await?
        };
        if taken == 0 {
            return Ok(code);
        }
    }
    Err(Error::internal("could not find an unused code"))
}

/// Inserts the partner record of an approved organization.
pub(crate) async fn insert_partner(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    org_id: OrgId,
    rate: Decimal,
    request_id: Option<Uuid>,
    approved_by: Option<UserId>,
    codes: Option<(&str, &str)>,
) -> Result<Partner> {
    let (partner_code, affiliate_code) = match codes {
        Some((p, a)) => (p.to_owned(), a.to_owned()),
        None => (unused_code(conn, false).await?, unused_code(conn, true).await?),
    };
    let partner = diesel::insert_into(partners::table)
        .values((
            partners::organization_id.eq(org_id),
            partners::partner_code.eq(&partner_code),
            partners::affiliate_code.eq(&affiliate_code),
            partners::default_commission_rate.eq(rate),
            partners::request_id.eq(request_id),
            partners::approved_by.eq(approved_by),
            partners::approved_at.eq(now),
            partners::created_at.eq(now),
            partners::updated_at.eq(now),
        ))
        .returning(Partner::as_returning())
        .get_result(conn)
        .await?;
    // The partner's own organization can use the product ("My account") but is never billed.
    diesel::update(orgs::table.find(org_id))
        .set((orgs::billing_exempt.eq(true), orgs::updated_at.eq(now)))
        .execute(conn)
        .await?;
    Ok(partner)
}

/// Approves a request: the organization becomes a partner with a default commission
/// rate and unique partner and affiliate codes; the requester is e-mailed.
pub async fn approve(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    id: Uuid,
    default_commission_rate: Option<&str>,
) -> Result<(PartnerRequest, Partner)> {
    op::run(
        conn,
        ctx,
        actor,
        op::Scope::Vendor,
        Permission::VendorSales,
        async |op| {
            let rate = match default_commission_rate {
                Some(raw) => CommissionRate::parse_field("default_commission_rate", raw)?.value(),
                None => ctx.config.default_commission_rate,
            };
            let request = lock_open_request(op.conn, id).await?;
            if current_partner(op.conn, request.organization_id).await?.is_some() {
                return Err(Error::conflict(
                    "already_partner",
                    None,
                    "This organization is already a partner",
                ));
            }
            let partner = insert_partner(
                op.conn,
                op.now,
                request.organization_id.into(),
                rate,
                Some(request.id),
                Some(actor.user_id.into()),
                None,
            )
            .await?;
            let request = decide(op, request, PartnerRequestStatus::Approved, None).await?;
            op.audit_for(
                request.organization_id,
                Action::PartnerCreated,
                partner.organization_id,
                json!({
                    "partner_code": partner.partner_code,
                    "affiliate_code": partner.affiliate_code,
                    "default_commission_rate": fixed2(partner.default_commission_rate),
                }),
            )
            .await?;
            queue_decision_email(
                op,
                &request,
                EmailKind::PartnerRequestApproved { request_id: request.id },
            )
            .await?;
            Ok((request, partner))
        },
    )
    .await
}

/// Rejects a request with a reason the requester receives by e-mail.
pub async fn reject(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    id: Uuid,
    reason: &str,
) -> Result<PartnerRequest> {
    op::run(
        conn,
        ctx,
        actor,
        op::Scope::Vendor,
        Permission::VendorSales,
        async |op| {
            let reason = required_text("reason", reason, 4000)?;
            let request = lock_open_request(op.conn, id).await?;
            let request = decide(op, request, PartnerRequestStatus::Rejected, Some(&reason)).await?;
            queue_decision_email(
                op,
                &request,
                EmailKind::PartnerRequestRejected { request_id: request.id },
            )
            .await?;
            Ok(request)
        },
    )
    .await
}

async fn decide(
    op: &mut Op<'_>,
    request: PartnerRequest,
    status: PartnerRequestStatus,
    reason: Option<&str>,
) -> Result<PartnerRequest> {
    let updated = diesel::update(partner_requests::table.find(request.id))
        .set((
            partner_requests::status.eq(status),
            partner_requests::decided_by.eq(op.who.user_id),
            partner_requests::decided_at.eq(op.now),
            partner_requests::decision_reason.eq(reason),
        ))
        .returning(PartnerRequest::as_returning())
        .get_result(op.conn)
        .await?;
    op.audit_for(
        request.organization_id,
        match status {
            PartnerRequestStatus::Rejected => Action::PartnerRequestRejected,
            _ => Action::PartnerRequestApproved,
        },
        request.id,
        json!({ "status": { "old": request.status, "new": status }, "reason": reason }),
    )
    .await?;
    Ok(updated)
}

async fn queue_decision_email(op: &mut Op<'_>, request: &PartnerRequest, kind: EmailKind) -> Result<()> {
    let to = Email::parse(&request.contact_email)?;
    let lang = org_language(op.conn, request.organization_id).await?;
    // One decision per request, so the request id names the event.
    op.email(&format!("partner_request.decided:{}", request.id), &to, lang, kind)
        .await
}

/// A partner with its organization's name, for the sales team.
#[derive(Debug, Clone)]
pub struct PartnerSummary {
    pub partner: Partner,
    pub name: String,
    pub country: Option<String>,
}

/// Every partner: for vendor sales, who manage their terms, and for vendor finance, who
/// pay them out.
pub async fn list_partners(conn: &mut AsyncPgConnection, actor: &Actor) -> Result<Vec<PartnerSummary>> {
    if op::grant(conn, actor, op::Scope::Vendor, Permission::VendorSales)
        .await
        .is_err()
    {
        op::grant(conn, actor, op::Scope::Vendor, Permission::VendorFinance).await?;
    }
    let rows: Vec<(Partner, String, Option<String>)> = partners::table
        .inner_join(orgs::table)
        .order((orgs::name.asc(), orgs::id.asc()))
        .select((Partner::as_select(), orgs::name, orgs::country))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(partner, name, country)| PartnerSummary { partner, name, country })
        .collect())
}

/// Changes a partner's commission terms or status (sales).
pub async fn update_terms(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    org_id: Uuid,
    default_commission_rate: Option<&str>,
    status: Option<PartnerStanding>,
) -> Result<Partner> {
    op::run(
        conn,
        ctx,
        actor,
        op::Scope::Vendor,
        Permission::VendorSales,
        async |op| {
            let mut v = Validator::new();
            let rate = match default_commission_rate {
                Some(raw) => {
                    v.check(CommissionRate::parse_field("default_commission_rate", raw).map(|r| Some(r.value())))
                }
                None => Some(None),
            };
            v.finish()?;
            let rate = validated(rate);
            let old: Partner = partners::table
                .find(org_id)
                .select(Partner::as_select())
                .for_update()
                .first(op.conn)
                .await
                .optional()?
                .ok_or(Error::not_found("partner"))?;
            let new_rate = rate.unwrap_or(old.default_commission_rate);
            let new_status = status.unwrap_or(old.status);
            let partner = diesel::update(partners::table.find(org_id))
                .set((
                    partners::default_commission_rate.eq(new_rate),
                    partners::status.eq(new_status),
                    partners::updated_at.eq(op.now),
                ))
                .returning(Partner::as_returning())
                .get_result(op.conn)
                .await?;
            if new_rate != old.default_commission_rate {
                let job = crate::platform::jobs::RecomputeCommissions {
                    partner_id: org_id,
                    customer_id: None,
                };
                op.job(&job, None).await?;
            }
            if old.status == PartnerStanding::Active && new_status != PartnerStanding::Active {
                end_all(op, Ending::Partner(org_id.into()), "partner_suspended").await?;
            }
            op.audit_for(
                org_id,
                Action::PartnerTermsUpdated,
                org_id,
                json!({
                    "default_commission_rate": { "old": fixed2(old.default_commission_rate), "new": fixed2(new_rate) },
                    "status": { "old": old.status, "new": new_status },
                }),
            )
            .await?;
            Ok(partner)
        },
    )
    .await
}

// ---------------------------------------------------------------------------------
// E-mails about a partner request

use crate::platform::links;
use diesel::JoinOnDsl;

/// To the requester: the request arrived.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestReceivedEmail {
    pub company: String,
    pub contact_name: String,
}

impl RequestReceivedEmail {
    pub async fn load(conn: &mut AsyncPgConnection, request_id: Uuid) -> Result<Option<Self>> {
        let row: Option<(String, String)> = partner_requests::table
            .find(request_id)
            .select((partner_requests::company, partner_requests::contact_name))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(|(company, contact_name)| RequestReceivedEmail { company, contact_name }))
    }
}

/// To the requester: approved, with the partner code, affiliate link and rate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestApprovedEmail {
    pub company: String,
    pub contact_name: String,
    pub partner_code: String,
    pub affiliate_link: String,
    pub commission_rate: String,
}

impl RequestApprovedEmail {
    pub async fn load(conn: &mut AsyncPgConnection, config: &Config, request_id: Uuid) -> Result<Option<Self>> {
        let row: Option<(String, String, String, String, Decimal)> = partner_requests::table
            .inner_join(partners::table.on(partners::organization_id.eq(partner_requests::organization_id)))
            .filter(partner_requests::id.eq(request_id))
            .select((
                partner_requests::company,
                partner_requests::contact_name,
                partners::partner_code,
                partners::affiliate_code,
                partners::default_commission_rate,
            ))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(
            |(company, contact_name, partner_code, affiliate_code, rate)| RequestApprovedEmail {
                company,
                contact_name,
                partner_code,
                affiliate_link: links::affiliate(config, &affiliate_code),
                commission_rate: fixed2(rate),
            },
        ))
    }
}

/// To the requester: rejected, with the reason.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestRejectedEmail {
    pub company: String,
    pub contact_name: String,
    pub reason: String,
}

impl RequestRejectedEmail {
    pub async fn load(conn: &mut AsyncPgConnection, request_id: Uuid) -> Result<Option<Self>> {
        let row: Option<(String, String, Option<String>)> = partner_requests::table
            .find(request_id)
            .select((
                partner_requests::company,
                partner_requests::contact_name,
                partner_requests::decision_reason,
            ))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(|(company, contact_name, reason)| RequestRejectedEmail {
            company,
            contact_name,
            reason: reason.unwrap_or_default(),
        }))
    }
}
