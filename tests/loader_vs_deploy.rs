//! One ini, two back ends: `examples/etc/nova-shaped-api-paste.ini`
//! compiled by `deploy!(file = …)` and loaded at run time by `loadapp`
//! answer a table of requests identically (status, body, content type, and
//! the presence of the request-id header), each behind a real server.

mod common;

use common::{TestServer, get_with};
use rsgi::loader::{Registry, loadapp};
use rsgi::{App, IntoResponse, Json, Request, Response};

const INI: &str = "examples/etc/nova-shaped-api-paste.ini";

/// The API app: answers with what it saw, so routing differences show.
#[derive(Debug)]
struct Servers;

impl App for Servers {
    async fn call(&self, req: Request) -> Response {
        match req.path_info() {
            "/servers" => Json(serde_json::json!({"servers": [], "script_name": req.script_name()})).into_response(),
            other => (rsgi::http::StatusCode::NOT_FOUND, format!("no route for {other}\n")).into_response(),
        }
    }
}

#[derive(Debug)]
struct Versions;

impl App for Versions {
    async fn call(&self, req: Request) -> Response {
        Json(serde_json::json!({"versions": ["v2.1"], "path_info": req.path_info()})).into_response()
    }
}

rsgi::factory!(Servers => Servers, Versions => Versions);

rsgi::deploy!(file = "examples/etc/nova-shaped-api-paste.ini", factories {
    "call:nova.api.auth:pipeline_factory_v21" = select,
    "nova.api.openstack.requestlog:RequestLog.factory" = rsgi::filters::RequestLogFilter,
    "nova.api.compute_req_id:ComputeReqIdMiddleware.factory" = rsgi::filters::RequestIdFilter,
    "nova.api.openstack:FaultWrapper.factory" = rsgi::filters::FaultWrapFilter,
    "oslo_middleware:RequestBodySizeLimiter.factory" = rsgi::filters::SizeLimitFilter,
    "oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory" = rsgi::filters::HttpProxyToWsgiFilter,
    "oslo_middleware.cors:filter_factory" = rsgi::filters::CorsFilter,
    "nova.api.openstack.compute:APIRouterV21.factory" = Servers,
    "nova.api.openstack.compute.versions:Versions.factory" = Versions,
});

fn registry() -> Registry {
    let mut registry = Registry::default();
    registry
        .keyed("call:nova.api.auth:pipeline_factory_v21", "auth_strategy", "keystone")
        .app::<Servers>("nova.api.openstack.compute:APIRouterV21.factory")
        .app::<Versions>("nova.api.openstack.compute.versions:Versions.factory");
    registry
}

#[tokio::test]
async fn deploy_file_and_loadapp_answer_alike() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(INI);
    let loaded = loadapp(&path, "osapi_compute", &registry()).unwrap_or_else(|e| panic!("{e}"));
    let compiled = TestServer::start(deployment::osapi_compute()).await;
    let dynamic = TestServer::start(loaded).await;
    for (path, headers) in [
        ("/", &[][..]),
        ("/v2.1", &[][..]),
        ("/v2.1/", &[][..]),
        ("/v2.1/servers", &[][..]),
        ("/v2.1//servers/", &[][..]),
        ("/v2.1/servers?limit=1", &[][..]),
        ("/v2.1/nope", &[][..]),
        ("/v2.10/servers", &[][..]),
        ("/v2.1/servers", &[("origin", "https://dash.example")][..]),
        ("/v2.1/servers", &[("x-forwarded-proto", "https")][..]),
    ] {
        let a = get_with(&compiled.url(path), headers).await;
        let b = get_with(&dynamic.url(path), headers).await;
        assert_eq!(a.status, b.status, "{path}: status");
        assert_eq!(a.text(), b.text(), "{path}: body");
        assert_eq!(a.headers.get("content-type"), b.headers.get("content-type"), "{path}: content type");
        assert_eq!(
            a.headers.contains_key("x-openstack-request-id"),
            b.headers.contains_key("x-openstack-request-id"),
            "{path}: request id"
        );
    }
    compiled.stop().await;
    dynamic.stop().await;
}
