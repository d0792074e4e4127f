// Factories of the wrong protocol, reported on the user's path: an app used
// as a filter, a filter used as an app, a type that is no factory.
struct NotAFactory;

rsgi::deploy! {
    [pipeline:main]
    pipeline = health api

    [filter:health]
    use = rsgi::filters::Healthcheck

    [app:api]
    use = rsgi::filters::RequestIdFilter

    [app:other]
    use = NotAFactory
}

fn main() {
    let _ = deployment::main();
}
