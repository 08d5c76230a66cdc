"""tickpipe crawl --catalog glue against the fake AWS endpoint (SigV4 checked,
requests validated against botocore's glue model, in-memory Glue): tables
crawled to Glue read back (with botocore, an independent client) equal to
the local catalog; 250 partitions go in chunks of 100 and come back through
GetPartitions paging; AlreadyExists counts as done; throttling is retried;
a re-crawl writes nothing; a widened column reaches every partition through
BatchUpdatePartition in chunks of 100 (--on-schema-change log: untouched);
per-entry update errors make one line; S3 lakes (--bucket) default to Glue,
and a moved S3 lake's partitions follow it."""
import glob
import gzip
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

KEY, SECRET = "AKIDCRAWL", "crawl-secret-0123456789"
GOLDEN = os.path.join(h.TESTDATA, "crawl", "lakes")
# what Glue adds to what was put, and what changes on every write
GLUE_ONLY = {"CreateTime", "UpdateTime", "CreationTime", "CatalogId", "VersionId", "IsRegisteredWithLakeFormation",
             "CreatedBy", "LastAccessTime"}


def strip(doc):
    if isinstance(doc, dict):
        return {k: strip(v) for k, v in doc.items() if k not in GLUE_ONLY}
    if isinstance(doc, list):
        return [strip(v) for v in doc]
    return doc


def local_docs(lake, database):
    import json
    out = {}
    for path in glob.glob(os.path.join(lake, "_catalog", database, "tables", "*.json")):
        name = os.path.basename(path)[:-5]
        with open(path) as f:
            table = json.load(f)
        ppath = os.path.join(lake, "_catalog", database, "partitions", name + ".json")
        partitions = []
        if os.path.exists(ppath):
            with open(ppath) as f:
                partitions = json.load(f)
        out[name] = (strip(table), sorted(strip(partitions), key=lambda p: p["Values"]))
    return out


def glue_docs(client, database):
    out = {}
    tables = []
    for page in client.get_paginator("get_tables").paginate(DatabaseName=database):
        tables += page["TableList"]
    for table in tables:
        partitions = []
        for page in client.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table["Name"]):
            partitions += page["Partitions"]
        out[table["Name"]] = (strip(table), sorted(strip(partitions), key=lambda p: p["Values"]))
    return out


def operations(url, since):
    log = h.fake_aws_control(url, "/_fake/log")
    return [e["operation"] for e in log[since:] if e["service"] == "glue"], len(log)


def sampled(proc):
    m = re.search(r"(\d+) sampled", proc.stderr)
    return int(m.group(1)) if m else None


def body():
    import botocore.session
    _, url = h.fake_aws("--credentials", f"{KEY}:{SECRET}", "--bucket", "lake")
    env = {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": url, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}
    session = botocore.session.get_session()
    glue = session.create_client("glue", region_name="us-east-1", endpoint_url=url, aws_access_key_id=KEY,
                                 aws_secret_access_key=SECRET)
    s3 = session.create_client("s3", region_name="us-east-1", endpoint_url=url, aws_access_key_id=KEY,
                               aws_secret_access_key=SECRET,
                               config=botocore.config.Config(s3={"addressing_style": "path"}))

    def crawl(*args, **kwargs):
        return h.tickpipe("crawl", *args, env=env, **kwargs)

    # one lake with the golden tables plus a 250-partition one
    lake = os.path.join(h.tempdir(), "lake")
    for name in ("json_gz", "json_mixed", "csv_quoted"):
        shutil.copytree(os.path.join(GOLDEN, name), lake, dirs_exist_ok=True)
    for day in range(250):
        folder = os.path.join(lake, "wide", f"dt=2020-{1 + day // 28:02d}-{1 + day % 28:02d}")
        os.makedirs(folder)
        with open(os.path.join(folder, "wide+0+00000000000000000000.jsonl.gz"), "wb") as f:
            f.write(gzip.compress(b'{"symbol":"SPY","price":%d}\n' % day, mtime=0))

    _, mark = operations(url, 0)
    proc = crawl("--lake", lake, "--catalog", "glue", valgrind=True)
    h.check("crawl to Glue: exit 0", proc.returncode == 0, proc.stderr)
    ops, mark = operations(url, mark)
    h.check_equal("crawl to Glue: database created once", ops.count("CreateDatabase"), 1)
    h.check_equal("crawl to Glue: one CreateTable per table", ops.count("CreateTable"), 4)
    h.check_equal("crawl to Glue: 250 + 4 + 0 + 0 partitions in BatchCreatePartition calls of <= 100",
                  ops.count("BatchCreatePartition"), 3 + 1)

    proc = crawl("--lake", lake, "--catalog", "local")
    h.check("same lake to the local catalog: nothing re-read", proc.returncode == 0 and sampled(proc) == 0,
            proc.stderr)
    local = local_docs(lake, "tickpipe")
    remote = glue_docs(glue, "tickpipe")
    h.check_equal("Glue holds the same tables as the local catalog", sorted(remote), sorted(local))
    for name in sorted(local):
        h.check_equal(f"{name}: GetTable equals the local catalog's Table", remote.get(name, (None,))[0],
                      local[name][0])
        h.check_equal(f"{name}: GetPartitions (paged) equals the local catalog's partitions",
                      remote.get(name, (None, None))[1], local[name][1])

    _, mark = operations(url, 0)
    proc = crawl("--lake", lake, "--catalog", "glue")
    ops, mark = operations(url, mark)
    h.check("re-crawl to Glue: nothing sampled, nothing written",
            proc.returncode == 0 and sampled(proc) == 0 and
            not {"CreateTable", "UpdateTable", "BatchCreatePartition"} & set(ops), (ops, proc.stderr))
    h.check_equal("re-crawl to Glue: GetPartitions followed NextToken (ticks 1 page, wide 3 pages of 100)",
                  ops.count("GetPartitions"), 1 + 3)

    # a new partition that Glue already has (created by someone else): AlreadyExists is done
    folder = os.path.join(lake, "wide", "dt=2021-01-01")
    os.makedirs(folder)
    shutil.copy(os.path.join(lake, "wide", "dt=2020-01-01", "wide+0+00000000000000000000.jsonl.gz"), folder)
    glue.batch_create_partition(DatabaseName="tickpipe", TableName="wide",
                                PartitionInputList=[{"Values": ["2021-01-01"]}])
    # ... which crawl learns from GetPartitions; force the batch path by throttling it too
    h.fake_aws_control(url, "/_fake/faults", {"kind": "throttle", "count": 1, "operation": "GetTable"})
    folder2 = os.path.join(lake, "wide", "dt=2021-01-02")
    os.makedirs(folder2)
    shutil.copy(os.path.join(folder, "wide+0+00000000000000000000.jsonl.gz"), folder2)
    proc = crawl("--lake", lake, "--catalog", "glue", "-v")
    ops, mark = operations(url, mark)
    h.check("new partitions: exit 0 after a throttled GetTable was retried",
            proc.returncode == 0 and "ThrottlingException" in proc.stderr, proc.stderr)
    wide = glue_docs(glue, "tickpipe")["wide"]
    h.check_equal("new partitions: each exists once in Glue", len(wide[1]), 252)
    h.check_equal("new partitions: the table's objectCount follows", wide[0]["Parameters"]["objectCount"], "252")

    # throttled BatchCreatePartition: retried
    os.makedirs(os.path.join(lake, "wide", "dt=2021-01-03"))
    shutil.copy(os.path.join(folder, "wide+0+00000000000000000000.jsonl.gz"), os.path.join(lake, "wide", "dt=2021-01-03"))
    h.fake_aws_control(url, "/_fake/faults", {"kind": "throttle", "count": 1, "operation": "BatchCreatePartition"})
    proc = crawl("--lake", lake, "--catalog", "glue", "-v")
    h.check("BatchCreatePartition throttled then retried", proc.returncode == 0 and "ThrottlingException" in proc.stderr,
            proc.stderr)
    h.check_equal("partition count after the retried batch", len(glue_docs(glue, "tickpipe")["wide"][1]), 253)

    # a widened column: the 253 partitions follow the table in BatchUpdatePartition calls of <= 100
    os.makedirs(os.path.join(lake, "wide", "dt=2021-01-04"))
    with open(os.path.join(lake, "wide", "dt=2021-01-04", "wide+0+00000000000000000000.jsonl.gz"), "wb") as f:
        f.write(gzip.compress(b'{"symbol":"SPY","price":1.5}\n', mtime=0))
    _, mark = operations(url, 0)
    proc = crawl("--lake", lake, "--catalog", "glue", valgrind=True)
    ops, mark = operations(url, mark)
    h.check("widened column: exit 0, one UpdateTable, one BatchCreatePartition, 3 BatchUpdatePartition (100+100+53)",
            proc.returncode == 0 and (ops.count("UpdateTable"), ops.count("BatchCreatePartition"),
                                      ops.count("BatchUpdatePartition")) == (1, 1, 3), (ops, proc.stderr))
    wide = glue_docs(glue, "tickpipe")["wide"]
    columns = wide[0]["StorageDescriptor"]["Columns"]
    h.check_equal("widened column: the table's price is double", [c["Type"] for c in columns], ["string", "double"])
    h.check_equal("widened column: GetPartitions shows the table's Columns and SerDe on all 254 partitions",
                  [(p["StorageDescriptor"]["Columns"], p["StorageDescriptor"]["SerdeInfo"]) for p in wide[1]],
                  [(columns, wide[0]["StorageDescriptor"]["SerdeInfo"])] * 254)
    proc = crawl("--lake", lake, "--catalog", "glue")
    ops, mark = operations(url, mark)
    h.check("widened column: the re-crawl writes nothing",
            proc.returncode == 0 and not {"UpdateTable", "BatchCreatePartition", "BatchUpdatePartition"} & set(ops),
            (ops, proc.stderr))
    with open(os.path.join(lake, "wide", "dt=2021-01-04", "wide+1+00000000000000000000.jsonl.gz"), "wb") as f:
        f.write(gzip.compress(b'{"symbol":"SPY","price":"n/a"}\n', mtime=0))
    proc = crawl("--lake", lake, "--catalog", "glue", "--on-schema-change", "log")
    ops, mark = operations(url, mark)
    wide = glue_docs(glue, "tickpipe")["wide"]
    h.check("--on-schema-change log: no UpdateTable, no BatchUpdatePartition, partitions keep double",
            proc.returncode == 0 and not {"UpdateTable", "BatchUpdatePartition"} & set(ops) and
            {p["StorageDescriptor"]["Columns"][1]["Type"] for p in wide[1]} == {"double"} and
            "254 partitions keep columns or SerDe" in proc.stderr, (ops, proc.stderr))
    proc = crawl("--lake", lake, "--catalog", "glue")
    ops, mark = operations(url, mark)
    wide = glue_docs(glue, "tickpipe")["wide"]
    h.check("--on-schema-change update: then all 254 partitions become string in 3 calls",
            proc.returncode == 0 and ops.count("BatchUpdatePartition") == 3 and
            {p["StorageDescriptor"]["Columns"][1]["Type"] for p in wide[1]} == {"string"}, (ops, proc.stderr))

    # aws/glue directly: 150 partitions of which 60 exist (another writer won the race):
    # two calls, AlreadyExists counted as done; a partition Glue refuses fails the call
    helper = os.path.join(h.BUILD, "test", "helpers", "glue_partitions")
    glue.create_table(DatabaseName="tickpipe", TableInput={"Name": "race", "PartitionKeys": [{"Name": "n", "Type": "string"}]})
    glue.batch_create_partition(DatabaseName="tickpipe", TableName="race",
                                PartitionInputList=[{"Values": [f"{i:03d}"]} for i in range(0, 60)])
    _, mark = operations(url, 0)
    r = h.run([helper, "create", "tickpipe", "race"] + [f"{i:03d}" for i in range(0, 150)], env=env, valgrind=True)
    ops, mark = operations(url, mark)
    h.check("batch: 90 created, 60 already there, exit 0", r.returncode == 0 and r.stdout.strip() == "created 90",
            r.stdout + r.stderr)
    h.check_equal("batch: 150 partitions in 2 calls", ops.count("BatchCreatePartition"), 2)
    r = h.run([helper, "count", "tickpipe", "race"], env=env)
    h.check_equal("batch: GetPartitions pages through all 150", r.stdout.strip(), "150")
    # BatchUpdatePartition: 122 entries in 2 calls; two name no partition: one line says so
    _, mark = operations(url, 0)
    r = h.run([helper, "update", "tickpipe", "race"] + [f"{i:03d}" for i in range(0, 120)] + ["nope", "nada"],
              env=env, valgrind=True)
    ops, mark = operations(url, mark)
    h.check("batch update: 120 applied, 2 EntityNotFound reported in one line, exit 1",
            r.returncode == 1 and r.stdout.strip() == "updated 120" and len(r.stderr.strip().splitlines()) == 1 and
            "BatchUpdatePartition glue:tickpipe.race: 2 of 122 partitions failed; first: partition [\"nope\"]: "
            "EntityNotFoundException" in r.stderr, r.stdout + r.stderr)
    h.check_equal("batch update: 122 entries in 2 calls", ops.count("BatchUpdatePartition"), 2)
    race = {p["Values"][0]: p for p in glue.get_partitions(DatabaseName="tickpipe", TableName="race",
                                                            MaxResults=1000)["Partitions"]}
    race.update({p["Values"][0]: p for p in glue.get_partitions(
        DatabaseName="tickpipe", TableName="race", NextToken="100")["Partitions"]})
    h.check_equal("batch update: GetPartitions shows the new Locations, the others untouched",
                  (race["000"]["StorageDescriptor"]["Location"], race["119"]["StorageDescriptor"]["Location"],
                   "StorageDescriptor" in race["120"], len(race)),
                  ("s3://updated/000/", "s3://updated/119/", False, 150))
    glue.create_table(DatabaseName="tickpipe", TableInput={"Name": "two", "PartitionKeys": [
        {"Name": "a", "Type": "string"}, {"Name": "b", "Type": "string"}]})
    r = h.run([helper, "create", "tickpipe", "two", "x"], env=env)
    h.check("batch: a partition Glue refuses fails with its code and values",
            r.returncode == 1 and "InvalidInputException" in r.stderr and '["x"]' in r.stderr, r.stderr)

    bad = dict(env, AWS_SECRET_ACCESS_KEY="wrong")
    proc = h.tickpipe("crawl", "--lake", lake, "--catalog", "glue", env=bad)
    h.check("wrong secret: exit 1 with the signature error and the hint",
            proc.returncode == 1 and "InvalidSignatureException" in proc.stderr and
            "AWS_SECRET_ACCESS_KEY" in proc.stderr and "wrong" not in proc.stderr, proc.stderr)

    show = crawl("--lake", lake, "--catalog", "glue", "--show", "wide")
    h.check("--show reads the table back from Glue",
            show.returncode == 0 and show.stdout.startswith("CREATE EXTERNAL TABLE `tickpipe`.`wide`("),
            show.stdout + show.stderr)

    # an S3 lake: Glue by default, locations s3://bucket/prefix/table/, state kept in the bucket
    for path in glob.glob(os.path.join(GOLDEN, "json_gz", "**", "*.gz"), recursive=True):
        key = "data/" + os.path.relpath(path, os.path.join(GOLDEN, "json_gz"))
        with open(path, "rb") as f:
            s3.put_object(Bucket="lake", Key=key, Body=f.read())
    proc = crawl("--bucket", "s3://lake/data", "--database", "s3lake", valgrind=True)
    h.check("S3 lake: crawled into Glue by default", proc.returncode == 0 and sampled(proc) == 4, proc.stderr)
    table = glue_docs(glue, "s3lake").get("ticks", ({}, []))
    h.check_equal("S3 lake: table Location on S3", table[0].get("StorageDescriptor", {}).get("Location"),
                  "s3://lake/data/ticks/")
    h.check_equal("S3 lake: partition Location on S3",
                  table[1][0]["StorageDescriptor"]["Location"] if table[1] else None,
                  "s3://lake/data/ticks/dt=2000-01-01/")
    proc = crawl("--bucket", "s3://lake/data", "--database", "s3lake")
    h.check("S3 lake: re-crawl reads nothing (state in the bucket)", proc.returncode == 0 and sampled(proc) == 0,
            proc.stderr)
    # the same objects under another prefix (a moved S3 lake): the partitions follow the table
    for path in glob.glob(os.path.join(GOLDEN, "json_gz", "**", "*.gz"), recursive=True):
        key = "moved/" + os.path.relpath(path, os.path.join(GOLDEN, "json_gz"))
        with open(path, "rb") as f:
            s3.put_object(Bucket="lake", Key=key, Body=f.read())
    proc = crawl("--bucket", "s3://lake/moved", "--database", "s3lake")
    table = glue_docs(glue, "s3lake").get("ticks", ({}, []))
    h.check_equal("moved S3 lake: table and partition Locations follow it",
                  (proc.returncode, table[0].get("StorageDescriptor", {}).get("Location"),
                   sorted(p["StorageDescriptor"]["Location"] for p in table[1])),
                  (0, "s3://lake/moved/ticks/",
                   [f"s3://lake/moved/ticks/dt={d}/" for d in ("2000-01-01", "2001-01-01", "2002-01-01",
                                                               "2003-01-01")]))
    proc = crawl("--bucket", "s3://lake/data", "--database", "s3local", "--catalog", "local")
    obj = s3.get_object(Bucket="lake", Key="data/_catalog/s3local/tables/ticks.json")["Body"].read()
    h.check("S3 lake, --catalog local: the catalog documents live in the bucket",
            proc.returncode == 0 and b'"Location":"s3://lake/data/ticks/"' in obj, proc.stderr)


h.main(body)
