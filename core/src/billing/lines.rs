//! What a billing run bills, decided once, in one query that yields a run's lines in
//! file order (docs/billing.md explains the rules with a worked example):
//!
//! - **Customers**: every organization that is not the vendor, not a partner (a
//!   partner's own account, "My account", is never billed) and not exempt from billing.
//!   A customer is billed through the service-provider link that overlaps the period
//!   and began last; its debtor number is that link's. Customers without one are the
//!   vendor's direct customers (vendor runs for all partners only).
//! - **Licences**: every paid business licence, user licence and credit (a user licence
//!   with no user yet; the credits of a module with the same days are one line, the sum
//!   of each order's part priced on its own) in force
//!   on a day of the period, from the day it became billable (a trial made paid: the day
//!   it was paid for; trials are never billed) up to and including the day it was
//!   switched off (a deactivated customer's licences are switched off with it). Per
//!   calendar month: unit price × quantity × days / days in the month, rounded half away
//!   from zero to cents, as a quote prices the rest of a month. Prices are the module's
//!   at the time of the run.
//! - **Payments**: each line of an order whose invoice was paid in the period, negative:
//!   the customer paid it already.
//! - **Refunds**: each credit note recorded in the period, positive: the customer got
//!   it back.
//!
//! Days are UTC days.
//!
//! A run streams [`items`]: one row per licence (its billable days in the period), credit
//! group, payment and refund, in file order; [`Line::months`] splits a licence's days by
//! calendar month and prices them with [`crate::commerce::pricing::prorate`], the function quotes
//! use. [`lines`] computes the same lines, prices included, in SQL alone: the run checks
//! its files' totals against it, and the benchmark gives it to `COPY`.

use chrono::NaiveDate;
use diesel::{
    QueryableByName,
    sql_types::{Date, Integer, Nullable, Numeric, Text, Uuid as SqlUuid},
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::commerce::pricing;
use crate::platform::money::Currency;

/// One line of a billing file.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Line {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub partner_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub partner: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub debtor_number: Option<String>,
    #[diesel(sql_type = SqlUuid)]
    pub customer_id: Uuid,
    #[diesel(sql_type = Text)]
    pub customer: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub country: Option<String>,
    /// licence, payment or refund.
    #[diesel(sql_type = Text)]
    pub item: String,
    #[diesel(sql_type = Text)]
    pub module: String,
    /// business, user or credit.
    #[diesel(sql_type = Text)]
    pub licence_kind: String,
    /// The licensed user's e-mail address, for user licences.
    #[diesel(sql_type = Nullable<Text>)]
    pub user_email: Option<String>,
    #[diesel(sql_type = Integer)]
    pub quantity: i32,
    #[diesel(sql_type = Numeric)]
    pub unit_price: Decimal,
    /// For a licence item from [`items`], zero until [`Line::months`] prices it.
    #[diesel(sql_type = Numeric)]
    pub amount: Decimal,
    #[diesel(sql_type = Date)]
    pub period_from: NaiveDate,
    #[diesel(sql_type = Date)]
    pub period_to: NaiveDate,
    #[diesel(sql_type = Text)]
    pub currency: Currency,
    /// The order or credit note a payment or refund line comes from.
    #[diesel(sql_type = Nullable<Text>)]
    pub reference: Option<String>,
    /// The quantities it merges, each priced on its own as it was bought (credits of
    /// one module and days bought in several orders); `[quantity]` otherwise.
    #[diesel(sql_type = diesel::sql_types::Array<Integer>)]
    pub parts: Vec<i32>,
}

/// Which customers a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Customers {
    /// Every billed customer, with or without a partner.
    All,
    /// The customers billed through this partner.
    OfPartner(Uuid),
}

impl Line {
    /// The line as billed: a licence item becomes one line per calendar month of its
    /// days, priced like a quote prices the rest of a month; anything else is as it is.
    pub fn months(mut self, mut emit: impl FnMut(&Line) -> crate::Result<()>) -> crate::Result<()> {
        if self.item != "licence" {
            return emit(&self);
        }
        let (first, last) = (self.period_from, self.period_to);
        let mut start = first;
        while start <= last {
            let month_end = pricing::month_end(start);
            let end = month_end.min(last);
            let days = (end - start).num_days() + 1;
            self.period_from = start;
            self.period_to = end;
            let month_days = i64::from(chrono::Datelike::day(&month_end));
            // A merged line is the sum of its parts as each was priced, never re-rounded.
            self.amount = self
                .parts
                .iter()
                .map(|&q| pricing::prorate(self.unit_price * Decimal::from(q), days, month_days))
                .sum();
            emit(&self)?;
            start = end + chrono::Duration::days(1);
        }
        Ok(())
    }
}

/// The billed items of `customers` for the days `first..=last`, in file order. The
/// values are typed (dates and an id), so they are written into the text, which lets
/// the query open a server-side cursor.
pub fn items(first: NaiveDate, last: NaiveDate, customers: Customers) -> String {
    with_lines(first, last, customers, LICENCE_ITEMS, ITEM_ORDER)
}

/// The same lines as [`items`] gives after [`Line::months`], priced in SQL alone (file
/// order when `ordered`).
pub fn lines(first: NaiveDate, last: NaiveDate, customers: Customers, ordered: bool) -> String {
    with_lines(
        first,
        last,
        customers,
        LICENCE_LINES,
        if ordered { LINE_ORDER } else { "" },
    )
}

fn with_lines(first: NaiveDate, last: NaiveDate, customers: Customers, licences: &str, order: &str) -> String {
    let (links_filter, customers_sql) = match customers {
        Customers::All => (
            String::new(),
            format!("{CUSTOMER_COLUMNS} FROM organizations o LEFT JOIN links l ON l.customer_id = o.id {BILLED}"),
        ),
        Customers::OfPartner(partner) => (
            format!(
                "AND s.customer_id IN (SELECT customer_id FROM service_provider_links WHERE partner_id = '{partner}')"
            ),
            format!(
                "{CUSTOMER_COLUMNS} FROM links l JOIN organizations o ON o.id = l.customer_id
                 {BILLED} AND l.partner_id = '{partner}'"
            ),
        ),
    };
    format!(
        "WITH bounds AS (
           SELECT '{first}'::date AS first_day, '{last}'::date AS last_day,
                  '{first}'::timestamp AT TIME ZONE 'UTC' AS from_ts,
                  ('{last}'::date + 1)::timestamp AT TIME ZONE 'UTC' AS to_ts
         ),
         months AS (
           SELECT greatest(m::date, b.first_day) AS from_day,
                  least((m + interval '1 month' - interval '1 day')::date, b.last_day) AS to_day,
                  extract(day FROM m + interval '1 month' - interval '1 day')::int AS month_days
           FROM bounds b, generate_series(date_trunc('month', b.first_day), b.last_day, interval '1 month') m
         ),
         links AS ({LINKS} {links_filter} ORDER BY s.customer_id, s.created_at DESC, s.id DESC),
         customers AS ({customers_sql}),
         {LICENCES},
         lines AS ({licences} UNION ALL {PAYMENT_LINES} UNION ALL {REFUND_LINES})
         SELECT ln.partner_id, po.name AS partner, ln.debtor_number, ln.customer_id, ln.customer, ln.country,
                ln.item, ln.module, ln.licence_kind, ln.user_email, ln.quantity, ln.unit_price, ln.amount,
                ln.period_from, ln.period_to, ln.currency, ln.reference, ln.parts
         FROM lines ln LEFT JOIN organizations po ON po.id = ln.partner_id
         {order}"
    )
}

const CUSTOMER_COLUMNS: &str = "SELECT o.id, o.name, o.country::text AS country, l.partner_id, l.debtor_number";

/// The service-provider link each customer is billed through: of those overlapping the
/// period, the one that began last (one pass over the links, not one query per customer).
const LINKS: &str = "SELECT DISTINCT ON (s.customer_id) s.customer_id, s.partner_id, s.debtor_number
     FROM service_provider_links s, bounds b
     WHERE s.created_at < b.to_ts AND (s.ended_at IS NULL OR s.ended_at >= b.from_ts)";

/// Organizations that are billed at all.
const BILLED: &str = "WHERE NOT o.is_vendor AND NOT o.billing_exempt
     AND NOT EXISTS (SELECT 1 FROM partners p WHERE p.organization_id = o.id)";

/// Licences in force on a day of the period: first and last billable day (no last day:
/// still on). Credits of a module with the same days are one item, whose parts are the
/// quantities bought in each order.
const LICENCES: &str = "licences AS (
       SELECT c.id AS customer_id, 'business' AS kind, b.module_id, NULL::uuid AS user_id, 1 AS quantity,
              ARRAY[1] AS parts, b.id::text AS item_key,
              (b.billable_from AT TIME ZONE 'UTC')::date AS first_day,
              (least(b.deactivated_at, b.ends_at) AT TIME ZONE 'UTC')::date AS last_day
       FROM customers c JOIN business_licences b ON b.organization_id = c.id, bounds x
       WHERE b.billable_from < x.to_ts
         AND (least(b.deactivated_at, b.ends_at) IS NULL OR least(b.deactivated_at, b.ends_at) >= x.from_ts)
       UNION ALL
       SELECT c.id, 'user', u.module_id, u.user_id, 1, ARRAY[1], u.id::text,
              (u.billable_from AT TIME ZONE 'UTC')::date,
              (least(u.deactivated_at, u.ends_at) AT TIME ZONE 'UTC')::date
       FROM customers c JOIN user_licences u ON u.organization_id = c.id, bounds x
       WHERE u.user_id IS NOT NULL AND u.billable_from < x.to_ts
         AND (least(u.deactivated_at, u.ends_at) IS NULL OR least(u.deactivated_at, u.ends_at) >= x.from_ts)
       UNION ALL
       SELECT p.customer_id, 'credit', p.module_id, NULL, sum(p.quantity)::int,
              array_agg(p.quantity ORDER BY p.quantity), min(p.item_key), p.first_day, p.last_day
       FROM (SELECT c.id AS customer_id, u.module_id, count(*)::int AS quantity, min(u.id::text) AS item_key,
                    (u.billable_from AT TIME ZONE 'UTC')::date AS first_day,
                    (least(u.deactivated_at, u.ends_at) AT TIME ZONE 'UTC')::date AS last_day
             FROM customers c JOIN user_licences u ON u.organization_id = c.id, bounds x
             WHERE u.user_id IS NULL AND u.billable_from < x.to_ts
               AND (least(u.deactivated_at, u.ends_at) IS NULL OR least(u.deactivated_at, u.ends_at) >= x.from_ts)
             GROUP BY c.id, u.module_id, u.order_id, 5, 6) p
       GROUP BY p.customer_id, p.module_id, p.first_day, p.last_day
     )";

/// A licence's billable days in the period, priced by [`Line::months`].
const LICENCE_ITEMS: &str = "SELECT c.partner_id, c.debtor_number, c.id AS customer_id, c.name AS customer, c.country,
            'licence' AS item, 1 AS item_order, m.code AS module_code, m.name AS module, l.kind AS licence_kind,
            us.email AS user_email, l.quantity,
            CASE l.kind WHEN 'business' THEN m.business_price ELSE m.user_price END AS unit_price,
            0::numeric AS amount, d.period_from, d.period_to, m.currency::text AS currency, NULL::text AS reference,
            l.item_key, l.parts
     FROM licences l
     JOIN customers c ON c.id = l.customer_id
     JOIN modules m ON m.id = l.module_id
     LEFT JOIN users us ON us.id = l.user_id
     CROSS JOIN bounds x
     CROSS JOIN LATERAL (SELECT greatest(l.first_day, x.first_day) AS period_from,
                                least(coalesce(l.last_day, x.last_day), x.last_day) AS period_to) d
     WHERE d.period_from <= d.period_to";

/// The same, in SQL alone: a licence's days in each month of the period, priced like a
/// quote prices the rest of a month.
const LICENCE_LINES: &str = "SELECT c.partner_id, c.debtor_number, c.id AS customer_id, c.name AS customer, c.country,
            'licence' AS item, 1 AS item_order, m.code AS module_code, m.name AS module, l.kind AS licence_kind,
            us.email AS user_email, l.quantity,
            CASE l.kind WHEN 'business' THEN m.business_price ELSE m.user_price END AS unit_price,
            (SELECT sum(round(CASE l.kind WHEN 'business' THEN m.business_price ELSE m.user_price END * q
                              * (d.period_to - d.period_from + 1) / mo.month_days, 2))
             FROM unnest(l.parts) AS q) AS amount,
            d.period_from, d.period_to, m.currency::text AS currency, NULL::text AS reference, l.item_key, l.parts
     FROM licences l
     JOIN customers c ON c.id = l.customer_id
     JOIN modules m ON m.id = l.module_id
     LEFT JOIN users us ON us.id = l.user_id
     CROSS JOIN months mo
     CROSS JOIN LATERAL (SELECT greatest(l.first_day, mo.from_day) AS period_from,
                                least(coalesce(l.last_day, mo.to_day), mo.to_day) AS period_to) d
     WHERE d.period_from <= d.period_to";

/// Order lines whose invoice was paid in the period: already paid, so negative.
const PAYMENT_LINES: &str = "SELECT c.partner_id, c.debtor_number, c.id, c.name, c.country,
            'payment', 2, m.code, m.name, ol.licence_kind, NULL, ol.quantity, ol.unit_price, -ol.amount,
            ol.period_start, ol.period_end, o.currency::text, 'Order ' || o.number, ol.id::text, ARRAY[ol.quantity]
     FROM customers c
     JOIN invoices i ON i.organization_id = c.id
     JOIN bounds x ON i.paid_at >= x.from_ts AND i.paid_at < x.to_ts
     JOIN orders o ON o.id = i.order_id
     JOIN order_lines ol ON ol.order_id = o.id
     JOIN modules m ON m.id = ol.module_id";

/// Credit notes recorded in the period: money given back, so positive.
const REFUND_LINES: &str = "SELECT c.partner_id, c.debtor_number, c.id, c.name, c.country,
            'refund', 3, m.code, m.name, ol.licence_kind, NULL, 1, cn.amount, cn.amount,
            ol.period_start, ol.period_end, i.currency::text, 'Credit note ' || cn.number, cn.id::text, ARRAY[1]
     FROM customers c
     JOIN invoices i ON i.organization_id = c.id
     JOIN credit_notes cn ON cn.invoice_id = i.id
     JOIN bounds x ON cn.created_at >= x.from_ts AND cn.created_at < x.to_ts
     JOIN order_lines ol ON ol.id = cn.order_line_id
     JOIN modules m ON m.id = ol.module_id";

/// File order: by partner (direct customers first), customer, then item, module, kind,
/// user, the item itself and its months, so the same data always gives the same file.
/// Names sort by their bytes (the "C" collation): the same on every server, and quick.
const ITEM_ORDER: &str =
    "ORDER BY po.name COLLATE \"C\" NULLS FIRST, ln.partner_id NULLS FIRST, ln.customer COLLATE \"C\",
     ln.customer_id, ln.item_order, ln.module_code COLLATE \"C\", ln.licence_kind COLLATE \"C\",
     ln.user_email COLLATE \"C\" NULLS FIRST, ln.item_key COLLATE \"C\"";

/// The same order for lines already split by month.
const LINE_ORDER: &str =
    "ORDER BY po.name COLLATE \"C\" NULLS FIRST, ln.partner_id NULLS FIRST, ln.customer COLLATE \"C\",
     ln.customer_id, ln.item_order, ln.module_code COLLATE \"C\", ln.licence_kind COLLATE \"C\",
     ln.user_email COLLATE \"C\" NULLS FIRST, ln.item_key COLLATE \"C\", ln.period_from";
