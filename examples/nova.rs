//! Nova's compute API deployment — the sections and pipelines of its
//! `api-paste.ini` — compiled by `deploy!`, with a small in-memory servers
//! API behind it.
//!
//! Run it: `cargo run --release --example nova` (listens on 127.0.0.1:8774,
//! `auth_strategy = noauth2`), then
//! `curl -s localhost:8774/v2.1/servers -H 'X-Auth-Project-Id: demo'`.
//! `AUTH_STRATEGY=keystone` selects the keystone pipeline, whose
//! `authtoken` accepts `X-Auth-Token: secret` (the `admin_token` below).
//!
//! Options: `--bind ADDR` and every server option (`--pool-size`,
//! `--workers`, `--protocol`, … see `rsgi::server::Config::set`).
//! Read what `deploy!` made of it: `cargo expand --example nova`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

use rsgi::factory::Factory;
use rsgi::http::{HeaderValue, StatusCode, header};
use rsgi::{App, Filter, IntoResponse, Json, Request, Response};
use serde_json::json;

// ---------------------------------------------------------------- filters

/// `noauth2`: trusts `X-Auth-Project-Id` (development only), as Nova's
/// `NoAuthMiddleware` does.
#[derive(Clone, Copy, Debug)]
struct NoAuth2;

/// `authtoken`: accepts only the configured admin token in `X-Auth-Token`
/// (a stand-in for keystonemiddleware's token validation).
#[derive(Clone, Debug)]
struct AuthToken {
    token: String,
}

/// `keystonecontext`: builds the request context from the validated headers.
#[derive(Clone, Copy, Debug)]
struct KeystoneContext;

/// `legacy_v2_compatible`: marks the request as coming through `/v2`.
#[derive(Clone, Copy, Debug)]
struct LegacyV2;

/// The request context the auth filters leave for the API.
#[derive(Clone, Debug)]
struct Context {
    project_id: String,
    legacy_v2: bool,
}

/// An app wrapped by one of this example's filters.
#[derive(Clone, Debug)]
struct Wrapped<F, A> {
    filter: F,
    inner: A,
}

macro_rules! example_filter {
    ($($name:ident),*) => {$(
        impl<A: App> Filter<A> for $name {
            type Output = Wrapped<$name, A>;
            fn wrap(&self, inner: A) -> Self::Output {
                Wrapped { filter: self.clone(), inner }
            }
        }
    )*};
}
example_filter!(NoAuth2, AuthToken, KeystoneContext, LegacyV2);

fn header_str<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

// These filters do their work before calling the inner app and return its
// future as is (no `async` wrapper holding the request a second time).

impl<A: App> App for Wrapped<NoAuth2, A> {
    fn call(&self, mut req: Request) -> impl Future<Output = Response> + Send {
        let project_id = header_str(&req, "x-auth-project-id").unwrap_or("demo").to_owned();
        req.extensions_mut().insert(Context { project_id, legacy_v2: false });
        self.inner.call(req)
    }
}

impl<A: App> App for Wrapped<AuthToken, A> {
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send {
        if header_str(&req, "x-auth-token") == Some(self.filter.token.as_str()) {
            return rsgi::app::EitherFuture::Left { future: self.inner.call(req) };
        }
        let body = json!({"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}});
        let mut res = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Keystone uri=\"http://127.0.0.1:5000\""));
        rsgi::app::EitherFuture::Right { future: std::future::ready(res) }
    }
}

impl<A: App> App for Wrapped<KeystoneContext, A> {
    fn call(&self, mut req: Request) -> impl Future<Output = Response> + Send {
        let project_id = header_str(&req, "x-project-id").unwrap_or("admin").to_owned();
        req.extensions_mut().insert(Context { project_id, legacy_v2: false });
        self.inner.call(req)
    }
}

impl<A: App> App for Wrapped<LegacyV2, A> {
    fn call(&self, mut req: Request) -> impl Future<Output = Response> + Send {
        if let Some(ctx) = req.extensions_mut().get_mut::<Context>() {
            ctx.legacy_v2 = true;
        }
        self.inner.call(req)
    }
}

// ---------------------------------------------------------------- apps

/// The version documents (`oscomputeversionapp`, `oscomputeversionapp_v2`).
#[derive(Clone, Copy, Debug)]
enum Versions {
    All,
    One,
}

fn version(id: &str, status: &str, min: &str, max: &str) -> serde_json::Value {
    json!({"id": id, "status": status, "version": max, "min_version": min, "updated": "2013-07-23T11:33:21Z",
           "links": [{"rel": "self", "href": format!("/{}/", if id == "v2.0" { "v2" } else { "v2.1" })}]})
}

impl App for Versions {
    async fn call(&self, req: Request) -> Response {
        let all = [version("v2.0", "DEPRECATED", "", ""), version("v2.1", "CURRENT", "2.1", "2.96")];
        match self {
            Versions::All => (StatusCode::MULTIPLE_CHOICES, Json(json!({"versions": all}))).into_response(),
            Versions::One => {
                let v = if req.script_name().starts_with("/v2.1") { &all[1] } else { &all[0] };
                Json(json!({"version": v})).into_response()
            }
        }
    }
}

/// A server record.
#[derive(Clone, Debug)]
struct Server {
    id: u64,
    name: String,
    project_id: String,
    status: &'static str,
}

impl Server {
    fn brief(&self) -> serde_json::Value {
        json!({"id": self.id.to_string(), "name": self.name})
    }
    fn detail(&self) -> serde_json::Value {
        json!({"id": self.id.to_string(), "name": self.name, "tenant_id": self.project_id, "status": self.status})
    }
}

/// The servers, in memory (`osapi_compute_app_v21`'s database).
struct Store {
    servers: Mutex<BTreeMap<u64, Server>>,
    next_id: AtomicU64,
}

static STORE: LazyLock<Store> =
    LazyLock::new(|| Store { servers: Mutex::new(BTreeMap::new()), next_id: AtomicU64::new(1) });

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"itemNotFound": {"code": 404, "message": what}}))).into_response()
}

fn bad_request(what: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"badRequest": {"code": 400, "message": what}}))).into_response()
}

/// The handlers of the `[routes:osapi_compute_app_v21]` table: Nova's
/// `APIRouterV21` reduced to the servers resource.
// The `Err` of the small helpers below is the answer to send: a `Response`
// by value, made once per failed request, is what a handler returns anyway.
#[allow(clippy::result_large_err)]
mod servers {
    use super::*;

    /// The request context the auth filters left, and the `{id}` parameter.
    fn context(req: &Request) -> Result<Context, Response> {
        req.extensions()
            .get::<Context>()
            .cloned()
            .ok_or_else(|| (StatusCode::FORBIDDEN, "no request context").into_response())
    }

    fn id(req: &Request) -> Result<u64, Response> {
        let id = rsgi::routes::params(req).get("id").unwrap_or("");
        id.parse().map_err(|_| not_found(&format!("Instance {id} could not be found.")))
    }

    fn list(req: &Request, view: fn(&Server) -> serde_json::Value) -> Response {
        let ctx = match context(req) {
            Ok(c) => c,
            Err(res) => return res,
        };
        let servers = STORE.servers.lock().unwrap_or_else(|e| e.into_inner());
        let mine: Vec<_> = servers.values().filter(|s| s.project_id == ctx.project_id).map(view).collect();
        Json(json!({"servers": mine})).into_response()
    }

    /// `GET /servers`
    pub(crate) async fn index(req: Request) -> Response {
        list(&req, Server::brief)
    }

    /// `GET /servers/detail`
    pub(crate) async fn detail(req: Request) -> Response {
        list(&req, Server::detail)
    }

    /// `POST /servers` with `{"server": {"name": …}}`
    pub(crate) async fn create(mut req: Request) -> Response {
        let ctx = match context(&req) {
            Ok(c) => c,
            Err(res) => return res,
        };
        let body = match req.take_body().collect_bytes().await {
            Ok(b) => b,
            Err(e) => return bad_request(&e.to_string()),
        };
        let name = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["server"]["name"].as_str().map(str::to_owned));
        let Some(name) = name else {
            return bad_request("Expected {\"server\": {\"name\": …}}.");
        };
        let id = STORE.next_id.fetch_add(1, Ordering::Relaxed);
        let server = Server { id, name, project_id: ctx.project_id, status: "ACTIVE" };
        let doc = json!({"server": server.detail()});
        STORE.servers.lock().unwrap_or_else(|e| e.into_inner()).insert(id, server);
        (StatusCode::ACCEPTED, Json(doc)).into_response()
    }

    /// Runs `f` on the caller's server `{id}`, or answers 404.
    fn with_server(req: &Request, f: impl FnOnce(&mut BTreeMap<u64, Server>, u64) -> Response) -> Response {
        let (ctx, id) = match (context(req), id(req)) {
            (Ok(c), Ok(id)) => (c, id),
            (Err(res), _) | (_, Err(res)) => return res,
        };
        let mut servers = STORE.servers.lock().unwrap_or_else(|e| e.into_inner());
        if servers.get(&id).is_none_or(|s| s.project_id != ctx.project_id) {
            return not_found(&format!("Instance {id} could not be found."));
        }
        f(&mut servers, id)
    }

    /// `GET /servers/{id}`
    pub(crate) async fn show(req: Request) -> Response {
        with_server(&req, |servers, id| Json(json!({"server": servers[&id].detail()})).into_response())
    }

    /// `DELETE /servers/{id}`
    pub(crate) async fn delete(req: Request) -> Response {
        with_server(&req, |servers, id| {
            servers.remove(&id);
            StatusCode::NO_CONTENT.into_response()
        })
    }

    /// `POST /servers/{id}/action`: toggles the server on and off.
    pub(crate) async fn action(req: Request) -> Response {
        with_server(&req, |servers, id| {
            if let Some(s) = servers.get_mut(&id) {
                s.status = if s.status == "ACTIVE" { "SHUTOFF" } else { "ACTIVE" };
            }
            StatusCode::ACCEPTED.into_response()
        })
    }
}

// ---------------------------------------------------------------- factories

/// `oscomputeversionapp`: every API version (`300 Multiple Choices`).
#[derive(Debug)]
struct VersionsApp;

/// `oscomputeversionapp_v2`: the version at the mount it sits under.
#[derive(Debug)]
struct VersionApp;

impl App for VersionsApp {
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send {
        Versions::All.call(req)
    }
}

impl App for VersionApp {
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send {
        Versions::One.call(req)
    }
}

rsgi::factory!(
    VersionsApp => VersionsApp,
    VersionApp => VersionApp,
    NoAuth2 => NoAuth2,
    KeystoneContext => KeystoneContext,
    LegacyV2 => LegacyV2,
);

rsgi::settings! {
    /// Settings of `authtoken`.
    struct AuthTokenSettings {
        /// The one token accepted in `X-Auth-Token`.
        admin_token: String = String::new(),
    }
}

impl Factory for AuthToken {
    type Settings = AuthTokenSettings;
    type Output = AuthToken;
    fn build(s: AuthTokenSettings) -> AuthToken {
        AuthToken { token: s.admin_token }
    }
}

// ---------------------------------------------------------------- deployment

rsgi::deploy! {
    [DEFAULT]
    auth_strategy = "noauth2"
    admin_token = "secret"

    [composite:osapi_compute]
    use = urlmap
    "/" = oscomputeversions
    "/v2" = oscomputeversion_legacy_v2
    "/v2.1" = oscomputeversion_v2
    // Only when something follows the slash: `/v2.1` and `/v2.1/` stay
    // with the unauthenticated version document.
    "/v2/+" = openstack_compute_api_v21_legacy_v2_compatible
    "/v2.1/+" = openstack_compute_api_v21

    // Nova's `pipeline_factory_v21`: one pipeline per `auth_strategy`.
    [composite:openstack_compute_api_v21]
    use = select
    keystone = cors http_proxy_to_wsgi compute_req_id faultwrap request_log sizelimit authtoken keystonecontext osapi_compute_app_v21
    noauth2 = cors http_proxy_to_wsgi compute_req_id faultwrap request_log sizelimit noauth2 osapi_compute_app_v21

    [composite:openstack_compute_api_v21_legacy_v2_compatible]
    use = select
    keystone = cors http_proxy_to_wsgi compute_req_id faultwrap request_log sizelimit authtoken keystonecontext legacy_v2_compatible osapi_compute_app_v21
    noauth2 = cors http_proxy_to_wsgi compute_req_id faultwrap request_log sizelimit noauth2 legacy_v2_compatible osapi_compute_app_v21

    [filter:request_log]
    use = rsgi::filters::RequestLogFilter

    [filter:compute_req_id]
    use = rsgi::filters::RequestIdFilter

    [filter:faultwrap]
    use = rsgi::filters::FaultWrapFilter

    [filter:sizelimit]
    use = rsgi::filters::SizeLimitFilter
    max_request_body_size = 114688

    [filter:http_proxy_to_wsgi]
    use = rsgi::filters::HttpProxyToWsgiFilter
    enable_proxy_headers_parsing = false

    [filter:legacy_v2_compatible]
    use = LegacyV2

    // Nova's APIRouterV21, as a route table: matched on what the urlmap
    // leaves in PATH_INFO; 404, 405 with `Allow` and HEAD come with it.
    [routes:osapi_compute_app_v21]
    GET "/servers" = servers::index
    POST "/servers" = servers::create
    GET "/servers/detail" = servers::detail
    GET "/servers/{id}" = servers::show
    DELETE "/servers/{id}" = servers::delete
    POST "/servers/{id}/action" = servers::action

    [pipeline:oscomputeversions]
    pipeline = cors faultwrap request_log http_proxy_to_wsgi oscomputeversionapp

    [pipeline:oscomputeversion_v2]
    pipeline = cors compute_req_id faultwrap request_log http_proxy_to_wsgi oscomputeversionapp_v2

    [pipeline:oscomputeversion_legacy_v2]
    pipeline = cors compute_req_id faultwrap request_log http_proxy_to_wsgi legacy_v2_compatible oscomputeversionapp_v2

    [app:oscomputeversionapp]
    use = VersionsApp

    [app:oscomputeversionapp_v2]
    use = VersionApp

    [filter:cors]
    use = rsgi::filters::CorsFilter
    allowed_origin = "*"
    allow_headers = "X-Auth-Token, X-OpenStack-Request-ID, X-Auth-Project-Id"
    expose_headers = "X-OpenStack-Request-ID"

    [filter:keystonecontext]
    use = KeystoneContext

    [filter:authtoken]
    use = AuthToken
    get admin_token = admin_token

    [filter:noauth2]
    use = NoAuth2
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    // The pipelines log each request (`request_log`): no second line from the server.
    let mut config = rsgi::server::Config { bind: "127.0.0.1:8774".parse()?, log_format: None, ..Default::default() };
    let rest = config.apply_args(std::env::args().skip(1))?;
    if let Some(arg) = rest.first() {
        if arg == "--help" || arg == "-h" {
            println!("usage: nova [--bind ADDR] [--SERVER-OPTION VALUE …]   (AUTH_STRATEGY=noauth2|keystone)");
            return Ok(());
        }
        return Err(format!("unknown argument `{arg}` (try --help)").into());
    }
    let app = deployment::osapi_compute();
    tracing::info!(bind = %config.bind, "nova API starting");
    rsgi::server::run(config, app)?;
    Ok(())
}
