//! Billing: the monthly billing runs and their files.

mod runs;
