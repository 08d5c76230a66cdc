/*
 * store_dir: the object store on a local directory. An object is a file
 * at <root>/<key>. Writers fill a hidden temporary file next to the
 * target and commit with fsync + rename (RENAME_NOREPLACE for create-only
 * writes) + fsync of the directory, so an object is either absent or
 * complete and durable, whatever the crash point. Listings skip hidden
 * files (unfinished writes); store_dir_sweep_temporaries removes those
 * whose writer died.
 */
#include "lib/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/fs.h"
#include "lib/log.h"

/* A writer's temporary file is "<folder>/.<name>" STORE_DIR_TEMP_INFIX
 * "<pid>-<counter>" (printf %d and %u); the sweep parses exactly that. */
#define STORE_DIR_TEMP_INFIX ".tmp-"

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
    if (fs_make_parents(w->final_path, 1, err) < 0)
        goto fail;
    /* a name taken by a dead writer that had our pid (a restarted container
     * is pid 1 again) is its leftover: take the next counter */
    for (int attempt = 0; attempt < 16 && w->fd < 0; attempt++) {
        free(w->temp_path);
        buf temp = BUF_INIT;
        buf_printf(&temp, "%.*s/.%s" STORE_DIR_TEMP_INFIX "%d-%u", (int)(slash - w->final_path),
                   w->final_path, slash + 1, (int)getpid(),
                   __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
        w->temp_path = buf_detach(&temp);
        w->fd = open(w->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (w->fd < 0 && errno != EEXIST)
            break;
    }
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

/* --- sweeping the temporary files of dead writers --- */

/* How much later than a file's last modification a process must have
 * started to count as a different one with a reused pid: the start time
 * is known to a clock tick, and read against two clocks. */
#define STORE_DIR_PID_REUSE_SLACK_MS 1000

/* Parses text[0, length) as printf's %d or %u writes a number up to max
 * (digits only: no sign, no leading zero). Returns 0 or -1. */
static int store_dir_parse_decimal(const char *text, size_t length, unsigned long long max,
                                   unsigned long long *value)
{
    if (length == 0 || (text[0] == '0' && length > 1))
        return -1;
    unsigned long long number = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        unsigned digit = (unsigned)(text[i] - '0');
        if (number > (max - digit) / 10)
            return -1;
        number = number * 10 + digit;
    }
    *value = number;
    return 0;
}

/* Whether name is exactly what store_dir_writer_open names a temporary
 * file, ".<name>.tmp-<pid>-<counter>"; if so, *pid is its writer's. */
static int store_dir_temporary_name_parse(const char *name, pid_t *pid)
{
    static const size_t infix_length = sizeof STORE_DIR_TEMP_INFIX - 1;
    const char *counter_dash = strrchr(name, '-');
    if (name[0] != '.' || !counter_dash)
        return 0;
    const char *pid_start = counter_dash;
    while (pid_start > name && pid_start[-1] >= '0' && pid_start[-1] <= '9')
        pid_start--;
    /* at least one character of name between the leading '.' and the infix */
    if ((size_t)(pid_start - name) < 2 + infix_length ||
        memcmp(pid_start - infix_length, STORE_DIR_TEMP_INFIX, infix_length) != 0)
        return 0;
    unsigned long long pid_number, counter;
    if (store_dir_parse_decimal(pid_start, (size_t)(counter_dash - pid_start), INT_MAX,
                                &pid_number) < 0 ||
        pid_number == 0 ||
        store_dir_parse_decimal(counter_dash + 1, strlen(counter_dash + 1), UINT_MAX, &counter) < 0)
        return 0;
    *pid = (pid_t)pid_number;
    return 1;
}

/* When process pid started, in wall-clock ms, from the start time since
 * boot in /proc/<pid>/stat (field 22, after the parenthesised command
 * name, which may hold spaces and parentheses); -1 when unknown. */
static int64_t store_dir_process_start_ms(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    const char *field = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
    fclose(f);
    for (int number = 3; field && number <= 22; number++)
        field = strchr(field + 1, ' ');
    long ticks_per_second = sysconf(_SC_CLK_TCK);
    struct timespec since_boot;
    if (!field || ticks_per_second <= 0 || clock_gettime(CLOCK_BOOTTIME, &since_boot) < 0)
        return -1;
    unsigned long long start_ticks = strtoull(field, NULL, 10);
    int64_t age_ms = (int64_t)since_boot.tv_sec * 1000 + since_boot.tv_nsec / 1000000 -
                     (int64_t)(start_ticks * 1000 / (unsigned long long)ticks_per_second);
    return clock_wall_ms() - age_ms;
}

/* Whether the writer of a temporary file last modified at mtime_ms may
 * still run: a process with its pid exists and started before then. */
static int store_dir_writer_may_run(pid_t pid, int64_t mtime_ms)
{
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return 0;
    int64_t started_ms = store_dir_process_start_ms(pid);
    return started_ms < 0 || started_ms <= mtime_ms + STORE_DIR_PID_REUSE_SLACK_MS;
}

struct store_dir_sweep {
    int64_t now_ms;
    int64_t min_age_ms;
    struct store_dir_sweep_stats stats;
    tp_err *err;
    int failures;
};

static void store_dir_sweep_failed(struct store_dir_sweep *sweep, const char *what,
                                   const char *path, const char *name, int error)
{
    if (sweep->failures++ == 0)
        tp_err_set(sweep->err, TP_ERR_IO, "%s %s%s%s: %s", what, path, *name ? "/" : "", name,
                   strerror(error));
    else
        log_warn("%s %s%s%s: %s", what, path, *name ? "/" : "", name, strerror(error));
}

/* Removes the entry name of folder (open as d, at path) if it is a
 * temporary file of a dead writer. */
static void store_dir_sweep_entry(struct store_dir_sweep *sweep, DIR *d, const char *path,
                                  const char *name)
{
    pid_t pid;
    struct stat st;
    if (!store_dir_temporary_name_parse(name, &pid) ||
        fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        return;
    int64_t mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (sweep->now_ms - mtime_ms < sweep->min_age_ms || store_dir_writer_may_run(pid, mtime_ms)) {
        sweep->stats.kept++;
        return;
    }
    if (unlinkat(dirfd(d), name, 0) < 0) {
        if (errno != ENOENT) /* another sweeper was first */
            store_dir_sweep_failed(sweep, "remove", path, name, errno);
        return;
    }
    sweep->stats.removed++;
    sweep->stats.bytes_freed += (long long)st.st_size;
    log_info("removed %s/%s: %lld bytes left by writer %d, which died", path, name,
             (long long)st.st_size, (int)pid);
}

/* Sweeps the folder at path, then the folders below it (once it is
 * closed, so the depth of the tree holds no descriptors). Symbolic links
 * are followed only for the top folder (follow set). */
static void store_dir_sweep_folder(struct store_dir_sweep *sweep, const char *path, int follow)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int error = errno;
        if (fd >= 0)
            close(fd);
        if (error != ENOENT && error != ENOTDIR && error != ELOOP)
            store_dir_sweep_failed(sweep, "sweep", path, "", error);
        return;
    }
    char **folders = NULL;
    size_t count = 0, capacity = 0;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        const char *name = entry->d_name;
        int is_folder = entry->d_type == DT_DIR;
        if (entry->d_type == DT_UNKNOWN) {
            struct stat st;
            is_folder =
                fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        }
        if (!is_folder) {
            store_dir_sweep_entry(sweep, d, path, name);
            continue;
        }
        if (name[0] == '.')
            continue; /* ., .., and hidden folders (e.g. an NFS server's .snapshot) */
        if (count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            char **grown = realloc(folders, capacity * sizeof *folders);
            if (!grown) {
                store_dir_sweep_failed(sweep, "sweep", path, "", ENOMEM);
                break;
            }
            folders = grown;
        }
        if ((folders[count] = strdup(name)))
            count++;
    }
    closedir(d);
    for (size_t i = 0; i < count; i++) {
        buf folder = BUF_INIT;
        if (buf_printf(&folder, "%s/%s", path, folders[i]) == 0)
            store_dir_sweep_folder(sweep, folder.data, 0);
        buf_free(&folder);
        free(folders[i]);
    }
    free(folders);
}

int store_dir_sweep_temporaries(store *s, const char *prefix, int64_t min_age_ms,
                                struct store_dir_sweep_stats *stats, tp_err *err)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (s->ops != &store_dir_ops)
        return tp_err_set(err, TP_ERR_USAGE,
                          "%s: only a directory store has temporary files to sweep", s->location);
    size_t length = strlen(prefix);
    while (length > 0 && prefix[length - 1] == '/')
        length--;
    buf folder = BUF_INIT;
    if (buf_append(&folder, prefix, length) < 0)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    if (length > 0 && store_dir_key_ok(folder.data, err) < 0) {
        buf_free(&folder);
        return -1;
    }
    struct store_dir_sweep sweep = {clock_wall_ms(), min_age_ms > 0 ? min_age_ms : 0, {0}, err, 0};
    char *path = length > 0 ? store_dir_path((struct store_dir *)s, folder.data)
                            : strdup(((struct store_dir *)s)->root);
    if (!path) {
        buf_free(&folder);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    store_dir_sweep_folder(&sweep, path, 1);
    char recent[48] = "";
    if (sweep.min_age_ms > 0)
        snprintf(recent, sizeof recent, " or modified in the last %lld %s",
                 (long long)(sweep.min_age_ms % 60000 ? sweep.min_age_ms / 1000
                                                      : sweep.min_age_ms / 60000),
                 sweep.min_age_ms % 60000 ? "s" : "min");
    log_write(sweep.stats.removed ? LOG_NOTICE : LOG_INFO,
              "swept %s: removed %lld temporary file%s of dead writers (%lld bytes); kept %lld "
              "(writer running%s)",
              path, sweep.stats.removed, sweep.stats.removed == 1 ? "" : "s",
              sweep.stats.bytes_freed, sweep.stats.kept, recent);
    if (stats)
        *stats = sweep.stats;
    free(path);
    buf_free(&folder);
    return sweep.failures ? -1 : 0;
}
