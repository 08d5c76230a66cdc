/*
 * broker_fs: the few file-system steps the broker's storage modules share:
 * whole reads and writes that retry short transfers and EINTR, directory
 * creation, and fsync of a directory (needed for a created, renamed or
 * deleted file to survive a crash). Errors: -1 with errno set, or with a
 * tp_err for the functions that take one.
 */
#ifndef TICKPIPE_BROKER_FS_H
#define TICKPIPE_BROKER_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

/* Reads up to len bytes at position; returns the count (short only at end
 * of file) or -1. */
ssize_t broker_fs_pread_full(int fd, void *data, size_t len, int64_t position);
/* Writes all len bytes; 0 or -1 (errno; ENOSPC for a zero-length write). */
int broker_fs_write_all(int fd, const void *data, size_t len);
/* mkdir -p. */
int broker_fs_mkdirs(const char *path, tp_err *err);
/* fsync of a directory; 0 or -1 (errno). */
int broker_fs_sync_dir(const char *path);

#endif
