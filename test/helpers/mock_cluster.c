/*
 * mock_cluster: librdkafka's in-process mock cluster as a standalone test
 * peer. Usage: mock_cluster [PARTITIONS [TOPIC...]]: the topics are created
 * with PARTITIONS partitions (auto-created ones get the mock's default). Prints the bootstrap
 * servers on one stdout line, then serves until SIGTERM/SIGINT or until
 * stdin reaches EOF when it is a pipe. A unit-test double only: it keeps
 * ~5 MiB per partition and drops older data silently.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int signal_number)
{
    (void)signal_number;
    stop = 1;
}

int main(int argc, char **argv)
{
    int partitions = argc > 1 ? atoi(argv[1]) : 4;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_t *handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!handle) {
        fprintf(stderr, "mock_cluster: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(handle, 1);
    if (!cluster) {
        fprintf(stderr, "mock_cluster: could not create the cluster\n");
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        if (rd_kafka_mock_topic_create(cluster, argv[i], partitions, 1)) {
            fprintf(stderr, "mock_cluster: could not create topic %s\n", argv[i]);
            return 1;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
    fflush(stdout);
    while (!stop)
        usleep(100 * 1000);
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(handle);
    return 0;
}
