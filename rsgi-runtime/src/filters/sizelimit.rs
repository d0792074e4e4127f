//! `sizelimit`: rejects request bodies over `max_request_body_size` with
//! `413 Payload Too Large` (oslo.middleware's `RequestBodySizeLimiter`).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{StatusCode, header};
use http_body::{Frame, SizeHint};

use crate::app::{App, EitherFuture, MapFuture, Response, json_response};
use crate::body::{Body, BoxError};
use crate::filter::Filter;
use crate::request::Request;

/// oslo.middleware's default `max_request_body_size`: 112 KiB.
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: u64 = 114_688;

/// The `sizelimit` filter factory.
///
/// A `Content-Length` over the limit is answered `413` before the app runs.
/// A body without a length (chunked, HTTP/2) is counted as the app reads it:
/// past the limit the read fails, and whatever the app answers then is
/// replaced by a `413`.
///
/// # Examples
///
/// ```
/// use rsgi::filters::SizeLimitFilter;
/// use rsgi::{App, Body, Request, app_fn, pipeline};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = pipeline()
///     .filter(SizeLimitFilter::new(4))
///     .app(app_fn(|mut req: Request| async move {
///         match req.take_body().collect_bytes().await {
///             Ok(b) => format!("{} bytes", b.len()),
///             Err(e) => e.to_string(),
///         }
///     }));
/// let req = http::Request::post("/").body(Body::from("too long")).unwrap();
/// assert_eq!(app.call(Request::from_http(req)).await.status(), 413);
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SizeLimitFilter {
    max_request_body_size: u64,
}

impl SizeLimitFilter {
    /// A limit of `max_request_body_size` bytes.
    pub const fn new(max_request_body_size: u64) -> Self {
        SizeLimitFilter { max_request_body_size }
    }
}

impl Default for SizeLimitFilter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_REQUEST_BODY_SIZE)
    }
}

/// An app wrapped by [`SizeLimitFilter`].
#[derive(Clone, Debug)]
pub struct SizeLimit<A> {
    inner: A,
    max: u64,
}

impl<A: App> Filter<A> for SizeLimitFilter {
    type Output = SizeLimit<A>;
    fn wrap(&self, inner: A) -> SizeLimit<A> {
        SizeLimit { inner, max: self.max_request_body_size }
    }
}

fn too_large() -> Response {
    json_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        br#"{"overLimit": {"code": 413, "message": "Request is too large."}}"#.to_vec(),
    )
}

impl<A: App> App for SizeLimit<A> {
    fn call(&self, mut req: Request) -> impl Future<Output = Response> + Send {
        let declared =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max) {
            return EitherFuture::Left { future: std::future::ready(too_large()) };
        }
        // A body that is empty, or whose declared length is within the limit
        // (hyper enforces it), needs no counting.
        if declared.is_some() || req.body_mut().is_empty() {
            return EitherFuture::Right { future: EitherFuture::Left { future: self.inner.call(req) } };
        }
        let tripped = Arc::new(AtomicBool::new(false));
        let body = req.take_body();
        let limited = Limited { inner: body, remaining: self.max, limit: self.max, tripped: Arc::clone(&tripped) };
        req.replace_body(Body::new(limited));
        let future =
            MapFuture::new(
                self.inner.call(req),
                move |res| {
                    if tripped.load(Ordering::Acquire) { too_large() } else { res }
                },
            );
        EitherFuture::Right { future: EitherFuture::Right { future } }
    }
}

/// The error a read past the limit returns to the app.
#[derive(Debug)]
pub struct LengthLimitError {
    limit: u64,
}

impl std::fmt::Display for LengthLimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request body is larger than {} bytes", self.limit)
    }
}

impl std::error::Error for LengthLimitError {}

// `http_body_util::Limited` does the counting but cannot tell the filter that
// it tripped; this one records it so the filter can answer 413.
struct Limited {
    inner: Body,
    remaining: u64,
    limit: u64,
    tripped: Arc<AtomicBool>,
}

impl http_body::Body for Limited {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                if len > this.remaining {
                    this.tripped.store(true, Ordering::Release);
                    return Poll::Ready(Some(Err(Box::new(LengthLimitError { limit: this.limit }))));
                }
                this.remaining -= len;
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

crate::settings! {
    /// Settings of [`SizeLimitFilter`] (oslo's option name).
    pub struct SizeLimitSettings {
        /// The largest request body accepted, in bytes.
        pub max_request_body_size: u64 = DEFAULT_MAX_REQUEST_BODY_SIZE,
    }
    ignore ["oslo_config_project"]
}

impl crate::factory::Factory for SizeLimitFilter {
    type Settings = SizeLimitSettings;
    type Output = SizeLimitFilter;
    fn build(s: SizeLimitSettings) -> SizeLimitFilter {
        SizeLimitFilter::new(s.max_request_body_size)
    }
}
