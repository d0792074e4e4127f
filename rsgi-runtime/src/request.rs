//! [`Request`]: an `http::Request` plus the environ a WSGI app would see.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

use http::{Extensions, HeaderMap, Method, Uri, Version};

use crate::body::Body;

/// `wsgi.url_scheme`: the scheme the client used, as far as the server knows.
///
/// The server sets it from the connection (TLS or not);
/// [`http_proxy_to_wsgi`](crate::filters::proxy) rewrites it from trusted
/// proxy headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port a URL of this scheme implies: 80 or 443.
    pub const fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The WSGI environ of a request, minus what `http::Request` already holds.
///
/// `SCRIPT_NAME` and `PATH_INFO` are stored as one path and a split point:
/// `SCRIPT_NAME = path[..split]`, `PATH_INFO = path[split..]`. A urlmap mount
/// moves the split and allocates nothing; the path is copied only when it is
/// rewritten (a request path that needs normalizing, or an explicit setter).
#[derive(Clone, Debug, Default)]
pub(crate) struct Environ {
    /// `None`: the path is the request URI's path, already in normal form.
    path: Option<Box<str>>,
    split: usize,
    remote_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
    url_scheme: Scheme,
    request_id: Option<http::HeaderValue>,
}

/// A request as rsgi apps and filters see it: the `http::Request` and the
/// environ a WSGI app would have (`SCRIPT_NAME`, `PATH_INFO`, `QUERY_STRING`,
/// `REMOTE_ADDR`, `SERVER_NAME`/`SERVER_PORT`, `wsgi.url_scheme`, a request
/// id) plus typed extensions.
///
/// The request path is normalized once, when the request is built: runs of
/// slashes collapse to one and dot segments (`.`, `..`, also percent-encoded)
/// are removed, so that `/public/../admin` can never be routed as if it were
/// under `/public`. The path stays percent-encoded: `%2F` is never a
/// separator.
///
/// # Examples
///
/// ```
/// use rsgi::Request;
///
/// let mut req = Request::get("/v2.1//servers/./detail?limit=1");
/// assert_eq!(req.path_info(), "/v2.1/servers/detail");
/// assert_eq!(req.query_string(), "limit=1");
///
/// // What a urlmap mount at `/v2.1` does:
/// req.shift_path(5);
/// assert_eq!(req.script_name(), "/v2.1");
/// assert_eq!(req.path_info(), "/servers/detail");
/// ```
pub struct Request {
    inner: http::Request<Body>,
    env: Environ,
}

impl Request {
    /// Builds a request from an `http::Request`, normalizing its path.
    ///
    /// If the request came out of [`Request::into_http`] (for example, it
    /// crossed a tower layer), its environ is restored.
    pub fn from_http(mut inner: http::Request<Body>) -> Self {
        if let Some(env) = inner.extensions_mut().remove::<Environ>() {
            let mut req = Request { inner, env };
            req.check_split();
            return req;
        }
        let path = normalize_path(inner.uri().path());
        Request { inner, env: Environ { path: path.map(String::into_boxed_str), ..Environ::default() } }
    }

    /// Turns the request back into an `http::Request`; the environ travels
    /// in its extensions and comes back with [`Request::from_http`].
    pub fn into_http(self) -> http::Request<Body> {
        let Request { mut inner, env } = self;
        inner.extensions_mut().insert(env);
        inner
    }

    /// A `GET` request for `target` with an empty body, for tests and examples.
    ///
    /// # Panics
    ///
    /// If `target` is not a valid request target.
    #[track_caller]
    pub fn get(target: &str) -> Self {
        let uri: Uri = target.parse().expect("a valid request target");
        Request::from_http(http::Request::get(uri).body(Body::empty()).expect("a valid request"))
    }

    // The split point must stay on a char boundary of the current path; a
    // tower layer may have rewritten the URI behind our back.
    fn check_split(&mut self) {
        let len = self.path().len();
        if self.env.split > len || !self.path().is_char_boundary(self.env.split) {
            self.env.split = 0;
        }
    }

    fn path(&self) -> &str {
        match &self.env.path {
            Some(p) => p,
            None => self.inner.uri().path(),
        }
    }

    /// `SCRIPT_NAME`: the part of the path already routed (by urlmap mounts).
    pub fn script_name(&self) -> &str {
        &self.path()[..self.env.split]
    }

    /// `PATH_INFO`: the rest of the path, what the next router matches on.
    pub fn path_info(&self) -> &str {
        &self.path()[self.env.split..]
    }

    /// Moves the first `len` bytes of `PATH_INFO` to the end of `SCRIPT_NAME`.
    ///
    /// # Panics
    ///
    /// If `len` is longer than `PATH_INFO` or not on a character boundary.
    #[track_caller]
    pub fn shift_path(&mut self, len: usize) {
        let info = self.path_info();
        assert!(info.is_char_boundary(len), "shift_path: {len} is not a boundary of PATH_INFO `{info}`");
        self.env.split += len;
    }

    /// Sets `SCRIPT_NAME`, keeping `PATH_INFO`.
    pub fn set_script_name(&mut self, script_name: &str) {
        let path = format!("{script_name}{}", self.path_info());
        self.env.split = script_name.len();
        self.env.path = Some(path.into_boxed_str());
    }

    /// Sets `PATH_INFO` (normalized as the request path is), keeping `SCRIPT_NAME`.
    pub fn set_path_info(&mut self, path_info: &str) {
        let info = normalize_path(path_info);
        let info = info.as_deref().unwrap_or(path_info);
        let path = format!("{}{info}", self.script_name());
        self.env.path = Some(path.into_boxed_str());
    }

    /// `QUERY_STRING`, without the `?`; empty when there is none.
    pub fn query_string(&self) -> &str {
        self.inner.uri().query().unwrap_or("")
    }

    /// `REMOTE_ADDR` and `REMOTE_PORT`: the peer of the connection.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.env.remote_addr
    }

    /// Sets the peer address (the server does this).
    pub fn set_remote_addr(&mut self, addr: Option<SocketAddr>) {
        self.env.remote_addr = addr;
    }

    /// The local address the connection was accepted on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.env.local_addr
    }

    /// Sets the local address (the server does this).
    pub fn set_local_addr(&mut self, addr: Option<SocketAddr>) {
        self.env.local_addr = addr;
    }

    /// `SERVER_NAME`: the IP address the request was accepted on, or
    /// `localhost` when it is not known (a Unix socket, a test request).
    pub fn server_name(&self) -> Cow<'static, str> {
        match self.env.local_addr {
            Some(addr) => Cow::Owned(addr.ip().to_string()),
            None => Cow::Borrowed("localhost"),
        }
    }

    /// `SERVER_PORT`: the local port, else the scheme's default port.
    pub fn server_port(&self) -> u16 {
        self.env.local_addr.map_or(self.env.url_scheme.default_port(), |a| a.port())
    }

    /// `HTTP_HOST`: the `Host` header, else the URI's authority (HTTP/2), if any.
    pub fn host(&self) -> Option<&str> {
        match self.inner.headers().get(http::header::HOST) {
            Some(h) => h.to_str().ok(),
            None => self.inner.uri().authority().map(|a| a.as_str()),
        }
    }

    /// `wsgi.url_scheme`.
    pub fn url_scheme(&self) -> Scheme {
        self.env.url_scheme
    }

    /// Sets `wsgi.url_scheme`.
    pub fn set_url_scheme(&mut self, scheme: Scheme) {
        self.env.url_scheme = scheme;
    }

    /// The request id set by the [`request_id`](crate::filters::request_id) filter.
    pub fn request_id(&self) -> Option<&str> {
        self.env.request_id.as_ref().and_then(|v| v.to_str().ok())
    }

    /// Sets the request id.
    pub fn set_request_id(&mut self, id: http::HeaderValue) {
        self.env.request_id = Some(id);
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        self.inner.method()
    }

    /// The request URI as received.
    pub fn uri(&self) -> &Uri {
        self.inner.uri()
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The request headers (`HTTP_*` in WSGI).
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The request headers, mutably.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.inner.headers_mut()
    }

    /// Typed extensions (WSGI's free-form environ keys, typed).
    pub fn extensions(&self) -> &Extensions {
        self.inner.extensions()
    }

    /// Typed extensions, mutably.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        self.inner.extensions_mut()
    }

    /// The body (`wsgi.input`).
    pub fn body_mut(&mut self) -> &mut Body {
        self.inner.body_mut()
    }

    /// Takes the body out, leaving an empty one.
    pub fn take_body(&mut self) -> Body {
        std::mem::take(self.inner.body_mut())
    }

    /// Replaces the body, returning the old one.
    pub fn replace_body(&mut self, body: Body) -> Body {
        std::mem::replace(self.inner.body_mut(), body)
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", self.method())
            .field("uri", self.uri())
            .field("script_name", &self.script_name())
            .field("path_info", &self.path_info())
            .field("url_scheme", &self.env.url_scheme)
            .field("remote_addr", &self.env.remote_addr)
            .finish_non_exhaustive()
    }
}

/// Normalizes a request path; `None` when it is already normal (the common
/// case, which then costs no allocation).
///
/// Runs of `/` collapse to one and the dot segments `.` and `..` (also
/// written `%2e`) are removed as RFC 3986 §5.2.4 does, keeping a trailing
/// slash. Percent-encoding is left alone, so `%2F` stays part of a segment.
pub(crate) fn normalize_path(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        // `*` (OPTIONS *) or an empty path: nothing to route on.
        return None;
    }
    if !needs_normalizing(path) {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut trailing = false;
    for (i, seg) in segments.iter().enumerate() {
        trailing = false;
        if seg.is_empty() {
            // A run of slashes, or a trailing slash.
            trailing = i == last;
            continue;
        }
        if is_dot(seg) {
            trailing = true;
            continue;
        }
        if is_dot_dot(seg) {
            out.pop();
            trailing = true;
            continue;
        }
        out.push(seg);
    }
    let mut s = String::with_capacity(path.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if trailing || out.is_empty() {
        s.push('/');
    }
    Some(s)
}

fn needs_normalizing(path: &str) -> bool {
    // One pass over the bytes: a segment needs work when it is empty (`//`)
    // or starts with a dot (`.`, `..`, or the `%2e` spellings).
    let bytes = path.as_bytes();
    // Fast path: no `/` followed by `/`, `.` or `%`, nothing to look at.
    if !bytes.windows(2).any(|w| w[0] == b'/' && matches!(w[1], b'/' | b'.' | b'%')) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'/' {
            match bytes.get(i + 1) {
                Some(b'/') => return true,
                Some(b'.') | Some(b'%') => {
                    let end = bytes[i + 1..].iter().position(|&b| b == b'/').map_or(bytes.len(), |p| i + 1 + p);
                    let seg = &path[i + 1..end];
                    if is_dot(seg) || is_dot_dot(seg) {
                        return true;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    false
}

fn is_dot(seg: &str) -> bool {
    seg == "." || seg.eq_ignore_ascii_case("%2e")
}

fn is_dot_dot(seg: &str) -> bool {
    matches!(seg.len(), 2 | 4 | 6) && {
        let s = seg.to_ascii_lowercase();
        s == ".." || s == ".%2e" || s == "%2e." || s == "%2e%2e"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! case {
        ($input:expr => $expected:expr) => {
            assert_eq!(normalize_path($input).as_deref().unwrap_or($input), $expected, "normalizing {:?}", $input);
        };
    }

    #[test]
    fn normalize_path_cases() {
        case!("/" => "/");
        case!("/v2.1/servers" => "/v2.1/servers");
        case!("/v2/" => "/v2/");
        case!("//v2//servers" => "/v2/servers");
        case!("//" => "/");
        case!("/a/./b" => "/a/b");
        case!("/a/../b" => "/b");
        case!("/public/../admin" => "/admin");
        case!("/public/%2e%2E/admin" => "/admin");
        case!("/public/.%2e/admin" => "/admin");
        case!("/a/b/.." => "/a/");
        case!("/.." => "/");
        case!("/../../x" => "/x");
        case!("/a/." => "/a/");
        case!("/v2%2Fservers" => "/v2%2Fservers");
        case!("/a/..b/.c" => "/a/..b/.c");
        case!("*" => "*");
    }

    #[test]
    fn environ_survives_into_http_and_back() {
        let mut req = Request::get("/v2/servers");
        req.shift_path(3);
        req.set_url_scheme(Scheme::Https);
        let back = Request::from_http(req.into_http());
        assert_eq!(back.script_name(), "/v2");
        assert_eq!(back.path_info(), "/servers");
        assert_eq!(back.url_scheme(), Scheme::Https);
    }

    #[test]
    fn setters_keep_the_other_half() {
        let mut req = Request::get("/v2/servers");
        req.set_script_name("/api");
        assert_eq!((req.script_name(), req.path_info()), ("/api", "/v2/servers"));
        req.set_path_info("//x//y");
        assert_eq!((req.script_name(), req.path_info()), ("/api", "/x/y"));
    }
}
