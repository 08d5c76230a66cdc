/*
 * glue: a thin typed client for the AWS Glue Data Catalog over aws/json_rpc:
 * databases, tables and partitions, in Glue's own JSON shapes (cJSON).
 * Paging (NextToken) and chunking (BatchCreatePartition and
 * BatchUpdatePartition take at most 100)
 * are done here, so callers see whole lists.
 *
 * Ownership: the client borrows the HTTP client and credentials (they must
 * outlive it); every cJSON returned is the caller's (cJSON_Delete); inputs
 * are borrowed. Errors: -1 and one line such as "GetTable glue:db.t: HTTP
 * 400 AccessDeniedException: ... (request id ...)". A missing entity is
 * not an error where the function says so (*out = NULL, 0 returned).
 */
#ifndef TICKPIPE_AWS_GLUE_H
#define TICKPIPE_AWS_GLUE_H

#include <cjson/cJSON.h>

#include "lib/err.h"

struct http_client;
struct creds;

/* BatchCreatePartition's and BatchUpdatePartition's limit per call. */
#define GLUE_PARTITIONS_PER_BATCH 100

typedef struct glue_client glue_client;

glue_client *glue_client_new(struct http_client *http, struct creds *creds, tp_err *err);
void glue_client_free(glue_client *glue);

/* *database = the Database, or NULL when it does not exist. */
int glue_get_database(glue_client *glue, const char *name, cJSON **database, tp_err *err);
/* CreateDatabase with just a name; AlreadyExistsException counts as done. */
int glue_create_database(glue_client *glue, const char *name, tp_err *err);

/* *table = the Table, or NULL when it (or its database) does not exist. */
int glue_get_table(glue_client *glue, const char *database, const char *name, cJSON **table,
                   tp_err *err);
/* *tables = every Table of the database (all pages). */
int glue_get_tables(glue_client *glue, const char *database, cJSON **tables, tp_err *err);
int glue_create_table(glue_client *glue, const char *database, const cJSON *table_input,
                      tp_err *err);
int glue_update_table(glue_client *glue, const char *database, const cJSON *table_input,
                      tp_err *err);
/* The error code of the last failed call ("AlreadyExistsException"), or "". */
const char *glue_error_code(const glue_client *glue);

/* *partitions = every Partition of the table (all pages). */
int glue_get_partitions(glue_client *glue, const char *database, const char *table,
                        cJSON **partitions, tp_err *err);
/*
 * Creates partitions from an array of PartitionInput, in calls of at most
 * GLUE_PARTITIONS_PER_BATCH. A partition that already exists counts as
 * done; any other per-partition error fails the call (after the batch).
 * *created (may be NULL) gets how many were new.
 */
int glue_batch_create_partition(glue_client *glue, const char *database, const char *table,
                                const cJSON *partition_inputs, long long *created, tp_err *err);
/*
 * Updates partitions from an array of BatchUpdatePartition entries
 * ({"PartitionValueList": [...], "PartitionInput": {...}}), in calls of at
 * most GLUE_PARTITIONS_PER_BATCH. Every batch is sent; any per-entry error
 * (EntityNotFoundException...) then fails the call with one line naming the
 * first failed partition and how many failed. *updated (may be NULL) gets
 * how many were applied.
 */
int glue_batch_update_partition(glue_client *glue, const char *database, const char *table,
                                const cJSON *entries, long long *updated, tp_err *err);

#endif
