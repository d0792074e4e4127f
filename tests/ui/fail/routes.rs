// [routes:…]: conflicting patterns, an invalid pattern, the same method and
// pattern twice, unknown methods — all reported in one compile, each on its
// own token.
use rsgi::{IntoResponse, Request};

async fn show(_req: Request) -> impl IntoResponse {
    "show"
}

rsgi::deploy! {
    [routes:api]
    GET "/servers/{id}" = show
    DELETE "/servers/{name}" = show
    GET "/images/{*path}/raw" = show
    GET | POST "/flavors" = show
    GET "/flavors" = show
    get "/keypairs" = show
    GET | PSOT "/limits" = show
}

fn main() {}
