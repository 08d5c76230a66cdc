/* Unit tests for lib/opt: defaults, environment, argv precedence, types, help. */
#include "test/unit/check.h"

#include <stdlib.h>

#include "lib/opt.h"

static const char *name_value;
static long long count_value;
static long long size_value;
static long long wait_value;
static const char *mode_value;
static int flag_value;
static struct opt_list extra_list;

static const struct opt_spec specs[] = {
    {"name", 'n', OPT_STRING, &name_value, "NAME", "anon", "TEST_OPT_NAME", "a name", NULL},
    {"count", 0, OPT_INT, &count_value, "N", "5", NULL, "a count", NULL},
    {"size", 0, OPT_SIZE, &size_value, "BYTES", "1MiB", NULL, "a size", NULL},
    {"wait", 0, OPT_DURATION, &wait_value, "DUR", "30s", NULL, "a wait", NULL},
    {"mode", 0, OPT_CHOICE, &mode_value, "MODE", "a", NULL, "a mode", "a|b|c"},
    {"flag", 'f', OPT_FLAG, &flag_value, NULL, NULL, NULL, "a flag", NULL},
    {"extra", 'X', OPT_LIST, &extra_list, "K=V", NULL, NULL, "extras", NULL},
    {0},
};
static const struct opt_command command = {"test", "[options]", "Test.", NULL, specs};

static enum opt_result parse(int argc, char **argv, int *npos, tp_err *err)
{
    struct opt_common common;
    opt_list_free(&extra_list);
    flag_value = 0;
    return opt_parse(&command, &common, argc, argv, npos, err);
}

static void test_defaults_apply(void)
{
    char *argv[] = {"test", NULL};
    int npos;
    tp_err err;
    unsetenv("TEST_OPT_NAME");
    CHECK_INT(parse(1, argv, &npos, &err), OPT_OK);
    CHECK_STR(name_value, "anon");
    CHECK_INT(count_value, 5);
    CHECK_INT(size_value, 1048576);
    CHECK_INT(wait_value, 30000);
    CHECK_STR(mode_value, "a");
    CHECK_INT(npos, 0);
}

static void test_env_then_argv_precedence(void)
{
    setenv("TEST_OPT_NAME", "from-env", 1);
    char *argv1[] = {"test", NULL};
    int npos;
    tp_err err;
    CHECK_INT(parse(1, argv1, &npos, &err), OPT_OK);
    CHECK_STR(name_value, "from-env");
    char *argv2[] = {"test", "--name", "from-argv", NULL};
    CHECK_INT(parse(3, argv2, &npos, &err), OPT_OK);
    CHECK_STR(name_value, "from-argv");
    unsetenv("TEST_OPT_NAME");
}

static void test_forms_and_positionals(void)
{
    char *argv[] = {"test", "pos1", "--count=7", "-ff",    "-Xa=1", "-X",
                    "b=2",  "pos2", "--",        "--name", NULL};
    int npos;
    tp_err err;
    CHECK_INT(parse(10, argv, &npos, &err), OPT_OK);
    CHECK_INT(count_value, 7);
    CHECK_INT(flag_value, 2);
    CHECK_INT(extra_list.count, 2);
    CHECK_STR(extra_list.items[0], "a=1");
    CHECK_STR(extra_list.items[1], "b=2");
    CHECK_INT(npos, 3);
    CHECK_STR(argv[1], "pos1");
    CHECK_STR(argv[2], "pos2");
    CHECK_STR(argv[3], "--name");
}

static void test_errors_name_the_option(void)
{
    int npos;
    tp_err err;
    char *bad_int[] = {"test", "--count", "seven", NULL};
    CHECK_INT(parse(3, bad_int, &npos, &err), OPT_ERROR);
    CHECK(strstr(err.msg, "--count") && strstr(err.msg, "seven"));
    char *unknown[] = {"test", "--nope", NULL};
    CHECK_INT(parse(2, unknown, &npos, &err), OPT_ERROR);
    CHECK(strstr(err.msg, "--nope") != NULL);
    char *missing[] = {"test", "--name", NULL};
    CHECK_INT(parse(2, missing, &npos, &err), OPT_ERROR);
    char *choice[] = {"test", "--mode", "z", NULL};
    CHECK_INT(parse(3, choice, &npos, &err), OPT_ERROR);
    CHECK(strstr(err.msg, "a|b|c") != NULL);
    char *help[] = {"test", "-h", NULL};
    CHECK_INT(parse(2, help, &npos, &err), OPT_HELP);
}

static void test_value_parsers(void)
{
    long long v;
    CHECK(opt_parse_size("64k", &v) == 0 && v == 65536);
    CHECK(opt_parse_size("1.5MiB", &v) == 0 && v == 1572864);
    CHECK(opt_parse_size("12", &v) == 0 && v == 12);
    CHECK(opt_parse_size("-1", &v) < 0);
    CHECK(opt_parse_size("5 parsecs", &v) < 0);
    CHECK(opt_parse_duration("500ms", &v) == 0 && v == 500);
    CHECK(opt_parse_duration("2m", &v) == 0 && v == 120000);
    CHECK(opt_parse_duration("1.5", &v) == 0 && v == 1500);
    CHECK(opt_parse_duration("1y", &v) < 0);
    int b;
    CHECK(opt_parse_bool("TRUE", &b) == 0 && b == 1);
    CHECK(opt_parse_bool("off", &b) == 0 && b == 0);
    CHECK(opt_parse_bool("maybe", &b) < 0);
}

static void test_help_lists_default_and_env(void)
{
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    opt_print_help(&command, out);
    fclose(out);
    CHECK(strstr(text, "--name NAME") != NULL);
    CHECK(strstr(text, "default: anon") != NULL);
    CHECK(strstr(text, "env: TEST_OPT_NAME") != NULL);
    CHECK(strstr(text, "--verbose") != NULL);
    free(text);
}

int main(void)
{
    RUN(test_defaults_apply);
    RUN(test_env_then_argv_precedence);
    RUN(test_forms_and_positionals);
    RUN(test_errors_name_the_option);
    RUN(test_value_parsers);
    RUN(test_help_lists_default_and_env);
    opt_list_free(&extra_list);
    CHECK_EXIT();
}
