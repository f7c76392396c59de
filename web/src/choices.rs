//! `core`'s enums as templates read them, as globals, so no template repeats an enum's
//! values: what a form's selects offer (each value with its English label, which the
//! template translates with `t`), and each enum's values by variant name for
//! comparisons (`{% if p.status == PayoutStatus.Open %}`).

use std::collections::BTreeMap;

use partnerdesk_core::billing::BillingRunStatus;
use partnerdesk_core::delegation::service_providers::RequestStatus;
use partnerdesk_core::earnings::commissions::{Kind, State};
use partnerdesk_core::earnings::payouts::PayoutStatus;
use partnerdesk_core::platform::authz::{DelegationKind, Role};
use partnerdesk_core::platform::values::{
    Channel, CustomerType, InvoiceStatus, LicencePlan, PartnerRequestStatus, TrialStatus,
};

/// A select's options: `(value, label)`, read in templates as `o[0]` and `o[1]`.
pub(crate) type Choices = Vec<(&'static str, &'static str)>;

fn of<E: Copy>(all: &[E], value: fn(&E) -> &'static str, label: fn(E) -> &'static str) -> Choices {
    all.iter().map(|e| (value(e), label(*e))).collect()
}

/// The globals: `languages`, `customer_types`, `commission_kinds`, `commission_states`,
/// `invoice_statuses` and `release_channels`.
pub(crate) fn globals() -> Vec<(&'static str, Choices)> {
    vec![
        ("languages", crate::i18n::LANGUAGE_NAMES.to_vec()),
        (
            "customer_types",
            of(CustomerType::ALL, CustomerType::as_str, customer_type),
        ),
        ("commission_kinds", of(Kind::ALL, Kind::as_str, commission_kind)),
        // The states read as they are written (translated by their own words).
        ("commission_states", of(State::ALL, State::as_str, |s| s.as_str())),
        (
            "invoice_statuses",
            of(InvoiceStatus::ALL, InvoiceStatus::as_str, invoice_status),
        ),
        // Stable first: what most releases are.
        (
            "release_channels",
            of(
                &[Channel::Stable, Channel::Beta, Channel::Alpha],
                Channel::as_str,
                channel,
            ),
        ),
    ]
}

/// Each enum templates compare with, by its name: variant name → value.
pub(crate) fn enums() -> Vec<(&'static str, BTreeMap<&'static str, &'static str>)> {
    let of = |variants: &'static [(&'static str, &'static str)]| variants.iter().copied().collect();
    vec![
        ("BillingRunStatus", of(BillingRunStatus::VARIANTS)),
        ("CommissionState", of(State::VARIANTS)),
        ("DelegationKind", of(DelegationKind::VARIANTS)),
        ("GrantRequestStatus", of(RequestStatus::VARIANTS)),
        ("InvoiceStatus", of(InvoiceStatus::VARIANTS)),
        ("LicencePlan", of(LicencePlan::VARIANTS)),
        ("PartnerRequestStatus", of(PartnerRequestStatus::VARIANTS)),
        ("PayoutStatus", of(PayoutStatus::VARIANTS)),
        ("Role", of(Role::VARIANTS)),
        ("TrialStatus", of(TrialStatus::VARIANTS)),
    ]
}

fn customer_type(t: CustomerType) -> &'static str {
    match t {
        CustomerType::Customer => "Customer",
        CustomerType::Prospect => "Prospect",
        CustomerType::Partner => "Partner",
        CustomerType::Test => "Test",
        CustomerType::Internal => "Internal",
    }
}

fn commission_kind(k: Kind) -> &'static str {
    match k {
        Kind::Partner => "Partner",
        Kind::Affiliate => "Affiliate",
        Kind::SelfChosen => "Self",
    }
}

fn invoice_status(s: InvoiceStatus) -> &'static str {
    match s {
        InvoiceStatus::Open => "Open",
        InvoiceStatus::Paid => "Paid",
        InvoiceStatus::Void => "Void",
    }
}

fn channel(c: Channel) -> &'static str {
    match c {
        Channel::Alpha => "Alpha",
        Channel::Beta => "Beta",
        Channel::Stable => "Stable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_of_each_enum_is_offered_once() {
        let offered: std::collections::HashMap<_, _> = globals().into_iter().collect();
        assert_eq!(offered["customer_types"].len(), CustomerType::ALL.len());
        assert_eq!(offered["release_channels"].len(), Channel::ALL.len());
        assert_eq!(offered["commission_states"].len(), State::ALL.len());
        for choices in offered.values() {
            let mut values: Vec<_> = choices.iter().map(|c| c.0).collect();
            values.sort();
            values.dedup();
            assert_eq!(values.len(), choices.len());
        }
    }
}
