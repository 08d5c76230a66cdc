"""Secrets never reach the terminal: every S3 and JSON path is run at the
highest verbosity (-vvv: debug and trace, canonical requests included),
with session tokens from the environment and from IMDSv2, successes and
failures alike, and neither the secret key, the session token nor the
Authorization header may appear anywhere in stdout or stderr."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

KEY, SECRET, TOKEN = "ASIASECRETS", "SECRET-never-printed-9f8e7d6c5b4a", "TOKEN-never-printed-a1b2c3/+="


def body():
    fake, url = h.fake_aws("--credentials", f"{KEY}:{SECRET}:{TOKEN}", "--bucket", "lake", "--imds")
    tmp = h.tempdir()
    with open(f"{tmp}/small", "wb") as f:
        f.write(b"x" * 100)
    with open(f"{tmp}/big", "wb") as f:
        f.write(os.urandom(6 * 1024 * 1024))
    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": TOKEN,
           "AWS_REGION": "us-east-1", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}
    outputs = []

    def s3(*args, extra=None):
        e = dict(env)
        e.update(extra or {})
        r = h.tickpipe("s3", *args, "--endpoint-url", url, "-vvv", env=e)
        outputs.append((" ".join(args), r))
        return r

    s3("cp", f"{tmp}/small", "s3://lake/small")
    s3("cp", "--part-size", "5MiB", f"{tmp}/big", "s3://lake/big")
    s3("ls", "-r", "s3://lake/")
    s3("cp", "s3://lake/small", f"{tmp}/back")
    s3("rm", "-r", "s3://lake/")
    h.fake_aws_control(url, "/_fake/faults", {"kind": "500", "count": 1})
    h.fake_aws_control(url, "/_fake/clock", {"offset": 3600})
    s3("cp", f"{tmp}/small", "s3://lake/retried")
    h.fake_aws_control(url, "/_fake/clock", {"offset": 0})
    wrong = s3("ls", "s3://lake/", extra={"AWS_SECRET_ACCESS_KEY": SECRET + "x"})
    h.check("the wrong-secret run failed as it should", wrong.returncode == 1, wrong.stderr)
    s3("ls", "s3://lake/", extra={"AWS_SESSION_TOKEN": TOKEN + "x"})
    s3("cat", "s3://lake/none")
    # IMDSv2: the fake mints its own secret and token; collect them from the
    # role document the same way the client gets it.
    imds = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
            "AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": url}
    imds_run = s3("ls", "s3://lake/", extra=imds)
    h.check("IMDS run worked", imds_run.returncode == 0, imds_run.stderr)
    helper = os.path.join(h.BUILD, "test", "helpers", "aws_call")
    r = h.run([helper, "glue", "AWSGlue", "GetDatabases", "{}", "-vvv"],
              env=dict(env, AWS_ENDPOINT_URL=url))
    outputs.append(("aws_call glue", r))

    h.check("trace output was produced", any("canonical request" in r.stderr for _, r in outputs))
    for what, r in outputs:
        text = (r.stdout if isinstance(r.stdout, str) else r.stdout.decode(errors="replace")) + \
               (r.stderr if isinstance(r.stderr, str) else r.stderr.decode(errors="replace"))
        leaked = [name for name, value in (("secret key", SECRET), ("session token", TOKEN),
                                           ("IMDS secret", "IMDSTOKEN"),
                                           ("Authorization header", "Signature="),
                                           ("Authorization header", "Authorization"))
                  if value in text]
        h.check(f"-vvv {what}: no secret in the output", not leaked, leaked)
    h.stop(fake)


h.main(body)
