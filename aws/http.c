/*
 * http: one libcurl easy handle reused for every request (curl keeps the
 * connections open), the retry loop with full-jitter backoff, clock-skew
 * correction, AWS error parsing (XML and JSON shapes) and the one-line
 * error messages. The signature is recomputed on every attempt (fresh
 * X-Amz-Date); nothing secret is ever logged.
 */
#include "aws/http.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "aws/creds.h"
#include "aws/curl_api.h"
#include "aws/xml.h"
#include "lib/log.h"

#define HTTP_MAX_ERROR_BODY (1u << 20)
#define HTTP_MAX_HEADERS    24

struct http_client {
    CURL *curl;
    struct http_client_options options;
    long skew_seconds;
    unsigned int seed;
};

/* libcurl's functions, loaded by the first http_client_new. */
static const struct curl_api *http_curl;

struct http_attempt {
    const struct http_request *request;
    struct http_response *response;
    CURL *curl;
    size_t body_sent;
    size_t delivered; /* bytes handed to the sink */
    int sink_failed;
    tp_err *err;
    /* idle timeout: when bytes last moved */
    long idle_ms;
    struct timespec last_progress;
    curl_off_t last_down, last_up;
    int timed_out;
    const volatile sig_atomic_t *stop;
    int stopped;
};

static long http_env_long(const char *name, long fallback)
{
    const char *value = getenv(name);
    if (!value || !*value)
        return fallback;
    char *end;
    long n = strtol(value, &end, 10);
    return *end == '\0' && n > 0 ? n : fallback;
}

struct http_client *http_client_new(const struct http_client_options *options, tp_err *err)
{
    if (!(http_curl = curl_api_get(err)))
        return NULL;
    struct http_client *client = calloc(1, sizeof *client);
    if (!client || !(client->curl = http_curl->easy_init())) {
        free(client);
        tp_err_set(err, TP_ERR_INTERNAL, "cannot create an HTTP client: out of memory");
        return NULL;
    }
    if (options)
        client->options = *options;
    struct http_client_options *o = &client->options;
    if (o->max_attempts <= 0)
        o->max_attempts = (int)http_env_long("AWS_MAX_ATTEMPTS", 5);
    if (o->connect_timeout_ms <= 0)
        o->connect_timeout_ms = 10000;
    if (o->idle_timeout_ms <= 0)
        o->idle_timeout_ms = 30000;
    if (o->backoff_base_ms <= 0)
        o->backoff_base_ms = 200;
    if (o->backoff_max_ms <= 0)
        o->backoff_max_ms = 20000;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    client->seed = (unsigned int)(tv.tv_usec ^ tv.tv_sec ^ getpid());
    return client;
}

void http_client_free(struct http_client *client)
{
    if (!client)
        return;
    http_curl->easy_cleanup(client->curl);
    free(client);
}

long http_client_clock_skew(const struct http_client *client)
{
    return client->skew_seconds;
}

time_t http_client_now(const struct http_client *client)
{
    return time(NULL) + (client ? client->skew_seconds : 0);
}

void http_response_free(struct http_response *response)
{
    buf_free(&response->body);
    buf_free(&response->headers);
    memset(response, 0, sizeof *response);
}

int http_response_header(const struct http_response *response, const char *name, char *out,
                         size_t out_size)
{
    size_t name_len = strlen(name);
    const char *p = response->headers.data;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > name_len && p[name_len] == ':' && strncasecmp(p, name, name_len) == 0) {
            const char *v = p + name_len + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vlen = (size_t)(p + len - v);
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            snprintf(out, out_size, "%.*s", (int)vlen, v);
            return 0;
        }
        p = eol ? eol + 1 : p + len;
    }
    return -1;
}

long http_backoff_delay_ms(long base_ms, long max_ms, int attempt, unsigned int *seed)
{
    long ceiling = base_ms;
    for (int i = 1; i < attempt && ceiling < max_ms; i++)
        ceiling *= 2;
    if (ceiling > max_ms)
        ceiling = max_ms;
    return (long)((double)rand_r(seed) / ((double)RAND_MAX + 1.0) * (double)(ceiling + 1));
}

/* Sleeps ms, in slices so that a stop request ends the wait early. */
static void http_sleep_ms(long ms, const volatile sig_atomic_t *stop)
{
    while (ms > 0 && !(stop && *stop)) {
        long slice = ms < 100 ? ms : 100;
        struct timespec ts = {0, slice * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

static size_t http_on_header(char *data, size_t size, size_t count, void *context)
{
    struct http_attempt *a = context;
    size_t len = size * count;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
        buf_reset(&a->response->headers); /* a new response (after 100 Continue) */
    else if (len > 2 && buf_append(&a->response->headers, data, len) < 0)
        return 0;
    return len;
}

static size_t http_on_body(char *data, size_t size, size_t count, void *context)
{
    struct http_attempt *a = context;
    size_t len = size * count;
    long status = 0;
    http_curl->easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
    const struct http_request *r = a->request;
    if (r->sink && status >= 200 && status < 300) {
        if (r->sink(r->sink_context, data, len, a->err) < 0) {
            a->sink_failed = 1;
            return 0;
        }
        a->delivered += len;
        return len;
    }
    if (a->response->body.len + len > HTTP_MAX_ERROR_BODY && !(status >= 200 && status < 300))
        return len; /* keep the start of a huge error body only */
    if (buf_append(&a->response->body, data, len) < 0)
        return 0;
    return len;
}

static size_t http_on_read(char *out, size_t size, size_t count, void *context)
{
    struct http_attempt *a = context;
    size_t room = size * count;
    size_t left = a->request->body_len - a->body_sent;
    size_t n = left < room ? left : room;
    if (n)
        memcpy(out, (const char *)a->request->body + a->body_sent, n);
    a->body_sent += n;
    return n;
}

/* curl rewinds the body when it resends a request on a new connection
 * (a reused connection that the server had closed). */
static int http_on_seek(void *context, curl_off_t offset, int origin)
{
    struct http_attempt *a = context;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > a->request->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    a->body_sent = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static long http_elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Idle timeout: aborts when no byte moved either way for idle_ms (curl's
 * low-speed check averages over seconds of earlier traffic, so a server
 * that accepts a body and then stalls would go unnoticed for too long). */
static int http_on_progress(void *context, curl_off_t down_total, curl_off_t down_now,
                            curl_off_t up_total, curl_off_t up_now)
{
    (void)down_total;
    (void)up_total;
    struct http_attempt *a = context;
    if (a->stop && *a->stop) {
        a->stopped = 1;
        return 1;
    }
    if (down_now != a->last_down || up_now != a->last_up) {
        a->last_down = down_now;
        a->last_up = up_now;
        clock_gettime(CLOCK_MONOTONIC, &a->last_progress);
        return 0;
    }
    if (http_elapsed_ms(&a->last_progress) > a->idle_ms) {
        a->timed_out = 1;
        return 1;
    }
    return 0;
}

/* "https://host:443" -> "host" (default ports dropped, as AWS signs them). */
static void http_host_of(const char *endpoint, char *host, size_t size)
{
    const char *start = strstr(endpoint, "://");
    int https = strncmp(endpoint, "https", 5) == 0;
    start = start ? start + 3 : endpoint;
    size_t len = strcspn(start, "/?");
    snprintf(host, size, "%.*s", (int)len, start);
    char *colon = strrchr(host, ':');
    if (colon && !strchr(colon, ']') &&
        ((https && strcmp(colon, ":443") == 0) || (!https && strcmp(colon, ":80") == 0)))
        *colon = '\0';
}

/* Fills aws_code/aws_message/request_id from the error body and headers. */
static void http_parse_error(const struct http_request *request, struct http_response *r)
{
    r->aws_code[0] = r->aws_message[0] = '\0';
    char value[256];
    if (http_response_header(r, "x-amz-request-id", r->request_id, sizeof r->request_id) < 0 &&
        http_response_header(r, "x-amzn-RequestId", r->request_id, sizeof r->request_id) < 0)
        r->request_id[0] = '\0';
    if (http_response_header(r, "x-amzn-ErrorType", value, sizeof value) == 0) {
        value[strcspn(value, ":")] = '\0';
        snprintf(r->aws_code, sizeof r->aws_code, "%s", value);
    }
    if (r->body.len) {
        if (request->error_format == HTTP_ERRORS_JSON) {
            cJSON *json = cJSON_ParseWithLength(r->body.data, r->body.len);
            const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(json, "__type"));
            const char *message = cJSON_GetStringValue(cJSON_GetObjectItem(json, "message"));
            if (!message)
                message = cJSON_GetStringValue(cJSON_GetObjectItem(json, "Message"));
            if (type && !r->aws_code[0]) {
                const char *hash = strrchr(type, '#');
                snprintf(r->aws_code, sizeof r->aws_code, "%s", hash ? hash + 1 : type);
            }
            if (message)
                snprintf(r->aws_message, sizeof r->aws_message, "%s", message);
            cJSON_Delete(json);
        } else {
            struct xml_node *root = xml_parse(r->body.data, r->body.len, NULL);
            const struct xml_node *error = root;
            if (root && strcmp(root->name, "ErrorResponse") == 0)
                error = xml_child(root, "Error");
            const char *code = xml_child_text(error, "Code");
            const char *message = xml_child_text(error, "Message");
            const char *id = xml_child_text(error, "RequestId");
            if (!id)
                id = xml_child_text(root, "RequestId");
            if (code)
                snprintf(r->aws_code, sizeof r->aws_code, "%s", code);
            if (message)
                snprintf(r->aws_message, sizeof r->aws_message, "%s", message);
            if (id && !r->request_id[0])
                snprintf(r->request_id, sizeof r->request_id, "%s", id);
            xml_free(root);
        }
    }
    if (!r->aws_code[0]) {
        static const struct {
            long status;
            const char *code;
        } fallback[] = {{400, "BadRequest"},         {403, "Forbidden"},
                        {404, "NotFound"},           {405, "MethodNotAllowed"},
                        {412, "PreconditionFailed"}, {429, "TooManyRequests"},
                        {500, "InternalError"},      {503, "ServiceUnavailable"}};
        for (size_t i = 0; i < sizeof fallback / sizeof fallback[0]; i++)
            if (fallback[i].status == r->status)
                snprintf(r->aws_code, sizeof r->aws_code, "%s", fallback[i].code);
    }
}

static int http_code_in(const char *code, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(code, *list) == 0)
            return 1;
    return 0;
}

static int http_is_retryable(const struct http_response *r)
{
    static const char *const codes[] = {"Throttling",
                                        "ThrottlingException",
                                        "ThrottledException",
                                        "RequestThrottledException",
                                        "TooManyRequestsException",
                                        "ProvisionedThroughputExceededException",
                                        "TransactionInProgressException",
                                        "RequestLimitExceeded",
                                        "BandwidthLimitExceeded",
                                        "RequestThrottled",
                                        "SlowDown",
                                        "PriorRequestNotComplete",
                                        "EC2ThrottledException",
                                        "RequestTimeout",
                                        "RequestTimeoutException",
                                        "InternalError",
                                        "ServiceUnavailable",
                                        NULL};
    if (r->status >= 500 || r->status == 429)
        return 1;
    return http_code_in(r->aws_code, codes);
}

static int http_is_clock_skew(const struct http_response *r)
{
    static const char *const codes[] = {"RequestTimeTooSkewed", "RequestExpired",
                                        "RequestInTheFuture", NULL};
    if (http_code_in(r->aws_code, codes))
        return 1;
    return (strcmp(r->aws_code, "InvalidSignatureException") == 0 ||
            strcmp(r->aws_code, "AuthFailure") == 0) &&
           (strstr(r->aws_message, "expired") || strstr(r->aws_message, "not yet current"));
}

static int http_is_credential_error(const struct http_response *r)
{
    static const char *const codes[] = {"SignatureDoesNotMatch",
                                        "InvalidAccessKeyId",
                                        "InvalidClientTokenId",
                                        "UnrecognizedClientException",
                                        "InvalidSignatureException",
                                        "IncompleteSignature",
                                        "ExpiredToken",
                                        "ExpiredTokenException",
                                        "InvalidToken",
                                        "TokenRefreshRequired",
                                        NULL};
    return http_code_in(r->aws_code, codes);
}

static int http_is_retryable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* Logs the canonical request at -vvv, with the session token's value cut. */
static void http_trace_signing(const struct sigv4_result *signing)
{
    if (!log_enabled(LOG_TRACE))
        return;
    buf safe = BUF_INIT;
    const char *p = signing->canonical_request.data;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p + 1) : strlen(p);
        if (strncmp(p, "x-amz-security-token:", 21) == 0)
            buf_append_str(&safe, "x-amz-security-token:<redacted>\n");
        else if (strstr(p, "X-Amz-Security-Token=") &&
                 (!eol || strstr(p, "X-Amz-Security-Token=") < eol))
            buf_append_str(&safe, "<query with security token redacted>\n");
        else
            buf_append(&safe, p, len);
        p += len;
    }
    log_trace("canonical request:\n%s", safe.data ? safe.data : "");
    log_trace("string to sign:\n%s", signing->string_to_sign.data);
    buf_free(&safe);
}

/* Sets up and performs one attempt; returns the curl code. */
static CURLcode http_perform(struct http_client *client, struct http_attempt *a, const char *url,
                             struct curl_slist *headers)
{
    const struct http_request *r = a->request;
    CURL *curl = client->curl;
    http_curl->easy_reset(curl);
    http_curl->easy_setopt(curl, CURLOPT_URL, url);
    http_curl->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    http_curl->easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    http_curl->easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    const char *bundle = getenv("AWS_CA_BUNDLE");
    if (bundle && *bundle)
        http_curl->easy_setopt(curl, CURLOPT_CAINFO, bundle);
    http_curl->easy_setopt(curl, CURLOPT_USERAGENT, "tickpipe/" TICKPIPE_VERSION);
    long connect_ms =
        r->connect_timeout_ms ? r->connect_timeout_ms : client->options.connect_timeout_ms;
    long idle_ms = r->idle_timeout_ms ? r->idle_timeout_ms : client->options.idle_timeout_ms;
    http_curl->easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    a->idle_ms = idle_ms;
    clock_gettime(CLOCK_MONOTONIC, &a->last_progress);
    http_curl->easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    http_curl->easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, http_on_progress);
    http_curl->easy_setopt(curl, CURLOPT_XFERINFODATA, a);
    http_curl->easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    http_curl->easy_setopt(curl, CURLOPT_HEADERFUNCTION, http_on_header);
    http_curl->easy_setopt(curl, CURLOPT_HEADERDATA, a);
    http_curl->easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_on_body);
    http_curl->easy_setopt(curl, CURLOPT_WRITEDATA, a);
    if (strcmp(r->method, "HEAD") == 0) {
        http_curl->easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0 || strcmp(r->method, "POST") == 0) {
        http_curl->easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        http_curl->easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        http_curl->easy_setopt(curl, CURLOPT_READFUNCTION, http_on_read);
        http_curl->easy_setopt(curl, CURLOPT_READDATA, a);
        http_curl->easy_setopt(curl, CURLOPT_SEEKFUNCTION, http_on_seek);
        http_curl->easy_setopt(curl, CURLOPT_SEEKDATA, a);
        http_curl->easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (strcmp(r->method, "GET") != 0) {
        http_curl->easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r->method);
    }
    CURLcode rc = http_curl->easy_perform(curl);
    http_curl->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->response->status);
    return rc;
}

/* Builds the header list for one attempt (signing with the current clock). */
static int http_build_headers(struct http_client *client, const struct http_request *r,
                              const char *payload_hash, struct curl_slist **out, tp_err *err)
{
    char host[512];
    http_host_of(r->endpoint, host, sizeof host);
    struct sigv4_header signed_headers[HTTP_MAX_HEADERS + 1];
    if (r->header_count > HTTP_MAX_HEADERS)
        return tp_err_set(err, TP_ERR_INTERNAL, "%s: too many headers", r->operation);
    signed_headers[0] = (struct sigv4_header){"Host", host};
    if (r->header_count)
        memcpy(signed_headers + 1, r->headers, r->header_count * sizeof *r->headers);
    size_t count = r->header_count + 1;

    struct sigv4_result signing;
    memset(&signing, 0, sizeof signing);
    struct curl_slist *list = NULL;
    buf line = BUF_INIT;
    int rc = 0;
    const struct sigv4_header *added = NULL;
    size_t added_count = 0;
    if (r->creds) {
        struct sigv4_credentials credentials;
        if (creds_get(r->creds, &credentials, err) < 0)
            return tp_err_prefix(err, "%s %s", r->operation, r->target);
        struct sigv4_params params;
        sigv4_params_init(&params, r->service, creds_region(r->creds), &credentials,
                          http_client_now(client));
        struct sigv4_request to_sign = {r->method,      r->path, r->query,
                                        signed_headers, count,   payload_hash};
        if (sigv4_sign(&to_sign, &params, &signing, err) < 0)
            return -1;
        http_trace_signing(&signing);
        added = signing.added_headers;
        added_count = signing.added_header_count;
    }
    for (size_t i = 0; i < count + added_count && rc == 0; i++) {
        const struct sigv4_header *h = i < count ? &signed_headers[i] : &added[i - count];
        buf_reset(&line);
        if (buf_printf(&line, "%s: %s", h->name, h->value) < 0) {
            rc = -1;
            break;
        }
        struct curl_slist *next = http_curl->slist_append(list, line.data);
        if (!next)
            rc = -1;
        else
            list = next;
    }
    /* No "Expect: 100-continue" round trip; no default Content-Type. */
    struct curl_slist *next = rc == 0 ? http_curl->slist_append(list, "Expect:") : NULL;
    if (next)
        list = next;
    else
        rc = -1;
    if (line.data)
        memset(line.data, 0, line.len); /* it last held the Authorization header */
    buf_free(&line);
    sigv4_result_free(&signing);
    if (rc < 0) {
        http_curl->slist_free_all(list);
        return tp_err_set(err, TP_ERR_INTERNAL, "%s: out of memory", r->operation);
    }
    *out = list;
    return 0;
}

static void http_describe_failure(const struct http_request *r, const struct http_response *resp,
                                  tp_err *err)
{
    enum tp_err_code code = resp->status == 404 ? TP_ERR_NOT_FOUND : TP_ERR_REMOTE;
    char id[160] = "";
    if (resp->request_id[0])
        snprintf(id, sizeof id, " (request id %s)", resp->request_id);
    char hint[700] = "";
    if (http_is_credential_error(resp) && r->creds) {
        static const char *const key_codes[] = {"InvalidAccessKeyId", "InvalidClientTokenId",
                                                "UnrecognizedClientException", NULL};
        static const char *const token_codes[] = {"ExpiredToken", "ExpiredTokenException",
                                                  "InvalidToken", "TokenRefreshRequired", NULL};
        const char *source = creds_source(r->creds);
        int from_env = strstr(source, "environment") != NULL;
        const char *question =
            http_code_in(resp->aws_code, key_codes)
                ? (from_env ? "is AWS_ACCESS_KEY_ID right?" : "is the access key id right?")
            : http_code_in(resp->aws_code, token_codes)
                ? (from_env ? "is AWS_SESSION_TOKEN current?" : "is the session token current?")
                : (from_env ? "is AWS_SECRET_ACCESS_KEY right?"
                            : "is the secret access key right?");
        snprintf(hint, sizeof hint, " (%s credentials came from %s)", question, source);
    }
    tp_err_set(err, code, "%s %s: HTTP %ld %s%s%s%s%s", r->operation, r->target, resp->status,
               resp->aws_code[0] ? resp->aws_code : "error", resp->aws_message[0] ? ": " : "",
               resp->aws_message, id, hint);
}

static int http_status_accepted(const struct http_request *r, long status)
{
    if (status >= 200 && status < 300)
        return 1;
    for (const long *s = r->accepted_statuses; s && *s; s++)
        if (*s == status)
            return 1;
    return 0;
}

int http_send(struct http_client *client, const struct http_request *r,
              struct http_response *response, tp_err *err)
{
    char payload_hash[65];
    if (r->unsigned_payload)
        snprintf(payload_hash, sizeof payload_hash, "%s", SIGV4_UNSIGNED_PAYLOAD);
    else
        sigv4_sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, payload_hash);
    buf url = BUF_INIT;
    if (buf_printf(&url, "%s%s%s%s", r->endpoint, r->path, r->query && *r->query ? "?" : "",
                   r->query && *r->query ? r->query : "") < 0)
        return tp_err_set(err, TP_ERR_INTERNAL, "%s: out of memory", r->operation);

    int max_attempts = r->max_attempts > 0 ? r->max_attempts : client->options.max_attempts;
    int skew_retried = 0;
    int result = -1;
    for (int attempt = 1;; attempt++) {
        buf_reset(&response->body);
        buf_reset(&response->headers);
        response->status = 0;
        response->aws_code[0] = response->aws_message[0] = response->request_id[0] = '\0';
        const volatile sig_atomic_t *stop =
            r->uninterruptible ? NULL : client->options.stop_requested;
        if (stop && *stop) {
            tp_err_set(err, TP_ERR_IO, "%s %s: interrupted", r->operation, r->target);
            break;
        }
        struct curl_slist *headers = NULL;
        if (http_build_headers(client, r, payload_hash, &headers, err) < 0)
            break;
        struct http_attempt a = {
            .request = r, .response = response, .curl = client->curl, .err = err, .stop = stop};
        log_debug("%s %s (%s, attempt %d of %d)", r->method, url.data, r->operation, attempt,
                  max_attempts);
        CURLcode rc = http_perform(client, &a, url.data, headers);
        http_curl->slist_free_all(headers);
        if (a.sink_failed)
            break;
        if (a.stopped) {
            tp_err_set(err, TP_ERR_IO, "%s %s: interrupted", r->operation, r->target);
            break;
        }
        char why[300] = "";
        if (rc != CURLE_OK) {
            if (a.timed_out)
                snprintf(why, sizeof why, "no data moved for %ld ms", a.idle_ms);
            else
                snprintf(why, sizeof why, "%s", http_curl->easy_strerror(rc));
            int retryable = http_is_retryable_curl(rc) || a.timed_out;
            if (!retryable || a.delivered || attempt >= max_attempts) {
                tp_err_set(err, TP_ERR_NETWORK, "%s %s: %s: %s (after %d attempt%s)", r->operation,
                           r->target, r->endpoint, why, attempt, attempt == 1 ? "" : "s");
                break;
            }
        } else {
            if (http_status_accepted(r, response->status)) {
                if (!(response->status >= 200 && response->status < 300))
                    http_parse_error(r, response);
                else if (http_response_header(response, "x-amz-request-id", response->request_id,
                                              sizeof response->request_id) < 0)
                    http_response_header(response, "x-amzn-RequestId", response->request_id,
                                         sizeof response->request_id);
                log_debug("%s %s: HTTP %ld", r->operation, r->target, response->status);
                result = 0;
                break;
            }
            http_parse_error(r, response);
            char date[128];
            if (http_is_clock_skew(response) && !skew_retried &&
                http_response_header(response, "Date", date, sizeof date) == 0) {
                time_t server = http_curl->getdate(date, NULL);
                if (server > 0) {
                    client->skew_seconds = (long)(server - time(NULL));
                    skew_retried = 1;
                    log_warn("%s %s: the clock differs from %s by %ld s (%s); correcting and "
                             "retrying",
                             r->operation, r->target, r->endpoint, client->skew_seconds,
                             response->aws_code);
                    attempt--; /* the skew retry does not use up an attempt */
                    continue;
                }
            }
            snprintf(why, sizeof why, "HTTP %ld %s", response->status, response->aws_code);
            if (!http_is_retryable(response) || attempt >= max_attempts) {
                http_describe_failure(r, response, err);
                if (err && attempt > 1 && http_is_retryable(response)) {
                    char suffix[64];
                    snprintf(suffix, sizeof suffix, " (after %d attempts)", attempt);
                    size_t used = strlen(err->msg);
                    snprintf(err->msg + used, sizeof err->msg - used, "%s", suffix);
                }
                break;
            }
        }
        long delay = http_backoff_delay_ms(client->options.backoff_base_ms,
                                           client->options.backoff_max_ms, attempt, &client->seed);
        log_info("%s %s: %s; retry %d of %d in %ld ms", r->operation, r->target, why, attempt,
                 max_attempts - 1, delay);
        http_sleep_ms(delay, r->uninterruptible ? NULL : client->options.stop_requested);
    }
    buf_free(&url);
    return result;
}

time_t http_parse_date(const char *text)
{
    return http_curl ? http_curl->getdate(text, NULL) : -1;
}
