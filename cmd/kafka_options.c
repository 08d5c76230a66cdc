/*
 * kafka_options: checks of the shared Kafka flags, before any connection.
 */
#include "cmd/kafka_options.h"

#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "kafka/config.h"

int cmd_kafka_check(const struct cmd_kafka_options *options)
{
    for (int i = 0; i < options->properties.count; i++) {
        if (strcmp(options->properties.items[i], "list") == 0) {
            kafka_conf_show_properties(stdout);
            return 1;
        }
    }
    if (options->timeout_ms < 1000)
        return cmd_usage_error("--timeout must be at least 1s");
    tp_err err;
    if (kafka_conf_validate(options->brokers, options->properties.items, options->properties.count,
                            &err) < 0)
        return cmd_usage_error("%s", err.msg);
    return 0;
}

void cmd_kafka_options_free(struct cmd_kafka_options *options)
{
    opt_list_free(&options->properties);
}
