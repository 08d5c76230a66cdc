/*
 * cmd: one file per subcommand, each exporting only cmd_<name>(). The
 * helpers here are the glue every command shares: option parsing with
 * help and exit codes, verbosity, and a stop flag set by SIGINT/SIGTERM.
 * Exit codes: 0 success, 1 runtime failure, 2 usage error, 130 interrupted
 * before any work.
 */
#ifndef TICKPIPE_CMD_H
#define TICKPIPE_CMD_H

#include <signal.h>

#include "lib/opt.h"

enum cmd_exit {
    CMD_EXIT_OK = 0,
    CMD_EXIT_FAILURE = 1,
    CMD_EXIT_USAGE = 2,
};

int cmd_broker(int argc, char **argv);
int cmd_produce(int argc, char **argv);
int cmd_consume(int argc, char **argv);
int cmd_s3(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_crawl(int argc, char **argv);
int cmd_athena(int argc, char **argv);

/*
 * Parses the command's options, applies -v/-q to the log level and names
 * the log lines "tickpipe <cmd>". Returns -1 when the command should end
 * now with *exit_code (help printed: 0; usage error printed: 2).
 */
int cmd_parse(const struct opt_command *cmd, int argc, char **argv, int *npositional,
              int *exit_code);

/* cmd_parse for a command that takes no arguments besides its options:
 * an argument is a usage error (*exit_code 2). */
int cmd_parse_options_only(const struct opt_command *cmd, int argc, char **argv, int *exit_code);

/* Prints a usage error ("tickpipe produce: error: ...") and returns 2. */
int cmd_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Installs SIGINT/SIGTERM handlers that set cmd_stop_requested; a second
 * signal restores the default action, so a stuck process can still be
 * interrupted. SIGPIPE is ignored. */
void cmd_install_stop_handlers(void);
extern volatile sig_atomic_t cmd_stop_requested;

/* How many commands run inside another one (demo runs produce, consume,
 * crawl and athena): a command may end the process itself (_exit) only at
 * zero. */
extern int cmd_nesting;

#endif
