//! E-mail: queued in the transaction of the event that causes it, rendered from
//! minijinja templates by the worker, sent over SMTP or into the development outbox.
//!
//! Each e-mail event has a unique key; the `email_deliveries` row for that key is
//! claimed before sending and marked sent afterwards, so a retried or duplicated job
//! never sends the same e-mail twice.

use std::{path::Path, sync::Arc};

use chrono::{DateTime, Utc};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};
use minijinja::Environment;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    Ctx, Error, Result,
    platform::config::Config,
    platform::db::Pool,
    platform::domain::{Email, Language},
    platform::jobs::{self, JobError, SendEmail},
    platform::templating,
    schema::{email_deliveries, mailbox},
};

mod kinds;

pub use kinds::{EmailKind, TYPED_ADDRESS_TEMPLATES};

crate::text_enum! {
    /// Where an e-mail delivery stands: queued, being sent, sent, given up (`failed`), or
    /// deliberately not sent (`skipped`).
    pub enum DeliveryStatus {
        Queued = "queued",
        Sending = "sending",
        Sent = "sent",
        Failed = "failed",
        Skipped = "skipped",
    }
}

impl DeliveryStatus {
    /// Sent, or deliberately not: nothing is left to do for the delivery.
    pub fn is_settled(self) -> bool {
        matches!(self, DeliveryStatus::Sent | DeliveryStatus::Skipped)
    }
}

/// The e-mail templates (`templates/email/<name>/...`): embedded at build time, or read
/// from `TEMPLATES_DIR/email` when configured. They render strictly: an undefined
/// variable is an error.
pub struct Templates {
    env: Environment<'static>,
}

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Templates {
    pub fn embedded() -> Self {
        let mut env = templating::environment(minijinja::UndefinedBehavior::Strict);
        load_embedded(&mut env);
        Templates { env }
    }

    pub fn from_dir(dir: &Path) -> Self {
        let mut env = templating::environment(minijinja::UndefinedBehavior::Strict);
        env.set_loader(minijinja::path_loader(dir.join("email")));
        Templates { env }
    }

    pub fn load(config: &Config) -> Self {
        match &config.templates_dir {
            Some(dir) => Self::from_dir(dir),
            None => Self::embedded(),
        }
    }

    fn exists(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    /// `<name>/<stem>.<lang>.<ext>`, falling back to English.
    fn localized(&self, name: &str, stem: &str, ext: &str, lang: Language) -> String {
        let specific = format!("{name}/{stem}.{}.{ext}", lang.as_str());
        if lang != Language::En && self.exists(&specific) {
            specific
        } else {
            format!("{name}/{stem}.{ext}")
        }
    }

    pub fn render_email(&self, name: &str, lang: Language, context: &Value) -> Result<Rendered> {
        let mut ctx = context.clone();
        if let Value::Object(map) = &mut ctx {
            map.insert("lang".into(), Value::String(lang.as_str().into()));
        }
        let render = |template: String| -> Result<String> {
            self.env
                .get_template(&template)
                .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&ctx))))
                .map_err(|e| Error::internal(format!("rendering {template}: {e:#}")))
        };
        Ok(Rendered {
            subject: render(self.localized(name, "subject", "txt", lang))?.trim().to_owned(),
            text: render(self.localized(name, "body", "txt", lang))?,
            html: render(self.localized(name, "body", "html", lang))?,
        })
    }
}

#[allow(elided_lifetimes_in_paths, unused_variables)]
fn load_embedded(env: &mut Environment<'static>) {
    minijinja_embed::load_templates!(*env);
}

/// Where e-mails go.
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// The development outbox (`mailbox` table), listed by the dev mailbox endpoint.
    Outbox,
}

pub struct Mailer {
    pub transport: Transport,
    pub from: Mailbox,
    pub templates: Arc<Templates>,
}

impl Mailer {
    pub fn from_config(config: &Config, templates: Arc<Templates>) -> Result<Self> {
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|e| Error::internal(format!("MAIL_FROM is not a mailbox: {e}")))?;
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| Error::internal(format!("SMTP_URL: {e}")))?
                    .build(),
            ),
            None => Transport::Outbox,
        };
        Ok(Mailer {
            transport,
            from,
            templates,
        })
    }
}

/// Queues an e-mail in the caller's transaction. The event key names the event
/// (e.g. `partner_request.approved:<id>`); a second call with the same key does nothing.
pub async fn queue(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    event_key: &str,
    recipient: &Email,
    lang: Language,
    kind: EmailKind,
) -> Result<()> {
    let params = serde_json::to_value(&kind)?;
    let inserted: Option<Uuid> = diesel::insert_into(email_deliveries::table)
        .values((
            email_deliveries::id.eq(Uuid::now_v7()),
            email_deliveries::event_key.eq(event_key),
            email_deliveries::template.eq(kind.template()),
            email_deliveries::recipient.eq(recipient.as_str()),
            email_deliveries::language.eq(lang.as_str()),
            email_deliveries::params.eq(params),
            email_deliveries::created_at.eq(now),
        ))
        .on_conflict(email_deliveries::event_key)
        .do_nothing()
        .returning(email_deliveries::id)
        .get_result(conn)
        .await
        .optional()?;
    if let Some(delivery_id) = inserted {
        jobs::enqueue(conn, &SendEmail { delivery_id }, Some(event_key)).await?;
    }
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct SentCount {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    oldest: Option<DateTime<Utc>>,
}

/// The per-address limit on e-mails to typed addresses (sign-up, registration, password
/// reset, invitations): refuses with 429 once `EMAILS_PER_ADDRESS_PER_HOUR` went to
/// this address in the last hour. Call inside the transaction that queues the e-mail;
/// concurrent requests for one address take turns.
pub async fn check_address_rate(conn: &mut AsyncPgConnection, ctx: &crate::Ctx, address: &Email) -> Result<()> {
    use diesel::sql_types::{Array, Text, Timestamptz};
    let now = ctx.now();
    let since = now - chrono::Duration::hours(1);
    crate::platform::db::sql_query("SELECT pg_advisory_xact_lock(7242100, hashtext($1))")
        .bind::<Text, _>(address.as_str())
        .execute(conn)
        .await?;
    let sent: SentCount = crate::platform::db::sql_query(
        "SELECT count(*) AS n, min(created_at) AS oldest FROM email_deliveries
         WHERE recipient = $1 AND created_at > $2 AND template = ANY($3)",
    )
    .bind::<Text, _>(address.as_str())
    .bind::<Timestamptz, _>(since)
    .bind::<Array<Text>, _>(TYPED_ADDRESS_TEMPLATES)
    .get_result(conn)
    .await?;
    if sent.n >= i64::from(ctx.config.limits.emails_per_address_per_hour) {
        let free_at = sent.oldest.unwrap_or(now) + chrono::Duration::hours(1);
        return Err(Error::too_many(
            "too_many_emails",
            "Too many e-mails went to this address in the last hour; try again later",
            (free_at - now).num_seconds().max(1) as u64,
        ));
    }
    Ok(())
}

/// Of `addresses`, those that reached the per-address limit (for batch imports).
pub async fn addresses_over_limit(
    conn: &mut AsyncPgConnection,
    ctx: &crate::Ctx,
    addresses: &[String],
) -> Result<std::collections::HashSet<String>> {
    use diesel::sql_types::{Array, BigInt, Text, Timestamptz};
    #[derive(diesel::QueryableByName)]
    struct Over {
        #[diesel(sql_type = Text)]
        recipient: String,
    }
    let rows: Vec<Over> = crate::platform::db::sql_query(
        "SELECT recipient FROM email_deliveries
         WHERE recipient = ANY($1) AND created_at > $2 AND template = ANY($3)
         GROUP BY recipient HAVING count(*) >= $4",
    )
    .bind::<Array<Text>, _>(addresses)
    .bind::<Timestamptz, _>(ctx.now() - chrono::Duration::hours(1))
    .bind::<Array<Text>, _>(TYPED_ADDRESS_TEMPLATES)
    .bind::<BigInt, _>(i64::from(ctx.config.limits.emails_per_address_per_hour))
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.recipient).collect())
}

/// One e-mail to queue with [`queue_many`].
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub event_key: String,
    pub recipient: Email,
    pub lang: Language,
    pub kind: EmailKind,
}

/// Queues many e-mails with two statements (deliveries, then jobs), in the caller's
/// transaction. Events already queued are skipped.
pub async fn queue_many(conn: &mut AsyncPgConnection, now: DateTime<Utc>, emails: Vec<Outgoing>) -> Result<usize> {
    use diesel::sql_types::{Array, Jsonb, Text, Timestamptz, Uuid as SqlUuid};
    if emails.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(emails.len());
    let mut keys = Vec::with_capacity(emails.len());
    let mut templates = Vec::with_capacity(emails.len());
    let mut recipients = Vec::with_capacity(emails.len());
    let mut langs = Vec::with_capacity(emails.len());
    let mut params = Vec::with_capacity(emails.len());
    for e in emails {
        ids.push(Uuid::now_v7());
        templates.push(e.kind.template().to_owned());
        params.push(serde_json::to_value(&e.kind)?);
        keys.push(e.event_key);
        recipients.push(e.recipient.into_inner());
        langs.push(e.lang.as_str().to_owned());
    }
    #[derive(diesel::QueryableByName)]
    struct Inserted {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Text)]
        event_key: String,
    }
    let inserted: Vec<Inserted> = crate::platform::db::sql_query(
        "INSERT INTO email_deliveries (id, event_key, template, recipient, language, params, created_at)
         SELECT id, event_key, template, recipient, language, params, $7
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[])
              AS t(id, event_key, template, recipient, language, params)
         ON CONFLICT (event_key) DO NOTHING
         RETURNING id, event_key",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Text>, _>(&keys)
    .bind::<Array<Text>, _>(&templates)
    .bind::<Array<Text>, _>(&recipients)
    .bind::<Array<Text>, _>(&langs)
    .bind::<Array<Jsonb>, _>(&params)
    .bind::<Timestamptz, _>(now)
    .load(conn)
    .await?;
    let jobs: Vec<(SendEmail, Option<String>)> = inserted
        .iter()
        .map(|r| (SendEmail { delivery_id: r.id }, Some(r.event_key.clone())))
        .collect();
    jobs::enqueue_many(conn, &jobs).await?;
    Ok(inserted.len())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = email_deliveries)]
struct Delivery {
    id: Uuid,
    template: String,
    recipient: String,
    language: String,
    params: Value,
}

/// How long a claim protects a delivery from another worker (a crashed sender's claim
/// expires after this).
const CLAIM_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// Loads the template context of an e-mail kind from the current database state; `None`
/// when what the e-mail was about no longer exists. Supplied by `emails`, which knows
/// every kind's domain.
pub type ContextLoader = for<'a> fn(
    &'a mut AsyncPgConnection,
    &'a Ctx,
    &'a EmailKind,
) -> futures::future::BoxFuture<'a, Result<Option<Value>>>;

/// What every e-mail template may use besides its own context.
pub fn with_base(mut context: Value, portal_url: &str) -> Value {
    if let Value::Object(map) = &mut context {
        map.insert("portal_url".into(), Value::String(portal_url.to_owned()));
        map.insert("product".into(), Value::String("Partnerdesk".into()));
    }
    context
}

/// The `send_email` job `job_id`: claim the delivery, build and render it, send, mark
/// sent.
pub async fn deliver(
    ctx: &Ctx,
    pool: &Pool,
    mailer: &Mailer,
    load: ContextLoader,
    delivery_id: Uuid,
    job_id: &str,
) -> std::result::Result<(), JobError> {
    let now = ctx.now();
    let mut conn = pool.get().await.map_err(|e| JobError::Retry(e.to_string()))?;

    // A claim is free when nobody holds it, when the same job holds it (its previous
    // attempt is gone: a job runs in one worker at a time, and a lost worker's job runs
    // again only after its lease), or when it is older than any send can take.
    let claimed: Option<Delivery> = diesel::update(
        email_deliveries::table
            .filter(email_deliveries::id.eq(delivery_id))
            .filter(
                email_deliveries::status
                    .eq_any(["queued", "failed"])
                    .or(email_deliveries::status.eq("sending").and(
                        email_deliveries::claimed_by_job
                            .eq(job_id)
                            .or(email_deliveries::claimed_at.lt(now - CLAIM_TTL)),
                    )),
            ),
    )
    .set((
        email_deliveries::status.eq("sending"),
        email_deliveries::attempts.eq(email_deliveries::attempts + 1),
        email_deliveries::claimed_at.eq(now),
        email_deliveries::claimed_by_job.eq(job_id),
    ))
    .returning(Delivery::as_returning())
    .get_result(&mut conn)
    .await
    .optional()
    .map_err(Error::from)?;

    let Some(delivery) = claimed else {
        let status: Option<DeliveryStatus> = email_deliveries::table
            .find(delivery_id)
            .select(email_deliveries::status)
            .first(&mut conn)
            .await
            .optional()
            .map_err(Error::from)?;
        return match status {
            // Gone, already sent or deliberately skipped: nothing to do.
            None => Ok(()),
            Some(s) if s.is_settled() => Ok(()),
            // Another worker is sending it right now; look again later.
            Some(_) => Err(JobError::Retry(format!(
                "delivery {delivery_id} is being sent by another worker"
            ))),
        };
    };

    match send_claimed(ctx, mailer, load, &mut conn, &delivery).await {
        Ok(outcome) => {
            if matches!(outcome, Outcome::Sent) {
                metrics::counter!("partnerdesk_emails_sent_total").increment(1);
            }
            tracing::info!(delivery = %delivery.id, template = %delivery.template, ?outcome, "e-mail delivery finished");
            Ok(())
        }
        Err(err) => {
            metrics::counter!("partnerdesk_emails_failed_total").increment(1);
            let message = err.to_string();
            let _ = diesel::update(email_deliveries::table.find(delivery.id))
                .set((
                    email_deliveries::status.eq("failed"),
                    email_deliveries::last_error.eq(&message),
                ))
                .execute(&mut conn)
                .await;
            Err(err)
        }
    }
}

#[derive(Debug)]
enum Outcome {
    Sent,
    Skipped,
}

async fn send_claimed(
    ctx: &Ctx,
    mailer: &Mailer,
    load: ContextLoader,
    conn: &mut AsyncPgConnection,
    delivery: &Delivery,
) -> std::result::Result<Outcome, JobError> {
    let kind: EmailKind = serde_json::from_value(delivery.params.clone())
        .map_err(|e| JobError::Permanent(format!("delivery parameters do not decode: {e}")))?;
    let Some(context) = load(conn, ctx, &kind).await? else {
        // What the e-mail was about no longer exists.
        diesel::update(email_deliveries::table.find(delivery.id))
            .set(email_deliveries::status.eq("skipped"))
            .execute(conn)
            .await
            .map_err(Error::from)?;
        return Ok(Outcome::Skipped);
    };
    let lang = Language::from_db(&delivery.language);
    let context = with_base(context, &ctx.config.url("/"));
    let rendered = mailer.templates.render_email(&delivery.template, lang, &context)?;
    let message_id = format!("<{}@partnerdesk>", delivery.id);
    let now = ctx.now();

    match &mailer.transport {
        Transport::Smtp(smtp) => {
            let to: Mailbox = delivery.recipient.parse().map_err(|e| {
                JobError::Permanent(format!("recipient {:?} is not a mailbox: {e}", delivery.recipient))
            })?;
            let message = Message::builder()
                .from(mailer.from.clone())
                .to(to)
                .subject(rendered.subject)
                .message_id(Some(message_id))
                .multipart(MultiPart::alternative_plain_html(rendered.text, rendered.html))
                .map_err(|e| JobError::Permanent(format!("building the message: {e}")))?;
            smtp.send(message).await.map_err(|e| {
                if e.is_permanent() {
                    JobError::Permanent(format!("SMTP refused: {e}"))
                } else {
                    JobError::Retry(format!("SMTP: {e}"))
                }
            })?;
            mark_sent(conn, delivery.id, now).await?;
        }
        Transport::Outbox => {
            let sender = mailer.from.to_string();
            let delivery_id = delivery.id;
            let recipient = delivery.recipient.clone();
            conn.transaction::<_, Error, _>(async |conn| {
                diesel::insert_into(mailbox::table)
                    .values((
                        mailbox::id.eq(Uuid::now_v7()),
                        mailbox::delivery_id.eq(delivery_id),
                        mailbox::message_id.eq(&message_id),
                        mailbox::sender.eq(&sender),
                        mailbox::recipient.eq(&recipient),
                        mailbox::subject.eq(&rendered.subject),
                        mailbox::body_text.eq(&rendered.text),
                        mailbox::body_html.eq(&rendered.html),
                        mailbox::created_at.eq(now),
                    ))
                    .execute(conn)
                    .await?;
                mark_sent(conn, delivery_id, now).await?;
                Ok(())
            })
            .await?;
        }
    }
    Ok(Outcome::Sent)
}

async fn mark_sent(conn: &mut AsyncPgConnection, id: Uuid, at: DateTime<Utc>) -> Result<()> {
    diesel::update(email_deliveries::table.find(id))
        .set((
            email_deliveries::status.eq("sent"),
            email_deliveries::sent_at.eq(at),
            email_deliveries::last_error.eq(None::<String>),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A message in the development outbox.
#[derive(Debug, Clone, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = mailbox)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub message_id: String,
    pub sender: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub created_at: DateTime<Utc>,
}

/// The development outbox, newest first, optionally for one recipient.
pub async fn outbox(conn: &mut AsyncPgConnection, recipient: Option<&str>, limit: i64) -> Result<Vec<OutboxMessage>> {
    let limit = crate::platform::domain::page_limit(limit)?;
    let mut query = mailbox::table
        .order(mailbox::created_at.desc())
        .limit(limit)
        .select(OutboxMessage::as_select())
        .into_boxed();
    if let Some(r) = recipient {
        query = query.filter(mailbox::recipient.eq(r.trim().to_lowercase()));
    }
    Ok(query.load(conn).await?)
}

impl From<lettre::error::Error> for Error {
    fn from(err: lettre::error::Error) -> Self {
        Error::internal(format!("mail: {err}"))
    }
}
