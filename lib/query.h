/*
 * query: the SQL engine interface `tickpipe athena` runs queries through.
 * Two implementations: the local engine (DuckDB over the lake, through the
 * catalog: lib/query_duckdb.c) and Amazon Athena (aws/). An engine runs
 * one read-only statement and streams its rows into a query_sink: first
 * the columns, then each row as text values (NULL for SQL NULL), so the
 * result formatter never depends on the engine.
 * Ownership: columns and values passed to the sink are borrowed for the
 * duration of the call. Errors: 0 or -1 with err set; a SQL error carries
 * the engine's own message (with its position); TP_ERR_USAGE for a query
 * that was refused.
 */
#ifndef TICKPIPE_QUERY_H
#define TICKPIPE_QUERY_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/catalog.h"
#include "lib/err.h"
#include "lib/store.h"

/* How a column's values are written: numbers right-aligned and bare in
 * JSON, booleans bare in JSON, text quoted. */
enum query_kind {
    QUERY_KIND_TEXT = 0,
    QUERY_KIND_NUMBER,
    QUERY_KIND_BOOLEAN,
};

struct query_column {
    const char *name;
    const char *type; /* the engine's type name: "DOUBLE", "varchar"... */
    enum query_kind kind;
};

struct query_value {
    const char *text; /* NULL for SQL NULL */
    size_t length;
};

struct query_sink {
    /* Called once, before any row. */
    int (*begin)(void *context, const struct query_column *columns, size_t count, tp_err *err);
    /* Called per row with count values. Non-zero return stops the query. */
    int (*row)(void *context, const struct query_value *values, size_t count, tp_err *err);
    void *context;
};

struct query_stats {
    long long rows;
    long long bytes_scanned; /* -1 when the engine does not say */
    double engine_ms;        /* time the engine reports; -1 when unknown */
    long long objects;       /* lake objects the query could read; -1 when unknown */
    long long objects_cached;
    int result_reused; /* the rows came from a stored result of the same query */
};

typedef struct query_engine query_engine;

struct query_ops {
    const char *name; /* "local" or "athena" */
    /* Runs one statement, streaming the result into sink. */
    int (*run)(query_engine *engine, const char *sql, const struct query_sink *sink,
               struct query_stats *stats, tp_err *err);
    /* Asks a running query to stop; safe to call from another thread
     * (the signal thread of cmd/athena.c). run then fails. */
    void (*cancel)(query_engine *engine);
    void (*free)(query_engine *engine);
};

struct query_engine {
    const struct query_ops *ops;
};

static inline void query_engine_free(query_engine *engine)
{
    if (engine)
        engine->ops->free(engine);
}

/* ---- the local engine: DuckDB over the lake (lib/query_duckdb.c) ---- */

enum query_cache_mode {
    QUERY_CACHE_OFF,  /* always read the lake's objects */
    QUERY_CACHE_AUTO, /* use the cache for what it holds; refresh it later */
    QUERY_CACHE_SYNC, /* bring the cache up to date before each query */
};

struct query_duckdb_options {
    store *lake;           /* borrowed: a directory or S3 store */
    const char *lake_uri;  /* "s3://bucket/prefix" for S3; NULL: file://<lake_root> */
    const char *lake_root; /* absolute: the lake directory, or the local mirror of an S3
                              lake (objects copied there, and the caches) */
    catalog *catalog;      /* borrowed */
    const char *database;
    const char *library; /* libduckdb.so to load; NULL searches (see query_duckdb_api.h) */
    enum query_cache_mode cache;
    const char *cache_path; /* NULL: <lake_root>/_cache/duckdb/<database>.duckdb */
    /* A resident engine to hand queries to (lib/query_server.h), from
     * query_server_address; NULL: always run here. */
    const char *server_path;
    const char *server_key;
};

/* Creates the engine; DuckDB is loaded by the first run, so this fails
 * only on bad options. The options' strings are copied. */
query_engine *query_duckdb_open(const struct query_duckdb_options *options, tp_err *err);

/* After a run in QUERY_CACHE_AUTO mode: the tables the query read that the
 * cache did not fully hold, comma-separated (caller frees), or NULL; also
 * NULL when the query server answered (it refreshes them itself). */
char *query_duckdb_stale_tables(query_engine *engine);

/* Brings the cache of the named tables (comma-separated) up to date.
 * With wait, waits for a refresh running in another process; without, a
 * busy cache is left alone (returns 0). */
int query_duckdb_refresh_cache(query_engine *engine, const char *tables, int wait, tp_err *err);

/* Frees the engine in a process about to exit, but leaves DuckDB's
 * database open: closing it frees its whole function catalogue (~5 ms, a
 * tenth of a cold query on one day), which the kernel reclaims faster.
 * Returns 1 when DuckDB was left open: the caller must then end the
 * process with _exit, as DuckDB's threads still run and its static
 * destructors must not. Returns 0 (DuckDB closed, or never loaded) when
 * DuckDB holds temporary files that its close removes. */
int query_duckdb_free_for_exit(query_engine *engine);

/* After a run: 1 when DuckDB ran the query in this process although a
 * server path was given (no server took it): one should be started. */
int query_duckdb_server_wanted(query_engine *engine);

/* ---- the resident engine's side (lib/query_server.c) ---- */

/* Loads and opens DuckDB now rather than at the first query. */
int query_duckdb_warm(query_engine *engine, tp_err *err);

/* Runs one statement as a fresh process would: the catalog's tables and
 * objects are looked up again, views redefined, the cache attached for
 * this query only (so a refresh elsewhere can write it in between); no
 * stored result is reused or stored (the client does that). stale gets
 * the tables the cache did not fully hold. */
int query_duckdb_execute(query_engine *engine, const char *sql, enum query_cache_mode mode,
                         const struct query_sink *sink, struct query_stats *stats, buf *stale,
                         tp_err *err);

#endif
