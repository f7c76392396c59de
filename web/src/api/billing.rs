//! Billing runs: start one, watch it, download its XLSX and CSV.

use chrono::{DateTime, NaiveDate, Utc};
use futures::stream;
use partnerdesk_core::{
    billing::{self, RunDetail, StartInput},
    platform::db::Reads,
    platform::money::Fixed2,
};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::{Binary, Json},
    types::Example,
};
use uuid::Uuid;

use super::{ApiTags, Created};
use crate::{auth::Auth, body::Body, error::ApiResult, state::AppState};

#[derive(Default)]
pub struct BillingApi;

#[derive(Object, Debug)]
#[oai(example)]
pub struct StartBillingRunRequest {
    /// Vendor finance: only this partner's customers (omit for all partners and the
    /// direct customers). A partner's staff: omit, or give your own organization.
    #[oai(nullable)]
    pub partner_id: Option<Uuid>,
    /// First day billed; with `period_end`. Omit both for the previous calendar month.
    #[oai(nullable)]
    pub period_start: Option<NaiveDate>,
    /// Last day billed (inclusive); at most 366 days after `period_start`.
    #[oai(nullable)]
    pub period_end: Option<NaiveDate>,
    /// The CSV's separator: `,` (default) or `;`.
    #[oai(nullable)]
    pub csv_separator: Option<String>,
    /// Start the CSV with a UTF-8 byte-order mark.
    #[oai(default)]
    pub csv_bom: bool,
}

impl Example for StartBillingRunRequest {
    fn example() -> Self {
        StartBillingRunRequest {
            partner_id: None,
            period_start: NaiveDate::from_ymd_opt(2026, 10, 1),
            period_end: NaiveDate::from_ymd_opt(2026, 10, 31),
            csv_separator: Some(";".into()),
            csv_bom: true,
        }
    }
}

#[derive(Object, Debug)]
pub struct BillingFileView {
    /// xlsx or csv.
    pub format: String,
    pub size: i64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    pub download_url: String,
}

#[derive(Object, Debug)]
pub struct BillingTotalView {
    /// Null: the vendor's direct customers.
    #[oai(nullable)]
    pub partner_id: Option<Uuid>,
    pub currency: String,
    pub lines: i64,
    /// Two decimals.
    pub amount: Fixed2,
}

#[derive(Object, Debug)]
pub struct BillingRunView {
    pub id: Uuid,
    /// vendor (finance) or partner.
    pub audience: String,
    /// Null: all partners.
    #[oai(nullable)]
    pub partner_id: Option<Uuid>,
    #[oai(nullable)]
    pub partner_name: Option<String>,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// 1 for the first run of this scope and period; each rerun is the next.
    pub version: i32,
    /// Queued by the worker for the previous month.
    pub scheduled: bool,
    pub csv_separator: String,
    pub csv_bom: bool,
    /// queued, running, ready or failed.
    pub status: partnerdesk_core::billing::BillingRunStatus,
    /// Lines written so far (while running) or in all (when ready).
    pub lines_written: i64,
    #[oai(nullable)]
    pub line_count: Option<i64>,
    /// Why the last attempt failed.
    #[oai(nullable)]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[oai(nullable)]
    pub started_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    pub finished_at: Option<DateTime<Utc>>,
    /// The files are deleted after this.
    pub expires_at: DateTime<Utc>,
    /// XLSX and CSV once ready (none after they expired).
    pub files: Vec<BillingFileView>,
    /// What the run billed per partner and currency, as the files add up.
    pub totals: Vec<BillingTotalView>,
}

impl From<RunDetail> for BillingRunView {
    fn from(d: RunDetail) -> Self {
        let r = d.run;
        BillingRunView {
            files: d
                .files
                .into_iter()
                .map(|f| BillingFileView {
                    download_url: format!("/api/billing-runs/{}/{}", r.id, f.format),
                    format: f.format,
                    size: f.size,
                    sha256: f.sha256,
                })
                .collect(),
            totals: d
                .totals
                .into_iter()
                .map(|t| BillingTotalView {
                    partner_id: t.partner_id,
                    currency: t.currency.to_string(),
                    lines: t.lines,
                    amount: Fixed2::from(t.amount),
                })
                .collect(),
            id: r.id,
            audience: r.audience,
            partner_id: r.partner_id,
            partner_name: r.partner_name,
            period_start: r.period_start,
            period_end: r.period_end,
            version: r.version,
            scheduled: r.scheduled,
            csv_separator: r.csv_separator,
            csv_bom: r.csv_bom,
            status: r.status,
            lines_written: r.lines_written,
            line_count: r.line_count,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            expires_at: r.expires_at,
        }
    }
}

#[derive(Object, Debug)]
pub struct BillingRunPage {
    pub items: Vec<BillingRunView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The XLSX workbook: lines, totals per customer, totals per partner.
#[derive(ApiResponse)]
pub enum XlsxFile {
    /// The workbook, streamed from the database; its SHA-256 (hex) in a header.
    #[oai(
        status = 200,
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )]
    Xlsx(
        Binary<poem::Body>,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "X-Checksum-Sha256")] String,
    ),
}

/// The lines as CSV per RFC 4180.
#[derive(ApiResponse)]
pub enum CsvFile {
    /// UTF-8, CRLF, formula-like cells neutralized; streamed from the database, its
    /// SHA-256 (hex) in a header.
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Csv(
        Binary<poem::Body>,
        #[oai(header = "Content-Disposition")] String,
        #[oai(header = "X-Checksum-Sha256")] String,
    ),
}

/// The file's chunks, read one at a time while the client takes them.
pub fn chunks(reads: Reads, run: Uuid, format: &'static str, count: i32) -> poem::Body {
    let chunks = stream::unfold(0, move |seq| {
        let reads = reads.clone();
        async move {
            if seq >= count {
                return None;
            }
            let read = async {
                let mut conn = reads.get().await?;
                billing::chunk(&mut conn, run, format, seq).await
            };
            let item = read.await.map_err(|e| std::io::Error::other(e.to_string()));
            Some((item, seq + 1))
        }
    });
    poem::Body::from_bytes_stream(chunks)
}

#[OpenApi(tag = "ApiTags::Billing")]
impl BillingApi {
    /// Start a billing run
    ///
    /// Vendor finance bills all partners (or one, `partner_id`); a partner's staff with
    /// "manage partner portal" bills their own customers. The run is queued at once and
    /// rendered by the worker; watch it with `GET /billing-runs/{id}`. Running the same
    /// period again makes a new version.
    #[oai(operation_id = "startBillingRun", path = "/billing-runs", method = "post")]
    async fn start(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Body<StartBillingRunRequest>,
    ) -> ApiResult<Created<BillingRunView>> {
        let mut conn = state.conn().await?;
        let b = body.0;
        let input = StartInput {
            partner_id: b.partner_id,
            partner_code: None,
            period_start: b.period_start,
            period_end: b.period_end,
            csv_separator: b.csv_separator,
            csv_bom: b.csv_bom,
        };
        let run = billing::start(&mut conn, &state.ctx, &auth.actor, input).await?;
        Ok(Created::Created(Json(run.into())))
    }

    /// Billing runs
    ///
    /// The runs you may see (finance: the vendor's; a partner: its own), newest first;
    /// keyset paging with `cursor`.
    #[oai(operation_id = "listBillingRuns", path = "/billing-runs", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(
            default = "super::default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<BillingRunPage>> {
        let mut conn = state.read_conn().await?;
        let page = billing::list(&mut conn, &auth.actor, cursor.0.as_deref(), limit.0).await?;
        Ok(Json(BillingRunPage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// A billing run
    ///
    /// Its status, progress, error, totals and files.
    #[oai(operation_id = "getBillingRun", path = "/billing-runs/:id", method = "get")]
    async fn get(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<Json<BillingRunView>> {
        let mut conn = state.conn().await?;
        Ok(Json(billing::get(&mut conn, &auth.actor, id.0).await?.into()))
    }

    /// Download a billing run's XLSX
    ///
    /// Sheets Lines, Customers and Partners; size and SHA-256 are on the run.
    #[oai(
        operation_id = "downloadBillingXlsx",
        path = "/billing-runs/:id/xlsx",
        method = "get"
    )]
    async fn xlsx(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<XlsxFile> {
        let (body, disposition, sha256) = stored(&state, &auth, id.0, "xlsx").await?;
        Ok(XlsxFile::Xlsx(body, disposition, sha256))
    }

    /// Download a billing run's CSV
    ///
    /// The lines, with the separator and byte-order mark the run was started with.
    #[oai(operation_id = "downloadBillingCsv", path = "/billing-runs/:id/csv", method = "get")]
    async fn csv(&self, state: Data<&AppState>, auth: Auth, id: Path<Uuid>) -> ApiResult<CsvFile> {
        let (body, disposition, sha256) = stored(&state, &auth, id.0, "csv").await?;
        Ok(CsvFile::Csv(body, disposition, sha256))
    }
}

/// A run's stored file for a download the actor may make: the streamed body, the
/// Content-Disposition and the SHA-256.
async fn stored(
    state: &AppState,
    auth: &Auth,
    id: Uuid,
    format: &'static str,
) -> ApiResult<(Binary<poem::Body>, String, String)> {
    let mut conn = state.read_conn().await?;
    let (run, info, count) = billing::file(&mut conn, &auth.actor, id, format).await?;
    drop(conn);
    Ok((
        Binary(chunks(state.reads_now(), run.id, format, count)),
        format!("attachment; filename=\"{}\"", billing::file_name(&run, format)),
        info.sha256,
    ))
}
