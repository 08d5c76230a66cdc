/*
 * crc32c: slicing-by-8 tables built once (pthread_once), and an SSE4.2
 * path selected at run time with __builtin_cpu_supports so the binary still
 * runs on CPUs without it. Both paths are tested against each other.
 */
#include "lib/crc32c.h"

#include <pthread.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
static int crc32c_use_hardware;

static void crc32c_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ CRC32C_POLY : crc >> 1;
        crc32c_table[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = crc32c_table[0][n];
        for (int k = 1; k < 8; k++) {
            crc = crc32c_table[0][crc & 0xff] ^ (crc >> 8);
            crc32c_table[k][n] = crc;
        }
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    crc32c_use_hardware = __builtin_cpu_supports("sse4.2") != 0;
#endif
}

static uint32_t crc32c_portable_raw(uint32_t crc, const unsigned char *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);
#endif
        uint32_t low = (uint32_t)word ^ crc;
        uint32_t high = (uint32_t)(word >> 32);
        crc = crc32c_table[7][low & 0xff] ^ crc32c_table[6][(low >> 8) & 0xff] ^
              crc32c_table[5][(low >> 16) & 0xff] ^ crc32c_table[4][low >> 24] ^
              crc32c_table[3][high & 0xff] ^ crc32c_table[2][(high >> 8) & 0xff] ^
              crc32c_table[1][(high >> 16) & 0xff] ^ crc32c_table[0][high >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hardware_raw(uint32_t crc, const unsigned char *p, size_t len)
{
    uint64_t crc64 = crc;
    while (len && ((uintptr_t)p & 7)) {
        crc64 = __builtin_ia32_crc32qi((uint32_t)crc64, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc64 = __builtin_ia32_crc32di(crc64, word);
        p += 8;
        len -= 8;
    }
    uint32_t crc32 = (uint32_t)crc64;
    while (len--)
        crc32 = __builtin_ia32_crc32qi(crc32, *p++);
    return crc32;
}
#endif

uint32_t crc32c_update(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc32c_once, crc32c_init);
#if defined(__x86_64__)
    if (crc32c_use_hardware)
        return ~crc32c_hardware_raw(~crc, data, len);
#endif
    return ~crc32c_portable_raw(~crc, data, len);
}

uint32_t crc32c_update_portable(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc32c_once, crc32c_init);
    return ~crc32c_portable_raw(~crc, data, len);
}

int crc32c_hardware(void)
{
    pthread_once(&crc32c_once, crc32c_init);
    return crc32c_use_hardware;
}
