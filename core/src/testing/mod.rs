//! Test support (feature `test-support`): an isolated database per test, cloned from a
//! template migrated once per migration set, and an SMTP sink that records what it
//! receives.

mod db;
mod smtp;

pub use db::{TestDb, failures};
pub use smtp::{ReceivedMail, SmtpSink};
