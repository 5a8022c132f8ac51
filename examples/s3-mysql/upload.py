"""Puts every file of FOLDER into s3://BUCKET/PREFIX (the bucket is made if
missing), as the job upstream of weir would. Credentials and region come
from the AWS_* variables, the endpoint from the first argument.

    python upload.py ENDPOINT BUCKET PREFIX FOLDER
"""
import os
import sys
import time

import boto3

endpoint, bucket, prefix, folder = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint)
for attempt in range(100):  # the server may still be starting
    try:
        s3.list_buckets()
        break
    except Exception:
        time.sleep(0.1)
if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
    s3.create_bucket(Bucket=bucket)
for name in sorted(os.listdir(folder)):
    s3.upload_file(os.path.join(folder, name), bucket, prefix + name)
    print(f"uploaded s3://{bucket}/{prefix}{name}")
