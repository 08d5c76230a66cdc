/*
 * broker_producer: sequence checks for idempotent producers, following
 * Apache Kafka's ProducerStateManager rules for one partition: a new
 * epoch starts at sequence 0, a batch must continue the last sequence, and
 * the last five batches are remembered to detect retries.
 */
#include "kafka/broker_producer.h"

#include <stdlib.h>
#include <string.h>

#define BROKER_PRODUCER_RECENT 5
#define BROKER_PRODUCER_MAX    1024

struct broker_producer_batch {
    int32_t first_sequence;
    int32_t last_sequence;
    int64_t base_offset;
};

struct broker_producer_entry {
    int64_t producer_id;
    int16_t epoch;
    int32_t last_sequence;
    uint64_t last_used;
    int recent_count;
    int recent_next;
    struct broker_producer_batch recent[BROKER_PRODUCER_RECENT];
};

struct broker_producer_state {
    struct broker_producer_entry *entries;
    int count;
    int capacity;
    uint64_t clock;
};

struct broker_producer_state *broker_producer_state_new(void)
{
    return calloc(1, sizeof(struct broker_producer_state));
}

void broker_producer_state_free(struct broker_producer_state *state)
{
    if (!state)
        return;
    free(state->entries);
    free(state);
}

int broker_producer_count(const struct broker_producer_state *state)
{
    return state->count;
}

static struct broker_producer_entry *broker_producer_find(const struct broker_producer_state *state,
                                                          int64_t producer_id)
{
    for (int i = 0; i < state->count; i++)
        if (state->entries[i].producer_id == producer_id)
            return &state->entries[i];
    return NULL;
}

static int32_t broker_producer_next_sequence(int32_t sequence)
{
    return sequence == INT32_MAX ? 0 : sequence + 1;
}

static int32_t broker_producer_last_sequence(const struct broker_batch_info *info)
{
    int64_t last = (int64_t)info->base_sequence + info->last_offset_delta;
    return (int32_t)(last > INT32_MAX ? last - INT32_MAX - 1 : last);
}

int broker_producer_check(const struct broker_producer_state *state,
                          const struct broker_batch_info *info, int64_t *duplicate_offset)
{
    if (info->producer_id < 0 || info->base_sequence < 0)
        return 0;
    const struct broker_producer_entry *entry = broker_producer_find(state, info->producer_id);
    if (!entry)
        return 0; /* unknown (new, or evicted): nothing to compare against */
    if (info->producer_epoch < entry->epoch)
        return 47;
    if (info->producer_epoch > entry->epoch)
        return info->base_sequence == 0 ? 0 : 45;
    int32_t last = broker_producer_last_sequence(info);
    for (int i = 0; i < entry->recent_count; i++) {
        const struct broker_producer_batch *batch = &entry->recent[i];
        if (batch->first_sequence == info->base_sequence && batch->last_sequence == last) {
            *duplicate_offset = batch->base_offset;
            return BROKER_PRODUCER_DUPLICATE;
        }
    }
    if (info->base_sequence == broker_producer_next_sequence(entry->last_sequence))
        return 0;
    return info->base_sequence <= entry->last_sequence ? 46 : 45;
}

int broker_producer_record(struct broker_producer_state *state,
                           const struct broker_batch_info *info, int64_t base_offset)
{
    if (info->producer_id < 0 || info->base_sequence < 0)
        return 0;
    struct broker_producer_entry *entry = broker_producer_find(state, info->producer_id);
    if (!entry) {
        if (state->count == BROKER_PRODUCER_MAX) {
            int oldest = 0;
            for (int i = 1; i < state->count; i++)
                if (state->entries[i].last_used < state->entries[oldest].last_used)
                    oldest = i;
            state->entries[oldest] = state->entries[--state->count];
        }
        if (state->count == state->capacity) {
            int capacity = state->capacity ? state->capacity * 2 : 4;
            struct broker_producer_entry *entries =
                realloc(state->entries, (size_t)capacity * sizeof *entries);
            if (!entries)
                return -1;
            state->entries = entries;
            state->capacity = capacity;
        }
        entry = &state->entries[state->count++];
        memset(entry, 0, sizeof *entry);
        entry->producer_id = info->producer_id;
        entry->epoch = info->producer_epoch;
    }
    if (info->producer_epoch != entry->epoch) {
        entry->epoch = info->producer_epoch;
        entry->recent_count = 0;
        entry->recent_next = 0;
    }
    entry->last_sequence = broker_producer_last_sequence(info);
    entry->last_used = ++state->clock;
    entry->recent[entry->recent_next] =
        (struct broker_producer_batch){info->base_sequence, entry->last_sequence, base_offset};
    entry->recent_next = (entry->recent_next + 1) % BROKER_PRODUCER_RECENT;
    if (entry->recent_count < BROKER_PRODUCER_RECENT)
        entry->recent_count++;
    return 0;
}
