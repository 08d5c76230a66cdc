/*
 * glue: Glue Data Catalog operations as JSON-RPC calls. Each function
 * builds its request with cJSON, names its target ("glue:db.table") for
 * error lines, and turns EntityNotFoundException into "absent" where the
 * caller asked for that.
 */
#include "aws/glue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/json_rpc.h"
#include "lib/buf.h"
#include "lib/log.h"

struct glue_client {
    struct json_rpc_client *rpc;
};

static const struct json_rpc_service glue_service = {"glue", "AWSGlue", "1.1"};

glue_client *glue_client_new(struct http_client *http, struct creds *creds, tp_err *err)
{
    glue_client *glue = calloc(1, sizeof *glue);
    if (!glue) {
        tp_err_set(err, TP_ERR_INTERNAL, "glue client: out of memory");
        return NULL;
    }
    glue->rpc = json_rpc_client_new(http, creds, &glue_service, err);
    if (!glue->rpc) {
        free(glue);
        return NULL;
    }
    return glue;
}

void glue_client_free(glue_client *glue)
{
    if (!glue)
        return;
    json_rpc_client_free(glue->rpc);
    free(glue);
}

const char *glue_error_code(const glue_client *glue)
{
    return json_rpc_error_code(glue->rpc);
}

static int glue_error_is(const glue_client *glue, const char *code)
{
    return strcmp(glue_error_code(glue), code) == 0;
}

static void glue_target(char *target, size_t size, const char *database, const char *table)
{
    if (table)
        snprintf(target, size, "glue:%s.%s", database, table);
    else
        snprintf(target, size, "glue:%s", database);
}

/*
 * Calls operation and hands back the member `member` of the answer
 * (detached; NULL when the entity is missing and missing_ok is set).
 * Consumes request.
 */
static int glue_fetch(glue_client *glue, const char *operation, const char *target, cJSON *request,
                      const char *member, int missing_ok, cJSON **out, tp_err *err)
{
    cJSON *response = NULL;
    *out = NULL;
    int rc = json_rpc_call(glue->rpc, operation, target, request, &response, err);
    cJSON_Delete(request);
    if (rc < 0) {
        if (missing_ok && glue_error_is(glue, "EntityNotFoundException")) {
            tp_err_clear(err);
            return 0;
        }
        return -1;
    }
    *out = cJSON_DetachItemFromObjectCaseSensitive(response, member);
    cJSON_Delete(response);
    if (!*out)
        return tp_err_set(err, TP_ERR_PARSE, "%s %s: the answer has no %s", operation, target,
                          member);
    return 0;
}

int glue_get_database(glue_client *glue, const char *name, cJSON **database, tp_err *err)
{
    char target[512];
    glue_target(target, sizeof target, name, NULL);
    cJSON *request = cJSON_CreateObject();
    cJSON_AddStringToObject(request, "Name", name);
    return glue_fetch(glue, "GetDatabase", target, request, "Database", 1, database, err);
}

int glue_create_database(glue_client *glue, const char *name, tp_err *err)
{
    char target[512];
    glue_target(target, sizeof target, name, NULL);
    cJSON *request = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(request, "DatabaseInput"), "Name", name);
    cJSON *response = NULL;
    int rc = json_rpc_call(glue->rpc, "CreateDatabase", target, request, &response, err);
    cJSON_Delete(request);
    cJSON_Delete(response);
    if (rc < 0 && glue_error_is(glue, "AlreadyExistsException")) {
        tp_err_clear(err);
        return 0;
    }
    return rc;
}

int glue_get_table(glue_client *glue, const char *database, const char *name, cJSON **table,
                   tp_err *err)
{
    char target[512];
    glue_target(target, sizeof target, database, name);
    cJSON *request = cJSON_CreateObject();
    cJSON_AddStringToObject(request, "DatabaseName", database);
    cJSON_AddStringToObject(request, "Name", name);
    return glue_fetch(glue, "GetTable", target, request, "Table", 1, table, err);
}

/* Calls a paged Get* operation until NextToken runs out, gathering the
 * arrays named list. base is the request without NextToken (consumed). */
static int glue_fetch_all(glue_client *glue, const char *operation, const char *target, cJSON *base,
                          const char *list, cJSON **out, tp_err *err)
{
    *out = cJSON_CreateArray();
    char *token = NULL;
    int rc = 0;
    do {
        cJSON *request = cJSON_Duplicate(base, 1);
        if (token)
            cJSON_AddStringToObject(request, "NextToken", token);
        free(token);
        token = NULL;
        cJSON *response = NULL;
        rc = json_rpc_call(glue->rpc, operation, target, request, &response, err);
        cJSON_Delete(request);
        if (rc < 0)
            break;
        cJSON *items = cJSON_GetObjectItemCaseSensitive(response, list);
        cJSON *item;
        while (items && (item = cJSON_DetachItemViaPointer(items, items->child)) != NULL)
            cJSON_AddItemToArray(*out, item);
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(response, "NextToken");
        if (cJSON_IsString(next) && next->valuestring[0])
            token = strdup(next->valuestring);
        cJSON_Delete(response);
    } while (token);
    cJSON_Delete(base);
    if (rc < 0) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    return rc;
}

int glue_get_tables(glue_client *glue, const char *database, cJSON **tables, tp_err *err)
{
    char target[512];
    glue_target(target, sizeof target, database, NULL);
    cJSON *request = cJSON_CreateObject();
    cJSON_AddStringToObject(request, "DatabaseName", database);
    return glue_fetch_all(glue, "GetTables", target, request, "TableList", tables, err);
}

static int glue_put_table(glue_client *glue, const char *operation, const char *database,
                          const cJSON *table_input, tp_err *err)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(table_input, "Name");
    char target[512];
    glue_target(target, sizeof target, database, cJSON_IsString(name) ? name->valuestring : "?");
    cJSON *request = cJSON_CreateObject();
    cJSON_AddStringToObject(request, "DatabaseName", database);
    cJSON_AddItemToObject(request, "TableInput", cJSON_Duplicate(table_input, 1));
    cJSON *response = NULL;
    int rc = json_rpc_call(glue->rpc, operation, target, request, &response, err);
    cJSON_Delete(request);
    cJSON_Delete(response);
    return rc;
}

int glue_create_table(glue_client *glue, const char *database, const cJSON *table_input,
                      tp_err *err)
{
    return glue_put_table(glue, "CreateTable", database, table_input, err);
}

int glue_update_table(glue_client *glue, const char *database, const cJSON *table_input,
                      tp_err *err)
{
    return glue_put_table(glue, "UpdateTable", database, table_input, err);
}

int glue_get_partitions(glue_client *glue, const char *database, const char *table,
                        cJSON **partitions, tp_err *err)
{
    char target[512];
    glue_target(target, sizeof target, database, table);
    cJSON *request = cJSON_CreateObject();
    cJSON_AddStringToObject(request, "DatabaseName", database);
    cJSON_AddStringToObject(request, "TableName", table);
    return glue_fetch_all(glue, "GetPartitions", target, request, "Partitions", partitions, err);
}

/* One batch partition operation: its name, the request member holding the
 * items, the member naming a failed entry's values in Errors, and the
 * error code that counts as done (or NULL). */
struct glue_batch_kind {
    const char *operation;
    const char *items_member;
    const char *values_member;
    const char *done_code;
};

static const struct glue_batch_kind glue_batch_create = {
    "BatchCreatePartition", "PartitionInputList", "PartitionValues", "AlreadyExistsException"};
static const struct glue_batch_kind glue_batch_update = {"BatchUpdatePartition", "Entries",
                                                         "PartitionValueList", NULL};

/* Counts a batch's per-partition errors: kind->done_code counts as done,
 * anything else as failed; the first failure is described in first (when
 * still empty). Returns how many failed for real. */
static int glue_batch_errors(const struct glue_batch_kind *kind, const cJSON *response, int *done,
                             buf *first)
{
    int failed = 0;
    const cJSON *error;
    cJSON_ArrayForEach(error, cJSON_GetObjectItemCaseSensitive(response, "Errors"))
    {
        const cJSON *detail = cJSON_GetObjectItemCaseSensitive(error, "ErrorDetail");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(detail, "ErrorCode");
        const cJSON *message = cJSON_GetObjectItemCaseSensitive(detail, "ErrorMessage");
        if (kind->done_code && cJSON_IsString(code) &&
            strcmp(code->valuestring, kind->done_code) == 0) {
            (*done)++;
            continue;
        }
        if (failed++ == 0 && first->len == 0) {
            char *values = cJSON_PrintUnformatted(
                cJSON_GetObjectItemCaseSensitive(error, kind->values_member));
            buf_printf(first, "partition %s: %s: %s", values ? values : "?",
                       cJSON_IsString(code) ? code->valuestring : "error",
                       cJSON_IsString(message) ? message->valuestring : "");
            free(values);
        }
    }
    return failed;
}

/*
 * Sends items in calls of at most GLUE_PARTITIONS_PER_BATCH. Per-entry
 * errors do not stop the batches; afterwards one line names the first and
 * how many failed. *succeeded (may be NULL) gets the entries applied.
 */
static int glue_batch_partitions(glue_client *glue, const struct glue_batch_kind *kind,
                                 const char *database, const char *table, const cJSON *items,
                                 long long *succeeded, tp_err *err)
{
    char target[512];
    glue_target(target, sizeof target, database, table);
    long long applied = 0, total = 0, failed = 0;
    buf first = BUF_INIT;
    const cJSON *item = items ? items->child : NULL;
    while (item) {
        cJSON *request = cJSON_CreateObject();
        cJSON_AddStringToObject(request, "DatabaseName", database);
        cJSON_AddStringToObject(request, "TableName", table);
        cJSON *list = cJSON_AddArrayToObject(request, kind->items_member);
        int count = 0;
        for (; item && count < GLUE_PARTITIONS_PER_BATCH; item = item->next, count++)
            cJSON_AddItemToArray(list, cJSON_Duplicate(item, 1));
        cJSON *response = NULL;
        int rc = json_rpc_call(glue->rpc, kind->operation, target, request, &response, err);
        cJSON_Delete(request);
        if (rc < 0) {
            buf_free(&first);
            return -1;
        }
        int done = 0;
        int batch_failed = glue_batch_errors(kind, response, &done, &first);
        cJSON_Delete(response);
        failed += batch_failed;
        total += count;
        applied += count - done - batch_failed;
        if (done)
            log_debug("%s %s: %d partition%s existed already", kind->operation, target, done,
                      done == 1 ? "" : "s");
    }
    if (succeeded)
        *succeeded = applied;
    if (!failed)
        return 0;
    if (failed > 1)
        tp_err_set(err, TP_ERR_REMOTE, "%s %s: %lld of %lld partitions failed; first: %s",
                   kind->operation, target, failed, total, first.len ? first.data : "?");
    else
        tp_err_set(err, TP_ERR_REMOTE, "%s %s: %s", kind->operation, target,
                   first.len ? first.data : "a partition failed");
    buf_free(&first);
    return -1;
}

int glue_batch_create_partition(glue_client *glue, const char *database, const char *table,
                                const cJSON *partition_inputs, long long *created, tp_err *err)
{
    return glue_batch_partitions(glue, &glue_batch_create, database, table, partition_inputs,
                                 created, err);
}

int glue_batch_update_partition(glue_client *glue, const char *database, const char *table,
                                const cJSON *entries, long long *updated, tp_err *err)
{
    return glue_batch_partitions(glue, &glue_batch_update, database, table, entries, updated, err);
}
