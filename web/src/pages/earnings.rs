//! Commission pages: the partner's dashboard, affiliate link, commission table and
//! payouts; finance's payouts, refunds and declines.

use chrono::NaiveDate;
use partnerdesk_core::{
    Error as CoreError,
    commerce::orders,
    earnings::commissions::{self, Kind, ListQuery, State},
    earnings::payouts,
    platform::domain::DEFAULT_PAGE,
    platform::money::fixed2,
};
use poem::{
    Response, Route, get, handler,
    http::header,
    post,
    web::{Data, Form, Path, Query},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Pairs, db, json_of, organization::NoticeQuery, portal::Portal, reads, redirect};
use crate::{
    api::{
        commerce::orders::OrderView,
        earnings::{CommissionView, DashboardView, PayoutView},
    },
    state::AppState,
};

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/dashboard", get(dashboard))
        .at("/affiliate", get(affiliate))
        .at("/commissions", get(table))
        .at("/commissions/export", get(export))
        .at("/commissions/:id/decline", post(decline))
        .at("/payouts", get(payout_list))
        .at("/payouts/:id", get(payout))
        .at("/payouts/:id/export", get(payout_csv))
        .at("/vendor/payouts", get(finance_payouts).post(create_payouts))
        .at("/vendor/payouts/:id/paid", post(payout_paid))
        .at("/vendor/orders/:id", get(order))
        .at("/vendor/invoices/:id/credit-notes", post(refund))
}

#[handler]
async fn dashboard(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    Ok(
        match commissions::dashboard(&mut conn, &state.ctx, &portal.actor).await {
            Ok(d) => portal.render(
                &state,
                "dashboard",
                json!({ "figures": json_of(DashboardView::from(d)) }),
            ),
            Err(e) => portal.failed(&state, "Dashboard", &e),
        },
    )
}

#[handler]
async fn affiliate(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(match commissions::affiliate_figures(&mut conn, &portal.actor).await {
        Ok(f) => portal.render(
            &state,
            "affiliate",
            json!({
                "link": partnerdesk_core::platform::links::affiliate(&state.ctx.config, &f.affiliate_code),
                "visits": f.visits, "sign_ups": f.sign_ups, "paying_customers": f.paying_customers,
                "window_days": state.ctx.config.affiliate_window.as_secs() / 86_400,
            }),
        ),
        Err(e) => portal.failed(&state, "Affiliate link", &e),
    })
}

/// The commission table's filters, as the address carries them.
#[derive(Deserialize, Serialize, Default)]
struct TableForm {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    partner_id: Option<Uuid>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

impl TableForm {
    fn query(&self) -> Result<ListQuery, CoreError> {
        let day = |field: &str, raw: &Option<String>| match raw.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| CoreError::field(field, "invalid_date", "Enter a date as YYYY-MM-DD")),
        };
        Ok(ListQuery {
            kind: self.kind.as_deref().and_then(Kind::parse),
            state: self.state.as_deref().and_then(State::parse),
            from: day("from", &self.from)?,
            to: day("to", &self.to)?,
            limit: DEFAULT_PAGE,
            cursor: self.cursor.clone().filter(|c| !c.is_empty()),
        })
    }

    /// This table's address with other filters kept (for the next page and the CSV).
    fn address(&self, path: &str, cursor: Option<&str>) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("type", &self.kind),
            ("state", &self.state),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                pairs.append_pair(k, v);
            }
        }
        if let Some(p) = self.partner_id {
            pairs.append_pair("partner_id", &p.to_string());
        }
        if let Some(c) = cursor {
            pairs.append_pair("cursor", c);
        }
        format!("{path}?{}", pairs.finish())
    }
}

#[handler]
async fn table(portal: Portal, state: Data<&AppState>, Query(form): Query<TableForm>) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    let listed = match form.query() {
        Ok(q) => commissions::list(&mut conn, &portal.actor, form.partner_id, q).await,
        Err(e) => Err(e),
    };
    let finance = form.partner_id.is_some_and(|p| Some(p) != portal.org());
    let ctx = json!({ "filter": &form, "export": form.address("/commissions/export", None), "finance": finance });
    Ok(match listed {
        Ok(page) => portal.render_noticed(
            &state,
            "commissions",
            form.notice.as_deref(),
            super::merge(
                ctx,
                json!({
                    "commissions": page.items.into_iter().map(|c| json_of(CommissionView::from(c))).collect::<Vec<_>>(),
                    "next_page": page.next_cursor.map(|c| form.address("/commissions", Some(&c))),
                }),
            ),
        ),
        Err(e) => portal.error(
            &state,
            "commissions",
            super::merge(ctx, json!({ "commissions": [] })),
            &e,
        ),
    })
}

fn csv_response(csv: Vec<u8>, name: &str) -> Response {
    Response::builder()
        .content_type("text/csv; charset=utf-8")
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))
        .body(csv)
}

#[handler]
async fn export(portal: Portal, state: Data<&AppState>, Query(form): Query<TableForm>) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    let csv = match form.query() {
        Ok(q) => commissions::export(&mut conn, &portal.actor, form.partner_id, q).await,
        Err(e) => Err(e),
    };
    Ok(match csv {
        Ok(csv) => csv_response(csv, "commissions.csv"),
        Err(e) => portal.failed(&state, "Commissions", &e),
    })
}

#[handler]
async fn decline(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let reason = form.get("reason").unwrap_or_default();
    let partner = form.get("partner_id").unwrap_or_default();
    let mut conn = db(&state).await?;
    Ok(
        match commissions::decline(&mut conn, &state.ctx, &portal.actor, id, &reason).await {
            Ok(()) => redirect(&format!("/commissions?partner_id={partner}&notice=commission_declined")),
            Err(e) => portal.failed(&state, "Commissions", &e),
        },
    )
}

#[handler]
async fn payout_list(portal: Portal, state: Data<&AppState>) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    Ok(match payouts::list(&mut conn, &portal.actor, portal.org()).await {
        Ok(list) => portal.render(
            &state,
            "payouts",
            json!({ "payouts": list.into_iter().map(|p| json_of(PayoutView::from(p))).collect::<Vec<_>>() }),
        ),
        Err(e) => portal.failed(&state, "Payouts", &e),
    })
}

#[handler]
async fn payout(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(match payouts::get(&mut conn, &portal.actor, id).await {
        Ok((p, lines)) => portal.render(
            &state,
            "payout",
            json!({
                "payout": json_of(PayoutView::from(p)),
                "commissions": lines.into_iter().map(|c| json_of(CommissionView::from(c))).collect::<Vec<_>>(),
            }),
        ),
        Err(e) => portal.failed(&state, "Payouts", &e),
    })
}

#[handler]
async fn payout_csv(portal: Portal, state: Data<&AppState>, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let mut conn = reads(&state).await?;
    Ok(match payouts::csv(&mut conn, &portal.actor, id).await {
        Ok(csv) => csv_response(csv, &format!("payout-{id}.csv")),
        Err(e) => portal.failed(&state, "Payouts", &e),
    })
}

async fn finance_ctx(portal: &Portal, state: &AppState) -> poem::Result<Result<serde_json::Value, CoreError>> {
    let mut conn = db(state).await?;
    let due = match payouts::due(&mut conn, &portal.actor).await {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let list = payouts::list(&mut conn, &portal.actor, None).await;
    Ok(list.map(|list| {
        json!({
            "due": due.into_iter().map(|d| json!({
                "partner_id": d.partner_id, "name": d.name, "currency": d.currency,
                "amount": fixed2(d.amount), "commissions": d.commissions,
            })).collect::<Vec<_>>(),
            "payouts": list.into_iter().map(|p| json_of(PayoutView::from(p))).collect::<Vec<_>>(),
            "today": state.ctx.now().date_naive().to_string(),
        })
    }))
}

#[handler]
async fn finance_payouts(
    portal: Portal,
    state: Data<&AppState>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    Ok(match finance_ctx(&portal, &state).await? {
        Ok(ctx) => portal.render_noticed(&state, "vendor_payouts", q.notice.as_deref(), ctx),
        Err(e) => portal.failed(&state, "Payouts", &e),
    })
}

#[handler]
async fn create_payouts(portal: Portal, state: Data<&AppState>, Form(form): Form<Pairs>) -> poem::Result<Response> {
    let partner = form.get("partner_id").and_then(|p| Uuid::parse_str(&p).ok());
    let up_to = form
        .get("up_to")
        .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
    let mut conn = db(&state).await?;
    let made = match (partner, up_to) {
        (Some(p), Some(d)) => payouts::create(&mut conn, &state.ctx, &portal.actor, p, d).await,
        _ => Err(CoreError::field("up_to", "invalid_date", "Enter a date as YYYY-MM-DD")),
    };
    drop(conn);
    Ok(match made {
        Ok(_) => redirect("/vendor/payouts?notice=payout_created"),
        Err(e) => match finance_ctx(&portal, &state).await? {
            Ok(ctx) => portal.error(&state, "vendor_payouts", ctx, &e),
            Err(e) => portal.failed(&state, "Payouts", &e),
        },
    })
}

#[handler]
async fn payout_paid(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let reference = form.get("reference").unwrap_or_default();
    let mut conn = db(&state).await?;
    Ok(
        match payouts::mark_paid(&mut conn, &state.ctx, &portal.actor, id, &reference).await {
            Ok(_) => redirect("/vendor/payouts?notice=payout_paid"),
            Err(e) => portal.failed(&state, "Payouts", &e),
        },
    )
}

#[handler]
async fn order(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    Ok(match orders::get(&mut conn, &state.ctx, &portal.actor, id).await {
        Ok(o) => portal.render_noticed(
            &state,
            "vendor_order",
            q.notice.as_deref(),
            json!({ "order": json_of(OrderView::from(o)) }),
        ),
        Err(e) => portal.failed(&state, "Order", &e),
    })
}

#[handler]
async fn refund(
    portal: Portal,
    state: Data<&AppState>,
    Path(invoice): Path<Uuid>,
    Form(form): Form<Pairs>,
) -> poem::Result<Response> {
    let line = form
        .get("order_line_id")
        .and_then(|l| Uuid::parse_str(&l).ok())
        .unwrap_or_default();
    let order_id = form
        .get("order_id")
        .and_then(|o| Uuid::parse_str(&o).ok())
        .unwrap_or_default();
    let (amount, reason) = (
        form.get("amount").unwrap_or_default(),
        form.get("reason").unwrap_or_default(),
    );
    let mut conn = db(&state).await?;
    Ok(
        match payouts::refund(&mut conn, &state.ctx, &portal.actor, invoice, line, &amount, &reason).await {
            Ok(_) => redirect(&format!("/vendor/orders/{order_id}?notice=refunded")),
            Err(e) => portal.failed(&state, "Refund", &e),
        },
    )
}
