"""The stocks case in PySpark Structured Streaming: the same job as
bench/stocks.toml, on the same files.

    python stocks_spark.py INCOMING OUT CHECKPOINT

local[2] (the machine's two cores) and Trigger.AvailableNow, one file per
micro-batch as weir reads them. Tuned as a user who knows Spark would tune a
two-core job: 2 shuffle partitions instead of 200 (each is a state store
per micro-batch), and no UI. Times and Parquet timestamps in UTC, written
as microseconds like weir's. Prints the session start-up and query times as
JSON on stdout.
"""
import json
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

SCHEMA = ("symbol STRING, timestamp TIMESTAMP, open DOUBLE, high DOUBLE, low DOUBLE, "
          "close DOUBLE, volume BIGINT")


def main(incoming, out, checkpoint):
    started = time.perf_counter()
    spark = (SparkSession.builder.master("local[2]").appName("weir-bench-stocks")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    session_ready = time.perf_counter()

    ticks = (spark.readStream.schema(SCHEMA).option("header", True)
             .option("maxFilesPerTrigger", 1).csv(incoming))
    bars = (ticks.filter(F.col("volume") > 0)
            .withColumn("symbol", F.upper("symbol"))
            .withWatermark("timestamp", "30 seconds")
            .groupBy(F.window("timestamp", "1 minute"), "symbol")
            .agg(F.count("*").alias("ticks"), F.sum("volume").alias("volume"),
                 F.max("high").alias("high"))
            .select(F.col("window.start").alias("window_start"),
                    F.col("window.end").alias("window_end"),
                    "symbol", "ticks", "volume", "high"))
    query = (bars.writeStream.format("parquet").outputMode("append")
             .option("path", out).option("checkpointLocation", checkpoint)
             .trigger(availableNow=True).start())
    query.awaitTermination()
    done = time.perf_counter()
    batches = len(query.recentProgress)
    spark.stop()
    print(json.dumps({"session_s": session_ready - started, "query_s": done - session_ready,
                      "micro_batches": batches}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
