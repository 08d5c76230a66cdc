"""Generates a synthetic tick lake for bench/query: gzip JSON lines,
Hive-partitioned by day (dt=YYYY-MM-DD), object names as `tickpipe consume`
writes them (<topic>+<kafka partition>+<first offset>.jsonl.gz), plus the
local catalog documents in Glue's shapes. Deterministic (fixed seed)."""
import gzip
import json
import os
import random
import sys

SYMBOLS = [f"S{i:02d}" for i in range(50)]
KAFKA_PARTITIONS = 4
DAYS = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08",
        "2024-04-01", "2024-04-02", "2024-05-01"]
OBJECT_TICKS = 200000


def generate(root, total, table="ticks"):
    rnd = random.Random(42)
    per_day = total // len(DAYS)
    prices = {s: 20.0 + 10 * i for i, s in enumerate(SYMBOLS)}
    offsets = [0] * KAFKA_PARTITIONS
    partitions = []
    for day in DAYS:
        folder = os.path.join(root, table, f"dt={day}")
        os.makedirs(folder, exist_ok=True)
        lines = [[] for _ in range(KAFKA_PARTITIONS)]
        step_ms = 23400000 // (per_day // len(SYMBOLS) + 1)
        start_ms = 14 * 3600 * 1000 + 30 * 60 * 1000
        for i in range(per_day):
            symbol = SYMBOLS[i % len(SYMBOLS)]
            prices[symbol] = max(1.0, prices[symbol] * (1 + rnd.gauss(0, 0.001)))
            ms = start_ms + (i // len(SYMBOLS)) * step_ms
            stamp = f"{day}T{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}Z"
            volume = rnd.randrange(1, 50) * 100
            line = '{"symbol":"%s","date":"%s","price":%s,"volume":%d}\n' % (
                symbol, stamp, repr(round(prices[symbol], 2)), volume)
            lines[hash(symbol) % KAFKA_PARTITIONS if False else (SYMBOLS.index(symbol) % KAFKA_PARTITIONS)].append(line)
        for p in range(KAFKA_PARTITIONS):
            chunk = lines[p]
            for first in range(0, len(chunk), OBJECT_TICKS):
                part = chunk[first:first + OBJECT_TICKS]
                name = f"{table}+{p}+{offsets[p]:020d}.jsonl.gz"
                with gzip.open(os.path.join(folder, name), "wb", compresslevel=6) as f:
                    f.write("".join(part).encode())
                offsets[p] += len(part)
        partitions.append(day)
    write_catalog(root, table, partitions)


def write_catalog(root, table, days, database="tickpipe"):
    base = os.path.join(root, "_catalog", database)
    os.makedirs(os.path.join(base, "tables"), exist_ok=True)
    os.makedirs(os.path.join(base, "partitions"), exist_ok=True)
    location = "file://" + os.path.abspath(os.path.join(root, table)) + "/"
    with open(os.path.join(base, "database.json"), "w") as f:
        json.dump({"Name": database, "CreateTime": 0}, f)
    columns = [{"Name": "symbol", "Type": "string"}, {"Name": "date", "Type": "string"},
               {"Name": "price", "Type": "double"}, {"Name": "volume", "Type": "bigint"}]
    doc = {"Name": table, "DatabaseName": database, "TableType": "EXTERNAL_TABLE",
           "StorageDescriptor": {"Columns": columns, "Location": location,
                                 "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
                                 "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                                 "Compressed": True,
                                 "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"}},
           "PartitionKeys": [{"Name": "dt", "Type": "string"}],
           "Parameters": {"classification": "json", "compressionType": "gzip"}}
    with open(os.path.join(base, "tables", table + ".json"), "w") as f:
        json.dump(doc, f)
    parts = [{"Values": [d], "DatabaseName": database, "TableName": table,
              "StorageDescriptor": {"Location": location + f"dt={d}/"}} for d in days]
    with open(os.path.join(base, "partitions", table + ".json"), "w") as f:
        json.dump(parts, f)


if __name__ == "__main__":
    generate(sys.argv[1], int(sys.argv[2]))
