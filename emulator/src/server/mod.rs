//! One port, three ways in. The first byte of each connection decides:
//! - `0x16` (a TLS ClientHello): TLS with a certificate for the SNI name, then HTTP/1.1;
//! - anything else: plain HTTP/1.1, where `CONNECT host:443` for an emulated
//!   host opens a tunnel and TLS starts inside it (transparent mode),
//!   `CONNECT` to a running container group's name or IP a plain tunnel to its
//!   port, and other requests are served as they are (managed-identity endpoints are plain HTTP).
//!
//! Every request gets a [`Transport`] extension saying how it arrived. Its
//! `Host` picks the router: registries, public registries and the storage
//! account have their own; local names get the full [`router`]; Azure's own
//! names get [`azure_router`], which has no control API. Paths under
//! `/_emulator` and `/metadata/identity` first pass [`crate::admin::guard`].
//!
//! Refusals made here are in the addressed plane's shape ([`planes`]):
//! headers over [`MAX_HEADER_BYTES`] (431), a declared body over the plane's
//! limit (413, before it is read), and a framework's own plain-text 413 (a
//! body streamed past an extractor's limit). Framing is hyper's: conflicting
//! `Content-Length`s and a `Transfer-Encoding` not ending in `chunked` get 400;
//! `Content-Length` beside `Transfer-Encoding: chunked` is read as chunked and
//! the connection closes after the answer (RFC 9112 §6.1), so nothing behind
//! it is read as another request. A connection the server closes lingers
//! (`linger.rs`) so that an early answer is not lost to a reset.

mod exec_stream;
mod front_end;
pub mod hosts;
pub mod inside;
mod linger;
pub mod loopback;
pub mod planes;
pub mod recover;
mod request_log;
pub mod tls;

use crate::state::AppState;
use crate::web::Transport;
use axum::Router;
use axum::body::Body;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// The whole HTTP surface as local clients see it: control API and
/// managed-identity endpoints, metadata, Entra, then ARM's catch-all.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(crate::admin::routes())
        .merge(crate::entra::msi::routes())
        .merge(azure_routes())
        .layer(axum::extract::DefaultBodyLimit::max(crate::web::MAX_BODY))
        .with_state(state)
}

/// What Azure's own host names (`management.azure.com`, `login.microsoftonline.com`,
/// `graph.microsoft.com`) serve: [`router`] without the control API and the
/// managed-identity endpoints, which answer on local host names only.
pub fn azure_router(state: AppState) -> Router {
    azure_routes()
        .layer(axum::extract::DefaultBodyLimit::max(crate::web::MAX_BODY))
        .with_state(state)
}

fn azure_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/metadata/endpoints",
            axum::routing::get(crate::arm::metadata::endpoints),
        )
        .merge(crate::entra::routes())
        // `az container exec`'s websocket.
        .route(
            "/execstream/sessionId/{id}",
            axum::routing::get(exec_stream::open),
        )
        // Task logs, path-style, for clients that came to localhost.
        .route(
            &format!("/{}/{{*blob}}", crate::storage::ACCOUNT),
            axum::routing::any(crate::storage::handle),
        )
        .fallback(crate::providers::handle)
}

struct Ctx {
    /// What local host names get (the control API included).
    router: Router,
    /// What Azure's host names get: the same without the control API.
    azure_router: Router,
    /// The address we are bound to: a host name the control API answers under.
    bind: std::net::IpAddr,
    /// What `<name>.azurecr.io` hosts get: ACR's token service and the OCI data plane.
    registry_router: Router,
    /// What public registry hosts (MCR, Docker Hub) get.
    public_router: Router,
    /// What the task-log storage account gets.
    storage_router: Router,
    /// What `<label>.<region>.azurecontainer.io`, and a running group's
    /// reported IP, get: ACI's front end.
    group_router: Router,
    /// The groups the engine runs (whose reported IPs the front end answers).
    containers: crate::runtime::containers::Containers,
    /// Where the groups' public names are looked up (CONNECT to one).
    store: Arc<dyn crate::store::Store>,
    /// Injected failures, answered before any router.
    faults: crate::faults::Faults,
    acceptor: TlsAcceptor,
    /// The port we listen on: CONNECT to localhost is allowed to this port only.
    port: u16,
    /// How long a client may take to open (first byte, TLS handshake) and to send
    /// a request's headers before the connection is closed (slow clients).
    read_timeout: std::time::Duration,
    shutdown: watch::Receiver<bool>,
}

/// Request headers larger than this, all told, are refused with 431 in the plane's shape.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// A bound, running emulator. Dropping the handle does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Resolves when the server stops by itself (never, unless shut down).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    pub fn stopper(&self) -> watch::Sender<bool> {
        self.stop.clone()
    }
}

/// Bind and start serving in the background.
pub async fn start(state: AppState) -> anyhow::Result<RunningServer> {
    // Pulls (ACI's backend) reach registries over their own protocol, served here.
    let _ = state.connector.set(Arc::new(loopback::Connector));
    let listener = TcpListener::bind((state.config.bind, state.config.port)).await?;
    let addr = listener.local_addr()?;
    let (stop, shutdown) = watch::channel(false);
    let ctx = Arc::new(Ctx {
        router: router(state.clone()),
        azure_router: azure_router(state.clone()),
        bind: state.config.bind,
        registry_router: crate::acr::router(state.clone()),
        public_router: crate::public_registry::router(&state),
        storage_router: Router::new()
            .fallback(crate::storage::handle)
            .with_state(state.clone()),
        group_router: Router::new()
            .fallback(front_end::forward)
            .with_state(state.clone()),
        containers: state.containers.clone(),
        store: state.store.clone(),
        faults: state.faults.clone(),
        acceptor: TlsAcceptor::from(tls::server_config(state.ca.clone())),
        port: addr.port(),
        read_timeout: state.config.header_read_timeout,
        shutdown,
    });
    let task = tokio::spawn(accept_loop(listener, ctx));
    Ok(RunningServer {
        addr,
        state,
        stop,
        task,
    })
}

async fn accept_loop(listener: TcpListener, ctx: Arc<Ctx>) {
    let mut conns = tokio::task::JoinSet::new();
    let mut shutdown = ctx.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(connection(stream, peer, ctx.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    // Let in-flight requests finish, but don't wait on idle keep-alive or tunnels forever.
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(std::time::Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        conns.abort_all();
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, ctx: Arc<Ctx>) {
    let mut first = [0u8; 1];
    // A client that connects and says nothing is let go.
    let Ok(peeked) = tokio::time::timeout(ctx.read_timeout, stream.peek(&mut first)).await else {
        tracing::debug!(%peer, "closed a connection that sent nothing");
        return;
    };
    match peeked {
        Ok(1) if first[0] == 0x16 => serve_tls(stream, peer, None, ctx).await,
        Ok(1) => {
            serve_http(
                stream,
                Transport {
                    tls: false,
                    peer,
                    tunnel_host: None,
                },
                ctx,
                true,
            )
            .await
        }
        _ => {}
    }
}

fn serve_tls<IO>(
    io: IO,
    peer: SocketAddr,
    tunnel_host: Option<String>,
    ctx: Arc<Ctx>,
) -> Pin<Box<dyn Future<Output = ()> + Send>>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(async move {
        let Ok(accepted) = tokio::time::timeout(ctx.read_timeout, ctx.acceptor.accept(io)).await
        else {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        };
        match accepted {
            Ok(tls) => {
                serve_http(
                    tls,
                    Transport {
                        tls: true,
                        peer,
                        tunnel_host,
                    },
                    ctx,
                    false,
                )
                .await
            }
            Err(e) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
        }
    })
}

async fn serve_http<IO>(io: IO, transport: Transport, ctx: Arc<Ctx>, allow_connect: bool)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc_ctx = ctx.clone();
    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let ctx = svc_ctx.clone();
        let transport = transport.clone();
        async move {
            if allow_connect && req.method() == Method::CONNECT {
                return Ok::<_, Infallible>(connect(req, transport.peer, ctx).await);
            }
            req.extensions_mut().insert(transport);
            let entry = request_log::Entry::begin(&mut req);
            let resp = async move {
                if let Some(uri) = crate::web::normalize_path(req.uri()) {
                    *req.uri_mut() = uri;
                }
                let host = crate::web::host_header(req.headers());
                let is_registry = crate::acr::registry_name_of_host(host).is_some();
                let is_public = crate::public_registry::registry_of_host(host).is_some();
                let header_bytes: usize = req
                    .headers()
                    .iter()
                    .map(|(k, v)| k.as_str().len() + v.len() + 4)
                    .sum();
                if header_bytes > MAX_HEADER_BYTES {
                    return planes::Plane::of(host, req.uri().path())
                        .headers_too_large(header_bytes, MAX_HEADER_BYTES);
                }
                // A declared body over the plane's limit is refused before it is read.
                if let Some(len) = declared_length(req.headers())
                    && len > crate::web::MAX_BODY as u64
                {
                    let plane = planes::Plane::of(host, req.uri().path());
                    if plane.body_limit().is_some_and(|limit| len > limit as u64) {
                        return plane.body_too_large();
                    }
                }
                let mut injected_panic = None;
                if let Some(fault) = ctx.faults.intercept(
                    host,
                    req.method().as_str(),
                    req.uri().path(),
                    req.headers(),
                ) {
                    if let Some(d) = fault.delay {
                        tokio::time::sleep(d).await;
                    }
                    if let Some(resp) = fault.response {
                        return resp;
                    }
                    injected_panic = fault.panic;
                }
                let is_storage = host
                    .split(':')
                    .next()
                    .is_some_and(|n| n.eq_ignore_ascii_case(crate::storage::HOST));
                // Which wire surface answers, for the 500 a panic gets and a framework's 413.
                let plane = planes::Plane::of(host, req.uri().path());
                let name = crate::server::hosts::host_of(host);
                let router = if is_group(&ctx, &name) {
                    &ctx.group_router
                } else if is_storage {
                    &ctx.storage_router
                } else if is_registry {
                    &ctx.registry_router
                } else if is_public {
                    &ctx.public_router
                } else if let Some(surface) = crate::admin::guard::surface(req.uri().path()) {
                    use crate::admin::guard::Admission;
                    match crate::admin::guard::admit(
                        surface,
                        req.method(),
                        req.uri(),
                        req.headers(),
                        req.extensions().get::<Transport>(),
                        ctx.bind,
                    ) {
                        Admission::Serve => &ctx.router,
                        Admission::AsAzureHost => &ctx.azure_router,
                        Admission::Refused(resp) => return resp,
                    }
                } else {
                    &ctx.router
                };
                let (parts, body) = req.into_parts();
                let (slot, body) = recover::share(body);
                let call = router
                    .clone()
                    .oneshot(Request::from_parts(parts, Body::new(body)));
                let resp = recover::catching(plane, injected_panic, slot, call).await;
                if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !shaped(&resp) {
                    return plane.body_too_large();
                }
                resp
            }
            .await;
            entry.end(&resp);
            Ok(resp)
        }
    });
    let lingering = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(ctx.read_timeout)
        // A hard cap on what hyper buffers; headers over MAX_HEADER_BYTES are
        // answered (431, in the plane's shape) before this is reached.
        .max_buf_size(4 * MAX_HEADER_BYTES)
        .serve_connection(
            TokioIo::new(linger::Linger::new(io, lingering.clone())),
            svc,
        )
        .with_upgrades();
    tokio::pin!(conn);
    let mut shutdown = ctx.shutdown.clone();
    tokio::select! {
        r = conn.as_mut() => { if let Err(e) = r { tracing::debug!(error = %e, "connection ended with an error") } }
        _ = shutdown.changed() => {
            // Stopping: close idle connections at once, without lingering.
            lingering.store(false, std::sync::atomic::Ordering::Relaxed);
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The request's `Content-Length`, when it declares one.
fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Does an error response already carry a plane's shape (JSON or XML), rather
/// than the framework's plain-text rejection ("length limit exceeded")?
fn shaped(resp: &Response<Body>) -> bool {
    resp.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json") || ct.contains("xml"))
}

/// Whether `name` (a host, as [`hosts::host_of`] gives it) is ACI's front
/// end's: a public name under `azurecontainer.io`, or the IP ARM reports for a
/// group the engine runs.
fn is_group(ctx: &Ctx, name: &str) -> bool {
    name.ends_with(".azurecontainer.io")
        || name
            .parse()
            .is_ok_and(|ip| ctx.containers.group_reporting(ip).is_some())
}

/// `CONNECT host:port`: open a tunnel to ourselves for an emulated host; to
/// a container group's port for the front end's hosts ([`connect_group`]);
/// 403 otherwise.
async fn connect(req: Request<Incoming>, peer: SocketAddr, ctx: Arc<Ctx>) -> Response<Body> {
    let Some(authority) = req.uri().authority().cloned() else {
        return plain(StatusCode::BAD_REQUEST, "CONNECT needs host:port\n");
    };
    let host = authority.host().to_string();
    let port = authority.port_u16().unwrap_or(443);
    let name = hosts::host_of(&host);
    if is_group(&ctx, &name) {
        return connect_group(req, name, port, ctx).await;
    }
    let allowed = match hosts::classify(&host) {
        hosts::HostClass::Emulated if hosts::is_loopback(&host) => port == ctx.port,
        hosts::HostClass::Emulated => port == 443,
        hosts::HostClass::Refused => false,
    };
    if !allowed {
        tracing::info!(%host, port, "CONNECT refused: not a host azemu emulates");
        return plain(
            StatusCode::FORBIDDEN,
            &format!("azemu does not emulate {host}:{port}\n"),
        );
    }
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => serve_tls(TokioIo::new(upgraded), peer, Some(host), ctx).await,
            Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
        }
    });
    Response::new(Body::empty())
}

/// `CONNECT` to a group's public name or reported IP: a plain TCP tunnel to
/// where the engine published the group's `port` on 127.0.0.1, as ACI's
/// address would be reached. Only a group this emulator runs, with that port,
/// has one; anything else gets the front end's 502.
async fn connect_group(
    req: Request<Incoming>,
    name: String,
    port: u16,
    ctx: Arc<Ctx>,
) -> Response<Body> {
    let (containers, store, h) = (ctx.containers.clone(), ctx.store.clone(), name.clone());
    let found = crate::web::blocking(move || containers.endpoint(store.as_ref(), &h, port)).await;
    let Some(local) = found else {
        tracing::info!(host = %name, port, "CONNECT refused: no container group running here answers it");
        return front_end::bad_gateway(format!(
            "no container group running here answers {name}:{port}"
        ));
    };
    let mut upstream = match TcpStream::connect(("127.0.0.1", local)).await {
        Ok(s) => s,
        Err(e) => return front_end::bad_gateway(format!("{name}:{port}: {e}")),
    };
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                let mut client = TokioIo::new(upgraded);
                if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                    tracing::debug!(error = %e, "a tunnel to a container group ended");
                }
            }
            Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
        }
    });
    Response::new(Body::empty())
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(text.to_string()));
    *r.status_mut() = status;
    r
}
