#!/usr/bin/env bash
# Compile time of a deploy! with 200 filters and 1,000 urlmap mounts against
# the equivalent axum 0.8 program (1,000 routes, 200 tower layers), each in
# a temporary Cargo project. Dependencies are built first; then only the
# program's own crate is timed (`cargo build` after touching main.rs), best
# of 3, debug profile.
#
#   benches/compile_time.sh            # uses $CARGO_TARGET_DIR, else a temp dir
set -euo pipefail
# Incremental compilation would serve "touch main.rs and rebuild" from its
# cache and time almost nothing.
export CARGO_INCREMENTAL=0
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TARGET=${CARGO_TARGET_DIR:-$WORK/target}
FILTERS=${FILTERS:-200}
MOUNTS=${MOUNTS:-1000}

mkdir -p "$WORK/deploy/src" "$WORK/axum/src"

# --- deploy! ---------------------------------------------------------------
cat > "$WORK/deploy/Cargo.toml" <<TOML
[package]
name = "ct-deploy"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
rsgi = { path = "$ROOT" }
[workspace]
TOML
cp "$ROOT/Cargo.lock" "$WORK/deploy/Cargo.lock"
{
  cat <<'RS'
// 200 nested filter types: the auto-trait (`Send`) proof nests as deep.
#![recursion_limit = "1024"]
use rsgi::factory::{Factory, NoSettings};
use rsgi::{App, Filter, Request, Response};
struct Pass;
struct Passed<A>(A);
impl<A: App> Filter<A> for Pass { type Output = Passed<A>; fn wrap(&self, a: A) -> Passed<A> { Passed(a) } }
impl<A: App> App for Passed<A> { fn call(&self, r: Request) -> impl Future<Output = Response> + Send { self.0.call(r) } }
impl Factory for Pass { type Settings = NoSettings; type Output = Pass; fn build(_: NoSettings) -> Pass { Pass } }
struct Servers;
impl App for Servers { async fn call(&self, _r: Request) -> Response { rsgi::IntoResponse::into_response("{}") } }
impl Factory for Servers { type Settings = NoSettings; type Output = Servers; fn build(_: NoSettings) -> Servers { Servers } }
rsgi::deploy! {
[composite:main]
use = urlmap
"/v2.1" = api
RS
  for i in $(seq 0 $((MOUNTS - 1))); do echo "\"/r$i\" = servers"; done
  echo "[pipeline:api]"
  echo -n "pipeline ="; for i in $(seq 0 $((FILTERS - 1))); do echo -n " f$i"; done; echo " servers"
  for i in $(seq 0 $((FILTERS - 1))); do echo "[filter:f$i]"; echo "use = Pass"; done
  echo "[app:servers]"; echo "use = Servers"
  echo "}"
  echo 'fn main() { let app = deployment::main(); std::hint::black_box(&app); }'
} > "$WORK/deploy/src/main.rs"

# --- axum ------------------------------------------------------------------
cat > "$WORK/axum/Cargo.toml" <<TOML
[package]
name = "ct-axum"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
axum = { version = "0.8", default-features = false, features = ["tokio", "http1"] }
tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
tower = { version = "0.5", features = ["util"] }
[workspace]
TOML
if [ -f "$ROOT/benches/load/peers/Cargo.lock" ]; then cp "$ROOT/benches/load/peers/Cargo.lock" "$WORK/axum/Cargo.lock"; fi
{
  cat <<'RS'
use std::task::{Context, Poll};
use axum::{Router, routing::get};
#[derive(Clone)]
struct PassLayer;
#[derive(Clone)]
struct PassService<S>(S);
impl<S> tower::Layer<S> for PassLayer { type Service = PassService<S>; fn layer(&self, s: S) -> PassService<S> { PassService(s) } }
impl<S: tower::Service<R>, R> tower::Service<R> for PassService<S> {
    type Response = S::Response; type Error = S::Error; type Future = S::Future;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> { self.0.poll_ready(cx) }
    fn call(&mut self, r: R) -> S::Future { self.0.call(r) }
}
async fn servers() -> &'static str { "{}" }
fn main() {
    let api = Router::new().route("/servers", get(servers))
RS
  for i in $(seq 0 $((FILTERS - 1))); do echo "        .layer(PassLayer)"; done
  echo "        ;"
  echo "    let app: Router = Router::new().nest(\"/v2.1\", api)"
  for i in $(seq 0 $((MOUNTS - 1))); do echo "        .route(\"/r$i\", get(servers))"; done
  echo "        ;"
  echo "    let _ = std::hint::black_box(app);"
  echo "}"
} > "$WORK/axum/src/main.rs"

time_build() { # dir → best wall seconds of 3 builds of the crate itself
  local dir=$1 best=""
  (cd "$dir" && CARGO_TARGET_DIR=$TARGET cargo build -q) >&2 # dependencies (and a first build)
  for _ in 1 2 3; do
    touch "$dir/src/main.rs"
    local s e
    s=$(date +%s.%N)
    (cd "$dir" && CARGO_TARGET_DIR=$TARGET cargo build -q)
    e=$(date +%s.%N)
    local t; t=$(echo "$e - $s" | bc)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
  done
  printf '%.2f' "$best"
}

d=$(time_build "$WORK/deploy")
a=$(time_build "$WORK/axum")
echo "compile time, $FILTERS filters + $MOUNTS urlmap mounts (debug, crate only, best of 3):"
echo "  rsgi deploy!: ${d} s"
echo "  axum 0.8:     ${a} s"
