"""The joins case: weir (bench/joins.toml) against PySpark Structured
Streaming (bench/joins_spark.py) on the same files, run in turn, each run a
fresh process writing fresh output. After every run both outputs are read
back with pyarrow: the same number of rows, the number the generator says
match, and the same total amount per segment.
"""
import os
import shutil
import sys

import pyarrow.compute as pc
import pyarrow.dataset as ds

import joins_data
import measure

BENCH = os.path.dirname(os.path.abspath(__file__))


class Disagree(Exception):
    """weir's and Spark's outputs differ."""


def totals(directory):
    """Rows, and the amount per segment in cents, of a Parquet output."""
    table = ds.dataset(directory, format="parquet").to_table(columns=["segment", "amount"])
    by = table.group_by("segment").aggregate([("amount", "sum")])
    sums = {s: round(a * 100) for s, a in zip(by["segment"].to_pylist(), by["amount_sum"].to_pylist())}
    return table.num_rows, sums


def compare(weir_dir, spark_dir, matched):
    weir, spark = totals(weir_dir), totals(spark_dir)
    if weir[0] != matched or spark[0] != matched:
        raise Disagree(f"{matched} events match a customer; weir wrote {weir[0]}, Spark {spark[0]}")
    if weir[1] != spark[1]:
        raise Disagree(f"amount per segment: weir {weir[1]}, Spark {spark[1]}")
    return {"rows_out": weir[0]}


def run(root, work, customers, events, files, runs):
    weir_bin = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "weir")
    data = os.path.join(work, "joins")
    manifest = joins_data.generate(data, customers, events, files)
    env = dict(os.environ, WEIR_BENCH_JOINS=data, WEIR_LOG="warn")
    weir_cmd = [weir_bin, "run", os.path.join(BENCH, "joins.toml"), "--available-now"]
    spark_cmd = [sys.executable, os.path.join(BENCH, "joins_spark.py"), os.path.join(data, "events"),
                 os.path.join(data, "customers.csv"), os.path.join(data, "spark-out"),
                 os.path.join(data, "spark-checkpoint")]

    def fresh():
        for d in ["weir-out", "spark-out", "spark-checkpoint"]:
            shutil.rmtree(os.path.join(data, d), ignore_errors=True)

    fresh()
    measure.run(weir_cmd, env=env)  # fills the compiled-component cache
    samples = []
    for i in range(runs):
        fresh()
        print(f"joins: run {i + 1} of {runs}: weir...", file=sys.stderr, flush=True)
        weir = measure.run(weir_cmd, env=env)
        print(f"joins: run {i + 1} of {runs}: PySpark...", file=sys.stderr, flush=True)
        spark = measure.run(spark_cmd, env=env)
        agreement = compare(os.path.join(data, "weir-out"), os.path.join(data, "spark-out"),
                            manifest["matched"])
        samples.append(measure.versus_spark(weir, spark, **agreement))
        print(f"joins: weir {weir['seconds']:.2f} s {weir['peak_rss_mib']:.0f} MiB, "
              f"Spark {spark['seconds']:.1f} s {spark['peak_rss_mib']:.0f} MiB, "
              f"{agreement['rows_out']} rows agree", file=sys.stderr, flush=True)

    return {
        "input": manifest,
        "runs": samples,
        "command": "bench/run --cases joins",
        **measure.against_spark(samples, manifest["events"]),
    }
