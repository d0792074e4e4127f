// An unknown section in each place a name is read, each with its hint.
rsgi::deploy! {
    [composite:main]
    use = urlmap
    "/" = versoins
    "/v2.1" = api

    [composite:api]
    use = select
    keystone = request_id authtokn servers
    noauth2 = request_id servers

    [pipeline:v2]
    pipeline = request_id servres

    [filter-app:wrapped]
    use = request_id
    next = sevrers

    [app:versions]
    use = rsgi::filters::Healthcheck
    filter-with = requestid

    [app:aliased]
    use = version

    [filter:request_id]
    use = rsgi::filters::RequestIdFilter

    [app:servers]
    use = rsgi::filters::Healthcheck
}

fn main() {}
