"""The cases that reuse the benchmarks already in the repository: kafka
(scripts/bench-kafka), boundary (`weir bench transform` and
scripts/bench-languages) and sinks (scripts/bench-sinks). Each runs the
existing command and keeps its JSON; nothing is re-measured here.
"""
import json
import os
import subprocess
import sys

import measure


def _json(cmd, root):
    """Runs cmd (its progress on our stderr) and parses the JSON it prints."""
    print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    out = subprocess.run(cmd, cwd=root, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out[out.index("{"):])


def kafka(root, messages, runs):
    """weir's Kafka source (JSON and Avro, through the echo component) against
    a bare rdkafka consumer, on a Tansu broker the script starts."""
    r = _json(["scripts/bench-kafka", "--messages", str(messages), "--runs", str(runs)], root)
    return dict(r, command=f"scripts/bench-kafka --messages {messages} --runs {runs}")


def boundary(root, rows, runs, language_rows):
    """The filter + uppercase transform as a Wasm component against the same
    logic natively (one process per run), then per plugin language."""
    # Where the build put it: CARGO_TARGET_DIR, as cargo itself reads it.
    weir = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "weir")
    reports = [_json([weir, "bench", "transform", "--rows", str(rows), "--batch", "8192",
                      "--repeat", "5"], root) for _ in range(runs)]
    if not all(r["outputs_equal"] for r in reports):
        raise RuntimeError("weir bench transform: the Wasm and native outputs differ")
    col = lambda k: [r[k] for r in reports]  # noqa: E731
    languages = _json(["scripts/bench-languages", "--json", str(runs), str(language_rows)], root)
    return {
        "rows": rows,
        "command": f"weir bench transform --rows {rows} --batch 8192 --repeat 5 (x{runs} processes); "
                   f"scripts/bench-languages {runs} {language_rows}",
        "native_rows_per_s": measure.spread(col("native_rows_per_s")),
        "wasm_rows_per_s": measure.spread(col("wasm_rows_per_s")),
        "ratio": measure.spread(col("ratio")),
        "languages": languages,
    }


def sinks(root, rows, runs):
    """The PostgreSQL and MySQL sinks against psql \\copy and LOAD DATA, and
    the Parquet sink's rate."""
    subprocess.run(["scripts/setup-databases"], cwd=root, check=True, stdout=sys.stderr)
    r = _json(["scripts/bench-sinks", "--rows", str(rows), "--repeat", str(runs)], root)
    return dict(r, command=f"scripts/bench-sinks --rows {rows} --repeat {runs}")
