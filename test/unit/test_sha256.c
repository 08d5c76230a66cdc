/* test_sha256: lib/sha256 against the FIPS 180-4 examples and against
 * OpenSSL on every length across the padding boundaries, fed whole and
 * in uneven pieces. */
#include <openssl/sha.h>
#include <stdio.h>

#include "lib/sha256.h"
#include "test/unit/check.h"

static void hex_of(const unsigned char *digest, char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

static void test_fips_vectors(void)
{
    char hex[65];
    sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(two_blocks, strlen(two_blocks), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_million_a(void)
{
    static char a[1000000];
    memset(a, 'a', sizeof a);
    char hex[65];
    sha256_hex(a, sizeof a, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Lengths 0..300 (every padding case), whole and in pieces of 1, 7, 63
 * and 64 bytes: the same digest as OpenSSL's. */
static void test_against_openssl(void)
{
    unsigned char data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 131 + 7);
    int mismatches = 0;
    static const size_t pieces[] = {1, 7, 63, 64, 300};
    for (size_t length = 0; length <= sizeof data; length++) {
        unsigned char want[32];
        char want_hex[65];
        SHA256(data, length, want);
        hex_of(want, want_hex);
        for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
            struct sha256 h;
            unsigned char got[32];
            char got_hex[65];
            sha256_init(&h);
            for (size_t at = 0; at < length; at += pieces[k])
                sha256_update(&h, data + at, length - at < pieces[k] ? length - at : pieces[k]);
            sha256_final(&h, got);
            hex_of(got, got_hex);
            mismatches += strcmp(got_hex, want_hex) != 0;
        }
    }
    CHECK_INT(mismatches, 0);
}

int main(void)
{
    RUN(test_fips_vectors);
    RUN(test_million_a);
    RUN(test_against_openssl);
    CHECK_EXIT();
}
