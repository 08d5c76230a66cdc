/*
 * athena: Amazon Athena as a query engine (lib/query.h). A statement runs
 * as StartQueryExecution (QueryString, QueryExecutionContext, WorkGroup,
 * ResultConfiguration.OutputLocation, a fresh ClientRequestToken so a
 * retried start never runs twice), GetQueryExecution polled with backoff
 * until SUCCEEDED, FAILED or CANCELLED (QUEUED may follow RUNNING), then
 * GetQueryResults pages of up to 1000 rows (NextToken), values typed from
 * ResultSetMetadata. The header row Athena puts first in the first page of
 * a SELECT (StatementType DML) is skipped there only. Cancelling (Ctrl-C)
 * wakes the wait and sends StopQueryExecution.
 *
 * Ownership: the engine borrows the HTTP client and credentials, which
 * must outlive it. Errors: -1 with err set, e.g. "Athena query 1234...:
 * FAILED: SYNTAX_ERROR: line 1:8: ... (AthenaError category 2 user, type
 * 1006)".
 */
#ifndef TICKPIPE_AWS_ATHENA_H
#define TICKPIPE_AWS_ATHENA_H

#include "lib/err.h"
#include "lib/query.h"

struct http_client;
struct creds;

struct athena_options {
    const char *database;        /* QueryExecutionContext.Database */
    const char *catalog;         /* QueryExecutionContext.Catalog; NULL: AwsDataCatalog */
    const char *workgroup;       /* NULL: primary */
    const char *output_location; /* s3://...; NULL: the workgroup's */
    long poll_first_ms;          /* first GetQueryExecution wait; 0: 100 ms */
    long poll_max_ms;            /* longest wait between polls; 0: 2 s */
};

query_engine *athena_engine_open(struct http_client *http, struct creds *creds,
                                 const struct athena_options *options, tp_err *err);

/* Next wait between polls: grows by half each time up to max. */
long athena_poll_delay_ms(long previous_ms, long first_ms, long max_ms);

#endif
