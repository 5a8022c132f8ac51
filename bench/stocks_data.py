"""The stocks case's input: KOSPI-style ticks as CSV files, from a fixed seed.

Rows come in event-time order over one trading day (09:00-15:30 Seoul time),
except that about 2 % of them arrive up to 20 s late: out of order, but within
the pipelines' 30 s watermark, so neither weir nor Spark may drop them. About
3 % trade nothing (volume 0) and are dropped by the transform. Symbols are
written as `krx:005930` in mixed case (`KRX`, `Krx`, `krx`), so the windows
only come out right if `upper(symbol)` runs before them.

A directory is generated once per set of parameters (see `manifest.json`).
"""
import json
import os
import random

SEED = 20261120
SYMBOLS = 100
DAY_MS = 6 * 3600 * 1000 + 30 * 60 * 1000  # 09:00 to 15:30
LATE_SHARE, MAX_LATE_MS = 0.02, 20_000
HALTED_SHARE = 0.03
PREFIXES = ["krx", "KRX", "Krx"]
HEADER = "symbol,timestamp,open,high,low,close,volume\n"


def stamp(ms):
    """Milliseconds after 09:00 as an RFC 3339 time in Seoul (2026-11-20)."""
    total = 9 * 3600 * 1000 + ms
    h, rest = divmod(total, 3600 * 1000)
    m, rest = divmod(rest, 60 * 1000)
    s, milli = divmod(rest, 1000)
    return f"2026-11-20T{h:02d}:{m:02d}:{s:02d}.{milli:03d}+09:00"


def generate(directory, rows, files):
    """Writes `files` CSV files of `rows` rows in all into directory/incoming;
    returns the manifest (what was generated, and how many rows are to be
    filtered), reusing an earlier directory with the same parameters."""
    wanted = {"seed": SEED, "rows": rows, "files": files, "symbols": SYMBOLS}
    manifest_path = os.path.join(directory, "manifest.json")
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if {k: manifest.get(k) for k in wanted} == wanted:
            return manifest
    incoming = os.path.join(directory, "incoming")
    os.makedirs(incoming, exist_ok=True)
    for old in os.listdir(incoming):
        os.remove(os.path.join(incoming, old))

    rng = random.Random(SEED)
    codes = [f"{c:06d}" for c in rng.sample(range(1000, 400000), SYMBOLS)]
    prices = [rng.randrange(5_000, 500_000, 100) for _ in codes]
    step = DAY_MS / rows
    halted = late = 0
    per_file = -(-rows // files)
    base_mtime = 1_790_000_000
    for k in range(files):
        path = os.path.join(incoming, f"ticks-{k:03d}.csv")
        lines = [HEADER]
        for i in range(k * per_file, min(rows, (k + 1) * per_file)):
            ms = int(i * step)
            if rng.random() < LATE_SHARE:
                ms -= rng.randrange(1_000, MAX_LATE_MS)
                late += 1
            s = rng.randrange(SYMBOLS)
            # Prices in whole won, so max(high) is exact on both sides.
            price = prices[s] = max(1_000, prices[s] + rng.randrange(-2, 3) * 100)
            high, low = price + rng.randrange(0, 5) * 100, price - rng.randrange(0, 5) * 100
            close = rng.randrange(low, high + 1, 100)
            if rng.random() < HALTED_SHARE:
                volume = 0
                halted += 1
            else:
                volume = rng.randrange(1, 5_000)
            symbol = f"{PREFIXES[rng.randrange(3)]}:{codes[s]}"
            lines.append(f"{symbol},{stamp(ms)},{price},{high},{low},{close},{volume}\n")
        with open(path, "w") as f:
            f.writelines(lines)
        # Spark's file source takes files in modification-time order, weir
        # in name order: make both the same.
        os.utime(path, (base_mtime + k, base_mtime + k))
    manifest = dict(wanted, halted=halted, late_within_watermark=late, directory=incoming)
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest
