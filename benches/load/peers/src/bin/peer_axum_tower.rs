//! axum 0.8 with the filters written as plain tower layers: 10 identity
//! `MapRequestLayer`s stacked with a `ServiceBuilder` (statically typed, no
//! per-layer boxing) on the `/v2.1` router.

use axum::Router;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use rsgi_load_peers::{API_PREFIX, SERVERS_JSON, VERSIONS_JSON, bind_addr, listen};
use tower::ServiceBuilder;
use tower::util::MapRequestLayer;

async fn versions() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], VERSIONS_JSON)
}

async fn servers() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], SERVERS_JSON)
}

fn unchanged(req: Request) -> Request {
    req
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = bind_addr("peer-axum-tower", "127.0.0.1:18182");
    // 10 layers (rsgi_load_peers::LAYERS); spelled out because each one adds
    // to the stack's type.
    let filters = ServiceBuilder::new()
        .layer(MapRequestLayer::new(unchanged))
        .layer(MapRequestLayer::new(unchanged))
        .layer(MapRequestLayer::new(unchanged))
        .layer(MapRequestLayer::new(unchanged))
        .layer(MapRequestLayer::new(unchanged))
        .layer(MapRequestLayer::new(unchanged))
        .layer(MapRequestLayer::new(unchanged))
        .layer(MapRequestLayer::new(unchanged))
        .layer(MapRequestLayer::new(unchanged))
        .layer(MapRequestLayer::new(unchanged));
    let api = Router::new()
        .route("/", get(servers))
        .route("/{*rest}", get(servers))
        .layer(filters);
    let app = Router::new()
        .route("/", get(versions))
        .nest(API_PREFIX, api)
        .fallback(versions);
    let listener = listen(addr)?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
