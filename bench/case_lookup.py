"""The lookup case: a stream–table join whose table (1 M customers in
MariaDB) is looked up by key rather than loaded. bench/lookup.toml asks for
the keys each batch misses in one query; the same pipeline with
`batch_size = 1` asks once per row, as a per-row lookup join does. Both
write every event once with its customer's segment (checked each run)."""
import json
import os
import random
import shutil
import subprocess
import sys

import measure

BENCH = os.path.dirname(os.path.abspath(__file__))
TABLE = "bench_lookup_customers"
SEGMENTS = ["consumer", "smb", "enterprise"]


def mariadb(sql):
    return subprocess.run(["mariadb", "-h", "127.0.0.1", "-u", "root", "-N", "-B", "test", "-e", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def generate(directory, customers, events, files, seed=11):
    """The customer table, and events of random customers (one in six not
    in the table); returns how many match."""
    mariadb(f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (customer_id BIGINT PRIMARY KEY, "
            f"segment VARCHAR(20), country CHAR(2)); INSERT INTO {TABLE} SELECT seq, "
            f"ELT(1 + seq % 3, 'consumer', 'smb', 'enterprise'), ELT(1 + seq % 4, 'KR', 'FR', 'DE', 'US') "
            f"FROM seq_1_to_{customers}")
    dice = random.Random(seed)
    os.makedirs(os.path.join(directory, "events"), exist_ok=True)
    per = events // files
    matched = 0
    for f in range(files):
        lines = ["event_id,customer_id,amount"]
        for i in range(per):
            c = dice.randint(1, customers * 6 // 5)
            matched += c <= customers
            lines.append(f"e{f}-{i},{c},{dice.randint(100, 99999) / 100}")
        with open(os.path.join(directory, "events", f"events-{f:03}.csv"), "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return {"customers": customers, "events": per * files, "files": files, "matched": matched, "seed": seed}


def check(path, events, matched):
    """Every event once, with its customer's segment where it has one. Read
    line by line: a bench process that grew would be counted again in the
    next measured process's peak (a fork's image counts until its exec)."""
    rows = with_segment = wrong = 0
    with open(path) as fh:
        for line in fh:
            r = json.loads(line)
            rows += 1
            if r.get("segment") is not None:
                with_segment += 1
                wrong += r["segment"] != SEGMENTS[r["customer_id"] % 3]
    if rows != events or with_segment != matched or wrong:
        raise measure.Failed(f"{rows} rows of {events}, {with_segment} with a segment of {matched}, "
                             f"{wrong} with the wrong one")


def run(root, work, customers, events, per_row_events, files, runs):
    weir_bin = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "weir")
    data = os.path.join(work, "lookup")
    per_row_data = os.path.join(work, "lookup-per-row")
    for d in [data, per_row_data]:
        shutil.rmtree(d, ignore_errors=True)
    manifest = generate(data, customers, events, files)
    # The per-row run reads fewer events (a query per row takes long),
    # from the same table.
    per_row = generate(per_row_data, customers, per_row_events, files, seed=12)
    config = open(os.path.join(BENCH, "lookup.toml")).read()
    per_row_toml = os.path.join(per_row_data, "lookup-per-row.toml")
    with open(per_row_toml, "w") as fh:
        fh.write(config.replace('format = "csv"\n', 'format = "csv"\nbatch_size = 1\n', 1))
    batched_cmd = [weir_bin, "run", os.path.join(BENCH, "lookup.toml"), "--available-now"]
    per_row_cmd = [weir_bin, "run", per_row_toml, "--available-now"]
    samples = []
    for i in range(runs):
        for d in [data, per_row_data]:
            if os.path.exists(os.path.join(d, "out.jsonl")):
                os.remove(os.path.join(d, "out.jsonl"))
        print(f"lookup: run {i + 1} of {runs}: batched...", file=sys.stderr, flush=True)
        batched = measure.run(batched_cmd, env=dict(os.environ, WEIR_BENCH_LOOKUP=data, WEIR_LOG="warn"))
        check(os.path.join(data, "out.jsonl"), manifest["events"], manifest["matched"])
        print(f"lookup: run {i + 1} of {runs}: one query per row...", file=sys.stderr, flush=True)
        single = measure.run(per_row_cmd, env=dict(os.environ, WEIR_BENCH_LOOKUP=per_row_data, WEIR_LOG="warn"))
        check(os.path.join(per_row_data, "out.jsonl"), per_row["events"], per_row["matched"])
        samples.append({"batched_s": batched["seconds"], "batched_peak_mib": batched["peak_rss_mib"],
                        "per_row_s": single["seconds"]})
        print(f"lookup: batched {manifest['events'] / batched['seconds']:,.0f} rows/s "
              f"({batched['peak_rss_mib']:.0f} MiB), one query per row "
              f"{per_row['events'] / single['seconds']:,.0f} rows/s", file=sys.stderr, flush=True)
    col = lambda k: [s[k] for s in samples]  # noqa: E731
    return {
        "input": {**manifest, "per_row_events": per_row["events"]},
        "runs": samples,
        "command": "bench/run --cases lookup",
        "batched_rows_per_s": measure.spread([manifest["events"] / s for s in col("batched_s")]),
        "per_row_rows_per_s": measure.spread([per_row["events"] / s for s in col("per_row_s")]),
        "batched_peak_mib": measure.spread(col("batched_peak_mib")),
        "batched_vs_per_row": measure.spread([(manifest["events"] / s["batched_s"])
                                              / (per_row["events"] / s["per_row_s"]) for s in samples]),
    }
