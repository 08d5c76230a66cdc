/*
 * broker_offsets: committed consumer-group offsets, persisted. One
 * append-only file (groups/offsets.log) of CRC-32C protected records
 * (group, topic, partition, offset, metadata); a record with offset -1
 * deletes the entry. Loading replays the file into a hash table, stops at
 * the first damaged record (a torn tail is truncated) and rewrites the file
 * compactly (tmp + fsync + rename) when it holds mostly dead records.
 * Ownership: the store owns its strings; values returned by lookups stay
 * valid until the next commit of that key. Errors: -1 with a tp_err.
 */
#ifndef TICKPIPE_BROKER_OFFSETS_H
#define TICKPIPE_BROKER_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct broker_offsets;

struct broker_offsets *broker_offsets_open(const char *dir, tp_err *err);
void broker_offsets_close(struct broker_offsets *offsets);

/* Stores a commit (metadata may be NULL). offset -1 deletes it. */
int broker_offsets_commit(struct broker_offsets *offsets, const char *group, size_t group_len,
                          const char *topic, size_t topic_len, int32_t partition, int64_t offset,
                          const char *metadata, int32_t metadata_len, tp_err *err);

/* 1 and the values when committed, 0 when not. *metadata may be NULL. */
int broker_offsets_get(const struct broker_offsets *offsets, const char *group, size_t group_len,
                       const char *topic, size_t topic_len, int32_t partition, int64_t *offset,
                       const char **metadata);

struct broker_offset_entry {
    const char *group;
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *metadata; /* NULL when none */
};

/* Calls fn for every committed offset (of one group when group is not
 * NULL). The callback must not commit. */
void broker_offsets_each(const struct broker_offsets *offsets, const char *group, size_t group_len,
                         void (*fn)(const struct broker_offset_entry *entry, void *ctx), void *ctx);

/* Deletes every commit of a topic (the topic was deleted). */
int broker_offsets_delete_topic(struct broker_offsets *offsets, const char *topic, tp_err *err);

int broker_offsets_dirty(const struct broker_offsets *offsets);
int broker_offsets_sync(struct broker_offsets *offsets, tp_err *err);

#endif
