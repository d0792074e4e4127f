//! Request bodies: read ahead before the request takes a pool slot, and
//! timed out when they stop making progress or trickle (R.U.D.Y.).
//!
//! **When a request takes its slot.** A request whose body is still on its
//! way first reads up to [`Config::body_buffer_size`](super::Config) bytes
//! of it *without* a slot: a body that fits (most API requests: a JSON
//! document) is complete before the app runs, so a client that trickles
//! one holds no slot at all and cannot starve the pool. A larger body takes
//! its slot once that much has arrived, and then streams to the app.
//!
//! **Timeouts**, in both phases: no byte of body for `body_read_timeout`,
//! or, after the first `body_read_timeout`, an average rate below
//! `body_min_rate` bytes per second (Apache's `mod_reqtimeout` rule) →
//! `408 Request Timeout` and the connection is closed. A trickling upload
//! therefore holds a slot for at most `body_read_timeout` plus the time its
//! declared length takes at `body_min_rate`.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::body::{Body, BoxError};

/// The body limits of one server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    /// Bytes read ahead before the request takes its slot.
    pub(crate) buffer_size: usize,
    /// Longest wait for the next byte; also the grace period of the rate rule.
    pub(crate) read_timeout: Duration,
    /// Lowest average rate (bytes/s) accepted after the grace period; 0: none.
    pub(crate) min_rate: u64,
}

/// The body arrived too slowly: the request is answered 408.
#[derive(Debug)]
pub(crate) struct TooSlow;

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body timed out (no progress, or below the minimum rate)")
    }
}

impl std::error::Error for TooSlow {}

/// The progress of one body against its limits.
#[derive(Debug)]
struct Clock {
    limits: BodyLimits,
    began: Instant,
    last: Instant,
    bytes: u64,
}

impl Clock {
    fn new(limits: BodyLimits) -> Self {
        let now = Instant::now();
        Clock { limits, began: now, last: now, bytes: 0 }
    }

    /// Records `n` bytes; `Err` when the average rate is too low.
    fn progress(&mut self, n: usize) -> Result<(), TooSlow> {
        let now = Instant::now();
        self.bytes += n as u64;
        if n > 0 {
            self.last = now;
        }
        if self.below_rate(now) { Err(TooSlow) } else { Ok(()) }
    }

    fn below_rate(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.began);
        self.limits.min_rate > 0
            && elapsed > self.limits.read_timeout
            && (self.bytes as f64) < self.limits.min_rate as f64 * elapsed.as_secs_f64()
    }

    /// When the body times out if no byte comes: the gap limit, or the
    /// moment the bytes so far fall below the minimum rate.
    fn deadline(&self) -> Instant {
        let gap = self.last + self.limits.read_timeout;
        if self.limits.min_rate == 0 {
            return gap;
        }
        let grace = self.began + self.limits.read_timeout;
        let rate_ok_until = self.began + Duration::from_secs_f64(self.bytes as f64 / self.limits.min_rate as f64);
        gap.min(grace.max(rate_ok_until))
    }
}

/// Reads up to `limits.buffer_size` bytes of `incoming` (the whole body
/// when it is smaller), within the limits; returns the body to give the
/// app, and the flag set if it later times out while streaming.
pub(crate) async fn read_ahead(
    mut incoming: Incoming,
    limits: BodyLimits,
) -> Result<(Body, Option<Arc<AtomicBool>>), TooSlow> {
    let mut clock = Clock::new(limits);
    let mut head = BytesMut::new();
    let mut trailers = None;
    while !incoming.is_end_stream() && head.len() < limits.buffer_size {
        let frame = tokio::time::timeout_at(
            clock.deadline(),
            std::future::poll_fn(|cx| Pin::new(&mut incoming).poll_frame(cx)),
        )
        .await
        .map_err(|_| TooSlow)?;
        match frame {
            None => break,
            // A broken body (the client went away, bad chunk framing):
            // give the app what arrived and let it see the error.
            Some(Err(e)) => {
                let rest = Rest { pending_error: Some(e.into()), ..Rest::new(incoming, clock) };
                return Ok(with_head(head.freeze(), rest));
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    clock.progress(data.len())?;
                    head.extend_from_slice(&data);
                }
                Err(frame) => {
                    trailers = frame.into_trailers().ok();
                    break;
                }
            },
        }
    }
    let head = head.freeze();
    if trailers.is_none() && incoming.is_end_stream() {
        return Ok((Body::from(head), None));
    }
    let rest = Rest { trailers, ..Rest::new(incoming, clock) };
    Ok(with_head(head, rest))
}

fn with_head(head: Bytes, rest: Rest) -> (Body, Option<Arc<AtomicBool>>) {
    let flag = Arc::clone(&rest.timed_out);
    (Body::new(Streaming { head: Some(head).filter(|h| !h.is_empty()), rest }), Some(flag))
}

/// The rest of a body that did not fit the read-ahead.
struct Rest {
    incoming: Incoming,
    clock: Clock,
    /// Armed while waiting for the next frame.
    sleep: Option<Pin<Box<Sleep>>>,
    trailers: Option<http::HeaderMap>,
    pending_error: Option<BoxError>,
    /// Set when the body timed out, so that the request is answered 408.
    timed_out: Arc<AtomicBool>,
}

impl Rest {
    fn new(incoming: Incoming, clock: Clock) -> Self {
        Rest {
            incoming,
            clock,
            sleep: None,
            trailers: None,
            pending_error: None,
            timed_out: Arc::new(AtomicBool::new(false)),
        }
    }

    fn fail(&mut self) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.timed_out.store(true, Ordering::Release);
        Poll::Ready(Some(Err(Box::new(TooSlow))))
    }
}

/// The read-ahead bytes, then the rest of the body under the limits.
struct Streaming {
    head: Option<Bytes>,
    rest: Rest,
}

impl http_body::Body for Streaming {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        let rest = &mut this.rest;
        if let Some(e) = rest.pending_error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        if let Some(trailers) = rest.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        if rest.timed_out.load(Ordering::Acquire) {
            return Poll::Ready(None);
        }
        match Pin::new(&mut rest.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                rest.sleep = None;
                let n = frame.data_ref().map_or(0, Bytes::len);
                if rest.clock.progress(n).is_err() {
                    return rest.fail();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let deadline = rest.clock.deadline();
                let sleep = rest.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.deadline() != deadline {
                    sleep.as_mut().reset(deadline);
                }
                ready!(sleep.as_mut().poll(cx));
                rest.fail()
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none()
            && self.rest.trailers.is_none()
            && self.rest.pending_error.is_none()
            && self.rest.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        let rest = self.rest.incoming.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + head);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + head);
        }
        hint
    }
}

use std::future::Future as _;

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(min_rate: u64) -> BodyLimits {
        BodyLimits { buffer_size: 1024, read_timeout: Duration::from_secs(10), min_rate }
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_is_the_gap_or_the_rate_whichever_comes_first() {
        let mut clock = Clock::new(limits(100));
        let began = clock.began;
        // Nothing yet: the gap (10 s) and the grace period (10 s) agree.
        assert_eq!(clock.deadline(), began + Duration::from_secs(10));
        // 5,000 bytes at once cover the rate until 50 s; the gap ends first.
        tokio::time::advance(Duration::from_secs(1)).await;
        clock.progress(5000).unwrap();
        assert_eq!(clock.deadline(), began + Duration::from_secs(11));
        // A byte a second keeps the gap open but not the rate: at 51 s the
        // 5,050 bytes are below 100 B/s.
        let mut failed_at = None;
        for _ in 0..100 {
            tokio::time::advance(Duration::from_secs(1)).await;
            if clock.progress(1).is_err() {
                failed_at = Some(Instant::now() - began);
                break;
            }
        }
        assert_eq!(failed_at, Some(Duration::from_secs(51)));
        // Without a minimum rate only the gap counts.
        let mut clock = Clock::new(limits(0));
        tokio::time::advance(Duration::from_secs(100)).await;
        assert!(clock.progress(1).is_ok());
        assert_eq!(clock.deadline(), clock.last + Duration::from_secs(10));
    }
}
