//! What partners earn and receive.
//!
//! * [`commissions`]: attribution of a customer to the partner that earns on it, and
//!   commissions earned on paid order lines, exact to the cent (the module doc is the
//!   specification).
//! * [`payouts`]: refunds (credit notes that reduce, reverse or claw back
//!   commissions) and payouts of approved commissions to partners.

pub mod commissions;
pub mod payouts;
