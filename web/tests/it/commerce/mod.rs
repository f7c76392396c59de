//! Commerce: modules, licences, quotes, trials, orders and invoices.

mod licences;
