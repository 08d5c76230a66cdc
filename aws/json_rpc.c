/*
 * json_rpc: the awsJson1_x request/response cycle shared by every JSON
 * service client: endpoint resolution, the X-Amz-Target and Content-Type
 * headers, body serialisation and answer parsing. Retries, signing and
 * error lines come from aws/http.
 */
#include "aws/json_rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "lib/log.h"

struct json_rpc_client {
    struct http_client *http;
    struct creds *creds;
    struct json_rpc_service service;
    char *endpoint;
    char content_type[64];
    char last_code[128];
};

struct json_rpc_client *json_rpc_client_new(struct http_client *http, struct creds *creds,
                                            const struct json_rpc_service *service, tp_err *err)
{
    struct json_rpc_client *c = calloc(1, sizeof *c);
    if (!c) {
        tp_err_set(err, TP_ERR_INTERNAL, "%s client: out of memory", service->signing_name);
        return NULL;
    }
    c->http = http;
    c->creds = creds;
    c->service = *service;
    int custom;
    if (creds_endpoint(creds, service->signing_name, &c->endpoint, &custom, err) < 0) {
        free(c);
        return NULL;
    }
    snprintf(c->content_type, sizeof c->content_type, "application/x-amz-json-%s",
             service->json_version ? service->json_version : "1.1");
    log_debug("%s endpoint %s", service->signing_name, c->endpoint);
    return c;
}

void json_rpc_client_free(struct json_rpc_client *c)
{
    if (!c)
        return;
    free(c->endpoint);
    free(c);
}

const char *json_rpc_error_code(const struct json_rpc_client *c)
{
    return c->last_code;
}

int json_rpc_call(struct json_rpc_client *c, const char *operation, const char *target,
                  const cJSON *request, cJSON **response, tp_err *err)
{
    *response = NULL;
    c->last_code[0] = '\0';
    char *body = request ? cJSON_PrintUnformatted(request) : strdup("{}");
    if (!body)
        return tp_err_set(err, TP_ERR_INTERNAL, "%s: out of memory", operation);
    char amz_target[256];
    snprintf(amz_target, sizeof amz_target, "%s.%s", c->service.target_prefix, operation);
    struct sigv4_header headers[] = {{"Content-Type", c->content_type},
                                     {"X-Amz-Target", amz_target}};
    struct http_request http_request = {
        .operation = operation,
        .target = target,
        .method = "POST",
        .endpoint = c->endpoint,
        .path = "/",
        .headers = headers,
        .header_count = 2,
        .body = body,
        .body_len = strlen(body),
        .creds = c->creds,
        .service = c->service.signing_name,
        .error_format = HTTP_ERRORS_JSON,
    };
    struct http_response http_response = {0};
    int rc = http_send(c->http, &http_request, &http_response, err);
    free(body);
    if (rc < 0) {
        snprintf(c->last_code, sizeof c->last_code, "%s", http_response.aws_code);
    } else {
        *response = http_response.body.len
                        ? cJSON_ParseWithLength(http_response.body.data, http_response.body.len)
                        : cJSON_CreateObject();
        if (!*response)
            rc = tp_err_set(err, TP_ERR_PARSE, "%s %s: the answer is not JSON", operation, target);
    }
    http_response_free(&http_response);
    return rc;
}
