"""A real client's POST form: boto3 `generate_presigned_post`, posted with urllib3.

Usage: post_object_boto3.py ENDPOINT BUCKET PREFIX ACCESS_KEY SECRET_KEY [SESSION_TOKEN]
Prints one JSON line: {"status": ..., "key": ..., "body": ...} for each of the cases below.
"""
import json
import sys

import boto3
import urllib3
from botocore.config import Config

endpoint, bucket, prefix, ak, sk = sys.argv[1:6]
token = sys.argv[6] if len(sys.argv) > 6 else None
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=ak,
    aws_secret_access_key=sk,
    aws_session_token=token,
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
)
http = urllib3.PoolManager()


def post(key, body, fields=None, conditions=None):
    p = s3.generate_presigned_post(
        bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=300
    )
    form = dict(p["fields"])
    form["file"] = ("hello.txt", body, "text/plain")
    r = http.request("POST", p["url"], fields=form)
    return {"status": r.status, "key": key, "body": r.data.decode()}


results = [
    # Plain upload: 204.
    post(prefix + "plain.txt", b"hello from boto3"),
    # ${filename}, metadata, content type, 201 with the XML body, size bounded.
    post(
        prefix + "${filename}",
        b"named by the file",
        fields={
            "Content-Type": "text/plain",
            "x-amz-meta-origin": "boto3",
            "success_action_status": "201",
        },
        conditions=[
            {"Content-Type": "text/plain"},
            {"x-amz-meta-origin": "boto3"},
            {"success_action_status": "201"},
            ["starts-with", "$key", prefix],
            ["content-length-range", 1, 1024],
        ],
    ),
    # Too large for the policy's range: EntityTooLarge.
    post(
        prefix + "big.bin",
        b"x" * 2048,
        conditions=[["content-length-range", 1, 1024]],
    ),
]
for r in results:
    print(json.dumps(r))
