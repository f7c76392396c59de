//! Fixed sets of values, written once: each is an enum stored as text (the migrations'
//! CHECK constraints list the same words), serialized as that text, and, with the
//! `openapi` feature the web crate turns on, a `poem_openapi::Enum` so the API
//! document lists its values.

/// Declares an enum of fixed text values with its conversions.
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[cfg_attr(feature = "openapi", derive(poem_openapi::Enum))]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $text)]
                #[cfg_attr(feature = "openapi", oai(rename = $text))]
                $variant,
            )+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Each variant's name and its text, for templates (`InvoiceStatus.Open`).
            pub const VARIANTS: &'static [(&'static str, &'static str)] = &[$((stringify!($variant), $text)),+];

            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(raw: &str) -> Option<$name> {
                match raw {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The values, for messages: `a, b or c`.
            pub fn listed() -> String {
                let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                match all.split_last() {
                    Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                    _ => all.join(""),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(raw: &str) -> Result<Self, String> {
                Self::parse(raw).ok_or_else(|| format!("expected {}, got {raw:?}", Self::listed()))
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let raw = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg>>::from_sql(bytes)?;
                Self::parse(&raw).ok_or_else(|| format!("unknown {} {raw:?}", stringify!($name)).into())
            }
        }
    };
}

text_enum! {
    /// What a licence (or an order line) is for.
    pub enum LicenceKind {
        /// The organization's licence for a module.
        Business = "business",
        /// A user's licence for a module.
        User = "user",
        /// A user licence bought ahead, to assign later.
        Credit = "credit",
    }
}

text_enum! {
    /// Whether a licence is paid for or part of a trial.
    pub enum LicencePlan {
        Paid = "paid",
        Trial = "trial",
    }
}

text_enum! {
    pub enum TrialStatus {
        Active = "active",
        Ended = "ended",
        /// Turned into paid licences.
        Upgraded = "upgraded",
    }
}

text_enum! {
    pub enum InvoiceStatus {
        Open = "open",
        Paid = "paid",
        Void = "void",
    }
}

text_enum! {
    pub enum OrderStatus {
        Open = "open",
        Paid = "paid",
        Cancelled = "cancelled",
        Refunded = "refunded",
    }
}

text_enum! {
    /// How an order came about.
    pub enum OrderSource {
        /// Licences activated by the organization or its administrator.
        Activation = "activation",
        /// Credits bought ahead.
        Credits = "credits",
        /// A trial turned into paid licences.
        TrialUpgrade = "trial_upgrade",
        /// Products a partner added for its customer.
        AddProducts = "add_products",
    }
}

text_enum! {
    pub enum IntegrationKind {
        PhoneConnector = "phone_connector",
        Crm = "crm",
        Erp = "erp",
    }
}

text_enum! {
    /// How a customer came to its partner.
    pub enum CustomerOrigin {
        /// Registered through the partner's invitation.
        Invitation = "invitation",
        /// Created by the partner.
        CreatedByPartner = "created_by_partner",
        /// Chose the partner by its code.
        ChosenByCustomer = "chosen_by_customer",
    }
}

text_enum! {
    pub enum CustomerType {
        Customer = "CUSTOMER",
        Prospect = "PROSPECT",
        Partner = "PARTNER",
        Test = "TEST",
        Internal = "INTERNAL",
    }
}

text_enum! {
    /// A software release channel.
    pub enum Channel {
        Alpha = "alpha",
        Beta = "beta",
        Stable = "stable",
    }
}

text_enum! {
    pub enum PartnerRequestStatus {
        Open = "open",
        Approved = "approved",
        Rejected = "rejected",
    }
}

text_enum! {
    pub enum PartnerStanding {
        Active = "active",
        Suspended = "suspended",
    }
}

text_enum! {
    /// Where a customer invitation stands.
    pub enum InvitationStatus {
        Open = "open",
        Accepted = "accepted",
        Revoked = "revoked",
        Expired = "expired",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_list_themselves() {
        for kind in LicenceKind::ALL {
            assert_eq!(LicenceKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(LicenceKind::listed(), "business, user or credit");
        assert_eq!("CUSTOMER".parse::<CustomerType>(), Ok(CustomerType::Customer));
        assert!("customer".parse::<CustomerType>().is_err());
        assert_eq!(
            serde_json::to_value(OrderSource::TrialUpgrade).unwrap(),
            "trial_upgrade"
        );
    }
}
