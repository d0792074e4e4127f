#!/usr/bin/env bash
# User-space instructions per request, counted by callgrind (SPEC §7).
#
#   benches/load/callgrind.sh                       # the default servers (below)
#   benches/load/callgrind.sh "CMD ARGS..." ...     # each argument: one server command line
#
# For each server: start it under `valgrind --tool=callgrind` (the script
# appends `--bind 127.0.0.1:PORT`), send FIRST (500) sequential keep-alive GETs
# of /v2.1/servers over one connection, dump the counters, send requests up to
# TOTAL (2,500) on the same connection, dump again, and print
# (total_2500 - total_500) / 2000, i.e. the second dump divided by 2,000.
#
# Defaults: the raw hyper, axum + tower and axum + from_fn peers, then
# rsgi's target/release/examples/peer when it exists, and `peer --filters 0`
# when its --help mentions --filters. Settings (environment): FIRST, TOTAL,
# BASE_PORT (default 18400), BUILD_JOBS, SKIP_BUILD=1, SKIP_INSTALL=1, KEEP=1
# (keep the callgrind files; they are in a temporary directory otherwise).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FIRST=${FIRST:-500}
TOTAL=${TOTAL:-2500}
BASE_PORT=${BASE_PORT:-18400}
BUILD_JOBS=${BUILD_JOBS:-}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_INSTALL=${SKIP_INSTALL:-0}
KEEP=${KEEP:-0}
PEERS_DIR=$HERE/peers
PEERS_BIN=$PEERS_DIR/target/release
RSGI_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/peer
URL_PATH=/v2.1/servers

if [ "$TOTAL" -le "$FIRST" ]; then
    echo "TOTAL ($TOTAL) must be larger than FIRST ($FIRST)" >&2
    exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rsgi-callgrind.XXXXXX")
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
    fi
}
finish() {
    cleanup
    if [ "$KEEP" = 1 ]; then echo "callgrind files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---- tools and builds ---------------------------------------------------------
if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
    if [ "$SKIP_INSTALL" = 1 ]; then
        echo "valgrind is missing and SKIP_INSTALL=1" >&2
        exit 1
    fi
    echo "installing valgrind (apt-get)" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    { $sudo apt-get update && $sudo apt-get install -y valgrind; } >"$WORK/apt.log" 2>&1 || {
        cat "$WORK/apt.log" >&2
        echo "could not install valgrind" >&2
        exit 1
    }
fi
command -v python3 >/dev/null || { echo "python3 is needed for the client" >&2; exit 1; }

jobs=()
[ -n "$BUILD_JOBS" ] && jobs=(-j "$BUILD_JOBS")

if [ $# -eq 0 ]; then
    if [ "$SKIP_BUILD" != 1 ]; then
        echo "building the Rust peers (benches/load/peers)" >&2
        CARGO_TARGET_DIR=$PEERS_DIR/target cargo build --release "${jobs[@]}" \
            --manifest-path "$PEERS_DIR/Cargo.toml" >"$WORK/build-peers.log" 2>&1 ||
            echo "  building the peers failed (see $WORK/build-peers.log; KEEP=1 keeps it)" >&2
        echo "building rsgi (cargo build --release --example peer)" >&2
        (cd "$ROOT" && cargo build --release "${jobs[@]}" --example peer) >"$WORK/build-rsgi.log" 2>&1 ||
            echo "  building examples/peer failed; rsgi is left out" >&2
    fi
    set -- "$PEERS_BIN/peer-hyper" "$PEERS_BIN/peer-axum-tower" "$PEERS_BIN/peer-axum-fromfn"
    if [ -x "$RSGI_BIN" ]; then
        set -- "$@" "$RSGI_BIN"
        if timeout 5 "$RSGI_BIN" --help 2>&1 </dev/null | grep -q -- '--filters'; then
            set -- "$@" "$RSGI_BIN --filters 0"
        else
            echo "  rsgi peer has no --filters option; the zero-filter variant is left out" >&2
        fi
    else
        echo "  $RSGI_BIN does not exist; rsgi is left out" >&2
    fi
fi

# ---- measurement ----------------------------------------------------------------
probe_status() {
    local port=$1 line
    line=$(timeout 10 bash -c '
        exec 3<>/dev/tcp/127.0.0.1/'"$port"' || exit 1
        printf "GET '"$URL_PATH"' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >&3
        IFS= read -r line <&3 && printf "%s" "$line"' 2>/dev/null)
    line=${line#HTTP/1.1 }
    printf '%s' "${line%% *}"
}

totals_of() {   # the instruction total recorded in one callgrind dump file
    sed -n 's/^totals: *\([0-9]*\).*/\1/p; s/^summary: *\([0-9]*\).*/\1/p' "$1" | head -n1
}

label_of() {    # a short name for a command line: binary name plus its arguments
    local first=${1%% *} rest=""
    [ "$first" != "$1" ] && rest=" ${1#* }"
    printf '%s%s' "$(basename "$first")" "$rest"
}

declare -a NAMES=() RESULTS=()
port=$BASE_PORT
n=0
for cmdline in "$@"; do
    n=$((n + 1))
    label=$(label_of "$cmdline")
    read -r -a cmd <<<"$cmdline"
    if [ ! -x "${cmd[0]}" ] && ! command -v "${cmd[0]}" >/dev/null; then
        echo "skipping $label: ${cmd[0]} not found" >&2
        NAMES+=("$label"); RESULTS+=("skipped (not found)")
        continue
    fi
    port=$((port + 1))
    out="$WORK/$n"
    mkdir -p "$out"
    echo "measuring $label (127.0.0.1:$port)" >&2
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
        "${cmd[@]}" --bind "127.0.0.1:$port" </dev/null >"$out/server.log" 2>&1 &
    SERVER_PID=$!
    status=""
    for _ in $(seq 300); do   # valgrind starts slowly: up to 60 s
        kill -0 "$SERVER_PID" 2>/dev/null || break
        status=$(probe_status "$port")
        [ "$status" = 200 ] && break
        sleep 0.2
    done
    if [ "$status" != 200 ]; then
        echo "  $label did not answer 200 under valgrind; server log:" >&2
        tail -n 20 "$out/server.log" >&2
        cleanup
        NAMES+=("$label"); RESULTS+=("failed to start")
        continue
    fi
    if ! timeout 600 python3 "$HERE/cg_client.py" "$port" "$SERVER_PID" "$FIRST" "$TOTAL" "$URL_PATH" \
        >"$out/client.log" 2>&1; then
        echo "  the client failed:" >&2
        cat "$out/client.log" >&2
        cleanup
        NAMES+=("$label"); RESULTS+=("client failed")
        continue
    fi
    cleanup
    one=$(totals_of "$out/callgrind.out.1")
    two=$(totals_of "$out/callgrind.out.2")
    if [ -z "$one" ] || [ -z "$two" ]; then
        echo "  no callgrind dumps found in $out" >&2
        NAMES+=("$label"); RESULTS+=("no dumps")
        continue
    fi
    NAMES+=("$label")
    RESULTS+=("$(awk -v a="$one" -v b="$two" -v f="$FIRST" -v t="$TOTAL" 'BEGIN {
        printf "%12.0f  %14.0f  %14.0f", b / (t - f), a, a + b }')")
done

echo
echo "user-space instructions (callgrind Ir) per request, GET $URL_PATH, one keep-alive connection"
echo "per request = (total after $TOTAL requests - total after $FIRST) / $((TOTAL - FIRST))"
echo
printf '%-48s  %12s  %14s  %14s\n' "server" "Ir/request" "total@$FIRST" "total@$TOTAL"
for i in "${!NAMES[@]}"; do
    printf '%-48s  %s\n' "${NAMES[$i]}" "${RESULTS[$i]}"
done
