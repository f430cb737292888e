//! One connection's clock: which timeout applies to it now (header read or keep-alive idle) and
//! when it runs out, the I/O wrapper that notices the first byte of a next request, and how long
//! the connection has waited for a request (the longest-waiting one is closed first at the cap).
//!
//! No timer runs while a request is being handled: the request deadline covers that time.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The two timeouts of a connection waiting for a request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    pub header_read: Duration,
    pub idle: Duration,
}

/// Why the gateway closed a connection on its own (label `reason` of
/// `gtt_gateway_connections_closed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closed {
    HeaderTimeout,
    IdleTimeout,
    Evicted,
}

impl Closed {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::Evicted => "evicted",
        }
    }
}

/// What a connection that is not busy is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// The rest of a request head: `header_read` applies.
    Head,
    /// The first byte of a next request on a kept-alive connection: `idle` applies.
    Idle,
}

/// The current wait and when it runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Due {
    wait: Wait,
    deadline: Instant,
}

/// What the accept loop, the request handler and the I/O wrapper share about one connection.
#[derive(Debug)]
pub(super) struct ConnState {
    timeouts: Timeouts,
    /// Requests begun and answered; the connection is busy while they differ.
    begun: AtomicU64,
    answered: AtomicU64,
    /// The wait in force while not busy.
    due: Mutex<Due>,
    /// Signalled whenever the connection turns busy or starts a new wait.
    changed: Notify,
    /// Tick of the shared clock when the connection last started waiting for a request.
    waiting_since: AtomicU64,
    clock: Arc<AtomicU64>,
    /// Cancelled to close the connection at once (the connection cap needs its slot).
    pub evict: CancellationToken,
}

impl ConnState {
    /// A connection accepted now, whose first request head is due within the header timeout.
    /// `clock` orders the waits of all connections: a tick, not a time, so the order is exact.
    pub(super) fn new(timeouts: Timeouts, clock: Arc<AtomicU64>) -> Self {
        let now = clock.fetch_add(1, Ordering::Relaxed);
        Self {
            timeouts,
            begun: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            due: Mutex::new(Due {
                wait: Wait::Head,
                deadline: Instant::now() + timeouts.header_read,
            }),
            changed: Notify::new(),
            waiting_since: AtomicU64::new(now),
            clock,
            evict: CancellationToken::new(),
        }
    }

    /// A request head arrived: the connection is busy until the guard is dropped (answered or
    /// abandoned).
    pub(super) fn begin(self: &Arc<Self>) -> RequestGuard {
        self.begun.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_one();
        RequestGuard(Arc::clone(self))
    }

    pub(super) fn is_busy(&self) -> bool {
        self.begun.load(Ordering::Acquire) != self.answered.load(Ordering::Acquire)
    }

    /// Clock tick since which the connection waits for a request (meaningless while busy).
    pub(super) fn waiting_since(&self) -> u64 {
        self.waiting_since.load(Ordering::Relaxed)
    }

    /// Resolves when the connection has waited too long for a request head: never while busy.
    pub(super) async fn expired(&self) -> Closed {
        loop {
            // A change between the check and the wait leaves a permit: no change is missed.
            let due = (!self.is_busy()).then(|| *self.lock_due());
            let Some(due) = due else {
                self.changed.notified().await;
                continue;
            };
            tokio::select! {
                () = tokio::time::sleep_until(due.deadline) => {
                    if !self.is_busy() && *self.lock_due() == due {
                        return match due.wait {
                            Wait::Head => Closed::HeaderTimeout,
                            Wait::Idle => Closed::IdleTimeout,
                        };
                    }
                }
                () = self.changed.notified() => {}
            }
        }
    }

    /// Start a new wait from now (the caller signals `changed`).
    fn set_due(&self, wait: Wait) {
        let timeout = match wait {
            Wait::Head => self.timeouts.header_read,
            Wait::Idle => self.timeouts.idle,
        };
        *self.lock_due() = Due {
            wait,
            deadline: Instant::now() + timeout,
        };
    }

    fn lock_due(&self) -> std::sync::MutexGuard<'_, Due> {
        self.due.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Marks the end of a request when dropped: the connection now waits for the next one.
pub(super) struct RequestGuard(Arc<ConnState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let state = &self.0;
        let now = state.clock.fetch_add(1, Ordering::Relaxed);
        state.waiting_since.store(now, Ordering::Relaxed);
        // The new wait is in place before the connection stops counting as busy.
        state.set_due(Wait::Idle);
        state.answered.fetch_add(1, Ordering::AcqRel);
        state.changed.notify_one();
    }
}

/// A TCP stream that tells its connection when the first byte of a next request arrives
/// (the wait turns from idle to header read).
pub(super) struct WatchedIo {
    io: TcpStream,
    state: Arc<ConnState>,
}

impl WatchedIo {
    pub(super) fn new(io: TcpStream, state: Arc<ConnState>) -> Self {
        Self { io, state }
    }
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let state = &this.state;
        if buf.filled().len() > before && !state.is_busy() && state.lock_due().wait == Wait::Idle {
            state.set_due(Wait::Head);
            state.changed.notify_one();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
