//! Ids that say what they name. An organization's id and a person's id are both UUIDs in
//! the database; as [`OrgId`] and [`UserId`] (and the ids of modules, trials, licences,
//! orders, order lines, invoices, service-provider links, grant requests, delegated
//! sessions and invitations) a call that passes one where another belongs does not
//! compile. Each is stored as `uuid`, sent as the UUID's string, and converts from and
//! into a bare [`Uuid`] where a caller holds one (a path, a row).

use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[serde(transparent)]
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        #[cfg_attr(feature = "openapi", derive(poem_openapi::NewType))]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                $name(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl PartialEq<Uuid> for $name {
            fn eq(&self, other: &Uuid) -> bool {
                self.0 == *other
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;

            fn from_str(raw: &str) -> Result<Self, uuid::Error> {
                Uuid::parse_str(raw).map($name)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Uuid, diesel::pg::Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>) -> diesel::serialize::Result {
                <Uuid as diesel::serialize::ToSql<diesel::sql_types::Uuid, diesel::pg::Pg>>::to_sql(&self.0, out)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Uuid, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                <Uuid as diesel::deserialize::FromSql<diesel::sql_types::Uuid, diesel::pg::Pg>>::from_sql(bytes).map($name)
            }
        }
    };
}

uuid_id! {
    /// An organization: the vendor, a partner, a customer, anyone's own.
    OrgId
}

uuid_id! {
    /// A person's account.
    UserId
}

uuid_id! {
    /// A module of the catalogue.
    ModuleId
}

uuid_id! {
    /// A trial of one module.
    TrialId
}

uuid_id! {
    /// A business or user licence.
    LicenceId
}

uuid_id! {
    /// An order.
    OrderId
}

uuid_id! {
    /// One line of an order.
    OrderLineId
}

uuid_id! {
    /// An invoice.
    InvoiceId
}

uuid_id! {
    /// The link between a customer and its service provider.
    LinkId
}

uuid_id! {
    /// A partner's request to a customer for more permissions.
    GrantRequestId
}

uuid_id! {
    /// A management or log-in-as session of a partner's staff member.
    DelegatedSessionId
}

uuid_id! {
    /// An invitation to create an organization.
    InvitationId
}

#[cfg(test)]
mod tests {
    use super::{OrgId, UserId};

    #[test]
    fn an_id_reads_and_writes_as_its_uuid() {
        let raw = "0b6a1f52-3f5e-4c1e-9f57-2f1e5b0c9a11";
        let org: OrgId = raw.parse().unwrap();
        assert_eq!(org.to_string(), raw);
        assert_eq!(serde_json::to_value(org).unwrap(), serde_json::json!(raw));
        assert_eq!(
            serde_json::from_value::<UserId>(serde_json::json!(raw)).unwrap().uuid(),
            org.uuid()
        );
        assert!("not-an-id".parse::<OrgId>().is_err());
    }
}
