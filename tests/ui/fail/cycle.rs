// A cycle through a urlmap and a pipeline, spelled out.
rsgi::deploy! {
    [composite:main]
    use = urlmap
    "/" = api

    [pipeline:api]
    pipeline = request_id main

    [filter:request_id]
    use = rsgi::filters::RequestIdFilter
}

fn main() {}
