//! Nova's compute API deployment (the shape of its `api-paste.ini`) as an
//! rsgi program, with a small in-memory servers API behind it.
//!
//! ```text
//! [composite:osapi_compute]          urlmap
//!   /        → oscomputeversions       cors faultwrap request_log http_proxy_to_wsgi versions
//!   /v2      → oscomputeversion_legacy cors compute_req_id faultwrap request_log http_proxy_to_wsgi legacy_v2 versions_v2
//!   /v2.1    → oscomputeversion_v2     cors compute_req_id faultwrap request_log http_proxy_to_wsgi versions_v2
//!   /v2/+    → api_v21_legacy          select on auth_strategy (… legacy_v2 servers)
//!   /v2.1/+  → api_v21                 select on auth_strategy:
//!       keystone = cors http_proxy_to_wsgi compute_req_id faultwrap request_log sizelimit authtoken keystonecontext servers
//!       noauth2  = cors http_proxy_to_wsgi compute_req_id faultwrap request_log sizelimit noauth2 servers
//! ```
//!
//! Run it: `cargo run --release --example nova` (listens on 127.0.0.1:8774,
//! `auth_strategy = noauth2`), then
//! `curl -s localhost:8774/v2.1/servers -H 'X-Auth-Project-Id: demo'`.
//!
//! Options: `--bind ADDR`, `--auth-strategy noauth2|keystone`,
//! `--admin-token TOKEN` (what `authtoken` accepts in `X-Auth-Token` with
//! keystone), and every server option (`--pool-size`, `--workers`, …).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rsgi::filters::{
    CorsFilter, FaultWrapFilter, HttpProxyToWsgiFilter, RequestIdFilter, RequestLogFilter, SizeLimitFilter,
};
use rsgi::http::{HeaderValue, Method, StatusCode, header};
use rsgi::server::Config;
use rsgi::{App, Filter, IntoResponse, Json, Request, Response, UrlMap, pipeline, select};
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

impl<A: App> App for Wrapped<NoAuth2, A> {
    async fn call(&self, mut req: Request) -> Response {
        let project_id = header_str(&req, "x-auth-project-id").unwrap_or("demo").to_owned();
        req.extensions_mut().insert(Context { project_id, legacy_v2: false });
        self.inner.call(req).await
    }
}

impl<A: App> App for Wrapped<AuthToken, A> {
    async fn call(&self, req: Request) -> Response {
        if header_str(&req, "x-auth-token") != Some(self.filter.token.as_str()) {
            let mut res = (StatusCode::UNAUTHORIZED, Json(json!({"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}))).into_response();
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Keystone uri=\"http://127.0.0.1:5000\""));
            return res;
        }
        self.inner.call(req).await
    }
}

impl<A: App> App for Wrapped<KeystoneContext, A> {
    async fn call(&self, mut req: Request) -> Response {
        let project_id = header_str(&req, "x-project-id").unwrap_or("admin").to_owned();
        req.extensions_mut().insert(Context { project_id, legacy_v2: false });
        self.inner.call(req).await
    }
}

impl<A: App> App for Wrapped<LegacyV2, A> {
    async fn call(&self, mut req: Request) -> Response {
        if let Some(ctx) = req.extensions_mut().get_mut::<Context>() {
            ctx.legacy_v2 = true;
        }
        self.inner.call(req).await
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

/// The routes of the servers API, matched on `PATH_INFO`.
#[derive(Clone, Copy, Debug)]
enum Route {
    Servers,
    Detail,
    Server,
    Action,
}

/// `osapi_compute_app_v21`: an in-memory servers API.
#[derive(Debug)]
struct ServersApi {
    router: matchit::Router<Route>,
    servers: Mutex<BTreeMap<u64, Server>>,
    next_id: AtomicU64,
}

impl ServersApi {
    fn new() -> Self {
        let mut router = matchit::Router::new();
        for (path, route) in [
            ("/servers", Route::Servers),
            ("/servers/detail", Route::Detail),
            ("/servers/{id}", Route::Server),
            ("/servers/{id}/action", Route::Action),
        ] {
            router.insert(path, route).expect("the routes do not conflict");
        }
        ServersApi { router, servers: Mutex::new(BTreeMap::new()), next_id: AtomicU64::new(1) }
    }
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"itemNotFound": {"code": 404, "message": what}}))).into_response()
}

fn bad_request(what: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"badRequest": {"code": 400, "message": what}}))).into_response()
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut res = StatusCode::METHOD_NOT_ALLOWED.into_response();
    res.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}

impl App for ServersApi {
    async fn call(&self, mut req: Request) -> Response {
        let Some(ctx) = req.extensions().get::<Context>().cloned() else {
            return (StatusCode::FORBIDDEN, "no request context").into_response();
        };
        let (route, id) = match self.router.at(req.path_info()) {
            Ok(m) => (*m.value, m.params.get("id").map(str::to_owned)),
            Err(_) => return not_found("The resource could not be found."),
        };
        let id = match id.map(|s| s.parse::<u64>()) {
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => return not_found("Instance could not be found."),
            None => None,
        };
        let method = req.method().clone();
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        let mine = |s: &&Server| s.project_id == ctx.project_id;
        match (route, method, id) {
            (Route::Servers, Method::GET | Method::HEAD, _) => {
                Json(json!({"servers": servers.values().filter(mine).map(Server::brief).collect::<Vec<_>>()}))
                    .into_response()
            }
            (Route::Detail, Method::GET | Method::HEAD, _) => {
                Json(json!({"servers": servers.values().filter(mine).map(Server::detail).collect::<Vec<_>>()}))
                    .into_response()
            }
            (Route::Servers, Method::POST, _) => {
                drop(servers);
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
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let server = Server { id, name, project_id: ctx.project_id.clone(), status: "ACTIVE" };
                let doc = json!({"server": server.detail()});
                self.servers.lock().unwrap_or_else(|e| e.into_inner()).insert(id, server);
                (StatusCode::ACCEPTED, Json(doc)).into_response()
            }
            (Route::Server, Method::GET | Method::HEAD, Some(id)) => match servers.get(&id).filter(|s| mine(s)) {
                Some(s) => Json(json!({"server": s.detail()})).into_response(),
                None => not_found(&format!("Instance {id} could not be found.")),
            },
            (Route::Server, Method::DELETE, Some(id)) => match servers.get(&id).filter(|s| mine(s)) {
                Some(_) => {
                    servers.remove(&id);
                    StatusCode::NO_CONTENT.into_response()
                }
                None => not_found(&format!("Instance {id} could not be found.")),
            },
            (Route::Action, Method::POST, Some(id)) => {
                match servers.get_mut(&id).filter(|s| s.project_id == ctx.project_id) {
                    Some(s) => {
                        s.status = if s.status == "ACTIVE" { "SHUTOFF" } else { "ACTIVE" };
                        StatusCode::ACCEPTED.into_response()
                    }
                    None => not_found(&format!("Instance {id} could not be found.")),
                }
            }
            (Route::Servers, ..) => method_not_allowed("GET, HEAD, POST"),
            (Route::Detail, ..) => method_not_allowed("GET, HEAD"),
            (Route::Server, ..) => method_not_allowed("GET, HEAD, DELETE"),
            (Route::Action, ..) => method_not_allowed("POST"),
        }
    }
}

// ---------------------------------------------------------------- composition

/// The five kinds of mount of `osapi_compute`.
enum OsapiCompute<V, L, W, A, B> {
    Versions(V),
    LegacyVersion(L),
    Version(W),
    ApiLegacy(A),
    Api(B),
}

impl<V: App, L: App, W: App, A: App, B: App> App for OsapiCompute<V, L, W, A, B> {
    async fn call(&self, req: Request) -> Response {
        match self {
            OsapiCompute::Versions(a) => a.call(req).await,
            OsapiCompute::LegacyVersion(a) => a.call(req).await,
            OsapiCompute::Version(a) => a.call(req).await,
            OsapiCompute::ApiLegacy(a) => a.call(req).await,
            OsapiCompute::Api(a) => a.call(req).await,
        }
    }
}

/// The settings the deployment reads (Nova's `[api] auth_strategy`, …).
struct Settings {
    auth_strategy: String,
    admin_token: String,
}

fn cors() -> CorsFilter {
    CorsFilter::new().allowed_origin("*").allow_header("x-auth-token").expose_header("x-openstack-request-id")
}

fn osapi_compute(settings: &Settings) -> Result<impl App, Box<dyn std::error::Error>> {
    let proxy = HttpProxyToWsgiFilter::new(false);
    let log = RequestLogFilter::default();
    let oscomputeversions =
        pipeline().filter(cors()).filter(FaultWrapFilter::new()).filter(log.clone()).filter(proxy).app(Versions::All);
    let oscomputeversion_legacy_v2 = pipeline()
        .filter(cors())
        .filter(RequestIdFilter)
        .filter(FaultWrapFilter::new())
        .filter(log.clone())
        .filter(proxy)
        .filter(LegacyV2)
        .app(Versions::One);
    let oscomputeversion_v2 = pipeline()
        .filter(cors())
        .filter(RequestIdFilter)
        .filter(FaultWrapFilter::new())
        .filter(log.clone())
        .filter(proxy)
        .app(Versions::One);
    // `pipeline_factory_v21`: the same API behind either auth pipeline.
    let api_v21 = |legacy: bool| {
        let strategy = settings.auth_strategy.as_str();
        let token = settings.admin_token.clone();
        let log = log.clone();
        let common = move || {
            pipeline()
                .filter(cors())
                .filter(proxy)
                .filter(RequestIdFilter)
                .filter(FaultWrapFilter::new())
                .filter(log.clone())
                .filter(SizeLimitFilter::default())
        };
        let common2 = common.clone();
        select("auth_strategy", strategy)
            .case("keystone", move || {
                common()
                    .filter(AuthToken { token })
                    .filter(KeystoneContext)
                    .filter(LegacyOr(legacy))
                    .app(ServersApi::new())
            })
            .case("noauth2", move || common2().filter(NoAuth2).filter(LegacyOr(legacy)).app(ServersApi::new()))
            .build()
    };
    Ok(UrlMap::new()
        .try_mount("/", OsapiCompute::Versions(oscomputeversions))?
        .try_mount("/v2", OsapiCompute::LegacyVersion(oscomputeversion_legacy_v2))?
        .try_mount("/v2.1", OsapiCompute::Version(oscomputeversion_v2))?
        .try_mount("/v2/+", OsapiCompute::ApiLegacy(api_v21(true)?))?
        .try_mount("/v2.1/+", OsapiCompute::Api(api_v21(false)?))?)
}

/// `legacy_v2_compatible` where the pipeline has it, nothing elsewhere.
#[derive(Clone, Copy, Debug)]
struct LegacyOr(bool);

impl<A: App> Filter<A> for LegacyOr {
    type Output = rsgi::Either<Wrapped<LegacyV2, A>, A>;
    fn wrap(&self, inner: A) -> Self::Output {
        if self.0 { rsgi::Either::Left(LegacyV2.wrap(inner)) } else { rsgi::Either::Right(inner) }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let mut config = Config { bind: "127.0.0.1:8774".parse()?, ..Config::default() };
    let mut settings = Settings { auth_strategy: "noauth2".to_owned(), admin_token: "secret".to_owned() };
    let mut args = config.apply_args(std::env::args().skip(1))?.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("`{name}` needs a value"));
        match arg.as_str() {
            "--auth-strategy" => settings.auth_strategy = value("--auth-strategy")?,
            "--admin-token" => settings.admin_token = value("--admin-token")?,
            "--help" | "-h" => {
                println!(
                    "usage: nova [--bind ADDR] [--auth-strategy noauth2|keystone] [--admin-token TOKEN] [--SERVER-OPTION VALUE …]"
                );
                return Ok(());
            }
            other => return Err(format!("unknown argument `{other}` (try --help)").into()),
        }
    }
    let app = osapi_compute(&settings)?;
    tracing::info!(auth_strategy = %settings.auth_strategy, bind = %config.bind, "nova API starting");
    rsgi::server::run(config, app)?;
    Ok(())
}
