// [routes:…]: a handler that is not one (a type that is no handler, an
// async fn taking the wrong argument) is a trait error on its path.
struct NotAHandler;

async fn wrong_args(_id: u32) -> &'static str {
    "x"
}

rsgi::deploy! {
    [routes:api]
    GET "/a" = NotAHandler
    GET "/b" = wrong_args
}

fn main() {}
