"""The JSON-protocol path (aws/json_rpc, used by the Glue and Athena
clients) against the fake AWS endpoint: generic SigV4 rules checked by
botocore's SigV4Auth, X-Amz-Target routing, model validation, JSON error
codes, retries on ThrottlingException and the clock-skew correction."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

KEY, SECRET = "AKIDJSON", "json-secret-0123456789"


def body():
    fake, url = h.fake_aws("--credentials", f"{KEY}:{SECRET}")
    helper = os.path.join(h.BUILD, "test", "helpers", "aws_call")
    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": url, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}

    def call(*args, extra=None):
        e = dict(env)
        e.update(extra or {})
        return h.run([helper] + list(args), env=e, valgrind=True)

    r = call("glue", "AWSGlue", "GetDatabases", "{}")
    h.check("glue GetDatabases: signed and routed", r.returncode == 0
            and json.loads(r.stdout or "{}") == {"DatabaseList": []}, r.stderr)
    r = call("athena", "AmazonAthena", "ListWorkGroups", '{"MaxResults": 5}')
    h.check("athena ListWorkGroups: signed and routed", r.returncode == 0
            and "primary" in r.stdout, r.stderr)
    r = call("glue", "AWSGlue", "GetDatabases", "{}", extra={"AWS_SECRET_ACCESS_KEY": "bad"})
    h.check("wrong secret: InvalidSignatureException pointing at the credentials",
            r.returncode == 1 and "InvalidSignatureException" in r.stderr
            and "AWS_SECRET_ACCESS_KEY" in r.stderr, r.stderr)
    r = call("glue", "AWSGlue", "GetTable", '{"DatabaseName": "d"}')
    h.check("a request that breaks the model is refused with the reason",
            r.returncode == 1 and "Name" in r.stderr and "HTTP 400" in r.stderr, r.stderr)
    r = call("glue", "AWSGlue", "GetCrawlers", "{}")
    h.check("an operation the fake lacks says so", r.returncode == 1
            and "NotImplemented" in r.stderr, r.stderr)
    r = call("glue", "AWSGlue", "GetDatabases", "{}", extra={"AWS_ENDPOINT_URL_GLUE": url,
                                                          "AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
    h.check("AWS_ENDPOINT_URL_GLUE beats AWS_ENDPOINT_URL", r.returncode == 0, r.stderr)

    h.fake_aws_control(url, "/_fake/faults", {"kind": "throttle", "count": 2})
    h.fake_aws_control(url, "/_fake/faults", {"kind": "500", "count": 1})
    r = call("glue", "AWSGlue", "GetDatabases", "{}", "-v")
    h.check("ThrottlingException and 500 are retried", r.returncode == 0
            and "ThrottlingException" in r.stderr, r.stderr)
    # The query protocol (SNS): form POST signed with the generic rules, XML answer.
    r = call("--query", "sns", "2010-03-31", "Publish",
             "TopicArn=arn:aws:sns:us-east-1:123456789012:alerts", "Message=AAPL > 200 & rising")
    h.check("sns Publish over the query protocol", r.returncode == 0 and "MessageId=" in r.stdout,
            r.stderr)
    r = call("--query", "sns", "2010-03-31", "Publish", "Message=no topic", "Bogus=1")
    h.check("sns: a parameter the model lacks is refused", r.returncode == 1
            and "Bogus" in r.stderr, r.stderr)
    r = call("--query", "sns", "2010-03-31", "Publish", "TopicArn=arn:x", "Message=m",
             extra={"AWS_SECRET_ACCESS_KEY": "bad"})
    h.check("sns: wrong secret is refused with the hint", r.returncode == 1
            and "SignatureDoesNotMatch" in r.stderr and "AWS_SECRET_ACCESS_KEY" in r.stderr,
            r.stderr)
    h.fake_aws_control(url, "/_fake/faults", {"kind": "throttle", "count": 1,
                                             "operation": "Publish"})
    r = call("--query", "sns", "2010-03-31", "Publish", "TopicArn=arn:x", "Message=m")
    h.check("sns: Throttling is retried", r.returncode == 0, r.stderr)

    # HeadObject (used by consume, not by tickpipe s3).
    h.fake_aws_control(url, "/_fake/buckets", {"name": "lake"})
    tmp = h.tempdir()
    with open(f"{tmp}/obj", "w") as f:
        f.write("12345")
    h.tickpipe("s3", "cp", f"{tmp}/obj", "s3://lake/k e=y", "--content-type", "text/plain",
               env=env)
    r = call("--s3-head", "s3://lake/k e=y")
    h.check("HeadObject: size, ETag and type", r.returncode == 0 and "size=5 " in r.stdout
            and 'etag="827ccb0eea8a706c4c34a16891f84e7b"' in r.stdout
            and "type=text/plain" in r.stdout, r.stdout + r.stderr)
    r = call("--s3-head", "s3://lake/missing")
    h.check("HeadObject of a missing key: 404 NotFound", r.returncode == 1
            and "HTTP 404 NotFound" in r.stderr, r.stderr)

    h.fake_aws_control(url, "/_fake/reset", {})
    h.fake_aws_control(url, "/_fake/clock", {"offset": -7200})
    r = call("glue", "AWSGlue", "GetDatabases", "{}")
    log = h.fake_aws_control(url, "/_fake/log")
    h.check("InvalidSignatureException 'Signature expired' corrects the clock and retries",
            r.returncode == 0 and [e["status"] for e in log] == [400, 200], r.stderr + str(log))
    h.stop(fake)


h.main(body)
