// A section with no factory, and one with two.
rsgi::deploy! {
    [app:none]
    disable_by_file_path = "/tmp/x"

    [app:two]
    use = rsgi::filters::Healthcheck
    paste.app_factory = rsgi::filters::Healthcheck
}

fn main() {}
