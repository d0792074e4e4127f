//! `healthcheck`: an app answering load balancers (oslo.middleware's
//! `Healthcheck`, simple mode).

use std::path::PathBuf;

use http::{HeaderValue, Method, StatusCode, header};

use crate::app::{App, Response};
use crate::body::Body;
use crate::request::Request;

/// Answers `200 OK` with body `OK`, or `503` with `DISABLED BY FILE` while
/// the file `disable_by_file_path` exists (so an operator can drain a node
/// with `touch`). `HEAD` gets the status without the body.
///
/// # Examples
///
/// ```
/// use rsgi::filters::Healthcheck;
/// use rsgi::{App, Request};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let res = Healthcheck::new().call(Request::get("/healthcheck")).await;
/// assert_eq!(res.status(), 200);
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Healthcheck {
    disable_by_file_path: Option<PathBuf>,
}

impl Healthcheck {
    /// A healthcheck that is always healthy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports `503` while `path` exists.
    pub fn disable_by_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.disable_by_file_path = Some(path.into());
        self
    }
}

impl App for Healthcheck {
    async fn call(&self, req: Request) -> Response {
        let disabled = match &self.disable_by_file_path {
            // One stat per health probe: cheap enough not to need a blocking pool.
            Some(path) => path.exists(),
            None => false,
        };
        let (status, text) =
            if disabled { (StatusCode::SERVICE_UNAVAILABLE, "DISABLED BY FILE") } else { (StatusCode::OK, "OK") };
        let body = if req.method() == Method::HEAD { Body::empty() } else { Body::from(text) };
        let mut res = Response::new(body);
        *res.status_mut() = status;
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        res
    }
}

crate::settings! {
    /// Settings of [`Healthcheck`] (oslo's option names).
    pub struct HealthcheckSettings {
        /// Report `503` while this file exists; empty for never.
        pub disable_by_file_path: String = String::new(),
    }
    ignore ["oslo_config_project", "backends", "detailed", "path"]
}

impl crate::factory::Factory for Healthcheck {
    type Settings = HealthcheckSettings;
    type Output = Healthcheck;
    fn build(s: HealthcheckSettings) -> Healthcheck {
        if s.disable_by_file_path.is_empty() {
            Healthcheck::new()
        } else {
            Healthcheck::new().disable_by_file(s.disable_by_file_path)
        }
    }
}
