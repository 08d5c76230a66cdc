/*
 * sigv4: the Signature Version 4 steps, one function per step of the AWS
 * documentation, plus sigv4_sign which chains them for header or query
 * signing. SHA-256 and HMAC come from OpenSSL (the same shared copy libcurl
 * uses). Checked byte for byte against AWS's official test suite.
 */
#include "aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

static const char sigv4_hex_digits[] = "0123456789abcdef";

static void sigv4_to_hex(const unsigned char *bytes, size_t len, char *hex)
{
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = sigv4_hex_digits[bytes[i] >> 4];
        hex[2 * i + 1] = sigv4_hex_digits[bytes[i] & 15];
    }
    hex[2 * len] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(data, len, digest);
    sigv4_to_hex(digest, sizeof digest, hex);
}

static void sigv4_hmac(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[32])
{
    unsigned int out_len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len);
}

void sigv4_format_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static int sigv4_is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

int sigv4_uri_encode(buf *out, const char *data, size_t len, int keep_slash)
{
    static const char upper[] = "0123456789ABCDEF";
    if (buf_reserve(out, len * 3) < 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (sigv4_is_unreserved(c) || (keep_slash && c == '/')) {
            out->data[out->len++] = (char)c;
        } else {
            out->data[out->len++] = '%';
            out->data[out->len++] = upper[c >> 4];
            out->data[out->len++] = upper[c & 15];
        }
    }
    out->data[out->len] = '\0';
    return 0;
}

static int sigv4_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes data into out (a '%' not followed by two hex digits stays
 * as is). '+' is not a space here: AWS query strings encode spaces as %20. */
static int sigv4_uri_decode(buf *out, const char *data, size_t len)
{
    if (buf_reserve(out, len) < 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int high, low;
        if (data[i] == '%' && i + 2 < len && (high = sigv4_hex_value(data[i + 1])) >= 0 &&
            (low = sigv4_hex_value(data[i + 2])) >= 0) {
            out->data[out->len++] = (char)(high * 16 + low);
            i += 2;
        } else {
            out->data[out->len++] = data[i];
        }
    }
    out->data[out->len] = '\0';
    return 0;
}

/* Path normalisation as the non-S3 services do it (posix normpath, keeping
 * a trailing slash): drops empty and "." segments and resolves "..". */
static int sigv4_normalize_path(const char *path, buf *out)
{
    size_t len = strlen(path);
    size_t *starts = malloc((len / 2 + 2) * sizeof *starts);
    size_t *lens = malloc((len / 2 + 2) * sizeof *lens);
    if (!starts || !lens) {
        free(starts);
        free(lens);
        return -1;
    }
    size_t count = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && path[i] == '/')
            i++;
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        size_t seg = i - start;
        if (seg == 0 || (seg == 1 && path[start] == '.'))
            continue;
        if (seg == 2 && path[start] == '.' && path[start + 1] == '.') {
            if (count)
                count--;
            continue;
        }
        starts[count] = start;
        lens[count++] = seg;
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++)
        if (buf_append_char(out, '/') < 0 || buf_append(out, path + starts[i], lens[i]) < 0)
            rc = -1;
    if (rc == 0 && (count == 0 || (len && path[len - 1] == '/')))
        rc = buf_append_char(out, '/');
    free(starts);
    free(lens);
    return rc;
}

int sigv4_canonical_uri(const char *path, int normalize, int double_encode, buf *out)
{
    if (!path || !*path)
        path = "/";
    buf normalized = BUF_INIT;
    if (normalize) {
        if (sigv4_normalize_path(path, &normalized) < 0)
            return -1;
        path = normalized.data;
    }
    int rc =
        double_encode ? sigv4_uri_encode(out, path, strlen(path), 1) : buf_append_str(out, path);
    buf_free(&normalized);
    return rc;
}

struct sigv4_pair {
    char *name;  /* encoded */
    char *value; /* encoded */
};

static int sigv4_pair_compare(const void *a, const void *b)
{
    const struct sigv4_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* Decodes then re-encodes one name or value so that any valid wire
 * spelling yields the one canonical spelling. */
static char *sigv4_reencode(const char *data, size_t len)
{
    buf decoded = BUF_INIT, encoded = BUF_INIT;
    if (sigv4_uri_decode(&decoded, data, len) < 0 ||
        sigv4_uri_encode(&encoded, decoded.data ? decoded.data : "", decoded.len, 0) < 0) {
        buf_free(&decoded);
        buf_free(&encoded);
        return NULL;
    }
    buf_free(&decoded);
    return buf_detach(&encoded);
}

int sigv4_canonical_query_string(const char *query, buf *out)
{
    if (!query || !*query)
        return 0;
    size_t capacity = 1;
    for (const char *p = query; *p; p++)
        capacity += *p == '&';
    struct sigv4_pair *pairs = calloc(capacity, sizeof *pairs);
    if (!pairs)
        return -1;
    size_t count = 0;
    int rc = 0;
    for (const char *p = query; *p && rc == 0;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t name_len = eq ? (size_t)(eq - p) : len;
            pairs[count].name = sigv4_reencode(p, name_len);
            pairs[count].value = eq ? sigv4_reencode(eq + 1, len - name_len - 1) : strdup("");
            if (!pairs[count].name || !pairs[count].value)
                rc = -1;
            count++;
        }
        p += len + (end ? 1 : 0);
    }
    if (rc == 0) {
        qsort(pairs, count, sizeof *pairs, sigv4_pair_compare);
        for (size_t i = 0; i < count && rc == 0; i++)
            rc = buf_printf(out, "%s%s=%s", i ? "&" : "", pairs[i].name, pairs[i].value);
    }
    for (size_t i = 0; i < count; i++) {
        free(pairs[i].name);
        free(pairs[i].value);
    }
    free(pairs);
    return rc;
}

struct sigv4_sorted_header {
    char *name; /* lower case */
    const char *value;
    size_t index; /* keeps duplicates in request order */
};

static int sigv4_header_compare(const void *a, const void *b)
{
    const struct sigv4_sorted_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int sigv4_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims the value and folds every run of white space (including the line
 * breaks of folded header lines) into one space. */
static int sigv4_append_trimmed(buf *out, const char *value)
{
    int pending_space = 0, any = 0;
    for (const char *p = value; *p; p++) {
        if (sigv4_is_space(*p)) {
            pending_space = any;
            continue;
        }
        if (pending_space && buf_append_char(out, ' ') < 0)
            return -1;
        if (buf_append_char(out, *p) < 0)
            return -1;
        pending_space = 0;
        any = 1;
    }
    return 0;
}

int sigv4_canonical_headers(const struct sigv4_header *headers, size_t count, buf *canonical,
                            buf *signed_headers)
{
    struct sigv4_sorted_header *sorted = calloc(count ? count : 1, sizeof *sorted);
    if (!sorted)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        sorted[i].name = strdup(headers[i].name);
        sorted[i].value = headers[i].value ? headers[i].value : "";
        sorted[i].index = i;
        if (!sorted[i].name)
            rc = -1;
        else
            for (char *p = sorted[i].name; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
    }
    if (rc == 0)
        qsort(sorted, count, sizeof *sorted, sigv4_header_compare);
    for (size_t i = 0; i < count && rc == 0; i++) {
        int same_as_previous = i > 0 && strcmp(sorted[i].name, sorted[i - 1].name) == 0;
        if (same_as_previous) {
            rc = buf_append_char(canonical, ',');
        } else {
            if (i > 0)
                rc = buf_append_char(canonical, '\n');
            if (rc == 0)
                rc = buf_printf(canonical, "%s:", sorted[i].name);
            if (rc == 0)
                rc = buf_printf(signed_headers, "%s%s", signed_headers->len ? ";" : "",
                                sorted[i].name);
        }
        if (rc == 0)
            rc = sigv4_append_trimmed(canonical, sorted[i].value);
    }
    if (rc == 0 && count)
        rc = buf_append_char(canonical, '\n');
    for (size_t i = 0; i < count; i++)
        free(sorted[i].name);
    free(sorted);
    return rc;
}

int sigv4_canonical_request(const struct sigv4_request *request, int normalize, int double_encode,
                            buf *out, buf *signed_headers)
{
    if (buf_printf(out, "%s\n", request->method) < 0 ||
        sigv4_canonical_uri(request->path, normalize, double_encode, out) < 0 ||
        buf_append_char(out, '\n') < 0 || sigv4_canonical_query_string(request->query, out) < 0 ||
        buf_append_char(out, '\n') < 0 ||
        sigv4_canonical_headers(request->headers, request->header_count, out, signed_headers) < 0 ||
        buf_printf(out, "\n%s\n%s", signed_headers->data ? signed_headers->data : "",
                   request->payload_hash ? request->payload_hash : SIGV4_EMPTY_SHA256) < 0)
        return -1;
    return 0;
}

int sigv4_string_to_sign(const char *amz_date, const char *scope, const char *canonical_request,
                         size_t canonical_len, buf *out)
{
    char hash[65];
    sigv4_sha256_hex(canonical_request, canonical_len, hash);
    return buf_printf(out, SIGV4_ALGORITHM "\n%s\n%s\n%s", amz_date, scope, hash);
}

void sigv4_signing_key(const char *secret_access_key, const char *date, const char *region,
                       const char *service, unsigned char key[32])
{
    size_t secret_len = strlen(secret_access_key);
    unsigned char *initial = malloc(secret_len + 5);
    unsigned char k_date[32], k_region[32], k_service[32];
    if (!initial) {
        memset(key, 0, 32);
        return;
    }
    snprintf((char *)initial, secret_len + 5, "AWS4%s", secret_access_key);
    sigv4_hmac(initial, secret_len + 4, date, strlen(date), k_date);
    OPENSSL_cleanse(initial, secret_len + 4);
    free(initial);
    sigv4_hmac(k_date, 32, region, strlen(region), k_region);
    sigv4_hmac(k_region, 32, service, strlen(service), k_service);
    sigv4_hmac(k_service, 32, "aws4_request", 12, key);
    OPENSSL_cleanse(k_date, sizeof k_date);
    OPENSSL_cleanse(k_region, sizeof k_region);
    OPENSSL_cleanse(k_service, sizeof k_service);
}

void sigv4_signature(const unsigned char key[32], const char *string_to_sign, size_t len,
                     char hex[65])
{
    unsigned char mac[32];
    sigv4_hmac(key, 32, string_to_sign, len, mac);
    sigv4_to_hex(mac, sizeof mac, hex);
}

void sigv4_params_init(struct sigv4_params *params, const char *service, const char *region,
                       const struct sigv4_credentials *credentials, time_t now)
{
    memset(params, 0, sizeof *params);
    int s3 = strcmp(service, "s3") == 0;
    params->service = service;
    params->region = region;
    params->credentials = credentials;
    params->time = now;
    params->mode = SIGV4_SIGN_HEADERS;
    params->expires_seconds = 3600;
    params->normalize_path = !s3;
    params->double_encode_path = !s3;
    params->add_content_sha256 = s3;
}

void sigv4_result_free(struct sigv4_result *result)
{
    buf_free(&result->canonical_request);
    buf_free(&result->string_to_sign);
    buf_free(&result->authorization);
    buf_free(&result->query_to_append);
    memset(result, 0, sizeof *result);
}

/* Appends "&name=encoded(value)" (no leading '&' on an empty buffer). */
static int sigv4_append_query_param(buf *query, const char *name, const char *value)
{
    if (buf_printf(query, "%s%s=", query->len ? "&" : "", name) < 0)
        return -1;
    return sigv4_uri_encode(query, value, strlen(value), 0);
}

static int sigv4_sign_steps(const struct sigv4_request *request, const struct sigv4_params *params,
                            struct sigv4_result *result)
{
    const struct sigv4_credentials *creds = params->credentials;
    int has_token = creds->session_token && *creds->session_token;
    int query_mode = params->mode == SIGV4_SIGN_QUERY;
    int rc = 0;
    char date[9];
    sigv4_format_amz_date(params->time, result->amz_date);
    memcpy(date, result->amz_date, 8);
    date[8] = '\0';

    buf scope = BUF_INIT, signed_headers = BUF_INIT, query = BUF_INIT, presign = BUF_INIT;
    struct sigv4_header *headers = calloc(request->header_count + 3, sizeof *headers);
    if (!headers)
        return -1;
    size_t header_count = request->header_count;
    if (header_count)
        memcpy(headers, request->headers, header_count * sizeof *headers);
    struct sigv4_request to_sign = *request;

    rc = buf_printf(&scope, "%s/%s/%s/aws4_request", date, params->region, params->service);
    if (query_mode) {
        /* SignedHeaders must be known before the canonical request: compute
         * it from the request's headers alone. */
        buf ignored = BUF_INIT;
        if (rc == 0)
            rc = sigv4_canonical_headers(headers, header_count, &ignored, &signed_headers);
        buf_free(&ignored);
        char credential[512];
        snprintf(credential, sizeof credential, "%s/%s", creds->access_key_id, scope.data);
        char expires[32];
        snprintf(expires, sizeof expires, "%ld", params->expires_seconds);
        if (rc == 0)
            rc = sigv4_append_query_param(&presign, "X-Amz-Algorithm", SIGV4_ALGORITHM);
        if (rc == 0)
            rc = sigv4_append_query_param(&presign, "X-Amz-Credential", credential);
        if (rc == 0)
            rc = sigv4_append_query_param(&presign, "X-Amz-Date", result->amz_date);
        if (rc == 0)
            rc = sigv4_append_query_param(&presign, "X-Amz-SignedHeaders",
                                          signed_headers.data ? signed_headers.data : "");
        if (rc == 0)
            rc = sigv4_append_query_param(&presign, "X-Amz-Expires", expires);
        buf signed_token = BUF_INIT;
        if (rc == 0 && has_token)
            rc = sigv4_append_query_param(&signed_token, "X-Amz-Security-Token",
                                          creds->session_token);
        if (rc == 0 && request->query && *request->query)
            rc = buf_printf(&query, "%s&", request->query);
        if (rc == 0)
            rc = buf_append(&query, presign.data, presign.len);
        if (rc == 0 && has_token && !params->omit_session_token)
            rc = buf_printf(&query, "&%s", signed_token.data);
        if (rc == 0 && has_token)
            rc = buf_printf(&presign, "&%s", signed_token.data);
        buf_free(&signed_token);
        to_sign.query = query.data;
        buf_reset(&signed_headers);
    } else {
        if (has_token && !params->omit_session_token)
            headers[header_count++] =
                (struct sigv4_header){"X-Amz-Security-Token", creds->session_token};
        headers[header_count++] = (struct sigv4_header){"X-Amz-Date", result->amz_date};
        if (params->add_content_sha256)
            headers[header_count++] =
                (struct sigv4_header){"x-amz-content-sha256", request->payload_hash};
    }
    to_sign.headers = headers;
    to_sign.header_count = header_count;

    if (rc == 0)
        rc = sigv4_canonical_request(&to_sign, params->normalize_path, params->double_encode_path,
                                     &result->canonical_request, &signed_headers);
    if (rc == 0)
        rc = sigv4_string_to_sign(result->amz_date, scope.data, result->canonical_request.data,
                                  result->canonical_request.len, &result->string_to_sign);
    if (rc == 0) {
        unsigned char key[32];
        sigv4_signing_key(creds->secret_access_key, date, params->region, params->service, key);
        sigv4_signature(key, result->string_to_sign.data, result->string_to_sign.len,
                        result->signature);
        OPENSSL_cleanse(key, sizeof key);
    }
    if (rc == 0 && query_mode) {
        rc = buf_printf(&presign, "&X-Amz-Signature=%s", result->signature);
        if (rc == 0) {
            buf_free(&result->query_to_append);
            result->query_to_append = presign;
            presign = (buf)BUF_INIT;
        }
    } else if (rc == 0) {
        rc = buf_printf(&result->authorization,
                        SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                        creds->access_key_id, scope.data, signed_headers.data, result->signature);
        size_t n = 0;
        if (has_token)
            result->added_headers[n++] =
                (struct sigv4_header){"X-Amz-Security-Token", creds->session_token};
        result->added_headers[n++] = (struct sigv4_header){"X-Amz-Date", result->amz_date};
        if (params->add_content_sha256)
            result->added_headers[n++] =
                (struct sigv4_header){"x-amz-content-sha256", request->payload_hash};
        result->added_headers[n++] =
            (struct sigv4_header){"Authorization", result->authorization.data};
        result->added_header_count = n;
    }
    free(headers);
    buf_free(&scope);
    buf_free(&signed_headers);
    buf_free(&query);
    buf_free(&presign);
    return rc;
}

int sigv4_sign(const struct sigv4_request *request, const struct sigv4_params *params,
               struct sigv4_result *result, tp_err *err)
{
    if (!params->credentials || !params->credentials->access_key_id ||
        !params->credentials->secret_access_key)
        return tp_err_set(err, TP_ERR_USAGE, "signing %s %s: no AWS credentials", request->method,
                          params->service);
    if (sigv4_sign_steps(request, params, result) < 0)
        return tp_err_set(err, TP_ERR_INTERNAL, "signing %s request: out of memory",
                          params->service);
    return 0;
}
