// Section kinds that look like typos, with a hint.
rsgi::deploy! {
    [aplication:api]
    use = rsgi::filters::Healthcheck

    [App:other]
    use = rsgi::filters::Healthcheck
}

fn main() {}
