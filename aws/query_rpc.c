/*
 * query_rpc: the awsQuery request/response cycle (form-encoded POST, XML
 * answer) for SNS-style services; retries, signing and error lines come
 * from aws/http, which also reads the <ErrorResponse> error shape.
 */
#include "aws/query_rpc.h"

#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "aws/http.h"

static int query_rpc_append(buf *body, const char *name, const char *value)
{
    if (body->len && buf_append_char(body, '&') < 0)
        return -1;
    if (sigv4_uri_encode(body, name, strlen(name), 0) < 0 || buf_append_char(body, '=') < 0)
        return -1;
    return sigv4_uri_encode(body, value, strlen(value), 0);
}

int query_rpc_call(struct http_client *http, struct creds *creds,
                   const struct query_rpc_service *service, const char *action, const char *target,
                   const struct sigv4_header *params, size_t param_count, struct xml_node **result,
                   tp_err *err)
{
    *result = NULL;
    char *endpoint = NULL;
    int custom;
    if (creds_endpoint(creds, service->signing_name, &endpoint, &custom, err) < 0)
        return -1;
    buf body = BUF_INIT;
    int rc = query_rpc_append(&body, "Action", action);
    rc |= query_rpc_append(&body, "Version", service->api_version);
    for (size_t i = 0; i < param_count && rc == 0; i++)
        rc = query_rpc_append(&body, params[i].name, params[i].value ? params[i].value : "");
    if (rc) {
        free(endpoint);
        buf_free(&body);
        return tp_err_set(err, TP_ERR_INTERNAL, "%s: out of memory", action);
    }
    struct sigv4_header headers[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    struct http_request request = {
        .operation = action,
        .target = target,
        .method = "POST",
        .endpoint = endpoint,
        .path = "/",
        .headers = headers,
        .header_count = 1,
        .body = body.data,
        .body_len = body.len,
        .creds = creds,
        .service = service->signing_name,
        .error_format = HTTP_ERRORS_XML,
    };
    struct http_response response = {0};
    rc = http_send(http, &request, &response, err);
    if (rc == 0) {
        *result = xml_parse(response.body.data ? response.body.data : "", response.body.len, err);
        if (!*result)
            rc = tp_err_prefix(err, "%s %s: unreadable answer", action, target);
    }
    http_response_free(&response);
    buf_free(&body);
    free(endpoint);
    return rc;
}
