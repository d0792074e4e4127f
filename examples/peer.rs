//! The benchmark peer: exactly the shape of the peers in `benches/load`
//! (raw hyper, axum, PasteDeploy on eventlet).
//!
//! ```text
//! [composite:main]      use = urlmap;  / = versions;  /v2.1 = api_v21
//! [pipeline:api_v21]    pipeline = f0 f1 … f9 servers
//! ```
//!
//! `GET /v2.1/servers` → `{"servers": []}`; anything else → `{"versions": []}`.
//!
//! Run: `cargo run --release --example peer -- --bind 127.0.0.1:18090`.
//! `--filters 0` serves the same map without the 10 filters (to price them);
//! every server option of `rsgi::server::Config::set` is accepted as a flag.

use rsgi::server::Config;
use rsgi::{App, Either, Filter, Json, Request, Response, UrlMap, pipeline};

/// A pass-through filter: it hands the request on untouched.
#[derive(Clone, Copy, Debug)]
struct Pass;

/// An app wrapped by [`Pass`].
#[derive(Clone, Debug)]
struct Passed<A>(A);

impl<A: App> Filter<A> for Pass {
    type Output = Passed<A>;
    fn wrap(&self, inner: A) -> Passed<A> {
        Passed(inner)
    }
}

impl<A: App> App for Passed<A> {
    fn call(&self, req: Request) -> impl Future<Output = Response> + Send {
        self.0.call(req)
    }
}

/// `{"versions": []}`
#[derive(Clone, Copy, Debug)]
struct Versions;

impl App for Versions {
    async fn call(&self, _req: Request) -> Response {
        rsgi::IntoResponse::into_response(Json(r#"{"versions": []}"#))
    }
}

/// `{"servers": []}`
#[derive(Clone, Copy, Debug)]
struct Servers;

impl App for Servers {
    async fn call(&self, _req: Request) -> Response {
        rsgi::IntoResponse::into_response(Json(r#"{"servers": []}"#))
    }
}

fn main() -> std::io::Result<()> {
    let mut config = Config { bind: "127.0.0.1:18090".parse().expect("address"), log_format: None, ..Config::default() };
    let rest = config.apply_args(std::env::args().skip(1)).map_err(invalid)?;
    let mut filters = 10;
    let mut rest = rest.into_iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--filters" => filters = rest.next().and_then(|n| n.parse().ok()).ok_or_else(|| invalid("`--filters` takes 0 or 10"))?,
            "--help" | "-h" => {
                println!("usage: peer [--bind ADDR] [--filters 0|10] [--SERVER-OPTION VALUE …]");
                return Ok(());
            }
            other => return Err(invalid(format!("unknown argument `{other}`"))),
        }
    }
    match filters {
        0 => rsgi::server::run(config, UrlMap::new().mount("/", Either::Left(Versions)).mount("/v2.1", Either::Right(Servers))),
        10 => {
            let api_v21 = pipeline()
                .filter(Pass).filter(Pass).filter(Pass).filter(Pass).filter(Pass)
                .filter(Pass).filter(Pass).filter(Pass).filter(Pass).filter(Pass)
                .app(Servers);
            rsgi::server::run(config, UrlMap::new().mount("/", Either::Left(Versions)).mount("/v2.1", Either::Right(api_v21)))
        }
        n => Err(invalid(format!("`--filters {n}`: expected 0 or 10"))),
    }
}

fn invalid(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg.into())
}
