// A section defined twice; a key given twice in one section.
rsgi::deploy! {
    [app:api]
    use = rsgi::filters::Healthcheck

    [filter:sizelimit]
    use = rsgi::filters::SizeLimitFilter
    max_request_body_size = 1
    max_request_body_size = 2

    [app:api]
    use = rsgi::filters::Healthcheck
}

fn main() {}
