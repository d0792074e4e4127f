//! The floor: hyper 1.x through hyper-util's auto (HTTP/1.1 + h2c) connection
//! builder, one task per connection, and a path test standing in for the
//! urlmap and its 10 pass-through filters (which cost nothing here).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rsgi_load_peers::{SERVERS_JSON, VERSIONS_JSON, bind_addr, listen, under_api};

async fn respond(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = if under_api(req.uri().path()) {
        SERVERS_JSON
    } else {
        VERSIONS_JSON
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(body)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = bind_addr("peer-hyper", "127.0.0.1:18180");
    let listener = listen(addr)?;
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(conn) => conn,
            // e.g. EMFILE under a connection storm: keep serving the others.
            Err(_) => continue,
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection(TokioIo::new(tcp), service_fn(respond))
                .await;
        });
    }
}
