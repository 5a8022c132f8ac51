"""The joins case's input: a reference table of customers (id, segment,
country) and purchase events in CSV files, a tenth of them by customers the
table does not have. Deterministic for a seed; returns what it wrote,
including how many events match, which both engines must agree on.
"""
import os
import random
import shutil

SEGMENTS = ["gold", "silver", "bronze", "platinum"]


def generate(directory, customers, events, files, seed=7):
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(os.path.join(directory, "events"))
    with open(os.path.join(directory, "customers.csv"), "w") as f:
        f.write("customer_id,segment,country\n")
        for i in range(customers):
            f.write(f"{i},{SEGMENTS[i % 4]},C{i % 50:02d}\n")
    rng = random.Random(seed)
    matched = 0
    per_file = events // files
    for n in range(files):
        with open(os.path.join(directory, "events", f"events-{n:03d}.csv"), "w") as f:
            f.write("event_id,customer_id,amount\n")
            for i in range(per_file):
                customer = rng.randrange(customers * 10 // 9)
                matched += customer < customers
                f.write(f"e{n}-{i},{customer},{rng.randrange(1, 100_000) / 100}\n")
    return {"directory": directory, "customers": customers, "events": per_file * files,
            "files": files, "matched": matched, "seed": seed}
