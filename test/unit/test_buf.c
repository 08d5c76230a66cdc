/* Unit tests for lib/buf. */
#include "test/unit/check.h"

#include "lib/buf.h"

static void test_append_and_printf(void)
{
    buf b = BUF_INIT;
    CHECK(buf_append_str(&b, "abc") == 0);
    CHECK(buf_append_char(&b, '-') == 0);
    CHECK(buf_printf(&b, "%d/%s", 42, "x") == 0);
    CHECK_STR(b.data, "abc-42/x");
    CHECK_INT(b.len, 8);
    buf_consume(&b, 4);
    CHECK_STR(b.data, "42/x");
    buf_reset(&b);
    CHECK_INT(b.len, 0);
    CHECK_STR(b.data, "");
    buf_free(&b);
}

static void test_large_printf_and_detach(void)
{
    buf b = BUF_INIT;
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(buf_printf(&b, "<%s>", big) == 0);
    CHECK_INT(b.len, 1001);
    CHECK(b.data[0] == '<' && b.data[1000] == '>' && b.data[1001] == '\0');
    char *owned = buf_detach(&b);
    CHECK(owned[500] == 'z');
    CHECK(b.data == NULL && b.len == 0);
    free(owned);
    buf empty = BUF_INIT;
    owned = buf_detach(&empty);
    CHECK_STR(owned, "");
    free(owned);
}

int main(void)
{
    RUN(test_append_and_printf);
    RUN(test_large_printf_and_detach);
    CHECK_EXIT();
}
