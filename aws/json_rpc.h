/*
 * json_rpc: calls to AWS services that speak the JSON protocol (awsJson1_1:
 * Glue, Athena, ...): a signed POST of a JSON document to "/" with
 * X-Amz-Target "<prefix>.<Operation>", answered with JSON. Typed clients
 * (aws/glue, aws/athena) build their requests with cJSON and call this.
 *
 * Ownership: *response is a cJSON tree the caller frees with cJSON_Delete;
 * request is borrowed. Errors: -1 and a tp_err such as
 * "GetTable glue:db.table: HTTP 400 EntityNotFoundException: Table not found
 * (request id ...)"; err->code TP_ERR_NOT_FOUND for 404 only (JSON services
 * report missing entities as 400 with a code: check json_rpc_error_code).
 */
#ifndef TICKPIPE_AWS_JSON_RPC_H
#define TICKPIPE_AWS_JSON_RPC_H

#include <cjson/cJSON.h>

#include "lib/err.h"

struct http_client;
struct creds;

struct json_rpc_service {
    const char *signing_name;  /* "glue", "athena": SigV4 scope and endpoint */
    const char *target_prefix; /* "AWSGlue", "AmazonAthena" */
    const char *json_version;  /* "1.1" */
};

struct json_rpc_client;

struct json_rpc_client *json_rpc_client_new(struct http_client *http, struct creds *creds,
                                            const struct json_rpc_service *service, tp_err *err);
void json_rpc_client_free(struct json_rpc_client *client);

/*
 * Calls operation with request (NULL sends "{}"); target describes the
 * object for messages ("glue:db.table"). On success *response holds the
 * parsed answer ("{}" when empty). On an AWS error the code is kept and
 * json_rpc_error_code returns it until the next call.
 */
int json_rpc_call(struct json_rpc_client *client, const char *operation, const char *target,
                  const cJSON *request, cJSON **response, tp_err *err);
const char *json_rpc_error_code(const struct json_rpc_client *client);

#endif
