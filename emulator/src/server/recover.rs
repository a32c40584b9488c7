//! The last line of defence: a panic while a request is handled becomes a 500
//! in the plane's own error shape, is logged with its message, and the
//! connection (and the process) go on serving. Bad input must never get this
//! far — every plane answers it with a 4xx — so a 500 here is a bug to fix.
//!
//! For tests only, a fault rule with `"panic": true` (accepted only when the
//! emulator runs with `--enable-test-panics`, see [`crate::faults`]) panics
//! inside the handling of the request it matches, which proves this path.

use super::planes::Plane;
use axum::response::Response;
use bytes::Bytes;
use futures_util::FutureExt;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// A request body the handler reads while the server keeps a hold on it: after
/// a panic, what the handler left unread is read and dropped, so that HTTP/1.1
/// can go on to the connection's next request.
pub struct SharedBody<B>(Arc<Mutex<Option<B>>>);

/// The server's hold on a [`SharedBody`].
pub struct BodySlot<B>(Arc<Mutex<Option<B>>>);

/// Share `body` between the handler and the server.
pub fn share<B>(body: B) -> (BodySlot<B>, SharedBody<B>) {
    let cell = Arc::new(Mutex::new(Some(body)));
    (BodySlot(cell.clone()), SharedBody(cell))
}

impl<B> SharedBody<B> {
    fn with<T>(&self, f: impl FnOnce(Option<&mut B>) -> T) -> T {
        // std Mutex, never contended (one request, one poller) and never held across await.
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(guard.as_mut())
    }
}

impl<B> Body for SharedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.with(|b| match b {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.with(|b| b.is_none_or(|b| b.is_end_stream()))
    }

    fn size_hint(&self) -> SizeHint {
        self.with(|b| {
            b.map(|b| b.size_hint())
                .unwrap_or_else(|| SizeHint::with_exact(0))
        })
    }
}

/// After a panic: read (and drop) up to this much of the body the handler left.
const DRAIN_LIMIT: usize = crate::web::MAX_BODY;
/// After an answer given before the body was read (a refusal): read the rest
/// when it is at most this big, so the connection stays open for the next
/// request. (A bigger one is not waited for: the client gets its answer at
/// once and the connection closes, as for a body over the limit.)
const DRAIN_SMALL: u64 = 64 * 1024;
/// ... for at most this long.
const DRAIN_TIME: Duration = Duration::from_secs(5);

impl<B> BodySlot<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    /// What the handler left of a small body (one of known, small length).
    async fn drain_small(self) {
        let small = {
            let guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
            guard.as_ref().is_some_and(|b| {
                !b.is_end_stream() && b.size_hint().upper().is_some_and(|n| n <= DRAIN_SMALL)
            })
        };
        if small {
            self.drain().await;
        }
    }

    async fn drain(self) {
        let body = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut b) = body {
            // Past the limit or the time, hyper closes the connection after the answer.
            let drain = async {
                let mut read = 0usize;
                while let Some(Ok(frame)) = b.frame().await {
                    read += frame.data_ref().map_or(0, Bytes::len);
                    if read > DRAIN_LIMIT {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
        }
    }
}

/// Run `call` (one request's handling); a panic in it is logged and answered
/// with `plane`'s 500 once what is left of the request body (`slot`) is read.
/// A small body the handler did not read is read before its answer goes out.
/// `inject` panics first with that message (test faults).
pub async fn catching<F, B>(
    plane: Plane,
    inject: Option<String>,
    slot: BodySlot<B>,
    call: F,
) -> Response
where
    F: Future<Output = Result<Response, Infallible>>,
    B: Body<Data = Bytes> + Unpin,
{
    let guarded = AssertUnwindSafe(async move {
        if let Some(message) = inject {
            panic!("{message}");
        }
        call.await.unwrap_or_else(|e| match e {})
    });
    match guarded.catch_unwind().await {
        Ok(resp) => {
            slot.drain_small().await;
            resp
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(a panic without a message)".to_string());
            tracing::error!(panic = %message, ?plane, "a request handler panicked; answered 500");
            slot.drain().await;
            plane.internal_error()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_the_planes_500() {
        let (slot, _body) = share(http_body_util::Full::new(Bytes::from_static(
            b"left unread",
        )));
        let resp = catching(Plane::Registry, Some("boom".into()), slot, async {
            Ok(Response::new(axum::body::Body::empty()))
        })
        .await;
        assert_eq!(resp.status(), 500);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["errors"][0]["code"], "UNKNOWN");
    }
}
