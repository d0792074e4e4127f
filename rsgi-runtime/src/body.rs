//! The body type shared by requests and responses.

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

/// A boxed, thread-safe error, the error type of [`Body`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

type BoxBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send + 'static>>;

/// The body of a [`Request`](crate::Request) or a [`Response`](crate::Response).
///
/// Empty and in-memory bodies cost no allocation; the body of an incoming
/// request is kept as hyper delivers it; anything else (a stream, a body
/// wrapped by a filter) is boxed. A body can therefore stream in both
/// directions.
///
/// # Examples
///
/// ```
/// use rsgi::Body;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rsgi::BoxError> {
/// let body = Body::from("hello");
/// assert_eq!(body.collect_bytes().await?, "hello");
/// # Ok(())
/// # }
/// ```
pub struct Body {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Incoming(hyper::body::Incoming),
    Boxed(BoxBody),
}

impl Body {
    /// An empty body.
    pub const fn empty() -> Self {
        Body { kind: Kind::Full(None) }
    }

    /// Wraps any [`http_body::Body`] of [`Bytes`]; a `Body` is passed through unchanged.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // Without specialization, `Any` is how a `Body` given to a generic
        // constructor avoids being boxed a second time.
        let mut slot = Some(body);
        if let Some(same) = (&mut slot as &mut dyn Any).downcast_mut::<Option<Body>>() {
            if let Some(body) = same.take() {
                return body;
            }
        }
        match slot {
            Some(body) => Body { kind: Kind::Boxed(Box::pin(body.map_err(Into::into))) },
            None => Body::empty(),
        }
    }

    /// Reads the whole body into memory.
    ///
    /// # Errors
    ///
    /// The error of the underlying body, for example a connection reset or a
    /// [`sizelimit`](crate::filters::sizelimit) violation.
    pub async fn collect_bytes(self) -> Result<Bytes, BoxError> {
        Ok(self.collect().await?.to_bytes())
    }

    /// Whether this body is known to be empty without polling it.
    pub fn is_empty(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Kind::Incoming(b) => http_body::Body::is_end_stream(b),
            Kind::Boxed(b) => b.is_end_stream(),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Full(None) => "Empty",
            Kind::Full(Some(_)) => "Full",
            Kind::Incoming(_) => "Incoming",
            Kind::Boxed(_) => "Boxed",
        };
        f.debug_tuple("Body").field(&kind).finish()
    }
}

impl From<hyper::body::Incoming> for Body {
    fn from(body: hyper::body::Incoming) -> Self {
        Body { kind: Kind::Incoming(body) }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body { kind: Kind::Full(Some(bytes)) }
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Bytes::from_static(s.as_bytes()).into()
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Bytes::from_static(s).into()
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Bytes::from(s).into()
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Bytes::from(v).into()
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Body::empty()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b)))),
            Kind::Incoming(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Kind::Boxed(body) => body.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Kind::Incoming(b) => b.is_end_stream(),
            Kind::Boxed(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Incoming(b) => b.size_hint(),
            Kind::Boxed(b) => b.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn body_is_not_boxed_twice() {
        let body = Body::new(Body::from("x"));
        assert_eq!(format!("{body:?}"), "Body(\"Full\")");
        let other = Body::new(Full::new(Bytes::from_static(b"y")));
        assert_eq!(format!("{other:?}"), "Body(\"Boxed\")");
        assert_eq!(other.collect_bytes().await.unwrap(), "y");
    }

    #[test]
    fn size_hint_of_full_body_is_exact() {
        assert_eq!(http_body::Body::size_hint(&Body::from("abc")).exact(), Some(3));
        assert!(Body::empty().is_empty());
    }
}
