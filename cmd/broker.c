/*
 * broker: `tickpipe broker`, the single-node Kafka-protocol broker for
 * laptops, CI and single-box deployments. Flags and their environment
 * variables, then kafka/broker.h does the work until SIGINT/SIGTERM.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/broker.h"
#include "lib/log.h"

/* "-1", "none" or "unlimited" -> -1; else parsed by the given parser. */
static int cmd_broker_limit(const char *text, int (*parse)(const char *, long long *),
                            int64_t *value)
{
    if (strcmp(text, "-1") == 0 || strcmp(text, "none") == 0 || strcmp(text, "unlimited") == 0) {
        *value = -1;
        return 0;
    }
    long long parsed;
    if (parse(text, &parsed) < 0)
        return -1;
    *value = parsed;
    return 0;
}

/* Milliseconds by default (as Kafka's retention.ms); units allowed. */
static int cmd_broker_parse_ms(const char *text, long long *value)
{
    char *end;
    errno = 0;
    long long number = strtoll(text, &end, 10);
    if (end != text && *end == '\0' && !errno && number >= 0) {
        *value = number;
        return 0;
    }
    return opt_parse_duration(text, value);
}

static int cmd_broker_write_port_file(const char *path, int port)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *file = fopen(tmp, "w");
    if (!file)
        return -1;
    fprintf(file, "%d\n", port);
    if (fclose(file) != 0)
        return -1;
    return rename(tmp, path);
}

int cmd_broker(int argc, char **argv)
{
    const char *listen = NULL, *advertise = NULL, *data_dir = NULL, *fsync_mode = NULL;
    const char *retention_bytes = NULL, *retention_ms = NULL, *port_file = NULL;
    long long partitions = 0, max_request_bytes = 0, segment_bytes = 0, fsync_interval = 0;
    int auto_create = 1;
    const struct opt_spec options[] = {
        {"listen", 'l', OPT_STRING, &listen, "HOST:PORT", "127.0.0.1:9092",
         "TICKPIPE_BROKER_LISTEN", "address to listen on; port 0 picks a free port", NULL},
        {"advertise", 0, OPT_STRING, &advertise, "HOST:PORT", NULL, "TICKPIPE_BROKER_ADVERTISE",
         "address given to clients in Metadata (default: the address each client dialled)", NULL},
        {"data-dir", 'd', OPT_STRING, &data_dir, "DIR", "./tickpipe-data",
         "TICKPIPE_BROKER_DATA_DIR", "where topics, committed offsets and producer ids live", NULL},
        {"partitions", 'p', OPT_INT, &partitions, "N", "4", "TICKPIPE_BROKER_PARTITIONS",
         "partitions of auto-created topics (and CreateTopics with -1)", NULL},
        {"auto-create", 0, OPT_BOOL, &auto_create, "true|false", "true",
         "TICKPIPE_BROKER_AUTO_CREATE", "create unknown topics when a client asks for them", NULL},
        {"retention-bytes", 0, OPT_STRING, &retention_bytes, "SIZE", "-1",
         "TICKPIPE_BROKER_RETENTION_BYTES",
         "per partition, delete the oldest segments above this size (-1: unlimited)", NULL},
        {"retention-ms", 0, OPT_STRING, &retention_ms, "MS", "604800000",
         "TICKPIPE_BROKER_RETENTION_MS",
         "delete segments whose last write is older (ms, or 7d/12h/30m; -1: forever)", NULL},
        {"fsync", 0, OPT_CHOICE, &fsync_mode, "MODE", "interval", "TICKPIPE_BROKER_FSYNC",
         "always: acknowledge writes only after fsync; interval: fsync every "
         "--fsync-interval; never: leave it to the kernel",
         "always|interval|never"},
        {"fsync-interval", 0, OPT_INT, &fsync_interval, "MS", "1000",
         "TICKPIPE_BROKER_FSYNC_INTERVAL", "milliseconds between fsyncs with --fsync interval",
         NULL},
        {"max-request-bytes", 0, OPT_SIZE, &max_request_bytes, "SIZE", "100MiB",
         "TICKPIPE_BROKER_MAX_REQUEST_BYTES",
         "largest request accepted; larger ones close the connection", NULL},
        {"segment-bytes", 0, OPT_SIZE, &segment_bytes, "SIZE", "128MiB",
         "TICKPIPE_BROKER_SEGMENT_BYTES", "roll to a new segment file past this size", NULL},
        {"port-file", 0, OPT_STRING, &port_file, "FILE", NULL, "TICKPIPE_BROKER_PORT_FILE",
         "write the listening port to FILE once ready (useful with port 0)", NULL},
        {0},
    };
    const struct opt_command command = {
        "broker", "[options]",
        "Run a durable single-node Kafka-protocol broker (for one machine; use a real Kafka "
        "cluster for scale).",
        "Kafka clients (librdkafka/kcat, kafka-python, tickpipe) connect with "
        "bootstrap.servers=HOST:PORT.\nData: DIR/topics/<topic>/<partition>/<offset>.log, "
        "DIR/groups/offsets.log.\nStops cleanly on SIGINT/SIGTERM.",
        options};
    int exit_code;
    if (cmd_parse_options_only(&command, argc, argv, &exit_code) < 0)
        return exit_code;
    struct broker_config config;
    broker_config_defaults(&config);
    config.listen = listen;
    config.advertise = advertise && advertise[0] ? advertise : NULL;
    config.data_dir = data_dir;
    config.auto_create = auto_create;
    if (partitions < 1 || partitions > 1000)
        return cmd_usage_error("--partitions %lld: expected 1 to 1000", partitions);
    config.partitions = (int)partitions;
    if (cmd_broker_limit(retention_bytes, opt_parse_size, &config.retention_bytes) < 0)
        return cmd_usage_error("--retention-bytes %s: expected a size such as 1GiB, or -1",
                               retention_bytes);
    if (cmd_broker_limit(retention_ms, cmd_broker_parse_ms, &config.retention_ms) < 0)
        return cmd_usage_error("--retention-ms %s: expected milliseconds (or 7d, 12h), or -1",
                               retention_ms);
    config.fsync = strcmp(fsync_mode, "always") == 0  ? BROKER_FSYNC_ALWAYS
                   : strcmp(fsync_mode, "never") == 0 ? BROKER_FSYNC_NEVER
                                                      : BROKER_FSYNC_INTERVAL;
    if (fsync_interval < 1)
        return cmd_usage_error("--fsync-interval %lld: expected at least 1 ms", fsync_interval);
    config.fsync_interval_ms = fsync_interval;
    if (max_request_bytes < 1024)
        return cmd_usage_error("--max-request-bytes %lld: expected at least 1KiB",
                               max_request_bytes);
    if (max_request_bytes > 1024LL * 1024 * 1024)
        return cmd_usage_error("--max-request-bytes %lld: at most 1GiB", max_request_bytes);
    config.max_request_bytes = max_request_bytes;
    if (segment_bytes < 1024 || segment_bytes > 1024LL * 1024 * 1024)
        return cmd_usage_error("--segment-bytes %lld: expected 1KiB to 1GiB", segment_bytes);
    config.segment_bytes = segment_bytes;
    config.stop_flag = &cmd_stop_requested;

    cmd_install_stop_handlers();
    tp_err err;
    tp_err_clear(&err);
    struct broker *broker = broker_open(&config, &err);
    if (!broker) {
        log_error("%s", err.msg);
        return err.code == TP_ERR_USAGE ? CMD_EXIT_USAGE : CMD_EXIT_FAILURE;
    }
    char host[256];
    snprintf(host, sizeof host, "%s", listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    log_notice("listening on %s:%d (data %s, fsync %s)", host[0] ? host : "0.0.0.0",
               broker_port(broker), data_dir, fsync_mode);
    if (port_file && cmd_broker_write_port_file(port_file, broker_port(broker)) < 0) {
        log_error("write --port-file %s: %s", port_file, strerror(errno));
        broker_close(broker);
        return CMD_EXIT_FAILURE;
    }
    int rc = broker_run(broker, &err);
    if (rc < 0)
        log_error("%s", err.msg);
    broker_close(broker);
    log_notice("stopped");
    return rc < 0 ? CMD_EXIT_FAILURE : CMD_EXIT_OK;
}
