#!/usr/bin/env bash
# Compiles what `rsgi expand` prints for every file of the api-paste.ini
# corpus (RSGI_PASTE_CORPUS, default ../shared/paste/corpus), each as the
# main.rs of a scratch crate depending on this checkout's `rsgi`.
# Prints one line per file: ok, EXPAND-FAIL (rsgi refused the file) or
# BUILD-FAIL (the printed block did not compile). Slow: one build per file.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=${RSGI_PASTE_CORPUS:-$ROOT/../shared/paste/corpus}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
(cd "$ROOT" && cargo build -q -p rsgi-cli) || exit 1
RSGI=$CARGO_TARGET_DIR/debug/rsgi
mkdir -p "$WORK/src"
printf '[package]\nname = "expand-check"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n[dependencies]\nrsgi = { path = "%s" }\n[workspace]\n' "$ROOT" > "$WORK/Cargo.toml"
cp "$ROOT/Cargo.lock" "$WORK/"
ok=0; total=0
for f in "$CORPUS"/*; do
    case "$f" in *.md|*.tsv) continue ;; esac
    total=$((total + 1))
    name=$(basename "$f")
    if ! "$RSGI" expand "$f" > "$WORK/expanded.rs" 2> "$WORK/err"; then
        echo "EXPAND-FAIL $name: $(head -1 "$WORK/err")"
        continue
    fi
    { cat "$WORK/expanded.rs"; echo; echo 'fn main() {}'; } > "$WORK/src/main.rs"
    if (cd "$WORK" && cargo build -q 2> "$WORK/err"); then
        echo "ok $name"; ok=$((ok + 1))
    else
        echo "BUILD-FAIL $name: $(grep -m1 '^error' "$WORK/err")"
    fi
done
echo "$ok of $total files expand to a deploy! block that compiles"
