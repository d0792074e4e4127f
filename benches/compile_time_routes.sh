#!/usr/bin/env bash
# Compile time of a 1,000-route `[routes:…]` section in deploy! against an
# axum 0.8 Router with the same 1,000 routes (`GET /rN/{id}`, one handler),
# each in a temporary Cargo project. Dependencies are built first; then only
# the program's own crate is timed (`cargo build` after touching main.rs),
# best of 3, debug profile, with incremental compilation off (a touched but
# unchanged file is otherwise rebuilt from the incremental cache, which
# measures next to nothing). The deploy! side also checks every pattern with
# matchit while it compiles; axum checks them when the program starts.
#
#   benches/compile_time_routes.sh     # uses $CARGO_TARGET_DIR, else a temp dir
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TARGET=${CARGO_TARGET_DIR:-$WORK/target}
export CARGO_INCREMENTAL=0
ROUTES=${ROUTES:-1000}

mkdir -p "$WORK/deploy/src" "$WORK/axum/src"

# --- deploy! ---------------------------------------------------------------
cat > "$WORK/deploy/Cargo.toml" <<TOML
[package]
name = "ct-routes-deploy"
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
use rsgi::{IntoResponse, Request};
async fn show(req: Request) -> impl IntoResponse {
    format!("{}", rsgi::routes::params(&req).get("id").unwrap_or_default())
}
rsgi::deploy! {
[routes:main]
RS
  for i in $(seq 0 $((ROUTES - 1))); do echo "GET \"/r$i/{id}\" = show"; done
  echo "}"
  echo 'fn main() { let app = deployment::main(); std::hint::black_box(&app); }'
} > "$WORK/deploy/src/main.rs"

# --- axum ------------------------------------------------------------------
cat > "$WORK/axum/Cargo.toml" <<TOML
[package]
name = "ct-routes-axum"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
axum = { version = "0.8", default-features = false, features = ["tokio", "http1"] }
tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
[workspace]
TOML
if [ -f "$ROOT/benches/load/peers/Cargo.lock" ]; then cp "$ROOT/benches/load/peers/Cargo.lock" "$WORK/axum/Cargo.lock"; fi
{
  cat <<'RS'
use axum::{Router, extract::Path, routing::get};
async fn show(Path(id): Path<String>) -> String { id }
fn main() {
    let app: Router = Router::new()
RS
  for i in $(seq 0 $((ROUTES - 1))); do echo "        .route(\"/r$i/{id}\", get(show))"; done
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
echo "compile time, $ROUTES routes (debug, crate only, best of 3):"
echo "  rsgi deploy! [routes:…]: ${d} s"
echo "  axum 0.8 Router:         ${a} s"
