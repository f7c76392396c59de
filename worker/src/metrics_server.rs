//! The worker's own small HTTP listener: `/metrics` (Prometheus text) and `/healthz`.

use std::net::SocketAddr;

use partnerdesk_core::{platform::app::App, platform::telemetry};
use poem::{
    EndpointExt, Route, Server, get, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};

#[handler]
fn healthz() -> &'static str {
    "ok"
}

#[handler]
fn metrics(app: Data<&App>) -> poem::Response {
    telemetry::record_pools(&app.pool, &app.reads);
    poem::Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(telemetry::metrics().render())
}

/// Binds `addr` and serves until the task is dropped; returns the bound address (a port
/// of 0 picks a free one).
pub async fn start(app: App, addr: SocketAddr) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    telemetry::metrics();
    let acceptor = TcpListener::bind(addr).into_acceptor().await?;
    let bound = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .unwrap_or(addr);
    let routes = Route::new()
        .at("/metrics", get(metrics))
        .at("/healthz", get(healthz))
        .data(app);
    let task = tokio::spawn(async move {
        if let Err(err) = Server::new_with_acceptor(acceptor).run(routes).await {
            tracing::error!(%err, "the metrics listener stopped");
        }
    });
    tracing::info!(%bound, "worker metrics listening");
    Ok((bound, task))
}
