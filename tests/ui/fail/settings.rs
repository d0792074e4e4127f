// Typed settings: an unknown key (at the key), a wrongly typed value (at
// the value).
rsgi::deploy! {
    [filter:sizelimit]
    use = rsgi::filters::SizeLimitFilter
    max_body = 1024

    [filter:sizelimit_typed]
    use = rsgi::filters::SizeLimitFilter
    max_request_body_size = "x"

    [filter:proxy]
    use = rsgi::filters::HttpProxyToWsgiFilter
    enable_proxy_headers_parsing = 1
}

fn main() {}
