//! The benchmark peer: exactly the shape of the peers in `benches/load`
//! (raw hyper, axum, PasteDeploy on eventlet).
//!
//! ```text
//! [composite:main]      use = urlmap;  / = versions;  /v2.1 = api_v21
//! [pipeline:api_v21]    pipeline = f0 f1 … f9 servers
//! ```
//!
//! Written with `deploy!`: `cargo expand --example peer` shows the nested
//! types (`Wrap<F0, Wrap<F1, … Servers>>`) it compiles to.
//!
//! `GET /v2.1/servers` → `{"servers": []}`; anything else → `{"versions": []}`.
//!
//! Run: `cargo run --release --example peer -- --bind 127.0.0.1:18090`.
//! `--filters 0` serves the same map without the 10 filters (to price them);
//! `--by-hand` serves the 10-filter map composed by hand with `pipeline()`
//! instead (what `deploy!` should cost exactly the same as); every server
//! option of `rsgi::server::Config::set` is accepted as a flag.

use rsgi::server::Config;
use rsgi::{App, Filter, Json, Request, Response};

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
    fn call(&self, _req: Request) -> impl Future<Output = Response> + Send {
        std::future::ready(rsgi::IntoResponse::into_response(Json(r#"{"versions": []}"#)))
    }
}

/// `{"servers": []}`
#[derive(Clone, Copy, Debug)]
struct Servers;

impl App for Servers {
    // Answers without awaiting anything: a ready future, so the request is
    // dropped at once rather than kept in an `async fn`'s state.
    fn call(&self, _req: Request) -> impl Future<Output = Response> + Send {
        std::future::ready(rsgi::IntoResponse::into_response(Json(r#"{"servers": []}"#)))
    }
}

rsgi::factory!(Pass => Pass, Versions => Versions, Servers => Servers);

rsgi::deploy! {
    mod ten;

    [composite:main]
    use = urlmap
    "/" = versions
    "/v2.1" = api_v21

    [pipeline:api_v21]
    pipeline = f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 servers

    [filter:f0]
    use = Pass
    [filter:f1]
    use = Pass
    [filter:f2]
    use = Pass
    [filter:f3]
    use = Pass
    [filter:f4]
    use = Pass
    [filter:f5]
    use = Pass
    [filter:f6]
    use = Pass
    [filter:f7]
    use = Pass
    [filter:f8]
    use = Pass
    [filter:f9]
    use = Pass

    [app:servers]
    use = Servers

    [app:versions]
    use = Versions
}

// `--filters 0`: the same map without the filters, to price them.
rsgi::deploy! {
    mod zero;

    [composite:main]
    use = urlmap
    "/" = versions
    "/v2.1" = servers

    [app:servers]
    use = Servers

    [app:versions]
    use = Versions
}

fn main() -> std::io::Result<()> {
    let mut config =
        Config { bind: "127.0.0.1:18090".parse().expect("address"), log_format: None, ..Config::default() };
    let rest = config.apply_args(std::env::args().skip(1)).map_err(invalid)?;
    let mut filters = 10;
    let mut by_hand = false;
    let mut rest = rest.into_iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--filters" => {
                filters =
                    rest.next().and_then(|n| n.parse().ok()).ok_or_else(|| invalid("`--filters` takes 0 or 10"))?
            }
            "--by-hand" => by_hand = true,
            "--help" | "-h" => {
                println!("usage: peer [--bind ADDR] [--filters 0|10] [--by-hand] [--SERVER-OPTION VALUE …]");
                return Ok(());
            }
            other => return Err(invalid(format!("unknown argument `{other}`"))),
        }
    }
    match filters {
        // The same deployment nested by hand, to compare with what deploy! generates.
        10 if by_hand => {
            let api_v21 = rsgi::pipeline()
                .filter(Pass)
                .filter(Pass)
                .filter(Pass)
                .filter(Pass)
                .filter(Pass)
                .filter(Pass)
                .filter(Pass)
                .filter(Pass)
                .filter(Pass)
                .filter(Pass)
                .app(Servers);
            let main = rsgi::UrlMap::new()
                .mount("/", rsgi::Either::Left(Versions))
                .mount("/v2.1", rsgi::Either::Right(api_v21));
            rsgi::server::run(config, main)
        }
        0 => rsgi::server::run(config, zero::main()),
        10 => rsgi::server::run(config, ten::main()),
        n => Err(invalid(format!("`--filters {n}`: expected 0 or 10"))),
    }
}

fn invalid(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg.into())
}
