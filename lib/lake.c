/*
 * lake: per-partition batches of lake objects, the manifest that makes
 * them exactly-once, recovery, and the error sink. See lake.h for the
 * scheme; the invariant every path keeps is: an object becomes visible
 * only after a manifest naming it is stored, and a manifest whose first
 * offset is not below the committed offset names only deletable objects.
 * Threads: the consuming thread (batches), the compression worker and the
 * committer (flushes); see struct lake_flush for what they share.
 */
#include "lib/lake.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/csv.h"
#include "lib/gzip.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/timestamp.h"

/* Uncompressed bytes an object buffers before they become a gzip member,
 * and the most all open objects together may buffer (memory bound). */
#define LAKE_CHUNK_BYTES   (128 * 1024)
#define LAKE_PENDING_LIMIT (8 * 1024 * 1024)

/* Where an object's bytes go: its store writer, and whether a write to it
 * failed (on the compression thread: the failure belongs to this object,
 * so only its own batch's flush fails). Heap-allocated so that queued
 * compression jobs can point at it while the batch's arrays move. */
struct lake_sink {
    store_writer *writer;
    int failed;
    tp_err err;
};

struct lake_object {
    char *key;
    char *lookup;           /* partition path (+ CSV columns), or "\x01<path>" for error objects */
    struct lake_sink *sink; /* NULL until the first bytes are written */
    buf pending;            /* uncompressed bytes not yet handed to the writer */
    long long records;
};

struct lake_batch {
    char *topic;
    int32_t partition;
    int64_t first_offset;
    int64_t next_offset;
    long long records;
    long long bytes;
    int64_t min_event_ms, max_event_ms;
    int64_t first_wall_ms, last_wall_ms;
    struct lake_object *objects;
    size_t count, capacity;
    size_t last_used;
    char **leftovers; /* keys written by a batch that was never committed */
    size_t leftover_count;
    char **last_written; /* keys of the last flushed batch, until committed */
    size_t last_written_count;
    struct lake_flush *in_flight; /* at most one flush per partition */
};

/* A batch being made durable on the committer thread: its objects (taken
 * from the batch, which goes on filling with newer messages), the
 * manifest's keys (the leftovers of earlier uncommitted attempts first,
 * deleted before anything is written, then the objects'), and the
 * outcome. Only `done` is shared: it is set under the committer's lock
 * once the committer no longer touches the flush. */
struct lake_flush {
    struct lake_batch *batch;
    int64_t first_offset, next_offset;
    long long records;
    struct lake_object *objects;
    size_t count;
    char **keys;
    size_t key_count;
    size_t leftover_count; /* keys[0..leftover_count) are leftovers */
    int done;
    int failed;
    tp_err err;
    long long committed_objects;
    struct lake_flush *next; /* committer queue */
};

/* The compression worker: gzip members are made, and written to the
 * object's writer, on a second thread, so that reading and partitioning
 * messages and compressing them use both cores. Jobs run in order; the
 * queue is short (memory bound). A writer is touched by one thread at a
 * time: the consuming thread opens it; the worker writes it; a flush
 * reaches the committer behind its objects' last chunks, and the
 * committer commits them; an abort or recovery first waits for the
 * queue (and the flushes in flight) to empty. */
#define LAKE_WORKER_QUEUE 8

struct lake_job {
    store *store;
    struct lake_sink *sink;
    buf data;
    struct lake_flush *barrier; /* not data: every chunk before it is written */
    struct lake_job *next;
};

/* The committer: runs flushes (manifest, leftovers deleted, every object
 * committed: fsync + rename + fsync of the directory, or PUT) one after
 * the other, off the consuming thread. A flush reaches it through the
 * compression queue (as a barrier job), so its objects' bytes are all
 * written by then. */
struct lake_committer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a flush queued or done, or stop */
    struct lake_flush *head, *tail;
    long long finished; /* flushes done so far */
    int stop;
    lake *lake;
};

struct lake_worker {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct lake_job *head, *tail;
    int queued;
    int busy;
    int stop;
    long long bytes_out;
    gzip_compressor *gzip;
    buf compressed;
    struct lake_committer *committer;
};

struct lake {
    struct lake_options options;
    char *table;
    char *state_prefix;
    int gzip;
    struct lake_worker *worker;
    struct lake_committer *committer;
    long long finished_seen; /* committer->finished when last polled */
    buf line;
    struct lake_batch **batches;
    size_t batch_count;
    struct lake_stats stats;
    size_t pending_bytes; /* buffered in all open objects */
    char path_cache[64];
    int64_t path_cache_hour;
    int path_cache_valid;
};

static char *lake_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *lake_object_key(const char *table, const char *partition_path, const char *topic,
                      int32_t partition, int64_t first_offset, const char *suffix)
{
    buf key = BUF_INIT;
    buf_printf(&key, "%s/%s%s%s+%d+%020lld%s", table, partition_path, *partition_path ? "/" : "",
               topic, (int)partition, (long long)first_offset, suffix);
    return buf_detach(&key);
}

static void lake_committer_push(struct lake_committer *committer, struct lake_flush *flush)
{
    pthread_mutex_lock(&committer->lock);
    if (committer->tail)
        committer->tail->next = flush;
    else
        committer->head = flush;
    committer->tail = flush;
    pthread_cond_broadcast(&committer->changed);
    pthread_mutex_unlock(&committer->lock);
}

static void *lake_worker_main(void *context)
{
    struct lake_worker *worker = context;
    pthread_mutex_lock(&worker->lock);
    for (;;) {
        while (!worker->head && !worker->stop)
            pthread_cond_wait(&worker->changed, &worker->lock);
        if (!worker->head)
            break;
        struct lake_job *job = worker->head;
        worker->head = job->next;
        if (!worker->head)
            worker->tail = NULL;
        worker->queued--;
        if (job->barrier) {
            /* every chunk of the flush's objects is written: commit them */
            pthread_mutex_unlock(&worker->lock);
            lake_committer_push(worker->committer, job->barrier);
            free(job);
            pthread_mutex_lock(&worker->lock);
            pthread_cond_broadcast(&worker->changed);
            continue;
        }
        worker->busy = 1;
        int skip = job->sink->failed; /* its object is lost anyway */
        pthread_mutex_unlock(&worker->lock);
        tp_err err = {TP_ERR_NONE, {0}};
        int rc = 0;
        if (!skip) {
            buf_reset(&worker->compressed);
            rc = gzip_compress_member(worker->gzip, job->data.data, job->data.len,
                                      &worker->compressed, &err);
            if (rc == 0)
                rc = job->store->ops->writer_write(job->sink->writer, worker->compressed.data,
                                                   worker->compressed.len, &err);
        }
        struct lake_sink *sink = job->sink;
        buf_free(&job->data);
        free(job);
        pthread_mutex_lock(&worker->lock);
        if (rc < 0) {
            sink->failed = 1;
            sink->err = err;
        } else if (!skip) {
            worker->bytes_out += (long long)worker->compressed.len;
        }
        worker->busy = 0;
        pthread_cond_broadcast(&worker->changed);
    }
    pthread_mutex_unlock(&worker->lock);
    return NULL;
}

static struct lake_worker *lake_worker_start(int level, struct lake_committer *committer,
                                             tp_err *err)
{
    struct lake_worker *worker = calloc(1, sizeof *worker);
    if (!worker) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    if (!(worker->gzip = gzip_compressor_new(level, err))) {
        free(worker);
        return NULL;
    }
    worker->committer = committer;
    pthread_mutex_init(&worker->lock, NULL);
    pthread_cond_init(&worker->changed, NULL);
    if (pthread_create(&worker->thread, NULL, lake_worker_main, worker) != 0) {
        gzip_compressor_free(worker->gzip);
        free(worker);
        tp_err_set(err, TP_ERR_INTERNAL, "cannot start the compression thread");
        return NULL;
    }
    return worker;
}

/* Appends a job to the worker's queue; the lock is held. */
static void lake_worker_append(struct lake_worker *worker, struct lake_job *job)
{
    if (worker->tail)
        worker->tail->next = job;
    else
        worker->head = job;
    worker->tail = job;
    worker->queued++;
    pthread_cond_broadcast(&worker->changed);
}

/* Hands data (its buffer is taken over, data is left empty) to the worker;
 * waits while the queue is full. Returns -1 when an earlier write to the
 * same object failed. */
static int lake_worker_submit(struct lake_worker *worker, store *s, struct lake_sink *sink,
                              buf *data, tp_err *err)
{
    struct lake_job *job = calloc(1, sizeof *job);
    if (!job)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    job->store = s;
    job->sink = sink;
    job->data = *data;
    memset(data, 0, sizeof *data);
    pthread_mutex_lock(&worker->lock);
    while (worker->queued >= LAKE_WORKER_QUEUE && !sink->failed)
        pthread_cond_wait(&worker->changed, &worker->lock);
    if (sink->failed) {
        *err = sink->err;
        pthread_mutex_unlock(&worker->lock);
        buf_free(&job->data);
        free(job);
        return -1;
    }
    lake_worker_append(worker, job);
    pthread_mutex_unlock(&worker->lock);
    return 0;
}

/* Queues a flush behind every chunk submitted so far: the worker hands it
 * to the committer once they are written. Waits while the queue is full. */
static int lake_worker_submit_barrier(struct lake_worker *worker, struct lake_flush *flush,
                                      tp_err *err)
{
    struct lake_job *job = calloc(1, sizeof *job);
    if (!job)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    job->barrier = flush;
    pthread_mutex_lock(&worker->lock);
    while (worker->queued >= LAKE_WORKER_QUEUE)
        pthread_cond_wait(&worker->changed, &worker->lock);
    lake_worker_append(worker, job);
    pthread_mutex_unlock(&worker->lock);
    return 0;
}

/* Waits until every submitted job is done (failures are recorded in the
 * objects' sinks). */
static void lake_worker_wait(struct lake_worker *worker, long long *bytes_out)
{
    if (!worker)
        return;
    pthread_mutex_lock(&worker->lock);
    while (worker->queued || worker->busy)
        pthread_cond_wait(&worker->changed, &worker->lock);
    *bytes_out += worker->bytes_out;
    worker->bytes_out = 0;
    pthread_mutex_unlock(&worker->lock);
}

static void lake_worker_free(struct lake_worker *worker)
{
    if (!worker)
        return;
    pthread_mutex_lock(&worker->lock);
    worker->stop = 1;
    pthread_cond_broadcast(&worker->changed);
    pthread_mutex_unlock(&worker->lock);
    pthread_join(worker->thread, NULL);
    pthread_mutex_destroy(&worker->lock);
    pthread_cond_destroy(&worker->changed);
    gzip_compressor_free(worker->gzip);
    buf_free(&worker->compressed);
    free(worker);
}

static void lake_flush_run(lake *l, struct lake_flush *flush);

static void *lake_committer_main(void *context)
{
    struct lake_committer *committer = context;
    pthread_mutex_lock(&committer->lock);
    for (;;) {
        while (!committer->head && !committer->stop)
            pthread_cond_wait(&committer->changed, &committer->lock);
        if (!committer->head)
            break;
        struct lake_flush *flush = committer->head;
        committer->head = flush->next;
        if (!committer->head)
            committer->tail = NULL;
        pthread_mutex_unlock(&committer->lock);
        lake_flush_run(committer->lake, flush);
        pthread_mutex_lock(&committer->lock);
        flush->done = 1;
        committer->finished++;
        pthread_cond_broadcast(&committer->changed);
    }
    pthread_mutex_unlock(&committer->lock);
    return NULL;
}

static struct lake_committer *lake_committer_start(lake *l, tp_err *err)
{
    struct lake_committer *committer = calloc(1, sizeof *committer);
    if (!committer) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    committer->lake = l;
    pthread_mutex_init(&committer->lock, NULL);
    pthread_cond_init(&committer->changed, NULL);
    if (pthread_create(&committer->thread, NULL, lake_committer_main, committer) != 0) {
        pthread_mutex_destroy(&committer->lock);
        pthread_cond_destroy(&committer->changed);
        free(committer);
        tp_err_set(err, TP_ERR_INTERNAL, "cannot start the committer thread");
        return NULL;
    }
    return committer;
}

/* Stops the committer once its queue is empty. */
static void lake_committer_free(struct lake_committer *committer)
{
    if (!committer)
        return;
    pthread_mutex_lock(&committer->lock);
    committer->stop = 1;
    pthread_cond_broadcast(&committer->changed);
    pthread_mutex_unlock(&committer->lock);
    pthread_join(committer->thread, NULL);
    pthread_mutex_destroy(&committer->lock);
    pthread_cond_destroy(&committer->changed);
    free(committer);
}

/* Waits until the committer is done with the flush. */
static void lake_flush_wait_done(lake *l, struct lake_flush *flush)
{
    pthread_mutex_lock(&l->committer->lock);
    while (!flush->done)
        pthread_cond_wait(&l->committer->changed, &l->committer->lock);
    pthread_mutex_unlock(&l->committer->lock);
}

struct lake_flush_result {
    int ok;
    int64_t commit_offset;
    int64_t rewind_offset;
    tp_err err;
};

static void lake_flush_finish(lake *l, struct lake_flush *flush, struct lake_flush_result *result);

lake *lake_new(const struct lake_options *options, tp_err *err)
{
    lake *l = calloc(1, sizeof *l);
    if (!l) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    l->options = *options;
    l->table = lake_strdup(options->table);
    l->state_prefix = lake_strdup(options->state_prefix ? options->state_prefix : "_consume");
    l->gzip = options->gzip_level > 0;
    if (!(l->committer = lake_committer_start(l, err)) ||
        (l->gzip && !(l->worker = lake_worker_start(options->gzip_level, l->committer, err)))) {
        lake_free(l);
        return NULL;
    }
    return l;
}

static void lake_free_keys(char **keys, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(keys[i]);
    free(keys);
}

/* Aborts the object's writer (if any) and frees it. */
static void lake_object_drop(lake *l, struct lake_object *object)
{
    l->pending_bytes -= object->pending.len;
    if (object->sink && object->sink->writer)
        l->options.store->ops->writer_abort(object->sink->writer);
    free(object->sink);
    free(object->key);
    free(object->lookup);
    buf_free(&object->pending);
    memset(object, 0, sizeof *object);
}

/* Empties the batch, dropping its objects (their bytes never become
 * visible). */
static void lake_batch_reset(lake *l, struct lake_batch *batch)
{
    if (batch->count)
        lake_worker_wait(l->worker, &l->stats.bytes_out); /* writers are ours again */
    for (size_t i = 0; i < batch->count; i++)
        lake_object_drop(l, &batch->objects[i]);
    batch->count = 0;
    batch->last_used = 0;
    batch->records = 0;
    batch->bytes = 0;
    batch->first_offset = -1;
    batch->next_offset = -1;
    batch->min_event_ms = INT64_MAX;
    batch->max_event_ms = INT64_MIN;
}

static void lake_batch_free(lake *l, struct lake_batch *batch)
{
    lake_batch_reset(l, batch);
    free(batch->objects);
    lake_free_keys(batch->leftovers, batch->leftover_count);
    lake_free_keys(batch->last_written, batch->last_written_count);
    free(batch->topic);
    free(batch);
}

void lake_free(lake *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->batch_count; i++) {
        struct lake_flush *flush = l->batches[i]->in_flight;
        if (flush) { /* not reported: the caller is gone (nothing committed) */
            struct lake_flush_result result;
            lake_flush_wait_done(l, flush);
            lake_flush_finish(l, flush, &result);
        }
    }
    for (size_t i = 0; i < l->batch_count; i++)
        lake_batch_free(l, l->batches[i]);
    free(l->batches);
    lake_worker_free(l->worker);
    lake_committer_free(l->committer);
    buf_free(&l->line);
    free(l->table);
    free(l->state_prefix);
    free(l);
}

static struct lake_batch *lake_find_batch(lake *l, const char *topic, int32_t partition, int create)
{
    for (size_t i = 0; i < l->batch_count; i++)
        if (l->batches[i]->partition == partition && strcmp(l->batches[i]->topic, topic) == 0)
            return l->batches[i];
    if (!create)
        return NULL;
    struct lake_batch **grown =
        realloc(l->batches, (l->batch_count + 1) * sizeof(struct lake_batch *));
    if (!grown)
        return NULL;
    l->batches = grown;
    struct lake_batch *batch = calloc(1, sizeof *batch);
    if (!batch || !(batch->topic = strdup(topic))) {
        free(batch);
        return NULL;
    }
    batch->partition = partition;
    batch->first_offset = batch->next_offset = -1;
    batch->min_event_ms = INT64_MAX;
    batch->max_event_ms = INT64_MIN;
    l->batches[l->batch_count++] = batch;
    return batch;
}

static char *lake_manifest_key(const lake *l, const char *topic, int32_t partition)
{
    buf key = BUF_INIT;
    buf_printf(&key, "%s/%s+%d.json", l->state_prefix, topic, (int)partition);
    return buf_detach(&key);
}

static int lake_add_key(char ***keys, size_t *count, const char *key)
{
    for (size_t i = 0; i < *count; i++)
        if (strcmp((*keys)[i], key) == 0)
            return 0;
    char **grown = realloc(*keys, (*count + 1) * sizeof *grown);
    if (!grown)
        return -1;
    *keys = grown;
    if (!(grown[*count] = strdup(key)))
        return -1;
    (*count)++;
    return 0;
}

/* Deletes every key of a list; keeps those that failed. Returns 0 when
 * all are gone. */
static int lake_remove_keys(lake *l, char **keys, size_t *count, tp_err *err)
{
    size_t kept = 0;
    int rc = 0;
    for (size_t i = 0; i < *count; i++) {
        if (l->options.store->ops->remove(l->options.store, keys[i], err) == 0) {
            log_info("deleted uncommitted object %s", keys[i]);
            free(keys[i]);
        } else {
            keys[kept++] = keys[i];
            rc = -1;
        }
    }
    *count = kept;
    return rc;
}

int lake_recover(lake *l, const char *topic, int32_t partition, int64_t committed, tp_err *err)
{
    /* no flush in flight while the store is read here: the committer is
     * the only other thread that talks to it (an S3 client is not shared
     * across threads) */
    lake_wait(l, NULL, 0);
    struct lake_batch *batch = lake_find_batch(l, topic, partition, 1);
    if (!batch)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    lake_batch_reset(l, batch);
    char *key = lake_manifest_key(l, topic, partition);
    char *text = NULL;
    size_t length = 0;
    int rc = store_get(l->options.store, key, 0, &text, &length, err);
    if (rc < 0) {
        free(key);
        return err->code == TP_ERR_NOT_FOUND
                   ? 0
                   : tp_err_prefix(err, "recovering %s [%d]", topic, partition);
    }
    cJSON *manifest = cJSON_ParseWithLength(text, length);
    free(text);
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(manifest, "first_offset");
    const cJSON *objects = cJSON_GetObjectItemCaseSensitive(manifest, "objects");
    if (!cJSON_IsNumber(first) || !cJSON_IsArray(objects)) {
        cJSON_Delete(manifest);
        rc = tp_err_set(err, TP_ERR_PARSE, "%s/%s: not a tickpipe manifest",
                        l->options.store->location, key);
        free(key);
        return rc;
    }
    int64_t first_offset = (int64_t)first->valuedouble;
    if (committed >= 0 && first_offset < committed) {
        log_debug("%s [%d]: last batch (offset %lld) is committed (%lld)", topic, partition,
                  (long long)first_offset, (long long)committed);
    } else {
        const cJSON *object;
        cJSON_ArrayForEach(object, objects)
        {
            if (cJSON_IsString(object) &&
                lake_add_key(&batch->leftovers, &batch->leftover_count, object->valuestring) < 0) {
                cJSON_Delete(manifest);
                free(key);
                return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
            }
        }
        log_notice("%s [%d]: deleting %zu objects of an uncommitted batch (offset %lld)", topic,
                   partition, batch->leftover_count, (long long)first_offset);
        /* what cannot be deleted now stays listed: the next flush's
         * manifest names it and deletes it before writing anything */
        if (lake_remove_keys(l, batch->leftovers, &batch->leftover_count, err) < 0)
            log_warn("%s [%d]: %s (will retry before the next flush)", topic, partition, err->msg);
    }
    cJSON_Delete(manifest);
    free(key);
    return 0;
}

static void lake_partition_path(const lake *l, int64_t event_ms, char *out, size_t size)
{
    char iso[TIMESTAMP_ISO_LENGTH + 1];
    if (timestamp_format_iso(event_ms, iso) == 0)
        memcpy(iso, "0000-01-01T00:00:00.000Z", sizeof iso);
    switch (l->options.partitioning) {
    case LAKE_PARTITION_DT:
        snprintf(out, size, "dt=%.10s", iso);
        break;
    case LAKE_PARTITION_DT_HOUR:
        snprintf(out, size, "dt=%.10s/hour=%.2s", iso, iso + 11);
        break;
    case LAKE_PARTITION_YEAR:
        snprintf(out, size, "year=%.4s", iso);
        break;
    case LAKE_PARTITION_MONTH:
        snprintf(out, size, "month=%.7s", iso);
        break;
    case LAKE_PARTITION_NONE:
        out[0] = '\0';
        break;
    }
}

/* The partition folder of an event time, cached per hour (the finest
 * unit): consecutive ticks nearly always share it. */
static const char *lake_partition_path_cached(lake *l, int64_t event_ms)
{
    int64_t hour = event_ms >= 0 ? event_ms / 3600000 : (event_ms - 3599999) / 3600000;
    if (!l->path_cache_valid || hour != l->path_cache_hour) {
        lake_partition_path(l, event_ms, l->path_cache, sizeof l->path_cache);
        l->path_cache_hour = hour;
        l->path_cache_valid = 1;
    }
    return l->path_cache;
}

/* Finds the batch's object for a lookup key, or opens one named `key`
 * (built only then: most messages go to an object already open). Returns
 * NULL with *full set when the batch already spreads over
 * max_open_objects. */
struct lake_object_name {
    const char *table;
    const char *path;
    const char *topic;
    int32_t partition;
    int64_t offset;
    const char *suffix;
};

static struct lake_object *lake_object_for(lake *l, struct lake_batch *batch, const char *lookup,
                                           const struct lake_object_name *name, int *full)
{
    *full = 0;
    if (batch->last_used < batch->count &&
        strcmp(batch->objects[batch->last_used].lookup, lookup) == 0)
        return &batch->objects[batch->last_used];
    for (size_t i = 0; i < batch->count; i++) {
        if (strcmp(batch->objects[i].lookup, lookup) == 0) {
            batch->last_used = i;
            return &batch->objects[i];
        }
    }
    if ((int)batch->count >= l->options.max_open_objects) {
        *full = 1;
        return NULL;
    }
    if (batch->count == batch->capacity) {
        size_t capacity = batch->capacity ? batch->capacity * 2 : 8;
        struct lake_object *grown = realloc(batch->objects, capacity * sizeof *grown);
        if (!grown)
            return NULL;
        batch->objects = grown;
        batch->capacity = capacity;
    }
    struct lake_object *object = &batch->objects[batch->count];
    memset(object, 0, sizeof *object);
    object->lookup = strdup(lookup);
    object->key = lake_object_key(name->table, name->path, name->topic, name->partition,
                                  name->offset, name->suffix);
    if (!object->lookup || !object->key) {
        free(object->lookup);
        free(object->key);
        return NULL;
    }
    batch->last_used = batch->count++;
    return object;
}

/* Hands the pending bytes to the object's writer: through the compression
 * worker, or directly when objects are not compressed. */
static int lake_object_drain(lake *l, struct lake_object *object, tp_err *err)
{
    if (object->pending.len == 0)
        return 0;
    store *s = l->options.store;
    if (!object->sink) {
        if (!(object->sink = calloc(1, sizeof *object->sink)))
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        if (!(object->sink->writer = s->ops->writer_open(s, object->key, STORE_PUT_REPLACE, err))) {
            free(object->sink);
            object->sink = NULL;
            return -1;
        }
    }
    l->pending_bytes -= object->pending.len;
    if (l->worker)
        return lake_worker_submit(l->worker, s, object->sink, &object->pending, err);
    if (object->sink->failed) {
        *err = object->sink->err;
        return -1;
    }
    if (s->ops->writer_write(object->sink->writer, object->pending.data, object->pending.len, err) <
        0) {
        object->sink->failed = 1;
        object->sink->err = *err;
        return -1;
    }
    l->stats.bytes_out += (long long)object->pending.len;
    if (object->pending.cap > 2 * LAKE_CHUNK_BYTES)
        buf_free(&object->pending); /* a rare big message: give the memory back */
    else
        buf_reset(&object->pending);
    return 0;
}

/* Keeps the bytes buffered across all objects under LAKE_PENDING_LIMIT by
 * draining the fullest objects of the batch. */
static int lake_limit_pending(lake *l, struct lake_batch *batch, tp_err *err)
{
    while (l->pending_bytes > LAKE_PENDING_LIMIT) {
        struct lake_object *fullest = NULL;
        for (size_t i = 0; i < batch->count; i++)
            if (!fullest || batch->objects[i].pending.len > fullest->pending.len)
                fullest = &batch->objects[i];
        if (!fullest || fullest->pending.len == 0)
            return 0; /* the rest is buffered by other partitions' batches */
        if (lake_object_drain(l, fullest, err) < 0)
            return -1;
    }
    return 0;
}

static const char *lake_suffix(const lake *l)
{
    if (l->options.format == LAKE_FORMAT_CSV)
        return l->gzip ? ".csv.gz" : ".csv";
    return l->gzip ? ".jsonl.gz" : ".jsonl";
}

/* Renders a JSON object as a CSV row into l->line; *columns receives the
 * member names joined by commas (the header). Returns 0 or -1. */
static int lake_csv_row(lake *l, const char *text, size_t length, buf *columns)
{
    cJSON *object = cJSON_ParseWithLength(text, length);
    if (!cJSON_IsObject(object)) {
        cJSON_Delete(object);
        return -1;
    }
    buf_reset(&l->line);
    int first = 1;
    const cJSON *member;
    cJSON_ArrayForEach(member, object)
    {
        if (!first) {
            buf_append_char(&l->line, ',');
            buf_append_char(columns, ',');
        }
        first = 0;
        csv_append_field(columns, member->string, strlen(member->string));
        if (cJSON_IsString(member)) {
            csv_append_field(&l->line, member->valuestring, strlen(member->valuestring));
        } else if (!cJSON_IsNull(member)) {
            char *rendered = cJSON_PrintUnformatted(member);
            if (rendered)
                csv_append_field(&l->line, rendered, strlen(rendered));
            free(rendered);
        }
    }
    buf_append_char(&l->line, '\n');
    cJSON_Delete(object);
    return 0;
}

/* A bad message goes to _errors/<topic>/dt=.../ with its reason and the
 * raw payload (as text when it is UTF-8 JSON-safe, else base64). */
static int lake_add_error(lake *l, struct lake_batch *batch, const struct lake_message *m,
                          const char *reason, int64_t now_ms, tp_err *err)
{
    char path[64], lookup[80];
    lake_partition_path(l, m->timestamp_ms >= 0 ? m->timestamp_ms : now_ms, path, sizeof path);
    if (l->options.partitioning != LAKE_PARTITION_DT) {
        char iso[TIMESTAMP_ISO_LENGTH + 1];
        timestamp_format_iso(m->timestamp_ms >= 0 ? m->timestamp_ms : now_ms, iso);
        snprintf(path, sizeof path, "dt=%.10s", iso);
    }
    snprintf(lookup, sizeof lookup, "\x01%s", path);
    buf prefix = BUF_INIT;
    buf_printf(&prefix, "_errors/%s", m->topic);
    struct lake_object_name name = {prefix.data,  path,      m->topic,
                                    m->partition, m->offset, l->gzip ? ".jsonl.gz" : ".jsonl"};
    int full;
    struct lake_object *object = lake_object_for(l, batch, lookup, &name, &full);
    buf_free(&prefix);
    if (!object)
        return full ? LAKE_FLUSH_FIRST : tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    buf *out = &object->pending;
    size_t before = out->len;
    buf_append_str(out, "{\"topic\":");
    json_append_string(out, m->topic, strlen(m->topic));
    buf_printf(out, ",\"partition\":%d,\"offset\":%lld,\"timestamp\":%lld,\"reason\":",
               (int)m->partition, (long long)m->offset, (long long)m->timestamp_ms);
    json_append_string(out, reason, strlen(reason));
    buf_append_str(out, ",\"key\":");
    if (m->key)
        json_append_string(out, m->key, m->key_length);
    else
        buf_append_str(out, "null");
    if (json_is_valid_utf8(m->value, m->value_length)) {
        buf_append_str(out, ",\"payload\":");
        json_append_string(out, m->value ? m->value : "", m->value_length);
    } else {
        buf_append_str(out, ",\"payload_base64\":\"");
        json_append_base64(out, m->value, m->value_length);
        buf_append_char(out, '"');
    }
    buf_append_str(out, "}\n");
    l->pending_bytes += out->len - before;
    object->records++;
    l->stats.errors++;
    return LAKE_ADDED;
}

static int lake_batch_due(const lake *l, const struct lake_batch *batch)
{
    const struct lake_options *o = &l->options;
    return (o->flush_records > 0 && batch->records >= o->flush_records) ||
           (o->flush_bytes > 0 && batch->bytes >= o->flush_bytes) ||
           (o->flush_span_ms > 0 && batch->max_event_ms >= batch->min_event_ms &&
            batch->max_event_ms - batch->min_event_ms >= o->flush_span_ms);
}

int lake_add(lake *l, const struct lake_message *m, int64_t now_ms, tp_err *err)
{
    struct lake_batch *batch = lake_find_batch(l, m->topic, m->partition, 1);
    if (!batch)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    const char *value = NULL, *reason = NULL;
    size_t value_length = 0;
    int matched, multiline;
    int64_t event_ms = 0;
    int rc = m->value ? json_scan_object(m->value, m->value_length, l->options.time_fields, &value,
                                         &value_length, &matched, &multiline, &reason)
                      : (reason = "empty message (null value)", -1);
    if (rc == 0)
        reason = "no event-time member (looked for the --time-field names)";
    else if (rc == 1 && timestamp_parse(value, value_length, NULL, &event_ms) < 0)
        reason = "unparseable event time", rc = 0;
    int added;
    if (rc != 1) {
        added = lake_add_error(l, batch, m, reason, now_ms, err);
    } else {
        const char *path = lake_partition_path_cached(l, event_ms);
        buf columns = BUF_INIT;
        const char *line;
        size_t line_length;
        if (l->options.format == LAKE_FORMAT_CSV) {
            buf_append_str(&columns, path);
            buf_append_char(&columns, '\x1f');
            lake_csv_row(l, m->value, m->value_length, &columns);
        } else if (multiline) {
            buf_reset(&l->line);
            json_append_minified(&l->line, m->value, m->value_length);
            buf_append_char(&l->line, '\n');
        }
        line = l->options.format == LAKE_FORMAT_CSV || multiline ? l->line.data : m->value;
        line_length =
            l->options.format == LAKE_FORMAT_CSV || multiline ? l->line.len : m->value_length;
        struct lake_object_name name = {l->table ? l->table : m->topic,
                                        path,
                                        m->topic,
                                        m->partition,
                                        m->offset,
                                        lake_suffix(l)};
        int full;
        struct lake_object *object =
            lake_object_for(l, batch, columns.data ? columns.data : path, &name, &full);
        if (!object) {
            buf_free(&columns);
            return full ? LAKE_FLUSH_FIRST : tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        }
        size_t before = object->pending.len;
        const char *separator = columns.data ? strchr(columns.data, '\x1f') : NULL;
        if (object->records == 0 && l->options.format == LAKE_FORMAT_CSV && separator) {
            buf_append_str(&object->pending, separator + 1);
            buf_append_char(&object->pending, '\n');
        }
        buf_free(&columns);
        buf_append(&object->pending, line, line_length);
        if (l->options.format == LAKE_FORMAT_JSONL && !multiline)
            buf_append_char(&object->pending, '\n');
        l->pending_bytes += object->pending.len - before;
        object->records++;
        l->stats.records++;
        if (event_ms < batch->min_event_ms)
            batch->min_event_ms = event_ms;
        if (event_ms > batch->max_event_ms)
            batch->max_event_ms = event_ms;
        added = LAKE_ADDED;
        if (object->pending.len >= LAKE_CHUNK_BYTES && lake_object_drain(l, object, err) < 0)
            return -1;
        if (lake_limit_pending(l, batch, err) < 0)
            return -1;
    }
    if (added != LAKE_ADDED)
        return added;
    if (batch->first_offset < 0) {
        batch->first_offset = m->offset;
        batch->first_wall_ms = now_ms;
    }
    batch->next_offset = m->offset + 1;
    batch->last_wall_ms = now_ms;
    batch->records++;
    batch->bytes += (long long)m->value_length;
    l->stats.bytes_in += (long long)m->value_length;
    return lake_batch_due(l, batch) ? LAKE_ADDED_FULL : LAKE_ADDED;
}

static int lake_write_manifest(lake *l, const struct lake_flush *flush, tp_err *err)
{
    const struct lake_batch *batch = flush->batch;
    cJSON *manifest = cJSON_CreateObject();
    cJSON_AddStringToObject(manifest, "topic", batch->topic);
    cJSON_AddNumberToObject(manifest, "partition", batch->partition);
    cJSON_AddNumberToObject(manifest, "first_offset", (double)flush->first_offset);
    cJSON_AddNumberToObject(manifest, "next_offset", (double)flush->next_offset);
    cJSON *objects = cJSON_AddArrayToObject(manifest, "objects");
    for (size_t i = 0; i < flush->key_count; i++)
        cJSON_AddItemToArray(objects, cJSON_CreateString(flush->keys[i]));
    char *text = cJSON_PrintUnformatted(manifest);
    cJSON_Delete(manifest);
    if (!text)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    char *key = lake_manifest_key(l, batch->topic, batch->partition);
    int rc = store_put(l->options.store, key, text, strlen(text), STORE_PUT_REPLACE, err);
    free(key);
    free(text);
    return rc;
}

/* On the committer thread: the manifest naming every object the flush may
 * leave behind, then the leftovers of earlier attempts deleted, then every
 * object committed. Touches only the flush (and the store). */
static void lake_flush_run(lake *l, struct lake_flush *flush)
{
    store *s = l->options.store;
    tp_err *err = &flush->err;
    flush->failed = 1;
    if (lake_write_manifest(l, flush, err) < 0)
        return;
    for (size_t i = 0; i < flush->leftover_count; i++) {
        if (s->ops->remove(s, flush->keys[i], err) < 0)
            return;
        log_info("deleted uncommitted object %s", flush->keys[i]);
    }
    for (size_t i = 0; i < flush->count; i++) {
        if (flush->objects[i].sink && flush->objects[i].sink->failed) {
            *err = flush->objects[i].sink->err;
            return;
        }
    }
    for (size_t i = 0; i < flush->count; i++) {
        struct lake_sink *sink = flush->objects[i].sink;
        if (!sink)
            continue; /* nothing written: cannot happen after the last drain */
        store_writer *writer = sink->writer;
        sink->writer = NULL;
        if (s->ops->writer_commit(writer, err) < 0)
            return;
        flush->committed_objects++;
    }
    flush->failed = 0;
}

/* Starts the batch's flush: waits for (and reports) the partition's
 * previous one, hands the objects' last bytes to the compression queue,
 * then the flush itself behind them. Returns 1 (started), 0 (nothing to
 * flush) or -1 (failed at once: err set, the batch discarded, its keys
 * kept as leftovers). */
static int lake_flush_begin(lake *l, struct lake_batch *batch, tp_err *err)
{
    if (batch->in_flight) {
        struct lake_flush *previous = batch->in_flight;
        struct lake_flush_result result;
        lake_flush_wait_done(l, previous);
        lake_flush_finish(l, previous, &result);
        if (l->options.on_flushed)
            l->options.on_flushed(l->options.on_flushed_context, batch->topic, batch->partition,
                                  result.ok, result.commit_offset, result.rewind_offset,
                                  &result.err);
    }
    if (batch->count == 0)
        return 0;
    log_debug("flushing %s [%d] offsets %lld-%lld", batch->topic, batch->partition,
              (long long)batch->first_offset, (long long)batch->next_offset - 1);
    lake_free_keys(batch->last_written, batch->last_written_count);
    batch->last_written = NULL;
    batch->last_written_count = 0;
    struct lake_flush *flush = calloc(1, sizeof *flush);
    if (!flush) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        goto failed;
    }
    for (size_t i = 0; i < batch->count; i++)
        if (lake_object_drain(l, &batch->objects[i], err) < 0)
            goto failed;
    flush->keys = calloc(batch->leftover_count + batch->count, sizeof *flush->keys);
    if (!flush->keys) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        goto failed;
    }
    for (size_t i = 0; i < batch->count; i++) {
        if (!(flush->keys[batch->leftover_count + i] = strdup(batch->objects[i].key))) {
            lake_free_keys(flush->keys, batch->leftover_count + batch->count);
            tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
            goto failed;
        }
    }
    /* from here on nothing fails: the batch's content moves to the flush */
    if (batch->leftover_count)
        memcpy(flush->keys, batch->leftovers, batch->leftover_count * sizeof *flush->keys);
    flush->leftover_count = batch->leftover_count;
    flush->key_count = batch->leftover_count + batch->count;
    free(batch->leftovers);
    batch->leftovers = NULL;
    batch->leftover_count = 0;
    flush->batch = batch;
    flush->first_offset = batch->first_offset;
    flush->next_offset = batch->next_offset;
    flush->records = batch->records;
    flush->objects = batch->objects;
    flush->count = batch->count;
    batch->objects = NULL;
    batch->capacity = 0;
    batch->count = 0;
    lake_batch_reset(l, batch); /* no object left to drop: no wait */
    batch->in_flight = flush;
    if (!l->worker || lake_worker_submit_barrier(l->worker, flush, err) < 0)
        lake_committer_push(l->committer, flush); /* no queue (or no memory for its job) */
    return 1;
failed:
    free(flush);
    tp_err_prefix(err, "flushing %s [%d] offsets %lld-%lld", batch->topic, batch->partition,
                  (long long)batch->first_offset, (long long)batch->next_offset - 1);
    for (size_t i = 0; i < batch->count; i++)
        lake_add_key(&batch->leftovers, &batch->leftover_count, batch->objects[i].key);
    lake_batch_reset(l, batch);
    return -1;
}

/* On the consuming thread, once the committer is done with the flush:
 * the batch learns the outcome (its keys wait in last_written until the
 * offset is committed, or become leftovers), and the flush is freed. */
static void lake_flush_finish(lake *l, struct lake_flush *flush, struct lake_flush_result *result)
{
    struct lake_batch *batch = flush->batch;
    batch->in_flight = NULL;
    result->ok = !flush->failed;
    result->commit_offset = result->ok ? flush->next_offset : 0;
    result->rewind_offset = flush->first_offset;
    result->err = flush->err;
    l->stats.objects += flush->committed_objects;
    if (result->ok) {
        l->stats.flushes++;
        log_debug("flushed %s [%d] offsets %lld-%lld: %lld records in %zu objects", batch->topic,
                  batch->partition, (long long)flush->first_offset,
                  (long long)flush->next_offset - 1, flush->records, flush->count);
        lake_free_keys(batch->last_written, batch->last_written_count);
        batch->last_written = NULL;
        batch->last_written_count = 0;
        for (size_t i = flush->leftover_count; i < flush->key_count; i++)
            lake_add_key(&batch->last_written, &batch->last_written_count, flush->keys[i]);
    } else {
        tp_err_prefix(&result->err, "flushing %s [%d] offsets %lld-%lld", batch->topic,
                      batch->partition, (long long)flush->first_offset,
                      (long long)flush->next_offset - 1);
        for (size_t i = 0; i < flush->key_count; i++)
            lake_add_key(&batch->leftovers, &batch->leftover_count, flush->keys[i]);
        lake_batch_reset(l, batch); /* newer messages: read again from the rewind */
    }
    for (size_t i = 0; i < flush->count; i++)
        lake_object_drop(l, &flush->objects[i]);
    free(flush->objects);
    lake_free_keys(flush->keys, flush->key_count);
    free(flush);
}

/* Finishes and reports a flush the committer is done with. */
static void lake_flush_report(lake *l, struct lake_flush *flush)
{
    struct lake_batch *batch = flush->batch;
    struct lake_flush_result result;
    lake_flush_finish(l, flush, &result);
    if (l->options.on_flushed)
        l->options.on_flushed(l->options.on_flushed_context, batch->topic, batch->partition,
                              result.ok, result.commit_offset, result.rewind_offset, &result.err);
}

int lake_flush(lake *l, const char *topic, int32_t partition, int64_t *commit_offset,
               int64_t *rewind_offset, tp_err *err)
{
    *commit_offset = 0;
    *rewind_offset = -1;
    struct lake_batch *batch = lake_find_batch(l, topic, partition, 0);
    if (!batch)
        return 1;
    int64_t first = batch->first_offset;
    int rc = lake_flush_begin(l, batch, err);
    if (rc <= 0) {
        *rewind_offset = rc < 0 ? first : -1;
        return rc < 0 ? -1 : 1;
    }
    struct lake_flush *flush = batch->in_flight;
    struct lake_flush_result result;
    lake_flush_wait_done(l, flush);
    lake_flush_finish(l, flush, &result);
    *commit_offset = result.commit_offset;
    *rewind_offset = result.rewind_offset;
    if (!result.ok)
        *err = result.err;
    return result.ok ? 1 : -1;
}

int lake_flush_async(lake *l, const char *topic, int32_t partition)
{
    struct lake_batch *batch = lake_find_batch(l, topic, partition, 0);
    if (!batch)
        return 0;
    int64_t first = batch->first_offset;
    tp_err err;
    int rc = lake_flush_begin(l, batch, &err);
    if (rc < 0 && l->options.on_flushed)
        l->options.on_flushed(l->options.on_flushed_context, batch->topic, batch->partition, 0, 0,
                              first, &err);
    return rc;
}

void lake_poll(lake *l)
{
    pthread_mutex_lock(&l->committer->lock);
    long long finished = l->committer->finished;
    pthread_mutex_unlock(&l->committer->lock);
    if (finished == l->finished_seen)
        return;
    l->finished_seen = finished;
    for (size_t i = 0; i < l->batch_count; i++) {
        struct lake_flush *flush = l->batches[i]->in_flight;
        if (!flush)
            continue;
        pthread_mutex_lock(&l->committer->lock);
        int done = flush->done;
        pthread_mutex_unlock(&l->committer->lock);
        if (done)
            lake_flush_report(l, flush);
    }
}

void lake_wait(lake *l, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < l->batch_count; i++) {
        struct lake_batch *batch = l->batches[i];
        if (!batch->in_flight ||
            (topic && (batch->partition != partition || strcmp(batch->topic, topic) != 0)))
            continue;
        lake_flush_wait_done(l, batch->in_flight);
        lake_flush_report(l, batch->in_flight);
    }
}

void lake_commit_failed(lake *l, const char *topic, int32_t partition)
{
    struct lake_batch *batch = lake_find_batch(l, topic, partition, 0);
    if (!batch)
        return;
    for (size_t i = 0; i < batch->last_written_count; i++)
        lake_add_key(&batch->leftovers, &batch->leftover_count, batch->last_written[i]);
    lake_batch_reset(l, batch); /* newer messages: read again from the rewind */
}

int64_t lake_discard(lake *l, const char *topic, int32_t partition)
{
    struct lake_batch *batch = lake_find_batch(l, topic, partition, 0);
    if (!batch)
        return -1;
    int64_t first = batch->first_offset;
    lake_batch_reset(l, batch);
    return first;
}

void lake_forget(lake *l, const char *topic, int32_t partition)
{
    lake_wait(l, topic, partition);
    for (size_t i = 0; i < l->batch_count; i++) {
        struct lake_batch *batch = l->batches[i];
        if (batch->partition == partition && strcmp(batch->topic, topic) == 0) {
            lake_batch_free(l, batch);
            l->batches[i] = l->batches[--l->batch_count];
            return;
        }
    }
}

void lake_each_due(lake *l, int64_t now_ms,
                   void (*fn)(void *context, const char *topic, int32_t partition), void *context)
{
    for (size_t i = 0; i < l->batch_count; i++) {
        struct lake_batch *batch = l->batches[i];
        if (batch->count == 0)
            continue;
        int due = now_ms < 0 ||
                  (l->options.flush_idle_ms > 0 &&
                   now_ms - batch->last_wall_ms >= l->options.flush_idle_ms) ||
                  (l->options.flush_interval_ms > 0 &&
                   now_ms - batch->first_wall_ms >= l->options.flush_interval_ms);
        if (due)
            fn(context, batch->topic, batch->partition);
    }
}

void lake_get_stats(const lake *l, struct lake_stats *stats)
{
    *stats = l->stats;
    if (l->worker) {
        pthread_mutex_lock(&l->worker->lock);
        stats->bytes_out += l->worker->bytes_out;
        pthread_mutex_unlock(&l->worker->lock);
    }
}
