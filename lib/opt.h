/*
 * opt: declarative command-line options. Each command declares one table
 * of opt_spec entries; every entry carries its help text, default and
 * environment variable side by side, so `--help` cannot drift from what is
 * accepted. Precedence: default < environment < command line.
 */
#ifndef TICKPIPE_OPT_H
#define TICKPIPE_OPT_H

#include <stdio.h>

#include "lib/err.h"

enum opt_type {
    OPT_FLAG,     /* int *: no argument, sets 1 */
    OPT_BOOL,     /* int *: true|false|1|0|yes|no */
    OPT_STRING,   /* const char **: points into argv/environ/default */
    OPT_INT,      /* long long *: decimal integer, optional k/M/G (x1000) */
    OPT_DOUBLE,   /* double * */
    OPT_SIZE,     /* long long *: bytes; suffixes B, k/KB/KiB, M/MB/MiB, G/GB/GiB (binary) */
    OPT_DURATION, /* long long *: milliseconds; suffixes ms, s, m, h, d; bare number = seconds */
    OPT_CHOICE,   /* const char **: one of spec->choices ("a|b|c") */
    OPT_LIST,     /* struct opt_list *: every occurrence appended */
};

struct opt_list {
    const char **items; /* the strings point into argv/environ; the array is owned */
    int count;
    int capacity;
};
void opt_list_free(struct opt_list *list);

struct opt_spec {
    const char *name; /* long name without "--"; NULL ends the table */
    char short_name;  /* 0 for none */
    enum opt_type type;
    void *value;
    const char *metavar;       /* "FILE"; NULL for flags */
    const char *default_value; /* parsed like user input; shown in --help */
    const char *env;           /* environment variable, or NULL */
    const char *help;
    const char *choices; /* OPT_CHOICE only: "a|b|c" */
};

struct opt_command {
    const char *name;    /* "produce" */
    const char *usage;   /* after "tickpipe produce ": "--csv FILE|- --topic TOPIC [options]" */
    const char *summary; /* one line */
    const char *details; /* optional paragraphs printed after the options */
    const struct opt_spec *options;
};

/* Options every command accepts; opt_parse fills them. */
struct opt_common {
    int verbose; /* count of -v */
    int quiet;
    int help;
};

enum opt_result {
    OPT_OK = 0,
    OPT_HELP = 1,  /* --help was given: caller prints help, exits 0 */
    OPT_ERROR = 2, /* usage error in err: caller prints it, exits 2 */
};

/*
 * Parses argv[1..argc-1] (argv[0] is the command name). Positional
 * arguments are gathered, in order, at the front of argv starting at
 * argv[1]; their count goes to *npositional. Options may follow positionals;
 * "--" ends option parsing.
 */
enum opt_result opt_parse(const struct opt_command *cmd, struct opt_common *common, int argc,
                          char **argv, int *npositional, tp_err *err);

void opt_print_help(const struct opt_command *cmd, FILE *out);

/* Value parsers, exposed for reuse (config files, tests). Return 0 or -1. */
int opt_parse_size(const char *text, long long *bytes);
int opt_parse_duration(const char *text, long long *milliseconds);
int opt_parse_bool(const char *text, int *value);

#endif
