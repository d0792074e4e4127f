// deploy! inside a function, inside macro_rules!, with local items named
// like the prelude's in scope, and with `crate = …;`.
#![allow(dead_code)]

struct Option;
struct Result;
struct Some;
struct Ok;
struct Box;
struct Default;
mod core {}

macro_rules! api {
    ($name:ident) => {
        rsgi::deploy! {
            mod $name;
            [pipeline:main]
            pipeline = request_id health
            [filter:request_id]
            use = rsgi::filters::RequestIdFilter
            [app:health]
            use = rsgi::filters::Healthcheck
        }
    };
}

api!(from_macro);

fn build() -> impl rsgi::App {
    rsgi::deploy! {
        crate = ::rsgi;
        [DEFAULT]
        auth_strategy = "noauth2"
        [composite:main]
        use = "egg:Paste#urlmap"
        "/" = health
        "/v2.1" = api
        [composite:api]
        use = select
        keystone = sizelimit health
        noauth2 = health
        [filter:sizelimit]
        use = rsgi::filters::SizeLimitFilter
        max_request_body_size = 114688
        [app:health]
        use = rsgi::filters::Healthcheck
        disable_by_file_path = "/nonexistent"
    }
    deployment::main()
}

fn main() {
    let _ = build();
    let _: from_macro::Main = from_macro::main();
}
