"""The s3-mysql case in PySpark Structured Streaming: the ETL of
examples/s3-mysql on the same files, read from a local folder (Spark's S3
connector, hadoop-aws, comes from Maven, which these machines cannot reach),
written to MySQL through foreachBatch with PyMySQL (the JDBC driver is a
Maven jar too).

    python s3mysql_spark.py INPUT TABLE CHECKPOINT

Lines `First Last, Age, Field`: three fields, a first and a last name, a
whole non-negative age; students older than 20 kept, names and fields
upper-cased, as the students cleaner does; the rest dropped. local[2], no
UI, Trigger.AvailableNow, one file per micro-batch as weir reads them.
Prints the session start-up and query times as JSON on stdout.
"""
import json
import sys
import time

import pymysql
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

LINE = r"^\s*(\S+)\s+([^,]*\S)\s*,\s*([0-9]+)\s*,\s*([^,]*\S)\s*$"


def main(source, table, checkpoint):
    started = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("weir-bench-s3mysql")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    session_ready = time.perf_counter()

    lines = spark.readStream.option("maxFilesPerTrigger", 1).text(source)
    parsed = lines.select(
        F.upper(F.regexp_extract("value", LINE, 1)).alias("first_name"),
        F.upper(F.regexp_extract("value", LINE, 2)).alias("last_name"),
        F.regexp_extract("value", LINE, 3).alias("age"),
        F.upper(F.regexp_extract("value", LINE, 4)).alias("field"),
    )
    clean = parsed.where((F.col("age") != "") & (F.col("age").cast("int") > 20)) \
                  .withColumn("age", F.col("age").cast("int"))

    def load(batch, epoch):
        rows = [tuple(r) for r in batch.collect()]
        if not rows:
            return
        db = pymysql.connect(host="127.0.0.1", user="root", database="test")
        with db.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} (first_name, last_name, age, field) VALUES (%s, %s, %s, %s)",
                               rows)
        db.commit()
        db.close()

    query = (clean.writeStream.foreachBatch(load).option("checkpointLocation", checkpoint)
             .trigger(availableNow=True).start())
    query.awaitTermination()
    done = time.perf_counter()
    batches = len(query.recentProgress)
    spark.stop()
    print(json.dumps({"session_s": session_ready - started, "query_s": done - session_ready,
                      "micro_batches": batches}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
