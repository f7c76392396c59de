//! Every public link the product builds, in one place: the page it leads to, the purpose
//! its token is derived for, and how download links are signed.
//!
//! E-mailed links carry a token derived from `(purpose, row id, generation)` with the
//! server secret (see `tokens`), so the worker can rebuild a link when it sends the
//! e-mail while the database holds only the token's SHA-256; bumping the generation
//! retires older links. A web test checks that every path here is served by a route.

use uuid::Uuid;

use crate::{platform::config::Config, platform::tokens};

/// A link that carries a token derived from a row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Set a password: an invitation of a new address, or a password reset.
    Password,
    /// Confirm the address of a sign-up.
    SignupConfirmation,
    /// Accept or decline joining an organization.
    MembershipInvitation,
    /// Register a company through a partner's invitation.
    CustomerRegistration,
    /// Complete a partner self-registration.
    PartnerRegistration,
    /// See and pay an invoice.
    Payment,
}

impl Link {
    pub const ALL: &'static [Link] = &[
        Link::Password,
        Link::SignupConfirmation,
        Link::MembershipInvitation,
        Link::CustomerRegistration,
        Link::PartnerRegistration,
        Link::Payment,
    ];

    /// What the token is derived for; a token for one purpose is worthless for another.
    fn purpose(&self) -> &'static str {
        match self {
            Link::Password => "password",
            Link::SignupConfirmation => "signup",
            Link::MembershipInvitation => "membership_invitation",
            Link::CustomerRegistration => "customer_invitation",
            Link::PartnerRegistration => "partner_registration",
            Link::Payment => "payment",
        }
    }

    /// The page, up to the token.
    pub fn path(&self) -> &'static str {
        match self {
            Link::Password => "/password/",
            Link::SignupConfirmation => "/signup/confirm/",
            Link::MembershipInvitation => "/invitations/",
            Link::CustomerRegistration => "/register/customer/",
            Link::PartnerRegistration => "/register/partner/",
            Link::Payment => "/pay/",
        }
    }

    /// The token of the link for row `id` at `generation`.
    pub fn token(&self, secret: &[u8], id: Uuid, generation: i32) -> String {
        tokens::link_token(secret, self.purpose(), id, generation)
    }

    /// What the database stores: the token's SHA-256.
    pub fn token_hash(&self, secret: &[u8], id: Uuid, generation: i32) -> String {
        tokens::hash(&self.token(secret, id, generation))
    }

    /// The absolute URL of the link for row `id` at `generation`.
    pub fn url(&self, config: &Config, id: Uuid, generation: i32) -> String {
        config.url(&format!(
            "{}{}",
            self.path(),
            self.token(&config.secret_key, id, generation)
        ))
    }
}

/// Pages e-mails point to without a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Portal,
    Login,
    SignUp,
    ForgotPassword,
    Profile,
    /// A partner's commissions.
    Commissions,
}

impl Page {
    pub const ALL: &'static [Page] = &[
        Page::Portal,
        Page::Login,
        Page::SignUp,
        Page::ForgotPassword,
        Page::Profile,
        Page::Commissions,
    ];

    pub fn path(&self) -> &'static str {
        match self {
            Page::Portal => "/",
            Page::Login => "/login",
            Page::SignUp => "/signup",
            Page::ForgotPassword => "/password/forgot",
            Page::Profile => "/profile",
            Page::Commissions => "/commissions",
        }
    }

    pub fn url(&self, config: &Config) -> String {
        config.url(self.path())
    }
}

/// A partner's affiliate link.
pub const AFFILIATE_PATH: &str = "/a/";

pub fn affiliate(config: &Config, affiliate_code: &str) -> String {
    config.url(&format!("{AFFILIATE_PATH}{affiliate_code}"))
}

/// One payout, as its partner and vendor finance see it.
pub const PAYOUT_PATH: &str = "/payouts/";

pub fn payout(config: &Config, payout: Uuid) -> String {
    config.url(&format!("{PAYOUT_PATH}{payout}"))
}

/// Download links: signed over the release and an expiry time.
pub const DOWNLOAD_PATH: &str = "/downloads/";
const DOWNLOAD_PURPOSE: &str = "download";

fn download_message(release: Uuid, org: Uuid, expires: i64) -> String {
    format!("{release}:{org}:{expires}")
}

/// A signed link for `org` to download a release, valid until `expires` (Unix seconds).
/// The organization is part of the link, so the link stops working when it does.
pub fn download(config: &Config, release: Uuid, org: Uuid, expires: i64) -> String {
    let sig = tokens::sign(
        &config.secret_key,
        DOWNLOAD_PURPOSE,
        &download_message(release, org, expires),
    );
    config.url(&format!(
        "{DOWNLOAD_PATH}{release}?org={org}&expires={expires}&sig={sig}"
    ))
}

/// Whether a download link's signature is genuine (its expiry and organization are
/// checked by the caller).
pub fn download_signature_valid(config: &Config, release: Uuid, org: Uuid, expires: i64, sig: &str) -> bool {
    tokens::verify(
        &config.secret_key,
        DOWNLOAD_PURPOSE,
        &download_message(release, org, expires),
        sig,
    )
}

/// Every path a link leads to, with `{}` for the variable part: what the web service
/// must serve.
pub fn paths() -> Vec<String> {
    let mut out: Vec<String> = Link::ALL.iter().map(|l| format!("{}{{}}", l.path())).collect();
    out.extend(Page::ALL.iter().map(|p| p.path().to_owned()));
    out.push(format!("{AFFILIATE_PATH}{{}}"));
    out.push(format!("{PAYOUT_PATH}{{}}"));
    out.push(format!("{DOWNLOAD_PATH}{{}}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_per_purpose_and_generation() {
        let id = Uuid::now_v7();
        let secret = b"secret";
        let all: Vec<String> = Link::ALL.iter().map(|l| l.token(secret, id, 1)).collect();
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len());
        assert_ne!(Link::Password.token(secret, id, 1), Link::Password.token(secret, id, 2));
    }
}
