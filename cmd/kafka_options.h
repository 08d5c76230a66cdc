/*
 * kafka_options: the Kafka flags every Kafka-facing command shares
 * (produce, consume, demo), declared once: put CMD_KAFKA_OPTION_SPECS(&o)
 * in the command's option table, then call cmd_kafka_check() after
 * parsing. The strings point into argv/environ; cmd_kafka_options_free
 * releases the -X list.
 */
#ifndef TICKPIPE_CMD_KAFKA_OPTIONS_H
#define TICKPIPE_CMD_KAFKA_OPTIONS_H

#include "lib/opt.h"

struct cmd_kafka_options {
    const char *brokers;
    struct opt_list properties; /* -X key=value */
    long long timeout_ms;
};

/* clang-format off */
#define CMD_KAFKA_OPTION_SPECS(o)                                                                 \
    {"brokers", 'b', OPT_STRING, &(o)->brokers, "HOST:PORT,...", "127.0.0.1:9092",               \
     "TICKPIPE_BROKERS", "Kafka bootstrap servers", NULL},                                        \
    {"timeout", 0, OPT_DURATION, &(o)->timeout_ms, "DURATION", "30s", "TICKPIPE_TIMEOUT",         \
     "give up when Kafka is unreachable (or a message undelivered) this long", NULL},             \
    {"property", 'X', OPT_LIST, &(o)->properties, "KEY=VALUE", NULL, NULL,                        \
     "librdkafka property, as kcat -X (repeatable; -X list shows them all)", NULL}
/* clang-format on */

/*
 * Handles `-X list` (prints every librdkafka property: returns 1, the
 * caller exits 0) and checks brokers, properties and timeout without
 * connecting (prints a usage error: returns 2). Returns 0 otherwise.
 */
int cmd_kafka_check(const struct cmd_kafka_options *options);

void cmd_kafka_options_free(struct cmd_kafka_options *options);

#endif
