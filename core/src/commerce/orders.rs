//! Orders, their lines and invoices, and paying them. Every order gets an invoice with a
//! public, unguessable payment link; the payment goes through a provider: manual bank
//! transfer (finance marks the invoice paid) or, for development and tests, a provider
//! that pays at once. The paid state is recorded with its time.

use crate::platform::db::sql_query;
use crate::platform::ids::OrgId;
use crate::platform::money::Currency;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper, sql_types::BigInt,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::op::{self, Op};
use crate::{
    Ctx, Error, Result,
    commerce::pricing::{self, Line},
    platform::audit::Who,
    platform::authz::{Actor, Permission},
    platform::config::Config,
    platform::domain::{Email, Language},
    platform::links::Link,
    platform::mail::{EmailKind, Outgoing},
    platform::money::fixed2,
    platform::tokens,
    platform::values::{InvoiceStatus, LicenceKind, OrderSource, OrderStatus},
    schema::{invoices, order_lines, orders, organizations as orgs, service_provider_links as links},
};

pub use crate::platform::config::PaymentProvider;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = orders)]
pub struct Order {
    pub id: Uuid,
    pub number: i64,
    pub organization_id: Uuid,
    pub partner_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub source: OrderSource,
    pub currency: Currency,
    pub total: Decimal,
    pub status: OrderStatus,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = order_lines)]
pub struct OrderLine {
    pub id: Uuid,
    pub order_id: Uuid,
    pub module_id: Uuid,
    pub licence_kind: LicenceKind,
    pub description: String,
    pub quantity: i32,
    pub unit_price: Decimal,
    pub amount: Decimal,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoices)]
pub struct Invoice {
    pub id: Uuid,
    pub number: String,
    pub order_id: Uuid,
    pub organization_id: Uuid,
    pub currency: Currency,
    pub amount: Decimal,
    pub status: InvoiceStatus,
    pub payment_provider: String,
    pub provider_reference: Option<String>,
    pub due_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The public payment link of an invoice (derived, so it can be shown again).
pub fn payment_url(config: &Config, invoice_id: Uuid) -> String {
    Link::Payment.url(config, invoice_id, 1)
}

/// Creates an order with its lines and invoice, and queues the confirmation e-mail.
pub(crate) async fn create(
    op: &mut Op<'_>,
    org: OrgId,
    source: OrderSource,
    currency: Currency,
    lines: &[Line],
    quote_id: Option<Uuid>,
) -> Result<Order> {
    let now = op.now;
    let total = pricing::total(lines);
    let partner: Option<Uuid> = links::table
        .filter(links::customer_id.eq(org))
        .filter(links::ended_at.is_null())
        .select(links::partner_id)
        .first(op.conn)
        .await
        .optional()?;
    let order = diesel::insert_into(orders::table)
        .values((
            orders::id.eq(Uuid::now_v7()),
            orders::organization_id.eq(org),
            orders::partner_id.eq(partner),
            orders::created_by.eq(op.who.user_id),
            orders::source.eq(source),
            orders::currency.eq(currency),
            orders::total.eq(total),
            orders::created_at.eq(now),
            orders::quote_id.eq(quote_id),
        ))
        .returning(Order::as_returning())
        .get_result(op.conn)
        .await?;
    let rows: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                order_lines::id.eq(Uuid::now_v7()),
                order_lines::order_id.eq(order.id),
                order_lines::module_id.eq(l.module_id),
                order_lines::licence_kind.eq(&l.licence_kind),
                order_lines::description.eq(&l.description),
                order_lines::quantity.eq(l.quantity),
                order_lines::unit_price.eq(l.unit_price),
                order_lines::amount.eq(l.amount),
                order_lines::period_start.eq(l.period_start),
                order_lines::period_end.eq(l.period_end),
            )
        })
        .collect();
    diesel::insert_into(order_lines::table)
        .values(rows)
        .execute(op.conn)
        .await?;
    let number = insert_invoice(op, &order, total).await?;
    op.audit(
        Action::OrderCreated,
        order.id,
        json!({ "number": order.number, "source": source, "total": fixed2(total), "currency": currency, "invoice": number }),
    )
    .await?;
    let outgoing = order_recipients(op.conn, org, partner.map(Into::into))
        .await?
        .into_iter()
        .map(|(email, lang)| Outgoing {
            event_key: format!("order.confirmation:{}:{}", order.id, email.as_str()),
            recipient: email,
            lang,
            kind: EmailKind::OrderConfirmation { order_id: order.id },
        })
        .collect();
    op.emails(outgoing).await?;
    Ok(order)
}

/// Issues the invoice of a new order; returns its number.
async fn insert_invoice(op: &mut Op<'_>, order: &Order, total: Decimal) -> Result<String> {
    #[derive(diesel::QueryableByName)]
    struct Seq {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let seq: Seq = sql_query("SELECT nextval('invoice_number_seq') AS n")
        .get_result(op.conn)
        .await?;
    let invoice_id = Uuid::now_v7();
    let number = format!("INV-{}-{:06}", op.now.year(), seq.n);
    let config = &op.ctx.config;
    let due = Duration::days(i64::from(config.payment_due_days));
    diesel::insert_into(invoices::table)
        .values((
            invoices::id.eq(invoice_id),
            invoices::number.eq(&number),
            invoices::order_id.eq(order.id),
            invoices::organization_id.eq(order.organization_id),
            invoices::currency.eq(&order.currency),
            invoices::amount.eq(total),
            invoices::payment_token_hash.eq(Link::Payment.token_hash(op.ctx.secret(), invoice_id, 1)),
            invoices::payment_provider.eq(config.payment_provider.name()),
            invoices::due_at.eq(op.now + due),
            invoices::created_at.eq(op.now),
        ))
        .execute(op.conn)
        .await?;
    Ok(number)
}

/// Who hears about an order or payment: the customer's administrators (or its contact
/// address) and the partner's administrators.
pub(crate) async fn order_recipients(
    conn: &mut AsyncPgConnection,
    org: OrgId,
    partner: Option<OrgId>,
) -> Result<Vec<(Email, Language)>> {
    let mut out: Vec<(Email, Language)> = Vec::new();
    let mut add = |address: &str, lang: &str| {
        if let Ok(e) = Email::parse(address)
            && !out.iter().any(|(o, _)| o == &e)
        {
            out.push((e, Language::from_db(lang)));
        }
    };
    let admins = crate::tenancy::memberships::administrators(conn, org.into()).await?;
    if admins.is_empty() {
        let (contact, lang): (Option<String>, String) = orgs::table
            .find(org)
            .select((orgs::contact_email, orgs::language))
            .first(conn)
            .await?;
        if let Some(c) = contact {
            add(&c, &lang);
        }
    }
    for (_, e, l) in &admins {
        add(e, l);
    }
    if let Some(p) = partner {
        for (_, e, l) in crate::tenancy::memberships::administrators(conn, p.into()).await? {
            add(&e, &l);
        }
    }
    Ok(out)
}

/// An order with its lines, invoice and payment link.
#[derive(Debug, Clone)]
pub struct OrderDetails {
    pub order: Order,
    pub lines: Vec<OrderLine>,
    pub invoice: Invoice,
    pub payment_url: String,
}

async fn details(conn: &mut AsyncPgConnection, ctx: &Ctx, order: Order) -> Result<OrderDetails> {
    let lines = order_lines::table
        .filter(order_lines::order_id.eq(order.id))
        .order(order_lines::id.asc())
        .select(OrderLine::as_select())
        .load(conn)
        .await?;
    let invoice: Invoice = invoices::table
        .filter(invoices::order_id.eq(order.id))
        .select(Invoice::as_select())
        .first(conn)
        .await?;
    let payment_url = payment_url(&ctx.config, invoice.id);
    Ok(OrderDetails {
        order,
        lines,
        invoice,
        payment_url,
    })
}

/// The orders of an organization, newest first.
pub async fn list(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, org: Uuid) -> Result<Vec<OrderDetails>> {
    let org = op::grant(conn, actor, org.into(), Permission::ManageLicences)
        .await?
        .org();
    let list: Vec<Order> = orders::table
        .filter(orders::organization_id.eq(org))
        .order(orders::created_at.desc())
        .select(Order::as_select())
        .load(conn)
        .await?;
    let mut out = Vec::with_capacity(list.len());
    for o in list {
        out.push(details(conn, ctx, o).await?);
    }
    Ok(out)
}

/// One order, for whoever manages the organization's licences, or vendor finance.
pub async fn get(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, id: Uuid) -> Result<OrderDetails> {
    let order: Order = orders::table
        .find(id)
        .select(Order::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("order"))?;
    if op::grant(conn, actor, op::Scope::Vendor, Permission::VendorFinance)
        .await
        .is_err()
    {
        op::grant(conn, actor, order.organization_id.into(), Permission::ManageLicences)
            .await
            .map_err(|_| Error::not_found("order"))?;
    }
    details(conn, ctx, order).await
}

/// What the public payment page shows.
#[derive(Debug, Clone)]
pub struct PaymentPage {
    pub invoice: Invoice,
    pub lines: Vec<OrderLine>,
    pub customer: String,
    pub order_number: i64,
    pub pays_online: bool,
}

async fn invoice_for_token(conn: &mut AsyncPgConnection, token: &str, lock: bool) -> Result<Invoice> {
    let q = invoices::table
        .filter(invoices::payment_token_hash.eq(tokens::hash(token)))
        .select(Invoice::as_select());
    let found: Option<Invoice> = if lock {
        q.for_update().first(conn).await.optional()?
    } else {
        q.first(conn).await.optional()?
    };
    found.ok_or(Error::not_found("invoice"))
}

/// The invoice behind a payment link.
pub async fn payment_page(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str) -> Result<PaymentPage> {
    let invoice = invoice_for_token(conn, token, false).await?;
    let lines = order_lines::table
        .filter(order_lines::order_id.eq(invoice.order_id))
        .order(order_lines::id.asc())
        .select(OrderLine::as_select())
        .load(conn)
        .await?;
    let customer: String = orgs::table
        .find(invoice.organization_id)
        .select(orgs::name)
        .first(conn)
        .await?;
    let order_number: i64 = orders::table
        .find(invoice.order_id)
        .select(orders::number)
        .first(conn)
        .await?;
    let pays_online = PaymentProvider::parse(&invoice.payment_provider)
        .unwrap_or(PaymentProvider::BankTransfer)
        .pays_online()
        && ctx.config.payment_provider.pays_online();
    Ok(PaymentPage {
        invoice,
        lines,
        customer,
        order_number,
        pays_online,
    })
}

async fn mark(op: &mut Op<'_>, invoice: &Invoice, reference: &str) -> Result<Invoice> {
    if invoice.status == InvoiceStatus::Paid {
        return Err(Error::conflict(
            "invoice_paid",
            None,
            "This invoice has already been paid",
        ));
    }
    if invoice.status != InvoiceStatus::Open {
        return Err(Error::conflict(
            "invoice_not_open",
            None,
            format!("This invoice is {}", invoice.status),
        ));
    }
    let paid = diesel::update(invoices::table.find(invoice.id))
        .set((
            invoices::status.eq(InvoiceStatus::Paid),
            invoices::paid_at.eq(op.now),
            invoices::provider_reference.eq(reference),
        ))
        .returning(Invoice::as_returning())
        .get_result(op.conn)
        .await?;
    diesel::update(orders::table.find(invoice.order_id))
        .set(orders::status.eq(OrderStatus::Paid))
        .execute(op.conn)
        .await?;
    crate::earnings::commissions::earn(op, invoice.order_id).await?;
    op.audit_for(
        invoice.organization_id,
        Action::InvoicePaid,
        invoice.id,
        json!({ "number": invoice.number, "amount": fixed2(invoice.amount), "currency": invoice.currency, "reference": reference }),
    )
    .await?;
    let partner: Option<Uuid> = orders::table
        .find(invoice.order_id)
        .select(orders::partner_id)
        .first(op.conn)
        .await?;
    let outgoing = order_recipients(op.conn, invoice.organization_id.into(), partner.map(Into::into))
        .await?
        .into_iter()
        .map(|(email, lang)| Outgoing {
            event_key: format!("invoice.paid:{}:{}", invoice.id, email.as_str()),
            recipient: email,
            lang,
            kind: EmailKind::InvoicePaid { invoice_id: invoice.id },
        })
        .collect();
    op.emails(outgoing).await?;
    Ok(paid)
}

/// Pays through the payment link (providers that pay online). Paying twice is refused.
pub async fn pay(conn: &mut AsyncPgConnection, ctx: &Ctx, token: &str) -> Result<Invoice> {
    op::run_as(conn, ctx, Who::system(None), async |op| {
        let invoice = invoice_for_token(op.conn, token, true).await?;
        let online = PaymentProvider::parse(&invoice.payment_provider).is_some_and(|p| p.pays_online())
            && ctx.config.payment_provider.pays_online();
        if invoice.status == InvoiceStatus::Open && !online {
            return Err(Error::conflict(
                "pay_by_bank_transfer",
                None,
                format!(
                    "Pay {} {} by bank transfer quoting {}",
                    invoice.currency,
                    fixed2(invoice.amount),
                    invoice.number
                ),
            ));
        }
        let reference = format!("test-{}", Uuid::now_v7());
        mark(op, &invoice, &reference).await
    })
    .await
}

/// Finance records a bank transfer.
pub async fn mark_paid(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    actor: &Actor,
    invoice_id: Uuid,
    reference: &str,
) -> Result<Invoice> {
    op::run(
        conn,
        ctx,
        actor,
        op::Scope::Vendor,
        Permission::VendorFinance,
        async |op| {
            let reference = crate::platform::domain::required_text("reference", reference, 200)?;
            let invoice: Invoice = invoices::table
                .find(invoice_id)
                .select(Invoice::as_select())
                .for_update()
                .first(op.conn)
                .await
                .optional()?
                .ok_or(Error::not_found("invoice"))?;
            mark(op, &invoice, &reference).await
        },
    )
    .await
}

/// Invoices for finance, newest first, optionally by status.
pub async fn list_invoices(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    status: Option<InvoiceStatus>,
) -> Result<Vec<Invoice>> {
    op::grant(conn, actor, op::Scope::Vendor, Permission::VendorFinance).await?;
    let mut q = invoices::table
        .order(invoices::created_at.desc())
        .select(Invoice::as_select())
        .into_boxed();
    if let Some(status) = status {
        q = q.filter(invoices::status.eq(status));
    }
    Ok(q.load(conn).await?)
}

// ---------------------------------------------------------------------------------
// E-mails about orders and invoices

use crate::platform::domain::format_date;
use diesel::JoinOnDsl;

/// One line of an order confirmation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrderEmailLine {
    pub description: String,
    pub quantity: i32,
    pub amount: String,
}

/// The order with its invoice and payment link.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConfirmationEmail {
    pub company: String,
    pub order_number: i64,
    pub currency: Currency,
    pub total: String,
    pub invoice_number: String,
    pub due_on: String,
    pub payment_url: String,
    pub lines: Vec<OrderEmailLine>,
}

impl ConfirmationEmail {
    pub async fn load(conn: &mut AsyncPgConnection, config: &Config, order_id: Uuid) -> Result<Option<Self>> {
        type Head = (String, i64, Currency, Decimal, Uuid, String, DateTime<Utc>);
        let head: Option<Head> = orders::table
            .inner_join(orgs::table.on(orgs::id.eq(orders::organization_id)))
            .inner_join(invoices::table.on(invoices::order_id.eq(orders::id)))
            .filter(orders::id.eq(order_id))
            .select((
                orgs::name,
                orders::number,
                orders::currency,
                orders::total,
                invoices::id,
                invoices::number,
                invoices::due_at,
            ))
            .first(conn)
            .await
            .optional()?;
        let Some((company, order_number, currency, total, invoice_id, invoice_number, due_at)) = head else {
            return Ok(None);
        };
        let lines: Vec<(String, i32, Decimal)> = order_lines::table
            .filter(order_lines::order_id.eq(order_id))
            .order(order_lines::id.asc())
            .select((order_lines::description, order_lines::quantity, order_lines::amount))
            .load(conn)
            .await?;
        Ok(Some(ConfirmationEmail {
            company,
            order_number,
            currency,
            total: fixed2(total),
            invoice_number,
            due_on: format_date(due_at),
            payment_url: payment_url(config, invoice_id),
            lines: lines
                .into_iter()
                .map(|(description, quantity, amount)| OrderEmailLine {
                    description,
                    quantity,
                    amount: fixed2(amount),
                })
                .collect(),
        }))
    }
}

/// The invoice is paid.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InvoicePaidEmail {
    pub company: String,
    pub invoice_number: String,
    pub currency: Currency,
    pub amount: String,
    pub paid_on: String,
}

impl InvoicePaidEmail {
    pub async fn load(conn: &mut AsyncPgConnection, invoice_id: Uuid) -> Result<Option<Self>> {
        type Row = (String, String, Currency, Decimal, Option<DateTime<Utc>>);
        let row: Option<Row> = invoices::table
            .inner_join(orgs::table.on(orgs::id.eq(invoices::organization_id)))
            .filter(invoices::id.eq(invoice_id))
            .select((
                orgs::name,
                invoices::number,
                invoices::currency,
                invoices::amount,
                invoices::paid_at,
            ))
            .first(conn)
            .await
            .optional()?;
        Ok(row.map(
            |(company, invoice_number, currency, amount, paid_at)| InvoicePaidEmail {
                company,
                invoice_number,
                currency,
                amount: fixed2(amount),
                paid_on: paid_at.map(format_date).unwrap_or_default(),
            },
        ))
    }
}
