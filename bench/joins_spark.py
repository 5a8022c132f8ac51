"""The joins case in PySpark Structured Streaming: the same job as
bench/joins.toml, on the same files.

    python joins_spark.py EVENTS CUSTOMERS OUT CHECKPOINT

A stream–static inner join, tuned as a Spark user would tune it on two
cores: local[2], the 1 M-row table broadcast (it is below what a join
would shuffle well), 2 shuffle partitions, no UI, Trigger.AvailableNow with
one file per micro-batch as weir reads them. Prints the session start-up
and query times as JSON on stdout.
"""
import json
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main(events, customers, out, checkpoint):
    started = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("weir-bench-joins")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    session_ready = time.perf_counter()

    table = (spark.read.schema("customer_id BIGINT, segment STRING, country STRING")
             .option("header", True).csv(customers))
    stream = (spark.readStream.schema("event_id STRING, customer_id BIGINT, amount DOUBLE")
              .option("header", True).option("maxFilesPerTrigger", 1).csv(events))
    enriched = stream.join(F.broadcast(table), "customer_id", "inner")
    query = (enriched.writeStream.format("parquet").outputMode("append")
             .option("path", out).option("checkpointLocation", checkpoint)
             .trigger(availableNow=True).start())
    query.awaitTermination()
    done = time.perf_counter()
    batches = len(query.recentProgress)
    spark.stop()
    print(json.dumps({"session_s": session_ready - started, "query_s": done - session_ready,
                      "micro_batches": batches}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
