//! `request_id`: gives every request an id and returns it in
//! `x-openstack-request-id` (oslo.middleware's `RequestId`).

use http::{HeaderName, HeaderValue};

use crate::app::{App, MapFuture, Response};
use crate::filter::Filter;
use crate::request::Request;

/// The response header carrying the request id.
pub const HEADER: HeaderName = HeaderName::from_static("x-openstack-request-id");

/// The id a caller passed in `x-openstack-request-id` when it is a valid
/// `req-<uuid>` (oslo's global request id), in the request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalRequestId(pub HeaderValue);

/// The `request_id` filter factory.
///
/// # Examples
///
/// ```
/// use rsgi::filters::RequestIdFilter;
/// use rsgi::{App, Request, app_fn, pipeline};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = pipeline()
///     .filter(RequestIdFilter)
///     .app(app_fn(|req: Request| async move { req.request_id().unwrap().to_owned() }));
/// let res = app.call(Request::get("/")).await;
/// let id = res.headers()["x-openstack-request-id"].to_str().unwrap().to_owned();
/// assert!(id.starts_with("req-") && id.len() == 40);
/// assert_eq!(res.into_body().collect_bytes().await.unwrap(), id);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestIdFilter;

/// An app wrapped by [`RequestIdFilter`].
#[derive(Clone, Debug)]
pub struct RequestId<A> {
    inner: A,
}

impl<A: App> Filter<A> for RequestIdFilter {
    type Output = RequestId<A>;
    fn wrap(&self, inner: A) -> RequestId<A> {
        RequestId { inner }
    }
}

impl<A: App> App for RequestId<A> {
    fn call(&self, mut req: Request) -> impl Future<Output = Response> + Send {
        let id = new_request_id();
        if let Some(global) = req.headers().get(&HEADER).filter(|v| is_request_id(v.as_bytes())) {
            let global = GlobalRequestId(global.clone());
            req.extensions_mut().insert(global);
        }
        req.set_request_id(id.clone());
        MapFuture::new(self.inner.call(req), move |mut res: Response| {
            res.headers_mut().insert(HEADER, id);
            res
        })
    }
}

/// `req-` followed by a hyphenated version-4 UUID.
fn is_request_id(v: &[u8]) -> bool {
    v.len() == 40
        && v.starts_with(b"req-")
        && v[4..].iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A fresh `req-<uuid4>`.
pub fn new_request_id() -> HeaderValue {
    // A request id must be unique, not secret: fastrand's per-thread
    // generator avoids a getrandom syscall per request.
    let uuid = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
    let mut buf = [0u8; 40];
    buf[..4].copy_from_slice(b"req-");
    uuid.hyphenated().encode_lower(&mut buf[4..]);
    HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("req-"))
}

impl crate::factory::Factory for RequestIdFilter {
    type Settings = crate::factory::NoSettings;
    type Output = RequestIdFilter;
    fn build(_: crate::factory::NoSettings) -> RequestIdFilter {
        RequestIdFilter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_distinct() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert!(is_request_id(a.as_bytes()), "{a:?}");
        assert_eq!(&a.as_bytes()[18..19], b"4");
        assert!(!is_request_id(b"req-nope"));
    }
}
