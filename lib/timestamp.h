/*
 * timestamp: event times as milliseconds since the Unix epoch (UTC),
 * parsed from the forms stock CSVs use and printed as ISO-8601 UTC with
 * milliseconds ("2013-10-07T13:30:00.000Z").
 * Accepted: YYYY-MM-DD; date + time with 'T' or a space (HH:MM[:SS[.fff]]);
 * Z/UTC/GMT or ±hh:mm, ±hhmm, ±hh offsets; YYYYMMDD; epoch seconds (fewer
 * than 12 integer digits, fraction allowed) or milliseconds (12 or more);
 * "Jan 1 2000", "January 1, 2000", "1 Jan 2000" (optionally with a time).
 * Naive times (no offset) are read in the zone given (UTC when NULL).
 */
#ifndef TICKPIPE_TIMESTAMP_H
#define TICKPIPE_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

enum timestamp_zone_kind { TIMESTAMP_ZONE_UTC, TIMESTAMP_ZONE_FIXED, TIMESTAMP_ZONE_NAMED };

typedef struct timestamp_zone {
    enum timestamp_zone_kind kind;
    int offset_seconds; /* FIXED: local = UTC + offset */
    /* NAMED: offset of the last local hour converted (a small cache) */
    long long cached_local_hour;
    int cached_offset_seconds;
} timestamp_zone;

/*
 * Sets up a zone from "UTC", "+05:30"/"-04:00", or an IANA name such as
 * "America/New_York" (read from the system's zoneinfo). A named zone sets
 * the process's TZ: call it before starting threads. Returns 0 or -1.
 */
int timestamp_zone_init(timestamp_zone *zone, const char *name, tp_err *err);

/* Parses text[0..length) (surrounding blanks ignored). Returns 0 and sets
 * *milliseconds, or -1 when the text is not a recognised time. */
int timestamp_parse(const char *text, size_t length, timestamp_zone *zone, int64_t *milliseconds);

#define TIMESTAMP_ISO_LENGTH 24
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" and a NUL into out (at least 25 bytes).
 * Returns the length (24), or 0 when the year falls outside 0000-9999. */
size_t timestamp_format_iso(int64_t milliseconds, char *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1-12). */
int64_t timestamp_days_from_civil(int64_t year, int month, int day);
/* The inverse. */
void timestamp_civil_from_days(int64_t days, int64_t *year, int *month, int *day);

#endif
