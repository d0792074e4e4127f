//! `http_proxy_to_wsgi`: trusts the proxy's `Forwarded` / `X-Forwarded-*`
//! headers for the scheme, host and path prefix (oslo.middleware's
//! `HTTPProxyToWSGI`) — only when enabled.

use http::{HeaderValue, header};

use crate::app::{App, Response};
use crate::filter::Filter;
use crate::request::{Request, Scheme};

/// The `http_proxy_to_wsgi` filter factory.
///
/// With `enable_proxy_headers_parsing` off (the default, as in oslo) the
/// filter does nothing: a client could otherwise claim to have used HTTPS.
/// With it on:
///
/// - `Forwarded: proto=…;host=…` (RFC 7239, first element), else
///   `X-Forwarded-Proto` and `X-Forwarded-Host`, set `wsgi.url_scheme` and
///   the `Host` header;
/// - `X-Forwarded-Prefix` is put in front of `SCRIPT_NAME`.
///
/// # Examples
///
/// ```
/// use rsgi::filters::HttpProxyToWsgiFilter;
/// use rsgi::{App, Request, app_fn, pipeline};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = pipeline()
///     .filter(HttpProxyToWsgiFilter::new(true))
///     .app(app_fn(|req: Request| async move { req.url_scheme().to_string() }));
/// let mut req = Request::get("/");
/// req.headers_mut().insert("x-forwarded-proto", "https".parse().unwrap());
/// let body = app.call(req).await.into_body().collect_bytes().await.unwrap();
/// assert_eq!(body, "https");
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpProxyToWsgiFilter {
    enable_proxy_headers_parsing: bool,
}

impl HttpProxyToWsgiFilter {
    /// The filter, honouring proxy headers only when `enable_proxy_headers_parsing`.
    pub const fn new(enable_proxy_headers_parsing: bool) -> Self {
        HttpProxyToWsgiFilter { enable_proxy_headers_parsing }
    }
}

/// An app wrapped by [`HttpProxyToWsgiFilter`].
#[derive(Clone, Debug)]
pub struct HttpProxyToWsgi<A> {
    inner: A,
    enabled: bool,
}

impl<A: App> Filter<A> for HttpProxyToWsgiFilter {
    type Output = HttpProxyToWsgi<A>;
    fn wrap(&self, inner: A) -> HttpProxyToWsgi<A> {
        HttpProxyToWsgi { inner, enabled: self.enable_proxy_headers_parsing }
    }
}

impl<A: App> App for HttpProxyToWsgi<A> {
    fn call(&self, mut req: Request) -> impl Future<Output = Response> + Send {
        if self.enabled {
            apply_proxy_headers(&mut req);
        }
        self.inner.call(req)
    }
}

fn apply_proxy_headers(req: &mut Request) {
    let (mut proto, mut host) = (None, None);
    if let Some(fwd) = req.headers().get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        let first = fwd.split(',').next().unwrap_or("");
        for pair in first.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                let v = v.trim().trim_matches('"');
                if k.eq_ignore_ascii_case("proto") {
                    proto = Some(v.to_ascii_lowercase());
                } else if k.eq_ignore_ascii_case("host") {
                    host = Some(v.to_owned());
                }
            }
        }
    }
    let first_value = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or("").trim().to_owned())
    };
    proto = proto.or_else(|| first_value("x-forwarded-proto").map(|p| p.to_ascii_lowercase()));
    host = host.or_else(|| first_value("x-forwarded-host"));
    let prefix = first_value("x-forwarded-prefix");
    match proto.as_deref() {
        Some("https") => req.set_url_scheme(Scheme::Https),
        Some("http") => req.set_url_scheme(Scheme::Http),
        _ => {}
    }
    if let Some(value) = host.and_then(|h| HeaderValue::from_str(&h).ok()) {
        req.headers_mut().insert(header::HOST, value);
    }
    if let Some(prefix) = prefix.filter(|p| p.starts_with('/')) {
        let script_name = format!("{}{}", prefix.trim_end_matches('/'), req.script_name());
        req.set_script_name(&script_name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_beats_x_forwarded() {
        let mut req = Request::get("/x");
        req.headers_mut()
            .insert(header::FORWARDED, HeaderValue::from_static("for=1.2.3.4;proto=HTTPS;host=\"api.example\""));
        req.headers_mut().insert("x-forwarded-proto", HeaderValue::from_static("http"));
        req.headers_mut().insert("x-forwarded-prefix", HeaderValue::from_static("/compute/"));
        apply_proxy_headers(&mut req);
        assert_eq!(req.url_scheme(), Scheme::Https);
        assert_eq!(req.host(), Some("api.example"));
        assert_eq!((req.script_name(), req.path_info()), ("/compute", "/x"));
    }
}

crate::settings! {
    /// Settings of [`HttpProxyToWsgiFilter`] (oslo's option name).
    pub struct HttpProxyToWsgiSettings {
        /// Trust `Forwarded` / `X-Forwarded-*`.
        pub enable_proxy_headers_parsing: bool = false,
    }
    ignore ["oslo_config_project"]
}

impl crate::factory::Factory for HttpProxyToWsgiFilter {
    type Settings = HttpProxyToWsgiSettings;
    type Output = HttpProxyToWsgiFilter;
    fn build(s: HttpProxyToWsgiSettings) -> HttpProxyToWsgiFilter {
        HttpProxyToWsgiFilter::new(s.enable_proxy_headers_parsing)
    }
}
