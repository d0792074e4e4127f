//! `faultwrap`: a panic in the app becomes a `500` JSON fault for that
//! request only (Nova's `FaultWrapper`).

use http::StatusCode;

use crate::app::{App, MapFuture, Response, json_response};
use crate::filter::Filter;
use crate::panic::{CatchUnwind, panic_message};
use crate::request::Request;

/// The `faultwrap` filter factory.
///
/// The fault body is `{"<key>": {"code": 500, "message": "…"}}`, with key
/// `computeFault` as Nova writes it unless set with [`FaultWrapFilter::key`].
/// The panic message goes to the log, never to the client.
///
/// # Examples
///
/// ```
/// use rsgi::filters::FaultWrapFilter;
/// use rsgi::{App, Request, app_fn, pipeline};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = pipeline().filter(FaultWrapFilter::new()).app(app_fn(|_| async {
///     if true { panic!("boom") }
///     "unreachable"
/// }));
/// let res = app.call(Request::get("/")).await;
/// assert_eq!(res.status(), 500);
/// assert_eq!(res.headers()["content-type"], "application/json");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct FaultWrapFilter {
    key: String,
}

impl FaultWrapFilter {
    /// A faultwrap with Nova's `computeFault` key.
    pub fn new() -> Self {
        FaultWrapFilter { key: "computeFault".to_owned() }
    }

    /// Sets the JSON key of the fault (`computeFault`, `badRequest`, …).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }
}

impl Default for FaultWrapFilter {
    fn default() -> Self {
        Self::new()
    }
}

/// An app wrapped by [`FaultWrapFilter`].
#[derive(Clone, Debug)]
pub struct FaultWrap<A> {
    inner: A,
    body: Vec<u8>,
}

impl<A: App> Filter<A> for FaultWrapFilter {
    type Output = FaultWrap<A>;
    fn wrap(&self, inner: A) -> FaultWrap<A> {
        FaultWrap { inner, body: fault_body(&self.key) }
    }
}

fn fault_body(key: &str) -> Vec<u8> {
    let fault = serde_json::json!({
        key: {
            "code": 500,
            "message": "The server has either erred or is incapable of performing the requested operation.",
        }
    });
    serde_json::to_vec(&fault).unwrap_or_default()
}

impl<A: App> App for FaultWrap<A> {
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send {
        // Cheap clones (a reference count), kept for the log line of a panic.
        let method = req.method().clone();
        let uri = req.uri().clone();
        MapFuture::new(
            CatchUnwind::new(self.inner.call(req)),
            move |caught: Result<Response, Box<dyn std::any::Any + Send>>| match caught {
                Ok(res) => res,
                Err(payload) => {
                    tracing::error!(%method, %uri, panic = panic_message(&*payload), "app panicked; answering 500");
                    json_response(StatusCode::INTERNAL_SERVER_ERROR, self.body.clone())
                }
            },
        )
    }
}

crate::settings! {
    /// Settings of [`FaultWrapFilter`].
    pub struct FaultWrapSettings {
        /// The JSON key of the fault body.
        pub fault_key: String = "computeFault".to_owned(),
    }
}

impl crate::factory::Factory for FaultWrapFilter {
    type Settings = FaultWrapSettings;
    type Output = FaultWrapFilter;
    fn build(s: FaultWrapSettings) -> FaultWrapFilter {
        FaultWrapFilter::new().key(s.fault_key)
    }
}
