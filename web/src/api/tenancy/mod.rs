//! The tenants and the people in them: organizations with their members, settings and audit
//! log, partners and their requests, partner registration, My customers, customer
//! invitations, and a customer's users.

pub mod customers;
pub mod invitations;
pub mod organizations;
pub mod partners;
pub mod registrations;
pub mod users;
