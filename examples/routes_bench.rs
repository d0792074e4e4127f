//! The route-table benchmark: `GET /v2.1/servers` through a `[routes:…]`
//! section of 5 routes or of 100 (20 Nova-style resources × index, create,
//! detail, show, delete), mounted under a urlmap, to price the table's size
//! in instructions per request (SPEC §7, `benches/load/callgrind.sh`).
//!
//! ```text
//! cargo build --release --example routes_bench
//! benches/load/callgrind.sh "target/release/examples/routes_bench --routes 5" \
//!                           "target/release/examples/routes_bench --routes 100"
//! ```

use rsgi::server::Config;
use rsgi::{IntoResponse, Json, Request};

/// `GET /servers`, the route the benchmark requests.
async fn index(_req: Request) -> impl IntoResponse {
    Json(r#"{"servers": []}"#)
}

async fn create(_req: Request) -> impl IntoResponse {
    rsgi::http::StatusCode::ACCEPTED
}

async fn detail(_req: Request) -> impl IntoResponse {
    Json(r#"{"servers": []}"#)
}

async fn show(req: Request) -> impl IntoResponse {
    rsgi::routes::params(&req).get("id").unwrap_or_default().to_owned()
}

async fn delete(_req: Request) -> impl IntoResponse {
    rsgi::http::StatusCode::NO_CONTENT
}

rsgi::deploy! {
    mod five;

    [composite:main]
    use = urlmap
    "/v2.1" = api

    [routes:api]
    GET "/servers" = index
    POST "/servers" = create
    GET "/servers/detail" = detail
    GET "/servers/{id}" = show
    DELETE "/servers/{id}" = delete
}

rsgi::deploy! {
    mod hundred;

    [composite:main]
    use = urlmap
    "/v2.1" = api

    [routes:api]
    GET "/servers" = index
    POST "/servers" = create
    GET "/servers/detail" = detail
    GET "/servers/{id}" = show
    DELETE "/servers/{id}" = delete
    GET "/flavors" = index
    POST "/flavors" = create
    GET "/flavors/detail" = detail
    GET "/flavors/{id}" = show
    DELETE "/flavors/{id}" = delete
    GET "/images" = index
    POST "/images" = create
    GET "/images/detail" = detail
    GET "/images/{id}" = show
    DELETE "/images/{id}" = delete
    GET "/keypairs" = index
    POST "/keypairs" = create
    GET "/keypairs/detail" = detail
    GET "/keypairs/{id}" = show
    DELETE "/keypairs/{id}" = delete
    GET "/limits" = index
    POST "/limits" = create
    GET "/limits/detail" = detail
    GET "/limits/{id}" = show
    DELETE "/limits/{id}" = delete
    GET "/os-hypervisors" = index
    POST "/os-hypervisors" = create
    GET "/os-hypervisors/detail" = detail
    GET "/os-hypervisors/{id}" = show
    DELETE "/os-hypervisors/{id}" = delete
    GET "/os-aggregates" = index
    POST "/os-aggregates" = create
    GET "/os-aggregates/detail" = detail
    GET "/os-aggregates/{id}" = show
    DELETE "/os-aggregates/{id}" = delete
    GET "/os-availability-zone" = index
    POST "/os-availability-zone" = create
    GET "/os-availability-zone/detail" = detail
    GET "/os-availability-zone/{id}" = show
    DELETE "/os-availability-zone/{id}" = delete
    GET "/os-services" = index
    POST "/os-services" = create
    GET "/os-services/detail" = detail
    GET "/os-services/{id}" = show
    DELETE "/os-services/{id}" = delete
    GET "/os-quota-sets" = index
    POST "/os-quota-sets" = create
    GET "/os-quota-sets/detail" = detail
    GET "/os-quota-sets/{id}" = show
    DELETE "/os-quota-sets/{id}" = delete
    GET "/os-simple-tenant-usage" = index
    POST "/os-simple-tenant-usage" = create
    GET "/os-simple-tenant-usage/detail" = detail
    GET "/os-simple-tenant-usage/{id}" = show
    DELETE "/os-simple-tenant-usage/{id}" = delete
    GET "/os-server-groups" = index
    POST "/os-server-groups" = create
    GET "/os-server-groups/detail" = detail
    GET "/os-server-groups/{id}" = show
    DELETE "/os-server-groups/{id}" = delete
    GET "/os-instance-actions" = index
    POST "/os-instance-actions" = create
    GET "/os-instance-actions/detail" = detail
    GET "/os-instance-actions/{id}" = show
    DELETE "/os-instance-actions/{id}" = delete
    GET "/os-migrations" = index
    POST "/os-migrations" = create
    GET "/os-migrations/detail" = detail
    GET "/os-migrations/{id}" = show
    DELETE "/os-migrations/{id}" = delete
    GET "/os-volumes" = index
    POST "/os-volumes" = create
    GET "/os-volumes/detail" = detail
    GET "/os-volumes/{id}" = show
    DELETE "/os-volumes/{id}" = delete
    GET "/os-snapshots" = index
    POST "/os-snapshots" = create
    GET "/os-snapshots/detail" = detail
    GET "/os-snapshots/{id}" = show
    DELETE "/os-snapshots/{id}" = delete
    GET "/os-networks" = index
    POST "/os-networks" = create
    GET "/os-networks/detail" = detail
    GET "/os-networks/{id}" = show
    DELETE "/os-networks/{id}" = delete
    GET "/os-floating-ips" = index
    POST "/os-floating-ips" = create
    GET "/os-floating-ips/detail" = detail
    GET "/os-floating-ips/{id}" = show
    DELETE "/os-floating-ips/{id}" = delete
    GET "/os-security-groups" = index
    POST "/os-security-groups" = create
    GET "/os-security-groups/detail" = detail
    GET "/os-security-groups/{id}" = show
    DELETE "/os-security-groups/{id}" = delete
    GET "/os-cells" = index
    POST "/os-cells" = create
    GET "/os-cells/detail" = detail
    GET "/os-cells/{id}" = show
    DELETE "/os-cells/{id}" = delete
}

fn main() -> std::io::Result<()> {
    let mut config =
        Config { bind: "127.0.0.1:18091".parse().expect("address"), log_format: None, ..Config::default() };
    let rest = config.apply_args(std::env::args().skip(1)).map_err(invalid)?;
    let mut routes = 100;
    let mut rest = rest.into_iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--routes" => {
                routes = rest.next().and_then(|n| n.parse().ok()).ok_or_else(|| invalid("`--routes` takes 5 or 100"))?
            }
            "--help" | "-h" => {
                println!("usage: routes_bench [--bind ADDR] [--routes 5|100] [--SERVER-OPTION VALUE …]");
                return Ok(());
            }
            other => return Err(invalid(format!("unknown argument `{other}`"))),
        }
    }
    match routes {
        5 => rsgi::server::run(config, five::main()),
        100 => rsgi::server::run(config, hundred::main()),
        _ => Err(invalid("`--routes` takes 5 or 100")),
    }
}

fn invalid(msg: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg.to_string())
}
