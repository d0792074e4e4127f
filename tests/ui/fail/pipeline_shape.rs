// Pipelines: ending in a filter, an app before the end, empty.
rsgi::deploy! {
    [pipeline:ends_in_filter]
    pipeline = request_id

    [pipeline:app_in_middle]
    pipeline = request_id servers request_id servers

    [pipeline:empty]
    pipeline = ""

    [filter:request_id]
    use = rsgi::filters::RequestIdFilter

    [app:servers]
    use = rsgi::filters::Healthcheck
}

fn main() {}
