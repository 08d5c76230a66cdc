/*
 * broker_map: a small string-keyed hash table (keys are byte strings, so
 * composite keys with NULs work). Used for consumer groups and committed
 * offsets. The map copies keys; values are the caller's pointers and are
 * never freed by the map. Errors: -1 when out of memory.
 */
#ifndef TICKPIPE_BROKER_MAP_H
#define TICKPIPE_BROKER_MAP_H

#include <stddef.h>

struct broker_map_entry {
    struct broker_map_entry *next;
    void *value;
    size_t key_len;
    char key[]; /* NUL-terminated copy */
};

struct broker_map {
    struct broker_map_entry **buckets;
    size_t bucket_count;
    size_t count;
};

void *broker_map_get(const struct broker_map *map, const void *key, size_t key_len);
/* Inserts or replaces; returns 0 or -1. */
int broker_map_put(struct broker_map *map, const void *key, size_t key_len, void *value);
/* Removes and returns the value (NULL when absent). */
void *broker_map_remove(struct broker_map *map, const void *key, size_t key_len);
/* Frees the table, not the values. */
void broker_map_free(struct broker_map *map);

/* Iteration: *cursor starts at 0; returns NULL at the end. Do not modify
 * the map while iterating except through broker_map_remove of the entry
 * just returned. */
struct broker_map_entry *broker_map_next(const struct broker_map *map, size_t *bucket,
                                         struct broker_map_entry **cursor);

#endif
