"""The stocks case: weir (bench/stocks.toml) against PySpark Structured
Streaming (bench/stocks_spark.py) on the same CSV files, run in turn, each
run a fresh process writing fresh output. The outputs are compared after
every run: every window Spark emits must be in weir's output, equal.
"""
import json
import os
import shutil
import sys

import pyarrow as pa
import pyarrow.dataset as ds

import measure
import stocks_data

BENCH = os.path.dirname(os.path.abspath(__file__))


class Disagree(Exception):
    """weir's and Spark's outputs differ, or one of them is empty."""


def windows(directory):
    """The window rows of a Parquet output, by (window_start, symbol)."""
    table = ds.dataset(directory, format="parquet").to_table()
    cols = {}
    for name in ["window_start", "window_end"]:
        ts = table[name].cast(pa.timestamp("us", tz="UTC"))
        cols[name] = ts.cast(pa.int64()).to_pylist()
    for name in ["symbol", "ticks", "volume", "high"]:
        cols[name] = table[name].to_pylist()
    rows = {}
    for i in range(table.num_rows):
        key = (cols["window_start"][i], cols["symbol"][i])
        if key in rows:
            raise Disagree(f"{directory}: window {key} is written twice")
        rows[key] = tuple(cols[c][i] for c in ["window_end", "ticks", "volume", "high"])
    return rows


def compare(weir_dir, spark_dir):
    """Checks every window Spark wrote against weir's; returns the counts."""
    weir, spark = windows(weir_dir), windows(spark_dir)
    if not spark:
        raise Disagree(f"Spark wrote no window to {spark_dir}: nothing to compare")
    missing = [k for k in spark if k not in weir]
    differ = [k for k in spark if k in weir and weir[k] != spark[k]]
    if missing or differ:
        detail = [f"  missing from weir: {k}, Spark has {spark[k]}" for k in missing[:5]]
        detail += [f"  {k}: weir {weir[k]}, Spark {spark[k]}" for k in differ[:5]]
        raise Disagree(f"{len(missing)} of Spark's {len(spark)} windows are missing from weir's "
                       f"output and {len(differ)} differ (end, ticks, volume, high):\n"
                       + "\n".join(detail))
    return {"spark_windows": len(spark), "weir_windows": len(weir),
            "weir_only_windows": len(weir) - len(spark)}


def check_summary(path, manifest):
    """weir's run summary must account for the generated rows: every
    halted tick filtered, nothing dead-lettered, nothing late."""
    with open(path) as f:
        s = json.load(f)
    (clean,) = s["transforms"]
    problems = []
    if s["records_read"] != manifest["rows"]:
        problems.append(f"read {s['records_read']} of {manifest['rows']} rows")
    if clean["filtered"] != manifest["halted"]:
        problems.append(f"filtered {clean['filtered']}, generated {manifest['halted']} halted ticks")
    if s["dead_lettered"] or s["window"]["late_dropped"]:
        problems.append(f"{s['dead_lettered']} dead-lettered, {s['window']['late_dropped']} late")
    if problems:
        raise Disagree(f"weir's summary {path}: " + "; ".join(problems))


def run(root, work, rows, files, runs):
    # Where the build put it: CARGO_TARGET_DIR, as cargo itself reads it.
    weir_bin = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "weir")
    python = sys.executable
    manifest = stocks_data.generate(os.path.join(work, "stocks"), rows, files)
    data = os.path.join(work, "stocks")
    env = dict(os.environ, WEIR_BENCH_STOCKS=data, WEIR_LOG="warn")
    weir_cmd = [weir_bin, "run", os.path.join(BENCH, "stocks.toml"), "--available-now",
                "--summary-json", os.path.join(data, "weir-summary.json")]
    spark_cmd = [python, os.path.join(BENCH, "stocks_spark.py"), manifest["directory"],
                 os.path.join(data, "spark-out"), os.path.join(data, "spark-checkpoint")]

    def fresh():
        for d in ["weir-out", "spark-out", "spark-checkpoint"]:
            shutil.rmtree(os.path.join(data, d), ignore_errors=True)

    # One untimed weir run fills the compiled-component cache (.cwasm), as
    # any earlier run of the pipeline would have.
    fresh()
    measure.run(weir_cmd, env=env)
    samples = []
    for i in range(runs):
        fresh()
        print(f"stocks: run {i + 1} of {runs}: weir...", file=sys.stderr, flush=True)
        weir = measure.run(weir_cmd, env=env)
        check_summary(os.path.join(data, "weir-summary.json"), manifest)
        print(f"stocks: run {i + 1} of {runs}: PySpark...", file=sys.stderr, flush=True)
        spark = measure.run(spark_cmd, env=env)
        agreement = compare(os.path.join(data, "weir-out"), os.path.join(data, "spark-out"))
        samples.append(measure.versus_spark(weir, spark, **agreement))
        print(f"stocks: weir {weir['seconds']:.2f} s {weir['peak_rss_mib']:.0f} MiB, "
              f"Spark {spark['seconds']:.1f} s {spark['peak_rss_mib']:.0f} MiB, "
              f"{agreement['spark_windows']} windows agree", file=sys.stderr, flush=True)

    return {
        "input": manifest,
        "runs": samples,
        **measure.against_spark(samples, rows),
        "outputs_agree": True,
        "command": "bench/run --cases stocks",
    }
