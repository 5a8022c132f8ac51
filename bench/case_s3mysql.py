"""The s3-mysql case: examples/s3-mysql's ETL (student lines cleaned by the
Wasm students cleaner, loaded into MySQL) with weir reading the lines from
a bucket of moto's S3 server, against PySpark Structured Streaming reading
the same files from a local folder (bench/s3mysql_spark.py). After every
run the table is read back: both load the same rows (count and age sum).
"""
import os
import random
import shutil
import subprocess
import sys

import case_lake
import measure

BENCH = os.path.dirname(os.path.abspath(__file__))
TABLE = "bench_s3_students"
FIELDS = ["Computer Science", "Mathematics", "Physics", "Data Engineering", "Music", "Economics"]


def generate(directory, lines, files, seed=7):
    """Student lines, one in ten malformed in one of the ways the cleaner
    refuses; returns how many a correct job keeps (older than 20)."""
    os.makedirs(directory, exist_ok=True)
    dice = random.Random(seed)
    kept = 0
    per = lines // files
    for f in range(files):
        out = []
        for i in range(f * per, (f + 1) * per):
            age = dice.randint(15, 60)
            field = FIELDS[i % len(FIELDS)]
            bad = dice.randint(0, 9) == 0
            if bad:
                out.append(dice.choice([f"First{i} Last{i}, {age}", f"First{i} Last{i}, abc, {field}",
                                        f"First{i}, {age}, {field}", f"First{i} Last{i}, {age}, {field}, x",
                                        f"First{i} Last{i}, -{age}, {field}"]))
            else:
                out.append(f"First{i} Last{i}, {age}, {field}")
                kept += age > 20
        with open(os.path.join(directory, f"students-{f:03}.txt"), "w") as fh:
            fh.write("\n".join(out) + "\n")
    return {"lines": per * files, "files": files, "kept": kept}


def mariadb(sql):
    return subprocess.run(["mariadb", "-h", "127.0.0.1", "-u", "root", "-N", "-B", "test", "-e", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def loaded():
    count, ages = mariadb(f"SELECT COUNT(*), COALESCE(SUM(age), 0) FROM {TABLE}").split("\t")
    return int(count), int(ages)


def run(root, work, lines, files, runs):
    weir_bin = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "weir")
    data = os.path.join(work, "s3mysql")
    shutil.rmtree(data, ignore_errors=True)
    manifest = generate(os.path.join(data, "students"), lines, files)
    s3, endpoint = case_lake.start_s3(root)
    try:
        python = os.path.join(root, "target", "s3-venv", "bin", "python")
        subprocess.run([python, os.path.join(root, "examples", "s3-mysql", "upload.py"), endpoint, "bench",
                        "students/", os.path.join(data, "students")], check=True, capture_output=True,
                       env=dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                                AWS_REGION="us-east-1"))
        env = dict(os.environ, WEIR_BENCH_S3=endpoint, WEIR_BENCH_LAKE=data, WEIR_LOG="warn")
        weir_cmd = [weir_bin, "run", os.path.join(BENCH, "s3mysql.toml"), "--available-now"]
        spark_cmd = [sys.executable, os.path.join(BENCH, "s3mysql_spark.py"), os.path.join(data, "students"),
                     TABLE, os.path.join(data, "spark-checkpoint")]

        def fresh():
            mariadb(f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (first_name TEXT, last_name TEXT, "
                    "age BIGINT, field TEXT)")
            shutil.rmtree(os.path.join(data, "spark-checkpoint"), ignore_errors=True)

        fresh()
        measure.run(weir_cmd, env=env)  # fills the compiled-component cache
        samples = []
        for i in range(runs):
            fresh()
            print(f"s3mysql: run {i + 1} of {runs}: weir...", file=sys.stderr, flush=True)
            weir = measure.run(weir_cmd, env=env)
            by_weir = loaded()
            fresh()
            print(f"s3mysql: run {i + 1} of {runs}: PySpark...", file=sys.stderr, flush=True)
            spark = measure.run(spark_cmd, env=env)
            by_spark = loaded()
            if by_weir != by_spark or by_weir[0] != manifest["kept"]:
                raise case_lake.Disagree(f"{manifest['kept']} students to keep; weir loaded (rows, age sum) "
                                         f"{by_weir}, Spark {by_spark}")
            samples.append(measure.versus_spark(weir, spark, rows_out=by_weir[0]))
    finally:
        s3.terminate()
        s3.wait()
    return {
        "input": manifest,
        "runs": samples,
        "command": "bench/run --cases s3mysql",
        **measure.against_spark(samples, manifest["lines"]),
    }
