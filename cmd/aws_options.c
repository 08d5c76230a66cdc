/*
 * aws_options: turns the shared AWS flags into the aws/ layer's objects
 * (one HTTP client, one credential resolver) for any command, and opens
 * the lake (directory or S3) the data commands work on.
 */
#include "cmd/aws_options.h"

#include <string.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "aws/s3.h"
#include "aws/store_s3.h"
#include "cmd/cmd.h"
#include "lib/store.h"

int cmd_aws_open(const struct cmd_aws_options *options, struct cmd_aws *aws, tp_err *err)
{
    memset(aws, 0, sizeof *aws);
    if (options->max_attempts < 1 || options->max_attempts > 100)
        return tp_err_set(err, TP_ERR_USAGE, "--aws-max-attempts must be between 1 and 100");
    struct http_client_options http_options = {
        .max_attempts = (int)options->max_attempts,
        .idle_timeout_ms = (long)options->timeout_ms,
        .stop_requested = &cmd_stop_requested,
    };
    aws->http = http_client_new(&http_options, err);
    if (!aws->http)
        return -1;
    struct creds_options creds_options = {options->profile, options->region, options->endpoint_url};
    aws->creds = creds_new(&creds_options, aws->http, err);
    if (!aws->creds) {
        cmd_aws_close(aws);
        return -1;
    }
    return 0;
}

void cmd_aws_close(struct cmd_aws *aws)
{
    creds_free(aws->creds);
    http_client_free(aws->http);
    memset(aws, 0, sizeof *aws);
}

int cmd_lake_open(const char *path, const char *bucket, const struct cmd_aws_options *options,
                  struct cmd_lake *lake, tp_err *err)
{
    memset(lake, 0, sizeof *lake);
    if (!bucket || !*bucket) {
        lake->store = store_dir_open(path, err);
        return lake->store ? 0 : -1;
    }
    if (strncmp(bucket, "s3://", 5) != 0)
        return tp_err_set(err, TP_ERR_USAGE, "--bucket '%s': expected s3://bucket[/prefix]",
                          bucket);
    lake->on_s3 = 1;
    if (cmd_aws_open(options, &lake->aws, err) < 0)
        return -1;
    lake->s3 = s3_client_new(lake->aws.http, lake->aws.creds, options->s3_path_style, err);
    if (!lake->s3 || !(lake->store = store_s3_open(lake->s3, bucket, err))) {
        cmd_lake_close(lake);
        return -1;
    }
    return 0;
}

void cmd_lake_close(struct cmd_lake *lake)
{
    store_free(lake->store);
    if (lake->s3)
        s3_client_free(lake->s3);
    if (lake->on_s3)
        cmd_aws_close(&lake->aws);
    memset(lake, 0, sizeof *lake);
}
