//! What is sold and held: the module catalogue, releases and downloads; licences, quotes,
//! credits, trials, orders, invoices and payment links.

pub mod catalogue;
pub mod licences;
pub mod orders;
pub mod quotes;
pub mod trials;

/// The area's resources, for `api::Api`.
pub type Api = (
    licences::LicencesApi,
    quotes::QuotesApi,
    trials::TrialsApi,
    orders::OrdersApi,
    catalogue::CatalogueApi,
);
