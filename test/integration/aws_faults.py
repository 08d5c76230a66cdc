"""Retries under every fault the fake AWS endpoint can inject: each fault
is followed by success, the log shows the failed attempts then the good
one; when attempts run out the error is one clear line."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

KEY, SECRET = "AKIDFAULTS", "faults-secret-0123456789"


def body():
    fake, url = h.fake_aws("--credentials", f"{KEY}:{SECRET}", "--bucket", "lake")
    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_EC2_METADATA_DISABLED": "true"}
    tmp = h.tempdir()
    with open(f"{tmp}/obj", "wb") as f:
        f.write(b"survives faults\n")

    def s3(*args):
        return h.tickpipe("s3", *args, "--endpoint-url", url, "-v", env=env, timeout=60)

    cases = [
        ("500", {"count": 3}, "HTTP 500 InternalError"),
        ("slowdown", {"count": 2}, "HTTP 503 SlowDown"),
        ("throttle", {"count": 2}, "HTTP 400 Throttling"),
        ("429", {"count": 2}, "HTTP 429"),
        ("timeout", {"count": 2}, "HTTP 400 RequestTimeout"),
        ("reset", {"count": 2}, "retry"),
        ("slow", {"count": 1, "seconds": 3}, "retry"),
    ]
    for kind, extra, expect in cases:
        h.fake_aws_control(url, "/_fake/reset", {})
        h.fake_aws_control(url, "/_fake/faults", dict(kind=kind, operation="PutObject", **extra))
        args = ["cp", f"{tmp}/obj", f"s3://lake/{kind}.txt"]
        if kind == "slow":
            args += ["--aws-timeout", "1s"]
        r = s3(*args)
        log = h.fake_aws_control(url, "/_fake/log")
        faulted = [e for e in log if e["fault"] == kind]
        h.check(f"{kind}: retried until success", r.returncode == 0
                and len(faulted) == extra["count"] and log[-1]["status"] == 200, r.stderr + str(log))
        h.check(f"{kind}: each retry is logged with its cause", expect in r.stderr, r.stderr)
        got = s3("cat", f"s3://lake/{kind}.txt")
        h.check_equal(f"{kind}: the object is intact", got.stdout, "survives faults\n")

    # Faults on a listing and on a download too (GET paths, body to a sink).
    h.fake_aws_control(url, "/_fake/faults", {"kind": "slowdown", "count": 2,
                                             "operation": "ListObjectsV2"})
    r = s3("ls", "-r", "s3://lake/")
    h.check("listing retried after SlowDown", r.returncode == 0 and "500.txt" in r.stdout, r.stderr)
    h.fake_aws_control(url, "/_fake/faults", {"kind": "reset", "count": 1,
                                             "operation": "GetObject"})
    r = s3("cat", "s3://lake/500.txt")
    h.check_equal("download retried after a reset", r.stdout, "survives faults\n")

    # Clock skew: the server's clock is an hour ahead; the client learns the
    # offset from the Date header and retries once.
    h.fake_aws_control(url, "/_fake/reset", {})
    h.fake_aws_control(url, "/_fake/clock", {"offset": 3600})
    r = s3("cp", f"{tmp}/obj", "s3://lake/skewed.txt")
    log = h.fake_aws_control(url, "/_fake/log")
    h.check("skewed clock: corrected from Date and retried once",
            r.returncode == 0 and [e["status"] for e in log] == [403, 200], r.stderr + str(log))
    h.check("skewed clock: a warning says so", "clock differs" in r.stderr, r.stderr)
    h.fake_aws_control(url, "/_fake/clock", {"offset": 0})

    # Attempts run out: one clear line, exit 1.
    h.fake_aws_control(url, "/_fake/reset", {})
    h.fake_aws_control(url, "/_fake/faults", {"kind": "500", "count": 10})
    r = h.tickpipe("s3", "cp", f"{tmp}/obj", "s3://lake/never.txt", "--endpoint-url", url,
                   "--aws-max-attempts", "3", env=env)
    lines = r.stderr.strip().splitlines()
    h.check("attempts exhausted: exit 1", r.returncode == 1, r.stderr)
    h.check("attempts exhausted: one line with operation, target, status, code, request id",
            len(lines) == 1 and "PutObject s3://lake/never.txt: HTTP 500 InternalError" in lines[0]
            and "request id" in lines[0] and "after 3 attempts" in lines[0], r.stderr)
    h.check_equal("attempts exhausted: exactly 3 tries", len(h.fake_aws_control(url, "/_fake/log")), 3)
    h.fake_aws_control(url, "/_fake/reset", {})
    h.fake_aws_control(url, "/_fake/faults", {"kind": "reset", "count": 10})
    r = h.tickpipe("s3", "cat", "s3://lake/500.txt", "--endpoint-url", url,
                   "--aws-max-attempts", "2", env=env)
    h.check("connection resets exhausted: exit 1 naming the endpoint",
            r.returncode == 1 and "GetObject s3://lake/500.txt" in r.stderr and url in r.stderr
            and "after 2 attempts" in r.stderr, r.stderr)

    # Ctrl-C during a multipart upload: the transfer stops at once and the
    # upload is aborted (the abort itself is not interrupted).
    import signal
    import subprocess
    import time
    with open(f"{tmp}/big", "wb") as f:
        f.write(os.urandom(11 * 1024 * 1024))
    h.fake_aws_control(url, "/_fake/reset", {})
    h.fake_aws_control(url, "/_fake/faults", {"kind": "slow", "seconds": 8, "count": 5,
                                             "operation": "UploadPart"})
    full_env = dict(os.environ, **env)
    proc = h.start([h.TICKPIPE, "s3", "cp", "--part-size", "5MiB", f"{tmp}/big",
                    "s3://lake/interrupted.bin", "--endpoint-url", url], env=full_env,
                   stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline and "UploadPart" not in [
            e["operation"] for e in h.fake_aws_control(url, "/_fake/log")]:
        time.sleep(0.05)
    started = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    err = err.decode()
    ops = [e["operation"] for e in h.fake_aws_control(url, "/_fake/log")]
    h.check("SIGINT stops a stalled upload within the idle window",
            proc.returncode == 1 and "interrupted" in err and time.time() - started < 5, err)
    h.check("SIGINT: the multipart upload is aborted", ops[-1:] == ["AbortMultipartUpload"], ops)

    # Nothing listening: a connection error, retried, then a clear line.
    port = h.free_port()
    r = h.tickpipe("s3", "ls", "s3://lake/", "--endpoint-url", f"http://127.0.0.1:{port}",
                   "--aws-max-attempts", "2", env=env)
    h.check("connection refused: exit 1 with the endpoint", r.returncode == 1
            and f"127.0.0.1:{port}" in r.stderr, r.stderr)
    h.stop(fake)


h.main(body)
