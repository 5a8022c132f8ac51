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
