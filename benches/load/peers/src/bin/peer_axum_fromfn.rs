//! axum 0.8, the way its documentation suggests writing middleware: the
//! `/v2.1` router carries 10 `middleware::from_fn` layers that hand the request
//! on untouched; `/` (and anything else, as a urlmap on `/` would) answers with
//! the versions document.

use axum::Router;
use axum::extract::Request;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use rsgi_load_peers::{API_PREFIX, LAYERS, SERVERS_JSON, VERSIONS_JSON, bind_addr, listen};

async fn versions() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], VERSIONS_JSON)
}

async fn servers() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], SERVERS_JSON)
}

async fn hand_on(req: Request, next: Next) -> Response {
    next.run(req).await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = bind_addr("peer-axum-fromfn", "127.0.0.1:18181");
    let mut api = Router::new()
        .route("/", get(servers))
        .route("/{*rest}", get(servers));
    for _ in 0..LAYERS {
        api = api.layer(middleware::from_fn(hand_on));
    }
    let app = Router::new()
        .route("/", get(versions))
        .nest(API_PREFIX, api)
        .fallback(versions);
    let listener = listen(addr)?.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
