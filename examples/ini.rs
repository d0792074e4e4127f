//! A Nova-shaped `api-paste.ini`, compiled: `deploy!(file = …)` reads
//! `examples/etc/nova-shaped-api-paste.ini` at compile time (the crate is
//! rebuilt when it changes), checks it, and maps its factory names to Rust
//! types with the table below.
//!
//! Run: `cargo run --example ini`, then
//! `curl localhost:8774/v2.1/servers` and `curl localhost:8774/`.
//! Choose the pipeline with `AUTH_STRATEGY=keystone cargo run --example ini`.

use rsgi::{App, IntoResponse, Json, Request, Response};

/// Nova's `APIRouterV21`, reduced to one route.
#[derive(Debug)]
struct Servers;

impl App for Servers {
    async fn call(&self, req: Request) -> Response {
        match req.path_info() {
            "/servers" => Json(r#"{"servers": []}"#).into_response(),
            _ => (rsgi::http::StatusCode::NOT_FOUND, "not found\n").into_response(),
        }
    }
}

/// Nova's version document.
#[derive(Debug)]
struct Versions;

impl App for Versions {
    async fn call(&self, _req: Request) -> Response {
        Json(r#"{"versions": [{"id": "v2.1", "status": "CURRENT"}]}"#).into_response()
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

fn main() -> std::io::Result<()> {
    let config = rsgi::server::Config { bind: "127.0.0.1:8774".parse().expect("address"), ..Default::default() };
    rsgi::server::run(config, deployment::osapi_compute())
}
