//! The portal in a real browser: its pages for every role, whole journeys, and what every
//! page is served with.

mod portal_journeys;
mod portal_pages;
mod served;
