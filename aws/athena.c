/*
 * athena: the Amazon Athena query engine over the JSON protocol
 * (aws/json_rpc): start, poll with backoff, page the results into a
 * query_sink, stop on cancel (see athena.h).
 */
#include "aws/athena.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "aws/json_rpc.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/sql_guard.h"

#define ATHENA_PAGE_ROWS 1000

static const struct json_rpc_service athena_service = {"athena", "AmazonAthena", "1.1"};

struct athena_engine {
    query_engine base;
    struct json_rpc_client *rpc;
    char *database;
    char *catalog;
    char *workgroup;
    char *output_location;
    long poll_first_ms;
    long poll_max_ms;
    int wake; /* eventfd: cancel() writes, waits poll it */
    atomic_int cancelled;
};

long athena_poll_delay_ms(long previous_ms, long first_ms, long max_ms)
{
    if (previous_ms <= 0)
        return first_ms;
    long next = previous_ms + previous_ms / 2;
    return next > max_ms ? max_ms : next;
}

/* Waits ms, or less when cancel() is called; returns 1 when cancelled. */
static int athena_wait(struct athena_engine *e, long ms)
{
    struct pollfd wake = {e->wake, POLLIN, 0};
    if (!atomic_load(&e->cancelled))
        poll(&wake, 1, (int)ms);
    return atomic_load(&e->cancelled);
}

/* A UUID v4, the form AWS SDKs use for ClientRequestToken. */
static void athena_request_token(char out[37])
{
    unsigned char bytes[16];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
        uint64_t fallback = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)time(NULL);
        for (size_t i = 0; i < sizeof bytes; i++)
            bytes[i] = (unsigned char)(fallback >> (8 * (i % 8))) ^ (unsigned char)(i * 37);
    }
    bytes[6] = (unsigned char)((bytes[6] & 0x0F) | 0x40);
    bytes[8] = (unsigned char)((bytes[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
             bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
}

static const char *athena_string(const cJSON *object, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static int athena_call(struct athena_engine *e, const char *operation, const char *query_id,
                       cJSON *request, cJSON **response, tp_err *err)
{
    buf target = BUF_INIT;
    buf_printf(&target, "athena:%s", query_id ? query_id : e->workgroup);
    int rc = json_rpc_call(e->rpc, operation, target.data, request, response, err);
    buf_free(&target);
    cJSON_Delete(request);
    return rc;
}

static int athena_start(struct athena_engine *e, const char *sql, char **query_id, tp_err *err)
{
    char token[37];
    athena_request_token(token);
    cJSON *request = cJSON_CreateObject();
    cJSON_AddStringToObject(request, "QueryString", sql);
    cJSON_AddStringToObject(request, "ClientRequestToken", token);
    cJSON *context = cJSON_AddObjectToObject(request, "QueryExecutionContext");
    cJSON_AddStringToObject(context, "Database", e->database);
    cJSON_AddStringToObject(context, "Catalog", e->catalog);
    cJSON_AddStringToObject(request, "WorkGroup", e->workgroup);
    if (e->output_location) {
        cJSON *result = cJSON_AddObjectToObject(request, "ResultConfiguration");
        cJSON_AddStringToObject(result, "OutputLocation", e->output_location);
    }
    cJSON *response = NULL;
    if (athena_call(e, "StartQueryExecution", NULL, request, &response, err) < 0)
        return -1;
    const char *id = athena_string(response, "QueryExecutionId");
    *query_id = id ? strdup(id) : NULL;
    cJSON_Delete(response);
    if (!*query_id)
        return tp_err_set(err, TP_ERR_REMOTE, "StartQueryExecution: no QueryExecutionId");
    log_info("Athena query %s started (work group %s)", *query_id, e->workgroup);
    return 0;
}

static void athena_stop(struct athena_engine *e, const char *query_id)
{
    cJSON *request = cJSON_CreateObject();
    cJSON_AddStringToObject(request, "QueryExecutionId", query_id);
    cJSON *response = NULL;
    tp_err err;
    if (athena_call(e, "StopQueryExecution", query_id, request, &response, &err) < 0)
        log_warn("could not stop Athena query %s: %s", query_id, err.msg);
    else
        log_notice("Athena query %s stopped", query_id);
    cJSON_Delete(response);
}

/* "FAILED: <reason> (AthenaError category 2 user, type 1006)". */
static int athena_failure(const char *query_id, const char *state, const cJSON *status, tp_err *err)
{
    const char *reason = athena_string(status, "StateChangeReason");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(status, "AthenaError");
    const char *message = athena_string(error, "ErrorMessage");
    const cJSON *category = cJSON_GetObjectItemCaseSensitive(error, "ErrorCategory");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(error, "ErrorType");
    static const char *const categories[] = {"", "system", "user", "other"};
    buf detail = BUF_INIT;
    if (cJSON_IsNumber(category) || cJSON_IsNumber(type)) {
        int c = cJSON_IsNumber(category) ? category->valueint : 0;
        buf_printf(&detail, " (AthenaError category %d%s%s", c, c >= 1 && c <= 3 ? " " : "",
                   c >= 1 && c <= 3 ? categories[c] : "");
        if (cJSON_IsNumber(type))
            buf_printf(&detail, ", type %d", type->valueint);
        buf_append_char(&detail, ')');
    }
    tp_err_set(err, TP_ERR_REMOTE, "Athena query %s %s: %s%s", query_id, state,
               reason    ? reason
               : message ? message
                         : "no reason given",
               detail.data ? detail.data : "");
    buf_free(&detail);
    return -1;
}

/* Polls until the query ends; *execution = the last QueryExecution. */
static int athena_wait_done(struct athena_engine *e, const char *query_id, cJSON **execution,
                            tp_err *err)
{
    long delay = 0;
    const char *previous = "";
    for (;;) {
        cJSON *request = cJSON_CreateObject();
        cJSON_AddStringToObject(request, "QueryExecutionId", query_id);
        cJSON *response = NULL;
        if (athena_call(e, "GetQueryExecution", query_id, request, &response, err) < 0)
            return -1;
        cJSON *query = cJSON_DetachItemFromObjectCaseSensitive(response, "QueryExecution");
        cJSON_Delete(response);
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(query, "Status");
        const char *state = athena_string(status, "State");
        if (!state) {
            cJSON_Delete(query);
            return tp_err_set(err, TP_ERR_REMOTE, "GetQueryExecution %s: no Status.State",
                              query_id);
        }
        if (strcmp(state, previous) != 0)
            log_info("Athena query %s: %s", query_id, state);
        if (strcmp(state, "SUCCEEDED") == 0) {
            *execution = query;
            return 0;
        }
        if (strcmp(state, "FAILED") == 0 || strcmp(state, "CANCELLED") == 0) {
            athena_failure(query_id, state, status, err);
            cJSON_Delete(query);
            return -1;
        }
        /* QUEUED or RUNNING (QUEUED again after RUNNING happens) */
        previous = strcmp(state, "QUEUED") == 0 ? "QUEUED" : "RUNNING";
        cJSON_Delete(query);
        delay = athena_poll_delay_ms(delay, e->poll_first_ms, e->poll_max_ms);
        if (athena_wait(e, delay)) {
            athena_stop(e, query_id);
            return tp_err_set(err, TP_ERR_USAGE, "interrupted");
        }
    }
}

static enum query_kind athena_kind(const char *type)
{
    static const char *const numbers[] = {"tinyint", "smallint", "integer", "int",    "bigint",
                                          "double",  "float",    "real",    "decimal"};
    if (!type)
        return QUERY_KIND_TEXT;
    if (strcmp(type, "boolean") == 0)
        return QUERY_KIND_BOOLEAN;
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
        if (strncmp(type, numbers[i], strlen(numbers[i])) == 0)
            return QUERY_KIND_NUMBER;
    return QUERY_KIND_TEXT;
}

/* Sends one page's rows (skipping `skip` first rows) into the sink. */
static int athena_emit_rows(const cJSON *rows, int skip, size_t columns,
                            const struct query_sink *sink, long long *count, tp_err *err)
{
    struct query_value *values = calloc(columns ? columns : 1, sizeof *values);
    if (!values)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    int rc = 0, index = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        if (index++ < skip)
            continue;
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(row, "Data");
        for (size_t c = 0; c < columns; c++) {
            const char *text = athena_string(cJSON_GetArrayItem(data, (int)c), "VarCharValue");
            values[c].text = text;
            values[c].length = text ? strlen(text) : 0;
        }
        rc = sink->row(sink->context, values, columns, err);
        if (rc != 0)
            break;
        (*count)++;
    }
    free(values);
    return rc ? -1 : 0;
}

static int athena_fetch(struct athena_engine *e, const char *query_id, int header_row,
                        const struct query_sink *sink, long long *rows, tp_err *err)
{
    char *next = NULL;
    size_t columns = 0;
    int first = 1, rc = 0;
    do {
        if (atomic_load(&e->cancelled)) {
            rc = tp_err_set(err, TP_ERR_USAGE, "interrupted");
            break;
        }
        cJSON *request = cJSON_CreateObject();
        cJSON_AddStringToObject(request, "QueryExecutionId", query_id);
        cJSON_AddNumberToObject(request, "MaxResults", ATHENA_PAGE_ROWS);
        if (next)
            cJSON_AddStringToObject(request, "NextToken", next);
        free(next);
        next = NULL;
        cJSON *response = NULL;
        rc = athena_call(e, "GetQueryResults", query_id, request, &response, err);
        if (rc < 0)
            break;
        const cJSON *set = cJSON_GetObjectItemCaseSensitive(response, "ResultSet");
        if (first) {
            const cJSON *info = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(set, "ResultSetMetadata"), "ColumnInfo");
            columns = (size_t)cJSON_GetArraySize(info);
            struct query_column *described = calloc(columns ? columns : 1, sizeof *described);
            if (!described) {
                cJSON_Delete(response);
                rc = tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
                break;
            }
            for (size_t c = 0; c < columns; c++) {
                const cJSON *column = cJSON_GetArrayItem(info, (int)c);
                const char *name = athena_string(column, "Name");
                described[c].name = name ? name : "";
                described[c].type = athena_string(column, "Type");
                described[c].kind = athena_kind(described[c].type);
            }
            rc = sink->begin(sink->context, described, columns, err);
            free(described);
        }
        if (rc == 0)
            rc = athena_emit_rows(cJSON_GetObjectItemCaseSensitive(set, "Rows"),
                                  first && header_row ? 1 : 0, columns, sink, rows, err);
        const char *token = athena_string(response, "NextToken");
        next = token && rc == 0 ? strdup(token) : NULL;
        cJSON_Delete(response);
        first = 0;
    } while (rc == 0 && next);
    free(next);
    return rc;
}

static int athena_engine_run(query_engine *base, const char *sql, const struct query_sink *sink,
                             struct query_stats *stats, tp_err *err)
{
    struct athena_engine *e = (struct athena_engine *)base;
    memset(stats, 0, sizeof *stats);
    stats->bytes_scanned = -1;
    stats->engine_ms = -1;
    stats->objects = -1;
    if (sql_guard_check(sql, strlen(sql), err) < 0)
        return -1;
    char *query_id = NULL;
    if (athena_start(e, sql, &query_id, err) < 0)
        return -1;
    cJSON *execution = NULL;
    int rc = athena_wait_done(e, query_id, &execution, err);
    if (rc == 0) {
        const cJSON *statistics = cJSON_GetObjectItemCaseSensitive(execution, "Statistics");
        const cJSON *scanned = cJSON_GetObjectItemCaseSensitive(statistics, "DataScannedInBytes");
        const cJSON *engine =
            cJSON_GetObjectItemCaseSensitive(statistics, "EngineExecutionTimeInMillis");
        if (cJSON_IsNumber(scanned))
            stats->bytes_scanned = (long long)scanned->valuedouble;
        if (cJSON_IsNumber(engine))
            stats->engine_ms = engine->valuedouble;
        const char *type = athena_string(execution, "StatementType");
        int header_row = type && strcmp(type, "DML") == 0;
        rc = athena_fetch(e, query_id, header_row, sink, &stats->rows, err);
    }
    cJSON_Delete(execution);
    free(query_id);
    return rc;
}

static void athena_engine_cancel(query_engine *base)
{
    struct athena_engine *e = (struct athena_engine *)base;
    atomic_store(&e->cancelled, 1);
    uint64_t one = 1;
    if (write(e->wake, &one, sizeof one) < 0 && errno != EAGAIN)
        return;
}

static void athena_engine_free(query_engine *base)
{
    struct athena_engine *e = (struct athena_engine *)base;
    json_rpc_client_free(e->rpc);
    if (e->wake >= 0)
        close(e->wake);
    free(e->database);
    free(e->catalog);
    free(e->workgroup);
    free(e->output_location);
    free(e);
}

static const struct query_ops athena_engine_ops = {
    "athena",
    athena_engine_run,
    athena_engine_cancel,
    athena_engine_free,
};

query_engine *athena_engine_open(struct http_client *http, struct creds *creds,
                                 const struct athena_options *options, tp_err *err)
{
    if (options->output_location && strncmp(options->output_location, "s3://", 5) != 0) {
        tp_err_set(err, TP_ERR_USAGE, "--output-location '%s': expected s3://bucket/prefix/",
                   options->output_location);
        return NULL;
    }
    struct athena_engine *e = calloc(1, sizeof *e);
    if (!e) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    e->base.ops = &athena_engine_ops;
    e->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    e->database = strdup(options->database);
    e->catalog = strdup(options->catalog ? options->catalog : "AwsDataCatalog");
    e->workgroup = strdup(options->workgroup ? options->workgroup : "primary");
    e->output_location = options->output_location ? strdup(options->output_location) : NULL;
    e->poll_first_ms = options->poll_first_ms > 0 ? options->poll_first_ms : 100;
    e->poll_max_ms = options->poll_max_ms > 0 ? options->poll_max_ms : 2000;
    atomic_init(&e->cancelled, 0);
    e->rpc = json_rpc_client_new(http, creds, &athena_service, err);
    if (!e->rpc || e->wake < 0 || !e->database || !e->catalog || !e->workgroup) {
        if (e->rpc && e->wake < 0)
            tp_err_set(err, TP_ERR_INTERNAL, "eventfd: %s", strerror(errno));
        athena_engine_free(&e->base);
        return NULL;
    }
    return &e->base;
}
