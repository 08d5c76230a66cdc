/* Unit tests for lib/lake: flushes on the committer thread (reported with
 * the right offsets, newer messages kept apart) over a store whose writes
 * or commits fail for partition 1's data objects (a directory store
 * wrapped to fail the first of them). */
#include "test/unit/check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/lake.h"
#include "lib/store.h"

struct failing_store {
    store base;
    store *inner;
    const char *fail_marker; /* the first write to a key containing it fails */
    int failures_left;
    int commit_failures_left; /* the same for commits */
};

struct failing_writer {
    struct failing_store *store;
    store_writer *inner;
    const struct store_ops *ops;
    int fail;
};

static const struct store_ops *inner_ops(store *s)
{
    return ((struct failing_store *)s)->inner->ops;
}

static store_writer *failing_open(store *s, const char *key, enum store_put_mode mode, tp_err *err)
{
    struct failing_store *f = (struct failing_store *)s;
    struct failing_writer *w = calloc(1, sizeof *w);
    w->inner = f->inner->ops->writer_open(f->inner, key, mode, err);
    if (!w->inner) {
        free(w);
        return NULL;
    }
    w->ops = f->inner->ops;
    w->store = f;
    w->fail = strstr(key, f->fail_marker) != NULL;
    return (store_writer *)w;
}

static int failing_write(store_writer *writer, const void *data, size_t length, tp_err *err)
{
    struct failing_writer *w = (struct failing_writer *)writer;
    if (w->fail && w->store->failures_left > 0) {
        w->store->failures_left--;
        return tp_err_set(err, TP_ERR_IO, "write: injected failure");
    }
    return w->ops->writer_write(w->inner, data, length, err);
}

static int failing_commit(store_writer *writer, tp_err *err)
{
    struct failing_writer *w = (struct failing_writer *)writer;
    if (w->fail && w->store->commit_failures_left > 0) {
        w->store->commit_failures_left--;
        w->ops->writer_abort(w->inner);
        free(w);
        return tp_err_set(err, TP_ERR_IO, "commit: injected failure");
    }
    int rc = w->ops->writer_commit(w->inner, err);
    free(w);
    return rc;
}

static void failing_abort(store_writer *writer)
{
    struct failing_writer *w = (struct failing_writer *)writer;
    w->ops->writer_abort(w->inner);
    free(w);
}

static int failing_read(store *s, const char *key, long long offset, long long length,
                        store_read_fn fn, void *context, tp_err *err)
{
    return inner_ops(s)->read(((struct failing_store *)s)->inner, key, offset, length, fn, context,
                              err);
}

static int failing_list(store *s, const char *prefix, store_list_fn fn, void *context, tp_err *err)
{
    return inner_ops(s)->list(((struct failing_store *)s)->inner, prefix, fn, context, err);
}

static int failing_remove(store *s, const char *key, tp_err *err)
{
    return inner_ops(s)->remove(((struct failing_store *)s)->inner, key, err);
}

static char *failing_local_path(store *s, const char *key)
{
    return inner_ops(s)->local_path(((struct failing_store *)s)->inner, key);
}

static void failing_free(store *s)
{
    struct failing_store *f = (struct failing_store *)s;
    store_free(f->inner);
    free(f);
}

static const struct store_ops failing_ops = {
    "file",       failing_open, failing_write,  failing_commit,     failing_abort,
    failing_read, failing_list, failing_remove, failing_local_path, failing_free,
};

static int count_objects(const struct store_object *object, void *context)
{
    (void)object;
    (*(int *)context)++;
    return 0;
}

static void add_ticks(lake *l, int32_t partition, int64_t first_offset, int count)
{
    char value[256];
    for (int i = 0; i < count; i++) {
        int length = snprintf(value, sizeof value,
                              "{\"symbol\":\"S%02d\",\"timestamp\":\"2024-01-02T10:%02d:00.000Z\","
                              "\"price\":%d.25,\"padding\":\"%0120d\"}",
                              i % 50, i % 60, i, i);
        struct lake_message m = {.topic = "t",
                                 .partition = partition,
                                 .offset = first_offset + i,
                                 .timestamp_ms = -1,
                                 .key = "S",
                                 .key_length = 1,
                                 .value = value,
                                 .value_length = (size_t)length};
        tp_err err;
        int rc = lake_add(l, &m, 0, &err);
        CHECK(rc == LAKE_ADDED || rc == -1);
    }
}

struct flushed_call {
    int calls;
    int ok;
    int32_t partition;
    int64_t commit_offset, rewind_offset;
};

static void record_flushed(void *context, const char *topic, int32_t partition, int ok,
                           int64_t commit_offset, int64_t rewind_offset, const tp_err *err)
{
    (void)topic;
    (void)err;
    struct flushed_call *call = context;
    call->calls++;
    call->ok = ok;
    call->partition = partition;
    call->commit_offset = commit_offset;
    call->rewind_offset = rewind_offset;
}

/* A failing store over a new temporary directory (dir receives its path). */
static struct failing_store *failing_store_new(char *dir, const char *marker)
{
    tp_err err;
    CHECK(mkdtemp(dir) != NULL);
    struct failing_store *f = calloc(1, sizeof *f);
    f->inner = store_dir_open(dir, &err);
    CHECK(f->inner != NULL);
    f->base.ops = &failing_ops;
    f->base.location = f->inner->location;
    f->fail_marker = marker;
    return f;
}

static lake *test_lake_new(store *s, lake_flushed_fn on_flushed, void *context)
{
    static const char *const fields[] = {"timestamp", NULL};
    struct lake_options options = {.store = s,
                                   .state_prefix = "_consume/g",
                                   .partitioning = LAKE_PARTITION_DT,
                                   .format = LAKE_FORMAT_JSONL,
                                   .gzip_level = 1,
                                   .time_fields = fields,
                                   .flush_records = 1000000,
                                   .flush_bytes = 1LL << 30,
                                   .max_open_objects = 64,
                                   .on_flushed = on_flushed,
                                   .on_flushed_context = context};
    tp_err err;
    lake *l = lake_new(&options, &err);
    CHECK(l != NULL);
    return l;
}

static void remove_tree(const char *dir)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", dir);
    CHECK(system(command) == 0);
}

/* A flush runs while newer messages are added; it reports the offset after
 * its own batch; a flush that fails reports the batch's first offset and
 * the newer messages are dropped too (they are read again from there). */
static void test_async_flush(void)
{
    char dir[] = "/tmp/tickpipe-test-lake-XXXXXX";
    struct failing_store *f = failing_store_new(dir, "t+1+");
    f->commit_failures_left = 1;
    struct flushed_call call = {0};
    lake *l = test_lake_new(&f->base, record_flushed, &call);
    add_ticks(l, 0, 0, 10);
    CHECK_INT(lake_flush_async(l, "t", 0), 1);
    add_ticks(l, 0, 10, 5); /* while the flush is in flight */
    lake_wait(l, "t", 0);
    CHECK_INT(call.calls, 1);
    CHECK(call.ok && call.commit_offset == 10 && call.rewind_offset == 0);
    CHECK_INT(lake_flush_async(l, "t", 0), 1);
    lake_wait(l, NULL, 0);
    CHECK(call.calls == 2 && call.ok && call.commit_offset == 15);
    add_ticks(l, 1, 0, 10);
    CHECK_INT(lake_flush_async(l, "t", 1), 1);
    add_ticks(l, 1, 10, 5);
    lake_wait(l, "t", 1);
    CHECK(call.calls == 3 && !call.ok && call.partition == 1 && call.rewind_offset == 0);
    CHECK_INT(lake_flush_async(l, "t", 1), 0); /* offsets 10-14 were dropped with it */
    add_ticks(l, 1, 0, 15);                    /* read again */
    CHECK_INT(lake_flush_async(l, "t", 1), 1);
    lake_wait(l, NULL, 0);
    CHECK(call.calls == 4 && call.ok && call.commit_offset == 15);
    struct lake_stats stats;
    lake_get_stats(l, &stats);
    CHECK_INT(stats.objects, 3);
    lake_free(l);
    store_free(&f->base);
    remove_tree(dir);
}

/* A write that fails on the compression thread for one partition's object
 * fails that partition's flush, not another partition's, and the object
 * never becomes visible. It used to be the first flush to wait that was
 * blamed, and when the failure was transient the failing partition's
 * object was then committed with a chunk missing: data lost. */
static void test_failed_write_fails_its_own_partition(void)
{
    char dir[] = "/tmp/tickpipe-test-lake-XXXXXX";
    struct failing_store *f = failing_store_new(dir, "t+1+");
    f->failures_left = 1; /* a transient failure: later writes succeed */
    tp_err err;
    lake *l = test_lake_new(&f->base, NULL, NULL);
    add_ticks(l, 1, 0, 3000); /* > one 128 KiB chunk: compressed and written meanwhile */
    add_ticks(l, 0, 0, 10);
    int64_t commit = 0, rewind = 0;
    CHECK_INT(lake_flush(l, "t", 0, &commit, &rewind, &err), 1);
    CHECK_INT(commit, 10);
    CHECK_INT(lake_flush(l, "t", 1, &commit, &rewind, &err), -1);
    CHECK_INT(rewind, 0);
    CHECK(strstr(err.msg, "injected failure") != NULL);
    int objects = 0;
    CHECK(f->inner->ops->list(f->inner, "t/", count_objects, &objects, &err) == 0);
    CHECK_INT(objects, 1); /* partition 0's object only */
    lake_free(l);
    store_free(&f->base);
    remove_tree(dir);
}

int main(void)
{
    RUN(test_failed_write_fails_its_own_partition);
    RUN(test_async_flush);
    CHECK_EXIT();
}
