/*
 * common: what every subcommand shares before its own work starts:
 * option parsing with help, verbosity, usage errors, stop signals.
 */
#include "cmd/cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"

volatile sig_atomic_t cmd_stop_requested;
int cmd_nesting;
static char cmd_program_name[64];

int cmd_parse(const struct opt_command *cmd, int argc, char **argv, int *npositional,
              int *exit_code)
{
    snprintf(cmd_program_name, sizeof cmd_program_name, "tickpipe %s", cmd->name);
    log_set_program(cmd_program_name);
    struct opt_common common;
    tp_err err;
    tp_err_clear(&err);
    enum opt_result result = opt_parse(cmd, &common, argc, argv, npositional, &err);
    if (result == OPT_ERROR) {
        log_error("%s", err.msg);
        *exit_code = CMD_EXIT_USAGE;
        return -1;
    }
    if (result == OPT_HELP) {
        opt_print_help(cmd, stdout);
        *exit_code = CMD_EXIT_OK;
        return -1;
    }
    if (common.quiet)
        log_set_level(LOG_ERROR);
    else if (common.verbose)
        log_set_level(common.verbose >= 3 ? LOG_TRACE : common.verbose == 2 ? LOG_DEBUG : LOG_INFO);
    return 0;
}

int cmd_parse_options_only(const struct opt_command *cmd, int argc, char **argv, int *exit_code)
{
    int npositional;
    if (cmd_parse(cmd, argc, argv, &npositional, exit_code) < 0)
        return -1;
    if (npositional > 0) {
        *exit_code = cmd_usage_error("unexpected argument '%s'", argv[1]);
        return -1;
    }
    return 0;
}

int cmd_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(LOG_ERROR, fmt, ap);
    va_end(ap);
    return CMD_EXIT_USAGE;
}

static void cmd_on_stop_signal(int signal_number)
{
    if (cmd_stop_requested) {
        signal(signal_number, SIG_DFL);
        raise(signal_number);
        return;
    }
    cmd_stop_requested = 1;
}

void cmd_install_stop_handlers(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = cmd_on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
}
