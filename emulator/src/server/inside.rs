//! The managed-identity endpoint containers reach: plain HTTP on the address
//! the host holds on the container engine's network (its gateway), at a port
//! the system picks, serving `GET|POST /msi/token` and nothing else
//! ([`crate::entra::msi::inside_token`]). It is bound to that address only, so
//! nothing beyond the machine reaches it; which group a request is from is
//! decided by its source address ([`crate::runtime::containers::Containers::group_at`]).

use crate::state::AppState;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use tower::ServiceExt;

use crate::runtime::containers::INSIDE_TOKEN_PATH as TOKEN_PATH;

/// What [`crate::runtime::containers::Containers::attach`] starts the endpoint with.
pub fn serve(state: AppState) -> crate::runtime::containers::ServeInside {
    Box::new(move |gateway| Box::pin(listen(state, gateway)))
}

/// Listen on `gateway` and serve the endpoint in the background: the address bound.
pub async fn listen(state: AppState, gateway: IpAddr) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind((gateway, 0)).await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route(
            TOKEN_PATH,
            axum::routing::get(crate::entra::msi::inside_token)
                .post(crate::entra::msi::inside_token),
        )
        .fallback(not_here)
        .layer(axum::extract::DefaultBodyLimit::max(crate::web::MAX_BODY))
        .with_state(state);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(%addr, "the managed-identity endpoint for containers: {e}");
                    continue;
                }
            };
            let app = app.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    app.clone().oneshot(req.map(axum::body::Body::new))
                });
                // A client may close its side once it has sent the request (`nc`).
                let served = hyper::server::conn::http1::Builder::new()
                    .half_close(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
                if let Err(e) = served {
                    tracing::debug!(%peer, "identity endpoint connection: {e}");
                }
            });
        }
    });
    Ok(addr)
}

/// Anything but the token path: App Service's error shape, 404.
async fn not_here(uri: http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        http::StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "statusCode": 404,
            "message": format!("No managed-identity endpoint is served at {}; use {TOKEN_PATH}.", uri.path()),
            "correlationId": uuid::Uuid::new_v4().to_string(),
        })),
    )
        .into_response()
}
