/*
 * store: backend-independent helpers over the store vtable.
 */
#include "lib/store.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

int store_put(store *s, const char *key, const void *data, size_t length, enum store_put_mode mode,
              tp_err *err)
{
    store_writer *w = s->ops->writer_open(s, key, mode, err);
    if (!w)
        return -1;
    if (s->ops->writer_write(w, data, length, err) < 0) {
        s->ops->writer_abort(w);
        return -1;
    }
    return s->ops->writer_commit(w, err);
}

struct store_get_context {
    buf data;
    long long max_bytes;
    int failed;
};

static int store_get_chunk(const void *data, size_t length, void *context)
{
    struct store_get_context *get = context;
    if (get->max_bytes > 0 && (long long)get->data.len + (long long)length > get->max_bytes)
        length = (size_t)(get->max_bytes - (long long)get->data.len);
    if (buf_append(&get->data, data, length) < 0) {
        get->failed = 1;
        return 1;
    }
    return get->max_bytes > 0 && (long long)get->data.len >= get->max_bytes;
}

int store_get(store *s, const char *key, long long max_bytes, char **data, size_t *length,
              tp_err *err)
{
    struct store_get_context get = {BUF_INIT, max_bytes, 0};
    if (s->ops->read(s, key, 0, max_bytes, store_get_chunk, &get, err) < 0) {
        buf_free(&get.data);
        return -1;
    }
    if (get.failed) {
        buf_free(&get.data);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory reading %s", key);
    }
    *length = get.data.len;
    *data = buf_detach(&get.data);
    return 0;
}
