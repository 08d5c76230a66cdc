/*
 * s3: a typed Amazon S3 client over aws/http: objects (put, conditional
 * put, streamed get, head, delete, batch delete), ListObjectsV2 with
 * automatic continuation, and multipart uploads that stream from a reader
 * callback holding one part in memory at a time. Addressing: virtual-hosted
 * (https://bucket.s3.region.amazonaws.com/key) on AWS, path-style
 * (http://host:port/bucket/key) on custom endpoints, buckets with dots, or
 * when forced. Keys are UTF-8 byte strings; any byte is allowed and encoded.
 *
 * Ownership: the client borrows the http client and creds (they must
 * outlive it). Strings handed to callbacks live only for the call.
 * Errors: -1 and a tp_err of the form "PutObject s3://b/k: HTTP 403 ...";
 * err->code is TP_ERR_NOT_FOUND for a missing bucket or key.
 */
#ifndef TICKPIPE_AWS_S3_H
#define TICKPIPE_AWS_S3_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

struct http_client;
struct creds;

#define S3_MIN_PART_SIZE     (5u << 20) /* S3's minimum for every part but the last */
#define S3_DEFAULT_PART_SIZE (8u << 20)
#define S3_MAX_PARTS         10000

struct s3_client;

/* force_path_style: 1 always path-style; 0 path-style only for custom
 * endpoints and dotted bucket names. */
struct s3_client *s3_client_new(struct http_client *http, struct creds *creds, int force_path_style,
                                tp_err *err);
void s3_client_free(struct s3_client *s3);

/* Splits "s3://bucket/key..." into malloc'd bucket and key ("" when
 * absent); returns -1 (TP_ERR_USAGE) when url is not an s3:// URL. */
int s3_parse_url(const char *url, char **bucket, char **key, tp_err *err);

/* The URL a request for bucket/key goes to (addressing style applied,
 * key encoded); malloc'd into *url. For logs and tests. */
int s3_object_url(const struct s3_client *s3, const char *bucket, const char *key, char **url,
                  tp_err *err);

struct s3_put_options {
    const char *content_type; /* NULL: application/octet-stream */
    int if_none_match;        /* 1: fail with 412 when the key exists (If-None-Match: *) */
};

enum s3_put_result {
    S3_PUT_ERROR = -1,
    S3_PUT_OK = 0,
    S3_PUT_EXISTS = 1, /* if_none_match was set and the object already existed */
};

/* PutObject of an in-memory body, with x-amz-content-sha256 and Content-MD5. */
enum s3_put_result s3_put_object(struct s3_client *s3, const char *bucket, const char *key,
                                 const void *data, size_t len, const struct s3_put_options *options,
                                 tp_err *err);

/* Fills up to cap bytes of out; returns the count (0 at the end) or -1 with
 * err set. */
typedef ssize_t (*s3_reader)(void *context, void *out, size_t cap, tp_err *err);

/*
 * Uploads everything the reader yields: one PutObject when it fits in one
 * part, else a multipart upload of part_size parts (0: S3_DEFAULT_PART_SIZE,
 * raised to S3_MIN_PART_SIZE), aborted if anything fails. Memory: one part.
 */
enum s3_put_result s3_put_stream(struct s3_client *s3, const char *bucket, const char *key,
                                 s3_reader reader, void *context, size_t part_size,
                                 const struct s3_put_options *options, tp_err *err);
/* s3_put_stream from an open file, from its current position; name is
 * for messages. */
enum s3_put_result s3_put_open_file(struct s3_client *s3, const char *bucket, const char *key,
                                    FILE *file, const char *name, size_t part_size,
                                    const struct s3_put_options *options, tp_err *err);
/* s3_put_stream from a file. */
enum s3_put_result s3_put_file(struct s3_client *s3, const char *bucket, const char *key,
                               const char *path, size_t part_size,
                               const struct s3_put_options *options, tp_err *err);

/* The multipart steps, for callers that manage parts themselves. upload_id
 * is malloc'd (caller frees); etags are kept by the caller in part order. */
int s3_create_multipart_upload(struct s3_client *s3, const char *bucket, const char *key,
                               const struct s3_put_options *options, char **upload_id, tp_err *err);
/* Writes the part's ETag (with quotes, as S3 returns it) into etag. */
int s3_upload_part(struct s3_client *s3, const char *bucket, const char *key, const char *upload_id,
                   int part_number, const void *data, size_t len, char etag[128], tp_err *err);
enum s3_put_result s3_complete_multipart_upload(struct s3_client *s3, const char *bucket,
                                                const char *key, const char *upload_id,
                                                char (*etags)[128], int part_count,
                                                const struct s3_put_options *options, tp_err *err);
int s3_abort_multipart_upload(struct s3_client *s3, const char *bucket, const char *key,
                              const char *upload_id, tp_err *err);

/* Receives an object's bytes as they arrive; 0 to go on, -1 to stop. */
typedef int (*s3_sink)(void *context, const void *data, size_t len, tp_err *err);

/* GetObject streamed to sink (not retried once bytes were delivered). */
int s3_get_object(struct s3_client *s3, const char *bucket, const char *key, s3_sink sink,
                  void *context, tp_err *err);

/* GetObject of bytes [offset, offset+length) (length 0: to the end) with a
 * Range header; a range starting at or past the end yields no bytes. */
int s3_get_object_range(struct s3_client *s3, const char *bucket, const char *key, uint64_t offset,
                        uint64_t length, s3_sink sink, void *context, tp_err *err);

struct s3_object_info {
    uint64_t size;
    int64_t last_modified; /* Unix seconds, 0 if unknown */
    char etag[128];
    char content_type[128];
};

/* HeadObject: 0 and info; -1 with TP_ERR_NOT_FOUND when missing. */
int s3_head_object(struct s3_client *s3, const char *bucket, const char *key,
                   struct s3_object_info *info, tp_err *err);

/* DeleteObject (S3 answers success for a missing key too). */
int s3_delete_object(struct s3_client *s3, const char *bucket, const char *key, tp_err *err);

/* DeleteObjects in batches of 1000; fails on the first key S3 reports. */
int s3_delete_objects(struct s3_client *s3, const char *bucket, const char *const *keys,
                      size_t count, tp_err *err);

struct s3_list_entry {
    const char *key; /* full key, or the common prefix when is_prefix */
    int is_prefix;   /* a CommonPrefixes entry (only with a delimiter) */
    uint64_t size;
    int64_t last_modified; /* Unix seconds */
    const char *etag;
};

/* Called per entry in key order; return 0 to go on, -1 to stop (error). */
typedef int (*s3_list_callback)(void *context, const struct s3_list_entry *entry, tp_err *err);

/*
 * ListObjectsV2 over every page (continuation tokens followed): prefix and
 * delimiter may be NULL; max_keys per page (0: S3's default of 1000).
 */
int s3_list_objects(struct s3_client *s3, const char *bucket, const char *prefix,
                    const char *delimiter, int max_keys, s3_list_callback callback, void *context,
                    tp_err *err);

#endif
