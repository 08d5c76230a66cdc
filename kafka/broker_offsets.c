/*
 * broker_offsets: the committed-offsets file and its in-memory table.
 * Record: u32 crc32c(payload) | u32 payload length | payload, payload =
 * i16 group length, group, i16 topic length, topic, i32 partition,
 * i64 offset, i16 metadata length (-1 null), metadata. Big-endian.
 */
#include "kafka/broker_offsets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kafka/broker_codec.h"
#include "kafka/broker_fs.h"
#include "kafka/broker_map.h"
#include "lib/crc32c.h"
#include "lib/log.h"

#define BROKER_OFFSETS_MAX_RECORD 70000

struct broker_offset_value {
    char *group;
    char *topic;
    int32_t partition;
    int64_t offset;
    char *metadata;
};

struct broker_offsets {
    char *path;
    char *dir;
    int fd;
    int dirty;
    int64_t file_size;
    int64_t live_bytes;
    struct broker_map table; /* key: group \0 topic \0 partition */
};

static size_t broker_offsets_key(char *key, size_t cap, const char *group, size_t group_len,
                                 const char *topic, size_t topic_len, int32_t partition)
{
    if (group_len + topic_len + 16 > cap)
        return 0;
    size_t n = 0;
    memcpy(key + n, group, group_len);
    n += group_len;
    key[n++] = '\0';
    memcpy(key + n, topic, topic_len);
    n += topic_len;
    key[n++] = '\0';
    broker_store_i32((uint8_t *)key + n, partition);
    return n + 4;
}

static void broker_offset_value_free(struct broker_offset_value *value)
{
    if (!value)
        return;
    free(value->group);
    free(value->topic);
    free(value->metadata);
    free(value);
}

static char *broker_strndup_or_null(const char *s, int32_t len)
{
    return len < 0 ? NULL : strndup(s ? s : "", (size_t)len);
}

/* Applies one record to the table; -1 when out of memory. */
static int broker_offsets_apply(struct broker_offsets *offsets, const char *group, size_t group_len,
                                const char *topic, size_t topic_len, int32_t partition,
                                int64_t offset, const char *metadata, int32_t metadata_len)
{
    char key[70000];
    size_t key_len =
        broker_offsets_key(key, sizeof key, group, group_len, topic, topic_len, partition);
    if (!key_len)
        return -1;
    struct broker_offset_value *old = broker_map_remove(&offsets->table, key, key_len);
    broker_offset_value_free(old);
    if (offset < 0)
        return 0;
    struct broker_offset_value *value = calloc(1, sizeof *value);
    if (!value)
        return -1;
    value->group = strndup(group, group_len);
    value->topic = strndup(topic, topic_len);
    value->partition = partition;
    value->offset = offset;
    value->metadata = broker_strndup_or_null(metadata, metadata_len);
    if (!value->group || !value->topic || (metadata_len >= 0 && !value->metadata) ||
        broker_map_put(&offsets->table, key, key_len, value) < 0) {
        broker_offset_value_free(value);
        return -1;
    }
    return 0;
}

static int broker_offsets_encode(struct broker_writer *w, const char *group, size_t group_len,
                                 const char *topic, size_t topic_len, int32_t partition,
                                 int64_t offset, const char *metadata, int32_t metadata_len)
{
    if (group_len > 32767 || topic_len > 32767 || metadata_len > 32767)
        return -1;
    size_t start = w->len;
    broker_write_i32(w, 0);
    broker_write_i32(w, 0);
    broker_write_i16(w, (int16_t)group_len);
    broker_write_raw(w, group, group_len);
    broker_write_i16(w, (int16_t)topic_len);
    broker_write_raw(w, topic, topic_len);
    broker_write_i32(w, partition);
    broker_write_i64(w, offset);
    broker_write_i16(w, (int16_t)(metadata_len < 0 ? -1 : metadata_len));
    if (metadata_len > 0)
        broker_write_raw(w, metadata, (size_t)metadata_len);
    if (w->failed)
        return -1;
    size_t payload = w->len - start - 8;
    broker_write_i32_at(w, start, (int32_t)crc32c_update(0, w->data + start + 8, payload));
    broker_write_i32_at(w, start + 4, (int32_t)payload);
    return 0;
}

/* Replays the file; returns the length of its valid prefix. */
static int64_t broker_offsets_load(struct broker_offsets *offsets, const uint8_t *data, size_t size)
{
    size_t position = 0;
    while (position + 8 <= size) {
        uint32_t crc = (uint32_t)broker_load_i32(data + position);
        int32_t len = broker_load_i32(data + position + 4);
        if (len < 0 || len > BROKER_OFFSETS_MAX_RECORD || position + 8 + (size_t)len > size)
            break;
        uint8_t *payload = (uint8_t *)(uintptr_t)(data + position + 8);
        if (crc32c_update(0, payload, (size_t)len) != crc)
            break;
        struct broker_reader r;
        broker_reader_init(&r, payload, (size_t)len);
        struct kafka_str group = broker_read_string(&r);
        struct kafka_str topic = broker_read_string(&r);
        int32_t partition = broker_read_i32(&r);
        int64_t offset = broker_read_i64(&r);
        struct kafka_str metadata = broker_read_nullable_string(&r);
        if (r.error)
            break;
        if (broker_offsets_apply(offsets, group.ptr, (size_t)group.len, topic.ptr,
                                 (size_t)topic.len, partition, offset, metadata.ptr,
                                 metadata.len) < 0)
            break;
        position += 8 + (size_t)len;
    }
    return (int64_t)position;
}

/* Writes every live entry to a new file and renames it over the old one. */
static int broker_offsets_rewrite(struct broker_offsets *offsets, tp_err *err)
{
    struct broker_writer w = {0};
    size_t bucket = 0;
    struct broker_map_entry *cursor = NULL, *entry;
    while ((entry = broker_map_next(&offsets->table, &bucket, &cursor))) {
        const struct broker_offset_value *v = entry->value;
        broker_offsets_encode(&w, v->group, strlen(v->group), v->topic, strlen(v->topic),
                              v->partition, v->offset, v->metadata,
                              v->metadata ? (int32_t)strlen(v->metadata) : -1);
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", offsets->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = -1;
    if (fd >= 0 && !w.failed && broker_fs_write_all(fd, w.data, w.len) == 0 && fdatasync(fd) == 0 &&
        rename(tmp, offsets->path) == 0)
        rc = 0;
    if (rc < 0)
        tp_err_set(err, TP_ERR_IO, "rewrite %s: %s", offsets->path,
                   w.failed ? "out of memory" : strerror(errno));
    if (fd >= 0)
        close(fd);
    if (rc == 0) {
        broker_fs_sync_dir(offsets->dir);
        offsets->file_size = (int64_t)w.len;
        offsets->live_bytes = (int64_t)w.len;
    }
    broker_writer_free(&w);
    return rc;
}

static int broker_offsets_open_file(struct broker_offsets *offsets, tp_err *err)
{
    if (offsets->fd >= 0)
        close(offsets->fd);
    offsets->fd = open(offsets->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (offsets->fd < 0)
        return tp_err_set(err, TP_ERR_IO, "open %s: %s", offsets->path, strerror(errno));
    return 0;
}

struct broker_offsets *broker_offsets_open(const char *dir, tp_err *err)
{
    struct broker_offsets *offsets = calloc(1, sizeof *offsets);
    if (!offsets)
        return NULL;
    offsets->fd = -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/offsets.log", dir);
    offsets->path = strdup(path);
    offsets->dir = strdup(dir);
    if (!offsets->path || !offsets->dir) {
        tp_err_set(err, TP_ERR_INTERNAL, "open %s: out of memory", path);
        broker_offsets_close(offsets);
        return NULL;
    }
    if (broker_fs_mkdirs(dir, err) < 0) {
        broker_offsets_close(offsets);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        uint8_t *data = NULL;
        int ok = fstat(fd, &st) == 0 && (data = malloc((size_t)st.st_size + 1)) != NULL;
        size_t size = ok ? (size_t)st.st_size : 0;
        size_t done = 0;
        while (ok && done < size) {
            ssize_t n = read(fd, data + done, size - done);
            if (n <= 0)
                break;
            done += (size_t)n;
        }
        close(fd);
        if (!ok) {
            free(data);
            tp_err_set(err, TP_ERR_IO, "read %s: %s", path, strerror(errno));
            broker_offsets_close(offsets);
            return NULL;
        }
        int64_t valid = broker_offsets_load(offsets, data, done);
        free(data);
        if ((size_t)valid < done)
            log_warn("recovery: %s: dropped %lld damaged bytes at the end", path,
                     (long long)(done - (size_t)valid));
        if (offsets->table.count)
            log_notice("recovered %zu committed group offsets", offsets->table.count);
    }
    /* Always start from a compact file: it also removes a torn tail. */
    if (broker_offsets_rewrite(offsets, err) < 0 || broker_offsets_open_file(offsets, err) < 0) {
        broker_offsets_close(offsets);
        return NULL;
    }
    return offsets;
}

void broker_offsets_close(struct broker_offsets *offsets)
{
    if (!offsets)
        return;
    size_t bucket = 0;
    struct broker_map_entry *cursor = NULL, *entry;
    while ((entry = broker_map_next(&offsets->table, &bucket, &cursor)))
        broker_offset_value_free(entry->value);
    broker_map_free(&offsets->table);
    if (offsets->fd >= 0)
        close(offsets->fd);
    free(offsets->path);
    free(offsets->dir);
    free(offsets);
}

int broker_offsets_commit(struct broker_offsets *offsets, const char *group, size_t group_len,
                          const char *topic, size_t topic_len, int32_t partition, int64_t offset,
                          const char *metadata, int32_t metadata_len, tp_err *err)
{
    struct broker_writer w = {0};
    if (broker_offsets_encode(&w, group, group_len, topic, topic_len, partition, offset, metadata,
                              metadata_len) < 0) {
        broker_writer_free(&w);
        return tp_err_set(err, TP_ERR_USAGE, "commit offset: group, topic or metadata too long");
    }
    if (broker_fs_write_all(offsets->fd, w.data, w.len) < 0) {
        int saved = errno;
        broker_writer_free(&w);
        return tp_err_set(err, TP_ERR_IO, "append to %s: %s", offsets->path, strerror(saved));
    }
    offsets->file_size += (int64_t)w.len;
    offsets->live_bytes += (int64_t)w.len;
    broker_writer_free(&w);
    offsets->dirty = 1;
    if (broker_offsets_apply(offsets, group, group_len, topic, topic_len, partition, offset,
                             metadata, metadata_len) < 0)
        return tp_err_set(err, TP_ERR_INTERNAL, "commit offset: out of memory");
    return 0;
}

int broker_offsets_get(const struct broker_offsets *offsets, const char *group, size_t group_len,
                       const char *topic, size_t topic_len, int32_t partition, int64_t *offset,
                       const char **metadata)
{
    char key[70000];
    size_t key_len =
        broker_offsets_key(key, sizeof key, group, group_len, topic, topic_len, partition);
    const struct broker_offset_value *value =
        key_len ? broker_map_get(&offsets->table, key, key_len) : NULL;
    if (!value)
        return 0;
    *offset = value->offset;
    *metadata = value->metadata;
    return 1;
}

void broker_offsets_each(const struct broker_offsets *offsets, const char *group, size_t group_len,
                         void (*fn)(const struct broker_offset_entry *entry, void *ctx), void *ctx)
{
    size_t bucket = 0;
    struct broker_map_entry *cursor = NULL, *entry;
    while ((entry = broker_map_next(&offsets->table, &bucket, &cursor))) {
        const struct broker_offset_value *v = entry->value;
        if (group && (strlen(v->group) != group_len || memcmp(v->group, group, group_len) != 0))
            continue;
        struct broker_offset_entry e = {v->group, v->topic, v->partition, v->offset, v->metadata};
        fn(&e, ctx);
    }
}

struct broker_offsets_doomed {
    struct broker_offset_value **values;
    size_t count, cap;
    const char *topic;
};

int broker_offsets_delete_topic(struct broker_offsets *offsets, const char *topic, tp_err *err)
{
    size_t bucket = 0;
    struct broker_map_entry *cursor = NULL, *entry;
    int rc = 0;
    /* Collect first: committing modifies the table. */
    struct broker_offsets_doomed doomed = {NULL, 0, 0, topic};
    while ((entry = broker_map_next(&offsets->table, &bucket, &cursor))) {
        struct broker_offset_value *v = entry->value;
        if (strcmp(v->topic, topic) != 0)
            continue;
        if (doomed.count == doomed.cap) {
            size_t cap = doomed.cap ? doomed.cap * 2 : 16;
            struct broker_offset_value **grown =
                realloc(doomed.values, cap * sizeof(struct broker_offset_value *));
            if (!grown) {
                free(doomed.values);
                return tp_err_set(err, TP_ERR_INTERNAL, "delete offsets: out of memory");
            }
            doomed.values = grown;
            doomed.cap = cap;
        }
        doomed.values[doomed.count++] = v;
    }
    for (size_t i = 0; i < doomed.count && rc == 0; i++) {
        struct broker_offset_value *v = doomed.values[i];
        char group[32768];
        snprintf(group, sizeof group, "%s", v->group);
        rc = broker_offsets_commit(offsets, group, strlen(group), topic, strlen(topic),
                                   v->partition, -1, NULL, -1, err);
    }
    free(doomed.values);
    return rc;
}

int broker_offsets_dirty(const struct broker_offsets *offsets)
{
    return offsets->dirty;
}

int broker_offsets_sync(struct broker_offsets *offsets, tp_err *err)
{
    if (!offsets->dirty)
        return 0;
    if (fdatasync(offsets->fd) < 0)
        return tp_err_set(err, TP_ERR_IO, "sync %s: %s", offsets->path, strerror(errno));
    offsets->dirty = 0;
    /* Compact when the file is mostly superseded commits. */
    if (offsets->file_size > 4 * 1024 * 1024 &&
        offsets->file_size > 8 * (int64_t)(offsets->table.count * 64 + 1)) {
        if (broker_offsets_rewrite(offsets, err) < 0 || broker_offsets_open_file(offsets, err) < 0)
            return -1;
    }
    return 0;
}
