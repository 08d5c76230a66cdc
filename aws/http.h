/*
 * http: the one HTTP client every AWS call goes through. One libcurl easy
 * handle per client, so connections are reused across requests; TLS
 * verification is always on (AWS_CA_BUNDLE adds a private CA); connect and
 * idle timeouts; SigV4 signing of every attempt; retries with exponential
 * backoff and full jitter on connection errors, 5xx, 429 and the throttling
 * codes (Throttling, SlowDown, RequestTimeout...); one retry after
 * correcting the clock from the server's Date header when the server says
 * the request time is skewed.
 *
 * Every failure becomes one tp_err line:
 *   "<Operation> <target>: HTTP <status> <Code>: <message> (request id <id>)"
 * plus a hint on credential errors. Neither the Authorization header, the
 * secret key nor the session token is ever logged or put in a message, at
 * any verbosity (curl's own verbose mode is never enabled).
 *
 * Ownership: a request's fields are borrowed for the call; a response owns
 * its buffers (http_response_free). Not thread-safe: one client per thread.
 */
#ifndef TICKPIPE_AWS_HTTP_H
#define TICKPIPE_AWS_HTTP_H

#include <signal.h>
#include <stddef.h>
#include <time.h>

#include "aws/sigv4.h"
#include "lib/buf.h"
#include "lib/err.h"

struct creds;

struct http_client_options {
    int max_attempts;        /* total tries per request; 0: AWS_MAX_ATTEMPTS or 5 */
    long connect_timeout_ms; /* 0: 10 s */
    long idle_timeout_ms;    /* abort when no byte moves for this long; 0: 30 s */
    long backoff_base_ms;    /* first retry waits up to this; 0: 200 ms */
    long backoff_max_ms;     /* cap; 0: 20 s */
    /* When set and *stop_requested becomes non-zero (a signal handler),
     * transfers and retry waits end early with "interrupted". */
    const volatile sig_atomic_t *stop_requested;
};

struct http_client;

struct http_client *http_client_new(const struct http_client_options *options, tp_err *err);
void http_client_free(struct http_client *client);

/* Seconds to add to the local clock (learned from a skew error). */
long http_client_clock_skew(const struct http_client *client);
/* The current time corrected by the learned skew. */
time_t http_client_now(const struct http_client *client);
/* Seconds since the epoch of an HTTP date ("Sun, 06 Nov 1994 08:49:37
 * GMT"), or -1; after the first http_client_new. */
time_t http_parse_date(const char *text);

/* Receives the body of a successful response as it arrives; returns 0 to
 * go on, -1 to abort (the request then fails with the tp_err it filled). */
typedef int (*http_body_sink)(void *context, const void *data, size_t len, tp_err *err);

enum http_error_format {
    HTTP_ERRORS_XML,  /* <Error><Code>..</Code><Message>..</Message> (S3, query APIs) */
    HTTP_ERRORS_JSON, /* {"__type": "...#Code", "message": ".."} (JSON APIs) */
};

struct http_request {
    /* For messages: "PutObject", "s3://bucket/key". */
    const char *operation;
    const char *target;
    const char *method;
    const char *endpoint;               /* "https://host[:port]" (no path) */
    const char *path;                   /* percent-encoded path, starting with '/' */
    const char *query;                  /* percent-encoded query without '?', or NULL */
    const struct sigv4_header *headers; /* extra headers, all signed; Host is added */
    size_t header_count;
    const void *body; /* NULL for none; kept in memory so retries can resend it */
    size_t body_len;
    /* Signing: NULL creds sends the request unsigned (instance metadata). */
    struct creds *creds;
    const char *service;  /* signing name: "s3", "glue", "athena" */
    int unsigned_payload; /* S3 only: UNSIGNED-PAYLOAD instead of the body hash */
    enum http_error_format error_format;
    /* Successful bodies go to sink when set, else into response->body. A
     * request whose sink already received bytes is not retried. */
    http_body_sink sink;
    void *sink_context;
    /* Statuses that are answers, not failures (e.g. 404 for HeadObject,
     * 412 for a conditional put): http_send returns 0 and the caller looks
     * at response->status. Zero-terminated; NULL for none. */
    const long *accepted_statuses;
    /* 1: not cut short by stop_requested (clean-up calls such as aborting
     * a multipart upload after an interrupt). */
    int uninterruptible;
    /* Per-request overrides of the client's settings; 0 keeps them. */
    int max_attempts;
    long idle_timeout_ms;
    long connect_timeout_ms;
};

struct http_response {
    long status;
    buf body;    /* body when no sink, or an error body */
    buf headers; /* "name: value\n" lines, names as received */
    char aws_code[128];
    char aws_message[512];
    char request_id[128];
};

/*
 * Sends the request with retries. Returns 0 when the final status is 2xx
 * (or listed in accepted_statuses), with response filled; -1 with err set
 * otherwise (response still holds the last status and error fields).
 * err->code: TP_ERR_NOT_FOUND for 404, TP_ERR_NETWORK for connection
 * failures, TP_ERR_REMOTE for other error answers.
 */
int http_send(struct http_client *client, const struct http_request *request,
              struct http_response *response, tp_err *err);
void http_response_free(struct http_response *response);

/* Value of a response header (case-insensitive name) copied into out;
 * returns 0, or -1 when absent. */
int http_response_header(const struct http_response *response, const char *name, char *out,
                         size_t out_size);

/* Full-jitter backoff for attempt n (1 = first retry): a uniformly random
 * delay in [0, min(max, base * 2^(n-1))] milliseconds. Exposed for tests. */
long http_backoff_delay_ms(long base_ms, long max_ms, int attempt, unsigned int *seed);

#endif
