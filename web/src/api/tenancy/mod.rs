//! The tenants and the people in them: organizations with their settings, members,
//! audit log and integrations; partners and their requests, partner registration; My
//! customers, customer invitations, and a customer's users.

pub mod audit;
pub mod customers;
pub mod integrations;
pub mod invitations;
pub mod members;
pub mod organizations;
pub mod partners;
pub mod registrations;
pub mod users;

/// The area's resources, for `api::Api`.
pub type Api = (
    organizations::OrganizationsApi,
    members::MembersApi,
    audit::AuditApi,
    integrations::IntegrationsApi,
    partners::PartnersApi,
    registrations::RegistrationApi,
    customers::CustomersApi,
    invitations::InvitationsApi,
    users::UsersApi,
);
