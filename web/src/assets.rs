//! Files the binary serves itself (no CDN, no build step): embedded at compile time and
//! named by a hash of their content, so a browser may keep them for good and a new
//! release is fetched anew.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    sync::LazyLock,
};

use poem::{
    IntoResponse, Response, handler,
    http::{StatusCode, header},
    web::Path,
};

/// An embedded file and the path it is served at.
pub struct Asset {
    pub path: String,
    content_type: &'static str,
    body: &'static str,
}

impl Asset {
    fn new(stem: &str, extension: &str, content_type: &'static str, body: &'static str) -> Self {
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        Asset {
            path: format!("/assets/{stem}-{:016x}.{extension}", hasher.finish()),
            content_type,
            body,
        }
    }
}

/// The portal's stylesheet (`web/assets/portal.css`).
pub static STYLESHEET: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "portal",
        "css",
        "text/css; charset=utf-8",
        include_str!("../assets/portal.css"),
    )
});

/// The portal's own script (`web/assets/portal.js`): copy buttons and confirmations.
/// Pages work without it.
pub static SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "portal",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/portal.js"),
    )
});

fn all() -> [&'static Asset; 2] {
    [&STYLESHEET, &SCRIPT]
}

/// `GET /assets/:name`: an embedded file, cached for a year; anything else 404.
#[handler]
pub fn serve(Path(name): Path<String>) -> Response {
    match all()
        .into_iter()
        .find(|a| a.path.rsplit('/').next() == Some(name.as_str()))
    {
        Some(asset) => Response::builder()
            .content_type(asset.content_type)
            .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
            .body(asset.body),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
