//! The smallest deployment: a urlmap, a pipeline of two standard filters,
//! and two apps of our own.
//!
//! Run: `cargo run --example hello`, then `curl localhost:8080/hello/world`.
//! Read what `deploy!` made of it: `cargo expand --example hello`.

use rsgi::{App, IntoResponse, Request, Response};

/// Greets whatever path it is given.
#[derive(Debug)]
struct Hello;

impl App for Hello {
    async fn call(&self, req: Request) -> Response {
        format!("hello, {}\n", req.path_info().trim_start_matches('/')).into_response()
    }
}

/// Lists the versions.
#[derive(Debug)]
struct Versions;

impl App for Versions {
    async fn call(&self, _req: Request) -> Response {
        rsgi::Json(r#"{"versions": ["hello"]}"#).into_response()
    }
}

rsgi::factory!(Hello => Hello, Versions => Versions);

rsgi::deploy! {
    [composite:main]
    use = urlmap
    "/" = versions
    "/hello" = hello_api

    [pipeline:hello_api]
    pipeline = request_id sizelimit hello

    [filter:request_id]
    use = rsgi::filters::RequestIdFilter

    [filter:sizelimit]
    use = rsgi::filters::SizeLimitFilter
    max_request_body_size = 114688

    [app:hello]
    use = Hello

    [app:versions]
    use = Versions
}

fn main() -> std::io::Result<()> {
    let config = rsgi::server::Config { bind: "127.0.0.1:8080".parse().expect("address"), ..Default::default() };
    rsgi::server::run(config, deployment::main())
}
