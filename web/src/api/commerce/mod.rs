//! What is sold and held: the module catalogue, releases and downloads; licences, quotes,
//! credits, trials, orders, invoices and payment links.

pub mod catalogue;
pub mod licences;
