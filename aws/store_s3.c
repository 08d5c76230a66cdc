/*
 * store_s3: the S3 store. Keys are joined to the root prefix with '/';
 * listings strip it again, so callers see the same keys as on the
 * directory store. Each object is spooled to a file in $TMPDIR (default
 * /tmp) that has no name (O_TMPFILE), so even a killed process leaves
 * none behind.
 */
#include "aws/store_s3.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws/s3.h"
#include "lib/buf.h"

struct store_s3 {
    store base;
    struct s3_client *s3;
    char *bucket;
    char *prefix; /* "" or ending in '/' */
};

struct store_writer {
    struct store_s3 *store;
    char *key; /* full S3 key */
    char *spool_path;
    FILE *spool;
    enum store_put_mode mode;
};

static char *store_s3_full_key(const struct store_s3 *s, const char *key)
{
    buf full = BUF_INIT;
    buf_printf(&full, "%s%s", s->prefix, key);
    return buf_detach(&full);
}

static store_writer *store_s3_writer_open(store *base, const char *key, enum store_put_mode mode,
                                          tp_err *err)
{
    struct store_s3 *s = (struct store_s3 *)base;
    store_writer *w = calloc(1, sizeof *w);
    if (!w) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    w->store = s;
    w->mode = mode;
    w->key = store_s3_full_key(s, key);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    buf path = BUF_INIT;
    buf_printf(&path, "%s/tickpipe-spool-XXXXXX", tmp);
    w->spool_path = buf_detach(&path);
    /* O_TMPFILE: never named, so no kill leaves it behind; file systems
     * without it get a name for the moment between mkstemp and unlink */
    int fd = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 && strlen(w->spool_path) >= 6) /* for messages */
        memcpy(w->spool_path + strlen(w->spool_path) - 6, "(none)", 6);
    else if ((fd = mkstemp(w->spool_path)) >= 0)
        unlink(w->spool_path);
    if (fd < 0 || !(w->spool = fdopen(fd, "w+"))) {
        tp_err_set(err, TP_ERR_IO, "create spool file in %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(w->key);
        free(w->spool_path);
        free(w);
        return NULL;
    }
    return w;
}

static int store_s3_writer_write(store_writer *w, const void *data, size_t length, tp_err *err)
{
    if (length && fwrite(data, 1, length, w->spool) != length)
        return tp_err_set(err, TP_ERR_IO, "write spool file %s: %s", w->spool_path,
                          strerror(errno));
    return 0;
}

static void store_s3_writer_release(store_writer *w)
{
    if (w->spool)
        fclose(w->spool);
    free(w->spool_path);
    free(w->key);
    free(w);
}

static void store_s3_writer_abort(store_writer *w)
{
    store_s3_writer_release(w);
}

static int store_s3_writer_commit(store_writer *w, tp_err *err)
{
    if (fflush(w->spool) != 0 || fseek(w->spool, 0, SEEK_SET) != 0) {
        tp_err_set(err, TP_ERR_IO, "write spool file %s: %s", w->spool_path, strerror(errno));
        store_s3_writer_release(w);
        return -1;
    }
    struct s3_put_options options = {NULL, w->mode == STORE_PUT_IF_ABSENT};
    enum s3_put_result result = s3_put_open_file(w->store->s3, w->store->bucket, w->key, w->spool,
                                                 w->spool_path, 0, &options, err);
    int rc = 0;
    if (result == S3_PUT_EXISTS)
        rc = tp_err_set(err, TP_ERR_EXISTS, "s3://%s/%s already exists", w->store->bucket, w->key);
    else if (result != S3_PUT_OK)
        rc = -1;
    store_s3_writer_release(w);
    return rc;
}

struct store_s3_read {
    store_read_fn fn;
    void *context;
    int stopped; /* the caller asked to stop: not an error */
};

static int store_s3_read_sink(void *context, const void *data, size_t length, tp_err *err)
{
    (void)err;
    struct store_s3_read *read = context;
    if (read->fn(data, length, read->context) != 0) {
        read->stopped = 1;
        return -1;
    }
    return 0;
}

static int store_s3_read(store *base, const char *key, long long offset, long long length,
                         store_read_fn fn, void *context, tp_err *err)
{
    struct store_s3 *s = (struct store_s3 *)base;
    char *full = store_s3_full_key(s, key);
    struct store_s3_read read = {fn, context, 0};
    tp_err local;
    int rc =
        s3_get_object_range(s->s3, s->bucket, full, (uint64_t)offset,
                            length > 0 ? (uint64_t)length : 0, store_s3_read_sink, &read, &local);
    free(full);
    if (rc < 0 && !read.stopped) {
        if (err)
            *err = local;
        return -1;
    }
    return 0;
}

struct store_s3_list {
    const struct store_s3 *store;
    store_list_fn fn;
    void *context;
    int stopped;
};

static int store_s3_list_entry(void *context, const struct s3_list_entry *entry, tp_err *err)
{
    (void)err;
    struct store_s3_list *list = context;
    size_t prefix_length = strlen(list->store->prefix);
    if (entry->is_prefix || strlen(entry->key) <= prefix_length)
        return 0;
    struct store_object object = {entry->key + prefix_length, (long long)entry->size,
                                  entry->last_modified * 1000, entry->etag ? entry->etag : ""};
    if (list->fn(&object, list->context) != 0) {
        list->stopped = 1;
        return -1;
    }
    return 0;
}

static int store_s3_list(store *base, const char *prefix, store_list_fn fn, void *context,
                         tp_err *err)
{
    struct store_s3 *s = (struct store_s3 *)base;
    char *full = store_s3_full_key(s, prefix);
    struct store_s3_list list = {s, fn, context, 0};
    tp_err local;
    int rc = s3_list_objects(s->s3, s->bucket, full, NULL, 0, store_s3_list_entry, &list, &local);
    free(full);
    if (rc < 0 && !list.stopped) {
        if (err)
            *err = local;
        return -1;
    }
    return 0;
}

static int store_s3_remove(store *base, const char *key, tp_err *err)
{
    struct store_s3 *s = (struct store_s3 *)base;
    char *full = store_s3_full_key(s, key);
    int rc = s3_delete_object(s->s3, s->bucket, full, err);
    free(full);
    return rc;
}

static char *store_s3_local_path(store *base, const char *key)
{
    (void)base;
    (void)key;
    return NULL;
}

static void store_s3_free(store *base)
{
    struct store_s3 *s = (struct store_s3 *)base;
    free(s->bucket);
    free(s->prefix);
    free(s->base.location);
    free(s);
}

static const struct store_ops store_s3_ops = {
    "s3",
    store_s3_writer_open,
    store_s3_writer_write,
    store_s3_writer_commit,
    store_s3_writer_abort,
    store_s3_read,
    store_s3_list,
    store_s3_remove,
    store_s3_local_path,
    store_s3_free,
};

store *store_s3_open(struct s3_client *s3, const char *url, tp_err *err)
{
    char *bucket = NULL, *prefix = NULL;
    if (s3_parse_url(url, &bucket, &prefix, err) < 0)
        return NULL;
    struct store_s3 *s = calloc(1, sizeof *s);
    buf normalized = BUF_INIT;
    size_t length = strlen(prefix);
    while (length && prefix[length - 1] == '/')
        length--;
    if (length)
        buf_printf(&normalized, "%.*s/", (int)length, prefix);
    else
        buf_append_str(&normalized, "");
    buf location = BUF_INIT;
    buf_printf(&location, "s3://%s%s%.*s", bucket, length ? "/" : "", (int)length, prefix);
    free(prefix);
    if (!s || !*bucket) {
        free(s);
        free(bucket);
        buf_free(&normalized);
        buf_free(&location);
        tp_err_set(err, TP_ERR_USAGE, "'%s': expected s3://bucket[/prefix]", url);
        return NULL;
    }
    s->base.ops = &store_s3_ops;
    s->base.location = buf_detach(&location);
    s->s3 = s3;
    s->bucket = bucket;
    s->prefix = buf_detach(&normalized);
    return &s->base;
}
