//! Requests the emulator makes to itself, as one Azure service makes them to
//! another: ACI's backend pulling an image from a registry. Each goes through
//! what a request from the wire meets once it is parsed — injected faults, the
//! registry's network gate, its token service and OCI routes, panic recovery,
//! the request log (whose line gives the request id the caller's trace names) —
//! without a socket. The [`Source`] it carries (an Azure service's egress, the
//! virtual network of a group) is what the registry's network decision sees;
//! nothing on the wire can claim one.
//!
//! Requests run on a runtime and a thread of their own. Their caller may hold
//! the store's write transaction (a container group's PUT pulls before it
//! answers): the registry reads the last commit from another thread, as any
//! other client would, and never waits for that transaction (a pull's
//! requests — the token service, manifest and blob reads — write no rows).

use super::{planes::Plane, recover, request_log};
use crate::network::Source;
use crate::oci::blobs::Algorithm;
use crate::pull::{Answer, Connect, Connection};
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The most of an answer's body kept whole (manifests, tokens, errors); larger
/// ones are digested as they stream ([`Connection::digest`]).
const MAX_KEPT: usize = 8 * 1024 * 1024;

/// One service's connection to one registry host.
pub struct Loopback {
    state: AppState,
    router: Router,
    source: Source,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Loopback {
    /// Without waiting: a loopback may end on a thread of the server's runtime.
    fn drop(&mut self) {
        if let Some(r) = self.runtime.take() {
            r.shutdown_background();
        }
    }
}

enum Take {
    Keep,
    Digest(Algorithm),
}

/// What the server installs in its state ([`crate::state::AppState::connector`]).
pub struct Connector;

impl Connect for Connector {
    fn open(
        &self,
        state: &AppState,
        host: &str,
        source: Source,
    ) -> Result<Box<dyn Connection>, String> {
        Ok(Box::new(Loopback::new(state, host, source)?))
    }
}

impl Connection for Loopback {
    fn send(&self, req: Request<Body>) -> Result<Answer, String> {
        self.on_own_thread(req, Take::Keep)
    }

    fn digest(&self, req: Request<Body>, algorithm: Algorithm) -> Result<Answer, String> {
        self.on_own_thread(req, Take::Digest(algorithm))
    }
}

impl Loopback {
    /// Requests to `host` (an emulated or offline public registry) from `source`.
    pub fn new(state: &AppState, host: &str, source: Source) -> Result<Loopback, String> {
        let router = if crate::acr::registry_name_of_host(host).is_some() {
            crate::acr::router(state.clone())
        } else if crate::public_registry::registry_of_host(host).is_some() {
            crate::public_registry::router(state)
        } else {
            return Err(format!("{host} is not a registry azemu serves"));
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("no runtime for requests to {host}: {e}"))?;
        Ok(Loopback {
            state: state.clone(),
            router,
            source,
            runtime: Some(runtime),
        })
    }

    fn on_own_thread(&self, req: Request<Body>, take: Take) -> Result<Answer, String> {
        let Some(runtime) = &self.runtime else {
            return Err("the connection is closed".into());
        };
        std::thread::scope(|s| {
            s.spawn(|| runtime.block_on(self.exchange(req, take)))
                .join()
                .unwrap_or_else(|_| Err("the request's thread panicked".into()))
        })
    }

    async fn exchange(&self, mut req: Request<Body>, take: Take) -> Result<Answer, String> {
        let ext = req.extensions_mut();
        ext.insert(crate::web::Transport {
            tls: true,
            peer: std::net::SocketAddr::new(self.source.ip(), 0),
            tunnel_host: None,
        });
        ext.insert(self.source.clone());
        let entry = request_log::Entry::begin(&mut req);
        let host = crate::web::host_header(req.headers()).to_string();
        let plane = Plane::of(&host, req.uri().path());
        let mut injected_panic = None;
        let mut answered = None;
        if let Some(fault) = self.state.faults.intercept(
            &host,
            req.method().as_str(),
            req.uri().path(),
            req.headers(),
        ) {
            if let Some(d) = fault.delay {
                tokio::time::sleep(d).await;
            }
            answered = fault.response;
            injected_panic = fault.panic;
        }
        let resp = match answered {
            Some(resp) => resp,
            None => {
                let (parts, body) = req.into_parts();
                let (slot, body) = recover::share(body);
                let call = self
                    .router
                    .clone()
                    .oneshot(Request::from_parts(parts, Body::new(body)));
                recover::catching(plane, injected_panic, slot, call).await
            }
        };
        let request_id = entry.end(&resp);
        let (parts, body) = resp.into_parts();
        let (body, digest) = match take {
            Take::Keep => {
                let kept = http_body_util::Limited::new(body, MAX_KEPT)
                    .collect()
                    .await
                    .map_err(|e| format!("the answer's body could not be read: {e}"))?;
                (kept.to_bytes(), None)
            }
            Take::Digest(algorithm) => {
                let mut hasher = crate::oci::blobs::Hasher::new(algorithm);
                let mut size = 0u64;
                let mut body = body;
                while let Some(frame) = body.frame().await {
                    let frame =
                        frame.map_err(|e| format!("the answer's body could not be read: {e}"))?;
                    if let Some(data) = frame.data_ref() {
                        size += data.len() as u64;
                        hasher.update(data);
                    }
                }
                (Bytes::new(), Some((hasher.finish(), size)))
            }
        };
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
            digest,
            request_id,
        })
    }
}
