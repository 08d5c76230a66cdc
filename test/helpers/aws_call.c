/*
 * aws_call: calls one operation of a JSON-protocol AWS service through
 * aws/json_rpc, for integration tests (and a handy probe):
 *   aws_call SERVICE TARGET_PREFIX OPERATION [JSON] [-v...]
 * e.g. aws_call glue AWSGlue GetDatabases '{}'. Credentials, region and
 * endpoint come from the usual chain (AWS_ENDPOINT_URL_GLUE...). Prints the
 * answer as JSON on stdout; on failure the error line on stderr, exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "aws/json_rpc.h"
#include "lib/log.h"

int main(int argc, char **argv)
{
    int verbose = 0, positional = 0;
    const char *args[4] = {NULL, NULL, NULL, "{}"};
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-v", 2) == 0)
            verbose += (int)strlen(argv[i]) - 1;
        else if (positional < 4)
            args[positional++] = argv[i];
    }
    if (positional < 3) {
        fprintf(stderr, "usage: aws_call SERVICE TARGET_PREFIX OPERATION [JSON] [-v]\n");
        return 2;
    }
    log_set_program("aws_call");
    if (verbose)
        log_set_level(verbose >= 3 ? LOG_TRACE : verbose == 2 ? LOG_DEBUG : LOG_INFO);
    tp_err err;
    tp_err_clear(&err);
    cJSON *request = cJSON_Parse(args[3]);
    if (!request) {
        fprintf(stderr, "aws_call: the request is not JSON\n");
        return 2;
    }
    struct http_client *http = http_client_new(NULL, &err);
    struct creds_options options = {NULL, NULL, NULL};
    struct creds *creds = http ? creds_new(&options, http, &err) : NULL;
    struct json_rpc_service service = {args[0], args[1], "1.1"};
    struct json_rpc_client *client =
        creds ? json_rpc_client_new(http, creds, &service, &err) : NULL;
    cJSON *response = NULL;
    int rc = client ? json_rpc_call(client, args[2], args[0], request, &response, &err) : -1;
    if (rc == 0) {
        char *text = cJSON_PrintUnformatted(response);
        printf("%s\n", text ? text : "");
        free(text);
    } else {
        log_error("%s", err.msg);
        if (client && *json_rpc_error_code(client))
            fprintf(stderr, "code=%s\n", json_rpc_error_code(client));
    }
    cJSON_Delete(response);
    cJSON_Delete(request);
    json_rpc_client_free(client);
    creds_free(creds);
    http_client_free(http);
    return rc == 0 ? 0 : 1;
}
