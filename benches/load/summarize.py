#!/usr/bin/env python3
"""Turns run.sh's raw.tsv into one table per load mode (see README.md for the columns).

usage: summarize.py RAW_TSV
"""
import csv
import statistics
import sys

FLOOR = "hyper"  # ratios are taken against the raw hyper peer

MODE_TITLES = {
    "wrk": "HTTP/1.1 keep-alive, wrk",
    "h2load-h1": "HTTP/1.1 keep-alive, h2load --h1",
    "h2load-h2c": "h2c (prior knowledge), h2load",
    "pipeline": "HTTP/1.1 pipelined, wrk",
}


def num(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_int(v):
    return "-" if v is None else f"{v:,.0f}"


def fmt_ratio(v, base):
    if v is None or not base:
        return "-"
    return f"{v / base:.2f}x"


def fmt_ms(us):
    return "-" if us is None else f"{us / 1000:.2f}ms"


def fmt_mb(kb):
    return "-" if kb is None else f"{kb / 1024:.1f}MB"


def main(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        print("no measurements")
        return

    groups = {}  # (mode, conns) -> server -> [rows], in first-seen order
    for row in rows:
        groups.setdefault((row["mode"], row["conns"]), {}).setdefault(row["server"], []).append(row)

    for (mode, conns), by_server in groups.items():
        if mode in MODE_TITLES:
            title = MODE_TITLES[mode]
        elif mode.startswith("h2load-c"):
            title = "HTTP/1.1, h2load --h1, every client must complete its requests"
        else:
            title = "HTTP/1.1 keep-alive, wrk"
        rounds = max(len(v) for v in by_server.values())
        print(f"== {mode}: {title}, {conns} connections, {rounds} round(s), GET /v2.1/servers ==")

        summary = {}
        for server, runs in by_server.items():
            rps = median(num(r["req_per_s"]) for r in runs)
            per_cpu = median(
                num(r["requests"]) / num(r["cpu_s"])
                if num(r["requests"]) is not None and num(r["cpu_s"])
                else None
                for r in runs
            )
            p99 = median(num(r["p99_us"]) for r in runs)
            rss = max((num(r["rss_kb"]) or 0 for r in runs), default=0) or None
            errors = [num(r["errors"]) for r in runs]
            err_total = None if all(e is None for e in errors) else int(sum(e or 0 for e in errors))
            details = sorted({r["error_detail"] for r in runs if num(r["errors"])})
            summary[server] = (rps, per_cpu, p99, rss, err_total, details)

        base = summary.get(FLOOR, (None, None))
        header = ["server", "req/s", "x hyper", "req/cpu-s", "x hyper", "p99", "peak RSS", "errors"]
        table = [header]
        for server, (rps, per_cpu, p99, rss, err, _) in summary.items():
            table.append([
                server,
                fmt_int(rps),
                fmt_ratio(rps, base[0]),
                fmt_int(per_cpu),
                fmt_ratio(per_cpu, base[1]),
                fmt_ms(p99),
                fmt_mb(rss),
                "-" if err is None else str(err),
            ])
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for n, row in enumerate(table):
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
            print("  " + "  ".join(cells))
            if n == 0:
                print("  " + "  ".join("-" * w for w in widths))
        for server, (*_, details) in summary.items():
            for d in details:
                print(f"  errors, {server}: {d}")
        print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
