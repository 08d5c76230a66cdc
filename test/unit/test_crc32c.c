/* Unit tests for lib/crc32c: known vectors, chaining, hardware == portable. */
#include "test/unit/check.h"

#include "lib/crc32c.h"

static void test_known_vectors(void)
{
    CHECK_INT(crc32c_update(0, "123456789", 9), 0xE3069283u);
    CHECK_INT(crc32c_update(0, "", 0), 0);
    unsigned char zeros[32] = {0};
    CHECK_INT(crc32c_update(0, zeros, sizeof zeros), 0x8A9136AAu); /* RFC 3720 B.4 */
    unsigned char ones[32];
    memset(ones, 0xff, sizeof ones);
    CHECK_INT(crc32c_update(0, ones, sizeof ones), 0x62A8AB43u);
    CHECK_INT(crc32c_update_portable(0, "123456789", 9), 0xE3069283u);
}

static void test_chaining_and_paths_agree(void)
{
    unsigned char data[4099];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 131 + 7);
    int mismatches = 0;
    for (size_t offset = 0; offset < 9; offset++) {
        for (size_t len = 0; len + offset <= sizeof data; len += 97) {
            uint32_t whole = crc32c_update(0, data + offset, len);
            if (whole != crc32c_update_portable(0, data + offset, len))
                mismatches++;
            size_t half = len / 3;
            uint32_t chained = crc32c_update(crc32c_update(0, data + offset, half),
                                             data + offset + half, len - half);
            if (whole != chained)
                mismatches++;
        }
    }
    CHECK_INT(mismatches, 0);
    CHECK(crc32c_hardware() == 0 || crc32c_hardware() == 1);
}

int main(void)
{
    RUN(test_known_vectors);
    RUN(test_chaining_and_paths_agree);
    CHECK_EXIT();
}
