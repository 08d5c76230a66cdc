/*
 * broker_topics: a sorted array of topics (binary search by name), topic
 * creation by rename from tmp/, deletion by rename into trash/, and
 * recovery of every partition at start with a summary line per topic.
 */
#include "kafka/broker_topics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kafka/broker_fs.h"
#include "lib/log.h"

struct broker_topics {
    char *data_dir;
    struct broker_log_config config;
    struct broker_topic **topics;
    int count;
    int capacity;
    unsigned long trash_counter;
};

int broker_topic_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > 249)
        return 0;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int broker_compare_name(const char *a, const char *b, size_t b_len)
{
    int c = strncmp(a, b, b_len);
    if (c)
        return c;
    return a[b_len] ? 1 : 0;
}

/* Index of the topic, or -(insertion point) - 1. */
static int broker_topics_search(const struct broker_topics *topics, const char *name, size_t len)
{
    int low = 0, high = topics->count - 1;
    while (low <= high) {
        int mid = low + (high - low) / 2;
        int c = broker_compare_name(topics->topics[mid]->name, name, len);
        if (c == 0)
            return mid;
        if (c < 0)
            low = mid + 1;
        else
            high = mid - 1;
    }
    return -low - 1;
}

struct broker_topic *broker_topics_find(const struct broker_topics *topics, const char *name,
                                        size_t len)
{
    int i = broker_topics_search(topics, name, len);
    return i >= 0 ? topics->topics[i] : NULL;
}

int broker_topics_count(const struct broker_topics *topics)
{
    return topics->count;
}

struct broker_topic *broker_topics_at(const struct broker_topics *topics, int index)
{
    return topics->topics[index];
}

static void broker_topic_free(struct broker_topic *topic)
{
    if (!topic)
        return;
    for (int i = 0; i < topic->partition_count; i++)
        broker_log_close(topic->partitions[i]);
    free(topic->partitions);
    free(topic->name);
    free(topic);
}

static int broker_topics_insert(struct broker_topics *topics, struct broker_topic *topic)
{
    int i = broker_topics_search(topics, topic->name, strlen(topic->name));
    if (i >= 0)
        return -1;
    i = -i - 1;
    if (topics->count == topics->capacity) {
        int capacity = topics->capacity ? topics->capacity * 2 : 16;
        struct broker_topic **grown =
            realloc(topics->topics, (size_t)capacity * sizeof(struct broker_topic *));
        if (!grown)
            return -1;
        topics->topics = grown;
        topics->capacity = capacity;
    }
    memmove(&topics->topics[i + 1], &topics->topics[i],
            (size_t)(topics->count - i) * sizeof(struct broker_topic *));
    topics->topics[i] = topic;
    topics->count++;
    return 0;
}

/* Removes a directory tree (only what the broker writes: files and dirs). */
static void broker_remove_tree(const char *path)
{
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir(dir))) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                continue;
            char child[4096];
            snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
            struct stat st;
            if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
                broker_remove_tree(child);
            else
                unlink(child);
        }
        closedir(dir);
    }
    rmdir(path);
}

/* Opens the partition logs of topics/<name>; NULL on failure. */
static struct broker_topic *broker_topic_load(struct broker_topics *topics, const char *name,
                                              int partitions, int log_recovery, tp_err *err)
{
    struct broker_topic *topic = calloc(1, sizeof *topic);
    if (!topic || !(topic->name = strdup(name)) ||
        !(topic->partitions = calloc((size_t)partitions, sizeof(struct broker_log *)))) {
        broker_topic_free(topic);
        tp_err_set(err, TP_ERR_INTERNAL, "open topic %s: out of memory", name);
        return NULL;
    }
    int64_t bytes = 0, truncated = 0, high = 0;
    for (int p = 0; p < partitions; p++) {
        char dir[4096], label[300];
        snprintf(dir, sizeof dir, "%s/topics/%s/%d", topics->data_dir, name, p);
        snprintf(label, sizeof label, "%s-%d", name, p);
        struct broker_log_recovery recovery;
        topic->partitions[p] = broker_log_open(dir, label, &topics->config, &recovery, err);
        if (!topic->partitions[p]) {
            broker_topic_free(topic);
            return NULL;
        }
        topic->partition_count = p + 1;
        bytes += recovery.bytes;
        truncated += recovery.truncated_bytes;
        high += broker_log_end_offset(topic->partitions[p]) -
                broker_log_start_offset(topic->partitions[p]);
        if (recovery.truncated_bytes || recovery.deleted_segments)
            log_warn("recovery: %s: truncated %lld bytes (%s)%s", label,
                     (long long)recovery.truncated_bytes,
                     recovery.reason ? recovery.reason : "corrupt data",
                     recovery.deleted_segments ? ", later segments deleted" : "");
    }
    if (log_recovery)
        log_notice("recovered topic %s: %d partitions, %lld messages, %lld bytes%s", name,
                   partitions, (long long)high, (long long)bytes,
                   truncated ? " (torn tail truncated)" : "");
    return topic;
}

/* Counts the partition directories 0..N-1 of a topic directory. */
static int broker_topic_partition_dirs(const char *path)
{
    int n = 0;
    for (;; n++) {
        char dir[4096];
        struct stat st;
        snprintf(dir, sizeof dir, "%s/%d", path, n);
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
            return n;
    }
}

static int broker_topics_recover(struct broker_topics *topics, tp_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/topics", topics->data_dir);
    DIR *dir = opendir(path);
    if (!dir)
        return tp_err_set(err, TP_ERR_IO, "open %s: %s", path, strerror(errno));
    struct dirent *entry;
    int rc = 0;
    while ((entry = readdir(dir)) && rc == 0) {
        const char *name = entry->d_name;
        if (!broker_topic_name_valid(name, strlen(name)) || strcmp(name, ".") == 0)
            continue;
        char topic_dir[4096];
        snprintf(topic_dir, sizeof topic_dir, "%s/%s", path, name);
        int partitions = broker_topic_partition_dirs(topic_dir);
        if (partitions == 0)
            continue;
        struct broker_topic *topic = broker_topic_load(topics, name, partitions, 1, err);
        if (!topic || broker_topics_insert(topics, topic) < 0) {
            if (topic) {
                broker_topic_free(topic);
                tp_err_set(err, TP_ERR_INTERNAL, "open topic %s: out of memory", name);
            }
            rc = -1;
        }
    }
    closedir(dir);
    return rc;
}

struct broker_topics *broker_topics_open(const char *data_dir,
                                         const struct broker_log_config *config, tp_err *err)
{
    struct broker_topics *topics = calloc(1, sizeof *topics);
    if (!topics || !(topics->data_dir = strdup(data_dir))) {
        free(topics);
        tp_err_set(err, TP_ERR_INTERNAL, "open %s: out of memory", data_dir);
        return NULL;
    }
    topics->config = *config;
    char path[4096];
    const char *subdirs[] = {"topics", "tmp", "trash"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", data_dir, subdirs[i]);
        if (i > 0)
            broker_remove_tree(path); /* half-created or half-deleted topics */
        if (broker_fs_mkdirs(path, err) < 0) {
            broker_topics_close(topics);
            return NULL;
        }
    }
    if (broker_topics_recover(topics, err) < 0) {
        broker_topics_close(topics);
        return NULL;
    }
    return topics;
}

void broker_topics_close(struct broker_topics *topics)
{
    if (!topics)
        return;
    for (int i = 0; i < topics->count; i++)
        broker_topic_free(topics->topics[i]);
    free(topics->topics);
    free(topics->data_dir);
    free(topics);
}

struct broker_topic *broker_topics_create(struct broker_topics *topics, const char *name,
                                          size_t len, int partitions, tp_err *err)
{
    char topic_name[256];
    if (!broker_topic_name_valid(name, len)) {
        tp_err_set(err, TP_ERR_USAGE, "invalid topic name");
        return NULL;
    }
    memcpy(topic_name, name, len);
    topic_name[len] = '\0';
    if (partitions < 1 || partitions > BROKER_MAX_PARTITIONS) {
        tp_err_set(err, TP_ERR_USAGE, "create topic %s: %d partitions (allowed: 1 to %d)",
                   topic_name, partitions, BROKER_MAX_PARTITIONS);
        return NULL;
    }
    char staging[4096], final[4096], dir[4200];
    snprintf(staging, sizeof staging, "%s/tmp/%s", topics->data_dir, topic_name);
    snprintf(final, sizeof final, "%s/topics/%s", topics->data_dir, topic_name);
    broker_remove_tree(staging);
    if (broker_fs_mkdirs(staging, err) < 0)
        return NULL;
    /* The partition directories are entries of staging: one fsync of
     * staging makes them durable; their segment files are synced with the
     * first data. */
    for (int p = 0; p < partitions; p++) {
        snprintf(dir, sizeof dir, "%s/%d", staging, p);
        if (broker_fs_mkdirs(dir, err) < 0) {
            broker_remove_tree(staging);
            return NULL;
        }
    }
    char parent[4096];
    snprintf(parent, sizeof parent, "%s/topics", topics->data_dir);
    if (broker_fs_sync_dir(staging) < 0 || rename(staging, final) < 0 ||
        broker_fs_sync_dir(parent) < 0) {
        tp_err_set(err, TP_ERR_IO, "create topic %s in %s: %s", topic_name, final, strerror(errno));
        broker_remove_tree(staging);
        return NULL;
    }
    struct broker_topic *topic = broker_topic_load(topics, topic_name, partitions, 0, err);
    if (!topic)
        return NULL;
    if (broker_topics_insert(topics, topic) < 0) {
        broker_topic_free(topic);
        tp_err_set(err, TP_ERR_INTERNAL, "create topic %s: out of memory", topic_name);
        return NULL;
    }
    return topic;
}

int broker_topics_delete(struct broker_topics *topics, struct broker_topic *topic, tp_err *err)
{
    int i = broker_topics_search(topics, topic->name, strlen(topic->name));
    if (i < 0)
        return tp_err_set(err, TP_ERR_NOT_FOUND, "delete topic %s: not found", topic->name);
    char from[4096], to[4096], parent[4096];
    snprintf(from, sizeof from, "%s/topics/%s", topics->data_dir, topic->name);
    snprintf(to, sizeof to, "%s/trash/%s.%lu", topics->data_dir, topic->name,
             ++topics->trash_counter);
    snprintf(parent, sizeof parent, "%s/topics", topics->data_dir);
    if (rename(from, to) < 0)
        return tp_err_set(err, TP_ERR_IO, "delete topic %s: rename %s: %s", topic->name, from,
                          strerror(errno));
    broker_fs_sync_dir(parent);
    memmove(&topics->topics[i], &topics->topics[i + 1],
            (size_t)(topics->count - i - 1) * sizeof(struct broker_topic *));
    topics->count--;
    broker_topic_free(topic);
    broker_remove_tree(to);
    return 0;
}
