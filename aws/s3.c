/*
 * s3: S3 REST operations as thin functions over http_send: URL and key
 * encoding (virtual-hosted or path-style), the checksums S3 wants
 * (x-amz-content-sha256 by the signer, Content-MD5 here), XML request
 * bodies and response parsing, listing continuation and the multipart
 * state machine with abort on failure.
 */
#include "aws/s3.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "aws/sigv4.h"
#include "aws/xml.h"
#include "lib/buf.h"
#include "lib/log.h"

#define S3_DELETE_BATCH 1000

struct s3_client {
    struct http_client *http;
    struct creds *creds;
    char *endpoint; /* "https://s3.us-east-1.amazonaws.com" or the custom one */
    int custom_endpoint;
    int force_path_style;
};

struct s3_client *s3_client_new(struct http_client *http, struct creds *creds, int force_path_style,
                                tp_err *err)
{
    struct s3_client *s3 = calloc(1, sizeof *s3);
    if (!s3) {
        tp_err_set(err, TP_ERR_INTERNAL, "S3 client: out of memory");
        return NULL;
    }
    s3->http = http;
    s3->creds = creds;
    s3->force_path_style = force_path_style;
    if (creds_endpoint(creds, "s3", &s3->endpoint, &s3->custom_endpoint, err) < 0) {
        free(s3);
        return NULL;
    }
    log_debug("S3 endpoint %s (%s addressing)", s3->endpoint,
              force_path_style || s3->custom_endpoint ? "path-style" : "virtual-hosted");
    return s3;
}

void s3_client_free(struct s3_client *s3)
{
    if (!s3)
        return;
    free(s3->endpoint);
    free(s3);
}

int s3_parse_url(const char *url, char **bucket, char **key, tp_err *err)
{
    *bucket = *key = NULL;
    if (strncmp(url, "s3://", 5) != 0)
        return tp_err_set(err, TP_ERR_USAGE, "'%s' is not an s3://bucket/key URL", url);
    const char *start = url + 5;
    const char *slash = strchr(start, '/');
    size_t len = slash ? (size_t)(slash - start) : strlen(start);
    if (len == 0)
        return tp_err_set(err, TP_ERR_USAGE, "'%s' names no bucket (s3://bucket/key)", url);
    *bucket = strndup(start, len);
    *key = strdup(slash ? slash + 1 : "");
    if (!*bucket || !*key) {
        free(*bucket);
        free(*key);
        *bucket = *key = NULL;
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    return 0;
}

/* Where a request for bucket/key goes: endpoint (scheme://authority) and
 * encoded path. */
struct s3_location {
    buf endpoint;
    buf path;
    buf target; /* "s3://bucket/key" for messages */
};

static void s3_location_free(struct s3_location *l)
{
    buf_free(&l->endpoint);
    buf_free(&l->path);
    buf_free(&l->target);
}

static int s3_locate(const struct s3_client *s3, const char *bucket, const char *key,
                     struct s3_location *l)
{
    memset(l, 0, sizeof *l);
    int path_style = s3->force_path_style || s3->custom_endpoint || strchr(bucket, '.');
    int rc = buf_printf(&l->target, "s3://%s/%s", bucket, key ? key : "");
    if (path_style) {
        rc |= buf_append_str(&l->endpoint, s3->endpoint);
        rc |= buf_printf(&l->path, "/%s", bucket);
        if (key && *key) {
            rc |= buf_append_char(&l->path, '/');
            rc |= sigv4_uri_encode(&l->path, key, strlen(key), 1);
        }
    } else {
        const char *scheme_end = strstr(s3->endpoint, "://");
        size_t scheme_len = scheme_end ? (size_t)(scheme_end + 3 - s3->endpoint) : 0;
        rc |= buf_printf(&l->endpoint, "%.*s%s.%s", (int)scheme_len, s3->endpoint, bucket,
                         s3->endpoint + scheme_len);
        rc |= buf_append_char(&l->path, '/');
        if (key && *key)
            rc |= sigv4_uri_encode(&l->path, key, strlen(key), 1);
    }
    return rc ? -1 : 0;
}

int s3_object_url(const struct s3_client *s3, const char *bucket, const char *key, char **url,
                  tp_err *err)
{
    struct s3_location l;
    buf out = BUF_INIT;
    int rc = s3_locate(s3, bucket, key, &l);
    if (rc == 0)
        rc = buf_printf(&out, "%s%s", l.endpoint.data, l.path.data);
    s3_location_free(&l);
    if (rc < 0) {
        buf_free(&out);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    *url = buf_detach(&out);
    return 0;
}

static void s3_content_md5(const void *data, size_t len, char out[32])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_Digest(data, len, digest, &digest_len, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)out, digest, (int)digest_len);
}

/* Sends one S3 request for bucket/key; fills response. */
static int s3_send_request(struct s3_client *s3, const char *operation, const char *method,
                           const char *bucket, const char *key, const char *query,
                           const struct sigv4_header *headers, size_t header_count,
                           const void *body, size_t body_len, const long *accepted, s3_sink sink,
                           void *sink_context, int uninterruptible, struct http_response *response,
                           tp_err *err);

static int s3_send(struct s3_client *s3, const char *operation, const char *method,
                   const char *bucket, const char *key, const char *query,
                   const struct sigv4_header *headers, size_t header_count, const void *body,
                   size_t body_len, const long *accepted, s3_sink sink, void *sink_context,
                   struct http_response *response, tp_err *err)
{
    return s3_send_request(s3, operation, method, bucket, key, query, headers, header_count, body,
                           body_len, accepted, sink, sink_context, 0, response, err);
}

static int s3_send_request(struct s3_client *s3, const char *operation, const char *method,
                           const char *bucket, const char *key, const char *query,
                           const struct sigv4_header *headers, size_t header_count,
                           const void *body, size_t body_len, const long *accepted, s3_sink sink,
                           void *sink_context, int uninterruptible, struct http_response *response,
                           tp_err *err)
{
    struct s3_location l;
    if (s3_locate(s3, bucket, key, &l) < 0) {
        s3_location_free(&l);
        return tp_err_set(err, TP_ERR_INTERNAL, "%s: out of memory", operation);
    }
    struct http_request request = {
        .operation = operation,
        .target = l.target.data,
        .method = method,
        .endpoint = l.endpoint.data,
        .path = l.path.data,
        .query = query,
        .headers = headers,
        .header_count = header_count,
        .body = body,
        .body_len = body_len,
        .creds = s3->creds,
        .service = "s3",
        .error_format = HTTP_ERRORS_XML,
        .sink = sink,
        .sink_context = sink_context,
        .accepted_statuses = accepted,
        .uninterruptible = uninterruptible,
    };
    int rc = http_send(s3->http, &request, response, err);
    s3_location_free(&l);
    return rc;
}

/* Appends "&name=value" with the value encoded. */
static int s3_query_param(buf *query, const char *name, const char *value)
{
    if (buf_printf(query, "%s%s=", query->len ? "&" : "", name) < 0)
        return -1;
    return sigv4_uri_encode(query, value, strlen(value), 0);
}

static const char *s3_content_type(const struct s3_put_options *options)
{
    return options && options->content_type ? options->content_type : "application/octet-stream";
}

enum s3_put_result s3_put_object(struct s3_client *s3, const char *bucket, const char *key,
                                 const void *data, size_t len, const struct s3_put_options *options,
                                 tp_err *err)
{
    char md5[32];
    s3_content_md5(data ? data : "", data ? len : 0, md5);
    struct sigv4_header headers[3] = {
        {"Content-Type", s3_content_type(options)}, {"Content-MD5", md5}, {"If-None-Match", "*"}};
    int conditional = options && options->if_none_match;
    static const long accept_412[] = {412, 0};
    struct http_response response = {0};
    int rc = s3_send(s3, "PutObject", "PUT", bucket, key, NULL, headers, conditional ? 3 : 2,
                     data ? data : "", data ? len : 0, conditional ? accept_412 : NULL, NULL, NULL,
                     &response, err);
    enum s3_put_result result = rc < 0                   ? S3_PUT_ERROR
                                : response.status == 412 ? S3_PUT_EXISTS
                                                         : S3_PUT_OK;
    http_response_free(&response);
    return result;
}

int s3_create_multipart_upload(struct s3_client *s3, const char *bucket, const char *key,
                               const struct s3_put_options *options, char **upload_id, tp_err *err)
{
    *upload_id = NULL;
    struct sigv4_header headers[] = {{"Content-Type", s3_content_type(options)}};
    struct http_response response = {0};
    if (s3_send(s3, "CreateMultipartUpload", "POST", bucket, key, "uploads", headers, 1, NULL, 0,
                NULL, NULL, NULL, &response, err) < 0) {
        http_response_free(&response);
        return -1;
    }
    struct xml_node *root = xml_parse(response.body.data, response.body.len, err);
    const char *id = xml_child_text(root, "UploadId");
    int rc = 0;
    if (!id || !*id)
        rc = tp_err_set(err, TP_ERR_PARSE,
                        "CreateMultipartUpload s3://%s/%s: no UploadId in the "
                        "answer",
                        bucket, key);
    else if (!(*upload_id = strdup(id)))
        rc = tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    xml_free(root);
    http_response_free(&response);
    return rc;
}

int s3_upload_part(struct s3_client *s3, const char *bucket, const char *key, const char *upload_id,
                   int part_number, const void *data, size_t len, char etag[128], tp_err *err)
{
    char md5[32];
    s3_content_md5(data, len, md5);
    struct sigv4_header headers[] = {{"Content-MD5", md5}};
    buf query = BUF_INIT;
    char number[16];
    snprintf(number, sizeof number, "%d", part_number);
    if (s3_query_param(&query, "partNumber", number) < 0 ||
        s3_query_param(&query, "uploadId", upload_id) < 0) {
        buf_free(&query);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    struct http_response response = {0};
    int rc = s3_send(s3, "UploadPart", "PUT", bucket, key, query.data, headers, 1, data, len, NULL,
                     NULL, NULL, &response, err);
    if (rc == 0 && http_response_header(&response, "ETag", etag, 128) < 0)
        rc = tp_err_set(err, TP_ERR_PARSE, "UploadPart %d s3://%s/%s: no ETag in the answer",
                        part_number, bucket, key);
    buf_free(&query);
    http_response_free(&response);
    return rc;
}

enum s3_put_result s3_complete_multipart_upload(struct s3_client *s3, const char *bucket,
                                                const char *key, const char *upload_id,
                                                char (*etags)[128], int part_count,
                                                const struct s3_put_options *options, tp_err *err)
{
    buf body = BUF_INIT, query = BUF_INIT;
    int rc = buf_append_str(&body, "<CompleteMultipartUpload "
                                   "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (int i = 0; i < part_count && rc == 0; i++) {
        rc = buf_printf(&body, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
        rc |= xml_escape(&body, etags[i]);
        rc |= buf_append_str(&body, "</ETag></Part>");
    }
    rc |= buf_append_str(&body, "</CompleteMultipartUpload>");
    rc |= s3_query_param(&query, "uploadId", upload_id);
    if (rc) {
        buf_free(&body);
        buf_free(&query);
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return S3_PUT_ERROR;
    }
    int conditional = options && options->if_none_match;
    struct sigv4_header headers[] = {{"Content-Type", "application/xml"}, {"If-None-Match", "*"}};
    static const long accept_412[] = {412, 0};
    struct http_response response = {0};
    enum s3_put_result result = S3_PUT_OK;
    if (s3_send(s3, "CompleteMultipartUpload", "POST", bucket, key, query.data, headers,
                conditional ? 2 : 1, body.data, body.len, conditional ? accept_412 : NULL, NULL,
                NULL, &response, err) < 0) {
        result = S3_PUT_ERROR;
    } else if (response.status == 412) {
        result = S3_PUT_EXISTS;
    } else {
        /* S3 may answer 200 and still fail: the error is then in the body. */
        struct xml_node *root = xml_parse(response.body.data, response.body.len, NULL);
        if (root && strcmp(root->name, "Error") == 0) {
            const char *code = xml_child_text(root, "Code");
            const char *message = xml_child_text(root, "Message");
            tp_err_set(err, TP_ERR_REMOTE, "CompleteMultipartUpload s3://%s/%s: %s: %s", bucket,
                       key, code ? code : "error", message ? message : "");
            result = S3_PUT_ERROR;
        }
        xml_free(root);
    }
    buf_free(&body);
    buf_free(&query);
    http_response_free(&response);
    return result;
}

int s3_abort_multipart_upload(struct s3_client *s3, const char *bucket, const char *key,
                              const char *upload_id, tp_err *err)
{
    buf query = BUF_INIT;
    if (s3_query_param(&query, "uploadId", upload_id) < 0) {
        buf_free(&query);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    struct http_response response = {0};
    /* Runs after an interrupt too: an abandoned upload keeps costing storage. */
    int rc = s3_send_request(s3, "AbortMultipartUpload", "DELETE", bucket, key, query.data, NULL, 0,
                             NULL, 0, NULL, NULL, NULL, 1, &response, err);
    buf_free(&query);
    http_response_free(&response);
    return rc;
}

/* Reads until out is full or the reader ends; returns the count or -1. */
static ssize_t s3_fill(s3_reader reader, void *context, char *out, size_t cap, tp_err *err)
{
    size_t have = 0;
    while (have < cap) {
        ssize_t n = reader(context, out + have, cap - have, err);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        have += (size_t)n;
    }
    return (ssize_t)have;
}

static enum s3_put_result s3_multipart_rest(struct s3_client *s3, const char *bucket,
                                            const char *key, s3_reader reader, void *context,
                                            char *part, size_t part_size, size_t first_len,
                                            const struct s3_put_options *options, tp_err *err)
{
    char *upload_id = NULL;
    if (s3_create_multipart_upload(s3, bucket, key, options, &upload_id, err) < 0 || !upload_id)
        return S3_PUT_ERROR;
    char(*etags)[128] = NULL;
    int count = 0, capacity = 0;
    enum s3_put_result result = S3_PUT_ERROR;
    size_t len = first_len;
    uint64_t total = 0;
    for (;;) {
        if (count == S3_MAX_PARTS) {
            tp_err_set(err, TP_ERR_USAGE,
                       "PutObject s3://%s/%s: more than %d parts of %zu bytes; use a larger "
                       "part size",
                       bucket, key, S3_MAX_PARTS, part_size);
            goto abort;
        }
        if (count == capacity) {
            int grown = capacity ? capacity * 2 : 16;
            char(*more)[128] = realloc(etags, (size_t)grown * sizeof *etags);
            if (!more) {
                tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
                goto abort;
            }
            etags = more;
            capacity = grown;
        }
        if (s3_upload_part(s3, bucket, key, upload_id, count + 1, part, len, etags[count], err) < 0)
            goto abort;
        count++;
        total += len;
        log_debug("uploaded part %d of s3://%s/%s (%zu bytes, %llu so far)", count, bucket, key,
                  len, (unsigned long long)total);
        ssize_t n = s3_fill(reader, context, part, part_size, err);
        if (n < 0)
            goto abort;
        if (n == 0)
            break;
        len = (size_t)n;
    }
    result = s3_complete_multipart_upload(s3, bucket, key, upload_id, etags, count, options, err);
    if (result != S3_PUT_OK)
        goto abort;
    free(etags);
    free(upload_id);
    return result;
abort : {
    tp_err abort_err;
    tp_err_clear(&abort_err);
    if (s3_abort_multipart_upload(s3, bucket, key, upload_id, &abort_err) < 0)
        log_warn("could not abort the multipart upload of s3://%s/%s: %s", bucket, key,
                 abort_err.msg);
}
    free(etags);
    free(upload_id);
    return result;
}

enum s3_put_result s3_put_stream(struct s3_client *s3, const char *bucket, const char *key,
                                 s3_reader reader, void *context, size_t part_size,
                                 const struct s3_put_options *options, tp_err *err)
{
    if (part_size == 0)
        part_size = S3_DEFAULT_PART_SIZE;
    if (part_size < S3_MIN_PART_SIZE)
        part_size = S3_MIN_PART_SIZE;
    char *part = malloc(part_size);
    if (!part) {
        tp_err_set(err, TP_ERR_INTERNAL, "PutObject s3://%s/%s: cannot allocate a %zu-byte part",
                   bucket, key, part_size);
        return S3_PUT_ERROR;
    }
    enum s3_put_result result = S3_PUT_ERROR;
    ssize_t first = s3_fill(reader, context, part, part_size, err);
    if (first >= 0 && (size_t)first < part_size) {
        result = s3_put_object(s3, bucket, key, part, (size_t)first, options, err);
    } else if (first >= 0) {
        /* A full first part: there may be more, go multipart. A reader that
         * ends exactly here yields a one-part upload, which S3 accepts. */
        result = s3_multipart_rest(s3, bucket, key, reader, context, part, part_size, (size_t)first,
                                   options, err);
    }
    free(part);
    return result;
}

struct s3_file_reader {
    FILE *file;
    const char *path;
};

static ssize_t s3_read_file(void *context, void *out, size_t cap, tp_err *err)
{
    struct s3_file_reader *r = context;
    size_t n = fread(out, 1, cap, r->file);
    if (n == 0 && ferror(r->file))
        return tp_err_set(err, TP_ERR_IO, "reading %s: %s", r->path, strerror(errno));
    return (ssize_t)n;
}

enum s3_put_result s3_put_open_file(struct s3_client *s3, const char *bucket, const char *key,
                                    FILE *file, const char *name, size_t part_size,
                                    const struct s3_put_options *options, tp_err *err)
{
    struct s3_file_reader r = {file, name};
    return s3_put_stream(s3, bucket, key, s3_read_file, &r, part_size, options, err);
}

enum s3_put_result s3_put_file(struct s3_client *s3, const char *bucket, const char *key,
                               const char *path, size_t part_size,
                               const struct s3_put_options *options, tp_err *err)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        tp_err_set(err, TP_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return S3_PUT_ERROR;
    }
    enum s3_put_result result =
        s3_put_open_file(s3, bucket, key, file, path, part_size, options, err);
    fclose(file);
    return result;
}

int s3_get_object(struct s3_client *s3, const char *bucket, const char *key, s3_sink sink,
                  void *context, tp_err *err)
{
    struct http_response response = {0};
    int rc = s3_send(s3, "GetObject", "GET", bucket, key, NULL, NULL, 0, NULL, 0, NULL, sink,
                     context, &response, err);
    http_response_free(&response);
    return rc;
}

int s3_get_object_range(struct s3_client *s3, const char *bucket, const char *key, uint64_t offset,
                        uint64_t length, s3_sink sink, void *context, tp_err *err)
{
    if (offset == 0 && length == 0)
        return s3_get_object(s3, bucket, key, sink, context, err);
    char range[64];
    if (length)
        snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)offset,
                 (unsigned long long)(offset + length - 1));
    else
        snprintf(range, sizeof range, "bytes=%llu-", (unsigned long long)offset);
    struct sigv4_header headers[1] = {{"Range", range}};
    static const long accept_416[] = {416, 0};
    struct http_response response = {0};
    int rc = s3_send(s3, "GetObject", "GET", bucket, key, NULL, headers, 1, NULL, 0, accept_416,
                     sink, context, &response, err);
    http_response_free(&response);
    return rc;
}

int s3_head_object(struct s3_client *s3, const char *bucket, const char *key,
                   struct s3_object_info *info, tp_err *err)
{
    memset(info, 0, sizeof *info);
    struct http_response response = {0};
    int rc = s3_send(s3, "HeadObject", "HEAD", bucket, key, NULL, NULL, 0, NULL, 0, NULL, NULL,
                     NULL, &response, err);
    if (rc == 0) {
        char value[256];
        if (http_response_header(&response, "Content-Length", value, sizeof value) == 0)
            info->size = strtoull(value, NULL, 10);
        if (http_response_header(&response, "Last-Modified", value, sizeof value) == 0)
            info->last_modified = (int64_t)http_parse_date(value);
        http_response_header(&response, "ETag", info->etag, sizeof info->etag);
        http_response_header(&response, "Content-Type", info->content_type,
                             sizeof info->content_type);
    }
    http_response_free(&response);
    return rc;
}

int s3_delete_object(struct s3_client *s3, const char *bucket, const char *key, tp_err *err)
{
    struct http_response response = {0};
    int rc = s3_send(s3, "DeleteObject", "DELETE", bucket, key, NULL, NULL, 0, NULL, 0, NULL, NULL,
                     NULL, &response, err);
    http_response_free(&response);
    return rc;
}

static int s3_delete_batch(struct s3_client *s3, const char *bucket, const char *const *keys,
                           size_t count, tp_err *err)
{
    buf body = BUF_INIT;
    int rc = buf_append_str(&body, "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                                   "<Quiet>true</Quiet>");
    for (size_t i = 0; i < count && rc == 0; i++) {
        rc = buf_append_str(&body, "<Object><Key>");
        rc |= xml_escape(&body, keys[i]);
        rc |= buf_append_str(&body, "</Key></Object>");
    }
    rc |= buf_append_str(&body, "</Delete>");
    if (rc) {
        buf_free(&body);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    char md5[32];
    s3_content_md5(body.data, body.len, md5);
    struct sigv4_header headers[] = {{"Content-Type", "application/xml"}, {"Content-MD5", md5}};
    struct http_response response = {0};
    rc = s3_send(s3, "DeleteObjects", "POST", bucket, NULL, "delete", headers, 2, body.data,
                 body.len, NULL, NULL, NULL, &response, err);
    if (rc == 0) {
        struct xml_node *root = xml_parse(response.body.data, response.body.len, NULL);
        const struct xml_node *error = xml_child(root, "Error");
        if (error) {
            const char *key = xml_child_text(error, "Key");
            const char *code = xml_child_text(error, "Code");
            const char *message = xml_child_text(error, "Message");
            rc = tp_err_set(err, TP_ERR_REMOTE, "DeleteObjects s3://%s/%s: %s: %s", bucket,
                            key ? key : "", code ? code : "error", message ? message : "");
        }
        xml_free(root);
    }
    buf_free(&body);
    http_response_free(&response);
    return rc;
}

int s3_delete_objects(struct s3_client *s3, const char *bucket, const char *const *keys,
                      size_t count, tp_err *err)
{
    for (size_t done = 0; done < count; done += S3_DELETE_BATCH) {
        size_t n = count - done < S3_DELETE_BATCH ? count - done : S3_DELETE_BATCH;
        if (s3_delete_batch(s3, bucket, keys + done, n, err) < 0)
            return -1;
    }
    return 0;
}

static int64_t s3_parse_time(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!text || !strptime(text, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

static int s3_emit_content(const struct xml_node *c, s3_list_callback callback, void *context,
                           tp_err *err)
{
    const char *key = xml_child_text(c, "Key");
    const char *size = xml_child_text(c, "Size");
    const char *etag = xml_child_text(c, "ETag");
    struct s3_list_entry entry = {key ? key : "", 0, size ? strtoull(size, NULL, 10) : 0,
                                  s3_parse_time(xml_child_text(c, "LastModified")),
                                  etag ? etag : ""};
    return callback(context, &entry, err);
}

static int s3_emit_prefix(const struct xml_node *p, s3_list_callback callback, void *context,
                          tp_err *err)
{
    const char *prefix = xml_child_text(p, "Prefix");
    struct s3_list_entry entry = {prefix ? prefix : "", 1, 0, 0, ""};
    return callback(context, &entry, err);
}

/* Emits one page's Contents and CommonPrefixes merged in key order. */
static int s3_emit_page(const struct xml_node *root, s3_list_callback callback, void *context,
                        tp_err *err)
{
    const struct xml_node *c = xml_child(root, "Contents");
    const struct xml_node *p = xml_child(root, "CommonPrefixes");
    while (c || p) {
        const char *ckey = c ? xml_child_text(c, "Key") : NULL;
        const char *pkey = p ? xml_child_text(p, "Prefix") : NULL;
        int take_content = c && (!p || strcmp(ckey ? ckey : "", pkey ? pkey : "") <= 0);
        if (take_content) {
            if (s3_emit_content(c, callback, context, err) < 0)
                return -1;
            c = xml_next_same(c);
        } else {
            if (s3_emit_prefix(p, callback, context, err) < 0)
                return -1;
            p = xml_next_same(p);
        }
    }
    return 0;
}

int s3_list_objects(struct s3_client *s3, const char *bucket, const char *prefix,
                    const char *delimiter, int max_keys, s3_list_callback callback, void *context,
                    tp_err *err)
{
    char *token = NULL;
    int rc = 0;
    int pages = 0;
    do {
        buf query = BUF_INIT;
        int q = 0;
        if (token)
            q |= s3_query_param(&query, "continuation-token", token);
        if (delimiter && *delimiter)
            q |= s3_query_param(&query, "delimiter", delimiter);
        q |= s3_query_param(&query, "list-type", "2");
        if (max_keys > 0) {
            char number[16];
            snprintf(number, sizeof number, "%d", max_keys);
            q |= s3_query_param(&query, "max-keys", number);
        }
        if (prefix && *prefix)
            q |= s3_query_param(&query, "prefix", prefix);
        free(token);
        token = NULL;
        if (q) {
            buf_free(&query);
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        }
        struct http_response response = {0};
        rc = s3_send(s3, "ListObjectsV2", "GET", bucket, NULL, query.data, NULL, 0, NULL, 0, NULL,
                     NULL, NULL, &response, err);
        buf_free(&query);
        struct xml_node *root = NULL;
        if (rc == 0) {
            root = xml_parse(response.body.data, response.body.len, err);
            if (!root)
                rc = tp_err_prefix(err, "ListObjectsV2 s3://%s/%s", bucket, prefix ? prefix : "");
        }
        if (rc == 0)
            rc = s3_emit_page(root, callback, context, err);
        if (rc == 0) {
            const char *truncated = xml_child_text(root, "IsTruncated");
            const char *next = xml_child_text(root, "NextContinuationToken");
            if (truncated && strcmp(truncated, "true") == 0) {
                if (!next || !*next)
                    rc = tp_err_set(err, TP_ERR_PARSE,
                                    "ListObjectsV2 s3://%s/%s: truncated page without "
                                    "NextContinuationToken",
                                    bucket, prefix ? prefix : "");
                else if (!(token = strdup(next)))
                    rc = tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
            }
        }
        pages++;
        xml_free(root);
        http_response_free(&response);
    } while (rc == 0 && token);
    free(token);
    log_debug("listed s3://%s/%s in %d page%s", bucket, prefix ? prefix : "", pages,
              pages == 1 ? "" : "s");
    return rc;
}
