//! `[routes:…]` sections against a real server: path parameters, 404, 405
//! with `Allow`, `HEAD` through the `GET` route, a table under a urlmap
//! mount (matched on `PATH_INFO`); the same table compiled inline, from an
//! ini by `deploy!(file = …)`, and loaded at run time by `loadapp`.

mod common;

use bytes::Bytes;
use common::{Reply, TestServer, get, send};
use http_body_util::Full;
use rsgi::loader::{Deployment, Registry};
use rsgi::{App, IntoResponse, Request, routes};

mod servers {
    use rsgi::{IntoResponse, Json, Request, routes};

    pub(crate) async fn index(_req: Request) -> impl IntoResponse {
        Json(serde_json::json!({"servers": []}))
    }

    pub(crate) async fn create(_req: Request) -> impl IntoResponse {
        (rsgi::http::StatusCode::ACCEPTED, "created")
    }

    pub(crate) async fn detail(_req: Request) -> impl IntoResponse {
        "detail"
    }

    pub(crate) async fn show(req: Request) -> impl IntoResponse {
        format!("show {} at {}{}", routes::params(&req).get("id").unwrap_or("?"), req.script_name(), req.path_info())
    }

    pub(crate) async fn delete(req: Request) -> impl IntoResponse {
        format!("delete {}", routes::params(&req).get("id").unwrap_or("?"))
    }

    pub(crate) async fn action(req: Request) -> impl IntoResponse {
        format!("action {}", routes::params(&req).get("id").unwrap_or("?"))
    }
}

/// A handler written as a type rather than an `async fn`.
#[derive(Debug, Clone, Copy)]
struct Proxy;

impl routes::Handler for Proxy {
    async fn call(&self, req: Request) -> rsgi::Response {
        let p = req.extensions().get::<routes::RouteParams>().and_then(|p| p.get("path")).unwrap_or("");
        format!("{} image {p}", req.method()).into_response()
    }
}

#[allow(non_upper_case_globals)]
const proxy: Proxy = Proxy;

rsgi::deploy! {
    mod inline;

    [composite:main]
    use = urlmap
    "/v2.1" = api

    [pipeline:api]
    pipeline = request_id servers

    [filter:request_id]
    use = rsgi::filters::RequestIdFilter

    [routes:servers]
    GET "/servers" = servers::index
    POST "/servers" = servers::create
    GET "/servers/detail" = servers::detail
    GET "/servers/{id}" = servers::show
    DELETE "/servers/{id}" = servers::delete
    POST "/servers/{id}/action" = servers::action
    * "/images/{*path}" = proxy
}

rsgi::deploy! {
    mod from_file;
    file = "tests/data/routes-api-paste.ini",
    factories {
        "egg:Paste#urlmap" = urlmap,
        "egg:rsgi#request_id" = rsgi::filters::RequestIdFilter,
        "servers.index" = servers::index,
        "servers.create" = servers::create,
        "servers.detail" = servers::detail,
        "servers.show" = servers::show,
        "servers.delete" = servers::delete,
        "servers.action" = servers::action,
        "images.proxy" = proxy,
    }
}

fn registry() -> Registry {
    let mut r = Registry::default();
    r.handler("servers.index", servers::index)
        .handler("servers.create", servers::create)
        .handler("servers.detail", servers::detail)
        .handler("servers.show", servers::show)
        .handler("servers.delete", servers::delete)
        .handler("servers.action", servers::action)
        .handler("images.proxy", Proxy);
    r
}

async fn request(server: &TestServer, method: &str, path: &str) -> Reply {
    send(http::Request::builder().method(method).uri(server.url(path)).body(Full::<Bytes>::default()).unwrap()).await
}

/// The behaviour every front end must have.
async fn check(app: impl App) {
    let server = TestServer::start(app).await;

    let r = get(&server.url("/v2.1/servers")).await;
    assert_eq!((r.status, r.text().as_str()), (200, r#"{"servers":[]}"#));
    let r = request(&server, "POST", "/v2.1/servers").await;
    assert_eq!((r.status, r.text().as_str()), (202, "created"));
    // A literal segment wins over a parameter.
    assert_eq!(get(&server.url("/v2.1/servers/detail")).await.text(), "detail");
    // Parameters, and PATH_INFO after the mount.
    assert_eq!(get(&server.url("/v2.1/servers/42")).await.text(), "show 42 at /v2.1/servers/42");
    assert_eq!(request(&server, "DELETE", "/v2.1/servers/42").await.text(), "delete 42");
    assert_eq!(request(&server, "POST", "/v2.1/servers/7/action").await.text(), "action 7");
    assert_eq!(request(&server, "PUT", "/v2.1/images/a/b.qcow2").await.text(), "PUT image a/b.qcow2");

    // No path: 404; a path without the method: 405 with `Allow`.
    assert_eq!(get(&server.url("/v2.1/flavors")).await.status, 404);
    assert_eq!(get(&server.url("/servers")).await.status, 404, "outside the mount");
    let r = request(&server, "PUT", "/v2.1/servers/42").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET, HEAD, DELETE");
    let r = request(&server, "PATCH", "/v2.1/servers").await;
    assert_eq!((r.status, r.headers["allow"].to_str().unwrap()), (405, "GET, HEAD, POST"));

    // HEAD by the GET route: the same status and length, no body.
    let r = request(&server, "HEAD", "/v2.1/servers/42").await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.headers["content-length"], "27");

    server.stop().await;
}

#[tokio::test]
async fn inline_deploy() {
    check(inline::main()).await;
}

#[tokio::test]
async fn file_deploy() {
    check(from_file::main()).await;
}

#[tokio::test]
async fn loadapp() {
    let d = Deployment::parse(include_str!("data/routes-api-paste.ini"), "routes-api-paste.ini").unwrap();
    check(d.load("main", &registry()).unwrap()).await;
}

/// An unknown handler is a load error naming `file:line`.
#[test]
fn loadapp_unknown_handler() {
    let d = Deployment::parse(include_str!("data/routes-api-paste.ini"), "routes-api-paste.ini").unwrap();
    let mut r = Registry::default();
    r.handler("servers.index", servers::index);
    let err = d.load("main", &r).unwrap_err().to_string();
    assert!(err.contains("routes-api-paste.ini:14"), "{err}");
    assert!(err.contains("unknown route handler `servers.create`"), "{err}");
}

/// The same ini, checked as `rsgi check` does: errors with `file:line`.
#[test]
fn check_names_file_and_line() {
    let text = "[routes:api]\nGET \"/s/{id}\" = a\nGET \"/s/{name}\" = b\nget \"/t\" = c\n";
    let d = Deployment::parse(text, "bad.ini").unwrap();
    let err = d.check(None, &Registry::default().stub_unknown(true)).unwrap_err().to_string();
    assert!(err.contains("bad.ini:3"), "{err}");
    assert!(err.contains("route pattern `/s/{name}` conflicts with `/s/{id}`"), "{err}");
    assert!(err.contains("unknown method `get`"), "{err}");
}
