//! The tenants and the people in them. The vendor, partners and customers are all
//! [`organizations`]; a person's place in one is a membership.
//!
//! * [`memberships`]: the person's side (accepting, declining, leaving, the consent
//!   joining takes); [`members`]: the administrators' side (inviting, roles and
//!   permissions, removing); [`users`]: a customer's users (adding, importing from CSV,
//!   the overview, the heartbeat of the installed software).
//! * [`partners`]: partner requests and the sales team's decision;
//!   [`registrations`]: a partner company registering itself.
//! * [`customers`]: "My customers", a partner's customer organizations;
//!   [`invitations`]: inviting a customer to register.
//! * [`integrations`]: the connectors a company manages.

pub mod customers;
pub mod integrations;
pub mod invitations;
pub mod members;
pub mod memberships;
pub mod organizations;
pub mod partners;
pub mod registrations;
pub mod users;
