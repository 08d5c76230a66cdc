/*
 * store_dir: the object store on a local directory. An object is a file
 * at <root>/<key>. Writers fill a hidden temporary file next to the
 * target and commit with fsync + rename (RENAME_NOREPLACE for create-only
 * writes) + fsync of the directory, so an object is either absent or
 * complete and durable, whatever the crash point. Listings skip hidden
 * files (unfinished writes).
 */
#include "lib/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fs.h"

struct store_dir {
    store base;
    char *root;
};

struct store_writer {
    struct store_dir *dir;
    int fd;
    char *temp_path;
    char *final_path;
    char *key;
    enum store_put_mode mode;
};

static char *store_dir_path(const struct store_dir *dir, const char *key)
{
    buf path = BUF_INIT;
    if (buf_printf(&path, "%s/%s", dir->root, key) < 0)
        return NULL;
    return buf_detach(&path);
}

static int store_dir_key_ok(const char *key, tp_err *err)
{
    if (!*key || key[0] == '/' || strstr(key, "..") || strstr(key, "//"))
        return tp_err_set(err, TP_ERR_USAGE, "invalid object key '%s'", key);
    return 0;
}

static store_writer *store_dir_writer_open(store *s, const char *key, enum store_put_mode mode,
                                           tp_err *err)
{
    struct store_dir *dir = (struct store_dir *)s;
    if (store_dir_key_ok(key, err) < 0)
        return NULL;
    store_writer *w = calloc(1, sizeof *w);
    if (!w) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    w->dir = dir;
    w->mode = mode;
    w->fd = -1;
    w->key = strdup(key);
    w->final_path = store_dir_path(dir, key);
    if (!w->key || !w->final_path)
        goto fail_memory;
    static unsigned counter;
    const char *slash = strrchr(w->final_path, '/');
    buf temp = BUF_INIT;
    buf_printf(&temp, "%.*s/.%s.tmp-%d-%u", (int)(slash - w->final_path), w->final_path, slash + 1,
               (int)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    w->temp_path = buf_detach(&temp);
    if (fs_make_parents(w->final_path, 1, err) < 0)
        goto fail;
    w->fd = open(w->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        tp_err_set(err, TP_ERR_IO, "create %s: %s", w->temp_path, strerror(errno));
        goto fail;
    }
    return w;
fail_memory:
    tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
fail:
    free(w->key);
    free(w->final_path);
    free(w->temp_path);
    free(w);
    return NULL;
}

static int store_dir_writer_write(store_writer *w, const void *data, size_t length, tp_err *err)
{
    const char *p = data;
    while (length > 0) {
        ssize_t n = write(w->fd, p, length);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tp_err_set(err, TP_ERR_IO, "write %s: %s", w->temp_path, strerror(errno));
        p += n;
        length -= (size_t)n;
    }
    return 0;
}

static void store_dir_writer_release(store_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    free(w->key);
    free(w->final_path);
    free(w->temp_path);
    free(w);
}

static void store_dir_writer_abort(store_writer *w)
{
    if (w->temp_path)
        unlink(w->temp_path);
    store_dir_writer_release(w);
}

static int store_dir_writer_commit(store_writer *w, tp_err *err)
{
    if (fsync(w->fd) < 0) {
        tp_err_set(err, TP_ERR_IO, "fsync %s: %s", w->temp_path, strerror(errno));
        store_dir_writer_abort(w);
        return -1;
    }
    close(w->fd);
    w->fd = -1;
    int rc;
    if (w->mode == STORE_PUT_IF_ABSENT)
        rc = renameat2(AT_FDCWD, w->temp_path, AT_FDCWD, w->final_path, RENAME_NOREPLACE);
    else
        rc = rename(w->temp_path, w->final_path);
    if (rc < 0) {
        if (errno == EEXIST)
            tp_err_set(err, TP_ERR_EXISTS, "%s/%s already exists", w->dir->base.location, w->key);
        else
            tp_err_set(err, TP_ERR_IO, "rename %s to %s: %s", w->temp_path, w->final_path,
                       strerror(errno));
        store_dir_writer_abort(w);
        return -1;
    }
    char *slash = strrchr(w->final_path, '/');
    *slash = '\0';
    rc = fs_sync_directory(w->final_path);
    *slash = '/';
    if (rc < 0) {
        tp_err_set(err, TP_ERR_IO, "fsync directory of %s: %s", w->final_path, strerror(errno));
        store_dir_writer_release(w);
        return -1;
    }
    store_dir_writer_release(w);
    return 0;
}

static int store_dir_read(store *s, const char *key, long long offset, long long length,
                          store_read_fn fn, void *context, tp_err *err)
{
    struct store_dir *dir = (struct store_dir *)s;
    if (store_dir_key_ok(key, err) < 0)
        return -1;
    char *path = store_dir_path(dir, key);
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
        int saved = errno;
        tp_err_set(err, saved == ENOENT ? TP_ERR_NOT_FOUND : TP_ERR_IO, "read %s/%s: %s",
                   s->location, key, strerror(saved));
        free(path);
        return -1;
    }
    char chunk[65536];
    long long left = length > 0 ? length : -1;
    int rc = 0;
    while (left != 0) {
        size_t want = left > 0 && left < (long long)sizeof chunk ? (size_t)left : sizeof chunk;
        ssize_t n = pread(fd, chunk, want, offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = tp_err_set(err, TP_ERR_IO, "read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        offset += n;
        if (left > 0)
            left -= n;
        if (fn(chunk, (size_t)n, context) != 0)
            break;
    }
    close(fd);
    free(path);
    return rc;
}

static int store_dir_compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks dir_path (key prefix dir_key, "" or ending in '/'), calling fn for
 * files whose key starts with prefix. Returns 1 when fn asked to stop. */
static int store_dir_walk(const char *dir_path, const char *dir_key, const char *prefix,
                          store_list_fn fn, void *context, tp_err *err)
{
    DIR *d = opendir(dir_path);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return tp_err_set(err, TP_ERR_IO, "list %s: %s", dir_path, strerror(errno));
    }
    char **names = NULL;
    size_t count = 0, capacity = 0;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        if (entry->d_name[0] == '.')
            continue; /* ., .., and unfinished writes */
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            char **grown = realloc(names, capacity * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        names[count] = strdup(entry->d_name);
        if (names[count])
            count++;
    }
    closedir(d);
    if (count)
        qsort(names, count, sizeof *names, store_dir_compare_names);
    int rc = 0;
    size_t prefix_length = strlen(prefix);
    for (size_t i = 0; i < count && rc == 0; i++) {
        buf key = BUF_INIT, path = BUF_INIT;
        buf_printf(&key, "%s%s", dir_key, names[i]);
        buf_printf(&path, "%s/%s", dir_path, names[i]);
        struct stat st;
        if (key.data && path.data && stat(path.data, &st) == 0) {
            size_t common = key.len < prefix_length ? key.len : prefix_length;
            if (strncmp(key.data, prefix, common) == 0) {
                if (S_ISDIR(st.st_mode)) {
                    buf_append_char(&key, '/');
                    rc = store_dir_walk(path.data, key.data, prefix, fn, context, err);
                } else if (S_ISREG(st.st_mode) && key.len >= prefix_length) {
                    char etag[64];
                    snprintf(etag, sizeof etag, "%lld-%lld", (long long)st.st_size,
                             (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
                    struct store_object object = {
                        key.data, (long long)st.st_size,
                        (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000, etag};
                    rc = fn(&object, context) ? 1 : 0;
                }
            }
        }
        buf_free(&key);
        buf_free(&path);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int store_dir_list(store *s, const char *prefix, store_list_fn fn, void *context,
                          tp_err *err)
{
    struct store_dir *dir = (struct store_dir *)s;
    /* start at the deepest directory the prefix names completely */
    const char *slash = strrchr(prefix, '/');
    buf dir_key = BUF_INIT, path = BUF_INIT;
    if (slash) {
        buf_append(&dir_key, prefix, (size_t)(slash - prefix) + 1);
        buf_printf(&path, "%s/%.*s", dir->root, (int)(slash - prefix), prefix);
    } else {
        buf_append_str(&dir_key, "");
        buf_append_str(&path, dir->root);
    }
    int rc = store_dir_walk(path.data, dir_key.data, prefix, fn, context, err);
    buf_free(&dir_key);
    buf_free(&path);
    return rc < 0 ? -1 : 0;
}

static int store_dir_remove(store *s, const char *key, tp_err *err)
{
    struct store_dir *dir = (struct store_dir *)s;
    if (store_dir_key_ok(key, err) < 0)
        return -1;
    char *path = store_dir_path(dir, key);
    if (!path)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    int rc = unlink(path);
    if (rc < 0 && errno != ENOENT)
        rc = tp_err_set(err, TP_ERR_IO, "remove %s: %s", path, strerror(errno));
    else
        rc = 0;
    free(path);
    return rc;
}

static char *store_dir_local_path(store *s, const char *key)
{
    return store_dir_path((struct store_dir *)s, key);
}

static void store_dir_free(store *s)
{
    struct store_dir *dir = (struct store_dir *)s;
    free(dir->root);
    free(dir->base.location);
    free(dir);
}

static const struct store_ops store_dir_ops = {
    "file",
    store_dir_writer_open,
    store_dir_writer_write,
    store_dir_writer_commit,
    store_dir_writer_abort,
    store_dir_read,
    store_dir_list,
    store_dir_remove,
    store_dir_local_path,
    store_dir_free,
};

store *store_dir_open(const char *path, tp_err *err)
{
    if (!path || !*path) {
        tp_err_set(err, TP_ERR_USAGE, "empty lake directory");
        return NULL;
    }
    size_t length = strlen(path);
    while (length > 1 && path[length - 1] == '/')
        length--;
    struct store_dir *dir = calloc(1, sizeof *dir);
    if (!dir || !(dir->root = strndup(path, length)) || !(dir->base.location = strdup(dir->root))) {
        if (dir)
            free(dir->root);
        free(dir);
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    dir->base.ops = &store_dir_ops;
    if (mkdir(dir->root, 0755) < 0 && errno != EEXIST) {
        tp_err_set(err, TP_ERR_IO, "cannot create lake directory %s: %s", dir->root,
                   strerror(errno));
        store_dir_free(&dir->base);
        return NULL;
    }
    struct stat st;
    if (stat(dir->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
        tp_err_set(err, TP_ERR_USAGE, "%s is not a directory", dir->root);
        store_dir_free(&dir->base);
        return NULL;
    }
    return &dir->base;
}
