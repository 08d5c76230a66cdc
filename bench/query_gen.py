"""Generates a synthetic tick lake for bench/query: gzip JSON lines,
Hive-partitioned by day (dt=YYYY-MM-DD), object names as `tickpipe consume`
writes them (<topic>+<kafka partition>+<first offset>.jsonl.gz), plus the
local catalog documents in Glue's shapes. Deterministic (fixed seed)."""
import gzip
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "lib"))
import harness as h  # noqa: E402

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
    h.write_local_catalog(root, table, [("symbol", "string"), ("date", "string"), ("price", "double"),
                                        ("volume", "bigint")], "dt", partitions)


if __name__ == "__main__":
    generate(sys.argv[1], int(sys.argv[2]))
