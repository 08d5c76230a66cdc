/* Unit tests for aws/athena: the polling backoff and the engine's option
 * checks (the wire behaviour is tested against the fake AWS endpoint in
 * test/integration/athena_aws.py). */
#include "test/unit/check.h"

#include "aws/athena.h"

static void test_poll_backoff_grows_to_the_cap(void)
{
    long delay = 0;
    long seen[8];
    for (int i = 0; i < 8; i++)
        seen[i] = delay = athena_poll_delay_ms(delay, 100, 2000);
    CHECK_INT(seen[0], 100);
    CHECK_INT(seen[1], 150);
    CHECK_INT(seen[2], 225);
    CHECK_INT(seen[3], 337);
    CHECK_INT(seen[7], 1702); /* 100, 150, 225, 337, 505, 757, 1135, 1702 */
    CHECK_INT(athena_poll_delay_ms(1900, 100, 2000), 2000);
    CHECK_INT(athena_poll_delay_ms(2000, 100, 2000), 2000);
}

static void test_output_location_must_be_s3(void)
{
    struct athena_options options = {"tickpipe", NULL, NULL, "/tmp/results", 0, 0};
    tp_err err;
    tp_err_clear(&err);
    CHECK(athena_engine_open(NULL, NULL, &options, &err) == NULL);
    CHECK_INT(err.code, TP_ERR_USAGE);
    CHECK(strstr(err.msg, "s3://") != NULL);
}

int main(void)
{
    RUN(test_poll_backoff_grows_to_the_cap);
    RUN(test_output_location_must_be_s3);
    CHECK_EXIT();
}
