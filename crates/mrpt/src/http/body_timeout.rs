//! A request body that is cut off when the client stops sending: the timer
//! runs only while the server waits for the next piece and starts again
//! with every piece, so a slow but steady upload is never cut off.

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Set when a body was cut off, so the answer can say why (408).
#[derive(Clone, Default)]
pub struct Stalled(Arc<AtomicBool>);

impl Stalled {
    pub fn happened(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body made no progress for {0:?}")]
pub struct BodyStalled(Duration);

pub struct IdleTimeoutBody {
    inner: Body,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    /// Whether the timer counts the current wait; a wait starts at the first
    /// poll after a piece, not when the piece arrived, so time the handler
    /// spends on a piece is not the client's.
    waiting: bool,
    stalled: Stalled,
}

impl IdleTimeoutBody {
    pub fn new(inner: Body, idle: Duration, stalled: Stalled) -> Self {
        Self { inner, idle, timer: Box::pin(tokio::time::sleep(idle)), waiting: false, stalled }
    }
}

impl http_body::Body for IdleTimeoutBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = false;
            return Poll::Ready(frame);
        }
        if !this.waiting {
            this.waiting = true;
            this.timer.as_mut().reset(Instant::now() + this.idle);
        }
        if this.timer.as_mut().poll(cx).is_ready() {
            this.stalled.0.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(BodyStalled(this.idle)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
