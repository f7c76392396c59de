//! Across the house: authorization of every endpoint, abuse bounds, the API document and
//! its edges, links, list read models, the replica, resilience, scale, and what each hot
//! request costs the database (statement counts and query plans).

mod abuse;
mod api_docs;
mod api_edge;
mod authorization;
mod left_behind;
mod links;
mod listing;
mod plans;
mod replica;
mod resilience;
mod scale;
mod statements;
