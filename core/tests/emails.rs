//! Every e-mail rendered in every language, snapshotted so that wording and layout
//! changes are reviewed.

use partnerdesk_core::{domain::Language, mail::Templates};
use serde_json::{Value, json};

fn samples() -> Vec<(&'static str, Value)> {
    let base = |v: Value| {
        let mut v = v;
        v["portal_url"] = json!("https://portal.example/");
        v["product"] = json!("Partnerdesk");
        v
    };
    vec![
        (
            "partner_request_received",
            base(json!({ "company": "Fabrikam <Networks>", "contact_name": "Frank" })),
        ),
        (
            "partner_request_approved",
            base(json!({
                "company": "Fabrikam", "contact_name": "Frank", "partner_code": "ABCD2345",
                "affiliate_link": "https://portal.example/a/WXYZ6789", "commission_rate": "22.50"
            })),
        ),
        (
            "partner_request_rejected",
            base(
                json!({ "company": "Fabrikam", "contact_name": "Frank", "reason": "Enough partners in your region." }),
            ),
        ),
        (
            "partner_registration_link",
            base(
                json!({ "link": "https://portal.example/register/partner/TOKEN", "expires_at": "2026-11-23 10:00 UTC" }),
            ),
        ),
        (
            "partner_registration_existing_account",
            base(
                json!({ "login_url": "https://portal.example/login", "reset_url": "https://portal.example/password/forgot" }),
            ),
        ),
        (
            "partner_registration_completed",
            base(json!({ "company": "Fabrikam", "first_name": "Frank", "login_url": "https://portal.example/login" })),
        ),
        (
            "member_invitation",
            base(
                json!({ "organization": "Northwind", "first_name": "Sophie", "link": "https://portal.example/password/TOKEN", "expires_at": "2026-11-24 10:00 UTC" }),
            ),
        ),
        (
            "membership_invitation",
            base(json!({
                "organization": "Northwind", "first_name": "Max", "inviter": "Anna de Vries",
                "link": "https://portal.example/invitations/TOKEN", "expires_at": "2026-12-05 10:00 UTC"
            })),
        ),
        (
            "signup_confirmation",
            base(
                json!({ "first_name": "Lena", "link": "https://portal.example/signup/confirm/TOKEN", "expires_at": "2026-11-22 10:00 UTC" }),
            ),
        ),
        (
            "signup_existing_account",
            base(json!({
                "first_name": "Lena", "login_url": "https://portal.example/login",
                "reset_url": "https://portal.example/password/forgot"
            })),
        ),
        (
            "password_reset",
            base(
                json!({ "first_name": "Lena", "link": "https://portal.example/password/TOKEN", "expires_at": "2026-11-21 11:00 UTC" }),
            ),
        ),
        (
            "password_reset_no_account",
            base(json!({ "signup_url": "https://portal.example/signup" })),
        ),
        (
            "customer_invitation",
            base(json!({
                "company": "Visser Transport", "contact_name": "Vera Visser", "partner": "Northwind IT Services",
                "link": "https://portal.example/register/customer/TOKEN", "expires_at": "2026-12-05 10:00 UTC"
            })),
        ),
        (
            "customer_registered",
            base(
                json!({ "company": "Visser Transport", "email": "vera@visser.example", "first_name": "Anna", "customers_url": "https://portal.example/" }),
            ),
        ),
        (
            "service_provider_added",
            base(
                json!({ "company": "Olsen Bakery", "partner": "Northwind", "first_name": "Olga", "for_partner": false }),
            ),
        ),
        (
            "service_provider_removed",
            base(
                json!({ "company": "Olsen Bakery", "partner": "Northwind", "first_name": "Anna", "for_partner": true }),
            ),
        ),
        (
            "trial_started",
            base(
                json!({ "company": "Jansen", "module": "CRM connector", "ends_at": "2026-12-21 10:00 UTC", "ends_on": "2026-12-21", "days": 0, "max_users": 5 }),
            ),
        ),
        (
            "trial_ending",
            base(
                json!({ "company": "Jansen", "module": "CRM connector", "ends_at": "2026-12-21 10:00 UTC", "ends_on": "2026-12-21", "days": 7, "max_users": 5 }),
            ),
        ),
        (
            "trial_ends_today",
            base(
                json!({ "company": "Jansen", "module": "CRM connector", "ends_at": "2026-12-21 10:00 UTC", "ends_on": "2026-12-21", "days": 1, "max_users": 5 }),
            ),
        ),
        (
            "trial_ended",
            base(
                json!({ "company": "Jansen", "module": "CRM connector", "ends_at": "2026-12-21 10:00 UTC", "ends_on": "2026-12-21", "days": 0, "max_users": 5 }),
            ),
        ),
        (
            "order_confirmation",
            base(json!({
                "company": "Jansen", "order_number": 1042, "currency": "EUR", "total": "41.13", "invoice_number": "INV-2026-000042",
                "due_on": "2026-12-05", "payment_url": "https://portal.example/pay/TOKEN",
                "lines": [
                    { "description": "CRM connector business licence", "quantity": 1, "amount": "25.00" },
                    { "description": "CRM connector user licences", "quantity": 2, "amount": "16.13" }
                ]
            })),
        ),
        (
            "invoice_paid",
            base(
                json!({ "company": "Jansen", "invoice_number": "INV-2026-000042", "currency": "EUR", "amount": "41.13", "paid_on": "2026-11-21" }),
            ),
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
fn a_missing_variable_is_an_error_not_a_blank() {
    let templates = Templates::embedded();
    let err = templates
        .render_email("partner_request_rejected", Language::En, &json!({ "company": "X" }))
        .unwrap_err();
    assert!(err.to_string().contains("partner_request_rejected"), "{err}");
}
