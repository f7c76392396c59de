//! Every e-mail rendered in every language, snapshotted so that wording and layout
//! changes are reviewed.

use partnerdesk_core::identity::password_links;
use partnerdesk_core::{
    commerce::orders,
    commerce::trials,
    delegation::service_providers,
    delegation::sessions,
    identity::signups,
    platform::domain::Language,
    platform::mail::{self, Templates},
    platform::money::Currency,
    tenancy::invitations,
    tenancy::memberships,
    tenancy::partners,
    tenancy::registrations,
};
use serde::Serialize;
use serde_json::{Value, json};

/// The same context types the worker sends, filled with sample values.
fn samples() -> Vec<(&'static str, Value)> {
    fn ctx<T: Serialize>(context: T) -> Value {
        mail::with_base(serde_json::to_value(context).unwrap(), "https://portal.example/")
    }
    let url = |path: &str| format!("https://portal.example{path}");
    let trial = |days| trials::TrialEmail {
        company: "Jansen".into(),
        module: "CRM connector".into(),
        ends_at: "2026-12-21 10:00 UTC".into(),
        ends_on: "2026-12-21".into(),
        days,
        max_users: 5,
    };
    let provider = |first_name: &str, for_partner| service_providers::ServiceProviderEmail {
        company: "Olsen Bakery".into(),
        partner: "Northwind".into(),
        first_name: first_name.into(),
        for_partner,
        days: 0,
        ends_on: String::new(),
    };
    vec![
        (
            "partner_request_received",
            ctx(partners::RequestReceivedEmail {
                company: "Fabrikam <Networks>".into(),
                contact_name: "Frank".into(),
            }),
        ),
        (
            "partner_request_approved",
            ctx(partners::RequestApprovedEmail {
                company: "Fabrikam".into(),
                contact_name: "Frank".into(),
                partner_code: "ABCD2345".into(),
                affiliate_link: url("/a/WXYZ6789"),
                commission_rate: "22.50".into(),
            }),
        ),
        (
            "partner_request_rejected",
            ctx(partners::RequestRejectedEmail {
                company: "Fabrikam".into(),
                contact_name: "Frank".into(),
                reason: "Enough partners in your region.".into(),
            }),
        ),
        (
            "partner_registration_link",
            ctx(registrations::LinkEmail {
                link: url("/register/partner/TOKEN"),
                expires_at: "2026-11-23 10:00 UTC".into(),
            }),
        ),
        (
            "partner_registration_existing_account",
            ctx(registrations::ExistingAccountEmail {
                login_url: url("/login"),
                reset_url: url("/password/forgot"),
            }),
        ),
        (
            "partner_registration_completed",
            ctx(registrations::CompletedEmail {
                company: "Fabrikam".into(),
                first_name: "Frank".into(),
                login_url: url("/login"),
            }),
        ),
        (
            "member_invitation",
            ctx(memberships::MemberInvitationEmail {
                organization: "Northwind".into(),
                first_name: "Sophie".into(),
                link: url("/password/TOKEN"),
                expires_at: "2026-11-24 10:00 UTC".into(),
            }),
        ),
        (
            "membership_invitation",
            ctx(memberships::MembershipInvitationEmail {
                organization: "Northwind".into(),
                first_name: "Max".into(),
                inviter: "Anna de Vries".into(),
                link: url("/invitations/TOKEN"),
                expires_at: "2026-12-05 10:00 UTC".into(),
            }),
        ),
        (
            "signup_confirmation",
            ctx(signups::ConfirmationEmail {
                first_name: "Ann".into(),
                link: url("/signup/confirm/TOKEN"),
                expires_at: "2026-11-23 10:00 UTC".into(),
            }),
        ),
        (
            "signup_existing_account",
            ctx(signups::ExistingAccountEmail {
                first_name: "Ann".into(),
                login_url: url("/login"),
                reset_url: url("/password/forgot"),
            }),
        ),
        (
            "password_reset",
            ctx(password_links::PasswordResetEmail {
                first_name: "Ann".into(),
                link: url("/password/TOKEN"),
                expires_at: "2026-11-21 11:00 UTC".into(),
            }),
        ),
        (
            "password_reset_no_account",
            ctx(password_links::NoAccountEmail {
                signup_url: url("/signup"),
            }),
        ),
        (
            "customer_invitation",
            ctx(invitations::InvitationEmail {
                company: "Visser Transport".into(),
                contact_name: "Vera Visser".into(),
                partner: "Northwind IT Services".into(),
                link: url("/register/customer/TOKEN"),
                expires_at: "2026-12-05 10:00 UTC".into(),
            }),
        ),
        (
            "customer_registered",
            ctx(invitations::RegisteredEmail {
                company: "Visser Transport".into(),
                email: "vera@visser.example".into(),
                first_name: "Anna".into(),
                customers_url: url("/"),
            }),
        ),
        ("service_provider_added", ctx(provider("Olga", false))),
        (
            "grants_requested",
            ctx(service_providers::GrantRequestEmail {
                company: "Olsen <Bakery>".into(),
                partner: "Northwind".into(),
                first_name: "Olga".into(),
                count: 2,
                message: "We need to <import> your users".into(),
                status: service_providers::RequestStatus::Open,
            }),
        ),
        (
            "grant_request_answered",
            ctx(service_providers::GrantRequestEmail {
                company: "Olsen Bakery".into(),
                partner: "Northwind".into(),
                first_name: "Anna".into(),
                count: 1,
                message: String::new(),
                status: service_providers::RequestStatus::Accepted,
            }),
        ),
        (
            "logged_in_as",
            ctx(sessions::LoggedInAsEmail {
                first_name: "Jan".into(),
                staff_name: "Anna de Vries".into(),
                partner: "Northwind".into(),
                company: "Jansen <Installatie>".into(),
                started_at: "2026-11-22 09:14 UTC".into(),
                reason: "Ticket 4711: <sync> stops".into(),
            }),
        ),
        (
            "identity_linked",
            ctx(partnerdesk_core::identity::sso::IdentityLinkedEmail {
                first_name: "Anna".into(),
                provider: "Microsoft".into(),
                provider_email: "anna@northwind.example".into(),
                linked_at: "2026-11-22 09:14 UTC".into(),
                profile_url: "https://portal.example/profile".into(),
            }),
        ),
        ("service_provider_removed", ctx(provider("Anna", true))),
        (
            "grants_ending",
            ctx(service_providers::ServiceProviderEmail {
                days: 7,
                ends_on: "2026-12-01".into(),
                ..provider("Olga", false)
            }),
        ),
        ("trial_started", ctx(trial(0))),
        ("trial_ending", ctx(trial(7))),
        ("trial_ends_today", ctx(trial(1))),
        ("trial_ended", ctx(trial(0))),
        (
            "order_confirmation",
            ctx(orders::ConfirmationEmail {
                company: "Jansen".into(),
                order_number: 1042,
                currency: Currency::EUR,
                total: "41.13".into(),
                invoice_number: "INV-2026-000042".into(),
                due_on: "2026-12-05".into(),
                payment_url: url("/pay/TOKEN"),
                lines: vec![
                    orders::OrderEmailLine {
                        description: "CRM connector business licence".into(),
                        quantity: 1,
                        amount: "25.00".into(),
                    },
                    orders::OrderEmailLine {
                        description: "CRM connector user licences".into(),
                        quantity: 2,
                        amount: "16.13".into(),
                    },
                ],
            }),
        ),
        (
            "commissions_approved",
            ctx(partnerdesk_core::earnings::commissions::ApprovedEmail {
                company: "Northwind".into(),
                count: 3,
                currency: Currency::EUR,
                amount: "12.34".into(),
                commissions_url: url("/commissions"),
            }),
        ),
        (
            "payout_paid",
            ctx(partnerdesk_core::earnings::payouts::PayoutPaidEmail {
                company: "Northwind".into(),
                number: 7,
                currency: Currency::EUR,
                amount: "98.76".into(),
                reference: "SEPA 2026-11-30".into(),
                paid_on: "2026-11-30".into(),
                payout_url: url("/payouts/0194f1c0-0000-7000-8000-000000000000"),
            }),
        ),
        (
            "invoice_paid",
            ctx(orders::InvoicePaidEmail {
                company: "Jansen".into(),
                invoice_number: "INV-2026-000042".into(),
                currency: Currency::EUR,
                amount: "41.13".into(),
                paid_on: "2026-11-21".into(),
            }),
        ),
    ]
}

#[test]
fn every_email_renders_in_every_language() {
    let templates = Templates::embedded();
    for (name, context) in samples() {
        for lang in [Language::En, Language::Nl, Language::De] {
            let r = templates
                .render_email(name, lang, &context)
                .unwrap_or_else(|e| panic!("{name} ({lang:?}): {e}"));
            assert!(
                !r.subject.is_empty() && !r.subject.contains('\n'),
                "{name}: one-line subject"
            );
            assert!(r.html.contains("<html"), "{name}: HTML uses the base layout");
            assert!(
                r.text.contains("https://portal.example/"),
                "{name}: text footer names the portal"
            );
            insta::assert_snapshot!(
                format!("{name}.{}", lang.as_str()),
                format!("Subject: {}\n\n{}\n---- html ----\n{}", r.subject, r.text, r.html)
            );
        }
    }
}

#[test]
fn html_escapes_what_people_typed_and_text_does_not() {
    let templates = Templates::embedded();
    let (_, context) = samples().into_iter().next().unwrap();
    let r = templates
        .render_email("partner_request_received", Language::En, &context)
        .unwrap();
    assert!(r.html.contains("Fabrikam &lt;Networks&gt;"));
    assert!(r.text.contains("Fabrikam <Networks>"));
}

#[test]
fn every_template_folder_has_a_sample() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/email");
    let mut folders: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let mut sampled: Vec<String> = samples().into_iter().map(|(name, _)| name.to_owned()).collect();
    sampled.sort();
    assert_eq!(folders, sampled);
}

#[test]
fn a_missing_variable_is_an_error_not_a_blank() {
    let templates = Templates::embedded();
    let err = templates
        .render_email("partner_request_rejected", Language::En, &json!({ "company": "X" }))
        .unwrap_err();
    assert!(err.to_string().contains("partner_request_rejected"), "{err}");
}
