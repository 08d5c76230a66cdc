/*
 * query_cache: the local engine's cache for repeated queries: one DuckDB
 * database file per catalog database (default
 * <lake>/_cache/duckdb/<database>.duckdb) holding each cached table in
 * DuckDB's columnar format, plus a manifest of the lake objects (path and
 * etag) whose rows it holds and the table's schema signature.
 * The cache never decides a result: the engine reads from it only the
 * rows of objects that are still in the lake unchanged, and reads every
 * other object raw. Refreshing appends new objects, drops rows of objects
 * that changed or vanished, and rebuilds a table whose schema changed; a
 * deleted file is rebuilt by the next refresh. Refreshes serialize on
 * <file>.lock (flock), each batch of objects is one transaction.
 * Errors: 0 or -1 with err set.
 */
#ifndef TICKPIPE_QUERY_CACHE_H
#define TICKPIPE_QUERY_CACHE_H

#include <cjson/cJSON.h>

#include "lib/query_duckdb_api.h"
#include "lib/query_duckdb_table.h"

/* The name the engine attaches the cache under. */
#define QUERY_CACHE_ALIAS "tickpipe_cache"

/* <lake_root>/_cache/duckdb/<database>.duckdb (caller frees). */
char *query_cache_default_path(const char *lake_root, const char *database);

/* Attaches the cache read-only as QUERY_CACHE_ALIAS. Returns 1 when
 * attached, 0 when there is no usable cache (missing, or busy being
 * refreshed by another process). */
int query_cache_attach(const struct duckdb_api *api, duckdb_connection connection,
                       const char *path);

/* *objects = {path: etag} of the objects whose rows the cache holds for
 * the table, or NULL when the table is not cached under this signature.
 * schema_prefix: "tickpipe_cache." for the attached cache, "" inside the
 * cache database itself. */
int query_cache_manifest(const struct duckdb_api *api, duckdb_connection connection,
                         const char *schema_prefix, const struct duckdb_table *table,
                         cJSON **objects, tp_err *err);

/* Brings the cache of the tables up to date with their objects. With
 * wait, waits for a refresh running elsewhere; without, returns 0 at once
 * when the cache is busy. */
int query_cache_refresh(const struct duckdb_api *api, const char *path,
                        struct duckdb_table *const *tables, size_t count, int wait, tp_err *err);

#endif
