#!/usr/bin/env bash
# Load benchmark: rsgi against its peers (raw hyper, axum + 10 tower layers,
# axum + 10 from_fn layers, PasteDeploy on eventlet), all serving the same
# Nova-shaped deployment, measured side by side on this machine.
#
#   benches/load/run.sh                          # full run (ROUNDS=3, DURATION=10)
#   ROUNDS=1 DURATION=2 benches/load/run.sh      # smoke test
#
# Every setting is an environment variable; see benches/load/README.md for the
# list and for what the columns of the tables mean. Traffic goes to 127.0.0.1
# only, every client run is bounded by `timeout`, and every server this script
# starts is killed when it exits.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

# ---- settings ---------------------------------------------------------------
ROUNDS=${ROUNDS:-3}                 # interleaved rounds per mode
DURATION=${DURATION:-10}            # seconds per client run
WARMUP=${WARMUP:-1}                 # seconds of unrecorded load per server before round 1 (0: none)
CONNECTIONS=${CONNECTIONS:-100}     # connections for the throughput modes
THREADS=${THREADS:-2}               # client threads for the throughput modes
H2_STREAMS=${H2_STREAMS:-10}        # concurrent streams per h2c connection (h2load -m)
PIPELINE_DEPTH=${PIPELINE_DEPTH:-16}  # requests per write in the pipelining mode
MODES=${MODES-"wrk h2load-h1 h2load-h2c pipeline"}
BIG_CONNS=${BIG_CONNS-"1000 5000"} # connection counts of the many-connections runs ("" to skip)
BIG_THREADS=${BIG_THREADS:-4}       # wrk threads for those runs
BIG_ROUNDS=${BIG_ROUNDS:-1}         # rounds of those runs
BIG_REQS=${BIG_REQS:-10}            # requests every client must complete in the h2load "all served" run
BIG_IDLE_TIMEOUT=${BIG_IDLE_TIMEOUT:-5}  # seconds a client may wait for an answer there before it counts as failed
WRK_TIMEOUT=${WRK_TIMEOUT:-5s}      # a response slower than this counts as a timeout error
SERVERS=${SERVERS:-"hyper axum-tower axum-fromfn rsgi eventlet"}
RSGI_ARGS=${RSGI_ARGS:-}            # extra arguments for the rsgi peer
BASE_PORT=${BASE_PORT:-18300}       # servers listen on BASE_PORT, BASE_PORT+1, ...
SERVER_CPUS=${SERVER_CPUS:-}        # e.g. "0": pin servers with taskset (empty: no pinning)
CLIENT_CPUS=${CLIENT_CPUS:-}        # e.g. "1": pin the load generators
BUILD_JOBS=${BUILD_JOBS:-}          # cargo -j for the builds (empty: cargo's default)
SKIP_BUILD=${SKIP_BUILD:-0}         # 1: use the binaries already built
SKIP_INSTALL=${SKIP_INSTALL:-0}     # 1: never call apt-get / pip
URL_PATH=/v2.1/servers

PEERS_DIR=$HERE/peers
PEERS_BIN=$PEERS_DIR/target/release
RSGI_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/peer
VENV=$HERE/.venv
RESULTS=$HERE/results
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$RESULTS/$STAMP.txt
LOGS=$RESULTS/$STAMP.logs
RAW=$LOGS/raw.tsv

mkdir -p "$LOGS"
: > "$OUT"

say() { printf '%s\n' "$*" | tee -a "$OUT" >&2; }
note() { printf '  - %s\n' "$*" | tee -a "$OUT" >&2; }

# ---- cleanup ----------------------------------------------------------------
declare -A PID=() PORT=() H2=()
ORDER=()
cleanup() {
    local name pid
    for name in "${!PID[@]}"; do
        pid=${PID[$name]}
        kill "$pid" 2>/dev/null
    done
    for name in "${!PID[@]}"; do
        pid=${PID[$name]}
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    PID=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools ------------------------------------------------------------------
install_tools() {
    local missing=()
    command -v wrk >/dev/null || missing+=(wrk)
    command -v h2load >/dev/null || missing+=(nghttp2-client)
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$SKIP_INSTALL" = 1 ]; then
        note "missing ${missing[*]} and SKIP_INSTALL=1: not installing"
        return
    fi
    say "installing ${missing[*]} (apt-get)"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    { $sudo apt-get update && $sudo apt-get install -y "${missing[@]}"; } >"$LOGS/apt.log" 2>&1 ||
        note "apt-get failed (see $LOGS/apt.log)"
}

cargo_jobs() { [ -n "$BUILD_JOBS" ] && printf -- '-j\n%s\n' "$BUILD_JOBS"; }

build_peers() {
    [ "$SKIP_BUILD" = 1 ] && return
    say "building the Rust peers (benches/load/peers)"
    mapfile -t jobs < <(cargo_jobs)
    CARGO_TARGET_DIR=$PEERS_DIR/target cargo build --release "${jobs[@]}" \
        --manifest-path "$PEERS_DIR/Cargo.toml" >"$LOGS/build-peers.log" 2>&1 ||
        note "building the Rust peers failed (see $LOGS/build-peers.log)"
}

build_rsgi() {
    [ "$SKIP_BUILD" = 1 ] && return
    say "building rsgi (cargo build --release --example peer)"
    mapfile -t jobs < <(cargo_jobs)
    (cd "$ROOT" && cargo build --release "${jobs[@]}" --example peer) >"$LOGS/build-rsgi.log" 2>&1 ||
        note "building examples/peer failed (see $LOGS/build-rsgi.log)"
}

setup_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import eventlet, paste.deploy, paste.urlmap' 2>/dev/null; then
        return 0
    fi
    if [ "$SKIP_INSTALL" = 1 ]; then
        note "no usable $VENV and SKIP_INSTALL=1"
        return 1
    fi
    say "creating $VENV (eventlet, Paste, PasteDeploy)"
    {
        python3 -m venv "$VENV" &&
            "$VENV/bin/pip" install --disable-pip-version-check -q eventlet Paste PasteDeploy &&
            "$VENV/bin/python" -c 'import eventlet, paste.deploy, paste.urlmap'
    } >"$LOGS/venv.log" 2>&1 || {
        note "could not set up the Python virtualenv (see $LOGS/venv.log)"
        return 1
    }
}

# ---- servers ----------------------------------------------------------------
# Sends one GET and prints the status code (empty when there is no answer).
probe_status() {
    local port=$1 line
    line=$(timeout 3 bash -c '
        exec 3<>/dev/tcp/127.0.0.1/'"$port"' || exit 1
        printf "GET '"$URL_PATH"' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >&3
        IFS= read -r line <&3 && printf "%s" "$line"' 2>/dev/null)
    line=${line#HTTP/1.1 }
    printf '%s' "${line%% *}"
}

# start_server NAME COMMAND... : starts it on the next port (appending --bind)
# and waits until it answers 200; on failure, says why and leaves it out.
next_port=$BASE_PORT
start_server() {
    local name=$1; shift
    local port=$next_port
    # Leave ports that something else already listens on alone.
    while timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; do
        port=$((port + 1))
    done
    next_port=$((port + 1))
    local pin=()
    [ -n "$SERVER_CPUS" ] && pin=(taskset -c "$SERVER_CPUS")
    "${pin[@]}" "$@" --bind "127.0.0.1:$port" </dev/null >"$LOGS/$name.log" 2>&1 &
    local pid=$!
    local status="" i
    for i in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || break
        status=$(probe_status "$port")
        [ "$status" = 200 ] && break
        sleep 0.2
    done
    if [ "$status" != 200 ] || ! kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
        note "skipping $name: it did not start and answer 200 on 127.0.0.1:$port (log: $LOGS/$name.log)"
        return 1
    fi
    PID[$name]=$pid
    PORT[$name]=$port
    ORDER+=("$name")
    # h2c (prior knowledge) only where the server speaks it.
    H2[$name]=0
    if command -v h2load >/dev/null &&
        timeout 10 h2load -n 2 -c 1 "http://127.0.0.1:$port$URL_PATH" 2>/dev/null |
        grep -q ' 2 succeeded'; then
        H2[$name]=1
    fi
    note "$name: pid $pid, 127.0.0.1:$port, h2c $([ "${H2[$name]}" = 1 ] && echo yes || echo no): $*"
}

start_named() {
    local name=$1
    case $name in
    hyper) bin=$PEERS_BIN/peer-hyper ;;
    axum-tower) bin=$PEERS_BIN/peer-axum-tower ;;
    axum-fromfn) bin=$PEERS_BIN/peer-axum-fromfn ;;
    rsgi) bin=$RSGI_BIN ;;
    eventlet)
        setup_venv || { note "skipping eventlet (no virtualenv with eventlet + PasteDeploy)"; return; }
        start_server eventlet "$VENV/bin/python" "$HERE/python/serve.py"
        return ;;
    *) note "unknown server '$name' in SERVERS"; return ;;
    esac
    if [ ! -x "$bin" ]; then
        note "skipping $name: $bin does not exist (build failed or not written yet)"
        return
    fi
    if [ "$name" = rsgi ] && [ -n "$RSGI_ARGS" ]; then
        # shellcheck disable=SC2086
        start_server "$name" "$bin" $RSGI_ARGS
    else
        start_server "$name" "$bin"
    fi
}

# ---- measurements -----------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)

# utime + stime of the whole process (all its threads), in clock ticks.
cpu_ticks() {
    local line rest
    read -r line <"/proc/$1/stat" || { echo 0; return; }
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo $(( ${12} + ${13} ))
}

# VmHWM (peak resident set) in kB; reset_peak starts a new peak (Linux >= 4.0).
peak_rss_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null; }

client() {
    local pin=()
    [ -n "$CLIENT_CPUS" ] && pin=(taskset -c "$CLIENT_CPUS")
    timeout --kill-after=5 $((DURATION + 30)) "${pin[@]}" "$@"
}

kv() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$2" | head -n1; }

# measure MODE NAME ROUND CONNS THREADS: one client run, one line in $RAW.
measure() {
    local mode=$1 name=$2 round=$3 conns=$4 threads=$5
    local pid=${PID[$name]} port=${PORT[$name]}
    local url="http://127.0.0.1:$port$URL_PATH"
    local log="$LOGS/$mode-c$conns-$name-r$round.out"
    local t0 t1 out rps="" p99="" reqs="" errs="" detail=""
    reset_peak "$pid"
    t0=$(cpu_ticks "$pid")
    case $mode in
    wrk | pipeline | wrk-c*)
        local depth=1
        [ "$mode" = pipeline ] && depth=$PIPELINE_DEPTH
        PIPELINE_DEPTH=$depth client wrk -t "$threads" -c "$conns" -d "${DURATION}s" \
            --timeout "$WRK_TIMEOUT" --latency -s "$HERE/wrk/report.lua" "$url" >"$log" 2>&1
        out=$(grep '^RSGI-RESULT' "$log")
        if [ -n "$out" ]; then
            reqs=$(kv requests "$out")
            local dur; dur=$(kv duration_us "$out")
            rps=$(awk -v r="$reqs" -v d="$dur" 'BEGIN { if (d > 0) printf "%.1f", r * 1e6 / d }')
            p99=$(kv p99_us "$out")
            local c r w s t
            c=$(kv connect "$out"); r=$(kv read "$out"); w=$(kv write "$out")
            s=$(kv status "$out"); t=$(kv timeout "$out")
            errs=$((c + r + w + s + t))
            detail="connect=$c,read=$r,write=$w,timeout=$t,non2xx=$s"
        fi
        ;;
    h2load-*)
        local load=(--h1 -m 1 -D "$DURATION")
        case $mode in
        h2load-h2c) load=(-m "$H2_STREAMS" -D "$DURATION") ;;
        # Every client must complete BIG_REQS requests; one left waiting longer
        # than BIG_IDLE_TIMEOUT fails (wrk does not count clients never answered).
        h2load-c*) load=(--h1 -m 1 -n $((conns * BIG_REQS)) -N "$BIG_IDLE_TIMEOUT") ;;
        esac
        client h2load "${load[@]}" -c "$conns" -t "$threads" "$url" >"$log" 2>&1
        out=$(grep -E '^(finished in|requests:|status codes:)' "$log")
        if grep -q '^finished in' <<<"$out"; then
            rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
            local line f e t n
            line=$(grep '^requests:' <<<"$out")
            reqs=$(sed -n 's/.* \([0-9]*\) succeeded.*/\1/p' <<<"$line")
            f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
            e=$(sed -n 's/.* \([0-9]*\) errored.*/\1/p' <<<"$line")
            t=$(sed -n 's/.* \([0-9]*\) timeout.*/\1/p' <<<"$line")
            n=$(grep '^status codes:' <<<"$out" | awk '{ print $5 + $7 + $9 }')
            # "failed" includes the errored, timed-out and non-2xx/3xx requests;
            # "timeout" counts clients whose connection timed out.
            errs=$f
            detail="failed=$f,errored=$e,timed_out_clients=$t,non2xx=$n"
            p99=""   # h2load reports no percentiles
        fi
        ;;
    esac
    t1=$(cpu_ticks "$pid")
    local cpu rss
    cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }')
    rss=$(peak_rss_kb "$pid")
    if ! kill -0 "$pid" 2>/dev/null; then
        note "$name died during $mode (round $round); log: $LOGS/$name.log"
        unset "PID[$name]"
    fi
    if [ -z "$rps" ]; then
        note "$mode against $name (round $round) gave no result; see $log"
        rps=NA
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$name" "$round" "$conns" \
        "$rps" "${p99:-NA}" "${reqs:-NA}" "$cpu" "${rss:-NA}" "${errs:-NA}" "${detail:-NA}" >>"$RAW"
    printf '    %-12s %-12s round %s c%-5s %10s req/s  p99 %6s us  cpu %6ss  rss %7s kB  errors %s\n' \
        "$mode" "$name" "$round" "$conns" "$rps" "${p99:--}" "$cpu" "${rss:-?}" "${errs:--}" >&2
}

alive() { [ -n "${PID[$1]:-}" ]; }

applies() {   # applies MODE NAME: whether MODE can run against NAME
    case $1 in
    h2load-h2c) [ "${H2[$2]}" = 1 ] && command -v h2load >/dev/null ;;
    h2load-*) command -v h2load >/dev/null ;;
    *) command -v wrk >/dev/null ;;
    esac
}

# ---- main -------------------------------------------------------------------
say "rsgi load benchmark, $STAMP"
say "settings: ROUNDS=$ROUNDS DURATION=${DURATION}s CONNECTIONS=$CONNECTIONS THREADS=$THREADS" \
    "H2_STREAMS=$H2_STREAMS PIPELINE_DEPTH=$PIPELINE_DEPTH BIG_CONNS='$BIG_CONNS' BIG_THREADS=$BIG_THREADS" \
    "WRK_TIMEOUT=$WRK_TIMEOUT SERVER_CPUS='${SERVER_CPUS}' CLIENT_CPUS='${CLIENT_CPUS}'"
say "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), $(uname -sr)"
say "rsgi commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"

install_tools
command -v wrk >/dev/null || note "wrk is not available: wrk, pipeline and many-connection modes are skipped"
command -v h2load >/dev/null || note "h2load is not available: h2load modes are skipped"
say "tools: $(wrk --version 2>&1 | head -n1 | cut -c1-40); $(h2load --version 2>/dev/null | head -n1)"

# Enough file descriptors for the 5,000-connection run (servers inherit it).
want_fds=65536
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
    ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
fi
say "open files limit: $(ulimit -n)"
for conns in $BIG_CONNS; do
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((conns + 256)) ]; then
        note "the open files limit is too low for $conns connections: expect connect errors"
    fi
done

build_peers
case " $SERVERS " in *" rsgi "*) build_rsgi ;; esac

say "starting servers"
for name in $SERVERS; do start_named "$name"; done
if [ ${#ORDER[@]} -eq 0 ]; then
    say "no server started; nothing to measure"
    exit 1
fi

if [ "$WARMUP" != 0 ] && command -v wrk >/dev/null; then
    for name in "${ORDER[@]}"; do
        timeout 60 wrk -t "$THREADS" -c "$CONNECTIONS" -d "${WARMUP}s" \
            "http://127.0.0.1:${PORT[$name]}$URL_PATH" >/dev/null 2>&1
    done
fi

printf 'mode\tserver\tround\tconns\treq_per_s\tp99_us\trequests\tcpu_s\trss_kb\terrors\terror_detail\n' >"$RAW"
for round in $(seq "$ROUNDS"); do
    say "round $round/$ROUNDS"
    for mode in $MODES; do
        for name in "${ORDER[@]}"; do
            alive "$name" && applies "$mode" "$name" || continue
            measure "$mode" "$name" "$round" "$CONNECTIONS" "$THREADS"
        done
    done
done

if [ -n "$BIG_CONNS" ]; then
    for round in $(seq "$BIG_ROUNDS"); do
        for conns in $BIG_CONNS; do
            say "many connections: $conns (round $round/$BIG_ROUNDS)"
            threads=$BIG_THREADS
            [ "$threads" -gt "$conns" ] && threads=$conns
            for name in "${ORDER[@]}"; do
                alive "$name" && command -v wrk >/dev/null || continue
                measure "wrk-c$conns" "$name" "$round" "$conns" "$threads"
            done
            command -v h2load >/dev/null || continue
            for name in "${ORDER[@]}"; do
                alive "$name" || continue
                measure "h2load-c$conns" "$name" "$round" "$conns" "$threads"
            done
        done
    done
fi

# ---- report -----------------------------------------------------------------
say ""
if command -v python3 >/dev/null; then
    python3 "$HERE/summarize.py" "$RAW" | tee -a "$OUT"
else
    say "(python3 not found: raw figures only)"
    column -t -s $'\t' "$RAW" | tee -a "$OUT"
fi
{
    echo
    echo "raw measurements ($RAW):"
    cat "$RAW"
} >>"$OUT"
say ""
say "results written to $OUT (client and server logs in $LOGS)"
