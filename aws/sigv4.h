/*
 * sigv4: AWS Signature Version 4, in the steps the AWS documentation names
 * (canonical request, string to sign, signing key, signature), for header
 * signing (Authorization) and presigned URLs (query string). S3 and the other
 * services differ only in three switches of struct sigv4_params (path
 * normalisation, double URI encoding, the x-amz-content-sha256 header);
 * sigv4_params_init picks them from the service name.
 *
 * Ownership: every input is borrowed for the duration of the call. A
 * sigv4_result owns its buffers; release it with sigv4_result_free (also
 * after a failed sigv4_sign). Errors: -1 and a tp_err line (only memory
 * exhaustion can fail); nothing here logs, and no secret ever enters a
 * message. The secret key only feeds the HMAC chain; the result holds the
 * signature and the session token (which the request must carry).
 */
#ifndef TICKPIPE_AWS_SIGV4_H
#define TICKPIPE_AWS_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/err.h"

#define SIGV4_ALGORITHM        "AWS4-HMAC-SHA256"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_EMPTY_SHA256     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct sigv4_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL or "" when not temporary credentials */
};

struct sigv4_header {
    const char *name;
    const char *value;
};

enum sigv4_mode {
    SIGV4_SIGN_HEADERS, /* Authorization + X-Amz-Date headers */
    SIGV4_SIGN_QUERY,   /* presigned URL: X-Amz-* query parameters */
};

struct sigv4_params {
    const char *region;
    const char *service;
    time_t time; /* signing time (UTC seconds) */
    enum sigv4_mode mode;
    long expires_seconds;   /* SIGV4_SIGN_QUERY only (X-Amz-Expires) */
    int normalize_path;     /* remove "."/".." and "//" (all services but S3) */
    int double_encode_path; /* URI-encode the already encoded path again (all but S3) */
    int add_content_sha256; /* sign and send x-amz-content-sha256 (S3; header mode) */
    int omit_session_token; /* send the token but leave it out of the signature */
    const struct sigv4_credentials *credentials;
};

/* The request as it goes on the wire. */
struct sigv4_request {
    const char *method;
    const char *path;  /* percent-encoded path as sent, without the query; "" means "/" */
    const char *query; /* percent-encoded query as sent, without '?'; NULL or "" for none */
    const struct sigv4_header *headers; /* every header to sign, including host */
    size_t header_count;
    const char *payload_hash; /* lowercase hex SHA-256 of the body, or UNSIGNED-PAYLOAD */
};

/* What signing produced: the intermediate steps (for tests and debugging;
 * they hold no secret) and what must be added to the request. */
struct sigv4_result {
    buf canonical_request;
    buf string_to_sign;
    char signature[65];
    char amz_date[17]; /* YYYYMMDDTHHMMSSZ */
    /* Header mode: headers to add, in this order: X-Amz-Security-Token (when
     * there is a token), X-Amz-Date, x-amz-content-sha256 (when
     * add_content_sha256), Authorization. Values point into this result, the
     * credentials or the request. */
    struct sigv4_header added_headers[4];
    size_t added_header_count;
    buf authorization;
    /* Query mode: encoded parameters to append to the query, joined by '&':
     * X-Amz-Algorithm, -Credential, -Date, -SignedHeaders, -Expires,
     * -Security-Token (when a token), -Signature. */
    buf query_to_append;
};

/* Sets the defaults for a service: S3 rules for "s3" (no normalisation,
 * single encoding, x-amz-content-sha256), the generic rules otherwise. */
void sigv4_params_init(struct sigv4_params *params, const char *service, const char *region,
                       const struct sigv4_credentials *credentials, time_t now);

/* Signs: fills result (which must start zeroed or be reused after free). */
int sigv4_sign(const struct sigv4_request *request, const struct sigv4_params *params,
               struct sigv4_result *result, tp_err *err);
void sigv4_result_free(struct sigv4_result *result);

/* --- The documented steps, exposed for tests and for the verifier ---- */

/* Task 1 pieces. Each appends to out and returns 0, or -1 on memory
 * exhaustion. */
int sigv4_canonical_uri(const char *path, int normalize, int double_encode, buf *out);
int sigv4_canonical_query_string(const char *query, buf *out);
/* Appends "name:value\n" lines (lowercase names, sorted, trimmed values,
 * duplicates joined with ',') to canonical and "a;b;c" to signed_headers. */
int sigv4_canonical_headers(const struct sigv4_header *headers, size_t count, buf *canonical,
                            buf *signed_headers);
int sigv4_canonical_request(const struct sigv4_request *request, int normalize, int double_encode,
                            buf *out, buf *signed_headers);
/* Task 2. */
int sigv4_string_to_sign(const char *amz_date, const char *scope, const char *canonical_request,
                         size_t canonical_len, buf *out);
/* Task 3: key = HMAC chain over "AWS4"+secret, date (YYYYMMDD), region,
 * service, "aws4_request". */
void sigv4_signing_key(const char *secret_access_key, const char *date, const char *region,
                       const char *service, unsigned char key[32]);
/* Task 4: hex HMAC-SHA256(key, string_to_sign). */
void sigv4_signature(const unsigned char key[32], const char *string_to_sign, size_t len,
                     char hex[65]);

/* --- Helpers shared with the HTTP and S3 layers --------------------- */

/* URI-encodes bytes as SigV4 wants: everything except A-Z a-z 0-9 - _ . ~
 * (and '/' when keep_slash) becomes %XX with upper-case hex. */
int sigv4_uri_encode(buf *out, const char *data, size_t len, int keep_slash);
/* Hex SHA-256 of data. */
void sigv4_sha256_hex(const void *data, size_t len, char hex[65]);
/* Formats t as "YYYYMMDDTHHMMSSZ". */
void sigv4_format_amz_date(time_t t, char out[17]);

#endif
