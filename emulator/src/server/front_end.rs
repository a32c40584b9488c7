//! ACI's front end for a group's public name and address: a plain HTTP request
//! for `<dnsNameLabel>.<region>.azurecontainer.io`, or for the IP ARM reports
//! for a group the engine runs (through the proxy, or with that `Host`), is
//! forwarded to the group's container, where the engine published
//! the port on 127.0.0.1 ([`crate::runtime::containers`]). Nothing else is
//! reachable this way: a name no running group of this emulator holds, or a
//! port it does not expose, gets 502. `CONNECT` to such a name or IP gets a
//! plain TCP tunnel to the same port (`server::connect_group`).

use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use hyper_util::rt::TokioIo;

pub(super) fn bad_gateway(why: String) -> Response {
    (StatusCode::BAD_GATEWAY, format!("azemu: {why}\n")).into_response()
}

pub async fn forward(State(state): State<AppState>, mut req: Request<Body>) -> Response {
    let authority = crate::web::host_header(req.headers()).to_string();
    let host = super::hosts::host_of(&authority);
    let port = authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(80u16);
    let st = state.clone();
    let h = host.clone();
    let found =
        crate::web::blocking(move || st.containers.endpoint(st.store.as_ref(), &h, port)).await;
    let Some(local) = found else {
        return bad_gateway(format!(
            "no container group running here answers {host}:{port}"
        ));
    };
    let stream = match tokio::net::TcpStream::connect(("127.0.0.1", local)).await {
        Ok(s) => s,
        Err(e) => return bad_gateway(format!("{host}:{port}: {e}")),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(x) => x,
        Err(e) => return bad_gateway(format!("{host}:{port}: {e}")),
    };
    tokio::spawn(conn);
    // Origin form, as the container's server expects it.
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    *req.uri_mut() = path.parse().unwrap_or_default();
    match sender.send_request(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => bad_gateway(format!("{host}:{port}: {e}")),
    }
}
