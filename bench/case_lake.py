"""The lake case: weir's Parquet source against pyarrow reading the same
files (the same four columns of eight, counted and summed per score: both
results are compared), then weir's Parquet sink writing to a local folder
against the same sink writing to an S3 bucket (moto's server, started here
from target/s3-venv, which scripts/setup-s3 installs).
"""
import csv
import os
import shutil
import socket
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

import measure

BENCH = os.path.dirname(os.path.abspath(__file__))

PYARROW_JOB = r"""
import sys, json, time
import pyarrow.dataset as ds, pyarrow.csv as pcsv
started = time.perf_counter()
t = ds.dataset(sys.argv[1], format="parquet").to_table(columns=["id", "name", "score", "amount"])
by = t.group_by("score").aggregate([("id", "count"), ("amount", "sum")])
pcsv.write_csv(by, sys.argv[2])
"""


class Disagree(Exception):
    """weir's and pyarrow's totals differ."""


def generate(directory, rows, files):
    """Parquet files of eight columns, row groups of 128 Ki rows."""
    os.makedirs(directory, exist_ok=True)
    per = rows // files
    for f in range(files):
        first = f * per
        ids = pa.array(range(first, first + per), pa.int64())
        table = pa.table({
            "id": ids,
            "name": pa.array([f"name-{i % 10007}" for i in range(first, first + per)]),
            "score": pa.array([i % 100 for i in range(first, first + per)], pa.int32()),
            "amount": pa.array([(i % 1000) / 10 for i in range(first, first + per)]),
            "country": pa.array(["KR", "FR", "US", "DE"] * (per // 4) + ["KR"] * (per % 4)),
            "unused_a": pa.array([1.5] * per),
            "unused_b": pa.array([f"padding-{i % 97}" for i in range(per)]),
            "unused_c": ids,
        })
        pq.write_table(table, os.path.join(directory, f"part-{f:03}.parquet"), row_group_size=131072)
    return {"rows": per * files, "files": files, "columns_in_files": 8, "columns_read": 4}


def totals(path, count_column):
    with open(path) as f:
        return {int(r["score"]): (int(r[count_column]), round(float(r["amount"] if "amount" in r else r["amount_sum"]), 3))
                for r in csv.DictReader(f)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_s3(root):
    server = os.path.join(root, "target", "s3-venv", "bin", "moto_server")
    if not os.path.exists(server):
        raise SystemExit(f"{server} is missing: run scripts/setup-s3")
    port = free_port()
    proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    python = os.path.join(root, "target", "s3-venv", "bin", "python")
    make = ("import boto3, time\n"
            "for _ in range(100):\n"
            "    try:\n"
            f"        boto3.client('s3', endpoint_url='{endpoint}', region_name='us-east-1', "
            "aws_access_key_id='x', aws_secret_access_key='x').create_bucket(Bucket='bench'); break\n"
            "    except Exception: time.sleep(0.1)\n")
    subprocess.run([python, "-c", make], check=True)
    return proc, endpoint


def run(root, work, rows, files, runs):
    weir_bin = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "weir")
    data = os.path.join(work, "lake")
    shutil.rmtree(data, ignore_errors=True)
    manifest = generate(os.path.join(data, "parquet"), rows, files)
    env = dict(os.environ, WEIR_BENCH_LAKE=data, WEIR_LOG="warn")
    source_cmd = [weir_bin, "run", os.path.join(BENCH, "lake.toml"), "--available-now"]
    pyarrow_cmd = [sys.executable, "-c", PYARROW_JOB, os.path.join(data, "parquet"),
                   os.path.join(data, "pyarrow-totals.csv")]
    measure.run(source_cmd, env=env)  # fills the compiled-component cache
    source = []
    for i in range(runs):
        print(f"lake: run {i + 1} of {runs}: Parquet source, weir and pyarrow...", file=sys.stderr, flush=True)
        weir = measure.run(source_cmd, env=env)
        peer = measure.run(pyarrow_cmd, env=env)
        w = totals(os.path.join(data, "weir-totals.csv"), "n")
        p = totals(os.path.join(data, "pyarrow-totals.csv"), "id_count")
        if w != p:
            raise Disagree(f"per-score totals differ: weir {sorted(w.items())[:3]}…, pyarrow {sorted(p.items())[:3]}…")
        source.append({"weir_s": weir["seconds"], "pyarrow_s": peer["seconds"],
                       "weir_peak_mib": weir["peak_rss_mib"], "pyarrow_peak_mib": peer["peak_rss_mib"]})

    s3, endpoint = start_s3(root)
    sinks = []
    try:
        for i in range(runs):
            sample = {}
            for where, out in [("local", os.path.join(data, "copy-out")), ("s3", f"s3://bench/copy-{i}")]:
                print(f"lake: run {i + 1} of {runs}: Parquet sink to {where}...", file=sys.stderr, flush=True)
                shutil.rmtree(os.path.join(data, "copy-out"), ignore_errors=True)
                shutil.rmtree(os.path.join(data, "copy-checkpoints"), ignore_errors=True)
                copy_env = dict(env, WEIR_BENCH_LAKE_OUT=out, WEIR_BENCH_S3=endpoint)
                r = measure.run([weir_bin, "run", os.path.join(BENCH, "lake_copy.toml"), "--available-now"],
                                env=copy_env)
                sample[f"{where}_s"] = r["seconds"]
                sample[f"{where}_peak_mib"] = r["peak_rss_mib"]
                if where == "local":
                    written = pq.ParquetDataset(os.path.join(data, "copy-out")).read().num_rows
                    if written != manifest["rows"]:
                        raise Disagree(f"the local copy holds {written} rows of {manifest['rows']}")
            sinks.append(sample)
    finally:
        s3.terminate()
        s3.wait()

    n = manifest["rows"]
    col = lambda rows, k: [r[k] for r in rows]  # noqa: E731
    return {
        "input": manifest,
        "command": "bench/run --cases lake",
        "source_runs": source,
        "sink_runs": sinks,
        "weir_source_rows_per_s": measure.spread([n / s for s in col(source, "weir_s")]),
        "pyarrow_rows_per_s": measure.spread([n / s for s in col(source, "pyarrow_s")]),
        "source_vs_pyarrow": measure.spread([r["pyarrow_s"] / r["weir_s"] for r in source]),
        "weir_source_peak_mib": measure.spread(col(source, "weir_peak_mib")),
        "pyarrow_peak_mib": measure.spread(col(source, "pyarrow_peak_mib")),
        "local_sink_rows_per_s": measure.spread([n / s for s in col(sinks, "local_s")]),
        "s3_sink_rows_per_s": measure.spread([n / s for s in col(sinks, "s3_s")]),
        "s3_vs_local_sink": measure.spread([r["local_s"] / r["s3_s"] for r in sinks]),
    }
