//! [`UrlMap`]: Paste's `urlmap` composite, prefix-mounting apps.
//!
//! Semantics follow `paste.urlmap` (and Nova's `/+` extension):
//!
//! - keys are normalized: runs of slashes collapse, trailing slashes are
//!   stripped, so `/` is the catch-all `""` and `/v2/` is `/v2`;
//! - a key matches on segment boundaries: `/v2` matches `/v2` and `/v2/x`,
//!   never `/v2.1` or `/v2x`; the longest matching key wins;
//! - keys with a domain (`domain example.com /api`, or `http://example.com/api`)
//!   are tried before all keys without one, for a `Host` equal to the domain
//!   (or to `domain:port`; a request without a port has the scheme's port);
//! - on a match the key moves from `PATH_INFO` to `SCRIPT_NAME`;
//! - a key ending in `/+` (Nova) matches only when something follows the
//!   slash: `/v2.1/+` takes `/v2.1/servers`, but not `/v2.1` or `/v2.1/`;
//! - no match: the `not_found` app, by default a plain-text 404.
//!
//! Deliberate differences from Paste, for safety: the request path has its
//! dot segments removed before matching (see [`Request`]); `%2F` is never a
//! separator; the 404 page never lists the mounts; two keys that normalize to
//! the same mount are an error (Paste lets the later one win silently);
//! domain keys are compared case-insensitively (Paste lower-cases the `Host`
//! but not the key, so an upper-case key never matched).
//!
//! Lookup cost does not grow with the number of mounts: the prefixes of the
//! request path that end on a segment boundary (at most as deep as the
//! deepest key) are each looked up in a hash table, deepest first.

use std::fmt;

use http::{HeaderValue, StatusCode, header};
use rustc_hash::FxHashMap;

use crate::app::{App, EitherFuture, Response};
use crate::body::Body;
use crate::request::{Request, Scheme};

/// A parsed, normalized urlmap key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mount {
    /// The domain (`host` or `host:port`), lower-cased; `None` matches any host.
    pub domain: Option<String>,
    /// The normalized path prefix: `""` for the root, else `/a/b` with no
    /// trailing slash.
    pub path: String,
    /// Nova's `/+` suffix: match only when something follows `path + "/"`.
    pub plus: bool,
}

/// Why a urlmap key was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlMapError {
    /// The key is not a path expression.
    InvalidKey {
        /// The key as written.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two keys normalize to the same mount.
    Duplicate {
        /// The second key as written.
        key: String,
        /// The mount both keys normalize to.
        mount: String,
    },
}

impl fmt::Display for UrlMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlMapError::InvalidKey { key, reason } => write!(f, "invalid urlmap key `{key}`: {reason}"),
            UrlMapError::Duplicate { key, mount } => {
                write!(f, "urlmap key `{key}` mounts `{mount}` a second time")
            }
        }
    }
}

impl std::error::Error for UrlMapError {}

impl Mount {
    /// Parses a key as Paste's `parse_path_expression` does: a path, with
    /// optional `domain D` and `port P` words, or an `http(s)://host/path`
    /// URL; then normalizes it.
    ///
    /// # Errors
    ///
    /// [`UrlMapError::InvalidKey`] for a key that does not start with `/`, a
    /// `port` without a `domain`, a word given twice, or a missing value.
    ///
    /// # Examples
    ///
    /// ```
    /// use rsgi::urlmap::Mount;
    ///
    /// let m = Mount::parse("domain example.com port 8080 //v2//")?;
    /// assert_eq!(m.to_string(), "example.com:8080/v2");
    /// assert_eq!(Mount::parse("/")?.path, "");
    /// assert!(Mount::parse("/v2.1/+")?.plus);
    /// assert!(Mount::parse("v2").is_err());
    /// # Ok::<(), rsgi::urlmap::UrlMapError>(())
    /// ```
    pub fn parse(key: &str) -> Result<Mount, UrlMapError> {
        let invalid = |reason: &str| UrlMapError::InvalidKey { key: key.to_owned(), reason: reason.to_owned() };
        let mut domain: Option<&str> = None;
        let mut port: Option<&str> = None;
        let mut path: Option<&str> = None;
        let mut words = key.split_whitespace();
        while let Some(word) = words.next() {
            match word {
                "domain" | "port" => {
                    let value = words.next().ok_or_else(|| invalid(&format!("`{word}` needs a value")))?;
                    let slot = if word == "domain" { &mut domain } else { &mut port };
                    if slot.replace(value).is_some() {
                        return Err(invalid(&format!("`{word}` given twice")));
                    }
                }
                _ => {
                    if path.replace(word).is_some() {
                        return Err(invalid("more than one path"));
                    }
                }
            }
        }
        if port.is_some() && domain.is_none() {
            return Err(invalid("a `port` needs a `domain`"));
        }
        let mut path = path.unwrap_or("");
        let mut url_domain = None;
        for scheme in ["http://", "https://"] {
            if let Some(rest) = path.strip_prefix(scheme) {
                if domain.is_some() {
                    return Err(invalid("a URL key cannot also have a `domain`"));
                }
                let (host, p) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
                url_domain = Some(host);
                path = p;
            }
        }
        if !path.is_empty() && !path.starts_with('/') {
            return Err(invalid("a key must start with `/` (or be `domain …`)"));
        }
        let domain = match (url_domain, domain, port) {
            (Some(d), ..) => Some(d.to_ascii_lowercase()),
            (None, Some(d), Some(p)) => Some(format!("{}:{p}", d.to_ascii_lowercase())),
            (None, Some(d), None) => Some(d.to_ascii_lowercase()),
            (None, None, _) => None,
        };
        let mut normal = collapse_slashes(path);
        while normal.ends_with('/') {
            normal.pop();
        }
        let plus = normal.ends_with("/+") || normal == "+";
        if plus {
            normal.truncate(normal.len().saturating_sub(2));
        }
        Ok(Mount { domain, path: normal, plus })
    }
}

impl fmt::Display for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.domain {
            f.write_str(d)?;
        }
        f.write_str(if self.path.is_empty() && !self.plus { "/" } else { &self.path })?;
        if self.plus {
            f.write_str("/+")?;
        }
        Ok(())
    }
}

fn collapse_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut prev_slash = false;
    for c in path.chars() {
        if c == '/' && prev_slash {
            continue;
        }
        prev_slash = c == '/';
        out.push(c);
    }
    out
}

/// The mounts of one domain (or of no domain), by normalized prefix.
#[derive(Clone, Debug, Default)]
struct Prefixes {
    exact: FxHashMap<Box<str>, usize>,
    plus: FxHashMap<Box<str>, usize>,
    /// The most slashes in any key: deeper prefixes of a path cannot match.
    max_depth: usize,
    /// With at most [`SMALL`] mounts, a scan in Paste's order (longest
    /// first) is cheaper than hashing: `(prefix, plus, index)`.
    small: Vec<(Box<str>, bool, usize)>,
}

/// Up to this many mounts, [`Prefixes::find`] scans instead of hashing.
const SMALL: usize = 8;

impl Prefixes {
    fn insert(&mut self, mount: &Mount, index: usize) -> bool {
        let table = if mount.plus { &mut self.plus } else { &mut self.exact };
        if table.contains_key(mount.path.as_str()) {
            return false;
        }
        table.insert(mount.path.clone().into_boxed_str(), index);
        self.max_depth = self.max_depth.max(mount.path.bytes().filter(|&b| b == b'/').count());
        self.small.push((mount.path.clone().into_boxed_str(), mount.plus, index));
        // Paste's order: longest key first, a `/+` key counting its suffix;
        // on a tie the deeper plain key first, as the hashed lookup does.
        self.small.sort_by_key(|(p, plus, _)| std::cmp::Reverse((p.len() + if *plus { 2 } else { 0 }, !*plus)));
        true
    }

    fn find_small(&self, path: &str) -> Option<(usize, usize)> {
        let bytes = path.as_bytes();
        for (prefix, plus, index) in &self.small {
            let n = prefix.len();
            if !bytes.starts_with(prefix.as_bytes()) {
                continue;
            }
            let hit = if *plus {
                bytes.get(n) == Some(&b'/') && bytes.len() > n + 1
            } else {
                bytes.len() == n || bytes[n] == b'/'
            };
            if hit {
                return Some((*index, n));
            }
        }
        None
    }

    /// The mount for `path` and the length of the matched prefix.
    ///
    /// Candidates are the prefixes of `path` that end at a `/` or at its end,
    /// deepest first; at each, a `/+` key beats the plain key (it is longer in
    /// Paste's longest-first order).
    fn find(&self, path: &str) -> Option<(usize, usize)> {
        if self.exact.is_empty() && self.plus.is_empty() {
            return None;
        }
        if !path.is_empty() && !path.starts_with('/') {
            return None;
        }
        if self.small.len() <= SMALL {
            return self.find_small(path);
        }
        let bytes = path.as_bytes();
        let mut depth = 0;
        let mut i = bytes.len();
        for (pos, &b) in bytes.iter().enumerate() {
            if b == b'/' {
                if depth == self.max_depth {
                    i = pos;
                    break;
                }
                depth += 1;
            }
        }
        loop {
            if !self.plus.is_empty() && bytes.get(i) == Some(&b'/') && bytes.len() > i + 1 {
                if let Some(&index) = self.plus.get(&path[..i]) {
                    return Some((index, i));
                }
            }
            if let Some(&index) = self.exact.get(&path[..i]) {
                return Some((index, i));
            }
            i = path[..i].rfind('/')?;
        }
    }
}

/// Splits `Host` into name and port; an IPv6 literal keeps its brackets.
fn split_host(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        if let Some(end) = host.find(']') {
            let (name, rest) = host.split_at(end + 1);
            return (name, rest.strip_prefix(':'));
        }
    }
    match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    }
}

/// The mounts of a urlmap, without the apps: the lookup structure.
#[derive(Clone, Debug, Default)]
struct Table {
    any_host: Prefixes,
    by_domain: FxHashMap<Box<str>, Prefixes>,
    domains_with_port: bool,
}

impl Table {
    fn insert(&mut self, mount: &Mount, index: usize) -> bool {
        match &mount.domain {
            None => self.any_host.insert(mount, index),
            Some(d) => {
                self.domains_with_port |= d.contains(':');
                self.by_domain.entry(d.clone().into_boxed_str()).or_default().insert(mount, index)
            }
        }
    }

    fn find(&self, host: Option<&str>, scheme: Scheme, path: &str) -> Option<(usize, usize)> {
        if !self.by_domain.is_empty() {
            if let Some(found) = self.find_by_domain(host.unwrap_or(""), scheme, path) {
                return Some(found);
            }
        }
        self.any_host.find(path)
    }

    // Paste sorts domain entries by domain string; of the two domains that
    // can match a request, `host` sorts before `host:port`.
    fn find_by_domain(&self, host: &str, scheme: Scheme, path: &str) -> Option<(usize, usize)> {
        let lower;
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = host.to_ascii_lowercase();
            lower.as_str()
        } else {
            host
        };
        let (name, port) = split_host(host);
        if let Some(found) = self.by_domain.get(name).and_then(|p| p.find(path)) {
            return Some(found);
        }
        if !self.domains_with_port {
            return None;
        }
        let with_port = match port {
            Some(_) => std::borrow::Cow::Borrowed(host),
            None => std::borrow::Cow::Owned(format!("{name}:{}", scheme.default_port())),
        };
        self.by_domain.get(&*with_port).and_then(|p| p.find(path))
    }
}

/// Paste's urlmap: mounts apps under path prefixes (and domains).
///
/// All mounted apps have one type `A`: an enum for a static composition
/// (what `deploy!` generates, or [`Either`](crate::Either)), or
/// [`BoxApp`](crate::BoxApp) for one built at run time. Unmatched requests
/// go to `N`, by default [`NotFound`].
///
/// # Examples
///
/// ```
/// use rsgi::{App, Request, UrlMap, app_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rsgi::BoxError> {
/// let echo = || app_fn(|req: Request| async move { format!("{}|{}", req.script_name(), req.path_info()) });
/// let map = UrlMap::new().try_mount("/", echo())?.try_mount("/v2.1", echo())?;
///
/// let res = map.call(Request::get("/v2.1/servers")).await;
/// assert_eq!(res.into_body().collect_bytes().await?, "/v2.1|/servers");
/// let res = map.call(Request::get("/v2.10")).await;
/// assert_eq!(res.into_body().collect_bytes().await?, "|/v2.10");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct UrlMap<A, N = NotFound> {
    apps: Vec<A>,
    mounts: Vec<Mount>,
    table: Table,
    not_found: N,
}

impl<A> UrlMap<A, NotFound> {
    /// An empty urlmap answering 404 to everything.
    pub fn new() -> Self {
        UrlMap { apps: Vec::new(), mounts: Vec::new(), table: Table::default(), not_found: NotFound }
    }
}

impl<A> Default for UrlMap<A, NotFound> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A, N> UrlMap<A, N> {
    /// Mounts `app` under `key` (see [`Mount::parse`]).
    ///
    /// # Errors
    ///
    /// An invalid key, or one that normalizes to a mount already made.
    pub fn try_mount(mut self, key: &str, app: A) -> Result<Self, UrlMapError> {
        let mount = Mount::parse(key)?;
        if !self.table.insert(&mount, self.apps.len()) {
            return Err(UrlMapError::Duplicate { key: key.to_owned(), mount: mount.to_string() });
        }
        self.apps.push(app);
        self.mounts.push(mount);
        Ok(self)
    }

    /// Mounts `app` under `key`, panicking on a bad key; for keys written in
    /// the program.
    ///
    /// # Panics
    ///
    /// Where [`UrlMap::try_mount`] returns an error.
    #[track_caller]
    pub fn mount(self, key: &str, app: A) -> Self {
        match self.try_mount(key, app) {
            Ok(map) => map,
            Err(e) => panic!("{e}"),
        }
    }

    /// Sends unmatched requests to `app` (Paste's `not_found_app`).
    pub fn not_found<M: App>(self, app: M) -> UrlMap<A, M> {
        UrlMap { apps: self.apps, mounts: self.mounts, table: self.table, not_found: app }
    }

    /// The mounts, in the order they were made.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// The app for a request to `host` with `path_info`, and the length of
    /// the matched prefix of `path_info`.
    pub fn lookup(&self, host: Option<&str>, scheme: Scheme, path_info: &str) -> Option<(&A, usize)> {
        let (index, len) = self.table.find(host, scheme, path_info)?;
        Some((&self.apps[index], len))
    }
}

impl<A, N: fmt::Debug> fmt::Debug for UrlMap<A, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mounts: Vec<String> = self.mounts.iter().map(Mount::to_string).collect();
        f.debug_struct("UrlMap").field("mounts", &mounts).field("not_found", &self.not_found).finish()
    }
}

impl<A: App, N: App> App for UrlMap<A, N> {
    fn call(&self, mut req: Request) -> impl Future<Output = Response> + Send {
        let found = match req.host() {
            Some(host) => self.table.find(Some(host), req.url_scheme(), req.path_info()),
            // Paste falls back to SERVER_NAME; only domain keys look at it.
            None if !self.table.by_domain.is_empty() => {
                let server_name = req.server_name();
                self.table.find(Some(&server_name), req.url_scheme(), req.path_info())
            }
            None => self.table.find(None, req.url_scheme(), req.path_info()),
        };
        match found {
            Some((index, len)) => {
                req.shift_path(len);
                EitherFuture::Left { future: self.apps[index].call(req) }
            }
            None => EitherFuture::Right { future: self.not_found.call(req) },
        }
    }
}

/// The default `not_found` app: `404 Not Found` in plain text, naming the
/// path asked for and nothing else (never the mounts).
#[derive(Clone, Copy, Debug, Default)]
pub struct NotFound;

impl App for NotFound {
    async fn call(&self, req: Request) -> Response {
        let body = format!("404 Not Found\r\nThe resource could not be found.\r\n{}\r\n\r\n", req.path_info());
        let mut res = Response::new(Body::from(body));
        *res.status_mut() = StatusCode::NOT_FOUND;
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(keys: &[&str]) -> Table {
        let mut t = Table::default();
        for (i, k) in keys.iter().enumerate() {
            assert!(t.insert(&Mount::parse(k).unwrap(), i), "duplicate {k}");
        }
        t
    }

    macro_rules! case {
        ($keys:expr, $path:expr => $expected:expr) => {{
            let t = table(&$keys);
            let got = t.find(Some("example.com"), Scheme::Http, $path).map(|(i, len)| ($keys[i], &$path[..len]));
            assert_eq!(got, $expected, "path {:?}", $path);
        }};
    }

    const NOVA: [&str; 5] = ["/", "/v2", "/v2.1", "/v2/+", "/v2.1/+"];

    #[test]
    fn nova_plus_keys() {
        case!(NOVA, "/v2.1" => Some(("/v2.1", "/v2.1")));
        case!(NOVA, "/v2.1/" => Some(("/v2.1", "/v2.1")));
        case!(NOVA, "/v2.1/servers" => Some(("/v2.1/+", "/v2.1")));
        case!(NOVA, "/v2/x" => Some(("/v2/+", "/v2")));
        case!(NOVA, "/v2.10" => Some(("/", "")));
        case!(NOVA, "/" => Some(("/", "")));
        case!(NOVA, "" => Some(("/", "")));
    }

    #[test]
    fn segment_boundaries_and_longest_first() {
        let keys = ["/v2", "/v2/admin", "/a/b/c"];
        case!(keys, "/v2/admin/users" => Some(("/v2/admin", "/v2/admin")));
        case!(keys, "/v2/administrator" => Some(("/v2", "/v2")));
        case!(keys, "/v2x" => None);
        case!(keys, "/a/b" => None);
        case!(keys, "/a/b/c/d/e" => Some(("/a/b/c", "/a/b/c")));
        case!(keys, "*" => None);
    }

    #[test]
    fn domains_before_any_host() {
        let keys = ["/api", "domain example.com /"];
        case!(keys, "/api/v1" => Some(("domain example.com /", "")));
        let t = table(&keys);
        assert_eq!(t.find(Some("other.org"), Scheme::Http, "/api/x").map(|f| f.0), Some(0));
        assert_eq!(t.find(Some("EXAMPLE.com:8080"), Scheme::Http, "/x").map(|f| f.0), Some(1));
        let ported = table(&["domain example.com port 80 /", "/"]);
        assert_eq!(ported.find(Some("example.com"), Scheme::Http, "/x").map(|f| f.0), Some(0));
        assert_eq!(ported.find(Some("example.com"), Scheme::Https, "/x").map(|f| f.0), Some(1));
    }

    #[test]
    fn small_scan_agrees_with_hashed_lookup() {
        let keys = ["/", "/v2", "/v2.1", "/v2/+", "/v2.1/+", "/v2/admin", "/a/b/c", "/+"];
        let small = table(&keys);
        let mut hashed = table(&keys);
        // Force the hashed path: pretend there are many mounts.
        hashed.any_host.small.extend((0..SMALL).map(|i| (format!("/pad{i}").into_boxed_str(), false, usize::MAX)));
        for path in [
            "",
            "/",
            "/v2",
            "/v2/",
            "/v2/x",
            "/v2.1",
            "/v2.1/",
            "/v2.1/s",
            "/v2/admin/u",
            "/v2x",
            "/a/b",
            "/a/b/c/d",
            "/x",
        ] {
            let a = small.find(None, Scheme::Http, path);
            let b = hashed.find(None, Scheme::Http, path);
            assert_eq!(a, b, "{path}");
        }
    }

    #[test]
    fn key_errors() {
        for bad in ["v2", "port 80 /x", "domain", "domain a domain b /", "/a /b", "debug"] {
            assert!(matches!(Mount::parse(bad), Err(UrlMapError::InvalidKey { .. })), "{bad}");
        }
        let dup = UrlMap::new().mount("/v2", ()).try_mount("/v2/", ());
        assert_eq!(dup.unwrap_err().to_string(), "urlmap key `/v2/` mounts `/v2` a second time");
    }
}
