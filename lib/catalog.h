/*
 * catalog: the table catalog in AWS Glue's own shapes, behind one
 * interface with two implementations: the local catalog (JSON documents
 * stored in the lake under _catalog/, lib/catalog_local.c) and the AWS
 * Glue Data Catalog (aws/). `crawl` writes through it; `athena` reads it.
 *
 * Documents are cJSON trees in exactly Glue's API shapes:
 *   Table           as GetTable returns it (Name, DatabaseName, TableType,
 *                   StorageDescriptor{Columns, Location, InputFormat,
 *                   OutputFormat, SerdeInfo, Compressed...}, PartitionKeys,
 *                   Parameters, CreateTime/UpdateTime as epoch seconds)
 *   TableInput      as CreateTable/UpdateTable take it
 *   Partition       as GetPartitions returns it (Values, StorageDescriptor...)
 *   PartitionInput  as BatchCreatePartition takes it
 *   update entry    as BatchUpdatePartition takes it in Entries:
 *                   {"PartitionValueList": [...], "PartitionInput": {...}}
 * Locations are URIs: s3://bucket/prefix/table/ for S3 lakes,
 * file:///absolute/lake/table/ for local ones.
 *
 * Ownership: every cJSON returned is the caller's (cJSON_Delete); inputs
 * are borrowed. Errors: 0 or -1 with err set.
 */
#ifndef TICKPIPE_CATALOG_H
#define TICKPIPE_CATALOG_H

#include <cjson/cJSON.h>

#include "lib/err.h"
#include "lib/store.h"

typedef struct catalog catalog;

struct catalog_ops {
    const char *kind; /* "local" or "glue" */
    /* Creates the database if it does not exist. */
    int (*ensure_database)(catalog *c, const char *database, tp_err *err);
    /* *table = the Table, or NULL (and 0 returned) when it does not exist. */
    int (*get_table)(catalog *c, const char *database, const char *name, cJSON **table,
                     tp_err *err);
    /* *tables = array of Table (empty when the database has none). */
    int (*list_tables)(catalog *c, const char *database, cJSON **tables, tp_err *err);
    /* Creates the table from a TableInput, or updates it when it exists. */
    int (*put_table)(catalog *c, const char *database, const cJSON *table_input, tp_err *err);
    /* *partitions = array of Partition. */
    int (*get_partitions)(catalog *c, const char *database, const char *table, cJSON **partitions,
                          tp_err *err);
    /* Adds an array of PartitionInput; partitions that already exist count
     * as done. */
    int (*add_partitions)(catalog *c, const char *database, const char *table,
                          const cJSON *partition_inputs, tp_err *err);
    /* Replaces existing partitions: entries is an array of update entries
     * (the partition named by PartitionValueList becomes PartitionInput;
     * its CreationTime is kept). Every entry is tried; a partition that
     * does not exist fails the call (after the others were applied). */
    int (*update_partitions)(catalog *c, const char *database, const char *table,
                             const cJSON *entries, tp_err *err);
    void (*free)(catalog *c);
};

struct catalog {
    const struct catalog_ops *ops;
};

/* The local catalog, kept in the lake itself under _catalog/ (the store is
 * borrowed and must outlive the catalog). */
catalog *catalog_local_open(store *lake, tp_err *err);

static inline void catalog_free(catalog *c)
{
    if (c)
        c->ops->free(c);
}

#endif
