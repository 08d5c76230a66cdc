/*
 * query_duckdb_table: a catalog table as the local engine reads it: its
 * columns in DuckDB types, its partitions, and the lake objects of those
 * partitions (what Athena would read: registered partitions only, hidden
 * and '_' files skipped), plus the DuckDB reader call over any subset of
 * them. Shared by the engine (lib/query_duckdb.c) and its cache
 * (lib/query_cache.c). Objects of a store without local files (S3) are
 * read from a local mirror: <local root>/<key>, downloaded when missing or
 * when the object's etag changed (duckdb_table_fetch).
 * Ownership: duckdb_table_load allocates, duckdb_table_free releases.
 * Errors: 0 or -1 with err set.
 */
#ifndef TICKPIPE_QUERY_DUCKDB_TABLE_H
#define TICKPIPE_QUERY_DUCKDB_TABLE_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/catalog.h"
#include "lib/err.h"
#include "lib/store.h"

struct duckdb_object {
    char *key;    /* in the lake */
    char *path;   /* absolute file path (the mirror's for S3) */
    int mirrored; /* path is a copy that duckdb_table_fetch keeps current */
    char *etag;   /* changes when the object's bytes change */
    long long size;
    size_t partition; /* index into partitions; 0 when unpartitioned */
};

struct duckdb_partition {
    char **values; /* one per partition key */
    size_t objects;
};

struct duckdb_partition_key {
    char *name;
    char *glue_type;   /* "string", "int"... */
    char *duckdb_type; /* "VARCHAR", "INTEGER"... */
};

struct duckdb_table {
    store *lake; /* borrowed */
    char *name;
    char *signature;    /* changes when the schema or format changes */
    char *select_list;  /* "symbol", "price", ..., "dt" */
    char *reader;       /* "read_json" / "read_csv" / "read_parquet" */
    char *options;      /* the reader's options after the file list */
    char *empty_select; /* one row of typed NULLs with the table's columns */
    struct duckdb_partition_key *keys;
    size_t key_count;
    struct duckdb_partition *partitions;
    size_t partition_count;
    struct duckdb_object *objects; /* in key order */
    size_t object_count;
};

/* Where a lake's objects are and how DuckDB reaches them. */
struct duckdb_lake {
    store *store;
    const char *uri;        /* "file:///abs/lake" or "s3://bucket/prefix" (no trailing /) */
    const char *local_root; /* local files: the lake itself, or the mirror of an S3 lake */
};

/* *table = NULL (and 0) when the catalog has no such table. */
int duckdb_table_load(catalog *tables, const struct duckdb_lake *lake, const char *database,
                      const char *name, struct duckdb_table **table, tp_err *err);

/* Makes the mirrored objects at indexes current (download to a temporary
 * file, rename; the etag kept beside as .<name>.etag). */
int duckdb_table_fetch(const struct duckdb_table *table, const size_t *indexes, size_t count,
                       tp_err *err);
void duckdb_table_free(struct duckdb_table *table);

/* Appends "SELECT <columns> FROM <reader>([paths], options)" over the
 * objects at the given indexes; with object_column, adds the object's
 * path as "_tickpipe_object". With no objects, an empty relation of the
 * same shape. */
void duckdb_table_reader_sql(const struct duckdb_table *table, const size_t *indexes, size_t count,
                             int object_column, buf *sql);

/* Glue (Hive) column type -> DuckDB type ("array<string>" -> "VARCHAR[]"). */
int duckdb_type_from_glue(const char *glue, buf *out, tp_err *err);

/* SQL quoting: "identifier" and 'literal', doubling embedded quotes. */
void duckdb_quote_identifier(buf *out, const char *name);
void duckdb_quote_literal(buf *out, const char *text);

#endif
