/*
 * fs: small file-system helpers shared by the local store, the query
 * engine's mirror and `tickpipe s3 cp`. Errors: 0 or -1 with err set.
 */
#ifndef TICKPIPE_FS_H
#define TICKPIPE_FS_H

#include "lib/err.h"

/* mkdir -p for every directory of path before its last component. With
 * durable set, the parent of each directory created is fsynced, so the new
 * entry survives a crash. */
int fs_make_parents(const char *path, int durable, tp_err *err);

/* Creates the last `levels` directories of path before its last component
 * (e.g. 2: <lake>/_cache/duckdb of <lake>/_cache/duckdb/x.duckdb), never
 * the ones above them: when those are gone (a lake removed meanwhile),
 * -1 with TP_ERR_NOT_FOUND instead of bringing them back. */
int fs_make_parents_below(const char *path, int levels, tp_err *err);

/* fsync of a directory. */
int fs_sync_directory(const char *path);

#endif
