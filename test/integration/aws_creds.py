"""The credential, region and endpoint chain, the AWS CLI's order, checked
against the fake AWS endpoint (which only accepts correctly signed requests
with the right key, region and token), including IMDSv2 role credentials
and their refresh."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

KEY, SECRET = "AKIDCHAIN", "chain-secret-0123456789"
TKEY, TSECRET, TOKEN = "ASIACHAIN", "temporary-secret-abc", "session-token-xyz/+="


def body():
    fake, url = h.fake_aws("--credentials", f"{KEY}:{SECRET}",
                           "--credentials", f"{TKEY}:{TSECRET}:{TOKEN}", "--bucket", "lake",
                           "--imds")
    tmp = h.tempdir()
    creds_file, config_file = f"{tmp}/credentials", f"{tmp}/config"
    with open(creds_file, "w") as f:
        f.write(f"[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = nope\n\n"
                f"# a comment\n[good]\naws_access_key_id = {KEY}\n"
                f"aws_secret_access_key = {SECRET}\n\n"
                f"[temp]\naws_access_key_id={TKEY}\naws_secret_access_key={TSECRET}\n"
                f"aws_session_token={TOKEN}\n")
    with open(config_file, "w") as f:
        f.write(f"[default]\nregion = us-east-1\n\n[profile cfg]\nregion = us-east-1\n"
                f"aws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
                f"s3 =\n  addressing_style = path\n\n[profile elsewhere]\nregion = eu-west-3\n"
                f"aws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n\n"
                f"[profile endpoint]\nregion = us-east-1\nendpoint_url = {url}\n"
                f"aws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n")
    base = {"AWS_SHARED_CREDENTIALS_FILE": creds_file, "AWS_CONFIG_FILE": config_file,
            "AWS_EC2_METADATA_DISABLED": "true", "HOME": tmp}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)

    def ls(*args, env=None, endpoint=True):
        e = dict(base)
        e.update(env or {})
        extra = ["--endpoint-url", url] if endpoint else []
        return h.tickpipe("s3", "ls", "s3://lake/", *extra, *args, env=e)

    r = ls(env={"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET})
    h.check("environment keys are used first", r.returncode == 0, r.stderr)
    r = ls(env={"AWS_ACCESS_KEY_ID": TKEY, "AWS_SECRET_ACCESS_KEY": TSECRET,
                "AWS_SESSION_TOKEN": TOKEN})
    h.check("environment session token is sent and signed", r.returncode == 0, r.stderr)
    r = ls(env={"AWS_ACCESS_KEY_ID": TKEY, "AWS_SECRET_ACCESS_KEY": TSECRET})
    h.check("temporary keys without their token are refused", r.returncode == 1
            and "InvalidToken" in r.stderr, r.stderr)
    r = ls()
    h.check("default profile of the credentials file is used",
            r.returncode == 1 and "InvalidAccessKeyId" in r.stderr
            and "profile 'default'" in r.stderr, r.stderr)
    r = ls("--profile", "good", env={"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "x"})
    h.check("an explicit --profile wins over environment keys", r.returncode == 0, r.stderr)
    r = ls(env={"AWS_PROFILE": "good", "AWS_ACCESS_KEY_ID": "AKIDENV",
                "AWS_SECRET_ACCESS_KEY": "x"})
    h.check("AWS_PROFILE does not override environment keys (as the CLI)",
            r.returncode == 1 and "InvalidAccessKeyId" in r.stderr, r.stderr)
    r = ls(env={"AWS_PROFILE": "temp"})
    h.check("a profile's session token is used", r.returncode == 0, r.stderr)
    r = ls("--profile", "cfg")
    h.check("keys of a [profile x] section in the config file", r.returncode == 0, r.stderr)
    r = ls("--profile", "elsewhere")
    h.check("region comes from the profile", r.returncode == 1 and "eu-west-3" in r.stderr,
            r.stderr)
    r = ls("--profile", "elsewhere", "--region", "us-east-1")
    h.check("--region overrides the profile's region", r.returncode == 0, r.stderr)
    r = ls("--profile", "elsewhere", env={"AWS_REGION": "us-east-1",
                                          "AWS_DEFAULT_REGION": "eu-west-1"})
    h.check("AWS_REGION beats AWS_DEFAULT_REGION and the profile", r.returncode == 0, r.stderr)
    r = ls("--profile", "elsewhere", env={"AWS_DEFAULT_REGION": "us-east-1"})
    h.check("AWS_DEFAULT_REGION beats the profile", r.returncode == 0, r.stderr)
    r = ls("--profile", "good", endpoint=False, env={"AWS_ENDPOINT_URL_S3": url})
    h.check("AWS_ENDPOINT_URL_S3 sets the S3 endpoint", r.returncode == 0, r.stderr)
    r = ls("--profile", "good", endpoint=False, env={"AWS_ENDPOINT_URL": url})
    h.check("AWS_ENDPOINT_URL sets every endpoint", r.returncode == 0, r.stderr)
    r = ls("--profile", "good", endpoint=False,
           env={"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ENDPOINT_URL_S3": url})
    h.check("the per-service variable beats AWS_ENDPOINT_URL", r.returncode == 0, r.stderr)
    r = ls("--profile", "endpoint", endpoint=False)
    h.check("endpoint_url from the profile", r.returncode == 0, r.stderr)
    r = ls("--profile", "good", env={"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"})
    h.check("--endpoint-url beats the environment", r.returncode == 0, r.stderr)
    r = ls("--profile", "nosuch", env={"AWS_CONFIG_FILE": "/nonexistent"}, endpoint=False)
    h.check("no region anywhere is a usage error naming the fixes",
            r.returncode == 2 and "--region" in r.stderr and "AWS_REGION" in r.stderr, r.stderr)
    r = ls("--profile", "nosuch")
    h.check("no credentials anywhere: a clear error", r.returncode == 2
            and "no AWS credentials" in r.stderr and "AWS_ACCESS_KEY_ID" in r.stderr, r.stderr)

    # IMDSv2: no keys anywhere, the instance role answers.
    imds_env = {"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": url,
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
                "AWS_REGION": "us-east-1"}
    tree = f"{tmp}/tree"
    os.makedirs(tree)
    for i in range(3):
        with open(f"{tree}/f{i}", "w") as f:
            f.write(str(i))
    before = h.fake_aws_control(url, "/_fake/stats")
    r = ls(env=imds_env)
    after = h.fake_aws_control(url, "/_fake/stats")
    h.check("IMDSv2 role credentials sign requests", r.returncode == 0, r.stderr)
    h.check("IMDSv2: a session token was fetched with PUT, then role credentials",
            after["imds_token"] > before["imds_token"]
            and after["imds_credentials"] == before["imds_credentials"] + 1, str(after))
    r = h.tickpipe("s3", "cp", "-r", tree, "s3://lake/imds/", "--endpoint-url", url, "-vv",
                   env=dict(base, **imds_env))
    final = h.fake_aws_control(url, "/_fake/stats")
    h.check("IMDSv2: credentials are fetched once per process while fresh",
            r.returncode == 0 and final["imds_credentials"] == after["imds_credentials"] + 1,
            r.stderr + str(final))
    h.stop(fake)

    # Credentials close to expiry are refreshed before the next request.
    fake2, url2 = h.fake_aws("--bucket", "lake", "--imds", "--imds-ttl", "300")
    imds_env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = url2
    r = h.tickpipe("s3", "cp", "-r", tree, "s3://lake/imds/", "--endpoint-url", url2, "-vv",
                   env=dict(base, **imds_env))
    stats = h.fake_aws_control(url2, "/_fake/stats")
    h.check("IMDSv2: credentials expiring within 10 minutes are refreshed per request",
            r.returncode == 0 and stats["imds_credentials"] >= 3 and "refreshing" in r.stderr,
            r.stderr + str(stats))
    h.stop(fake2)
    r = ls(env=dict(imds_env, AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://127.0.0.1:{h.free_port()}"))
    h.check("IMDS unreachable: the error names every source tried",
            r.returncode == 2 and "no AWS credentials" in r.stderr
            and "instance metadata" in r.stderr, r.stderr)


h.main(body)
