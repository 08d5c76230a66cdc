/*
 * store: the object-store interface the lake lives on. Two implementations
 * share it: the local directory store (lib/store_dir.c) and the S3 store
 * (aws/). Keys are '/'-separated relative paths ("ticks/dt=2024-01-02/x.jsonl.gz");
 * both backends write the same keys with the same bytes, so a local lake
 * can be synced to S3 and read there.
 * Errors: functions return 0 or -1 with err set; a missing object is
 * TP_ERR_NOT_FOUND.
 */
#ifndef TICKPIPE_STORE_H
#define TICKPIPE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

typedef struct store store;
typedef struct store_writer store_writer;

struct store_object {
    const char *key;  /* relative to the store root */
    long long size;   /* bytes */
    int64_t mtime_ms; /* last modification, ms since the epoch */
    const char *etag; /* S3 ETag, or "<size>-<mtime_ns>" for files; never NULL */
};

/* Called for each object listed; return non-zero to stop the listing. */
typedef int (*store_list_fn)(const struct store_object *object, void *context);
/* Called with consecutive chunks of an object's bytes; non-zero stops. */
typedef int (*store_read_fn)(const void *data, size_t length, void *context);

enum store_put_mode {
    STORE_PUT_REPLACE,   /* overwrite an existing object */
    STORE_PUT_IF_ABSENT, /* fail with TP_ERR_EXISTS if it exists (S3 If-None-Match: *) */
};

struct store_ops {
    const char *scheme; /* "file" or "s3" */
    /* Starts writing an object; nothing is visible until commit. */
    store_writer *(*writer_open)(store *s, const char *key, enum store_put_mode mode, tp_err *err);
    int (*writer_write)(store_writer *w, const void *data, size_t length, tp_err *err);
    /* Makes the object durable and visible (local: fsync, rename, fsync
     * dir; S3: PUT or multipart complete acknowledged). Frees w. With
     * STORE_PUT_IF_ABSENT and an existing object: -1, err->code
     * TP_ERR_EXISTS. */
    int (*writer_commit)(store_writer *w, tp_err *err);
    /* Discards a writer (temporary data removed). Frees w. */
    void (*writer_abort)(store_writer *w);
    /* Streams bytes [offset, offset+length) (length 0 = to the end). */
    int (*read)(store *s, const char *key, long long offset, long long length, store_read_fn fn,
                void *context, tp_err *err);
    /* Lists every object whose key starts with prefix, in key order. */
    int (*list)(store *s, const char *prefix, store_list_fn fn, void *context, tp_err *err);
    int (*remove)(store *s, const char *key, tp_err *err);
    /* A local file path holding the object, when the backend has one
     * (directory store); NULL otherwise. Caller frees. */
    char *(*local_path)(store *s, const char *key);
    void (*free)(store *s);
};

struct store {
    const struct store_ops *ops;
    char *location; /* for messages: "./lake" or "s3://bucket/prefix" */
};

/* The directory store rooted at path (created if missing). */
store *store_dir_open(const char *path, tp_err *err);

struct store_dir_sweep_stats {
    long long removed;     /* temporary files removed */
    long long bytes_freed; /* their sizes */
    long long kept;        /* temporary files kept: writer may run, or modified recently */
};

/*
 * Removes the temporary files that writers of the directory store s left
 * behind when they died mid-write (SIGKILL, OOM, power loss) in the folder
 * prefix and every folder below it ("" for the whole store; hidden folders
 * are not entered). A file is removed only when its name is exactly what a
 * writer names one, ".<name>.tmp-<pid>-<n>", its writer is surely gone (no
 * process with that pid runs on this host, or the one that does started
 * after the file's last modification: a reused pid, e.g. a restarted
 * container's pid 1) AND it was not modified for min_age_ms (a writer on
 * another host sharing the directory over NFS keeps its file fresh).
 * Each removal is logged at info level, then a one-line summary (notice
 * when something was removed). stats (may be NULL) receives the counts.
 *
 * Why a function of the directory store and not a store op: what makes a
 * leftover (a pid on this host, a file's mtime) exists only locally; S3's
 * counterpart, incomplete multipart uploads, has neither and is best left
 * to a bucket lifecycle rule (AbortIncompleteMultipartUpload).
 *
 * Returns 0; -1 with err set to the first failure (a folder that cannot be
 * read, a file that cannot be removed) after sweeping everything else, or
 * when s is not a directory store (TP_ERR_USAGE). A missing folder is no
 * failure.
 */
int store_dir_sweep_temporaries(store *s, const char *prefix, int64_t min_age_ms,
                                struct store_dir_sweep_stats *stats, tp_err *err);

/* Convenience wrappers over the vtable. */
static inline void store_free(store *s)
{
    if (s)
        s->ops->free(s);
}

/* Writes a whole buffer as one object. */
int store_put(store *s, const char *key, const void *data, size_t length, enum store_put_mode mode,
              tp_err *err);

/* Reads a whole object into a malloc'ed buffer (NUL-terminated, not
 * counted) of at most max_bytes (0 = no limit; larger objects are cut).
 * Caller frees *data. */
int store_get(store *s, const char *key, long long max_bytes, char **data, size_t *length,
              tp_err *err);

#endif
