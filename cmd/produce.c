/*
 * produce: CSV (file or stdin) -> Kafka, one JSON tick per row.
 * (Being written: option table and wiring only.)
 */
#include "cmd/cmd.h"

#include "lib/log.h"

int cmd_produce(int argc, char **argv)
{
    const char *csv = NULL;
    const char *topic = NULL;
    const char *brokers = NULL;
    const struct opt_spec options[] = {
        {"csv", 'c', OPT_STRING, &csv, "FILE|-", NULL, "TICKPIPE_CSV", "CSV file to read, - for stdin", NULL},
        {"topic", 't', OPT_STRING, &topic, "TOPIC", NULL, "TICKPIPE_TOPIC", "Kafka topic to write", NULL},
        {"brokers", 'b', OPT_STRING, &brokers, "HOST:PORT,...", "127.0.0.1:9092", "TICKPIPE_BROKERS",
         "Kafka bootstrap servers", NULL},
        {0},
    };
    const struct opt_command command = {"produce", "--csv FILE|- --topic TOPIC [options]",
                                        "Replay a CSV file into a Kafka topic as JSON ticks.", NULL,
                                        options};
    int npositional, exit_code;
    if (cmd_parse(&command, argc, argv, &npositional, &exit_code) < 0)
        return exit_code;
    return cmd_usage_error("not implemented yet");
}
