/* Unit tests for kafka/broker_offsets: commits survive reopening, a torn
 * tail is dropped, deletes and per-topic cleanup. */
#include "test/unit/check.h"

#include <fcntl.h>

#include "kafka/broker_offsets.h"
#include "lib/log.h"
#include "test/unit/broker_test_util.h"

static int64_t get(struct broker_offsets *offsets, const char *group, const char *topic,
                   int32_t partition, const char **metadata)
{
    int64_t offset = -1;
    const char *ignored;
    if (!broker_offsets_get(offsets, group, strlen(group), topic, strlen(topic), partition, &offset,
                            metadata ? metadata : &ignored))
        return -1;
    return offset;
}

static int commit(struct broker_offsets *offsets, const char *group, const char *topic,
                  int32_t partition, int64_t offset, const char *metadata)
{
    tp_err err;
    return broker_offsets_commit(offsets, group, strlen(group), topic, strlen(topic), partition,
                                 offset, metadata, metadata ? (int32_t)strlen(metadata) : -1, &err);
}

static void count_entry(const struct broker_offset_entry *entry, void *ctx)
{
    (void)entry;
    (*(int *)ctx)++;
}

static void test_commit_reopen_and_torn_tail(void)
{
    char *dir = test_temp_dir();
    tp_err err;
    struct broker_offsets *offsets = broker_offsets_open(dir, &err);
    CHECK(offsets != NULL);
    CHECK_INT(commit(offsets, "g1", "ticks", 0, 10, "m"), 0);
    CHECK_INT(commit(offsets, "g1", "ticks", 0, 20, NULL), 0);
    CHECK_INT(commit(offsets, "g1", "ticks", 1, 5, NULL), 0);
    CHECK_INT(commit(offsets, "g2", "other", 3, 7, "meta"), 0);
    CHECK_INT(broker_offsets_sync(offsets, &err), 0);
    broker_offsets_close(offsets);

    char path[512];
    snprintf(path, sizeof path, "%s/offsets.log", dir);
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(write(fd, "\x01\x02\x03\x04\x00\x00\x00\x30garbage", 15) == 15);
    close(fd);

    offsets = broker_offsets_open(dir, &err);
    CHECK(offsets != NULL);
    CHECK_INT(get(offsets, "g1", "ticks", 0, NULL), 20);
    CHECK_INT(get(offsets, "g1", "ticks", 1, NULL), 5);
    const char *metadata = NULL;
    CHECK_INT(get(offsets, "g2", "other", 3, &metadata), 7);
    CHECK_STR(metadata, "meta");
    CHECK_INT(get(offsets, "g1", "ticks", 2, NULL), -1);
    int count = 0;
    broker_offsets_each(offsets, "g1", 2, count_entry, &count);
    CHECK_INT(count, 2);
    CHECK_INT(broker_offsets_delete_topic(offsets, "ticks", &err), 0);
    CHECK_INT(get(offsets, "g1", "ticks", 0, NULL), -1);
    broker_offsets_close(offsets);
    offsets = broker_offsets_open(dir, &err);
    CHECK_INT(get(offsets, "g1", "ticks", 0, NULL), -1);
    CHECK_INT(get(offsets, "g2", "other", 3, NULL), 7);
    count = 0;
    broker_offsets_each(offsets, NULL, 0, count_entry, &count);
    CHECK_INT(count, 1);
    broker_offsets_close(offsets);
    test_remove_dir(dir);
    free(dir);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    RUN(test_commit_reopen_and_torn_tail);
    CHECK_EXIT();
}
