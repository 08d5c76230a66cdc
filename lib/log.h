/*
 * log: the one way lib/, aws/ and kafka/ talk to the terminal. Everything
 * goes to stderr (stdout is for data), prefixed with the command name.
 * Verbosity: -q shows errors only, default adds warnings and notices,
 * -v info, -vv debug, -vvv trace.
 */
#ifndef TICKPIPE_LOG_H
#define TICKPIPE_LOG_H

#include <stdarg.h>

enum log_level {
    LOG_ERROR = 0,
    LOG_WARN = 1,
    LOG_NOTICE = 2, /* default: summaries and what a user should see */
    LOG_INFO = 3,   /* -v */
    LOG_DEBUG = 4,  /* -vv */
    LOG_TRACE = 5,  /* -vvv */
};

/* Sets the name printed before each line ("tickpipe produce"). The string
 * must outlive all logging. */
void log_set_program(const char *name);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_enabled(enum log_level level);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vwrite(enum log_level level, const char *fmt, va_list ap);

#define log_error(...)  log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)   log_write(LOG_WARN, __VA_ARGS__)
#define log_notice(...) log_write(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...)  log_write(LOG_DEBUG, __VA_ARGS__)
#define log_trace(...)  log_write(LOG_TRACE, __VA_ARGS__)

/* A progress line that rewrites itself on a TTY (no newline; cleared by the
 * next log line or log_progress_end). Does nothing when stderr is not a TTY
 * or the level is below NOTICE. */
int log_progress_enabled(void);
void log_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_progress_end(void);

#endif
