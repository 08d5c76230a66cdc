"""TLS is always verified: against s3rver serving HTTPS with a private,
self-signed certificate, tickpipe refuses the connection until the CA is
given with AWS_CA_BUNDLE, and the refusal is a clear one-line error."""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402


def body():
    if not shutil.which("openssl"):
        h.skip("tls", "openssl command not found")
        return
    tmp = h.tempdir()
    key, cert = f"{tmp}/key.pem", f"{tmp}/cert.pem"
    r = h.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
               "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
               "-keyout", key, "-out", cert])
    if r.returncode != 0:
        h.skip("tls", "cannot make a test certificate: " + r.stderr[-200:])
        return
    peer = h.s3rver(f"{tmp}/data", ["lake"], tls=(key, cert))
    if peer is None:
        h.skip("tls", "s3rver not installed (run make deps)")
        return
    proc, url = peer
    env = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER",
           "AWS_REGION": "us-east-1", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}
    h.check("the peer serves HTTPS", url.startswith("https://"), url)
    r = h.tickpipe("s3", "ls", "s3://lake/", "--endpoint-url", url, "--aws-max-attempts", "2",
                   env=env)
    h.check("an unknown CA is refused with one clear line",
            r.returncode == 1 and "ListObjectsV2 s3://lake/" in r.stderr
            and "certificate" in r.stderr.lower() and len(r.stderr.strip().splitlines()) == 1,
            r.stderr)
    with open(f"{tmp}/obj", "w") as f:
        f.write("over tls\n")
    env["AWS_CA_BUNDLE"] = cert
    r = h.tickpipe("s3", "cp", f"{tmp}/obj", "s3://lake/obj", "--endpoint-url", url, env=env)
    h.check("AWS_CA_BUNDLE trusts the private CA", r.returncode == 0, r.stderr)
    r = h.tickpipe("s3", "cat", "s3://lake/obj", "--endpoint-url", url, env=env)
    h.check_equal("the object comes back over TLS", r.stdout, "over tls\n")
    h.stop(proc)


h.main(body)
