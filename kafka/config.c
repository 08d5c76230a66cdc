/*
 * config: building rd_kafka_conf_t from defaults plus user overrides, and
 * the logging bridge. Overrides are validated by librdkafka itself, whose
 * message we pass on with the offending property named.
 */
#include "kafka/config.h"

#include <librdkafka/rdkafka.h>
#include <string.h>

#include "lib/log.h"

static void kafka_log_bridge(const rd_kafka_t *handle, int level, const char *facility,
                             const char *message)
{
    (void)handle;
    /* librdkafka's own errors (connection refused, ...) are mostly
     * transient and retried; we report the outcome ourselves, so its lines
     * are details for -vv. */
    enum log_level ours = level <= 4 ? LOG_DEBUG : LOG_TRACE;
    log_write(ours, "librdkafka %s: %s", facility, message);
}

static int kafka_conf_set(kafka_conf *conf, const char *name, const char *value, tp_err *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return tp_err_set(err, TP_ERR_USAGE, "Kafka property %s=%s: %s", name, value, errstr);
    return 0;
}

int kafka_brokers_validate(const char *brokers, tp_err *err)
{
    if (!brokers || !*brokers)
        return tp_err_set(err, TP_ERR_USAGE, "no Kafka brokers given (--brokers host:port)");
    if (strpbrk(brokers, " \t"))
        return tp_err_set(err, TP_ERR_USAGE,
                          "--brokers '%s': separate host:port pairs with commas, no spaces",
                          brokers);
    return 0;
}

kafka_conf *kafka_conf_build(const char *brokers, const struct kafka_property *defaults,
                             const char *const *overrides, int override_count, tp_err *err)
{
    if (kafka_brokers_validate(brokers, err) < 0)
        return NULL;
    kafka_conf *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_log_bridge);
    if (kafka_conf_set(conf, "bootstrap.servers", brokers, err) < 0)
        goto fail;
    for (const struct kafka_property *p = defaults; p && p->name; p++)
        if (kafka_conf_set(conf, p->name, p->value, err) < 0)
            goto fail;
    for (int i = 0; i < override_count; i++) {
        const char *eq = strchr(overrides[i], '=');
        if (!eq || eq == overrides[i]) {
            tp_err_set(err, TP_ERR_USAGE, "-X '%s': expected key=value (or -X list)", overrides[i]);
            goto fail;
        }
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - overrides[i]), overrides[i]);
        if (kafka_conf_set(conf, name, eq + 1, err) < 0)
            goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

void kafka_conf_free(kafka_conf *conf)
{
    if (conf)
        rd_kafka_conf_destroy(conf);
}

int kafka_conf_validate(const char *brokers, const char *const *overrides, int override_count,
                        tp_err *err)
{
    kafka_conf *conf = kafka_conf_build(brokers, NULL, overrides, override_count, err);
    if (!conf)
        return -1;
    kafka_conf_free(conf);
    return 0;
}

void kafka_conf_show_properties(FILE *out)
{
    rd_kafka_conf_properties_show(out);
}
