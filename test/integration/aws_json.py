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
    r = call("glue", "AWSGlue", "GetTables", '{"DatabaseName": "d"}')
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
    h.fake_aws_control(url, "/_fake/reset", {})
    h.fake_aws_control(url, "/_fake/clock", {"offset": -7200})
    r = call("glue", "AWSGlue", "GetDatabases", "{}")
    log = h.fake_aws_control(url, "/_fake/log")
    h.check("InvalidSignatureException 'Signature expired' corrects the clock and retries",
            r.returncode == 0 and [e["status"] for e in log] == [400, 200], r.stderr + str(log))
    h.stop(fake)


h.main(body)
