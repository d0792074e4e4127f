// Syntax errors stop at the first offending token.
rsgi::deploy! {
    [app:api]
    use rsgi::filters::Healthcheck
}

fn main() {}
