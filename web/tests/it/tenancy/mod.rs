//! Tenancy: organizations, members, partners and their registration, customers,
//! invitations, users.

mod customers;
mod invitations;
mod members;
mod organizations;
mod partner_onboarding;
mod registration;
mod users;
