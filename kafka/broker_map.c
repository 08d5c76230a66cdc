/*
 * broker_map: separate chaining, FNV-1a hashes, power-of-two bucket
 * counts doubled when the load passes 1.
 */
#include "kafka/broker_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t broker_map_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t hash = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        hash ^= p[i];
        hash *= 1099511628211ull;
    }
    return hash;
}

static struct broker_map_entry **broker_map_slot(const struct broker_map *map, const void *key,
                                                 size_t key_len)
{
    if (!map->bucket_count)
        return NULL;
    struct broker_map_entry **slot =
        &map->buckets[broker_map_hash(key, key_len) & (map->bucket_count - 1)];
    while (*slot && !((*slot)->key_len == key_len && memcmp((*slot)->key, key, key_len) == 0))
        slot = &(*slot)->next;
    return slot;
}

void *broker_map_get(const struct broker_map *map, const void *key, size_t key_len)
{
    struct broker_map_entry **slot = broker_map_slot(map, key, key_len);
    return slot && *slot ? (*slot)->value : NULL;
}

static int broker_map_grow(struct broker_map *map)
{
    size_t count = map->bucket_count ? map->bucket_count * 2 : 16;
    struct broker_map_entry **buckets = calloc(count, sizeof(struct broker_map_entry *));
    if (!buckets)
        return -1;
    for (size_t i = 0; i < map->bucket_count; i++) {
        struct broker_map_entry *entry = map->buckets[i];
        while (entry) {
            struct broker_map_entry *next = entry->next;
            size_t b = broker_map_hash(entry->key, entry->key_len) & (count - 1);
            entry->next = buckets[b];
            buckets[b] = entry;
            entry = next;
        }
    }
    free(map->buckets);
    map->buckets = buckets;
    map->bucket_count = count;
    return 0;
}

int broker_map_put(struct broker_map *map, const void *key, size_t key_len, void *value)
{
    if (map->count >= map->bucket_count && broker_map_grow(map) < 0 && !map->bucket_count)
        return -1;
    struct broker_map_entry **slot = broker_map_slot(map, key, key_len);
    if (*slot) {
        (*slot)->value = value;
        return 0;
    }
    struct broker_map_entry *entry = malloc(sizeof *entry + key_len + 1);
    if (!entry)
        return -1;
    entry->next = NULL;
    entry->value = value;
    entry->key_len = key_len;
    memcpy(entry->key, key, key_len);
    entry->key[key_len] = '\0';
    *slot = entry;
    map->count++;
    return 0;
}

void *broker_map_remove(struct broker_map *map, const void *key, size_t key_len)
{
    struct broker_map_entry **slot = broker_map_slot(map, key, key_len);
    if (!slot || !*slot)
        return NULL;
    struct broker_map_entry *entry = *slot;
    void *value = entry->value;
    *slot = entry->next;
    free(entry);
    map->count--;
    return value;
}

void broker_map_free(struct broker_map *map)
{
    for (size_t i = 0; i < map->bucket_count; i++) {
        struct broker_map_entry *entry = map->buckets[i];
        while (entry) {
            struct broker_map_entry *next = entry->next;
            free(entry);
            entry = next;
        }
    }
    free(map->buckets);
    memset(map, 0, sizeof *map);
}

struct broker_map_entry *broker_map_next(const struct broker_map *map, size_t *bucket,
                                         struct broker_map_entry **cursor)
{
    /* *cursor is the next entry to return in the current bucket (so the
     * caller may remove the one it just got). */
    while (!*cursor) {
        if (*bucket >= map->bucket_count)
            return NULL;
        *cursor = map->buckets[(*bucket)++];
    }
    struct broker_map_entry *entry = *cursor;
    *cursor = entry->next;
    return entry;
}
