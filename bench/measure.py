"""Running a command as a measured process: wall time and peak memory.

Peak memory is the larger of two readings, because each misses something:
  - the resident set of the whole process tree (the command and all its
    descendants, summed), polled every 20 ms: it counts Spark's JVM, a child
    of the Python driver, together with the driver;
  - the kernel's own peak (ru_maxrss from wait4) for the command: exact, but
    for one process (the largest one waited for), so it catches a short
    peak that the polling falls between.
"""
import os
import statistics
import subprocess
import tempfile
import time

import psutil


class Failed(Exception):
    """A measured command exited non-zero; the message holds its stderr."""


def tree_rss(pid):
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run(cmd, env=None, cwd=None):
    """Runs cmd to completion; returns wall seconds, peak RSS in MiB and its
    stdout. Raises Failed, with the end of its stderr, if it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise Failed(f"{' '.join(map(str, cmd))} exited with {proc.returncode}:\n{stderr[-3000:]}")
    peak_mib = max(peak, usage.ru_maxrss * 1024) / 2**20
    return {"seconds": wall, "peak_rss_mib": peak_mib, "stdout": stdout, "stderr": stderr}


def spread(values):
    """Median, min and max of a list of numbers."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def versus_spark(weir, spark, **agreement):
    """One run of weir and of a PySpark job (whose last stdout line is its
    session and query times as JSON), as a sample for `against_spark`."""
    import json

    times = json.loads(spark["stdout"].strip().splitlines()[-1])
    return {
        "weir_s": weir["seconds"], "weir_peak_mib": weir["peak_rss_mib"],
        "spark_s": spark["seconds"], "spark_peak_mib": spark["peak_rss_mib"],
        "spark_session_s": times["session_s"], "spark_query_s": times["query_s"],
        "spark_micro_batches": times["micro_batches"], **agreement,
    }


def against_spark(samples, rows):
    """The figures of a case run against PySpark: rates of `rows` for each
    side, peaks, and the ratios within each run (weir and Spark back to
    back), then their spread."""
    col = lambda k: [s[k] for s in samples]  # noqa: E731
    return {
        "weir_rows_per_s": spread([rows / s for s in col("weir_s")]),
        "spark_rows_per_s": spread([rows / s for s in col("spark_s")]),
        "spark_query_rows_per_s": spread([rows / s for s in col("spark_query_s")]),
        "weir_peak_mib": spread(col("weir_peak_mib")),
        "spark_peak_mib": spread(col("spark_peak_mib")),
        "throughput_ratio": spread([s["spark_s"] / s["weir_s"] for s in samples]),
        "query_throughput_ratio": spread([s["spark_query_s"] / s["weir_s"] for s in samples]),
        "memory_ratio": spread([s["weir_peak_mib"] / s["spark_peak_mib"] for s in samples]),
    }
