/*
 * crc32c: CRC-32C (Castagnoli), the checksum of Kafka record batches v2.
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at
 * run time), else a portable slicing-by-8 table. Thread-safe; no allocation.
 */
#ifndef TICKPIPE_CRC32C_H
#define TICKPIPE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: start with crc = 0; crc32c(crc32c(0, a), b) == crc32c(0, ab). */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);

/* Same result, always through the portable table (for tests and benchmarks). */
uint32_t crc32c_update_portable(uint32_t crc, const void *data, size_t len);

/* 1 when the hardware path is in use. */
int crc32c_hardware(void);

#endif
