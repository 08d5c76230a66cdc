/*
 * clock: monotonic and wall-clock readings in the units tickpipe uses.
 */
#ifndef TICKPIPE_CLOCK_H
#define TICKPIPE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic nanoseconds (for intervals and deadlines). */
static inline int64_t clock_monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static inline int64_t clock_monotonic_ms(void)
{
    return clock_monotonic_ns() / 1000000;
}

/* Wall-clock milliseconds since the Unix epoch. */
static inline int64_t clock_wall_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

#endif
