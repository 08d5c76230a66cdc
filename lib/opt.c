/*
 * opt: table-driven parsing of long/short options with defaults and
 * environment variables, and the --help renderer. Parsing never prints;
 * problems come back in a tp_err that names the option and the bad value.
 */
#include "lib/opt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct opt_spec opt_common_specs[] = {
    {"verbose", 'v', OPT_FLAG, NULL, NULL, NULL, NULL,
     "more detail on stderr (-vv debug, -vvv trace)", NULL},
    {"quiet", 'q', OPT_FLAG, NULL, NULL, NULL, NULL, "errors only on stderr", NULL},
    {"help", 'h', OPT_FLAG, NULL, NULL, NULL, NULL, "show this help and exit", NULL},
    {NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};

void opt_list_free(struct opt_list *list)
{
    free(list->items);
    list->items = NULL;
    list->count = list->capacity = 0;
}

static int opt_list_push(struct opt_list *list, const char *item)
{
    if (list->count == list->capacity) {
        int capacity = list->capacity ? list->capacity * 2 : 8;
        const char **items = realloc(list->items, (size_t)capacity * sizeof *items);
        if (!items)
            return -1;
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count++] = item;
    return 0;
}

int opt_parse_bool(const char *text, int *value)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *value = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *value = 0;
            return 0;
        }
    }
    return -1;
}

/* A finite non-negative number followed by an optional unit; returns the
 * unit's start in *unit. */
static int opt_split_number(const char *text, double *number, const char **unit)
{
    char *end;
    errno = 0;
    *number = strtod(text, &end);
    if (end == text || errno || !isfinite(*number) || *number < 0)
        return -1;
    *unit = end;
    return 0;
}

int opt_parse_size(const char *text, long long *bytes)
{
    static const struct {
        const char *unit;
        double factor;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1024.0},
        {"kb", 1024.0},
        {"kib", 1024.0},
        {"m", 1048576.0},
        {"mb", 1048576.0},
        {"mib", 1048576.0},
        {"g", 1073741824.0},
        {"gb", 1073741824.0},
        {"gib", 1073741824.0},
    };
    double number;
    const char *unit;
    if (opt_split_number(text, &number, &unit) < 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(unit, units[i].unit) == 0) {
            double value = number * units[i].factor;
            if (value > 9.0e18)
                return -1;
            *bytes = (long long)value;
            return 0;
        }
    }
    return -1;
}

int opt_parse_duration(const char *text, long long *milliseconds)
{
    static const struct {
        const char *unit;
        double factor;
    } units[] = {
        {"", 1000.0},   {"ms", 1.0},      {"s", 1000.0},
        {"m", 60000.0}, {"h", 3600000.0}, {"d", 86400000.0},
    };
    double number;
    const char *unit;
    if (opt_split_number(text, &number, &unit) < 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].unit) == 0) {
            double value = number * units[i].factor;
            if (value > 9.0e15)
                return -1;
            *milliseconds = (long long)llround(value);
            return 0;
        }
    }
    return -1;
}

static int opt_parse_int(const char *text, long long *value)
{
    char *end;
    errno = 0;
    long long number = strtoll(text, &end, 10);
    if (end == text || errno)
        return -1;
    long long factor = 1;
    if (*end == 'k' || *end == 'K')
        factor = 1000, end++;
    else if (*end == 'M')
        factor = 1000000, end++;
    else if (*end == 'G')
        factor = 1000000000, end++;
    if (*end != '\0')
        return -1;
    if (number > 0 && number > (long long)9.0e18 / factor)
        return -1;
    *value = number * factor;
    return 0;
}

static int opt_choice_ok(const char *choices, const char *text)
{
    size_t length = strlen(text);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == length && strncmp(p, text, n) == 0)
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

static const char *opt_type_expectation(const struct opt_spec *spec)
{
    switch (spec->type) {
    case OPT_BOOL:
        return "expected true or false";
    case OPT_INT:
        return "expected an integer";
    case OPT_DOUBLE:
        return "expected a number";
    case OPT_SIZE:
        return "expected a size such as 512k, 64MiB or 1G";
    case OPT_DURATION:
        return "expected a duration such as 500ms, 30s, 5m or 1h";
    case OPT_CHOICE:
        return "expected one of";
    default:
        return "invalid value";
    }
}

/* Stores text into the option's destination; origin is used in messages. */
static int opt_assign(const struct opt_spec *spec, void *value, const char *text,
                      const char *origin, tp_err *err)
{
    int bad = 0;
    switch (spec->type) {
    case OPT_FLAG:
        *(int *)value += 1;
        break;
    case OPT_BOOL:
        bad = opt_parse_bool(text, (int *)value) < 0;
        break;
    case OPT_STRING:
        *(const char **)value = text;
        break;
    case OPT_INT:
        bad = opt_parse_int(text, (long long *)value) < 0;
        break;
    case OPT_DOUBLE: {
        char *end;
        errno = 0;
        double number = strtod(text, &end);
        bad = end == text || *end || errno || !isfinite(number);
        if (!bad)
            *(double *)value = number;
        break;
    }
    case OPT_SIZE:
        bad = opt_parse_size(text, (long long *)value) < 0;
        break;
    case OPT_DURATION:
        bad = opt_parse_duration(text, (long long *)value) < 0;
        break;
    case OPT_CHOICE:
        bad = !opt_choice_ok(spec->choices, text);
        if (!bad)
            *(const char **)value = text;
        break;
    case OPT_LIST:
        if (opt_list_push((struct opt_list *)value, text) < 0)
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        break;
    }
    if (bad) {
        if (spec->type == OPT_CHOICE)
            return tp_err_set(err, TP_ERR_USAGE, "%s: invalid value '%s' (expected one of: %s)",
                              origin, text, spec->choices);
        return tp_err_set(err, TP_ERR_USAGE, "%s: invalid value '%s' (%s)", origin, text,
                          opt_type_expectation(spec));
    }
    return 0;
}

static int opt_takes_argument(const struct opt_spec *spec)
{
    return spec->type != OPT_FLAG;
}

/* Finds a spec by long or short name in the command's table or the common
 * table; *value receives the destination (common specs have none stored). */
static const struct opt_spec *opt_find(const struct opt_command *cmd, struct opt_common *common,
                                       const char *long_name, size_t long_length, char short_name,
                                       void **value)
{
    for (const struct opt_spec *spec = cmd->options; spec && spec->name; spec++) {
        if ((long_name && strlen(spec->name) == long_length &&
             strncmp(spec->name, long_name, long_length) == 0) ||
            (!long_name && short_name && spec->short_name == short_name)) {
            *value = spec->value;
            return spec;
        }
    }
    int *common_values[] = {&common->verbose, &common->quiet, &common->help};
    for (size_t i = 0; i < sizeof common_values / sizeof common_values[0]; i++) {
        const struct opt_spec *spec = &opt_common_specs[i];
        if ((long_name && strlen(spec->name) == long_length &&
             strncmp(spec->name, long_name, long_length) == 0) ||
            (!long_name && spec->short_name == short_name)) {
            *value = common_values[i];
            return spec;
        }
    }
    return NULL;
}

static int opt_apply_defaults_and_env(const struct opt_command *cmd, tp_err *err)
{
    for (const struct opt_spec *spec = cmd->options; spec && spec->name; spec++) {
        if (spec->default_value && spec->type != OPT_LIST) {
            char origin[128];
            snprintf(origin, sizeof origin, "default of --%s", spec->name);
            if (opt_assign(spec, spec->value, spec->default_value, origin, err) < 0)
                return -1;
        }
        const char *env = spec->env ? getenv(spec->env) : NULL;
        if (env && *env) {
            char origin[160];
            snprintf(origin, sizeof origin, "%s (environment, sets --%s)", spec->env, spec->name);
            if (spec->type == OPT_FLAG) {
                int on = 0;
                if (opt_parse_bool(env, &on) < 0)
                    return tp_err_set(err, TP_ERR_USAGE,
                                      "%s: invalid value '%s' (expected true or false)", origin,
                                      env);
                *(int *)spec->value = on;
            } else if (spec->type == OPT_LIST && spec->default_value == NULL) {
                if (opt_assign(spec, spec->value, env, origin, err) < 0)
                    return -1;
            } else if (opt_assign(spec, spec->value, env, origin, err) < 0) {
                return -1;
            }
        } else if (spec->type == OPT_LIST && spec->default_value) {
            /* list defaults apply only when neither env nor argv gives one;
             * handled after argv parsing */
        }
    }
    return 0;
}

static int opt_apply_list_defaults(const struct opt_command *cmd)
{
    for (const struct opt_spec *spec = cmd->options; spec && spec->name; spec++) {
        if (spec->type == OPT_LIST && spec->default_value) {
            struct opt_list *list = spec->value;
            if (list->count == 0 && opt_list_push(list, spec->default_value) < 0)
                return -1;
        }
    }
    return 0;
}

enum opt_result opt_parse(const struct opt_command *cmd, struct opt_common *common, int argc,
                          char **argv, int *npositional, tp_err *err)
{
    memset(common, 0, sizeof *common);
    *npositional = 0;
    if (opt_apply_defaults_and_env(cmd, err) < 0)
        return OPT_ERROR;
    int only_positionals = 0;
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i];
        if (only_positionals || arg[0] != '-' || arg[1] == '\0') {
            argv[1 + (*npositional)++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positionals = 1;
            continue;
        }
        void *value = NULL;
        if (arg[1] == '-') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t length = eq ? (size_t)(eq - name) : strlen(name);
            const struct opt_spec *spec = opt_find(cmd, common, name, length, 0, &value);
            if (!spec) {
                tp_err_set(err, TP_ERR_USAGE, "unknown option '--%.*s' (see 'tickpipe %s --help')",
                           (int)length, name, cmd->name);
                return OPT_ERROR;
            }
            const char *text = NULL;
            if (opt_takes_argument(spec)) {
                if (eq)
                    text = eq + 1;
                else if (i + 1 < argc)
                    text = argv[++i];
                else {
                    tp_err_set(err, TP_ERR_USAGE, "option '--%s' needs a value (%s)", spec->name,
                               spec->metavar ? spec->metavar : "VALUE");
                    return OPT_ERROR;
                }
            } else if (eq) {
                tp_err_set(err, TP_ERR_USAGE, "option '--%s' takes no value", spec->name);
                return OPT_ERROR;
            }
            char origin[128];
            snprintf(origin, sizeof origin, "--%s", spec->name);
            if (opt_assign(spec, value, text, origin, err) < 0)
                return OPT_ERROR;
            continue;
        }
        /* one or more short options: -vv, -Xkey=value, -X key=value */
        for (const char *p = arg + 1; *p; p++) {
            const struct opt_spec *spec = opt_find(cmd, common, NULL, 0, *p, &value);
            if (!spec) {
                tp_err_set(err, TP_ERR_USAGE, "unknown option '-%c' (see 'tickpipe %s --help')", *p,
                           cmd->name);
                return OPT_ERROR;
            }
            char origin[16];
            snprintf(origin, sizeof origin, "-%c", *p);
            if (!opt_takes_argument(spec)) {
                if (opt_assign(spec, value, NULL, origin, err) < 0)
                    return OPT_ERROR;
                continue;
            }
            const char *text = p[1] ? p + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!text) {
                tp_err_set(err, TP_ERR_USAGE, "option '-%c' needs a value (%s)", *p,
                           spec->metavar ? spec->metavar : "VALUE");
                return OPT_ERROR;
            }
            if (opt_assign(spec, value, text, origin, err) < 0)
                return OPT_ERROR;
            break;
        }
    }
    if (opt_apply_list_defaults(cmd) < 0) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return OPT_ERROR;
    }
    return common->help ? OPT_HELP : OPT_OK;
}

static void opt_print_spec(const struct opt_spec *spec, FILE *out)
{
    char left[96];
    int n = 0;
    if (spec->short_name)
        n = snprintf(left, sizeof left, "  -%c, --%s", spec->short_name, spec->name);
    else
        n = snprintf(left, sizeof left, "      --%s", spec->name);
    if (spec->metavar && n > 0 && (size_t)n < sizeof left)
        snprintf(left + n, sizeof left - (size_t)n, " %s", spec->metavar);
    if (strlen(left) > 28)
        fprintf(out, "%s\n%-30s", left, "");
    else
        fprintf(out, "%-30s", left);
    fputs(spec->help ? spec->help : "", out);
    int have_default = spec->default_value && *spec->default_value;
    if (spec->type == OPT_CHOICE && spec->choices && !strchr(spec->help ? spec->help : "", '|'))
        fprintf(out, " (%s)", spec->choices);
    if (have_default || spec->env) {
        fputs(" [", out);
        if (have_default)
            fprintf(out, "default: %s", spec->default_value);
        if (have_default && spec->env)
            fputs("; ", out);
        if (spec->env)
            fprintf(out, "env: %s", spec->env);
        fputc(']', out);
    }
    fputc('\n', out);
}

void opt_print_help(const struct opt_command *cmd, FILE *out)
{
    fprintf(out, "Usage: tickpipe %s %s\n\n%s\n\nOptions:\n", cmd->name,
            cmd->usage ? cmd->usage : "", cmd->summary);
    for (const struct opt_spec *spec = cmd->options; spec && spec->name; spec++)
        opt_print_spec(spec, out);
    for (const struct opt_spec *spec = opt_common_specs; spec->name; spec++)
        opt_print_spec(spec, out);
    if (cmd->details)
        fprintf(out, "\n%s\n", cmd->details);
}
