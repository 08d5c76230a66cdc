/* Unit tests for lib/store_dir: atomic writes, create-only, listing, ranged reads. */
#include "test/unit/check.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/store.h"

static char root[256];

static int collect(const struct store_object *object, void *context)
{
    buf *out = context;
    buf_printf(out, "%s:%lld\n", object->key, object->size);
    return 0;
}

static void test_put_get_list_remove(void)
{
    tp_err err;
    store *s = store_dir_open(root, &err);
    CHECK(s != NULL);
    CHECK(store_put(s, "t/dt=2024-01-02/a.jsonl", "hello\n", 6, STORE_PUT_REPLACE, &err) == 0);
    CHECK(store_put(s, "t/dt=2024-01-01/b.jsonl", "xy", 2, STORE_PUT_REPLACE, &err) == 0);
    CHECK(store_put(s, "u/c", "", 0, STORE_PUT_REPLACE, &err) == 0);
    char *data = NULL;
    size_t length = 0;
    CHECK(store_get(s, "t/dt=2024-01-02/a.jsonl", 0, &data, &length, &err) == 0);
    CHECK_STR(data, "hello\n");
    free(data);
    CHECK(store_get(s, "t/dt=2024-01-02/a.jsonl", 3, &data, &length, &err) == 0);
    CHECK_STR(data, "hel");
    free(data);
    CHECK(store_get(s, "missing", 0, &data, &length, &err) < 0);
    CHECK_INT(err.code, TP_ERR_NOT_FOUND);
    buf listing = BUF_INIT;
    CHECK(s->ops->list(s, "", collect, &listing, &err) == 0);
    CHECK_STR(listing.data, "t/dt=2024-01-01/b.jsonl:2\nt/dt=2024-01-02/a.jsonl:6\nu/c:0\n");
    buf_reset(&listing);
    CHECK(s->ops->list(s, "t/dt=2024-01-0", collect, &listing, &err) == 0);
    CHECK_STR(listing.data, "t/dt=2024-01-01/b.jsonl:2\nt/dt=2024-01-02/a.jsonl:6\n");
    buf_reset(&listing);
    CHECK(s->ops->list(s, "nothing/", collect, &listing, &err) == 0);
    CHECK_INT(listing.len, 0);
    CHECK(s->ops->remove(s, "u/c", &err) == 0);
    CHECK(s->ops->remove(s, "u/c", &err) == 0); /* removing twice is fine */
    CHECK(store_put(s, "../escape", "x", 1, STORE_PUT_REPLACE, &err) < 0);
    buf_free(&listing);
    store_free(s);
}

static void test_create_only_and_abort(void)
{
    tp_err err;
    store *s = store_dir_open(root, &err);
    CHECK(store_put(s, "once/x", "1", 1, STORE_PUT_IF_ABSENT, &err) == 0);
    CHECK(store_put(s, "once/x", "2", 1, STORE_PUT_IF_ABSENT, &err) < 0);
    CHECK_INT(err.code, TP_ERR_EXISTS);
    char *data;
    size_t length;
    CHECK(store_get(s, "once/x", 0, &data, &length, &err) == 0);
    CHECK_STR(data, "1");
    free(data);
    /* an unfinished writer is invisible, and abort leaves nothing behind */
    store_writer *w = s->ops->writer_open(s, "once/y", STORE_PUT_REPLACE, &err);
    CHECK(w && s->ops->writer_write(w, "partial", 7, &err) == 0);
    buf listing = BUF_INIT;
    s->ops->list(s, "once/", collect, &listing, &err);
    CHECK_STR(listing.data, "once/x:1\n");
    s->ops->writer_abort(w);
    char path[512];
    snprintf(path, sizeof path, "rm -f %s/once/x && [ -z \"$(ls -A %s/once)\" ]", root, root);
    CHECK(system(path) == 0);
    buf_free(&listing);
    store_free(s);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/tickpipe-store-test-%d", (int)getpid());
    RUN(test_put_get_list_remove);
    RUN(test_create_only_and_abort);
    char command[300];
    snprintf(command, sizeof command, "rm -rf %s", root);
    if (system(command) != 0)
        return 1;
    CHECK_EXIT();
}
