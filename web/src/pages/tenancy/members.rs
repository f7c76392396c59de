//! An organization's members and their permissions, and the answers to an invitation
//! to join an organization.

use partnerdesk_core::{
    Error as CoreError, platform::authz::Permission, platform::authz::Role, tenancy::members,
    tenancy::members::InviteInput, tenancy::members::UpdateInput, tenancy::memberships,
};
use poem::{Request, Response, Route, get, handler, http::StatusCode, post, web::Data, web::Path, web::Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::tenancy::members::MemberView;
use crate::pages::context::{Message, Typed, View, with};
use crate::pages::{
    NoticeQuery, caller, db, error_page, form::Form, notice::Notice, page, portal::Portal, redirect, tabs::Tab,
    tabs::permission_label, unavailable,
};
use crate::state::AppState;

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/organizations/:id/members", get(members_tab).post(invite_member))
        .at("/organizations/:id/members/:uid", post(save_member))
        .at("/organizations/:id/members/:uid/remove", post(remove_member))
        .at("/invitations/:token", get(invitation_page).post(invitation_answer))
        .at("/memberships/:org/:answer", poem::post(membership_answer))
}

const MEMBERS: (&str, &str) = ("/members", "tenancy/org_members");

/// An organization's members, each with the permissions one can give, the permissions
/// and roles the invite form offers.
#[derive(Serialize)]
struct MembersPage {
    members: Vec<MemberRow>,
    choices: Vec<PermissionChoice>,
    roles: Vec<(&'static str, &'static str)>,
}

impl MembersPage {
    fn of(members: Vec<MemberRow>) -> Self {
        MembersPage {
            members,
            choices: member_permissions(&[]),
            // From the least a member may do to the most.
            roles: Role::ALL.iter().rev().map(|r| (r.as_str(), role_label(*r))).collect(),
        }
    }

    /// The tab with no members listed: the invite form alone.
    fn empty() -> Self {
        Self::of(Vec::new())
    }
}

/// A member as the table shows it: the API's view, and the permissions to tick.
#[derive(Serialize)]
struct MemberRow {
    #[serde(flatten)]
    view: View<MemberView>,
    choices: Vec<PermissionChoice>,
}

/// A permission one can give a member, and whether the member holds it.
#[derive(Serialize)]
struct PermissionChoice {
    name: &'static str,
    label: &'static str,
    held: bool,
}

/// A role in plain words.
fn role_label(role: Role) -> &'static str {
    match role {
        Role::Administrator => "Administrator",
        Role::CompanyAdmin => "Company administrator",
        Role::Member => "Member",
    }
}

/// Permissions a member can be given, with whether `held` has each.
fn member_permissions(held: &[Permission]) -> Vec<PermissionChoice> {
    use Permission::*;
    [
        ManageMembers,
        ViewAudit,
        EditCompanyDetails,
        EditCompanySettings,
        ManageServiceProvider,
        ViewUsers,
        EditUsers,
        CreateUsers,
        ImportUsers,
        ManageIntegrations,
        ManageLicences,
        RequestPartnerStatus,
        ManageCustomers,
        CreateCustomers,
        ManagePartnerPortal,
    ]
    .iter()
    .map(|p| PermissionChoice {
        name: p.as_str(),
        label: permission_label(*p),
        held: held.contains(p),
    })
    .collect()
}

#[handler]
async fn members_tab(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    Query(q): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let tab = Tab::new(&portal, &state, id, MEMBERS);
    Ok(match members::list(&mut conn, &portal.actor, id).await {
        Ok(list) => {
            let rows = list
                .into_iter()
                .map(|m| MemberRow {
                    choices: member_permissions(&m.permissions),
                    view: View(m.into()),
                })
                .collect();
            tab.show(&mut conn, q.notice, Ok(MembersPage::of(rows))).await
        }
        // The invite form still shows, with its roles, next to the error.
        Err(e) => tab.answer(&mut conn, Err((e, MembersPage::empty()))).await,
    })
}

/// The invite-a-member form: who, the role or the permissions, the language.
#[derive(Deserialize)]
struct InviteMemberForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    permissions: Vec<String>,
    language: Option<String>,
    role: Option<String>,
}

#[handler]
async fn invite_member(
    portal: Portal,
    state: Data<&AppState>,
    Path(id): Path<Uuid>,
    form: Form<InviteMemberForm>,
) -> poem::Result<Response> {
    let input = InviteInput {
        email: form.fields.email,
        first_name: form.fields.first_name,
        last_name: form.fields.last_name,
        role: form.fields.role.as_deref().and_then(Role::parse),
        permissions: form.fields.permissions,
        language: form.fields.language,
    };
    let mut conn = db(&state).await?;
    let result = members::invite(&mut conn, &state.ctx, &portal.actor, id, input)
        .await
        .map(|_| Notice::MemberInvited)
        .map_err(|e| (e, with(MembersPage::empty(), Typed { form: &form.typed })));
    Ok(Tab::new(&portal, &state, id, MEMBERS).answer(&mut conn, result).await)
}

/// A member's row: the permissions ticked, and whether the member is active.
#[derive(Deserialize)]
struct SaveMemberForm {
    #[serde(default)]
    permissions: Vec<String>,
    active: Option<String>,
    role: Option<String>,
}

#[handler]
async fn save_member(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, uid)): Path<(Uuid, Uuid)>,
    form: Form<SaveMemberForm>,
) -> poem::Result<Response> {
    let input = UpdateInput {
        role: form.fields.role.as_deref().and_then(Role::parse),
        permissions: Some(form.fields.permissions),
        active: Some(form.fields.active.is_some()),
    };
    let mut conn = db(&state).await?;
    let result = members::update(&mut conn, &state.ctx, &portal.actor, id.into(), uid.into(), input)
        .await
        .map(|_| Notice::MemberSaved)
        .map_err(|e| (e, MembersPage::empty()));
    Ok(Tab::new(&portal, &state, id, MEMBERS).answer(&mut conn, result).await)
}

#[handler]
async fn remove_member(
    portal: Portal,
    state: Data<&AppState>,
    Path((id, uid)): Path<(Uuid, Uuid)>,
) -> poem::Result<Response> {
    let mut conn = db(&state).await?;
    let result = members::remove(&mut conn, &state.ctx, &portal.actor, id.into(), uid.into())
        .await
        .map(|_| Notice::MemberRemoved)
        .map_err(|e| (e, MembersPage::empty()));
    Ok(Tab::new(&portal, &state, id, MEMBERS).answer(&mut conn, result).await)
}

/// An invitation to join an organization, for the invited person to accept or decline
/// (after logging in).
#[derive(Serialize)]
struct InvitationPage<'a> {
    organization: String,
    email: String,
    logged_in: bool,
    next: &'a str,
}

#[handler]
async fn invitation_page(state: Data<&AppState>, req: &Request, Path(token): Path<String>) -> Response {
    let user = caller(&state, req).await;
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    match memberships::inspect_link(&mut conn, &state.ctx, &token).await {
        Ok(p) => {
            let ctx = InvitationPage {
                organization: p.organization_name,
                email: p.email,
                logged_in: user.is_some(),
                next: req.uri().path(),
            };
            page(&state, StatusCode::OK, "tenancy/invitation", ctx)
        }
        Err(e) => error_page(&state, "message", Message::titled("Invitation").with_login(), &e),
    }
}

#[derive(Deserialize)]
struct AnswerForm {
    answer: String,
}

#[handler]
async fn invitation_answer(
    state: Data<&AppState>,
    req: &Request,
    Path(token): Path<String>,
    poem::web::Form(form): poem::web::Form<AnswerForm>,
) -> Response {
    let Some(user) = caller(&state, req).await else {
        return redirect(&format!("/login?next={}", req.uri().path()));
    };
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = match form.answer.as_str() {
        "accept" => memberships::accept_link(&mut conn, &state.ctx, user, &token)
            .await
            .map(|_| ()),
        _ => match memberships::inspect_link(&mut conn, &state.ctx, &token).await {
            Ok(p) if p.user_id == user => {
                memberships::decline(&mut conn, &state.ctx, user.into(), p.organization_id.into()).await
            }
            Ok(_) => Err(CoreError::Forbidden {
                code: "invitation_for_another_account",
                message: "This invitation is for another account.".into(),
            }),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => redirect("/"),
        Err(e) => error_page(&state, "message", Message::titled("Invitation"), &e),
    }
}

#[handler]
async fn membership_answer(
    state: Data<&AppState>,
    req: &Request,
    Path((org, answer)): Path<(uuid::Uuid, String)>,
) -> Response {
    let Some(user) = caller(&state, req).await else {
        return redirect("/login");
    };
    let Ok(mut conn) = state.conn().await else {
        return unavailable(&state);
    };
    let result = match answer.as_str() {
        "accept" => memberships::accept(&mut conn, &state.ctx, user.into(), org.into()).await,
        "decline" => memberships::decline(&mut conn, &state.ctx, user.into(), org.into()).await,
        _ => Err(CoreError::not_found("page")),
    };
    match result {
        Ok(()) => redirect("/"),
        Err(e) => error_page(&state, "message", Message::titled("Invitation"), &e),
    }
}
