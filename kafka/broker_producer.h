/*
 * broker_producer: idempotent-producer state of one partition: for each
 * producer id its epoch, last sequence and its five most recent batches,
 * so a retried batch is answered with its original offset instead of being
 * stored twice. Rebuilt from the log on recovery (the producer fields sit in
 * every batch header). Bounded: least recently used producers are evicted.
 * Ownership: broker_producer_state_free releases everything.
 */
#ifndef TICKPIPE_BROKER_PRODUCER_H
#define TICKPIPE_BROKER_PRODUCER_H

#include <stdint.h>

#include "kafka/broker_batch.h"

struct broker_producer_state;

struct broker_producer_state *broker_producer_state_new(void);
void broker_producer_state_free(struct broker_producer_state *state);

#define BROKER_PRODUCER_DUPLICATE (-1)

/*
 * Checks a batch about to be appended. Returns 0 to append it,
 * BROKER_PRODUCER_DUPLICATE when it is a retry of a stored batch (its base
 * offset in *duplicate_offset), or a Kafka error code: 45
 * OUT_OF_ORDER_SEQUENCE_NUMBER, 46 DUPLICATE_SEQUENCE_NUMBER, 47
 * INVALID_PRODUCER_EPOCH. Batches without a producer id always pass.
 */
int broker_producer_check(const struct broker_producer_state *state,
                          const struct broker_batch_info *info, int64_t *duplicate_offset);

/* Records a batch that was appended at base_offset. Returns 0, or -1 when
 * out of memory (the state then forgets that producer: later batches of it
 * are accepted unchecked, never rejected). */
int broker_producer_record(struct broker_producer_state *state,
                           const struct broker_batch_info *info, int64_t base_offset);

/* Number of producers tracked (tests). */
int broker_producer_count(const struct broker_producer_state *state);

#endif
