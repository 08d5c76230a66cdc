/*
 * broker_log: segment files, the sparse in-memory index, recovery with
 * torn-tail truncation, reads by offset and by timestamp, fsync and
 * retention for one partition. Only the active segment keeps a file
 * descriptor open; older segments are opened for a read and closed again
 * when another segment is read, so descriptors stay bounded per partition.
 */
#include "kafka/broker_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kafka/broker_fs.h"
#include "lib/log.h"

#define BROKER_LOG_INDEX_ENTRIES      1024 /* per full segment */
#define BROKER_LOG_MIN_INDEX_INTERVAL 4096
#define BROKER_LOG_SCAN_CHUNK         16384
#define BROKER_LOG_RECOVERY_CHUNK     (1 << 20)

struct broker_index_entry {
    int64_t offset;   /* base offset of a batch */
    int64_t position; /* its position in the segment file */
};

struct broker_segment {
    int64_t base_offset;
    int64_t next_offset; /* one past the last offset stored */
    int64_t size;
    int64_t max_timestamp;
    int64_t last_append_ms; /* wall clock; file mtime after recovery */
    int fd;                 /* -1 when closed */
    int dirty;
    struct broker_index_entry *index;
    int index_count;
    int index_capacity;
    int64_t last_indexed_position;
};

struct broker_log {
    char *dir;
    char *name;
    struct broker_log_config config;
    int64_t index_interval;
    struct broker_segment *segments;
    int segment_count;
    int segment_capacity;
    int read_segment; /* a non-active segment whose fd is open, or -1 */
    int dir_dirty;
    int retired_fds[4]; /* rolled segments still to fdatasync */
    int retired_count;
    uint64_t appended;
    struct broker_producer_state *producers;
};

static void broker_segment_path(const struct broker_log *log, int64_t base_offset, char *path,
                                size_t size)
{
    snprintf(path, size, "%s/%020lld.log", log->dir, (long long)base_offset);
}

static void broker_segment_release(struct broker_segment *segment)
{
    if (segment->fd >= 0)
        close(segment->fd);
    segment->fd = -1;
    free(segment->index);
    segment->index = NULL;
    segment->index_count = segment->index_capacity = 0;
}

static struct broker_segment *broker_log_active(struct broker_log *log)
{
    return &log->segments[log->segment_count - 1];
}

static int broker_segment_index_add(struct broker_log *log, struct broker_segment *segment,
                                    int64_t offset, int64_t position)
{
    if (segment->index_count > 0 && position - segment->last_indexed_position < log->index_interval)
        return 0;
    if (segment->index_count == segment->index_capacity) {
        size_t capacity = segment->index_capacity > 0 ? (size_t)segment->index_capacity * 2 : 16;
        struct broker_index_entry *index = realloc(segment->index, capacity * sizeof *index);
        if (!index)
            return 0; /* the index is an optimisation: reads scan further */
        segment->index = index;
        segment->index_capacity = (int)capacity;
    }
    segment->index[segment->index_count++] = (struct broker_index_entry){offset, position};
    segment->last_indexed_position = position;
    return 0;
}

/* Position of the last indexed batch whose base offset is <= offset. */
static int64_t broker_segment_index_lookup(const struct broker_segment *segment, int64_t offset)
{
    int low = 0, high = segment->index_count - 1, found = -1;
    while (low <= high) {
        int mid = low + (high - low) / 2;
        if (segment->index[mid].offset <= offset) {
            found = mid;
            low = mid + 1;
        } else {
            high = mid - 1;
        }
    }
    return found < 0 ? 0 : segment->index[found].position;
}

static int broker_log_push_segment(struct broker_log *log, int64_t base_offset, int fd)
{
    if (log->segment_count == log->segment_capacity) {
        size_t capacity = log->segment_capacity > 0 ? (size_t)log->segment_capacity * 2 : 4;
        struct broker_segment *segments = realloc(log->segments, capacity * sizeof *segments);
        if (!segments)
            return -1;
        log->segments = segments;
        log->segment_capacity = (int)capacity;
    }
    struct broker_segment *segment = &log->segments[log->segment_count++];
    memset(segment, 0, sizeof *segment);
    segment->base_offset = base_offset;
    segment->next_offset = base_offset;
    segment->max_timestamp = -1;
    segment->fd = fd;
    return 0;
}

static int broker_log_create_segment(struct broker_log *log, int64_t base_offset, int64_t now_ms,
                                     tp_err *err)
{
    char path[4096];
    broker_segment_path(log, base_offset, path, sizeof path);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return tp_err_set(err, TP_ERR_IO, "create segment %s: %s", path, strerror(errno));
    if (broker_log_push_segment(log, base_offset, fd) < 0) {
        close(fd);
        return tp_err_set(err, TP_ERR_INTERNAL, "create segment %s: out of memory", path);
    }
    broker_log_active(log)->last_append_ms = now_ms;
    log->dir_dirty = 1;
    return 0;
}

static int64_t broker_now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int broker_compare_offsets(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Base offsets of the segment files in the directory, sorted. */
static int broker_log_list_segments(struct broker_log *log, int64_t **offsets, int *count,
                                    tp_err *err)
{
    DIR *dir = opendir(log->dir);
    if (!dir)
        return tp_err_set(err, TP_ERR_IO, "open %s: %s", log->dir, strerror(errno));
    int n = 0, capacity = 0;
    int64_t *list = NULL;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        const char *name = entry->d_name;
        if (strlen(name) != 24 || strcmp(name + 20, ".log") != 0 ||
            strspn(name, "0123456789") != 20)
            continue;
        if (n == capacity) {
            capacity = capacity ? capacity * 2 : 8;
            int64_t *grown = realloc(list, (size_t)capacity * sizeof *list);
            if (!grown) {
                free(list);
                closedir(dir);
                return tp_err_set(err, TP_ERR_INTERNAL, "list %s: out of memory", log->dir);
            }
            list = grown;
        }
        list[n++] = strtoll(name, NULL, 10);
    }
    closedir(dir);
    if (n > 1)
        qsort(list, (size_t)n, sizeof *list, broker_compare_offsets);
    *offsets = list;
    *count = n;
    return 0;
}

/*
 * Scans one segment file: validates each batch and builds the index and
 * producer state. Returns the valid length; *reason says why it stopped
 * early (NULL when the whole file is valid).
 */
static int64_t broker_log_scan_segment(struct broker_log *log, struct broker_segment *segment,
                                       int64_t file_size, const char **reason, tp_err *err)
{
    size_t capacity = BROKER_LOG_RECOVERY_CHUNK;
    uint8_t *chunk = malloc(capacity);
    if (!chunk)
        return tp_err_set(err, TP_ERR_INTERNAL, "recover %s: out of memory", log->name);
    int64_t position = 0, chunk_position = 0;
    size_t chunk_len = 0;
    *reason = NULL;
    while (position < file_size) {
        size_t at = (size_t)(position - chunk_position);
        struct broker_batch_info info;
        const char *why = NULL;
        enum broker_batch_status status =
            position >= chunk_position && at <= chunk_len
                ? broker_batch_parse(chunk + at, chunk_len - at, log->config.max_batch_bytes, 1,
                                     &info, &why)
                : BROKER_BATCH_INCOMPLETE;
        if (status == BROKER_BATCH_INCOMPLETE) {
            int64_t need = 12;
            if (position >= chunk_position && chunk_len - at >= 12)
                need = broker_batch_size(chunk + at, chunk_len - at);
            if (position + need > file_size) {
                *reason = "torn batch at the end of the file";
                break;
            }
            if ((size_t)need > capacity) {
                uint8_t *grown = realloc(chunk, (size_t)need);
                if (!grown) {
                    free(chunk);
                    return tp_err_set(err, TP_ERR_INTERNAL, "recover %s: out of memory", log->name);
                }
                chunk = grown;
                capacity = (size_t)need;
            }
            int64_t want = file_size - position;
            ssize_t n = broker_fs_pread_full(
                segment->fd, chunk, want < (int64_t)capacity ? (size_t)want : capacity, position);
            if (n < 0) {
                free(chunk);
                return tp_err_set(err, TP_ERR_IO, "recover %s: read: %s", log->name,
                                  strerror(errno));
            }
            chunk_position = position;
            chunk_len = (size_t)n;
            if ((int64_t)chunk_len < need) {
                *reason = "torn batch at the end of the file";
                break;
            }
            continue;
        }
        if (status == BROKER_BATCH_INVALID) {
            *reason = why;
            break;
        }
        if (info.base_offset != segment->next_offset) {
            *reason = "batch offset does not continue the log";
            break;
        }
        broker_segment_index_add(log, segment, info.base_offset, position);
        broker_producer_record(log->producers, &info, info.base_offset);
        segment->next_offset = info.base_offset + info.last_offset_delta + 1;
        if (info.max_timestamp > segment->max_timestamp)
            segment->max_timestamp = info.max_timestamp;
        position += info.size;
    }
    free(chunk);
    return position;
}

static int broker_log_recover(struct broker_log *log, struct broker_log_recovery *recovery,
                              tp_err *err)
{
    int64_t *offsets = NULL;
    int count = 0;
    if (broker_log_list_segments(log, &offsets, &count, err) < 0)
        return -1;
    int cut = 0; /* set once a segment was truncated: later ones are dropped */
    for (int i = 0; i < count; i++) {
        char path[4096];
        broker_segment_path(log, offsets[i], path, sizeof path);
        if (cut || (log->segment_count > 0 && offsets[i] != broker_log_active(log)->next_offset)) {
            if (!cut)
                recovery->reason = "segment does not continue the previous one";
            cut = 1;
            struct stat st;
            if (stat(path, &st) == 0)
                recovery->truncated_bytes += st.st_size;
            unlink(path);
            recovery->deleted_segments++;
            log->dir_dirty = 1;
            continue;
        }
        int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            tp_err_set(err, TP_ERR_IO, "open segment %s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            free(offsets);
            return -1;
        }
        if (broker_log_push_segment(log, offsets[i], fd) < 0) {
            close(fd);
            free(offsets);
            return tp_err_set(err, TP_ERR_INTERNAL, "recover %s: out of memory", log->name);
        }
        struct broker_segment *segment = broker_log_active(log);
        segment->last_append_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        const char *reason = NULL;
        int64_t valid = broker_log_scan_segment(log, segment, st.st_size, &reason, err);
        if (valid < 0) {
            free(offsets);
            return -1;
        }
        if (valid < st.st_size) {
            if (ftruncate(fd, valid) < 0 || fdatasync(fd) < 0) {
                tp_err_set(err, TP_ERR_IO, "truncate %s: %s", path, strerror(errno));
                free(offsets);
                return -1;
            }
            recovery->truncated_bytes += st.st_size - valid;
            recovery->reason = reason;
            cut = 1;
        }
        segment->size = valid;
        recovery->bytes += valid;
        recovery->segments++;
    }
    free(offsets);
    /* Only the active (last) segment keeps its descriptor. */
    for (int i = 0; i + 1 < log->segment_count; i++) {
        close(log->segments[i].fd);
        log->segments[i].fd = -1;
    }
    if (log->segment_count == 0)
        return broker_log_create_segment(log, 0, broker_now_wall_ms(), err);
    return 0;
}

struct broker_log *broker_log_open(const char *dir, const char *name,
                                   const struct broker_log_config *config,
                                   struct broker_log_recovery *recovery, tp_err *err)
{
    memset(recovery, 0, sizeof *recovery);
    if (broker_fs_mkdirs(dir, err) < 0)
        return NULL;
    struct broker_log *log = calloc(1, sizeof *log);
    if (!log || !(log->dir = strdup(dir)) || !(log->name = strdup(name)) ||
        !(log->producers = broker_producer_state_new())) {
        tp_err_set(err, TP_ERR_INTERNAL, "open log %s: out of memory", name);
        broker_log_close(log);
        return NULL;
    }
    log->config = *config;
    log->index_interval = config->segment_bytes / BROKER_LOG_INDEX_ENTRIES;
    if (log->index_interval < BROKER_LOG_MIN_INDEX_INTERVAL)
        log->index_interval = BROKER_LOG_MIN_INDEX_INTERVAL;
    log->read_segment = -1;
    if (broker_log_recover(log, recovery, err) < 0) {
        broker_log_close(log);
        return NULL;
    }
    return log;
}

void broker_log_close(struct broker_log *log)
{
    if (!log)
        return;
    for (int i = 0; i < log->segment_count; i++)
        broker_segment_release(&log->segments[i]);
    for (int i = 0; i < log->retired_count; i++)
        close(log->retired_fds[i]);
    free(log->segments);
    broker_producer_state_free(log->producers);
    free(log->dir);
    free(log->name);
    free(log);
}

const char *broker_log_name(const struct broker_log *log)
{
    return log->name;
}

int64_t broker_log_start_offset(const struct broker_log *log)
{
    return log->segments[0].base_offset;
}

int64_t broker_log_end_offset(const struct broker_log *log)
{
    return log->segments[log->segment_count - 1].next_offset;
}

int64_t broker_log_size(const struct broker_log *log)
{
    int64_t size = 0;
    for (int i = 0; i < log->segment_count; i++)
        size += log->segments[i].size;
    return size;
}

int broker_log_segment_count(const struct broker_log *log)
{
    return log->segment_count;
}

uint64_t broker_log_appended(const struct broker_log *log)
{
    return log->appended;
}

struct broker_producer_state *broker_log_producers(struct broker_log *log)
{
    return log->producers;
}

static int broker_log_roll(struct broker_log *log, int64_t now_ms, tp_err *err)
{
    struct broker_segment *old = broker_log_active(log);
    int keep_for_sync = log->config.sync_on_roll && old->dirty;
    if (keep_for_sync && log->retired_count == (int)(sizeof log->retired_fds / sizeof(int)) &&
        broker_log_sync(log, err) < 0)
        return -1;
    keep_for_sync = log->config.sync_on_roll && old->dirty;
    int old_index = log->segment_count - 1;
    if (broker_log_create_segment(log, broker_log_end_offset(log), now_ms, err) < 0)
        return -1;
    struct broker_segment *previous = &log->segments[old_index];
    if (keep_for_sync)
        log->retired_fds[log->retired_count++] = previous->fd;
    else
        close(previous->fd);
    previous->fd = -1;
    previous->dirty = 0;
    return 0;
}

int broker_log_append(struct broker_log *log, uint8_t *batch, const struct broker_batch_info *info,
                      int64_t now_ms, int64_t *base_offset, tp_err *err)
{
    struct broker_segment *active = broker_log_active(log);
    if (active->size > 0 && active->size + info->size > log->config.segment_bytes) {
        if (broker_log_roll(log, now_ms, err) < 0)
            return -1;
        active = broker_log_active(log);
    }
    int64_t offset = active->next_offset;
    broker_store_i64(batch, offset);
    if (broker_fs_write_all(active->fd, batch, (size_t)info->size) < 0) {
        int saved = errno;
        if (ftruncate(active->fd, active->size) < 0)
            log_error("%s: could not remove a partial write: %s", log->name, strerror(errno));
        return tp_err_set(err, TP_ERR_IO, "append to %s segment %lld: %s", log->name,
                          (long long)active->base_offset, strerror(saved));
    }
    broker_segment_index_add(log, active, offset, active->size);
    active->size += info->size;
    active->next_offset = offset + info->last_offset_delta + 1;
    if (info->max_timestamp > active->max_timestamp)
        active->max_timestamp = info->max_timestamp;
    active->last_append_ms = now_ms;
    active->dirty = 1;
    log->appended += (uint64_t)info->size;
    broker_producer_record(log->producers, info, offset);
    *base_offset = offset;
    return 0;
}

/* The segment holding offset (start <= offset < end). */
static int broker_log_find_segment(const struct broker_log *log, int64_t offset)
{
    int low = 0, high = log->segment_count - 1, found = 0;
    while (low <= high) {
        int mid = low + (high - low) / 2;
        if (log->segments[mid].base_offset <= offset) {
            found = mid;
            low = mid + 1;
        } else {
            high = mid - 1;
        }
    }
    while (found + 1 < log->segment_count && log->segments[found].next_offset <= offset)
        found++;
    return found;
}

static int broker_log_segment_fd(struct broker_log *log, int index, tp_err *err)
{
    struct broker_segment *segment = &log->segments[index];
    if (segment->fd >= 0)
        return segment->fd;
    if (log->read_segment >= 0 && log->read_segment < log->segment_count - 1 &&
        log->segments[log->read_segment].fd >= 0) {
        close(log->segments[log->read_segment].fd);
        log->segments[log->read_segment].fd = -1;
    }
    char path[4096];
    broker_segment_path(log, segment->base_offset, path, sizeof path);
    segment->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (segment->fd < 0)
        return tp_err_set(err, TP_ERR_IO, "open segment %s: %s", path, strerror(errno));
    log->read_segment = index;
    return segment->fd;
}

/* Position of the batch containing offset, scanning headers from the
 * index entry before it; -1 on error. */
static int64_t broker_segment_find_batch(struct broker_log *log, struct broker_segment *segment,
                                         int fd, int64_t offset, tp_err *err)
{
    uint8_t chunk[BROKER_LOG_SCAN_CHUNK];
    int64_t position = broker_segment_index_lookup(segment, offset);
    int64_t chunk_position = 0;
    size_t chunk_len = 0;
    while (position < segment->size) {
        if (position < chunk_position || position + 27 > chunk_position + (int64_t)chunk_len) {
            int64_t want = segment->size - position;
            ssize_t n = broker_fs_pread_full(
                fd, chunk, (size_t)(want < (int64_t)sizeof chunk ? want : (int64_t)sizeof chunk),
                position);
            if (n < 27)
                return tp_err_set(err, TP_ERR_IO, "read %s segment %lld at %lld: %s", log->name,
                                  (long long)segment->base_offset, (long long)position,
                                  n < 0 ? strerror(errno) : "short read");
            chunk_position = position;
            chunk_len = (size_t)n;
        }
        const uint8_t *header = chunk + (position - chunk_position);
        int64_t base = broker_load_i64(header);
        int64_t size = broker_batch_size(header, 12);
        int64_t last = base + broker_load_i32(header + 23);
        if (size < 0)
            return tp_err_set(err, TP_ERR_IO, "read %s segment %lld at %lld: bad batch header",
                              log->name, (long long)segment->base_offset, (long long)position);
        if (last >= offset)
            return position;
        position += size;
    }
    return segment->size;
}

enum broker_log_read_status broker_log_read(struct broker_log *log, int64_t offset,
                                            int64_t max_bytes, int min_one,
                                            struct broker_writer *out, int64_t *bytes, tp_err *err)
{
    *bytes = 0;
    int64_t start = broker_log_start_offset(log), end = broker_log_end_offset(log);
    if (offset < start || offset > end)
        return BROKER_LOG_READ_OUT_OF_RANGE;
    if (offset == end)
        return BROKER_LOG_READ_OK;
    int index = broker_log_find_segment(log, offset);
    struct broker_segment *segment = &log->segments[index];
    int fd = broker_log_segment_fd(log, index, err);
    if (fd < 0)
        return BROKER_LOG_READ_ERROR;
    int64_t position = broker_segment_find_batch(log, segment, fd, offset, err);
    if (position < 0)
        return BROKER_LOG_READ_ERROR;
    int64_t available = segment->size - position;
    if (available <= 0)
        return BROKER_LOG_READ_OK;
    int64_t want = available < max_bytes ? available : max_bytes;
    if (min_one || want >= 12) {
        uint8_t header[12];
        if (broker_fs_pread_full(fd, header, sizeof header, position) != (ssize_t)sizeof header)
            return tp_err_set(err, TP_ERR_IO, "read %s: short read", log->name),
                   BROKER_LOG_READ_ERROR;
        int64_t first = broker_batch_size(header, sizeof header);
        if (first < 0 || first > available)
            return tp_err_set(err, TP_ERR_IO, "read %s: bad batch header", log->name),
                   BROKER_LOG_READ_ERROR;
        if (first > want) {
            if (!min_one)
                return BROKER_LOG_READ_OK;
            want = first;
        }
    }
    if (want <= 0)
        return BROKER_LOG_READ_OK;
    uint8_t *dest = broker_writer_reserve(out, (size_t)want);
    if (!dest)
        return tp_err_set(err, TP_ERR_INTERNAL, "read %s: out of memory", log->name),
               BROKER_LOG_READ_ERROR;
    ssize_t n = broker_fs_pread_full(fd, dest, (size_t)want, position);
    if (n != (ssize_t)want)
        return tp_err_set(err, TP_ERR_IO, "read %s: %s", log->name,
                          n < 0 ? strerror(errno) : "short read"),
               BROKER_LOG_READ_ERROR;
    /* Keep whole batches only. */
    int64_t whole = 0;
    while (whole + 12 <= want) {
        int64_t size = broker_batch_size(dest + whole, 12);
        if (size < 0 || whole + size > want)
            break;
        whole += size;
    }
    out->len += (size_t)whole;
    *bytes = whole;
    return BROKER_LOG_READ_OK;
}

int64_t broker_log_offset_for_timestamp(struct broker_log *log, int64_t timestamp, int64_t *found,
                                        tp_err *err)
{
    *found = -1;
    for (int i = 0; i < log->segment_count; i++) {
        struct broker_segment *segment = &log->segments[i];
        if (segment->max_timestamp < timestamp)
            continue;
        int fd = broker_log_segment_fd(log, i, err);
        if (fd < 0)
            return -2;
        int64_t position = 0;
        uint8_t header[BROKER_BATCH_HEADER_SIZE];
        while (position < segment->size) {
            if (broker_fs_pread_full(fd, header, sizeof header, position) != (ssize_t)sizeof header)
                return tp_err_set(err, TP_ERR_IO, "read %s: short read", log->name), -2;
            int64_t size = broker_batch_size(header, sizeof header);
            if (size < 0)
                return tp_err_set(err, TP_ERR_IO, "read %s: bad batch header", log->name), -2;
            if (broker_load_i64(header + 35) >= timestamp) {
                int64_t exact = -1;
                if ((broker_load_i16(header + 21) & 0x07) == 0 && size <= (1 << 24)) {
                    uint8_t *batch = malloc((size_t)size);
                    if (batch &&
                        broker_fs_pread_full(fd, batch, (size_t)size, position) == (ssize_t)size)
                        exact = broker_batch_offset_for_timestamp(batch, (size_t)size, timestamp,
                                                                  found);
                    free(batch);
                }
                if (exact >= 0)
                    return exact;
                *found = broker_load_i64(header + 27); /* the batch's first timestamp */
                return broker_load_i64(header);
            }
            position += size;
        }
    }
    return -1;
}

int broker_log_dirty(const struct broker_log *log)
{
    return log->dir_dirty || log->retired_count || log->segments[log->segment_count - 1].dirty;
}

static int broker_log_sync_dir(struct broker_log *log, tp_err *err)
{
    if (log->dir_dirty) {
        if (broker_fs_sync_dir(log->dir) < 0)
            return tp_err_set(err, TP_ERR_IO, "sync directory %s: %s", log->dir, strerror(errno));
        log->dir_dirty = 0;
    }
    return 0;
}

int broker_log_sync(struct broker_log *log, tp_err *err)
{
    int rc = 0;
    for (int i = 0; i < log->retired_count; i++) {
        if (fdatasync(log->retired_fds[i]) < 0 && rc == 0)
            rc = tp_err_set(err, TP_ERR_IO, "sync %s: %s", log->name, strerror(errno));
        close(log->retired_fds[i]);
    }
    log->retired_count = 0;
    struct broker_segment *active = broker_log_active(log);
    if (active->dirty) {
        if (fdatasync(active->fd) < 0)
            return tp_err_set(err, TP_ERR_IO, "sync %s: %s", log->name, strerror(errno));
        active->dirty = 0;
    }
    if (rc < 0)
        return rc;
    return broker_log_sync_dir(log, err);
}

int broker_log_take_sync_fds(struct broker_log *log, int *fds, int max, tp_err *err)
{
    int n = 0;
    if (log->dir_dirty && n < max) {
        int fd = open(log->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return tp_err_set(err, TP_ERR_IO, "sync directory %s: %s", log->dir, strerror(errno));
        fds[n++] = fd;
        log->dir_dirty = 0;
    }
    struct broker_segment *active = broker_log_active(log);
    if (active->dirty && n < max) {
        int fd = dup(active->fd);
        if (fd < 0)
            return tp_err_set(err, TP_ERR_IO, "sync %s: %s", log->name, strerror(errno));
        fds[n++] = fd;
        active->dirty = 0;
    }
    while (log->retired_count > 0 && n < max)
        fds[n++] = log->retired_fds[--log->retired_count];
    return n;
}

int broker_log_apply_retention(struct broker_log *log, int64_t retention_bytes,
                               int64_t retention_ms, int64_t now_ms)
{
    int deleted = 0;
    int64_t size = broker_log_size(log);
    while (log->segment_count > 1) {
        struct broker_segment *first = &log->segments[0];
        int by_size = retention_bytes >= 0 && size - first->size >= retention_bytes;
        int by_age = retention_ms >= 0 && now_ms - first->last_append_ms > retention_ms;
        if (!by_size && !by_age)
            break;
        char path[4096];
        broker_segment_path(log, first->base_offset, path, sizeof path);
        if (unlink(path) < 0 && errno != ENOENT) {
            log_error("retention: delete %s: %s", path, strerror(errno));
            break;
        }
        log_info("retention: deleted %s segment %lld (%lld bytes, %s)", log->name,
                 (long long)first->base_offset, (long long)first->size,
                 by_size ? "size limit" : "age limit");
        size -= first->size;
        broker_segment_release(first);
        memmove(&log->segments[0], &log->segments[1],
                (size_t)(log->segment_count - 1) * sizeof log->segments[0]);
        log->segment_count--;
        if (log->read_segment >= 0)
            log->read_segment = log->read_segment == 0 ? -1 : log->read_segment - 1;
        log->dir_dirty = 1;
        deleted++;
    }
    return deleted;
}
