//! `cors`: Cross-Origin Resource Sharing (oslo.middleware's `CORS`).

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::app::{App, EitherFuture, MapFuture, Response};
use crate::body::Body;
use crate::filter::Filter;
use crate::request::Request;

/// The `cors` filter factory, with oslo.middleware's options and defaults.
///
/// - A preflight (`OPTIONS` with `Origin` and
///   `Access-Control-Request-Method`) is answered by the filter: `200`, with
///   the CORS headers when the origin, the method and every requested header
///   are allowed, without them otherwise.
/// - Any other request with an allowed `Origin` goes to the app, and its
///   response gets `Access-Control-Allow-Origin` (and `-Allow-Credentials`,
///   `-Expose-Headers`) plus `Vary: Origin`.
///
/// # Examples
///
/// ```
/// use rsgi::filters::CorsFilter;
/// use rsgi::{App, Request, app_fn, pipeline};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = pipeline()
///     .filter(CorsFilter::new().allowed_origin("https://dash.example"))
///     .app(app_fn(|_| async { "ok" }));
/// let mut req = Request::get("/");
/// req.headers_mut().insert("origin", "https://dash.example".parse().unwrap());
/// let res = app.call(req).await;
/// assert_eq!(res.headers()["access-control-allow-origin"], "https://dash.example");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct CorsFilter {
    allowed_origin: Vec<String>,
    allow_credentials: bool,
    expose_headers: Vec<String>,
    max_age: Option<u64>,
    allow_methods: Vec<Method>,
    allow_headers: Vec<String>,
}

impl Default for CorsFilter {
    fn default() -> Self {
        CorsFilter {
            allowed_origin: Vec::new(),
            allow_credentials: true,
            expose_headers: Vec::new(),
            max_age: Some(3600),
            allow_methods: ["GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "PATCH"]
                .iter()
                .filter_map(|m| m.parse().ok())
                .collect(),
            allow_headers: Vec::new(),
        }
    }
}

impl CorsFilter {
    /// No origin allowed yet; credentials allowed, `max_age` 3600, oslo's methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows an origin (`*` allows any).
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origin.push(origin.into());
        self
    }

    /// Whether to send `Access-Control-Allow-Credentials: true`.
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.allow_credentials = allow;
        self
    }

    /// A response header the browser may show to the script.
    pub fn expose_header(mut self, name: impl Into<String>) -> Self {
        self.expose_headers.push(name.into());
        self
    }

    /// How long a preflight answer may be cached, in seconds.
    pub fn max_age(mut self, seconds: Option<u64>) -> Self {
        self.max_age = seconds;
        self
    }

    /// Replaces the allowed methods.
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.allow_methods = methods.into_iter().collect();
        self
    }

    /// A request header the script may send.
    pub fn allow_header(mut self, name: impl Into<String>) -> Self {
        self.allow_headers.push(name.into().to_ascii_lowercase());
        self
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origin.iter().any(|o| o == "*" || o == origin)
    }
}

/// An app wrapped by [`CorsFilter`].
#[derive(Clone, Debug)]
pub struct Cors<A> {
    inner: A,
    config: CorsFilter,
    /// `Access-Control-Expose-Headers`, joined once here rather than per response.
    expose_headers: Option<HeaderValue>,
    /// `Access-Control-Allow-Methods`, joined once.
    allow_methods: Option<HeaderValue>,
}

impl<A: App> Filter<A> for CorsFilter {
    type Output = Cors<A>;
    fn wrap(&self, inner: A) -> Cors<A> {
        Cors {
            inner,
            config: self.clone(),
            expose_headers: join(&self.expose_headers).filter(|_| !self.expose_headers.is_empty()),
            allow_methods: join(self.allow_methods.iter().map(Method::as_str)),
        }
    }
}

fn join<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> Option<HeaderValue> {
    let s = items.into_iter().map(|i| i.as_ref().to_owned()).collect::<Vec<_>>().join(", ");
    HeaderValue::from_str(&s).ok()
}

impl<A: App> App for Cors<A> {
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send {
        let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
            return EitherFuture::Left { future: self.inner.call(req) };
        };
        let allowed = origin.to_str().is_ok_and(|o| self.config.origin_allowed(o));
        if req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
            let answer = self.preflight(req.headers(), &origin, allowed);
            return EitherFuture::Right { future: EitherFuture::Left { future: std::future::ready(answer) } };
        }
        let future = MapFuture::new(self.inner.call(req), move |mut res: Response| {
            if allowed {
                self.simple_headers(res.headers_mut(), origin);
            }
            res
        });
        EitherFuture::Right { future: EitherFuture::Right { future } }
    }
}

impl<A> Cors<A> {
    fn simple_headers(&self, h: &mut HeaderMap, origin: HeaderValue) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        if self.config.allow_credentials {
            h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        if let Some(v) = &self.expose_headers {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
        }
    }

    fn preflight(&self, req: &HeaderMap, origin: &HeaderValue, origin_allowed: bool) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::OK;
        let method_ok = req
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .and_then(|m| m.parse::<Method>().ok())
            .is_some_and(|m| self.config.allow_methods.contains(&m));
        let requested: Vec<String> = req
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let headers_ok = requested.iter().all(|h| self.config.allow_headers.contains(h));
        if !(origin_allowed && method_ok && headers_ok) {
            return res;
        }
        let h = res.headers_mut();
        self.simple_headers(h, origin.clone());
        if let Some(v) = &self.allow_methods {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v.clone());
        }
        if let Some(v) = join(&requested).filter(|_| !requested.is_empty()) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(age) = self.config.max_age {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
        }
        res
    }
}

crate::settings! {
    /// Settings of [`CorsFilter`] (oslo's option names; lists are
    /// comma-separated, as oslo.config writes them).
    pub struct CorsSettings {
        /// Origins allowed (`*` for any), comma-separated.
        pub allowed_origin: String = String::new(),
        /// Send `Access-Control-Allow-Credentials`.
        pub allow_credentials: bool = true,
        /// Response headers the browser may expose, comma-separated.
        pub expose_headers: String = String::new(),
        /// Preflight cache time in seconds; 0 sends no `Access-Control-Max-Age`.
        pub max_age: u64 = 3600,
        /// Methods allowed, comma-separated.
        pub allow_methods: String = "GET, HEAD, POST, PUT, DELETE, TRACE, PATCH".to_owned(),
        /// Request headers allowed, comma-separated.
        pub allow_headers: String = String::new(),
    }
    ignore ["oslo_config_project", "oslo_config_program"]
}

fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|i| !i.is_empty())
}

impl crate::factory::Factory for CorsFilter {
    type Settings = CorsSettings;
    type Output = CorsFilter;
    fn build(s: CorsSettings) -> CorsFilter {
        let mut f = CorsFilter::new()
            .allow_credentials(s.allow_credentials)
            .max_age(Some(s.max_age).filter(|&a| a > 0))
            .allow_methods(list(&s.allow_methods).filter_map(|m| m.parse().ok()));
        for o in list(&s.allowed_origin) {
            f = f.allowed_origin(o);
        }
        for h in list(&s.expose_headers) {
            f = f.expose_header(h);
        }
        for h in list(&s.allow_headers) {
            f = f.allow_header(h);
        }
        f
    }
}
