/*
 * query_results: reuse of the results of repeated queries, as Athena's
 * "query result reuse", but never stale: a result is stored under a key
 * hashing the statement, the database, and for every catalog table it may
 * read, the table's schema signature and every object it reads (path,
 * etag, partition values). Any new, changed or removed object, any schema
 * change, gives a new key; a repeat with the same key replays the rows
 * without loading DuckDB. Only deterministic reading statements are
 * stored (query_results_cacheable). Files live in
 * <lake>/_cache/results/<sha256>.result, written atomically, and the
 * least recently used are removed past QUERY_RESULTS_MAX_BYTES.
 * Errors: 0 or -1 with err set.
 */
#ifndef TICKPIPE_QUERY_RESULTS_H
#define TICKPIPE_QUERY_RESULTS_H

#include <stddef.h>

#include "lib/query.h"
#include "lib/query_duckdb_table.h"

#define QUERY_RESULTS_MAX_RESULT_BYTES (32LL << 20)
#define QUERY_RESULTS_MAX_BYTES        (512LL << 20)

/* 1 when the statement's result depends only on the tables it names: a
 * query (SELECT, WITH, FROM, VALUES, TABLE, '('), without time, random or
 * session functions, and reading no file by name. */
int query_results_cacheable(const char *sql);

/* The path of the stored result for this statement over these tables
 * (caller frees). */
char *query_results_path(const char *directory, const char *database, const char *sql,
                         struct duckdb_table *const *tables, size_t count);

/* Replays a stored result into sink: 1 when found and replayed, 0 when
 * there is none, -1 on error (a damaged file counts as none). */
int query_results_replay(const char *path, const struct query_sink *sink, long long *rows,
                         tp_err *err);

/* A sink that passes everything to another and keeps a copy (up to
 * QUERY_RESULTS_MAX_RESULT_BYTES) to store when the query succeeds. */
typedef struct query_results_recorder query_results_recorder;
query_results_recorder *query_results_recorder_new(const struct query_sink *inner);
struct query_sink query_results_recorder_sink(query_results_recorder *recorder);
/* Stores the copy at path (unless it outgrew the limit) and trims the
 * directory. Failures are logged, never fatal: the result was delivered. */
void query_results_recorder_store(query_results_recorder *recorder, const char *path);
void query_results_recorder_free(query_results_recorder *recorder);

#endif
