//! Route tables: `[routes:NAME]` sections, the app that ends a Nova-style
//! pipeline (what Nova's `APIRouter` does with the `routes` library).
//!
//! A route table maps a method and a path pattern to a [`Handler`]:
//!
//! ```ini
//! [routes:servers]
//! GET "/servers" = servers::index
//! GET "/servers/detail" = servers::detail
//! GET "/servers/{id}" = servers::show
//! DELETE "/servers/{id}" = servers::delete
//! POST "/servers/{id}/action" = servers::action
//! GET|HEAD "/flavors" = flavors::index
//! * "/images/{*path}" = images::proxy
//! ```
//!
//! - Patterns use `matchit` syntax: `{id}` matches one segment, `{*path}` the
//!   rest of the path. A literal segment beats a parameter
//!   (`/servers/detail` before `/servers/{id}`).
//! - Routes match on `PATH_INFO`, what a urlmap leaves after its prefix:
//!   mounted at `/v2.1`, `GET /v2.1/servers/42` runs the `/servers/{id}`
//!   route. An empty `PATH_INFO` is matched as `/`.
//! - One lookup per request in a router built once. No path → `404`; a
//!   path without the method → `405 Method Not Allowed` with an `Allow`
//!   header; `HEAD` without its own route → the `GET` route, its body
//!   dropped (its length kept in `Content-Length`); `*` → any method.
//! - Path parameters reach the handler through the request, as the
//!   environ's routing arguments (WSGI's `wsgiorg.routing_args`):
//!   [`params`]`(&req)`, or `req.extensions().get::<RouteParams>()`.
//!
//! A handler is any `async fn(Request) -> impl IntoResponse` (or a type
//! implementing [`Handler`]). In `deploy!` the section is compiled: its
//! patterns are checked when the macro runs (a conflict or an invalid
//! pattern is a compile error on the literal), and the generated app
//! `match`es on the route id to call each handler directly, without boxing.
//! The run-time loader ([`crate::loader`]) builds the same table from an
//! ini file, with handlers registered by name
//! ([`Registry::handler`](crate::loader::Registry::handler)).
//!
//! # Examples
//!
//! A table built by hand (what `deploy!` generates, minus the checks):
//!
//! ```
//! use rsgi::routes::{self, Dispatch, Handler, Methods, Routes};
//! use rsgi::{App, IntoResponse, Request, Response};
//!
//! async fn show(req: Request) -> impl IntoResponse {
//!     format!("server {}", routes::params(&req).get("id").unwrap_or("?"))
//! }
//!
//! struct Servers;
//!
//! impl Dispatch for Servers {
//!     async fn call(&self, id: usize, req: Request) -> Response {
//!         match id {
//!             0 => Handler::call(&show, req).await,
//!             _ => routes::unknown_route(req),
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rsgi::BoxError> {
//! let app = Routes::new(&[(Methods::GET, "/servers/{id}")], Servers)?;
//! let res = app.call(Request::get("/servers/42")).await;
//! assert_eq!(res.into_body().collect_bytes().await?, "server 42");
//! let res = app.call(Request::get("/flavors")).await;
//! assert_eq!(res.status(), 404);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{HeaderValue, Method, StatusCode, header};
use http_body::Body as _;

use crate::app::{App, IntoResponse, Response};
use crate::body::Body;
use crate::request::Request;
use crate::urlmap::NotFound;

/// The methods a route answers, a small bit set; [`Methods::ANY`] is `*`.
///
/// # Examples
///
/// ```
/// use rsgi::routes::Methods;
///
/// let m = Methods::GET.or(Methods::HEAD);
/// assert!(m.contains(&http::Method::HEAD));
/// assert!(!m.contains(&http::Method::POST));
/// assert_eq!(m.to_string(), "GET|HEAD");
/// assert_eq!("GET|HEAD".parse::<Methods>(), Ok(m));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Methods(u16);

/// The methods in bit order, which is also the order `Allow` lists them.
const NAMES: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"];

/// The bit of any method that is not one of [`NAMES`] (only `*` has it).
const OTHER: u16 = 1 << 9;

impl Methods {
    /// `GET`.
    pub const GET: Methods = Methods(1 << 0);
    /// `HEAD`.
    pub const HEAD: Methods = Methods(1 << 1);
    /// `POST`.
    pub const POST: Methods = Methods(1 << 2);
    /// `PUT`.
    pub const PUT: Methods = Methods(1 << 3);
    /// `PATCH`.
    pub const PATCH: Methods = Methods(1 << 4);
    /// `DELETE`.
    pub const DELETE: Methods = Methods(1 << 5);
    /// `OPTIONS`.
    pub const OPTIONS: Methods = Methods(1 << 6);
    /// `TRACE`.
    pub const TRACE: Methods = Methods(1 << 7);
    /// `CONNECT`.
    pub const CONNECT: Methods = Methods(1 << 8);
    /// `*`: every method, including extension methods.
    pub const ANY: Methods = Methods((1 << 10) - 1);

    /// Both sets.
    pub const fn or(self, other: Methods) -> Methods {
        Methods(self.0 | other.0)
    }

    /// Whether the set has `method`.
    pub fn contains(self, method: &Method) -> bool {
        self.0 & bit(method) != 0
    }
}

/// The bit of `method`.
fn bit(method: &Method) -> u16 {
    // The common methods first: `Method` compares standard methods cheaply.
    match *method {
        Method::GET => 1 << 0,
        Method::HEAD => 1 << 1,
        Method::POST => 1 << 2,
        Method::PUT => 1 << 3,
        Method::PATCH => 1 << 4,
        Method::DELETE => 1 << 5,
        Method::OPTIONS => 1 << 6,
        Method::TRACE => 1 << 7,
        Method::CONNECT => 1 << 8,
        _ => OTHER,
    }
}

impl fmt::Display for Methods {
    /// `GET|HEAD`, or `*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Methods::ANY {
            return f.write_str("*");
        }
        let names: Vec<&str> =
            NAMES.iter().enumerate().filter(|(i, _)| self.0 & (1 << i) != 0).map(|(_, n)| *n).collect();
        f.write_str(&names.join("|"))
    }
}

impl fmt::Debug for Methods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Methods({self})")
    }
}

impl std::str::FromStr for Methods {
    type Err = RouteError;

    /// `GET`, `GET|HEAD` (spaces allowed around `|`) or `*`.
    fn from_str(s: &str) -> Result<Methods, RouteError> {
        if s.trim() == "*" {
            return Ok(Methods::ANY);
        }
        let mut out = Methods(0);
        for word in s.split('|').map(str::trim) {
            let i = NAMES.iter().position(|n| *n == word).ok_or_else(|| RouteError::UnknownMethod(word.to_owned()))?;
            out.0 |= 1 << i;
        }
        Ok(out)
    }
}

/// The path parameters of the matched route, in pattern order: the
/// environ's routing arguments (WSGI's `wsgiorg.routing_args`).
///
/// Values are as they appear in `PATH_INFO` (not percent-decoded again).
///
/// # Examples
///
/// ```
/// use rsgi::routes::RouteParams;
///
/// let p = RouteParams::from_iter([("id", "42")]);
/// assert_eq!(p.get("id"), Some("42"));
/// assert_eq!(p.iter().collect::<Vec<_>>(), [("id", "42")]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteParams {
    params: Vec<(String, String)>,
}

impl RouteParams {
    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every `(name, value)`, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the route had no parameters.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for RouteParams {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        RouteParams { params: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }
}

/// The path parameters of the route that matched `req`; empty when the
/// route had none (or no route table handled the request).
///
/// # Examples
///
/// ```
/// use rsgi::{IntoResponse, Request};
///
/// async fn show(req: Request) -> impl IntoResponse {
///     format!("server {}", rsgi::routes::params(&req).get("id").unwrap_or_default())
/// }
/// ```
pub fn params(req: &Request) -> &RouteParams {
    static EMPTY: RouteParams = RouteParams { params: Vec::new() };
    req.extensions().get::<RouteParams>().unwrap_or(&EMPTY)
}

/// A route's handler: an `async fn(Request) -> impl IntoResponse`, or a
/// type implementing this trait.
///
/// # Examples
///
/// ```
/// use rsgi::routes::Handler;
/// use rsgi::{IntoResponse, Request};
///
/// async fn index(_req: Request) -> impl IntoResponse {
///     "servers"
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let res = Handler::call(&index, Request::get("/servers")).await;
/// assert_eq!(res.status(), 200);
/// # }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a route handler",
    label = "expected a handler here",
    note = "a handler is an `async fn(rsgi::Request) -> impl rsgi::IntoResponse`, or a type implementing \
            `rsgi::routes::Handler`"
)]
pub trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future + Send,
    Fut::Output: IntoResponse,
{
    async fn call(&self, req: Request) -> Response {
        self(req).await.into_response()
    }
}

/// Calls the handler of a route id: what `deploy!` generates for a
/// `[routes:…]` section (a `match` on the id, one arm per route).
pub trait Dispatch: Send + Sync + 'static {
    /// Calls the handler of route `id` (its index in the table).
    fn call(&self, id: usize, req: Request) -> impl Future<Output = Response> + Send;
}

/// The answer for a route id no table has; never reached through
/// [`Routes`], which only dispatches ids of its table.
pub fn unknown_route(req: Request) -> Response {
    let mut res = Response::new(Body::from(format!("no route for {}", req.path_info())));
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res
}

/// Why a route table cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// `matchit` rejected the pattern (invalid, or conflicting with an
    /// earlier one).
    Pattern {
        /// The pattern.
        pattern: String,
        /// matchit's reason.
        reason: String,
    },
    /// The same method and pattern twice.
    Duplicate {
        /// The methods both routes have.
        methods: Methods,
        /// The pattern.
        pattern: String,
    },
    /// A method name that is not one of the standard ones.
    UnknownMethod(String),
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::Pattern { pattern, reason } => write!(f, "invalid route pattern `{pattern}`: {reason}"),
            RouteError::Duplicate { methods, pattern } => write!(f, "duplicate route `{methods} \"{pattern}\"`"),
            RouteError::UnknownMethod(m) => write!(f, "unknown method `{m}`"),
        }
    }
}

impl std::error::Error for RouteError {}

/// No route.
const NONE: u32 = u32::MAX;

/// The routes of one pattern: a route id per method.
#[derive(Clone)]
struct Slot {
    ids: [u32; 10],
    /// `Allow` for a 405 on this path.
    allow: HeaderValue,
}

/// The compiled table: one `matchit` lookup finds the pattern, then the
/// method picks the route.
#[derive(Clone)]
struct Router {
    paths: matchit::Router<u32>,
    slots: Vec<Slot>,
}

/// The outcome of a lookup.
enum Lookup {
    Found { id: u32, head: bool, params: Option<RouteParams> },
    NotFound,
    NotAllowed(HeaderValue),
}

impl Router {
    fn new(table: &[(Methods, &str)]) -> Result<Router, RouteError> {
        let mut paths = matchit::Router::new();
        let mut slots: Vec<Slot> = Vec::new();
        // Pattern → slot: each pattern is in the router once.
        let mut patterns: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (id, (methods, pattern)) in table.iter().enumerate() {
            let slot = match patterns.get(pattern) {
                Some(s) => *s,
                None => {
                    paths
                        .insert(*pattern, slots.len() as u32)
                        .map_err(|e| RouteError::Pattern { pattern: (*pattern).to_owned(), reason: e.to_string() })?;
                    patterns.insert(pattern, slots.len());
                    slots.push(Slot { ids: [NONE; 10], allow: HeaderValue::from_static("") });
                    slots.len() - 1
                }
            };
            let ids = &mut slots[slot].ids;
            let taken = (0..10).filter(|b| methods.0 & (1 << b) != 0 && ids[*b] != NONE).fold(0, |m, b| m | (1 << b));
            if taken != 0 {
                return Err(RouteError::Duplicate { methods: Methods(taken), pattern: (*pattern).to_owned() });
            }
            for (b, slot_id) in ids.iter_mut().enumerate() {
                if methods.0 & (1 << b) != 0 {
                    *slot_id = id as u32;
                }
            }
        }
        for slot in &mut slots {
            let mut allow: Vec<&str> =
                NAMES.iter().enumerate().filter(|(b, _)| slot.ids[*b] != NONE).map(|(_, n)| *n).collect();
            if slot.ids[0] != NONE && slot.ids[1] == NONE {
                allow.insert(1, "HEAD");
            }
            slot.allow = HeaderValue::from_str(&allow.join(", ")).unwrap_or(HeaderValue::from_static(""));
        }
        Ok(Router { paths, slots })
    }

    fn lookup(&self, method: &Method, path: &str) -> Lookup {
        let path = if path.is_empty() { "/" } else { path };
        let found = match self.paths.at(path) {
            Ok(found) => found,
            Err(matchit::MatchError::NotFound) => return Lookup::NotFound,
        };
        let slot = &self.slots[*found.value as usize];
        let b = bit(method).trailing_zeros() as usize;
        let (id, head) = match slot.ids[b] {
            NONE if b == 1 && slot.ids[0] != NONE => (slot.ids[0], true),
            NONE => return Lookup::NotAllowed(slot.allow.clone()),
            id => (id, false),
        };
        // No allocation for a route without parameters.
        let params = (!found.params.is_empty()).then(|| found.params.iter().collect());
        Lookup::Found { id, head, params }
    }
}

/// A route table as an [`App`]: the router, and the handlers `D` it
/// dispatches to by route id.
///
/// `deploy!` builds one per `[routes:…]` section, with a generated `D`
/// that `match`es on the id; the loader uses boxed handlers
/// ([`Handlers`]). See the [module docs](self).
pub struct Routes<D> {
    router: Router,
    dispatch: D,
}

impl<D> fmt::Debug for Routes<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Routes").field("patterns", &self.router.slots.len()).finish_non_exhaustive()
    }
}

impl<D: Dispatch> Routes<D> {
    /// Compiles `table` (route `i` is `table[i]`, dispatched as id `i`).
    ///
    /// # Errors
    ///
    /// An invalid or conflicting pattern, or the same method and pattern
    /// twice; the message names the pattern.
    pub fn new(table: &[(Methods, &str)], dispatch: D) -> Result<Self, RouteError> {
        Ok(Routes { router: Router::new(table)?, dispatch })
    }
}

impl<D: Dispatch> App for Routes<D> {
    async fn call(&self, mut req: Request) -> Response {
        match self.router.lookup(req.method(), req.path_info()) {
            Lookup::Found { id, head, params } => {
                if let Some(params) = params {
                    req.extensions_mut().insert(params);
                }
                let res = self.dispatch.call(id as usize, req).await;
                if head { without_body(res) } else { res }
            }
            Lookup::NotFound => NotFound.call(req).await,
            Lookup::NotAllowed(allow) => {
                let mut res = Response::new(Body::empty());
                *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                res.headers_mut().insert(header::ALLOW, allow);
                res
            }
        }
    }
}

/// A `GET` response as the answer to `HEAD`: no body, its length kept.
fn without_body(mut res: Response) -> Response {
    if !res.headers().contains_key(header::CONTENT_LENGTH) {
        if let Some(len) = res.body().size_hint().exact() {
            res.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    *res.body_mut() = Body::empty();
    res
}

type BoxFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// A type-erased [`Handler`], for tables built at run time (the loader's
/// [`Registry::handler`](crate::loader::Registry::handler)).
#[derive(Clone)]
pub struct BoxHandler {
    inner: Arc<dyn Fn(Request) -> BoxFuture + Send + Sync>,
}

impl BoxHandler {
    /// Erases the type of `handler`.
    pub fn new<H: Handler>(handler: H) -> Self {
        let handler = Arc::new(handler);
        BoxHandler {
            inner: Arc::new(move |req| {
                let handler = handler.clone();
                Box::pin(async move { handler.call(req).await })
            }),
        }
    }
}

impl fmt::Debug for BoxHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxHandler").finish_non_exhaustive()
    }
}

impl Handler for BoxHandler {
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send {
        (self.inner)(req)
    }
}

/// Handlers in a `Vec`, route id `i` → `self.0[i]`: the [`Dispatch`] of
/// tables built at run time.
#[derive(Clone, Debug, Default)]
pub struct Handlers(pub Vec<BoxHandler>);

impl Dispatch for Handlers {
    async fn call(&self, id: usize, req: Request) -> Response {
        match self.0.get(id) {
            Some(h) => h.call(req).await,
            None => unknown_route(req),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text(tag: &'static str, req: Request) -> Response {
        let p: Vec<String> = params(&req).iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{tag} {}", p.join(",")).into_response()
    }

    fn table() -> Routes<Handlers> {
        let h = |tag: &'static str| BoxHandler::new(move |req| text(tag, req));
        Routes::new(
            &[
                (Methods::GET, "/servers"),
                (Methods::POST, "/servers"),
                (Methods::GET, "/servers/detail"),
                (Methods::GET, "/servers/{id}"),
                (Methods::DELETE, "/servers/{id}"),
                (Methods::ANY, "/images/{*path}"),
            ],
            Handlers(vec![h("index"), h("create"), h("detail"), h("show"), h("delete"), h("images")]),
        )
        .unwrap()
    }

    async fn call(app: &Routes<Handlers>, method: Method, path: &str) -> (u16, String, Option<String>) {
        let mut http = Request::get(path).into_http();
        *http.method_mut() = method;
        let res = app.call(Request::from_http(http)).await;
        let allow = res.headers().get(header::ALLOW).map(|v| v.to_str().unwrap().to_owned());
        let status = res.status().as_u16();
        let body = String::from_utf8(res.into_body().collect_bytes().await.unwrap().to_vec()).unwrap();
        (status, body, allow)
    }

    #[tokio::test]
    async fn dispatch() {
        let app = table();
        assert_eq!(call(&app, Method::GET, "/servers").await.1, "index ");
        assert_eq!(call(&app, Method::POST, "/servers").await.1, "create ");
        assert_eq!(call(&app, Method::GET, "/servers/detail").await.1, "detail ");
        assert_eq!(call(&app, Method::GET, "/servers/42").await.1, "show id=42");
        assert_eq!(call(&app, Method::DELETE, "/servers/42").await.1, "delete id=42");
        assert_eq!(call(&app, Method::from_bytes(b"PROPFIND").unwrap(), "/images/a/b").await.1, "images path=a/b");
        assert_eq!(call(&app, Method::GET, "/flavors").await.0, 404);
        let (status, body, allow) = call(&app, Method::PUT, "/servers/42").await;
        assert_eq!((status, body.as_str(), allow.as_deref()), (405, "", Some("GET, HEAD, DELETE")));
        let (status, body, _) = call(&app, Method::HEAD, "/servers/42").await;
        assert_eq!((status, body.as_str()), (200, ""));
    }

    #[test]
    fn errors() {
        let err = |t: &[(Methods, &str)]| Routes::new(t, Handlers::default()).unwrap_err().to_string();
        assert_eq!(
            err(&[(Methods::GET, "/a"), (Methods::GET.or(Methods::POST), "/a")]),
            "duplicate route `GET \"/a\"`"
        );
        assert!(err(&[(Methods::GET, "/s/{id}"), (Methods::GET, "/s/{name}")]).starts_with("invalid route pattern"));
        assert_eq!("get".parse::<Methods>(), Err(RouteError::UnknownMethod("get".into())));
    }
}
