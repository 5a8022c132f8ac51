"""The suite's results as people read them: the goals met or not, a chart,
and the summary section of BENCHMARKS.md (between the markers below; the
rest of the file is written by hand and left alone).
"""
import re

BEGIN = "<!-- bench-suite:begin: written by bench/run, edits here are overwritten -->"
END = "<!-- bench-suite:end -->"


def _get(d, *path):
    for p in path:
        if d is None:
            return None
        d = d.get(p)
    return d


def goals(cases):
    """One entry per goal of issue 9 (and the sinks' goal from issue 5):
    the ratio measured (median, min, max where the case gives them), the
    goal, and whether it is met. Ratios are weir against its peer, higher
    is better: for memory, the peer's peak over weir's."""
    out = []

    def add(case, measure, ratio, goal, lo=None, hi=None, note=""):
        if ratio is None:
            return
        out.append({"case": case, "measure": measure, "ratio": ratio, "min": lo, "max": hi,
                    "goal": goal, "met": ratio >= goal, "note": note})

    # The cases run against PySpark (measure.against_spark), each with the
    # same three goals.
    for name, whose in [("stocks", ""), ("joins", "issue 20's goal; "), ("s3mysql", "")]:
        s = cases.get(name)
        if not s:
            continue
        t, m = s["throughput_ratio"], s["memory_ratio"]
        add(name, "throughput vs PySpark", t["median"], 20, t["min"], t["max"],
            whose + "whole processes, Spark's session start-up included")
        q = s["query_throughput_ratio"]
        add(name, "throughput vs PySpark's query alone", q["median"], 20, q["min"], q["max"],
            "Spark's session start-up left out, weir's whole process")
        add(name, "peak memory, PySpark / weir", 1 / m["median"], 5, 1 / m["max"], 1 / m["min"])
    lookup = cases.get("lookup")
    if lookup:
        r = lookup["batched_vs_per_row"]
        add("lookup", "batched lookup join / one query per row", r["median"], 10, r["min"], r["max"],
            "issue 20 names no figure; batching should be worth at least 10×")
    lake = cases.get("lake")
    if lake:
        r = lake["source_vs_pyarrow"]
        add("lake", "Parquet source / pyarrow", r["median"], 1, r["min"], r["max"],
            "issue 19's goal; both read the same 4 columns of 8 and total them per score")
        r = lake["s3_vs_local_sink"]
        add("lake", "Parquet sink to S3 / to a local folder", r["median"], 0.5, r["min"], r["max"],
            "the S3 server is moto (Python) on this machine")
    k = cases.get("kafka")
    if k:
        add("kafka", "JSON: weir / bare consumer", k["json_ratio"], 0.8, note="ratio of medians")
        add("kafka", "Avro: weir / bare consumer", k["avro_ratio"], 0.8, note="ratio of medians")
    b = cases.get("boundary")
    if b:
        r = b["ratio"]
        add("boundary", "Wasm (Rust) / native", r["median"], 0.8, r["min"], r["max"])
    k = cases.get("sinks")
    if k:
        add("sinks", "PostgreSQL sink / psql \\copy", k["postgres_sink_vs_copy"], 0.5,
            note="issue 5's goal; ratio of medians")
        add("sinks", "MySQL sink / LOAD DATA", k["mysql_sink_vs_load_data"], 0.5,
            note="issue 5's goal; ratio of medians")
    return out


def _rate(x):
    if x >= 1e6:
        return f"{x / 1e6:.3g} M"
    if x >= 1e3:
        return f"{x / 1e3:.3g} k"
    return f"{x:.3g}"


def _spread(d, fmt=_rate):
    return f"{fmt(d['median'])} ({fmt(d['min'])}–{fmt(d['max'])})"


def _ratio(g):
    text = f"{g['ratio']:.3g}"
    if g["min"] is not None:
        text += f" ({g['min']:.3g}–{g['max']:.3g})"
    return text


def chart(results, path):
    """A bar per goal: weir's ratio to its peer (log scale), the goal marked,
    green when met; whiskers from the runs' min to max where known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gs = results["goals"]
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(gs) + 1.4))
    ys = list(range(len(gs)))[::-1]
    for y, g in zip(ys, gs):
        color = "#2e7d32" if g["met"] else "#c62828"
        err = None
        if g["min"] is not None:
            err = [[g["ratio"] - g["min"]], [g["max"] - g["ratio"]]]
        ax.barh(y, g["ratio"], color=color, xerr=err, capsize=3)
        ax.plot([g["goal"]] * 2, [y - 0.4, y + 0.4], color="black", linewidth=2)
        ax.text(max(g["ratio"], g["goal"], g["max"] or 0) * 1.15, y, f"{g['ratio']:.2g}× (goal {g['goal']:g}×)", va="center",
                fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{g['case']}: {g['measure']}" for g in gs], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(0.05, max(g["max"] or g["ratio"] for g in gs) * 6)
    ax.axvline(1, color="grey", linewidth=0.5)
    ax.set_xlabel("weir ÷ peer, higher is better (log scale); black tick: the goal")
    when = results.get("machine_at_end", {})
    ax.set_title(f"weir against its peers, measured in the same run ({results['command']}, "
                 f"load {when.get('load_average_1m', '?')})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None} if path.endswith(".svg") else None)
    plt.close(fig)


def table(results):
    """The summary as Markdown."""
    c = results["cases"]
    lines = ["| case | measure | weir | peer | ratio: median (min–max) | goal | met |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    figures = {}
    mib = lambda x: f"{x:.0f}"  # noqa: E731
    for name in ["stocks", "joins", "s3mysql"]:
        if name in c:
            s = c[name]
            figures[name] = [
                (_spread(s["weir_rows_per_s"]) + " rows/s", _spread(s["spark_rows_per_s"]) + " rows/s"),
                (_spread(s["weir_rows_per_s"]) + " rows/s", _spread(s["spark_query_rows_per_s"]) + " rows/s"),
                (_spread(s["weir_peak_mib"], mib) + " MiB", _spread(s["spark_peak_mib"], mib) + " MiB"),
            ]
    if "lookup" in c:
        k = c["lookup"]
        figures["lookup"] = [(_spread(k["batched_rows_per_s"]) + " rows/s",
                              _spread(k["per_row_rows_per_s"]) + " rows/s")]
    if "lake" in c:
        lake = c["lake"]
        figures["lake"] = [
            (_spread(lake["weir_source_rows_per_s"]) + " rows/s", _spread(lake["pyarrow_rows_per_s"]) + " rows/s"),
            (_spread(lake["s3_sink_rows_per_s"]) + " rows/s", _spread(lake["local_sink_rows_per_s"]) + " rows/s"),
        ]
    if "kafka" in c:
        k = c["kafka"]
        figures["kafka"] = [
            (_spread(k["weir_json_msgs_per_s"]) + " msg/s", _spread(k["bare_json_msgs_per_s"]) + " msg/s"),
            (_spread(k["weir_avro_msgs_per_s"]) + " msg/s", _spread(k["bare_avro_msgs_per_s"]) + " msg/s"),
        ]
    if "boundary" in c:
        b = c["boundary"]
        figures["boundary"] = [(_spread(b["wasm_rows_per_s"]) + " rows/s",
                                _spread(b["native_rows_per_s"]) + " rows/s")]
    if "sinks" in c:
        k = c["sinks"]
        cell = lambda d: f"{_rate(d['median_rows_per_s'])} ({_rate(d['min'])}–{_rate(d['max'])}) rows/s"  # noqa: E731
        figures["sinks"] = [(cell(k["postgres_sink"]), cell(k["psql_copy"])),
                            (cell(k["mysql_sink"]), cell(k["load_data_local"]))]
    seen = {}
    for g in results["goals"]:
        i = seen.get(g["case"], 0)
        seen[g["case"]] = i + 1
        weir, peer = figures[g["case"]][i]
        met = "**yes**" if g["met"] else "**no**"
        lines.append(f"| {g['case']} | {g['measure']} | {weir} | {peer} | {_ratio(g)} "
                     f"| ≥ {g['goal']:g} | {met} |")
    return "\n".join(lines)


def _details(results):
    c = results["cases"]
    out = []
    if "stocks" in c:
        s, i = c["stocks"], c["stocks"]["input"]
        last = s["runs"][-1]
        out.append(
            f"- **stocks**: {i['rows']:,} rows in {i['files']} CSV files (seed {i['seed']}, "
            f"{i['symbols']} symbols; {i['halted']:,} ticks with volume 0 for the transform to "
            f"drop; {i['late_within_watermark']:,} out of order by up to 20 s, within the 30 s "
            f"watermark). weir: `weir run bench/stocks.toml --available-now`. PySpark: "
            f"bench/stocks_spark.py, `local[2]`, `Trigger.AvailableNow`, one file per micro-batch "
            f"({last['spark_micro_batches']} micro-batches). Each run, both outputs were read "
            f"back with pyarrow: all {last['spark_windows']:,} windows Spark wrote are in weir's "
            f"output with equal values ({last['weir_only_windows']} more in weir's). Spark's "
            f"session start-up: {_spread(_col(s, 'spark_session_s'), lambda x: f'{x:.1f}')} s.")
    if "joins" in c:
        j, i = c["joins"], c["joins"]["input"]
        last = j["runs"][-1]
        out.append(
            f"- **joins**: {i['events']:,} purchase events in {i['files']} CSV files joined with "
            f"a {i['customers']:,}-row customer table (CSV; seed {i['seed']}; "
            f"{i['matched']:,} events match, the rest are dropped by the inner join) into "
            f"Parquet. weir: `weir run bench/joins.toml --available-now`. PySpark: "
            f"bench/joins_spark.py, a stream–static join with the table broadcast, `local[2]`, "
            f"one file per micro-batch ({last['spark_micro_batches']} micro-batches). Each run, "
            f"both outputs were read back with pyarrow: the same {last['rows_out']:,} rows and "
            f"the same amount per segment.")
    if "lookup" in c:
        k, i = c["lookup"], c["lookup"]["input"]
        out.append(
            f"- **lookup**: {i['events']:,} purchase events in {i['files']} CSV files, each enriched "
            f"with its customer's row of a {i['customers']:,}-row MariaDB table looked up by key "
            f"(`lookup = true`, a left join; one event in six has no customer), into JSON Lines. "
            f"Batched: `weir run bench/lookup.toml --available-now`, one query per batch of 8192 "
            f"for the keys the cache misses (peak memory "
            f"{_spread(k['batched_peak_mib'], lambda x: f'{x:.0f}')} MiB). One query per row: the "
            f"same pipeline with `batch_size = 1`, on {i['per_row_events']:,} events. Each run, "
            f"every event was written once with its customer's segment.")
    if "s3mysql" in c:
        m, i = c["s3mysql"], c["s3mysql"]["input"]
        out.append(
            f"- **s3mysql**: examples/s3-mysql's ETL on {i['lines']:,} student lines in {i['files']} "
            f"files ({i['kept']:,} to keep). weir: `weir run bench/s3mysql.toml --available-now`, the "
            f"lines read from moto's S3 server on this machine, cleaned by the Wasm students cleaner, "
            f"loaded by `builtin:mysql`. PySpark: bench/s3mysql_spark.py, the same rules in Spark SQL "
            f"functions, the same files from a local folder (Spark's S3 connector and the MySQL JDBC "
            f"driver are Maven jars, which these machines cannot fetch), loaded through foreachBatch "
            f"with PyMySQL's executemany, `local[2]`. Each run, both tables were read back: the same "
            f"row count and age sum.")
    if "lake" in c:
        lake, i = c["lake"], c["lake"]["input"]
        out.append(
            f"- **lake**: {i['rows']:,} rows in {i['files']} Parquet files of "
            f"{i['columns_in_files']} columns. Source: `weir run bench/lake.toml --available-now` "
            f"reads {i['columns_read']} of them and totals them per score (a global window) "
            f"against pyarrow's dataset reader doing the same, whole processes both, with the "
            f"totals compared each run; peak memory weir "
            f"{_spread(lake['weir_source_peak_mib'], lambda x: f'{x:.0f}')} MiB, pyarrow "
            f"{_spread(lake['pyarrow_peak_mib'], lambda x: f'{x:.0f}')} MiB. Sinks: "
            f"bench/lake_copy.toml copies the 4 columns into `builtin:parquet` under a local "
            f"folder, then under `s3://` on moto's S3 server (Python, on this machine: its "
            f"speed, not the network's, bounds the S3 figure).")
    if "boundary" in c:
        langs = c["boundary"]["languages"]
        cells = ", ".join(f"{name} {_spread(v['wasm_rows_per_s'])}" for name, v in langs.items())
        out.append(f"- **boundary**, per plugin language (rows/s, batch 8192, same transform): "
                   f"{cells}; outputs equal to native: "
                   f"{all(v['outputs_equal'] for v in langs.values())}.")
    if "sinks" in c:
        p = c["sinks"]["parquet_sink"]
        out.append(f"- **sinks**: `builtin:parquet` wrote {_rate(p['median_rows_per_s'])} rows/s "
                   f"({_rate(p['min'])}–{_rate(p['max'])}).")
    for name, case in c.items():
        out.append(f"- {name}: measured {case['measured_at']}, {case['runs_per_figure']} runs, "
                   f"`{case['command']}`.")
    return "\n".join(out)


def _col(s, key):
    xs = [r[key] for r in s["runs"]]
    return {"median": sorted(xs)[len(xs) // 2], "min": min(xs), "max": max(xs)}


def section(results):
    m0, m1 = results["machine_at_start"], results["machine_at_end"]
    unmet = [f"{g['case']} ({g['measure']})" for g in results["goals"] if not g["met"]]
    verdict = ("All goals are met." if not unmet else
               "Goals not met: " + "; ".join(unmet) + ". Where the time goes is below.")
    return "\n".join([
        BEGIN,
        "## The suite: weir against its peers (issue 9)",
        "",
        "One command runs every case side by side and rewrites this section, "
        "[bench/results.json](bench/results.json) and the chart:",
        "",
        "```sh",
        "bench/run                  # full: ~15 min; --quick checks the suite in ~3 min",
        "```",
        "",
        f"Last run: `{results['command']}` on {m0['cpus']} cores ({m0['cpu']}), load average "
        f"{m0['load_average_1m']} at the start and {m1['load_average_1m']} at the end. Each "
        "figure is the median of the runs, with min and max. The machine is shared, so the "
        "ratios, measured within the same run, are the headline, not absolute rates.",
        "",
        "![weir against its peers](bench/results.svg)",
        "",
        table(results),
        "",
        _details(results),
        "",
        verdict,
        END,
    ])


def update_benchmarks_md(results, path):
    """Replaces the section between the markers, or puts it after the
    introduction the first time."""
    with open(path) as f:
        text = f.read()
    new = section(results)
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: new, text)
    else:
        first = text.index("\n## ")
        text = text[:first] + "\n" + new + "\n" + text[first:]
    with open(path, "w") as f:
        f.write(text)
