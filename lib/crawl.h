/*
 * crawl: what an AWS Glue crawler does, over any object store and into
 * any catalog. Every top-level folder of the lake is a table ('_' and '.'
 * folders are skipped); its key=value folders are partition keys (other
 * folder levels are partition_0, partition_1, ...). Each new or changed
 * object is sampled (its first sample_bytes, gunzipped) and its schema is
 * merged into the table's; the table becomes a Glue TableInput and each
 * partition folder a PartitionInput, with the Parameters a crawler
 * writes (classification, compressionType, recordCount, ...).
 *
 * Existing partitions follow the table, as with a Glue crawler's
 * UPDATE_IN_DATABASE: one whose Location (a moved or copied lake), Columns
 * or SerDe differ from what the crawl computes is updated; under
 * log_schema_changes a schema difference is only reported.
 *
 * Incremental: what was read (key, size, ETag or mtime, record counts,
 * schema) is remembered per table in the lake, under
 * _catalog/<database>/crawler/<table>.json; a re-crawl reads only new or
 * changed objects. Bad objects (truncated gzip, no readable record,
 * empty, unreadable) are reported with key and reason, counted, skipped
 * and remembered until they change.
 *
 * Ownership: the store and catalog are borrowed. Errors: crawl_run
 * returns -1 (err set) only when the lake cannot be listed or the catalog
 * or state cannot be written; bad input only shows in the stats.
 */
#ifndef TICKPIPE_CRAWL_H
#define TICKPIPE_CRAWL_H

#include "lib/catalog.h"
#include "lib/err.h"
#include "lib/store.h"

#define CRAWL_DEFAULT_SAMPLE_BYTES (1024 * 1024)

struct crawl_options {
    const char *database;
    /* Table locations are <location><folder>/: "file:///abs/lake/" or
     * "s3://bucket/prefix/" (ends with '/'). */
    const char *location;
    long long sample_bytes;   /* decompressed bytes read per object; 0 = default */
    int infer_timestamps;     /* ISO-8601 strings become timestamp columns */
    int log_schema_changes;   /* --on-schema-change log: report, keep the catalog's schema */
    const char *crawler_name; /* UPDATED_BY_CRAWLER; NULL = "tickpipe" */
};

struct crawl_stats {
    long long tables; /* tables found in the lake */
    long long tables_created;
    long long tables_updated;        /* schema or statistics changed */
    long long schema_changes_logged; /* not applied (log_schema_changes) */
    long long objects;               /* data objects listed */
    long long sampled;               /* objects read by this run */
    long long unchanged;             /* known from an earlier crawl: not read */
    long long bad_objects;           /* could not be read (now or remembered) */
    long long bad_records;           /* lines or rows skipped in objects read by this run */
    long long skipped;               /* objects that do not fit their table's layout */
    long long readable;              /* objects whose records count (sampled or remembered) */
    long long records;               /* estimated records in all tables */
    long long partitions_added;
    long long partitions_updated;       /* new Location, or the table's Columns/SerDe */
    long long partition_changes_logged; /* schema differs, not applied (log_schema_changes) */
};

int crawl_run(store *lake, catalog *target, const struct crawl_options *options,
              struct crawl_stats *stats, tp_err *err);

#endif
