"""`tickpipe athena --engine athena` against the fake AWS endpoint, which
checks every SigV4 signature and every request against botocore's Athena
model (test/fake_aws/services/athena.py scripts the answers): start with an
idempotency token and an output location, polling through QUEUED after
RUNNING, failures with StateChangeReason and AthenaError, more than 1000
rows in pages with the header row skipped once, typed values, statistics,
Ctrl-C sending StopQueryExecution."""
import csv
import gzip
import io
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

KEY, SECRET = "AKIDATHENA", "athena-secret-0123456789"
OUTPUT = "s3://query-results/tickpipe/"


def expected_rows(count):
    """What the fake's generate_rows(N) returns, as CSV fields."""
    rows = []
    for n in range(1, count + 1):
        rows.append([str(n), f"S{n % 50:02d}", repr(round(100 + n / 8, 3)), "true" if n % 2 else "false",
                     "" if n % 7 == 0 else f"tick {n}, \"quoted\"", f"2024-03-{1 + n % 28:02d}"])
    return rows


def body():
    fake, url = h.fake_aws("--credentials", f"{KEY}:{SECRET}", "--bucket", "lake")
    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": url, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
           "TICKPIPE_ATHENA_OUTPUT": OUTPUT, "TICKPIPE_DUCKDB_LIB": "/nonexistent/libduckdb.so"}

    def athena(*args, extra=None):
        e = dict(env)
        e.update(extra or {})
        result = h.tickpipe("athena", "--engine", "athena", *args, env=e, input=b"")
        result.stdout = result.stdout.decode()
        result.stderr = result.stderr.decode()
        return result

    def log():
        return h.fake_aws_control(url, "/_fake/log")

    def operations():
        return [entry["operation"] for entry in log() if entry["service"] == "athena"]

    h.fake_aws_control(url, "/_fake/reset", {})
    r = athena("SELECT * FROM generate_rows(2500)", "-v")
    rows = list(csv.reader(io.StringIO(r.stdout, newline="")))
    h.check("2500 rows over three pages, no libduckdb needed", r.returncode == 0 and len(rows) == 2501, r.stderr)
    h.check_equal("header once, then the rows as Athena sent them", rows[:1] + rows[1:][:3] + rows[-2:],
                  [["n", "symbol", "price", "up", "note", "day"]] + expected_rows(2500)[:3] + expected_rows(2500)[-2:])
    h.check_equal("every row, in order", rows[1:], expected_rows(2500))
    ops = operations()
    h.check_equal("GetQueryResults paged by 1000 (header row included in the first page)",
                  ops.count("GetQueryResults"), 3)
    h.check("polled through QUEUED, RUNNING, QUEUED, RUNNING until SUCCEEDED",
            ops.count("GetQueryExecution") == 5 and ops[0] == "StartQueryExecution", ops)
    h.check("states reported with -v", "QUEUED" in r.stderr and "RUNNING" in r.stderr, r.stderr)
    h.check("data scanned and engine time on stderr",
            "2500 rows in" in r.stderr and "123.5 MB scanned" in r.stderr and "engine 1.234 s" in r.stderr,
            r.stderr)

    r = athena("SELECT * FROM generate_rows(8)", "--format", "json")
    values = [json.loads(line) for line in r.stdout.splitlines()]
    h.check("values typed from ResultSetMetadata", len(values) == 8 and values[0]["n"] == 1 and
            values[0]["price"] == 100.125 and values[0]["up"] is True and values[6]["note"] is None and
            values[0]["day"] == "2024-03-02", r.stdout)

    r = athena("SHOW TABLES", "--format", "csv")
    h.check_equal("a UTILITY statement has no header row to skip", r.stdout, "tab_name\r\nticks\r\ntrades\r\n")

    r = athena("SELECT fail_syntax FROM ticks")
    h.check("a failed query: StateChangeReason and AthenaError",
            r.returncode == 1 and "FAILED: SYNTAX_ERROR: line 1:8: Column 'fail_syntax' cannot be resolved"
            in r.stderr and "AthenaError category 2 user, type 1006" in r.stderr, r.stderr)

    r = athena("SELECT 1", extra={"TICKPIPE_ATHENA_OUTPUT": ""})
    h.check("no output location: Athena's own message", r.returncode == 1 and
            "No output location provided" in r.stderr, r.stderr)
    r = athena("SELECT 1", "--workgroup", "configured", extra={"TICKPIPE_ATHENA_OUTPUT": ""})
    h.check("a work group with its own output location", r.returncode == 0 and r.stdout == "_col0\r\n1\r\n",
            r.stderr)
    r = athena("SELECT 1", "--output-location", "/tmp/results")
    h.check("--output-location must be s3://", r.returncode == 2 and "s3://" in r.stderr, r.stderr)

    h.fake_aws_control(url, "/_fake/reset", {})
    r = athena("COPY (SELECT 1) TO 's3://x/y'")
    h.check("refused statements never reach Athena", r.returncode == 2 and "refused" in r.stderr and
            operations() == [], r.stderr)

    r = athena("SELECT 1", extra={"AWS_SECRET_ACCESS_KEY": "wrong"})
    h.check("a wrong secret: the signature is refused", r.returncode == 1 and
            "InvalidSignatureException" in r.stderr, r.stderr)

    h.fake_aws_control(url, "/_fake/reset", {})
    h.fake_aws_control(url, "/_fake/faults", {"kind": "500", "count": 1, "operation": "StartQueryExecution"})
    r = athena("SELECT * FROM generate_rows(3)")
    starts = [e for e in log() if e["operation"] == "StartQueryExecution"]
    h.check("StartQueryExecution retried after a 500 (same ClientRequestToken)",
            r.returncode == 0 and len(starts) == 2 and r.stdout.count("\r\n") == 4, (r.stderr, starts))

    e = dict(env)
    h.fake_aws_control(url, "/_fake/reset", {})
    proc = h.start([h.TICKPIPE, "athena", "--bucket", "s3://lake/prefix", "SELECT sleep_forever"], env=e,
                   stderr=subprocess.PIPE)
    time.sleep(1.5)
    stderr = h.interrupt(proc, timeout=20)[1].decode()
    ops = operations()
    h.check("--bucket picks Athena; Ctrl-C sends StopQueryExecution", proc.returncode == 2 and
            "interrupted" in stderr and "StopQueryExecution" in ops and ops[0] == "StartQueryExecution",
            (proc.returncode, stderr, ops))

    duckdb = os.path.join(h.ROOT, "deps", "duckdb", "libduckdb.so")
    if os.path.exists(duckdb):
        env["TICKPIPE_DUCKDB_LIB"] = duckdb
        s3_lake_tests(url, env, h.tempdir())
    else:
        h.skip("local engine on an S3 lake", "deps/duckdb/libduckdb.so absent (make deps)")


def s3_lake_tests(url, env, root):
    """The local engine on a lake in S3: Glue (or the bucket's own) catalog,
    objects copied once into the local mirror and again when they change."""
    lake = os.path.join(root, "lake")
    lines = []
    for row in csv.DictReader(open(os.path.join(h.TESTDATA, "stocks.csv"))):
        if row["date"].endswith("2010"):
            lines.append(row)
    by_month = {}
    for row in lines:
        month = time.strftime("%Y-%m-%d", time.strptime(row["date"], "%b %d %Y"))
        by_month.setdefault(month, []).append(json.dumps(
            {"symbol": row["symbol"], "date": month + "T00:00:00.000Z", "price": float(row["price"])}))
    for month, rows in by_month.items():
        folder = os.path.join(lake, "ticks", f"dt={month}")
        os.makedirs(folder)
        with gzip.open(os.path.join(folder, "ticks+0+00000000000000000000.jsonl.gz"), "wt") as f:
            f.write("\n".join(rows) + "\n")
    e = dict(env)
    e["TICKPIPE_CACHE_DIR"] = os.path.join(root, "mirror")
    e["TICKPIPE_CACHE"] = "off"

    def run(*args):
        r = h.tickpipe(*args, env=e, input=b"")
        r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
        return r

    copied = run("s3", "cp", "-r", "-q", os.path.join(lake, "ticks"), "s3://lake/data/ticks")
    crawled = run("crawl", "-q", "--bucket", "s3://lake/data")
    crawled_local = run("crawl", "-q", "--bucket", "s3://lake/data", "--catalog", "local", "--database", "inbucket")
    if not h.check("S3 lake: uploaded and crawled into Glue and into the bucket",
                   copied.returncode == 0 and crawled.returncode == 0 and crawled_local.returncode == 0,
                   copied.stderr + crawled.stderr + crawled_local.stderr):
        return
    sql = "SELECT symbol, count(*) AS n, round(sum(price), 6) AS total FROM ticks GROUP BY 1 ORDER BY 1"
    want = {}
    for row in lines:
        want.setdefault(row["symbol"], [0, 0.0])
        want[row["symbol"]][0] += 1
        want[row["symbol"]][1] += float(row["price"])

    def answers(result):
        return {r[0]: (int(r[1]), float(r[2])) for r in list(csv.reader(io.StringIO(result.stdout)))[1:]}

    h.fake_aws_control(url, "/_fake/reset", {})
    first = run("athena", sql, "--bucket", "s3://lake/data", "--engine", "local")
    gets = sum(1 for x in h.fake_aws_control(url, "/_fake/log") if x["operation"] == "GetObject")
    h.check("S3 lake, Glue catalog, local engine: the right answer",
            first.returncode == 0 and {k: v[0] for k, v in answers(first).items()} ==
            {k: v[0] for k, v in want.items()} and
            all(abs(answers(first)[k][1] - v[1]) < 1e-6 for k, v in want.items()), first.stderr)
    h.check_equal("S3 lake: each object copied once", gets, len(by_month))
    h.fake_aws_control(url, "/_fake/reset", {})
    again = run("athena", sql, "--bucket", "s3://lake/data", "--engine", "local")
    gets = sum(1 for x in h.fake_aws_control(url, "/_fake/log") if x["operation"] == "GetObject")
    h.check("S3 lake: the mirror is reused", again.stdout == first.stdout and gets == 0,
            (gets, first.stdout, again.stdout, again.stderr))
    # an object replaced in S3: its new bytes are read
    month = sorted(by_month)[0]
    replaced = os.path.join(root, "replaced.jsonl.gz")
    with gzip.open(replaced, "wt") as f:
        f.write(json.dumps({"symbol": "NEW", "date": month + "T00:00:00.000Z", "price": 1.0}) + "\n")
    run("s3", "cp", "-q", replaced, f"s3://lake/data/ticks/dt={month}/ticks+0+00000000000000000000.jsonl.gz")
    changed = run("athena", sql, "--bucket", "s3://lake/data", "--engine", "local")
    h.check("S3 lake: a replaced object is copied again", "NEW,1," in changed.stdout and
            changed.stdout.count("\n") == 7, changed.stdout)
    local_catalog = run("athena", "SELECT count(*) AS n FROM ticks", "--bucket", "s3://lake/data", "--catalog", "local",
                        "--database", "inbucket")
    h.check("S3 lake with its catalog in the bucket: the local engine by default",
            local_catalog.returncode == 0 and local_catalog.stdout.splitlines()[1] == str(len(lines) - 4),
            local_catalog.stdout + local_catalog.stderr)


if __name__ == "__main__":
    h.main(body)
