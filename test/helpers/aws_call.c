/*
 * aws_call: calls one operation of a JSON-protocol AWS service through
 * aws/json_rpc, for integration tests (and a handy probe):
 *   aws_call SERVICE TARGET_PREFIX OPERATION [JSON] [-v...]
 * e.g. aws_call glue AWSGlue GetDatabases '{}'; and for the other
 * protocols and S3 calls tickpipe s3 does not make:
 *   aws_call --query SERVICE VERSION ACTION [NAME=VALUE...]   (prints XML result text)
 *   aws_call --s3-head s3://BUCKET/KEY                        (prints size and ETag)
 * Credentials, region and
 * endpoint come from the usual chain (AWS_ENDPOINT_URL_GLUE...). Prints the
 * answer as JSON on stdout; on failure the error line on stderr, exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "aws/json_rpc.h"
#include "aws/query_rpc.h"
#include "aws/s3.h"
#include "lib/log.h"

static void aws_call_print_xml(const struct xml_node *node, int depth)
{
    for (; node; node = node->next) {
        printf("%*s%s=%s\n", depth * 2, "", node->name, node->first_child ? "" : node->text);
        aws_call_print_xml(node->first_child, depth + 1);
    }
}

static int aws_call_other(const char *mode, int count, char **args, struct http_client *http,
                          struct creds *creds, tp_err *err)
{
    if (strcmp(mode, "--s3-head") == 0 && count == 1) {
        char *bucket, *key;
        if (s3_parse_url(args[0], &bucket, &key, err) < 0)
            return -1;
        struct s3_client *s3 = s3_client_new(http, creds, 0, err);
        struct s3_object_info info;
        int rc = s3 ? s3_head_object(s3, bucket, key, &info, err) : -1;
        if (rc == 0)
            printf("size=%llu etag=%s type=%s modified=%lld\n", (unsigned long long)info.size,
                   info.etag, info.content_type, (long long)info.last_modified);
        s3_client_free(s3);
        free(bucket);
        free(key);
        return rc;
    }
    if (strcmp(mode, "--query") == 0 && count >= 3) {
        struct query_rpc_service service = {args[0], args[1]};
        struct sigv4_header params[16];
        size_t n = 0;
        for (int i = 3; i < count && n < 16; i++) {
            char *eq = strchr(args[i], '=');
            if (!eq)
                continue;
            *eq = '\0';
            params[n++] = (struct sigv4_header){args[i], eq + 1};
        }
        struct xml_node *root = NULL;
        int rc = query_rpc_call(http, creds, &service, args[2], args[0], params, n, &root, err);
        if (rc == 0)
            aws_call_print_xml(root, 0);
        xml_free(root);
        return rc;
    }
    return tp_err_set(err, TP_ERR_USAGE,
                      "usage: aws_call --s3-head URL | --query SERVICE VERSION "
                      "ACTION [NAME=VALUE...]");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strncmp(argv[1], "--", 2) == 0) {
        log_set_program("aws_call");
        tp_err err;
        tp_err_clear(&err);
        struct http_client *http = http_client_new(NULL, &err);
        struct creds_options options = {NULL, NULL, NULL};
        struct creds *creds = http ? creds_new(&options, http, &err) : NULL;
        int rc = creds ? aws_call_other(argv[1], argc - 2, argv + 2, http, creds, &err) : -1;
        if (rc < 0)
            log_error("%s", err.msg);
        creds_free(creds);
        http_client_free(http);
        return rc == 0 ? 0 : 1;
    }
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
