/*
 * broker_topics: the broker's topics on disk and in memory. Layout under
 * the data directory: topics/<topic>/<partition>/<segments>.log. A topic
 * is created in tmp/ and renamed into topics/ (so a crash never leaves a
 * half-created topic) and deleted by renaming it into trash/ before
 * removing the files. Opening recovers every partition log and logs one
 * line per topic. Ownership: the registry owns topics and their logs;
 * pointers stay valid until that topic is deleted or the registry closed.
 * Errors: -1 with a tp_err.
 */
#ifndef TICKPIPE_BROKER_TOPICS_H
#define TICKPIPE_BROKER_TOPICS_H

#include <stddef.h>

#include "kafka/broker_log.h"
#include "lib/err.h"

#define BROKER_MAX_PARTITIONS 1000

struct broker_topic {
    char *name;
    int partition_count;
    struct broker_log **partitions;
};

struct broker_topics;

struct broker_topics *broker_topics_open(const char *data_dir,
                                         const struct broker_log_config *config, tp_err *err);
void broker_topics_close(struct broker_topics *topics);

/* NULL when absent; name need not be NUL-terminated. */
struct broker_topic *broker_topics_find(const struct broker_topics *topics, const char *name,
                                        size_t len);
int broker_topics_count(const struct broker_topics *topics);
/* Topics in name order. */
struct broker_topic *broker_topics_at(const struct broker_topics *topics, int index);

/* 1 when Kafka accepts this topic name: 1..249 of [a-zA-Z0-9._-], not "."
 * or "..". */
int broker_topic_name_valid(const char *name, size_t len);

struct broker_topic *broker_topics_create(struct broker_topics *topics, const char *name,
                                          size_t len, int partitions, tp_err *err);
/* Closes the topic's logs and removes its files. */
int broker_topics_delete(struct broker_topics *topics, struct broker_topic *topic, tp_err *err);

#endif
