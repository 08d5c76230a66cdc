/*
 * timestamp: a small hand-written parser (no strptime: it is slow,
 * locale-dependent and too lenient) plus Hinnant's civil-date arithmetic.
 * Named zones go through mktime once per local hour, cached.
 */
#include "lib/timestamp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

int64_t timestamp_days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

void timestamp_civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t mp = (5 * day_of_year + 2) / 153;
    *day = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

static int timestamp_days_in_month(int64_t year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
        return 29;
    return days[month - 1];
}

/* Parses "+05:30", "-0400", "+05", "Z", "UTC", "GMT" into seconds east of
 * UTC. Returns the bytes used, or 0 when p does not start an offset. */
static size_t timestamp_parse_offset(const char *p, const char *end, int *offset_seconds)
{
    size_t n = (size_t)(end - p);
    if (n >= 1 && (*p == 'Z' || *p == 'z')) {
        *offset_seconds = 0;
        return 1;
    }
    if (n >= 3 && (strncasecmp(p, "UTC", 3) == 0 || strncasecmp(p, "GMT", 3) == 0)) {
        *offset_seconds = 0;
        return 3;
    }
    if (n < 3 || (*p != '+' && *p != '-') || !isdigit((unsigned char)p[1]) ||
        !isdigit((unsigned char)p[2]))
        return 0;
    int sign = *p == '-' ? -1 : 1;
    int hours = (p[1] - '0') * 10 + (p[2] - '0');
    int minutes = 0;
    size_t used = 3;
    if (n >= 6 && p[3] == ':' && isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5])) {
        minutes = (p[4] - '0') * 10 + (p[5] - '0');
        used = 6;
    } else if (n >= 5 && isdigit((unsigned char)p[3]) && isdigit((unsigned char)p[4])) {
        minutes = (p[3] - '0') * 10 + (p[4] - '0');
        used = 5;
    }
    if (hours > 18 || minutes > 59)
        return 0;
    *offset_seconds = sign * (hours * 3600 + minutes * 60);
    return used;
}

int timestamp_zone_init(timestamp_zone *zone, const char *name, tp_err *err)
{
    memset(zone, 0, sizeof *zone);
    zone->cached_local_hour = INT64_MIN;
    if (!name || !*name || strcasecmp(name, "UTC") == 0 || strcasecmp(name, "Z") == 0 ||
        strcasecmp(name, "GMT") == 0 || strcmp(name, "Etc/UTC") == 0) {
        zone->kind = TIMESTAMP_ZONE_UTC;
        return 0;
    }
    int offset;
    size_t length = strlen(name);
    if (timestamp_parse_offset(name, name + length, &offset) == length) {
        zone->kind = TIMESTAMP_ZONE_FIXED;
        zone->offset_seconds = offset;
        return 0;
    }
    /* An IANA name must exist in the zoneinfo database: glibc silently
     * treats unknown names as UTC, which would shift every tick. */
    char path[512];
    const char *dir = getenv("TZDIR") ? getenv("TZDIR") : "/usr/share/zoneinfo";
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (strstr(name, "..") || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return tp_err_set(err, TP_ERR_USAGE,
                          "unknown time zone '%s' (expected UTC, an offset such as -04:00, or "
                          "an IANA name such as America/New_York)",
                          name);
    setenv("TZ", name, 1);
    tzset();
    zone->kind = TIMESTAMP_ZONE_NAMED;
    return 0;
}

/* Offset of local wall time (given as seconds since the epoch as if it
 * were UTC) in a named zone, from mktime, cached per local hour. */
static int timestamp_named_offset(timestamp_zone *zone, int64_t local_seconds)
{
    int64_t hour = local_seconds >= 0 ? local_seconds / 3600 : (local_seconds - 3599) / 3600;
    if (hour == zone->cached_local_hour)
        return zone->cached_offset_seconds;
    int64_t days = hour >= 0 ? hour / 24 : (hour - 23) / 24;
    int64_t year;
    int month, day;
    timestamp_civil_from_days(days, &year, &month, &day);
    struct tm local = {0};
    local.tm_year = (int)(year - 1900);
    local.tm_mon = month - 1;
    local.tm_mday = day;
    local.tm_hour = (int)(hour - days * 24);
    local.tm_isdst = -1;
    time_t utc = mktime(&local);
    int offset = (int)((hour * 3600) - (int64_t)utc);
    zone->cached_local_hour = hour;
    zone->cached_offset_seconds = offset;
    return offset;
}

/* Reads 1..max_digits digits; returns the count read (0 if none). */
static size_t timestamp_digits(const char *p, const char *end, size_t max_digits, int64_t *value)
{
    size_t n = 0;
    int64_t v = 0;
    while (p + n < end && n < max_digits && isdigit((unsigned char)p[n])) {
        v = v * 10 + (p[n] - '0');
        n++;
    }
    *value = v;
    return n;
}

static int timestamp_month_from_name(const char *p, const char *end, size_t *used)
{
    static const char *const names[] = {"january",   "february", "march",    "april",
                                        "may",       "june",     "july",     "august",
                                        "september", "october",  "november", "december"};
    size_t n = 0;
    while (p + n < end && isalpha((unsigned char)p[n]))
        n++;
    if (n < 3)
        return 0;
    for (int i = 0; i < 12; i++) {
        size_t full = strlen(names[i]);
        if ((n == 3 || n == full || (n == 4 && i == 8)) && n <= full &&
            strncasecmp(p, names[i], n) == 0) {
            *used = n;
            return i + 1;
        }
    }
    return 0;
}

static const char *timestamp_skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

struct timestamp_fields {
    int64_t year;
    int month, day, hour, minute, second, millisecond;
    int has_offset;
    int offset_seconds;
};

/* Parses an optional "HH:MM[:SS[.fff]]" then an optional zone. Returns the
 * position after it, or NULL on malformed text. */
static const char *timestamp_parse_clock(const char *p, const char *end, struct timestamp_fields *f)
{
    int64_t v;
    size_t n = timestamp_digits(p, end, 2, &v);
    if (n == 0)
        return NULL;
    f->hour = (int)v;
    p += n;
    if (p >= end || *p != ':')
        return NULL;
    n = timestamp_digits(++p, end, 2, &v);
    if (n != 2)
        return NULL;
    f->minute = (int)v;
    p += n;
    if (p < end && *p == ':') {
        n = timestamp_digits(++p, end, 2, &v);
        if (n != 2)
            return NULL;
        f->second = (int)v;
        p += n;
        if (p < end && (*p == '.' || *p == ',')) {
            p++;
            int digits = 0, ms = 0;
            while (p < end && isdigit((unsigned char)*p)) {
                if (digits < 3)
                    ms = ms * 10 + (*p - '0');
                digits++;
                p++;
            }
            if (digits == 0)
                return NULL;
            for (; digits < 3; digits++)
                ms *= 10;
            f->millisecond = ms;
        }
    }
    if (f->hour > 23 || f->minute > 59 || f->second > 60)
        return NULL;
    return p;
}

static const char *timestamp_parse_zone(const char *p, const char *end, struct timestamp_fields *f)
{
    const char *q = timestamp_skip_blanks(p, end);
    size_t used = timestamp_parse_offset(q, end, &f->offset_seconds);
    if (used) {
        f->has_offset = 1;
        return q + used;
    }
    return p;
}

/* "2013-10-07", "2013/10/07", "2013-10-07T09:30:00-04:00", "20131007". */
static const char *timestamp_parse_numeric_date(const char *p, const char *end,
                                                struct timestamp_fields *f)
{
    int64_t v;
    size_t n = timestamp_digits(p, end, 8, &v);
    if (n == 8 && (p + n == end || !isdigit((unsigned char)p[n]))) {
        f->year = v / 10000;
        f->month = (int)(v / 100 % 100);
        f->day = (int)(v % 100);
        return p + n;
    }
    if (n != 4 || p + n >= end || (p[n] != '-' && p[n] != '/'))
        return NULL;
    char separator = p[n];
    f->year = v;
    p += n + 1;
    n = timestamp_digits(p, end, 2, &v);
    if (n == 0 || p + n >= end || p[n] != separator)
        return NULL;
    f->month = (int)v;
    p += n + 1;
    n = timestamp_digits(p, end, 2, &v);
    if (n == 0)
        return NULL;
    f->day = (int)v;
    p += n;
    if (p < end && (*p == 'T' || *p == 't' || *p == ' ')) {
        const char *clock = timestamp_parse_clock(timestamp_skip_blanks(p + 1, end), end, f);
        if (clock)
            p = clock;
        else if (*p != ' ')
            return NULL;
    }
    return timestamp_parse_zone(p, end, f);
}

/* "Jan 1 2000", "January 1, 2000", "1 Jan 2000", each with an optional time. */
static const char *timestamp_parse_named_month(const char *p, const char *end,
                                               struct timestamp_fields *f)
{
    int64_t v;
    size_t used = 0;
    if (isalpha((unsigned char)*p)) {
        f->month = timestamp_month_from_name(p, end, &used);
        if (!f->month)
            return NULL;
        p = timestamp_skip_blanks(p + used, end);
        if (p < end && *p == '.')
            p = timestamp_skip_blanks(p + 1, end);
        size_t n = timestamp_digits(p, end, 2, &v);
        if (n == 0)
            return NULL;
        f->day = (int)v;
        p += n;
        if (p < end && *p == ',')
            p++;
        p = timestamp_skip_blanks(p, end);
    } else {
        size_t n = timestamp_digits(p, end, 2, &v);
        if (n == 0)
            return NULL;
        f->day = (int)v;
        p = timestamp_skip_blanks(p + n, end);
        if (p < end && *p == '-')
            p++;
        f->month = timestamp_month_from_name(p, end, &used);
        if (!f->month)
            return NULL;
        p += used;
        if (p < end && *p == '-')
            p++;
        p = timestamp_skip_blanks(p, end);
    }
    size_t n = timestamp_digits(p, end, 4, &v);
    if (n != 4)
        return NULL;
    f->year = v;
    p += n;
    const char *after = timestamp_skip_blanks(p, end);
    if (after < end && isdigit((unsigned char)*after)) {
        const char *clock = timestamp_parse_clock(after, end, f);
        if (!clock)
            return NULL;
        p = clock;
    }
    return timestamp_parse_zone(p, end, f);
}

/* Epoch seconds (< 12 integer digits, optional fraction) or milliseconds. */
static int timestamp_parse_epoch(const char *p, const char *end, int64_t *milliseconds)
{
    int64_t whole = 0;
    size_t n = timestamp_digits(p, end, 18, &whole);
    if (n == 0)
        return -1;
    p += n;
    int fraction_ms = 0, digits = 0;
    if (p < end && *p == '.') {
        p++;
        while (p < end && isdigit((unsigned char)*p)) {
            if (digits < 3)
                fraction_ms = fraction_ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        for (int i = digits < 3 ? digits : 3; i < 3; i++)
            fraction_ms *= 10;
    }
    if (p != end)
        return -1;
    if (n >= 12)
        *milliseconds = whole;
    else
        *milliseconds = whole * 1000 + fraction_ms;
    return 0;
}

/* The canonical form tickpipe itself writes, "YYYY-MM-DDTHH:MM:SS.mmmZ",
 * parsed without the general machinery (consume reads it for every
 * message). Returns 0, or -1 when text is not exactly that form. */
static int timestamp_parse_canonical(const char *t, size_t length, int64_t *milliseconds)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (length != TIMESTAMP_ISO_LENGTH)
        return -1;
    for (size_t i = 0; i < TIMESTAMP_ISO_LENGTH; i++) {
        if (shape[i] == 'd' ? (unsigned)(t[i] - '0') > 9 : t[i] != shape[i])
            return -1;
    }
#define TS_DIGITS2(p) (((p)[0] - '0') * 10 + ((p)[1] - '0'))
    int64_t year = TS_DIGITS2(t) * 100 + TS_DIGITS2(t + 2);
    int month = TS_DIGITS2(t + 5), day = TS_DIGITS2(t + 8);
    int hour = TS_DIGITS2(t + 11), minute = TS_DIGITS2(t + 14), second = TS_DIGITS2(t + 17);
    int ms = TS_DIGITS2(t + 20) * 10 + (t[22] - '0');
#undef TS_DIGITS2
    if (month < 1 || month > 12 || day < 1 || day > timestamp_days_in_month(year, month) ||
        hour > 23 || minute > 59 || second > 60)
        return -1;
    *milliseconds =
        ((timestamp_days_from_civil(year, month, day) * 24 + hour) * 60 + minute) * 60000 +
        second * 1000 + ms;
    return 0;
}

int timestamp_parse(const char *text, size_t length, timestamp_zone *zone, int64_t *milliseconds)
{
    if (timestamp_parse_canonical(text, length, milliseconds) == 0)
        return 0;
    const char *p = text;
    const char *end = text + length;
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    if (p == end)
        return -1;
    struct timestamp_fields f = {0};
    const char *rest = NULL;
    if (isdigit((unsigned char)*p)) {
        size_t digits = 0;
        while (p + digits < end && isdigit((unsigned char)p[digits]))
            digits++;
        int looks_epoch = (p + digits == end && digits != 8) ||
                          (p + digits < end && p[digits] == '.' && digits != 4);
        if (looks_epoch)
            return timestamp_parse_epoch(p, end, milliseconds);
        rest = digits <= 2 ? timestamp_parse_named_month(p, end, &f)
                           : timestamp_parse_numeric_date(p, end, &f);
    } else if (isalpha((unsigned char)*p)) {
        rest = timestamp_parse_named_month(p, end, &f);
    }
    if (!rest || rest != end)
        return -1;
    if (f.month < 1 || f.month > 12 || f.day < 1 ||
        f.day > timestamp_days_in_month(f.year, f.month))
        return -1;
    int64_t local_seconds = timestamp_days_from_civil(f.year, f.month, f.day) * 86400 +
                            f.hour * 3600 + f.minute * 60 + f.second;
    int offset = 0;
    if (f.has_offset)
        offset = f.offset_seconds;
    else if (zone && zone->kind == TIMESTAMP_ZONE_FIXED)
        offset = zone->offset_seconds;
    else if (zone && zone->kind == TIMESTAMP_ZONE_NAMED)
        offset = timestamp_named_offset(zone, local_seconds);
    *milliseconds = (local_seconds - offset) * 1000 + f.millisecond;
    return 0;
}

static void timestamp_put_digits(char *out, int64_t value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
}

size_t timestamp_format_iso(int64_t milliseconds, char *out)
{
    int64_t seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000;
    int64_t ms = milliseconds - seconds * 1000;
    int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
    int64_t second_of_day = seconds - days * 86400;
    int64_t year;
    int month, day;
    timestamp_civil_from_days(days, &year, &month, &day);
    if (year < 0 || year > 9999) {
        out[0] = '\0';
        return 0;
    }
    memcpy(out, "0000-00-00T00:00:00.000Z", TIMESTAMP_ISO_LENGTH + 1);
    timestamp_put_digits(out, year, 4);
    timestamp_put_digits(out + 5, month, 2);
    timestamp_put_digits(out + 8, day, 2);
    timestamp_put_digits(out + 11, second_of_day / 3600, 2);
    timestamp_put_digits(out + 14, second_of_day / 60 % 60, 2);
    timestamp_put_digits(out + 17, second_of_day % 60, 2);
    timestamp_put_digits(out + 20, ms, 3);
    return TIMESTAMP_ISO_LENGTH;
}
