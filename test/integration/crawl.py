"""tickpipe crawl against golden lakes (testdata/crawl/lakes -> testdata/crawl/expected),
botocore's Glue model, incremental re-crawls, bad input, --show, --interval, a
lake in consume's layout made from ../shared/data, and existing partitions
following the table (a copied lake queried through athena, a widened column,
--on-schema-change log).

CRAWL_UPDATE_GOLDEN=1 rewrites the expected catalogs (review the diff).
"""
import glob
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

GOLDEN = os.path.join(h.TESTDATA, "crawl")
UPDATE = os.environ.get("CRAWL_UPDATE_GOLDEN") == "1"
VOLATILE = ("CreateTime", "UpdateTime", "CreationTime")


def copy_lake(name):
    lake = os.path.join(h.tempdir(), name)
    shutil.copytree(os.path.join(GOLDEN, "lakes", name), lake)
    return lake


def crawl(lake, *args, **kwargs):
    return h.tickpipe("crawl", "--lake", lake, *args, **kwargs)


def summary(proc):
    """The counters of the summary line, e.g. {'sampled': 3, 'unchanged': 2, 'partitions_added': 1, ...}."""
    line = [l for l in proc.stderr.splitlines() if " objects: " in l]
    if not line:
        return {}
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (sampled|unchanged|bad|skipped)[,;]", line[-1])}
    counts["objects"] = int(re.search(r"(\d+) objects:", line[-1]).group(1))
    counts["records"] = int(re.search(r"~(\d+) records", line[-1]).group(1))
    counts["bad_records"] = int(re.search(r"(\d+) bad records", line[-1]).group(1))
    counts["tables_created"] = int(re.search(r"(\d+) tables? created", line[-1]).group(1))
    counts["tables_updated"] = int(re.search(r"(\d+) updated", line[-1]).group(1))
    counts["partitions_added"] = int(re.search(r"(\d+) partitions? added", line[-1]).group(1))
    counts["partitions_updated"] = int(re.search(r"(\d+) updated in", line[-1]).group(1))
    return counts


def catalog_docs(lake, database="tickpipe"):
    """{table: (Table, [Partition])} from the local catalog, volatile fields dropped."""
    def clean(doc):
        if isinstance(doc, dict):
            return {k: clean(v) for k, v in doc.items() if k not in VOLATILE}
        if isinstance(doc, list):
            return [clean(v) for v in doc]
        if isinstance(doc, str) and doc.startswith("file://"):
            return "file://LAKE" + doc[len("file://" + os.path.realpath(lake)):]
        return doc
    out = {}
    for path in sorted(glob.glob(os.path.join(lake, "_catalog", database, "tables", "*.json"))):
        name = os.path.basename(path)[:-5]
        with open(path) as f:
            table = json.load(f)
        partitions = []
        ppath = os.path.join(lake, "_catalog", database, "partitions", name + ".json")
        if os.path.exists(ppath):
            with open(ppath) as f:
                partitions = json.load(f)
        out[name] = (clean(table), clean(partitions))
    return out


def glue_validator():
    import botocore.session
    from botocore.validate import ParamValidator
    model = botocore.session.get_session().get_service_model("glue")
    return model, ParamValidator()


def check_glue_shapes(name, docs, database="tickpipe"):
    """Every Table/Partition, cut to its input shape, must validate against botocore's glue model."""
    model, validator = glue_validator()
    create_table = model.operation_model("CreateTable").input_shape
    batch = model.operation_model("BatchCreatePartition").input_shape
    table_members = set(create_table.members["TableInput"].members)
    partition_members = set(batch.members["PartitionInputList"].member.members)
    for table_name, (table, partitions) in docs.items():
        extra = set(table) - table_members - {"DatabaseName", *VOLATILE}
        check(f"{name}: {table_name} has only Table fields", not extra, extra)
        table_input = {k: v for k, v in table.items() if k in table_members}
        report = validator.validate({"DatabaseName": database, "TableInput": table_input}, create_table)
        check(f"{name}: {table_name} TableInput validates against glue CreateTable", not report.has_errors(),
              report.generate_report())
        if partitions:
            inputs = [{k: v for k, v in p.items() if k in partition_members} for p in partitions]
            report = validator.validate({"DatabaseName": database, "TableName": table_name,
                                         "PartitionInputList": inputs}, batch)
            check(f"{name}: {table_name} PartitionInputList validates against glue BatchCreatePartition",
                  not report.has_errors(), report.generate_report())


check = h.check


def golden_lakes():
    for path in sorted(glob.glob(os.path.join(GOLDEN, "lakes", "*"))):
        name = os.path.basename(path)
        lake = copy_lake(name)
        proc = crawl(lake, valgrind=True)
        counts = summary(proc)
        check(f"golden {name}: crawl exits 0", proc.returncode == 0, proc.stderr)
        docs = catalog_docs(lake)
        expected_path = os.path.join(GOLDEN, "expected", name + ".json")
        if UPDATE:
            os.makedirs(os.path.dirname(expected_path), exist_ok=True)
            with open(expected_path, "w") as f:
                json.dump({t: {"Table": d[0], "Partitions": d[1]} for t, d in docs.items()}, f, indent=2,
                          sort_keys=True)
                f.write("\n")
        with open(expected_path) as f:
            expected = json.load(f)
        got = json.loads(json.dumps({t: {"Table": d[0], "Partitions": d[1]} for t, d in docs.items()}))
        h.check_equal(f"golden {name}: catalog equals {os.path.relpath(expected_path, h.ROOT)}", got, expected)
        check_glue_shapes(f"golden {name}", docs)
        again = crawl(lake)
        c = summary(again)
        check(f"golden {name}: re-crawl reads nothing ({c.get('sampled')} sampled, {c.get('unchanged')} unchanged)",
              again.returncode == 0 and c.get("sampled") == 0 and c.get("unchanged") == counts.get("objects"),
              again.stderr)
        h.check_equal(f"golden {name}: re-crawl leaves the catalog as it was", catalog_docs(lake), docs)
        if name == "bad":
            for key, reason in (("truncated.jsonl.gz", "truncated gzip"), ("badline.jsonl.gz:2", "not a JSON object"),
                                ("empty.jsonl.gz", "empty object"), ("garbage.jsonl", "no JSON record")):
                check(f"golden bad: {key} reported with its reason",
                      any(key in l and reason in l for l in proc.stderr.splitlines()), proc.stderr)
            check("golden bad: 3 bad objects and 2 bad records counted, crawl still exits 0",
                  (counts.get("bad"), counts.get("objects"), counts.get("bad_records"), proc.returncode) == (3, 5, 2, 0),
                  counts)


def incremental():
    lake = copy_lake("json_gz")
    first = summary(crawl(lake))
    src = os.path.join(lake, "ticks", "dt=2003-01-01", "ticks+0+00000000000000000000.jsonl.gz")
    for i, day in enumerate(("2003-01-01", "2010-06-01", "2010-06-02")):
        dst = os.path.join(lake, "ticks", f"dt={day}", f"ticks+1+{i + 1:020d}.jsonl.gz")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(src, dst)
    proc = crawl(lake)
    c = summary(proc)
    h.check_equal("incremental: only the 3 new objects are sampled", (c.get("sampled"), c.get("unchanged")),
                  (3, first.get("objects")))
    h.check_equal("incremental: 2 new partition folders become partitions", c.get("partitions_added"), 2)
    docs = catalog_docs(lake)
    table, partitions = docs["ticks"]
    h.check_equal("incremental: partition values", sorted(p["Values"][0] for p in partitions),
                  ["2000-01-01", "2001-01-01", "2002-01-01", "2003-01-01", "2010-06-01", "2010-06-02"])
    h.check_equal("incremental: objectCount covers old and new objects", table["Parameters"]["objectCount"], "7")
    # a changed object is read again
    with gzip.open(src, "at") as f:
        f.write('{"symbol":"MSFT","date":"2003-12-01T00:00:00.000Z","price":1,"volume":7}\n')
    c = summary(crawl(lake))
    h.check_equal("incremental: a rewritten object is sampled again", c.get("sampled"), 1)
    table = catalog_docs(lake)["ticks"][0]
    h.check_equal("incremental: a column arriving later is appended",
                  [c["Name"] for c in table["StorageDescriptor"]["Columns"]], ["symbol", "date", "price", "volume"])
    # --on-schema-change log: the change is reported, the table kept
    with gzip.open(src, "at") as f:
        f.write('{"symbol":"MSFT","date":"2003-12-02T00:00:00.000Z","price":1,"volume":7.5}\n')
    proc = crawl(lake, "--on-schema-change", "log")
    check("--on-schema-change log: change logged", "volume: bigint -> double" in proc.stderr, proc.stderr)
    table = catalog_docs(lake)["ticks"][0]
    h.check_equal("--on-schema-change log: catalog keeps bigint", table["StorageDescriptor"]["Columns"][3]["Type"],
                  "bigint")
    proc = crawl(lake)
    table = catalog_docs(lake)["ticks"][0]
    h.check_equal("--on-schema-change update (default) widens to double",
                  table["StorageDescriptor"]["Columns"][3]["Type"], "double")
    check("update: change named in the log", "schema updated: volume: bigint -> double" in proc.stderr, proc.stderr)


def write_jsonl_gz(path, records):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode(), mtime=0))


def partitions_file(lake):
    path = os.path.join(lake, "_catalog", "tickpipe", "partitions", "ticks.json")
    with open(path, "rb") as f:
        return os.stat(path).st_mtime_ns, f.read()


def partitions_follow_the_table():
    """A copied lake's partitions point into the copy (athena can query it); a widened
    column reaches every partition; unchanged re-crawls and --on-schema-change log
    leave the partitions document untouched."""
    lake = os.path.join(h.tempdir(), "lake")
    for day, price in (("2024-01-01", 1), ("2024-01-02", 2)):
        write_jsonl_gz(os.path.join(lake, "ticks", f"dt={day}", "ticks+0+00000000000000000000.jsonl.gz"),
                       [{"symbol": "SPY", "price": price, "volume": 100}])
    proc = crawl(lake)
    check("moved lake: first crawl", proc.returncode == 0 and summary(proc).get("partitions_added") == 2,
          proc.stderr)
    copy = os.path.join(h.tempdir(), "elsewhere", "lake")
    shutil.copytree(lake, copy)
    proc = crawl(copy, valgrind=True)
    c = summary(proc)
    check("moved lake: the copy's crawl updates both partitions, naming why",
          proc.returncode == 0 and c.get("partitions_updated") == 2 and c.get("tables_updated") == 1 and
          "2 partitions updated (2 with a new location" in proc.stderr, proc.stderr)
    table, partitions = json.loads(json.dumps(catalog_docs(copy)["ticks"]))
    prefix = "file://" + os.path.realpath(copy) + "/ticks/"
    with open(os.path.join(copy, "_catalog", "tickpipe", "partitions", "ticks.json")) as f:
        raw = json.load(f)
    h.check_equal("moved lake: partition Locations are in the copy",
                  [p["StorageDescriptor"]["Location"] for p in raw],
                  [prefix + "dt=2024-01-01/", prefix + "dt=2024-01-02/"])
    check_glue_shapes("moved lake", {"ticks": (table, partitions)})
    duckdb = os.path.join(h.ROOT, "deps", "duckdb", "libduckdb.so")
    if os.path.exists(duckdb) or os.environ.get("TICKPIPE_DUCKDB_LIB"):
        query = h.tickpipe("athena", "SELECT dt, symbol, price FROM ticks ORDER BY dt", "--lake", copy,
                           "--cache", "off", "--server", "off", "--format", "json")
        rows = [json.loads(l) for l in query.stdout.splitlines()] if query.returncode == 0 else []
        h.check_equal("moved lake: tickpipe athena queries the copy",
                      (query.returncode, rows, query.stderr if query.returncode else ""),
                      (0, [{"dt": "2024-01-01", "symbol": "SPY", "price": 1},
                           {"dt": "2024-01-02", "symbol": "SPY", "price": 2}], ""))
    else:
        h.skip("moved lake: tickpipe athena queries the copy", "deps/duckdb/libduckdb.so absent (make deps)")

    before = partitions_file(copy)
    proc = crawl(copy)
    check("unchanged re-crawl: no partition updated, partitions document not rewritten",
          proc.returncode == 0 and summary(proc).get("partitions_updated") == 0 and partitions_file(copy) == before,
          proc.stderr)

    write_jsonl_gz(os.path.join(copy, "ticks", "dt=2024-01-03", "ticks+0+00000000000000000000.jsonl.gz"),
                   [{"symbol": "SPY", "price": 2.5, "volume": 100}])
    proc = crawl(copy)
    c = summary(proc)
    check("widened column: 1 partition added, the 2 older ones updated",
          proc.returncode == 0 and (c.get("partitions_added"), c.get("partitions_updated")) == (1, 2), proc.stderr)
    table, partitions = catalog_docs(copy)["ticks"]
    h.check_equal("widened column: every partition has the table's columns",
                  [[(col["Name"], col["Type"]) for col in p["StorageDescriptor"]["Columns"]] for p in partitions],
                  [[("symbol", "string"), ("price", "double"), ("volume", "bigint")]] * 3)
    h.check_equal("widened column: partition SerDe is the table's",
                  [p["StorageDescriptor"]["SerdeInfo"] for p in partitions],
                  [table["StorageDescriptor"]["SerdeInfo"]] * 3)

    before = partitions_file(copy)
    write_jsonl_gz(os.path.join(copy, "ticks", "dt=2024-01-03", "ticks+1+00000000000000000000.jsonl.gz"),
                   [{"symbol": "SPY", "price": "n/a", "volume": 100}])
    proc = crawl(copy, "--on-schema-change", "log")
    check("--on-schema-change log: partitions left alone and said so",
          proc.returncode == 0 and summary(proc).get("partitions_updated") == 0 and
          partitions_file(copy) == before and "3 partitions keep columns or SerDe" in proc.stderr, proc.stderr)
    proc = crawl(copy)
    table, partitions = catalog_docs(copy)["ticks"]
    check("--on-schema-change update then: table and partitions become string",
          summary(proc).get("partitions_updated") == 3 and
          {p["StorageDescriptor"]["Columns"][1]["Type"] for p in partitions} == {"string"} and
          table["StorageDescriptor"]["Columns"][1]["Type"] == "string", proc.stderr)


def options_and_exit_codes():
    lake = copy_lake("json_gz")
    proc = crawl(lake, "--infer-timestamps", "--database", "typed")
    table = catalog_docs(lake, "typed")["ticks"][0]
    h.check_equal("--infer-timestamps: ISO dates typed timestamp",
                  [c["Type"] for c in table["StorageDescriptor"]["Columns"]], ["string", "timestamp", "double"])
    check("--database: tables go to that database", os.path.exists(os.path.join(lake, "_catalog", "typed",
                                                                                 "database.json")), proc.stderr)
    env_lake = copy_lake("csv_quoted")
    proc = h.tickpipe("crawl", env={"TICKPIPE_LAKE": env_lake, "TICKPIPE_DATABASE": "fromenv"})
    check("TICKPIPE_LAKE / TICKPIPE_DATABASE are honoured",
          proc.returncode == 0 and "companies" in catalog_docs(env_lake, "fromenv"), proc.stderr)

    show = crawl(lake, "--show", "--database", "typed")
    check("--show prints CREATE EXTERNAL TABLE",
          show.returncode == 0 and show.stdout.startswith("CREATE EXTERNAL TABLE `typed`.`ticks`(") and
          "PARTITIONED BY ( \n  `dt` string)" in show.stdout and
          "LOCATION\n  'file://" in show.stdout and "TBLPROPERTIES (" in show.stdout, show.stdout + show.stderr)
    missing = crawl(lake, "--show", "nope")
    check("--show TABLE unknown: exit 1 naming it", missing.returncode == 1 and "nope" in missing.stderr,
          missing.stderr)

    empty = h.tempdir()
    proc = crawl(empty)
    check("empty lake: exit 1", proc.returncode == 1 and "no data objects" in proc.stderr, proc.stderr)
    proc = crawl(os.path.join(empty, "absent"))
    check("missing lake directory: exit 1", proc.returncode == 1 and "absent" in proc.stderr, proc.stderr)
    allbad = h.tempdir()
    os.makedirs(os.path.join(allbad, "t"))
    open(os.path.join(allbad, "t", "a.jsonl.gz"), "wb").close()
    with open(os.path.join(allbad, "t", "b.jsonl"), "w") as f:
        f.write("nope\n")
    proc = crawl(allbad)
    check("nothing readable: exit 1", proc.returncode == 1 and "could be read" in proc.stderr, proc.stderr)
    for args in (["--sample-bytes", "10"], ["--catalog", "nope"], ["--on-schema-change", "drop"], ["extra"],
                 ["--bucket", "http://x"]):
        proc = crawl(lake, *args)
        check(f"usage error {' '.join(args)}: exit 2", proc.returncode == 2, proc.stderr)

    # a small sample of a big object: the record count is an estimate from the sample
    big = h.tempdir()
    os.makedirs(os.path.join(big, "t"))
    with gzip.open(os.path.join(big, "t", "big.jsonl.gz"), "wt") as f:
        for i in range(20000):
            f.write(json.dumps({"i": i, "s": "x" * (i % 7)}) + "\n")
    proc = crawl(big, "--sample-bytes", "4KiB")
    table = catalog_docs(big)["t"][0]
    estimate = int(table["Parameters"]["recordCount"])
    check(f"--sample-bytes 4KiB: recordCount {estimate} is an estimate near 20000", 10000 < estimate < 40000,
          proc.stderr)


def interval():
    lake = copy_lake("csv_gz")
    proc = h.start([h.TICKPIPE, "crawl", "--lake", lake, "--interval", "1s"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    lines = []

    def wait_for(pattern, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = proc.stderr.readline().decode()
            if not line:
                return None
            lines.append(line)
            if re.search(pattern, line):
                return line
        return None

    first = wait_for(r" objects: ")
    check("--interval: first crawl", first and "2 sampled" in first, "".join(lines))
    shutil.copy(os.path.join(lake, "stocks", "year=2001", "stocks-2001.csv.gz"),
                os.path.join(lake, "stocks", "year=2001", "stocks-2001-b.csv.gz"))
    later = wait_for(r" 1 sampled")
    check("--interval: a later crawl reads only the new object", later is not None, "".join(lines))
    h.check_equal("--interval: SIGTERM stops it with exit 0", h.stop(proc, signal.SIGTERM), 0)


def consume_layout_from_shared_data():
    source = h.shared_file("lean_minute_trades_2013-10-04_11.csv")
    if not source:
        h.skip("consume-layout lake from ../shared/data", "lean_minute_trades_2013-10-04_11.csv absent")
        return
    out = h.tickpipe("produce", "--csv", source, "--dry-run", "-q", "--timezone", "America/New_York").stdout
    lake = h.tempdir()
    objects = {}
    for n, line in enumerate(out.splitlines()):
        key, value = line.split("\t", 1)
        tick = json.loads(value)
        part = n % 4
        folder = f"ticks/dt={tick['timestamp'][:10]}/hour={tick['timestamp'][11:13]}"
        objects.setdefault((folder, part), []).append(value)
    for (folder, part), values in objects.items():
        os.makedirs(os.path.join(lake, folder), exist_ok=True)
        # two gzip members per object, as a consumer flushing twice writes
        half = len(values) // 2
        with open(os.path.join(lake, folder, f"ticks+{part}+{0:020d}.jsonl.gz"), "wb") as f:
            f.write(gzip.compress(("\n".join(values[:half]) + "\n").encode()))
            f.write(gzip.compress(("\n".join(values[half:]) + "\n").encode()))
    os.makedirs(os.path.join(lake, "_errors", "ticks", "dt=2013-10-04"))
    with open(os.path.join(lake, "_errors", "ticks", "dt=2013-10-04", "e.jsonl"), "w") as f:
        f.write('{"raw":"x","reason":"bad"}\n')
    proc = crawl(lake)
    c = summary(proc)
    docs = catalog_docs(lake)
    check("consume layout: one table (ticks), _errors skipped", list(docs) == ["ticks"], list(docs))
    table, partitions = docs["ticks"]
    h.check_equal("consume layout: columns and Hive types",
                  [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]],
                  [("timestamp", "string"), ("symbol", "string"), ("open", "double"), ("high", "double"),
                   ("low", "double"), ("close", "double"), ("volume", "bigint")])
    h.check_equal("consume layout: partition keys dt, hour", [k["Name"] for k in table["PartitionKeys"]],
                  ["dt", "hour"])
    h.check_equal("consume layout: one partition per dt/hour folder", len(partitions),
                  len({folder for folder, _ in objects}))
    h.check_equal("consume layout: every record counted", int(table["Parameters"]["recordCount"]),
                  len(out.splitlines()))
    check("consume layout: nothing bad", c.get("bad") == 0 and proc.returncode == 0, proc.stderr)
    check_glue_shapes("consume layout", docs)


def consume_lake_from_shared_data():
    """A lake written by `tickpipe consume` (produce -> mock cluster -> consume)."""
    source = h.shared_file("lean_minute_trades_2013-10-04_11.csv")
    if not source:
        h.skip("lake written by tickpipe consume", "lean_minute_trades_2013-10-04_11.csv absent")
        return
    cluster, bootstrap = h.mock_cluster(4, ["ticks"])
    try:
        produced = h.tickpipe("produce", "-q", "-b", bootstrap, "--csv", source, "--topic", "ticks",
                              "--timezone", "America/New_York")
        lake = os.path.join(h.tempdir(), "lake")
        consumed = h.tickpipe("consume", "-q", "-b", bootstrap, "--topic", "ticks", "--lake", lake,
                              "--exit-at-end", "-p", "dt,hour")
    finally:
        h.stop(cluster)
    if not check("consume wrote the lake", produced.returncode == 0 and consumed.returncode == 0,
                 produced.stderr + consumed.stderr):
        return
    rows = sum(1 for _ in open(source)) - 1
    proc = crawl(lake, valgrind=True)
    c = summary(proc)
    docs = catalog_docs(lake)
    check("consume lake: crawled, nothing bad", proc.returncode == 0 and c.get("bad") == 0 and
          c.get("sampled") == c.get("objects") > 0, proc.stderr)
    table, partitions = docs.get("ticks", ({}, []))
    h.check_equal("consume lake: columns and Hive types",
                  [(c["Name"], c["Type"]) for c in table.get("StorageDescriptor", {}).get("Columns", [])],
                  [("timestamp", "string"), ("symbol", "string"), ("open", "double"), ("high", "double"),
                   ("low", "double"), ("close", "double"), ("volume", "bigint")])
    h.check_equal("consume lake: partition keys dt, hour", [k["Name"] for k in table.get("PartitionKeys", [])],
                  ["dt", "hour"])
    folders = {os.path.relpath(d, os.path.join(lake, "ticks")) for d, _, files in os.walk(os.path.join(lake, "ticks"))
               if any(f.endswith(".jsonl.gz") for f in files)}
    h.check_equal("consume lake: one partition per dt/hour folder",
                  sorted("dt=%s/hour=%s" % tuple(p["Values"]) for p in partitions), sorted(folders))
    h.check_equal("consume lake: recordCount = rows produced", table.get("Parameters", {}).get("recordCount"),
                  str(rows))
    check_glue_shapes("consume lake", docs)


def sweeps_the_catalog():
    """A crawl killed mid-write leaves a hidden temporary catalog document:
    the next crawl removes it once its writer is surely gone."""
    lake = copy_lake("json_gz")
    h.check("sweep: first crawl", crawl(lake).returncode == 0)
    before = catalog_docs(lake)
    tables = os.path.join(lake, "_catalog", "tickpipe", "tables")
    pid = h.dead_pid()
    stale = h.plant_file(os.path.join(tables, f".ticks.json.tmp-{pid}-0"), 300, 3600)
    fresh = h.plant_file(os.path.join(tables, f".ticks.json.tmp-{pid}-1"), 300, 60)
    proc = crawl(lake, "-v")
    h.check("sweep: a dead crawl's old temporary document is removed, a recent one kept",
            proc.returncode == 0 and not os.path.exists(stale) and os.path.exists(fresh), proc.stderr[-500:])
    h.check("sweep: the catalog is unchanged", catalog_docs(lake) == before)


def body():
    golden_lakes()
    sweeps_the_catalog()
    incremental()
    partitions_follow_the_table()
    options_and_exit_codes()
    interval()
    consume_layout_from_shared_data()
    consume_lake_from_shared_data()


h.main(body)
