/*
 * sha256: SHA-256 (FIPS 180-4) for content keys: the stored-result file
 * names and the query server's socket name. A local query computes these
 * before anything else, and OpenSSL's first digest costs ~0.9 ms of
 * provider and configuration set-up per process (measured: perf stat),
 * a fifth of a whole `tickpipe athena` that reuses a stored result.
 * Signing (SigV4: HMAC) stays with OpenSSL. No allocation, no errors.
 */
#ifndef TICKPIPE_SHA256_H
#define TICKPIPE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES 32

struct sha256 {
    uint32_t state[8];
    uint64_t length; /* bytes hashed so far */
    unsigned char block[64];
    size_t used; /* bytes waiting in block */
};

void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *data, size_t length);
void sha256_final(struct sha256 *h, unsigned char digest[SHA256_BYTES]);

/* One call: the digest of data as 64 lowercase hex digits and a NUL. */
void sha256_hex(const void *data, size_t length, char hex[2 * SHA256_BYTES + 1]);

#endif
