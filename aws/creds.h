/*
 * creds: where AWS requests go and who signs them, resolved the way the AWS
 * CLI does.
 *   credentials: environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *     AWS_SESSION_TOKEN; skipped when --profile is given explicitly), then
 *     the profile in the shared credentials file, then the profile in the
 *     config file, then the EC2 instance metadata service (IMDSv2: token
 *     PUT, role credentials, refreshed 10 minutes before they expire).
 *   profile: --profile, else AWS_PROFILE, else "default"; files from
 *     AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE or ~/.aws/.
 *   region: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's region;
 *     "us-east-1" when only a custom endpoint is given.
 *   endpoint: --endpoint-url, AWS_ENDPOINT_URL_<SERVICE> (S3, GLUE, ATHENA,
 *     SNS...), AWS_ENDPOINT_URL, the profile's endpoint_url, else the AWS
 *     default https://<service>.<region>.amazonaws.com. The environment and
 *     profile ones are ignored when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true.
 *   IMDS: AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254),
 *     off when AWS_EC2_METADATA_DISABLED=true.
 *
 * Ownership: creds_new copies what it needs from the options; it borrows
 * the http client (for IMDS), which must outlive it. Errors: -1/NULL and a
 * tp_err that says which sources were tried; never a secret.
 */
#ifndef TICKPIPE_AWS_CREDS_H
#define TICKPIPE_AWS_CREDS_H

#include "aws/sigv4.h"
#include "lib/err.h"

struct http_client;

struct creds_options {
    const char *profile;      /* --profile (explicit: disables environment keys), or NULL */
    const char *region;       /* --region, or NULL */
    const char *endpoint_url; /* --endpoint-url, or NULL: applies to every service */
};

struct creds;

struct creds *creds_new(const struct creds_options *options, struct http_client *http, tp_err *err);
void creds_free(struct creds *creds);

/* The resolved region (never NULL after creds_new succeeded). */
const char *creds_region(const struct creds *creds);
/* The profile name in use ("default" unless set). */
const char *creds_profile(const struct creds *creds);

/*
 * The endpoint for a service ("s3", "glue", "athena", "sns"): writes a
 * malloc'd URL without a trailing slash to *url (caller frees) and sets
 * *custom to 1 when it was overridden (so S3 uses path-style addressing).
 */
int creds_endpoint(const struct creds *creds, const char *service, char **url, int *custom,
                   tp_err *err);

/*
 * Current credentials for signing. The strings stay valid until the next
 * creds_get or creds_free. Fetches (or refreshes) instance-metadata
 * credentials as needed; "now" is the caller's clock (skew-corrected).
 */
int creds_get(struct creds *creds, struct sigv4_credentials *out, tp_err *err);

/* Where the credentials came from, for error hints: "environment variables
 * AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", "profile 'x' in FILE",
 * "EC2 instance metadata (role R)"; "" before the first creds_get. */
const char *creds_source(const struct creds *creds);

#endif
