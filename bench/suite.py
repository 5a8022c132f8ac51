"""The benchmark suite behind bench/run: runs each case, writes the results
as JSON, then the chart and the summary in BENCHMARKS.md (bench/report.py).

    bench/run [--quick] [--runs N] [--cases stocks,joins,lookup,lake,s3mysql,kafka,boundary,sinks]

A full run (the default) writes target/bench/results.json, then
bench/results.json, bench/results.svg and the summary section of
BENCHMARKS.md. A quick run (--quick, or BENCH_QUICK=1) uses small inputs and
one run per case, to check that the suite works; it writes only
target/bench/results-quick.json and target/bench/results-quick.svg. Runs
default to 3 (BENCH_RUNS). With --cases, the other cases keep their results
from the last full run.
"""
import argparse
import datetime
import json
import os
import platform
import sys

import case_joins
import case_lake
import case_lookup
import case_s3mysql
import case_stocks
import cases
import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL = ["stocks", "joins", "lookup", "lake", "s3mysql", "kafka", "boundary", "sinks"]
# Input sizes: (full, quick).
SIZES = {
    "stocks_rows": (1_200_000, 100_000),
    "stocks_files": (12, 4),
    "join_customers": (1_000_000, 100_000),
    "join_events": (2_000_000, 200_000),
    "join_files": (8, 2),
    "lookup_customers": (1_000_000, 100_000),
    "lookup_events": (1_000_000, 50_000),
    "lookup_per_row_events": (20_000, 2_000),
    "lookup_files": (4, 2),
    "lake_rows": (4_000_000, 200_000),
    "lake_files": (8, 2),
    "s3mysql_lines": (1_000_000, 50_000),
    "s3mysql_files": (8, 2),
    "kafka_messages": (1_000_000, 100_000),
    "transform_rows": (1_000_000, 200_000),
    "language_rows": (131_072, 32_768),
    "sink_rows": (1_000_000, 100_000),
}


def machine():
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "cpu": next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                     if line.startswith("model name")), platform.processor()),
        "load_average_1m": round(load[0], 1),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    ap.add_argument("--cases", default=",".join(ALL))
    args = ap.parse_args()
    chosen = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(chosen) - set(ALL)
    if unknown:
        ap.error(f"unknown cases {sorted(unknown)}; the cases are {', '.join(ALL)}")
    runs = 1 if args.quick else max(1, args.runs)
    size = {k: v[1] if args.quick else v[0] for k, v in SIZES.items()}

    work = os.path.join(ROOT, "target", "bench")
    os.makedirs(work, exist_ok=True)
    name = "results-quick" if args.quick else "results"
    results_path = os.path.join(work, f"{name}.json")
    results = {"cases": {}}
    if not args.quick and os.path.exists(results_path):
        with open(results_path) as f:
            results = json.load(f)

    started = machine()
    for case in chosen:
        print(f"\n== {case}", file=sys.stderr, flush=True)
        if case == "stocks":
            r = case_stocks.run(ROOT, work, size["stocks_rows"], size["stocks_files"], runs)
        elif case == "joins":
            r = case_joins.run(ROOT, work, size["join_customers"], size["join_events"],
                               size["join_files"], runs)
        elif case == "lookup":
            r = case_lookup.run(ROOT, work, size["lookup_customers"], size["lookup_events"],
                                size["lookup_per_row_events"], size["lookup_files"], runs)
        elif case == "lake":
            r = case_lake.run(ROOT, work, size["lake_rows"], size["lake_files"], runs)
        elif case == "s3mysql":
            r = case_s3mysql.run(ROOT, work, size["s3mysql_lines"], size["s3mysql_files"], runs)
        elif case == "kafka":
            r = cases.kafka(ROOT, size["kafka_messages"], runs)
        elif case == "boundary":
            r = cases.boundary(ROOT, size["transform_rows"], runs, size["language_rows"])
        else:
            r = cases.sinks(ROOT, size["sink_rows"], runs)
        r["measured_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        r["runs_per_figure"] = runs
        results["cases"][case] = r
        # Written after each case, so a failure later keeps what was measured.
        with open(results_path, "w") as f:
            json.dump(results, f, indent=2)

    results.update(quick=args.quick, machine_at_start=started, machine_at_end=machine(),
                   command="bench/run" + (" --quick" if args.quick else "")
                   + ("" if args.quick or runs == 3 else f" --runs {runs}"))
    results["goals"] = report.goals(results["cases"])
    with open(results_path, "w") as f:
        json.dump(results, f, indent=2)
    if args.quick:
        report.chart(results, os.path.join(work, f"{name}.svg"))
    else:
        with open(os.path.join(ROOT, "bench", "results.json"), "w") as f:
            json.dump(results, f, indent=2)
        report.chart(results, os.path.join(ROOT, "bench", "results.svg"))
        report.update_benchmarks_md(results, os.path.join(ROOT, "BENCHMARKS.md"))
    print(report.table(results))
    print(f"\nresults: {results_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
