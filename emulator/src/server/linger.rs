//! Lingering close. When the server closes a connection whose client is still
//! sending — a request refused before its body was read (413, 401, 403…) —
//! closing at once with unread bytes in the socket makes the kernel send a
//! reset, and the client may lose the answer it was sent. So a closing
//! connection first shuts down its write side (the answer and FIN are on their
//! way), then reads and drops what the client still sends until it closes, for
//! at most [`LINGER`] and [`LINGER_BYTES`] (Apache's `lingering_close`, nginx's
//! `lingering_close`). Reads and writes before that pass straight through.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How long a closing connection waits for its client to stop sending.
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
/// How much a closing connection reads and drops before it gives up.
pub const LINGER_BYTES: u64 = 64 * 1024 * 1024;

pub struct Linger<IO> {
    io: IO,
    /// Cleared when the server stops: idle connections then close at once.
    enabled: Arc<AtomicBool>,
    state: State,
}

enum State {
    Open,
    Draining {
        deadline: Pin<Box<tokio::time::Sleep>>,
        drained: u64,
    },
    Closed,
}

impl<IO> Linger<IO> {
    pub fn new(io: IO, enabled: Arc<AtomicBool>) -> Self {
        Linger {
            io,
            enabled,
            state: State::Open,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Linger<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Linger<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Open => {
                    let shut = ready!(Pin::new(&mut this.io).poll_shutdown(cx));
                    if shut.is_err() || !this.enabled.load(Ordering::Relaxed) {
                        this.state = State::Closed;
                        return Poll::Ready(shut);
                    }
                    this.state = State::Draining {
                        deadline: Box::pin(tokio::time::sleep(LINGER)),
                        drained: 0,
                    };
                }
                State::Draining { deadline, drained } => {
                    if deadline.as_mut().poll(cx).is_ready() || *drained > LINGER_BYTES {
                        this.state = State::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 8192];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match ready!(Pin::new(&mut this.io).poll_read(cx, &mut buf)) {
                        Ok(()) if !buf.filled().is_empty() => *drained += buf.filled().len() as u64,
                        // EOF (the client closed) or an error: done.
                        _ => this.state = State::Closed,
                    }
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}
