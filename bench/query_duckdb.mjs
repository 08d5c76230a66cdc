// bench/query's peer: DuckDB itself (npm @duckdb/node-api), reading the
// lake's objects with an explicit schema, the way a DuckDB user would.
// Protocol: one JSON line per query on stdin {"sql": ...}; answers one
// JSON line {"ms": elapsed, "rows": count} or {"error": message}.
import readline from 'readline';

const { DuckDBInstance } = await import(process.argv[2]); // deps/npm's @duckdb/node-api
const lake = process.argv[3];
const source = `read_json('${lake}/ticks/*/*.jsonl.gz', columns={symbol: 'VARCHAR', date: 'VARCHAR', ` +
  `price: 'DOUBLE', volume: 'BIGINT'}, format='newline_delimited', compression='gzip', ` +
  `hive_partitioning=true, hive_types={'dt': 'VARCHAR'}, hive_types_autocast=false)`;
const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
await connection.run(`CREATE VIEW ticks AS SELECT * FROM ${source}`);
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const { sql } = JSON.parse(line);
  const started = performance.now();
  try {
    const reader = await connection.runAndReadAll(sql);
    const ms = performance.now() - started;
    console.log(JSON.stringify({ ms, rows: reader.getRows().length }));
  } catch (error) {
    console.log(JSON.stringify({ error: String(error.message) }));
  }
}
