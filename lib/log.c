/*
 * log: level-filtered lines on stderr, plus a single self-rewriting
 * progress line for TTYs. A mutex keeps lines from librdkafka's threads
 * and ours from interleaving mid-line.
 */
#include "lib/log.h"

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static const char *log_program = "tickpipe";
static enum log_level log_level_now = LOG_NOTICE;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_progress_shown;

void log_set_program(const char *name)
{
    log_program = name;
}

void log_set_level(enum log_level level)
{
    log_level_now = level;
}

enum log_level log_get_level(void)
{
    return log_level_now;
}

int log_enabled(enum log_level level)
{
    return level <= log_level_now;
}

static void log_clear_progress_locked(void)
{
    if (log_progress_shown) {
        fputs("\r\033[K", stderr);
        log_progress_shown = 0;
    }
}

void log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    static const char *const tags[] = {"error: ", "warning: ", "", "", "debug: ", "trace: "};
    pthread_mutex_lock(&log_lock);
    log_clear_progress_locked();
    fprintf(stderr, "%s: %s", log_program, tags[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

void log_write(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}

int log_progress_enabled(void)
{
    return log_level_now >= LOG_NOTICE && isatty(STDERR_FILENO);
}

void log_progress(const char *fmt, ...)
{
    if (!log_progress_enabled())
        return;
    pthread_mutex_lock(&log_lock);
    fputs("\r\033[K", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
    log_progress_shown = 1;
    pthread_mutex_unlock(&log_lock);
}

void log_progress_end(void)
{
    pthread_mutex_lock(&log_lock);
    log_clear_progress_locked();
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}
