//! Pipelines, `select`, tower interop and the standard filters, each
//! against a real server on `127.0.0.1:0`.

mod common;

use bytes::Bytes;
use common::{TestServer, echo, get, get_with, send};
use http_body_util::Full;
use rsgi::filters::{
    CorsFilter, FaultWrapFilter, Healthcheck, HttpProxyToWsgiFilter, LogFormat, RequestIdFilter, RequestLogFilter,
    SizeLimitFilter,
};
use rsgi::tower::{AppService, LayerFilter, ServiceApp};
use rsgi::{App, Filter, Request, Response, UrlMap, app_fn, pipeline, select};

/// Appends its name to the `x-trace` request header, to observe order.
#[derive(Clone, Debug)]
struct Trace(&'static str);

struct Traced<A> {
    name: &'static str,
    inner: A,
}

impl<A: App> Filter<A> for Trace {
    type Output = Traced<A>;
    fn wrap(&self, inner: A) -> Traced<A> {
        Traced { name: self.0, inner }
    }
}

impl<A: App> App for Traced<A> {
    async fn call(&self, mut req: Request) -> Response {
        let before = req.headers().get("x-trace").map(|v| v.to_str().unwrap().to_owned());
        let trace = before.map_or_else(|| self.name.to_owned(), |t| format!("{t},{}", self.name));
        req.headers_mut().insert("x-trace", trace.parse().unwrap());
        let mut res = self.inner.call(req).await;
        // On the way out the order reverses: the outermost filter adds last.
        let out = res.headers().get("x-trace-out").map(|v| v.to_str().unwrap().to_owned());
        let out = out.map_or_else(|| self.name.to_owned(), |t| format!("{t},{}", self.name));
        res.headers_mut().insert("x-trace-out", out.parse().unwrap());
        res
    }
}

fn trace_echo() -> impl App {
    app_fn(|req: Request| async move {
        req.headers().get("x-trace").map_or(String::new(), |v| v.to_str().unwrap().to_owned())
    })
}

#[tokio::test]
async fn first_listed_filter_is_outermost() {
    let app = pipeline().filter(Trace("f1")).filter(Trace("f2")).filter(Trace("f3")).app(trace_echo());
    let server = TestServer::start(app).await;
    let reply = get(&server.url("/")).await;
    assert_eq!(reply.text(), "f1,f2,f3");
    assert_eq!(reply.headers["x-trace-out"], "f3,f2,f1");
    server.stop().await;
}

#[tokio::test]
async fn select_builds_the_configured_alternative() {
    for (strategy, expected) in [("noauth2", "noauth2"), ("keystone", "keystone")] {
        let app = select("auth_strategy", strategy)
            .case("noauth2", || pipeline().filter(Trace("noauth2")).app(trace_echo()))
            .case("keystone", || pipeline().filter(Trace("keystone")).filter(Trace("authtoken")).app(trace_echo()))
            .build()
            .unwrap();
        let server = TestServer::start(app).await;
        let text = get(&server.url("/")).await.text();
        assert!(text.starts_with(expected), "{strategy}: {text}");
        server.stop().await;
    }
}

#[tokio::test]
async fn tower_http_layer_inside_a_pipeline() {
    use tower_http::set_header::SetResponseHeaderLayer;
    let layer = SetResponseHeaderLayer::overriding(http::header::SERVER, http::HeaderValue::from_static("rsgi-test"));
    // The environ crosses the tower layer: urlmap's SCRIPT_NAME split survives.
    let app = UrlMap::new().mount(
        "/v2.1",
        pipeline().filter(Trace("outer")).filter(LayerFilter::new(layer)).filter(Trace("inner")).app(echo("api")),
    );
    let server = TestServer::start(app).await;
    let reply = get(&server.url("/v2.1/servers")).await;
    assert_eq!(reply.headers["server"], "rsgi-test");
    let v = reply.json();
    assert_eq!((v["SCRIPT_NAME"].as_str(), v["PATH_INFO"].as_str()), (Some("/v2.1"), Some("/servers")));
    server.stop().await;
}

#[tokio::test]
async fn tower_service_as_an_app() {
    let svc = tower::service_fn(|req: http::Request<rsgi::Body>| async move {
        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(format!(
            "tower saw {}",
            req.uri().path()
        )))))
    });
    let server = TestServer::start(ServiceApp::new(svc)).await;
    assert_eq!(get(&server.url("/x/y")).await.text(), "tower saw /x/y");
    server.stop().await;
}

#[tokio::test]
async fn app_as_a_tower_service_behind_plain_hyper() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    let svc = AppService::new(pipeline().filter(RequestIdFilter).app(echo("mounted")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
            .await;
    });
    let reply = get(&format!("http://{addr}/abc")).await;
    assert_eq!(reply.json()["app"], "mounted");
    assert!(reply.headers.contains_key("x-openstack-request-id"));
    task.abort();
}

#[tokio::test]
async fn request_id_is_set_and_fresh() {
    let app = pipeline()
        .filter(RequestIdFilter)
        .app(app_fn(|req: Request| async move { req.request_id().unwrap_or("none").to_owned() }));
    let server = TestServer::start(app).await;
    let a = get(&server.url("/")).await;
    let b = get(&server.url("/")).await;
    let id_a = a.headers["x-openstack-request-id"].to_str().unwrap().to_owned();
    assert!(id_a.starts_with("req-") && id_a.len() == 40, "{id_a}");
    assert_eq!(a.text(), id_a, "the app sees the id it is answered with");
    assert_ne!(id_a, b.headers["x-openstack-request-id"].to_str().unwrap());
    server.stop().await;
}

#[tokio::test]
async fn faultwrap_turns_a_panic_into_a_500_fault() {
    let app =
        pipeline().filter(RequestIdFilter).filter(FaultWrapFilter::new()).app(app_fn(|req: Request| async move {
            if req.path_info() == "/boom" {
                panic!("boom");
            }
            "fine"
        }));
    let server = TestServer::start(app).await;
    let reply = get(&server.url("/boom")).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["computeFault"]["code"], 500);
    assert!(!reply.text().contains("boom"), "the panic message stays in the log");
    assert!(reply.headers.contains_key("x-openstack-request-id"), "outer filters still run");
    assert_eq!(get(&server.url("/ok")).await.text(), "fine");
    server.stop().await;
}

fn body_len_app() -> impl App {
    app_fn(|mut req: Request| async move {
        match req.take_body().collect_bytes().await {
            Ok(b) => (http::StatusCode::OK, format!("{} bytes", b.len())),
            Err(e) => (http::StatusCode::BAD_REQUEST, e.to_string()),
        }
    })
}

#[tokio::test]
async fn sizelimit_413_for_declared_and_chunked_bodies() {
    let server = TestServer::start(pipeline().filter(SizeLimitFilter::new(16)).app(body_len_app())).await;
    let post = |body: &'static str| {
        http::Request::post(server.url("/")).body(Full::new(Bytes::from_static(body.as_bytes()))).unwrap()
    };
    assert_eq!(send(post("0123456789")).await.text(), "10 bytes");
    assert_eq!(send(post("0123456789abcdefXYZ")).await.status, 413);
    // Chunked: no Content-Length; the body grows past the limit while read.
    let chunked = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n\
a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n";
    let raw = common::raw(server.addr, chunked).await;
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    let small =
        b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n0\r\n\r\n";
    let raw = common::raw(server.addr, small).await;
    assert!(raw.starts_with("HTTP/1.1 200") && raw.ends_with("5 bytes"), "{raw}");
    server.stop().await;
}

#[tokio::test]
async fn proxy_headers_only_when_enabled() {
    for (enabled, scheme, host) in [(true, "https", "api.example.org"), (false, "http", "127.0.0.1")] {
        let server = TestServer::start(pipeline().filter(HttpProxyToWsgiFilter::new(enabled)).app(echo("api"))).await;
        let v = get_with(&server.url("/"), &[("x-forwarded-proto", "https"), ("x-forwarded-host", "api.example.org")])
            .await
            .json();
        assert_eq!(v["url_scheme"], scheme, "enabled={enabled}");
        assert!(v["host"].as_str().unwrap().starts_with(host), "enabled={enabled}: {v}");
        let v = get_with(&server.url("/"), &[("forwarded", "for=10.0.0.1;proto=https")]).await.json();
        assert_eq!(v["url_scheme"], scheme);
        server.stop().await;
    }
}

#[tokio::test]
async fn cors_preflight_and_simple_requests() {
    let cors = CorsFilter::new()
        .allowed_origin("https://dash.example")
        .allow_header("x-auth-token")
        .expose_header("x-openstack-request-id");
    let server = TestServer::start(pipeline().filter(cors).app(echo("api"))).await;
    let preflight = |origin: &str, header: &str| {
        http::Request::options(server.url("/servers"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", header)
            .body(Full::default())
            .unwrap()
    };
    let ok = send(preflight("https://dash.example", "X-Auth-Token")).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.headers["access-control-allow-origin"], "https://dash.example");
    assert!(ok.headers["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert_eq!(ok.headers["access-control-allow-headers"], "x-auth-token");
    assert_eq!(ok.headers["access-control-max-age"], "3600");
    let denied = send(preflight("https://evil.example", "x-auth-token")).await;
    assert!(!denied.headers.contains_key("access-control-allow-origin"));
    let bad_header = send(preflight("https://dash.example", "x-other")).await;
    assert!(!bad_header.headers.contains_key("access-control-allow-origin"));
    let simple = get_with(&server.url("/"), &[("origin", "https://dash.example")]).await;
    assert_eq!(simple.json()["app"], "api");
    assert_eq!(simple.headers["access-control-allow-origin"], "https://dash.example");
    assert_eq!(simple.headers["access-control-expose-headers"], "x-openstack-request-id");
    assert_eq!(simple.headers["vary"], "Origin");
    server.stop().await;
}

#[tokio::test]
async fn healthcheck_app_and_disable_file() {
    let dir = std::env::temp_dir().join(format!("rsgi-health-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flag = dir.join("disabled");
    let _ = std::fs::remove_file(&flag);
    let server =
        TestServer::start(UrlMap::new().mount("/healthcheck", Healthcheck::new().disable_by_file(&flag))).await;
    let ok = get(&server.url("/healthcheck")).await;
    assert_eq!((ok.status, ok.text().as_str()), (200, "OK"));
    std::fs::write(&flag, b"").unwrap();
    let off = get(&server.url("/healthcheck")).await;
    assert_eq!((off.status, off.text().as_str()), (503, "DISABLED BY FILE"));
    std::fs::remove_file(&flag).unwrap();
    server.stop().await;
}

// current_thread: the server runs on this thread, under this thread's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn request_log_writes_novas_format() {
    let (captured, _guard) = common::Captured::start();
    let app = pipeline().filter(RequestLogFilter::new(LogFormat::default())).app(echo("api"));
    let server = TestServer::start(app).await;
    let reply = get(&server.url("/v2.1/servers?limit=2")).await;
    let len = reply.body.len();
    server.stop().await;
    let log = captured.text();
    let line = log.lines().find(|l| l.contains("status:")).unwrap_or_else(|| panic!("no access line in {log:?}"));
    let prefix = format!("127.0.0.1 \"GET /v2.1/servers?limit=2 HTTP/1.1\" status: 200 len: {len} time: ");
    assert!(line.trim().starts_with(&prefix), "{line}");
    let time = line.trim().rsplit(' ').next().unwrap();
    assert!(time.len() == 9 && time.parse::<f64>().is_ok(), "seconds with 7 decimals: {time}");
}
