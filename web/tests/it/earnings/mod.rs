//! Earnings: commissions and payouts.

mod commissions;
