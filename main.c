/*
 * main: the tickpipe dispatch table and nothing else. Each subcommand
 * lives in cmd/<name>.c and owns its flags, help and orchestration.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"broker", cmd_broker, "run a durable single-node Kafka-protocol broker"},
    {"produce", cmd_produce, "replay a CSV file (or stdin) into a Kafka topic, as JSON ticks"},
    {"consume", cmd_consume, "write Kafka topics to a partitioned lake (dir or S3), exactly once"},
    {"s3", cmd_s3, "list, copy, print and delete objects on S3 or an S3-compatible endpoint"},
    {"crawl", cmd_crawl, "infer tables, schemas and partitions from the lake into the catalog"},
    {"athena", cmd_athena, "run SQL over the lake: locally with DuckDB, or on Amazon Athena"},
    {"demo", cmd_demo, "the whole pipeline in one process, on a bundled sample or your CSV"},
};

static void print_help(FILE *out)
{
    fputs("Usage: tickpipe COMMAND [options]\n\n"
          "A stock-tick pipeline in one binary: CSV -> Kafka -> lake -> catalog -> SQL.\n\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fputs("\nRun 'tickpipe COMMAND --help' for a command's options.\n"
          "  --help       show this help\n"
          "  --version    show the version\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return CMD_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_help(stdout);
        return CMD_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("tickpipe %s\n", TICKPIPE_VERSION);
        return CMD_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tickpipe: error: unknown command '%s' (see 'tickpipe --help')\n", name);
    return CMD_EXIT_USAGE;
}
