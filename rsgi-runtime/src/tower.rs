//! Interop with tower, both ways.
//!
//! - [`LayerFilter`]: any `tower::Layer` as an rsgi [`Filter`] (so all of
//!   `tower-http` can sit in a pipeline);
//! - [`ServiceApp`]: any `tower::Service<http::Request<Body>>` as an rsgi [`App`];
//! - [`AppService`]: any rsgi [`App`] as a `tower::Service`, for example to
//!   mount it inside axum.
//!
//! The environ ([`Request::script_name`], the request id, …) crosses a tower
//! layer inside the `http::Request`'s extensions. These seams box the
//! future (a tower service's future has no lifetime to borrow the app with):
//! one allocation per request per seam, which a native filter does not pay.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::StatusCode;
use tower_layer::Layer;
use tower_service::Service;

use crate::app::{App, Response};
use crate::body::{Body, BoxError};
use crate::filter::Filter;
use crate::request::Request;

/// An rsgi [`App`] as a `tower::Service` accepting any request body.
///
/// # Examples
///
/// ```
/// use rsgi::tower::AppService;
/// use rsgi::{Request, app_fn};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let svc = AppService::new(app_fn(|req: Request| async move { req.path_info().to_owned() }));
/// let req = http::Request::get("/hello").body(http_body_util::Empty::<bytes::Bytes>::new())?;
/// let res = svc.oneshot(req).await?;
/// assert_eq!(res.into_body().collect_bytes().await?, "/hello");
/// # Ok(())
/// # }
/// ```
pub struct AppService<A> {
    app: Arc<A>,
}

impl<A> AppService<A> {
    /// Wraps `app`.
    pub fn new(app: A) -> Self {
        AppService { app: Arc::new(app) }
    }

    /// Wraps an app already shared.
    pub fn from_arc(app: Arc<A>) -> Self {
        AppService { app }
    }
}

impl<A> Clone for AppService<A> {
    fn clone(&self) -> Self {
        AppService { app: Arc::clone(&self.app) }
    }
}

impl<A> fmt::Debug for AppService<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppService").finish_non_exhaustive()
    }
}

/// The future of [`AppService`].
pub type BoxResponseFuture<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

impl<A, B> Service<http::Request<B>> for AppService<A>
where
    A: App,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxResponseFuture<Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let app = Arc::clone(&self.app);
        let req = Request::from_http(req.map(Body::new));
        Box::pin(async move { Ok(app.call(req).await) })
    }
}

/// A `tower::Service` as an rsgi [`App`].
///
/// The service is cloned for each request (tower's usual contract: `Clone`
/// plus `poll_ready` on the clone). A service error becomes a
/// `500 Internal Server Error`.
#[derive(Clone)]
pub struct ServiceApp<S> {
    service: S,
}

impl<S> ServiceApp<S> {
    /// Wraps `service`.
    pub fn new(service: S) -> Self {
        ServiceApp { service }
    }
}

impl<S> fmt::Debug for ServiceApp<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceApp").finish_non_exhaustive()
    }
}

impl<S, B> App for ServiceApp<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError> + Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    async fn call(&self, req: Request) -> Response {
        let mut service = self.service.clone();
        let result = match poll_fn(|cx| service.poll_ready(cx)).await {
            Ok(()) => service.call(req.into_http()).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(res) => res.map(Body::new),
            Err(e) => {
                let e: BoxError = e.into();
                tracing::error!(error = %e, "tower service failed");
                crate::app::IntoResponse::into_response(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

/// A `tower::Layer` as an rsgi [`Filter`]: the layer wraps the app (seen as
/// an [`AppService`]), and the layered service becomes a [`ServiceApp`].
///
/// # Examples
///
/// ```
/// use rsgi::tower::LayerFilter;
/// use rsgi::{App, Request, app_fn, pipeline};
/// use tower_http::set_header::SetResponseHeaderLayer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server_header = SetResponseHeaderLayer::overriding(
///     http::header::SERVER,
///     http::HeaderValue::from_static("rsgi"),
/// );
/// let app = pipeline().filter(LayerFilter::new(server_header)).app(app_fn(|_| async { "hi" }));
/// let res = app.call(Request::get("/")).await;
/// assert_eq!(res.headers()["server"], "rsgi");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct LayerFilter<L> {
    layer: L,
}

impl<L> LayerFilter<L> {
    /// Wraps `layer`.
    pub fn new(layer: L) -> Self {
        LayerFilter { layer }
    }
}

impl<A, L, B> Filter<A> for LayerFilter<L>
where
    A: App,
    L: Layer<AppService<A>>,
    L::Service: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    <L::Service as Service<http::Request<Body>>>::Future: Send,
    <L::Service as Service<http::Request<Body>>>::Error: Into<BoxError> + Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = ServiceApp<L::Service>;

    fn wrap(&self, inner: A) -> Self::Output {
        ServiceApp::new(self.layer.layer(AppService::new(inner)))
    }
}
