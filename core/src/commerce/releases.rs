//! Software releases per channel (alpha, beta, stable) with release notes and signed,
//! expiring download links. What a customer sees follows its settings: no beta unless
//! beta is allowed, alpha only for the vendor's test organizations, and with updates
//! off nothing published after updates were switched off.

use chrono::{DateTime, Duration, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use pulldown_cmark::{Event, Options, Parser, Tag, html};
use serde_json::json;
use uuid::Uuid;

use crate::platform::audit::Action;
use crate::platform::ids::OrgId;
use crate::platform::op;
use crate::{
    Ctx, Error, FieldError, Result,
    platform::authz::{Actor, Permission},
    platform::config::Config,
    platform::domain::required_text,
    platform::error::{Validator, validated},
    platform::links,
    platform::values::{Channel, CustomerType},
    schema::releases,
    tenancy::organizations,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = releases)]
pub struct Release {
    pub id: Uuid,
    pub version: String,
    pub channel: Channel,
    pub notes_md: String,
    pub file_location: String,
    pub published_by: Option<Uuid>,
    pub published_at: DateTime<Utc>,
}

/// Release notes as HTML. Raw HTML in the Markdown is shown as text, not run, and links
/// or images other than http(s) and mailto lose their target.
pub fn render_notes(markdown: &str) -> String {
    fn safe(url: &str) -> bool {
        let lower = url.trim().to_ascii_lowercase();
        lower.starts_with("https://")
            || lower.starts_with("http://")
            || lower.starts_with("mailto:")
            || lower.starts_with('#')
    }
    let parser =
        Parser::new_ext(markdown, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|event| match event {
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) if !safe(&dest_url) => Event::Start(Tag::Link {
                link_type,
                dest_url: "#".into(),
                title,
                id,
            }),
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) if !safe(&dest_url) => Event::Start(Tag::Image {
                link_type,
                dest_url: "#".into(),
                title,
                id,
            }),
            other => other,
        });
    let mut out = String::new();
    html::push_html(&mut out, parser);
    out
}

#[derive(Debug, Clone, Default)]
pub struct ReleaseInput {
    pub version: String,
    pub channel: String,
    pub notes_md: Option<String>,
    pub file_location: String,
}

/// Publishes a release (vendor administrators).
pub async fn publish(conn: &mut AsyncPgConnection, ctx: &Ctx, actor: &Actor, input: ReleaseInput) -> Result<Release> {
    op::run(
        conn,
        ctx,
        actor,
        op::Scope::Vendor,
        Permission::VendorAdmin,
        async |op| {
            let mut v = Validator::new();
            let version = v.check(required_text("version", &input.version, 50));
            let channel = Channel::parse(&input.channel.trim().to_lowercase());
            if channel.is_none() {
                v.push(FieldError::new(
                    "channel",
                    "invalid_channel",
                    format!("Channel must be {}", Channel::listed()),
                ));
            }
            let location = v.check(required_text("file_location", &input.file_location, 2000));
            if let Some(l) = &location
                && !(l.starts_with("https://") || l.starts_with("http://"))
            {
                v.push(FieldError::new(
                    "file_location",
                    "invalid_url",
                    "The file location must be an http(s) URL",
                ));
            }
            v.finish()?;
            let r = diesel::insert_into(releases::table)
                .values((
                    releases::id.eq(Uuid::now_v7()),
                    releases::version.eq(validated(version.clone())),
                    releases::channel.eq(validated(channel)),
                    releases::notes_md.eq(input.notes_md.clone().unwrap_or_default()),
                    releases::file_location.eq(validated(location.clone())),
                    releases::published_by.eq(actor.user_id),
                    releases::published_at.eq(op.now),
                ))
                .returning(Release::as_returning())
                .get_result(op.conn)
                .await?;
            op.audit(
                Action::ReleasePublished,
                r.id,
                json!({ "version": r.version, "channel": r.channel }),
            )
            .await?;
            Ok(r)
        },
    )
    .await
}

/// Every release, newest first (vendor administrators).
pub async fn list_all(conn: &mut AsyncPgConnection, actor: &Actor) -> Result<Vec<Release>> {
    op::grant(conn, actor, op::Scope::Vendor, Permission::VendorAdmin).await?;
    Ok(releases::table
        .order((releases::published_at.desc(), releases::id.desc()))
        .select(Release::as_select())
        .load(conn)
        .await?)
}

/// The releases the acting organization may install, newest first.
pub async fn visible(conn: &mut AsyncPgConnection, actor: &Actor) -> Result<Vec<Release>> {
    let org_id = actor.acting_org.ok_or_else(Error::no_organization)?;
    let org_id = op::grant(conn, actor, org_id.into(), Permission::DownloadSoftware)
        .await?
        .org();
    let org = organizations::find(conn, org_id).await?;
    let frozen: Option<DateTime<Utc>> = crate::schema::organizations::table
        .find(org_id)
        .select(crate::schema::organizations::updates_frozen_at)
        .first(conn)
        .await?;
    let mut channels = vec![Channel::Stable];
    if org.allow_beta {
        channels.push(Channel::Beta);
    }
    if org.is_vendor || org.customer_type == CustomerType::Test {
        channels.push(Channel::Alpha);
    }
    let mut q = releases::table
        .filter(releases::channel.eq_any(channels))
        .order((releases::published_at.desc(), releases::id.desc()))
        .select(Release::as_select())
        .into_boxed();
    if !org.allow_updates
        && let Some(at) = frozen
    {
        q = q.filter(releases::published_at.le(at));
    }
    Ok(q.load(conn).await?)
}

/// A download link that works until it expires (DOWNLOAD_LINK_TTL_HOURS).
pub fn download_url(config: &Config, release: Uuid, org: OrgId, now: DateTime<Utc>) -> String {
    let expires = (now + Duration::from_std(config.download_link_ttl).unwrap_or(Duration::days(7))).timestamp();
    links::download(config, release, org.uuid(), expires)
}

/// Checks a download link; the file's location when valid.
pub async fn resolve_download(
    conn: &mut AsyncPgConnection,
    ctx: &Ctx,
    release: Uuid,
    org: OrgId,
    expires: i64,
    sig: &str,
) -> Result<String> {
    if !links::download_signature_valid(&ctx.config, release, org.uuid(), expires, sig) {
        return Err(Error::Forbidden {
            code: "invalid_signature",
            message: "This download link is not valid".into(),
        });
    }
    if expires <= ctx.now().timestamp() {
        return Err(Error::gone(
            "link_expired",
            "This download link has expired; get a new one from the portal",
        ));
    }
    // A link outlives nothing of its organization: deactivated, it downloads nothing.
    if !crate::platform::authz::organization_active(conn, org.uuid()).await? {
        return Err(Error::conflict(
            "organization_inactive",
            None,
            "The organization is deactivated; activate it first",
        ));
    }
    let location: String = releases::table
        .find(release)
        .select(releases::file_location)
        .first(conn)
        .await
        .optional()?
        .ok_or(Error::not_found("release"))?;
    Ok(location)
}

#[cfg(test)]
mod tests {
    use super::render_notes;

    #[test]
    fn notes_render_markdown_but_not_scripts() {
        let html = render_notes(
            "## New\n- **bold** [docs](https://vendor.example/docs)\n\n<script>alert(1)</script>\n\nSee [x](javascript:alert(1)) ![i](data:x)",
        );
        assert!(html.contains("<h2>New</h2>") && html.contains("<strong>bold</strong>"));
        assert!(html.contains(r#"href="https://vendor.example/docs""#));
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(
            !html.contains("href=\"javascript:") && !html.contains("src=\"data:"),
            "{html}"
        );
        assert!(html.contains(r##"<a href="#">x</a>"##), "{html}");
    }
}
