/*
 * config: librdkafka configuration shared by producer and consumer: our
 * tuned defaults, the kcat-style `-X key=value` passthrough applied on top,
 * and librdkafka's log lines routed into lib/log (debug level), so the
 * library never writes to the terminal itself.
 */
#ifndef TICKPIPE_KAFKA_CONFIG_H
#define TICKPIPE_KAFKA_CONFIG_H

#include <stdio.h>

#include "lib/err.h"

/* An opaque librdkafka configuration (rd_kafka_conf_t). */
typedef struct rd_kafka_conf_s kafka_conf;

struct kafka_property {
    const char *name;
    const char *value;
};

/*
 * Creates a configuration with bootstrap servers, the given defaults, then
 * the user's "key=value" overrides (which win). Errors name the property.
 * The caller owns the result (passed on to rd_kafka_new, or destroyed).
 */
kafka_conf *kafka_conf_build(const char *brokers, const struct kafka_property *defaults,
                             const char *const *overrides, int override_count, tp_err *err);

void kafka_conf_free(kafka_conf *conf);

/* Checks brokers and "key=value" overrides without connecting, so usage
 * errors surface before any work starts. Returns 0 or -1 (err set). */
int kafka_conf_validate(const char *brokers, const char *const *overrides, int override_count,
                        tp_err *err);

/* Prints every librdkafka property with its default and description
 * (`-X list`). */
void kafka_conf_show_properties(FILE *out);

/* "host:port" list check: non-empty, no spaces. Returns 0 or -1 (err set). */
int kafka_brokers_validate(const char *brokers, tp_err *err);

#endif
