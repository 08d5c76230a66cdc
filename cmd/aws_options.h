/*
 * aws_options: the AWS flags every AWS-facing command shares (s3, consume,
 * crawl, athena), declared once: put CMD_AWS_OPTION_SPECS(&opts) in the
 * command's option table, then cmd_aws_open() builds the HTTP client and
 * the credential/region/endpoint resolver from them.
 *
 * Ownership: cmd_aws_open fills a struct cmd_aws that cmd_aws_close frees.
 * The option strings point into argv/environ.
 */
#ifndef TICKPIPE_CMD_AWS_OPTIONS_H
#define TICKPIPE_CMD_AWS_OPTIONS_H

#include "lib/err.h"
#include "lib/opt.h"

struct cmd_aws_options {
    const char *profile;
    const char *region;
    const char *endpoint_url;
    int s3_path_style;
    long long max_attempts;
    long long timeout_ms;
};

/* Option-table entries (no trailing comma needed after the macro). */
#define CMD_AWS_OPTION_SPECS(o)                                                                    \
    {"profile",                                                                                    \
     0,                                                                                            \
     OPT_STRING,                                                                                   \
     &(o)->profile,                                                                                \
     "NAME",                                                                                       \
     NULL,                                                                                         \
     NULL,                                                                                         \
     "AWS profile from ~/.aws/credentials and ~/.aws/config (else AWS_PROFILE, else default); "    \
     "an explicit --profile ignores AWS_ACCESS_KEY_ID",                                            \
     NULL},                                                                                        \
        {"region",   0,                                                                            \
         OPT_STRING, &(o)->region,                                                                 \
         "REGION",   NULL,                                                                         \
         NULL,       "AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile's region)",     \
         NULL},                                                                                    \
        {"endpoint-url",                                                                           \
         0,                                                                                        \
         OPT_STRING,                                                                               \
         &(o)->endpoint_url,                                                                       \
         "URL",                                                                                    \
         NULL,                                                                                     \
         NULL,                                                                                     \
         "send every AWS request to this endpoint, e.g. an S3-compatible server (else "            \
         "AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the profile's endpoint_url)",              \
         NULL},                                                                                    \
        {"s3-path-style",                                                                          \
         0,                                                                                        \
         OPT_FLAG,                                                                                 \
         &(o)->s3_path_style,                                                                      \
         NULL,                                                                                     \
         NULL,                                                                                     \
         NULL,                                                                                     \
         "address S3 buckets as host/bucket/key (automatic with --endpoint-url)",                  \
         NULL},                                                                                    \
        {"aws-max-attempts",                                                                       \
         0,                                                                                        \
         OPT_INT,                                                                                  \
         &(o)->max_attempts,                                                                       \
         "N",                                                                                      \
         "5",                                                                                      \
         "AWS_MAX_ATTEMPTS",                                                                       \
         "tries per AWS request, retries included",                                                \
         NULL},                                                                                    \
    {                                                                                              \
        "aws-timeout", 0, OPT_DURATION, &(o)->timeout_ms, "DURATION", "30s",                       \
            "TICKPIPE_AWS_TIMEOUT",                                                                \
            "give up on an AWS connection that moves no data for this long", NULL                  \
    }

struct http_client;
struct creds;

struct cmd_aws {
    struct http_client *http;
    struct creds *creds;
};

int cmd_aws_open(const struct cmd_aws_options *options, struct cmd_aws *aws, tp_err *err);
void cmd_aws_close(struct cmd_aws *aws);

#endif

/*
 * The lake a command works on: a local directory, or s3://bucket/prefix
 * through the S3 client (AWS options above). Shared by consume, crawl and
 * athena so they resolve locations the same way.
 */
struct s3_client;
struct store;

struct cmd_lake {
    struct store *store;
    struct cmd_aws aws;
    struct s3_client *s3;
    int on_s3;
};

/* bucket (s3://...) wins over path when given. */
int cmd_lake_open(const char *path, const char *bucket, const struct cmd_aws_options *options,
                  struct cmd_lake *lake, tp_err *err);
void cmd_lake_close(struct cmd_lake *lake);
