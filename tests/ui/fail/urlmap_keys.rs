// urlmap keys: not a path; two keys that mount the same prefix.
rsgi::deploy! {
    [composite:main]
    use = urlmap
    "v2" = api
    "/v2.1" = api
    "/v2.1/" = api

    [app:api]
    use = rsgi::filters::Healthcheck
}

fn main() {}
