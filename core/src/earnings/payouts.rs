//! Money back and money out: refunds (credit notes on paid invoices, which reduce,
//! reverse or claw back commissions) and payouts of approved commissions to partners.

use crate::platform::ids::{InvoiceId, OrderLineId};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
    sql_types::{Date, Numeric, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use crate::platform::money::Currency;
use crate::{
    Ctx, Error, Result,
    earnings::commissions::State,
    platform::audit::Action,
    platform::authz::{Actor, Permission},
    platform::money::fixed2,
    platform::op::{self, Op},
    platform::values::InvoiceStatus,
    schema::{commissions, credit_notes, invoices, order_lines, orders, partners, payouts},
};

// ---------------------------------------------------------------------------------
// Refunds

/// A refund of (part of) one line of a paid invoice.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = credit_notes)]
pub struct CreditNote {
    pub id: Uuid,
    pub number: String,
    pub invoice_id: Uuid,
    pub order_line_id: Uuid,
    pub amount: Decimal,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// Finance refunds `amount` of an order line of a paid invoice: a credit note. The
/// line's commission is reduced (or reversed when nothing is left) while unpaid; once
/// in a payout it stays as it is, and an approved negative clawback takes back the
/// refunded part from the partner's next payout.
pub async fn refund(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    invoice_id: InvoiceId,
    order_line_id: OrderLineId,
    amount: &str,
    reason: &str,
) -> Result<CreditNote> {
    op::run(
        conn,
        ctx,
        actor,
        op::Scope::Vendor,
        Permission::VendorFinance,
        async |op| {
            let amount = crate::platform::domain::plain_amount("amount", amount, "invalid_amount")?;
            let reason = crate::platform::domain::required_text("reason", reason, 500)?;
            let (number, order_id, customer, line_amount, refunded) =
                refundable(op, invoice_id, order_line_id, amount).await?;
            let count: i64 = credit_notes::table
                .filter(credit_notes::invoice_id.eq(invoice_id))
                .count()
                .get_result(op.conn)
                .await?;
            let note: CreditNote = diesel::insert_into(credit_notes::table)
                .values((
                    credit_notes::id.eq(Uuid::now_v7()),
                    credit_notes::number.eq(format!("{number}-C{}", count + 1)),
                    credit_notes::invoice_id.eq(invoice_id),
                    credit_notes::order_line_id.eq(order_line_id),
                    credit_notes::amount.eq(amount),
                    credit_notes::reason.eq(&reason),
                    credit_notes::recorded_by.eq(Some(op.who.user_id).flatten()),
                    credit_notes::created_at.eq(op.now),
                ))
                .returning(CreditNote::as_returning())
                .get_result(op.conn)
                .await?;
            if fully_refunded(op.conn, order_id).await? {
                diesel::update(orders::table.find(order_id))
                    .set(orders::status.eq("refunded"))
                    .execute(op.conn)
                    .await?;
            }
            let left = line_amount - refunded - amount;
            adjust_commission(op, &note, left).await?;
            // All of the line given back: what it bought is switched off and billed no more.
            let switched_off = if left.is_zero() {
                let (business, users) =
                    crate::commerce::licensing::deactivate_order_line(op.conn, op.now, order_line_id).await?;
                business + users
            } else {
                0
            };
            op.audit_for(
            customer,
            Action::CreditNoteRecorded,
            note.id,
            json!({ "number": note.number, "invoice": number, "order_line_id": order_line_id, "amount": fixed2(amount),
                    "reason": reason, "licences_deactivated": switched_off }),
        )
        .await?;
            Ok(note)
        },
    )
    .await
}

/// The invoice's number, order and customer, the line's amount and what was refunded
/// of it before, when `amount` may be refunded of the line.
async fn refundable(
    op: &mut Op<'_>,
    invoice_id: InvoiceId,
    line: OrderLineId,
    amount: Decimal,
) -> Result<(String, Uuid, Uuid, Decimal, Decimal)> {
    let (number, status, order_id, customer): (String, InvoiceStatus, Uuid, Uuid) = invoices::table
        .find(invoice_id)
        .select((
            invoices::number,
            invoices::status,
            invoices::order_id,
            invoices::organization_id,
        ))
        .for_update()
        .first(op.conn)
        .await
        .optional()?
        .ok_or(Error::not_found("invoice"))?;
    if status != InvoiceStatus::Paid {
        return Err(Error::conflict(
            "invoice_not_paid",
            None,
            "Only a paid invoice can be refunded",
        ));
    }
    let line_amount: Decimal = order_lines::table
        .find(line)
        .filter(order_lines::order_id.eq(order_id))
        .select(order_lines::amount)
        .first(op.conn)
        .await
        .optional()?
        .ok_or_else(|| Error::field("order_line_id", "not_on_invoice", "This line is not on the invoice"))?;
    let refunded = refunded_so_far(op.conn, line.into()).await?;
    if amount <= Decimal::ZERO || amount > line_amount - refunded {
        return Err(Error::field(
            "amount",
            "out_of_range",
            format!(
                "Refund more than 0.00 and at most {} (the line's {} less {} refunded before)",
                fixed2(line_amount - refunded),
                fixed2(line_amount),
                fixed2(refunded)
            ),
        ));
    }
    Ok((number, order_id, customer, line_amount, refunded))
}

async fn refunded_so_far(conn: &mut AsyncPgConnection, line: Uuid) -> Result<Decimal> {
    Ok(credit_notes::table
        .filter(credit_notes::order_line_id.eq(line))
        .select(diesel::dsl::sum(credit_notes::amount))
        .first::<Option<Decimal>>(conn)
        .await?
        .unwrap_or_default())
}

/// Whether every line of the order has been refunded in full.
async fn fully_refunded(conn: &mut AsyncPgConnection, order: Uuid) -> Result<bool> {
    #[derive(diesel::QueryableByName)]
    struct Done {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        done: bool,
    }
    let done: Done = crate::platform::db::sql_query(
        "SELECT NOT EXISTS (
             SELECT 1 FROM order_lines l WHERE l.order_id = $1
               AND l.amount > COALESCE((SELECT sum(n.amount) FROM credit_notes n WHERE n.order_line_id = l.id), 0)
         ) AS done",
    )
    .bind::<SqlUuid, _>(order)
    .get_result(conn)
    .await?;
    Ok(done.done)
}

/// The refunded line's commission after a refund leaving `left` on the line.
async fn adjust_commission(op: &mut Op<'_>, note: &CreditNote, left: Decimal) -> Result<()> {
    let found: Option<(Uuid, String, Option<Uuid>)> = commissions::table
        .filter(commissions::order_line_id.eq(note.order_line_id))
        .filter(commissions::clawback_of.is_null())
        .select((commissions::id, commissions::state, commissions::payout_id))
        .for_update()
        .first(op.conn)
        .await
        .optional()?;
    let Some((id, state, payout)) = found else {
        return Ok(());
    };
    let unpaid = (state == State::Pending.as_str() || state == State::Approved.as_str()) && payout.is_none();
    if unpaid {
        let reversed = left.is_zero();
        crate::platform::db::sql_query(
            "UPDATE commissions SET base_amount = $2, amount = round($2 * rate / 100, 2), updated_at = $3,
                 state = CASE WHEN $4 THEN 'reversed' ELSE state END,
                 reversed_at = CASE WHEN $4 THEN $3 ELSE reversed_at END
             WHERE id = $1",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<Numeric, _>(left)
        .bind::<Timestamptz, _>(op.now)
        .bind::<diesel::sql_types::Bool, _>(reversed)
        .execute(op.conn)
        .await?;
    } else if state == State::Paid.as_str() || payout.is_some() {
        // What the line should have earned after every refund, less what it earned
        // already (the paid commission and earlier clawbacks): the partner ends with the
        // same cents whether the refund came before or after the payout.
        crate::platform::db::sql_query(
            "INSERT INTO commissions (id, partner_id, customer_id, order_id, order_line_id, kind, clawback_of, credit_note_id,
                                      currency, base_amount, rate, amount, state, earned_at, approve_after, approved_at,
                                      created_at, updated_at)
             SELECT $2, c.partner_id, c.customer_id, c.order_id, c.order_line_id, c.kind, c.id, $3, c.currency,
                    -$4, c.rate,
                    round($6 * c.rate / 100, 2)
                      - c.amount - COALESCE((SELECT sum(k.amount) FROM commissions k WHERE k.clawback_of = c.id), 0),
                    'approved', $5, $5, $5, $5, $5
             FROM commissions c WHERE c.id = $1",
        )
        .bind::<SqlUuid, _>(id)
        .bind::<SqlUuid, _>(Uuid::now_v7())
        .bind::<SqlUuid, _>(note.id)
        .bind::<Numeric, _>(note.amount)
        .bind::<Timestamptz, _>(op.now)
        .bind::<Numeric, _>(left)
        .execute(op.conn)
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Payouts

crate::text_enum! {
    /// Where a payout stands.
    pub enum PayoutStatus {
        Open = "open",
        Paid = "paid",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payouts)]
pub struct Payout {
    pub id: Uuid,
    pub number: i64,
    pub partner_id: Uuid,
    pub currency: Currency,
    pub amount: Decimal,
    pub up_to: NaiveDate,
    pub status: PayoutStatus,
    pub reference: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(diesel::QueryableByName)]
struct Payable {
    #[diesel(sql_type = Text)]
    currency: Currency,
    #[diesel(sql_type = Numeric)]
    total: Decimal,
}

/// Finance pays out a partner's approved commissions earned up to `up_to` (clawbacks
/// included), one payout per currency, when the total reaches `PAYOUT_MINIMUM`. The
/// partner's row is locked first, so two finance staff creating payouts at once never
/// put one commission in two payouts.
pub async fn create(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    partner: Uuid,
    up_to: NaiveDate,
) -> Result<Vec<Payout>> {
    op::run(
        conn,
        ctx,
        actor,
        op::Scope::Vendor,
        Permission::VendorFinance,
        async |op| {
            partners::table
                .find(partner)
                .select(partners::organization_id)
                .for_update()
                .first::<Uuid>(op.conn)
                .await
                .optional()?
                .ok_or(Error::not_found("partner"))?;
            let payable: Vec<Payable> = crate::platform::db::sql_query(
                "SELECT currency::text AS currency, sum(amount) AS total FROM commissions
             WHERE partner_id = $1 AND state = 'approved' AND payout_id IS NULL AND earned_at < $2::date + 1
             GROUP BY currency ORDER BY currency",
            )
            .bind::<SqlUuid, _>(partner)
            .bind::<Date, _>(up_to)
            .load(op.conn)
            .await?;
            let minimum = op.ctx.config.payout_minimum;
            let mut made = Vec::new();
            for p in payable
                .into_iter()
                .filter(|p| p.total >= minimum && p.total > Decimal::ZERO)
            {
                made.push(create_one(op, partner, &p, up_to).await?);
            }
            if made.is_empty() {
                return Err(Error::conflict(
                    "nothing_to_pay",
                    None,
                    format!(
                        "No approved commissions up to {up_to} reach the payout minimum of {}",
                        fixed2(minimum)
                    ),
                ));
            }
            Ok(made)
        },
    )
    .await
}

async fn create_one(op: &mut Op<'_>, partner: Uuid, p: &Payable, up_to: NaiveDate) -> Result<Payout> {
    let payout: Payout = diesel::insert_into(payouts::table)
        .values((
            payouts::id.eq(Uuid::now_v7()),
            payouts::partner_id.eq(partner),
            payouts::currency.eq(p.currency),
            payouts::amount.eq(p.total),
            payouts::up_to.eq(up_to),
            payouts::created_by.eq(op.who.user_id),
            payouts::created_at.eq(op.now),
        ))
        .returning(Payout::as_returning())
        .get_result(op.conn)
        .await?;
    let included = crate::platform::db::sql_query(
        "UPDATE commissions SET payout_id = $1, updated_at = $4
         WHERE partner_id = $2 AND state = 'approved' AND payout_id IS NULL AND earned_at < $3::date + 1 AND currency = $5",
    )
    .bind::<SqlUuid, _>(payout.id)
    .bind::<SqlUuid, _>(partner)
    .bind::<Date, _>(up_to)
    .bind::<Timestamptz, _>(op.now)
    .bind::<Text, _>(p.currency)
    .execute(op.conn)
    .await?;
    op.audit_for(
        partner,
        Action::PayoutCreated,
        payout.id,
        json!({ "number": payout.number, "amount": fixed2(payout.amount), "currency": payout.currency, "up_to": up_to, "commissions": included }),
    )
    .await?;
    Ok(payout)
}

/// Finance records that a payout was paid: its commissions are paid.
pub async fn mark_paid(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    id: Uuid,
    reference: &str,
) -> Result<Payout> {
    op::run(
        conn,
        ctx,
        actor,
        op::Scope::Vendor,
        Permission::VendorFinance,
        async |op| {
            let reference = crate::platform::domain::required_text("reference", reference, 200)?;
            let payout: Payout = payouts::table
                .find(id)
                .select(Payout::as_select())
                .for_update()
                .first(op.conn)
                .await
                .optional()?
                .ok_or(Error::not_found("payout"))?;
            if payout.status != PayoutStatus::Open {
                return Err(Error::conflict(
                    "payout_paid",
                    None,
                    "This payout has already been paid",
                ));
            }
            let paid: Payout = diesel::update(payouts::table.find(id))
                .set((
                    payouts::status.eq(PayoutStatus::Paid.as_str()),
                    payouts::reference.eq(&reference),
                    payouts::paid_at.eq(op.now),
                ))
                .returning(Payout::as_returning())
                .get_result(op.conn)
                .await?;
            diesel::update(commissions::table.filter(commissions::payout_id.eq(id)))
                .set((
                    commissions::state.eq(State::Paid.as_str()),
                    commissions::paid_at.eq(op.now),
                    commissions::updated_at.eq(op.now),
                ))
                .execute(op.conn)
                .await?;
            op.audit_for(
                payout.partner_id,
                Action::PayoutPaid,
                id,
                json!({ "number": payout.number, "amount": fixed2(payout.amount), "reference": reference }),
            )
            .await?;
            let kind = crate::platform::mail::EmailKind::PayoutPaid { payout_id: id };
            crate::earnings::commissions::email_partner(op, payout.partner_id, &format!("payout_paid:{id}"), kind)
                .await?;
            Ok(paid)
        },
    )
    .await
}

/// To a partner: a payout was paid.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PayoutPaidEmail {
    pub company: String,
    pub number: i64,
    pub currency: Currency,
    pub amount: String,
    pub reference: String,
    pub paid_on: String,
    pub payout_url: String,
}

impl PayoutPaidEmail {
    pub async fn load(
        conn: &mut AsyncPgConnection,
        config: &crate::platform::config::Config,
        id: Uuid,
    ) -> Result<Option<Self>> {
        use crate::schema::organizations as orgs;
        use diesel::JoinOnDsl;
        let row: Option<(String, Payout)> = payouts::table
            .inner_join(orgs::table.on(orgs::id.eq(payouts::partner_id)))
            .filter(payouts::id.eq(id))
            .select((orgs::name, Payout::as_select()))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(|(company, p)| PayoutPaidEmail {
            company,
            number: p.number,
            currency: p.currency,
            amount: fixed2(p.amount),
            reference: p.reference.unwrap_or_default(),
            paid_on: p.paid_at.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default(),
            payout_url: crate::platform::links::payout(config, id),
        }))
    }
}

/// Payouts: a partner's own (with "manage partner portal"), or for vendor finance all,
/// or one partner's. Newest first.
pub async fn list(conn: &mut AsyncPgConnection, actor: &Actor, partner: Option<Uuid>) -> Result<Vec<Payout>> {
    let own = actor.acting_org;
    let filter = if op::grant(conn, actor, op::Scope::Vendor, Permission::VendorFinance)
        .await
        .is_ok()
    {
        partner
    } else {
        let own = own.ok_or_else(Error::no_organization)?;
        let own = op::grant(conn, actor, own.into(), Permission::ManagePartnerPortal)
            .await?
            .org();
        Some(own)
    };
    let mut q = payouts::table
        .order((payouts::created_at.desc(), payouts::id.desc()))
        .select(Payout::as_select())
        .limit(500)
        .into_boxed();
    if let Some(p) = filter {
        q = q.filter(payouts::partner_id.eq(p));
    }
    Ok(q.load(conn).await?)
}

/// One payout with its commissions, for its partner or vendor finance.
pub async fn get(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<(Payout, Vec<crate::earnings::commissions::Commission>)> {
    let payout: Payout = payouts::table
        .find(id)
        .select(Payout::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("payout"))?;
    let access = match op::grant(conn, actor, op::Scope::Vendor, Permission::VendorFinance).await {
        Ok(finance) => finance,
        Err(_) => {
            let own = actor.acting_org.ok_or_else(Error::no_organization)?;
            let partner = op::grant(conn, actor, own.into(), Permission::ManagePartnerPortal).await?;
            if partner.org() != payout.partner_id {
                return Err(Error::not_found("payout"));
            }
            partner
        }
    };
    let lines = crate::earnings::commissions::of_payout(conn, &access, id).await?;
    Ok((payout, lines))
}

/// A payout's lines as CSV (formula-safe): one row per commission.
pub async fn csv(conn: &mut AsyncPgConnection, actor: &Actor, id: Uuid) -> Result<Vec<u8>> {
    let (payout, lines) = get(conn, actor, id).await?;
    use crate::platform::csv_export::{Cell, Writer};
    let mut out = Writer::new(Vec::new());
    out.header(&[
        "payout", "type", "customer", "order", "item", "earned", "base", "rate", "amount", "currency",
    ])?;
    for c in &lines {
        let earned = c.earned_at.format("%Y-%m-%d").to_string();
        out.row(&[
            Cell::Integer(payout.number),
            Cell::Text(c.kind.as_str()),
            Cell::Text(&c.customer),
            Cell::Integer(c.order_number),
            Cell::Text(&c.description),
            Cell::Text(&earned),
            Cell::Number(c.base_amount),
            Cell::Number(c.rate),
            Cell::Number(c.amount),
            Cell::Text(c.currency.as_str()),
        ])?;
    }
    out.finish()
}

/// A partner with approved commissions not yet in a payout.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct Due {
    #[diesel(sql_type = SqlUuid)]
    pub partner_id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub currency: Currency,
    #[diesel(sql_type = Numeric)]
    pub amount: Decimal,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub commissions: i64,
    /// When the oldest of them was earned.
    #[diesel(sql_type = Timestamptz)]
    pub oldest: DateTime<Utc>,
}

/// For finance: what each partner could be paid now (approved, not in a payout), per
/// currency.
pub async fn due(conn: &mut AsyncPgConnection, actor: &Actor) -> Result<Vec<Due>> {
    op::grant(conn, actor, op::Scope::Vendor, Permission::VendorFinance).await?;
    Ok(crate::platform::db::sql_query(
        "SELECT c.partner_id, o.name, c.currency::text AS currency, sum(c.amount) AS amount, count(*) AS commissions,
                min(c.earned_at) AS oldest
         FROM commissions c JOIN organizations o ON o.id = c.partner_id
         WHERE c.state = 'approved' AND c.payout_id IS NULL
         GROUP BY c.partner_id, o.name, c.currency ORDER BY o.name, c.partner_id",
    )
    .load(conn)
    .await?)
}
