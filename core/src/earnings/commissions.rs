//! What partners earn, exact to the cent.
//!
//! **Attribution.** Each customer organization has at most one partner that earns on
//! it, recorded when it happens with its evidence: *partner* (created by the partner, or
//! registered through its invitation), *affiliate* (the organization was created within
//! `AFFILIATE_WINDOW_DAYS` of following the partner's affiliate link), *self* (chose the
//! partner as service provider before its first paid order). The first touch wins. The
//! attribution is fixed when the customer's first order is paid; before that, a customer
//! that drops the partner it is attributed to (as partner or self) loses the attribution,
//! and a partner it chooses next is attributed as self. Every change is audited.
//!
//! **Commissions.** Every line of a paid order of an attributed customer earns one
//! commission: base = the line's amount less its refunds; amount = base × rate / 100,
//! rounded to cents half away from zero (half-up for positive amounts; PostgreSQL's
//! `round(numeric, 2)`). The rate: for *partner* and *self*, the commission rate of the
//! customer's service provider link with that partner (the one partners set per
//! customer); for *affiliate*, the partner's default rate as sales set it in its terms.
//! A partner's own organization earns nothing.
//!
//! **States.** *pending* for `COMMISSION_HOLD_DAYS` (the refund window) → *approved*
//! (the maintenance sweep) → *paid* when its payout is paid. Finance may decline a
//! pending one with a reason. A refund (credit note) reduces an unpaid commission to the
//! refunded line's new base, or reverses it when nothing is left; a commission already
//! in a payout is never edited: a negative *clawback* commission for the refunded part
//! is approved at once and deducted from the partner's next payout.

use crate::platform::ids::OrgId;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, QueryableByName,
    sql_types::{Date, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::platform::money::Currency;
use crate::{
    Ctx, Error, Result,
    platform::audit::{Action, Who},
    platform::authz::{Access, Actor, Permission},
    platform::mail::EmailKind,
    platform::money::fixed2,
    platform::op::{self, Op},
    schema::{attributions, commissions, partners},
};

crate::text_enum! {
    /// Why a partner earns on a customer.
    pub enum Kind {
        /// Created by the partner or registered through its invitation.
        Partner = "partner",
        /// Signed up after following the partner's affiliate link.
        Affiliate = "affiliate",
        /// Chose the partner as service provider before its first paid order.
        SelfChosen = "self",
    }
}

crate::text_enum! {
    /// Where a commission stands.
    pub enum State {
        Pending = "pending",
        Approved = "approved",
        Paid = "paid",
        Reversed = "reversed",
        Declined = "declined",
    }
}

// ---------------------------------------------------------------------------------
// Attribution

/// Records that `partner` brought `customer`, unless someone did already (first touch
/// wins). Returns whether this attribution was recorded.
pub(crate) async fn attribute(
    op: &mut Op<'_>,
    customer: OrgId,
    partner: OrgId,
    kind: Kind,
    evidence: Value,
) -> Result<bool> {
    if customer == partner {
        return Ok(false);
    }
    let inserted = diesel::insert_into(attributions::table)
        .values((
            attributions::customer_id.eq(customer),
            attributions::partner_id.eq(partner),
            attributions::kind.eq(kind.as_str()),
            attributions::evidence.eq(&evidence),
            attributions::recorded_at.eq(op.now),
        ))
        .on_conflict_do_nothing()
        .execute(op.conn)
        .await?;
    if inserted == 1 {
        let who = Who {
            on_behalf_of: Some(customer.into()),
            ..op.who.clone()
        };
        op.audit_as(
            who,
            Action::AttributionRecorded,
            customer,
            json!({ "partner_id": partner, "kind": kind, "evidence": evidence }),
        )
        .await?;
    }
    Ok(inserted == 1)
}

/// Whether the customer has a paid order (its attribution, if any, is then fixed).
pub(crate) async fn has_paid_order(conn: &mut AsyncPgConnection, customer: Uuid) -> Result<bool> {
    use crate::schema::orders;
    Ok(diesel::select(diesel::dsl::exists(
        orders::table
            .filter(orders::organization_id.eq(customer))
            .filter(orders::status.eq_any(["paid", "refunded"])),
    ))
    .get_result(conn)
    .await?)
}

/// The customer dropped `partner` as its service provider: an attribution to it as
/// partner or self that is not fixed yet ends with the relation.
pub(crate) async fn unattribute(op: &mut Op<'_>, customer: OrgId, partner: OrgId) -> Result<()> {
    let removed = diesel::delete(
        attributions::table
            .filter(attributions::customer_id.eq(customer))
            .filter(attributions::partner_id.eq(partner))
            .filter(attributions::kind.ne(Kind::Affiliate.as_str()))
            .filter(attributions::fixed_at.is_null()),
    )
    .execute(op.conn)
    .await?;
    if removed == 1 {
        let who = Who {
            on_behalf_of: Some(customer.into()),
            ..op.who.clone()
        };
        op.audit_as(
            who,
            Action::AttributionEnded,
            customer,
            json!({ "partner_id": partner }),
        )
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Earning

/// The rate a partner earns on a customer: the link's rate (partner, self), or the
/// partner's default rate (affiliate, or no link at all). As SQL over `a` (attributions)
/// and `p` (partners), for the statements that compute and recompute amounts.
const RATE_SQL: &str = "COALESCE(
        CASE WHEN a.kind <> 'affiliate' THEN (
            SELECT s.commission_rate FROM service_provider_links s
            WHERE s.customer_id = a.customer_id AND s.partner_id = a.partner_id
            ORDER BY s.ended_at IS NULL DESC, s.created_at DESC LIMIT 1)
        END,
        p.default_commission_rate)";

/// The order was paid (in this transaction): its customer's attribution is now fixed,
/// and each of its lines earns the attributed partner a pending commission. Set-based:
/// one statement for all lines. Returns how many commissions were created.
pub(crate) async fn earn(op: &mut Op<'_>, order_id: Uuid) -> Result<usize> {
    crate::platform::db::sql_query(
        "UPDATE attributions SET fixed_at = $2
         WHERE fixed_at IS NULL AND customer_id = (SELECT organization_id FROM orders WHERE id = $1)",
    )
    .bind::<SqlUuid, _>(order_id)
    .bind::<Timestamptz, _>(op.now)
    .execute(op.conn)
    .await?;
    let hold = chrono::Duration::from_std(op.ctx.config.commission_hold).unwrap_or_default();
    let created = crate::platform::db::sql_query(format!(
        "INSERT INTO commissions (id, partner_id, customer_id, order_id, order_line_id, kind, currency,
                                  base_amount, rate, amount, state, earned_at, approve_after, created_at, updated_at)
         SELECT gen_random_uuid(), a.partner_id, o.organization_id, o.id, l.id, a.kind, o.currency,
                l.amount, r.rate, round(l.amount * r.rate / 100, 2), 'pending', $2, $3, $2, $2
         FROM orders o
         JOIN order_lines l ON l.order_id = o.id
         JOIN attributions a ON a.customer_id = o.organization_id
         JOIN partners p ON p.organization_id = a.partner_id
         JOIN organizations c ON c.id = o.organization_id
         CROSS JOIN LATERAL (SELECT {RATE_SQL} AS rate) r
         WHERE o.id = $1 AND NOT c.billing_exempt
         ON CONFLICT (order_line_id) WHERE clawback_of IS NULL DO NOTHING"
    ))
    .bind::<SqlUuid, _>(order_id)
    .bind::<Timestamptz, _>(op.now)
    .bind::<Timestamptz, _>(op.now + hold)
    .execute(op.conn)
    .await?;
    if created > 0 {
        op.audit(Action::CommissionsEarned, order_id, json!({ "commissions": created }))
            .await?;
    }
    Ok(created)
}

/// Approves every pending commission whose holding period has ended; safe to run in
/// several workers at once. Returns how many were approved.
pub async fn approve_due(conn: &mut AsyncPgConnection, ctx: &Ctx) -> Result<usize> {
    op::run_as(conn, ctx, Who::system(None), async |op| {
        let approved: Vec<PartnerTotal> = crate::platform::db::sql_query(
            "WITH done AS (
                 UPDATE commissions SET state = 'approved', approved_at = $1, updated_at = $1
                 WHERE id IN (SELECT id FROM commissions WHERE state = 'pending' AND approve_after <= $1
                              ORDER BY approve_after FOR UPDATE SKIP LOCKED LIMIT 10000)
                 RETURNING partner_id, currency, amount)
             SELECT partner_id, currency, count(*) AS n, sum(amount) AS total FROM done GROUP BY partner_id, currency",
        )
        .bind::<Timestamptz, _>(op.now)
        .load(op.conn)
        .await?;
        for p in &approved {
            op.audit_as(
                Who::system(Some(p.partner_id)),
                Action::CommissionsApproved,
                p.partner_id,
                json!({ "commissions": p.n, "currency": p.currency, "amount": fixed2(p.total) }),
            )
            .await?;
            let kind = EmailKind::CommissionsApproved {
                partner_id: p.partner_id,
                approved_at: op.now,
            };
            let key = format!("commissions_approved:{}:{}", p.partner_id, op.now.timestamp_micros());
            email_partner(op, p.partner_id, &key, kind).await?;
        }
        Ok(approved.iter().map(|p| p.n as usize).sum())
    })
    .await
}

/// Queues an e-mail to each of the partner's administrators.
pub(crate) async fn email_partner(op: &mut Op<'_>, partner: Uuid, key: &str, kind: EmailKind) -> Result<()> {
    for (_, address, lang) in crate::tenancy::memberships::administrators(op.conn, partner).await? {
        if let Ok(to) = crate::platform::domain::Email::parse(&address) {
            let key = format!("{key}:{address}");
            op.email(
                &key,
                &to,
                crate::platform::domain::Language::from_db(&lang),
                kind.clone(),
            )
            .await?;
        }
    }
    Ok(())
}

/// To a partner: commissions were approved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApprovedEmail {
    pub company: String,
    pub count: i64,
    pub currency: Currency,
    pub amount: String,
    pub commissions_url: String,
}

impl ApprovedEmail {
    pub async fn load(
        conn: &mut AsyncPgConnection,
        config: &crate::platform::config::Config,
        partner: Uuid,
        approved_at: DateTime<Utc>,
    ) -> Result<Option<Self>> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = Text)]
            company: String,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
            #[diesel(sql_type = Text)]
            currency: Currency,
            #[diesel(sql_type = Numeric)]
            amount: Decimal,
        }
        let row: Option<Row> = crate::platform::db::sql_query(
            "SELECT o.name AS company, count(*) AS count, min(c.currency)::text AS currency, sum(c.amount) AS amount
             FROM commissions c JOIN organizations o ON o.id = c.partner_id
             WHERE c.partner_id = $1 AND c.approved_at = $2 AND c.clawback_of IS NULL
             GROUP BY o.name",
        )
        .bind::<SqlUuid, _>(partner)
        .bind::<Timestamptz, _>(approved_at)
        .get_result(conn)
        .await
        .optional()?;
        Ok(row.map(|r| ApprovedEmail {
            company: r.company,
            count: r.count,
            currency: r.currency,
            amount: fixed2(r.amount),
            commissions_url: crate::platform::links::Page::Commissions.url(config),
        }))
    }
}

#[derive(QueryableByName)]
struct PartnerTotal {
    #[diesel(sql_type = SqlUuid)]
    partner_id: Uuid,
    #[diesel(sql_type = Text)]
    currency: Currency,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = Numeric)]
    total: Decimal,
}

/// Recomputes the rate and amount of the commissions not yet in a payout of one
/// partner (optionally of one customer), after its terms or a customer's rate changed.
/// Idempotent and set-based; paid commissions and clawbacks never change.
pub async fn recompute(conn: &mut AsyncPgConnection, partner: OrgId, customer: Option<OrgId>) -> Result<usize> {
    // The rate is decided once per customer, then joined to its commissions.
    Ok(crate::platform::db::sql_query(format!(
        "WITH r AS MATERIALIZED (
             SELECT a.customer_id, a.partner_id, {RATE_SQL} AS rate
             FROM attributions a JOIN partners p ON p.organization_id = a.partner_id
             WHERE a.partner_id = $1 AND ($2::uuid IS NULL OR a.customer_id = $2))
         UPDATE commissions c SET rate = r.rate, amount = round(c.base_amount * r.rate / 100, 2), updated_at = now()
         FROM r
         WHERE c.customer_id = r.customer_id AND c.partner_id = r.partner_id
           AND c.state IN ('pending', 'approved') AND c.payout_id IS NULL AND c.clawback_of IS NULL
           AND c.rate <> r.rate"
    ))
    .bind::<SqlUuid, _>(partner)
    .bind::<Nullable<SqlUuid>, _>(customer)
    .execute(conn)
    .await?)
}

// ---------------------------------------------------------------------------------
// Reading

/// A commission as the partner and finance see it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Commission {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub partner_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub customer_id: Uuid,
    #[diesel(sql_type = Text)]
    pub customer: String,
    #[diesel(sql_type = SqlUuid)]
    pub order_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub order_number: i64,
    #[diesel(sql_type = SqlUuid)]
    pub order_line_id: Uuid,
    #[diesel(sql_type = Text)]
    pub description: String,
    #[diesel(sql_type = Text)]
    pub kind: Kind,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub clawback_of: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub currency: Currency,
    #[diesel(sql_type = Numeric)]
    pub base_amount: Decimal,
    #[diesel(sql_type = Numeric)]
    pub rate: Decimal,
    #[diesel(sql_type = Numeric)]
    pub amount: Decimal,
    #[diesel(sql_type = Text)]
    pub state: State,
    #[diesel(sql_type = Timestamptz)]
    pub earned_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub approve_after: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    pub decline_reason: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub payout_id: Option<Uuid>,
}

const COMMISSION_COLUMNS: &str = "c.id, c.partner_id, c.customer_id, org.name AS customer, c.order_id, o.number AS order_number,
     c.order_line_id, l.description, c.kind, c.clawback_of, c.currency::text AS currency, c.base_amount, c.rate, c.amount,
     c.state, c.earned_at, c.approve_after, c.decline_reason, c.payout_id
     FROM commissions c
     JOIN organizations org ON org.id = c.customer_id
     JOIN orders o ON o.id = c.order_id
     JOIN order_lines l ON l.id = c.order_line_id";

/// Filters of the commission table.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub kind: Option<Kind>,
    pub state: Option<State>,
    /// Earned on or after this day.
    pub from: Option<NaiveDate>,
    /// Earned on or before this day.
    pub to: Option<NaiveDate>,
    pub limit: i64,
    /// The last row of the previous page: `<earned_at RFC 3339>,<id>`.
    pub cursor: Option<String>,
}

/// The partner acting (with "manage partner portal"), or `partner` for vendor finance.
async fn partner_in_view(conn: &mut AsyncPgConnection, actor: &Actor, partner: Option<Uuid>) -> Result<Uuid> {
    match partner {
        Some(p) if Some(p) != actor.acting_org => {
            op::grant(conn, actor, op::Scope::Vendor, Permission::VendorFinance).await?;
            Ok(p)
        }
        _ => {
            let own = actor.acting_org.ok_or_else(Error::no_organization)?;
            let own = op::grant(conn, actor, own.into(), Permission::ManagePartnerPortal)
                .await?
                .org();
            Ok(own)
        }
    }
}

/// The commissions a payout pays, newest first: any payout's for vendor finance, only
/// the partner's own for the partner `access` was granted on.
pub(crate) async fn of_payout(conn: &mut AsyncPgConnection, access: &Access, payout: Uuid) -> Result<Vec<Commission>> {
    let partner = (access.permission() != Permission::VendorFinance).then(|| access.org());
    Ok(crate::platform::db::sql_query(format!(
        "SELECT {COMMISSION_COLUMNS} WHERE c.payout_id = $1 AND ($2::uuid IS NULL OR c.partner_id = $2)
         ORDER BY c.earned_at DESC, c.id DESC"
    ))
    .bind::<SqlUuid, _>(payout)
    .bind::<Nullable<SqlUuid>, _>(partner)
    .load(conn)
    .await?)
}

/// A partner's commissions, newest first, filtered; keyset paging.
pub async fn list(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    partner: Option<Uuid>,
    q: ListQuery,
) -> Result<crate::platform::domain::Page<Commission>> {
    let partner = partner_in_view(conn, actor, partner).await?;
    let cursor = q
        .cursor
        .as_deref()
        .map(crate::platform::domain::parse_time_cursor)
        .transpose()?;
    let limit = crate::platform::domain::page_limit(q.limit)?;
    let rows = page_of(conn, partner, &q, cursor, limit + 1).await?;
    Ok(crate::platform::domain::Page::of(rows, limit, |c| {
        crate::platform::domain::time_cursor(c.earned_at, c.id)
    }))
}

/// Every commission the list's filters select, as CSV (formula-safe), read in keyset
/// batches.
pub async fn export(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    partner: Option<Uuid>,
    q: ListQuery,
) -> Result<Vec<u8>> {
    use crate::platform::csv_export::{Cell, Writer};
    let partner = partner_in_view(conn, actor, partner).await?;
    let mut out = Writer::new(Vec::new());
    out.header(&[
        "type", "customer", "order", "item", "earned", "base", "rate", "amount", "currency", "state",
    ])?;
    let mut after: Option<(DateTime<Utc>, Uuid)> = None;
    loop {
        let rows = page_of(conn, partner, &q, after, 1000).await?;
        for c in &rows {
            let earned = c.earned_at.format("%Y-%m-%d").to_string();
            out.row(&[
                Cell::Text(c.kind.as_str()),
                Cell::Text(&c.customer),
                Cell::Integer(c.order_number),
                Cell::Text(&c.description),
                Cell::Text(&earned),
                Cell::Number(c.base_amount),
                Cell::Number(c.rate),
                Cell::Number(c.amount),
                Cell::Text(c.currency.as_str()),
                Cell::Text(c.state.as_str()),
            ])?;
        }
        match rows.last() {
            Some(last) if rows.len() == 1000 => after = Some((last.earned_at, last.id)),
            _ => break,
        }
    }
    out.finish()
}

/// One keyset batch of a partner's commissions.
async fn page_of(
    conn: &mut AsyncPgConnection,
    partner: Uuid,
    q: &ListQuery,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Commission>> {
    Ok(crate::platform::db::sql_query(format!(
        "SELECT {COMMISSION_COLUMNS}
         WHERE c.partner_id = $1
           AND ($2::text IS NULL OR c.kind = $2) AND ($3::text IS NULL OR c.state = $3)
           AND ($4::date IS NULL OR c.earned_at >= $4::date) AND ($5::date IS NULL OR c.earned_at < $5::date + 1)
           AND ($6::timestamptz IS NULL OR (c.earned_at, c.id) < ($6, $7))
         ORDER BY c.earned_at DESC, c.id DESC LIMIT $8"
    ))
    .bind::<SqlUuid, _>(partner)
    .bind::<Nullable<Text>, _>(q.kind.map(|k| k.as_str()))
    .bind::<Nullable<Text>, _>(q.state.map(|s| s.as_str()))
    .bind::<Nullable<Date>, _>(q.from)
    .bind::<Nullable<Date>, _>(q.to)
    .bind::<Nullable<Timestamptz>, _>(after.map(|c| c.0))
    .bind::<Nullable<SqlUuid>, _>(after.map(|c| c.1))
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)
    .await?)
}

/// The partner dashboard's figures.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Dashboard {
    /// Customers in My customers.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub customers: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub open_invitations: i64,
    /// Customers with a paid business licence in use.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub active_customers: i64,
    /// Customers with a running trial.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub customers_in_trial: i64,
    /// Everything earned and not reversed or declined, clawbacks deducted.
    #[diesel(sql_type = Numeric)]
    pub total_commission: Decimal,
    #[diesel(sql_type = Numeric)]
    pub paid_commission: Decimal,
    /// Pending and approved, not yet paid.
    #[diesel(sql_type = Numeric)]
    pub open_commission: Decimal,
}

/// The partner's dashboard. Customer figures come from `partner_customer_counts` and
/// commission sums from `commission_totals`, which triggers on the links and the
/// commissions keep equal to what they count in the same transaction; open invitations
/// are counted from their index.
pub async fn dashboard(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor) -> Result<Dashboard> {
    let partner = partner_in_view(conn, actor, None).await?;
    Ok(crate::platform::db::sql_query(
        "SELECT
           coalesce(c.customers, 0)::int8 AS customers,
           (SELECT count(*) FROM customer_invitations i WHERE i.partner_id = $1 AND i.accepted_at IS NULL
               AND i.revoked_at IS NULL AND i.expires_at > $2) AS open_invitations,
           coalesce(c.paying, 0)::int8 AS active_customers,
           coalesce(c.in_trial, 0)::int8 AS customers_in_trial,
           COALESCE(t.total, 0) AS total_commission, COALESCE(t.paid, 0) AS paid_commission,
           COALESCE(t.open, 0) AS open_commission
         FROM (SELECT sum(amount) FILTER (WHERE state IN ('pending', 'approved', 'paid')) AS total,
                      sum(amount) FILTER (WHERE state = 'paid') AS paid,
                      sum(amount) FILTER (WHERE state IN ('pending', 'approved')) AS open
               FROM commission_totals WHERE partner_id = $1) t,
              (SELECT sum(customers) AS customers, sum(paying) AS paying, sum(in_trial) AS in_trial
               FROM partner_customer_counts WHERE partner_id = $1) c",
    )
    .bind::<SqlUuid, _>(partner)
    .bind::<Timestamptz, _>(ctx.now())
    .get_result(conn)
    .await?)
}

// ---------------------------------------------------------------------------------
// Finance: declining

/// Finance declines a pending commission, with a reason.
pub async fn decline(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, id: Uuid, reason: &str) -> Result<()> {
    op::run(
        conn,
        ctx,
        actor,
        op::Scope::Vendor,
        Permission::VendorFinance,
        async |op| {
            let reason = crate::platform::domain::required_text("reason", reason, 500)?;
            let row: Option<(Uuid, String)> = commissions::table
                .find(id)
                .select((commissions::partner_id, commissions::state))
                .for_update()
                .first(op.conn)
                .await
                .optional()?;
            let (partner, state) = row.ok_or(Error::not_found("commission"))?;
            if state != State::Pending.as_str() {
                return Err(Error::conflict(
                    "commission_not_pending",
                    None,
                    format!("Only a pending commission can be declined; this one is {state}"),
                ));
            }
            diesel::update(commissions::table.find(id))
                .set((
                    commissions::state.eq(State::Declined.as_str()),
                    commissions::declined_at.eq(op.now),
                    commissions::decline_reason.eq(&reason),
                    commissions::updated_at.eq(op.now),
                ))
                .execute(op.conn)
                .await?;
            op.audit_for(partner, Action::CommissionDeclined, id, json!({ "reason": reason }))
                .await
        },
    )
    .await
}

// ---------------------------------------------------------------------------------
// The affiliate link

/// Counts a visit through an affiliate link, per partner and day (nothing about the
/// visitor is stored). Returns the partner when the code is an active partner's; an
/// unknown or suspended partner's code counts nothing.
pub async fn record_visit(conn: &mut AsyncPgConnection, ctx: &Ctx, code: &str) -> Result<Option<Uuid>> {
    let code = code.trim().to_ascii_uppercase();
    if code.is_empty() || code.len() > 32 {
        return Ok(None);
    }
    let partner: Option<Uuid> = partners::table
        .filter(partners::affiliate_code.eq(&code))
        .filter(partners::status.eq(crate::platform::values::PartnerStanding::Active))
        .select(partners::organization_id)
        .first(conn)
        .await
        .optional()?;
    if let Some(p) = partner {
        crate::platform::db::sql_query(
            "INSERT INTO affiliate_visits (partner_id, day, visits) VALUES ($1, $2, 1)
             ON CONFLICT (partner_id, day) DO UPDATE SET visits = affiliate_visits.visits + 1",
        )
        .bind::<SqlUuid, _>(p)
        .bind::<Date, _>(ctx.now().date_naive())
        .execute(conn)
        .await?;
    }
    Ok(partner)
}

/// The partner's affiliate figures.
#[derive(Debug, Clone, QueryableByName)]
pub struct AffiliateFigures {
    #[diesel(sql_type = Text)]
    pub affiliate_code: String,
    /// Visits through the link.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub visits: i64,
    /// Organizations created through it.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub sign_ups: i64,
    /// Of those, the ones that paid an order.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub paying_customers: i64,
}

/// The acting partner's affiliate link figures ("manage partner portal").
pub async fn affiliate_figures(conn: &mut AsyncPgConnection, actor: &Actor) -> Result<AffiliateFigures> {
    let partner = partner_in_view(conn, actor, None).await?;
    crate::platform::db::sql_query(
        "SELECT p.affiliate_code,
                COALESCE((SELECT sum(visits) FROM affiliate_visits v WHERE v.partner_id = p.organization_id), 0)::bigint AS visits,
                (SELECT count(*) FROM attributions a WHERE a.partner_id = p.organization_id AND a.kind = 'affiliate') AS sign_ups,
                (SELECT count(*) FROM attributions a WHERE a.partner_id = p.organization_id AND a.kind = 'affiliate'
                    AND a.fixed_at IS NOT NULL) AS paying_customers
         FROM partners p WHERE p.organization_id = $1",
    )
    .bind::<SqlUuid, _>(partner)
    .get_result(conn)
    .await
    .optional()?
    .ok_or(Error::not_found("partner"))
}
