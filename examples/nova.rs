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
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rsgi::factory::{Factory, NoSettings};
use rsgi::http::{HeaderValue, Method, StatusCode, header};
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

/// Factories without settings: the type builds itself.
macro_rules! unit_factory {
    ($($ty:ident => $make:expr),* $(,)?) => {$(
        impl Factory for $ty {
            type Settings = NoSettings;
            type Output = $ty;
            fn build(_: NoSettings) -> $ty {
                $make
            }
        }
    )*};
}
unit_factory!(
    VersionsApp => VersionsApp,
    VersionApp => VersionApp,
    ServersApi => ServersApi::new(),
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

    [app:osapi_compute_app_v21]
    use = ServersApi

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
