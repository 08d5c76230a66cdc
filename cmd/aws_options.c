/*
 * aws_options: turns the shared AWS flags into the aws/ layer's objects
 * (one HTTP client, one credential resolver) for any command.
 */
#include "cmd/aws_options.h"

#include <string.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "cmd/cmd.h"

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
