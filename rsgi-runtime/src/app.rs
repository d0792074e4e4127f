//! The [`App`] trait (WSGI's `app(environ, start_response)`) and small adapters.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use crate::body::Body;
use crate::request::Request;

/// The response type of every [`App`].
pub type Response = http::Response<Body>;

/// An application: takes a [`Request`] and answers a [`Response`].
///
/// `call` takes `&self`, so one app serves many requests at once; apps are
/// `Send + Sync + 'static` so the server can share one across its threads.
/// Composition is static: a pipeline or a urlmap of apps is itself a plain
/// struct implementing `App`, with no boxing in between.
///
/// An app may be written as an `async fn` in the impl:
///
/// ```
/// use rsgi::{App, Request, Response};
///
/// struct Versions;
///
/// impl App for Versions {
///     async fn call(&self, _req: Request) -> Response {
///         Response::new(r#"{"versions": []}"#.into())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let res = Versions.call(Request::get("/")).await;
/// assert_eq!(res.status(), 200);
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an rsgi app",
    label = "expected an app here",
    note = "an app implements `rsgi::App` (`fn call(&self, Request) -> impl Future<Output = Response>`); \
            wrap a closure with `rsgi::app_fn` or a tower service with `rsgi::tower::ServiceApp`"
)]
pub trait App: Send + Sync + 'static {
    /// Handles one request.
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send;
}

impl<A: App> App for Arc<A> {
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send {
        (**self).call(req)
    }
}

impl<A: App> App for Box<A> {
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send {
        (**self).call(req)
    }
}

/// Converts a handler's return value into a [`Response`].
///
/// # Examples
///
/// ```
/// use rsgi::{IntoResponse, http::StatusCode};
///
/// let res = (StatusCode::CREATED, "made").into_response();
/// assert_eq!(res.status(), 201);
/// ```
pub trait IntoResponse {
    /// Does the conversion.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = self;
        res
    }
}

macro_rules! text_response {
    ($($ty:ty),*) => {$(
        impl IntoResponse for $ty {
            fn into_response(self) -> Response {
                let mut res = Response::new(Body::from(self));
                res.headers_mut().insert(header::CONTENT_TYPE, TEXT_PLAIN);
                res
            }
        }
    )*};
}
text_response!(&'static str, String);

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        Response::new(Body::from(self))
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        *res.status_mut() = self.0;
        res
    }
}

/// A JSON response body (`Content-Type: application/json`).
///
/// # Examples
///
/// ```
/// use rsgi::{IntoResponse, Json};
///
/// let res = Json(serde_json::json!({"servers": []})).into_response();
/// assert_eq!(res.headers()["content-type"], "application/json");
/// ```
#[derive(Clone, Debug)]
pub struct Json<T>(pub T);

impl IntoResponse for Json<serde_json::Value> {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, serde_json::to_vec(&self.0).unwrap_or_default())
    }
}

impl IntoResponse for Json<&'static str> {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::from(self.0));
        res.headers_mut().insert(header::CONTENT_TYPE, APPLICATION_JSON);
        res
    }
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, APPLICATION_JSON);
    res
}

// A constant, so the header bytes are checked at compile time, not per response.
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// An [`App`] made from an async closure; see [`app_fn`].
#[derive(Clone, Copy)]
pub struct AppFn<F> {
    f: F,
}

impl<F> fmt::Debug for AppFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppFn").finish_non_exhaustive()
    }
}

/// Makes an [`App`] from an async closure returning anything [`IntoResponse`].
///
/// # Examples
///
/// ```
/// use rsgi::{App, Request, app_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rsgi::BoxError> {
/// let hello = app_fn(|req: Request| async move { format!("hello from {}", req.path_info()) });
/// let res = hello.call(Request::get("/x")).await;
/// assert_eq!(res.into_body().collect_bytes().await?, "hello from /x");
/// # Ok(())
/// # }
/// ```
pub fn app_fn<F, Fut>(f: F) -> AppFn<F>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future + Send,
    Fut::Output: IntoResponse,
{
    AppFn { f }
}

impl<F, Fut> App for AppFn<F>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future + Send,
    Fut::Output: IntoResponse,
{
    async fn call(&self, req: Request) -> Response {
        (self.f)(req).await.into_response()
    }
}

/// A type-erased [`App`], for compositions whose shape is only known at run
/// time (the ini loader). Statically composed apps never need it.
#[derive(Clone)]
pub struct BoxApp {
    inner: Arc<dyn DynApp>,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

trait DynApp: Send + Sync + 'static {
    fn call_boxed(&self, req: Request) -> BoxFuture<'_, Response>;
}

impl<A: App> DynApp for A {
    fn call_boxed(&self, req: Request) -> BoxFuture<'_, Response> {
        Box::pin(self.call(req))
    }
}

impl BoxApp {
    /// Erases the type of `app`.
    pub fn new<A: App>(app: A) -> Self {
        BoxApp { inner: Arc::new(app) }
    }
}

impl fmt::Debug for BoxApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxApp").finish_non_exhaustive()
    }
}

impl App for BoxApp {
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send {
        self.inner.call_boxed(req)
    }
}

/// One of two apps, chosen when the composition is built: the building
/// block of [`select`](fn@crate::select) and of urlmaps over apps of different
/// types. Dispatch is a `match`, not a virtual call.
#[derive(Clone, Debug)]
pub enum Either<L, R> {
    /// The first app.
    Left(L),
    /// The second app.
    Right(R),
}

impl<L: App, R: App> App for Either<L, R> {
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send {
        match self {
            Either::Left(app) => EitherFuture::Left { future: app.call(req) },
            Either::Right(app) => EitherFuture::Right { future: app.call(req) },
        }
    }
}

pin_project_lite::pin_project! {
    /// One of two futures: lets a `match` over apps return either app's
    /// future without an `async` wrapper holding the request a second time.
    #[project = EitherFutureProj]
    #[doc(hidden)]
    pub enum EitherFuture<L, R> {
        /// The first future.
        Left { #[pin] future: L },
        /// The second future.
        Right { #[pin] future: R },
    }
}

impl<L: Future, R: Future<Output = L::Output>> Future for EitherFuture<L, R> {
    type Output = L::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<L::Output> {
        match self.project() {
            EitherFutureProj::Left { future } => future.poll(cx),
            EitherFutureProj::Right { future } => future.poll(cx),
        }
    }
}

pin_project_lite::pin_project! {
    /// A future whose output goes through `map` once ready: how a filter
    /// post-processes the inner app's response without an `async` block
    /// that would keep a second copy of the request in its state (nested
    /// `async` filters copy each inner future into the outer one, a cost
    /// that grows with the square of the pipeline's depth).
    #[doc(hidden)]
    pub struct MapFuture<F, M> {
        #[pin]
        future: F,
        map: Option<M>,
    }
}

impl<F, M> MapFuture<F, M> {
    /// Maps the output of `future` with `map`.
    pub fn new(future: F, map: M) -> Self {
        MapFuture { future, map: Some(map) }
    }
}

impl<F: Future, M: FnOnce(F::Output) -> T, T> Future for MapFuture<F, M> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        let this = self.project();
        match this.future.poll(cx) {
            std::task::Poll::Ready(out) => match this.map.take() {
                Some(map) => std::task::Poll::Ready(map(out)),
                // Polled again after completion: a caller bug, as for any future.
                None => std::task::Poll::Pending,
            },
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// An app with no value: the starting point of type-level choices.
#[derive(Clone, Copy, Debug)]
pub enum Never {}

impl App for Never {
    async fn call(&self, _req: Request) -> Response {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Ready = AppFn<fn(Request) -> std::future::Ready<&'static str>>;

    fn ready(_: Request) -> std::future::Ready<&'static str> {
        std::future::ready("ready")
    }

    #[tokio::test]
    async fn box_app_and_either_dispatch() {
        let a = app_fn(|_| async { "a" });
        let boxed = BoxApp::new(Either::<_, Ready>::Left(a));
        let res = boxed.call(Request::get("/")).await;
        assert_eq!(res.into_body().collect_bytes().await.unwrap(), "a");
        let right: Either<Ready, Ready> =
            Either::Right(app_fn(ready as fn(Request) -> std::future::Ready<&'static str>));
        let res = right.call(Request::get("/")).await;
        assert_eq!(res.into_body().collect_bytes().await.unwrap(), "ready");
    }
}
