/* Unit tests for lib/store_dir: atomic writes, create-only, listing, ranged
 * reads, and the sweep of temporary files left by dead writers. */
#include "test/unit/check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/store.h"

static char root[256];

static int collect(const struct store_object *object, void *context)
{
    buf *out = context;
    buf_printf(out, "%s:%lld\n", object->key, object->size);
    return 0;
}

static void test_put_get_list_remove(void)
{
    tp_err err;
    store *s = store_dir_open(root, &err);
    CHECK(s != NULL);
    CHECK(store_put(s, "t/dt=2024-01-02/a.jsonl", "hello\n", 6, STORE_PUT_REPLACE, &err) == 0);
    CHECK(store_put(s, "t/dt=2024-01-01/b.jsonl", "xy", 2, STORE_PUT_REPLACE, &err) == 0);
    CHECK(store_put(s, "u/c", "", 0, STORE_PUT_REPLACE, &err) == 0);
    char *data = NULL;
    size_t length = 0;
    CHECK(store_get(s, "t/dt=2024-01-02/a.jsonl", 0, &data, &length, &err) == 0);
    CHECK_STR(data, "hello\n");
    free(data);
    CHECK(store_get(s, "t/dt=2024-01-02/a.jsonl", 3, &data, &length, &err) == 0);
    CHECK_STR(data, "hel");
    free(data);
    CHECK(store_get(s, "missing", 0, &data, &length, &err) < 0);
    CHECK_INT(err.code, TP_ERR_NOT_FOUND);
    buf listing = BUF_INIT;
    CHECK(s->ops->list(s, "", collect, &listing, &err) == 0);
    CHECK_STR(listing.data, "t/dt=2024-01-01/b.jsonl:2\nt/dt=2024-01-02/a.jsonl:6\nu/c:0\n");
    buf_reset(&listing);
    CHECK(s->ops->list(s, "t/dt=2024-01-0", collect, &listing, &err) == 0);
    CHECK_STR(listing.data, "t/dt=2024-01-01/b.jsonl:2\nt/dt=2024-01-02/a.jsonl:6\n");
    buf_reset(&listing);
    CHECK(s->ops->list(s, "nothing/", collect, &listing, &err) == 0);
    CHECK_INT(listing.len, 0);
    CHECK(s->ops->remove(s, "u/c", &err) == 0);
    CHECK(s->ops->remove(s, "u/c", &err) == 0); /* removing twice is fine */
    CHECK(store_put(s, "../escape", "x", 1, STORE_PUT_REPLACE, &err) < 0);
    buf_free(&listing);
    store_free(s);
}

/* The temporary names a writer of "pid/obj" would take next: a dead
 * writer's leftovers under our own pid (a restarted container is pid 1
 * again) are skipped, not an error. */
static void test_writer_skips_a_leftover_with_our_pid(void)
{
    tp_err err;
    store *s = store_dir_open(root, &err);
    store_writer *w = s->ops->writer_open(s, "pid/obj", STORE_PUT_REPLACE, &err);
    CHECK(w != NULL);
    char command[512], name[256] = "";
    snprintf(command, sizeof command, "ls -A %s/pid", root);
    FILE *ls = popen(command, "r");
    CHECK(ls && fgets(name, sizeof name, ls) != NULL);
    if (ls)
        pclose(ls);
    s->ops->writer_abort(w);
    unsigned used = 0;
    const char *dash = strrchr(name, '-');
    CHECK(dash && sscanf(dash + 1, "%u", &used) == 1);
    for (unsigned next = used + 1; next <= used + 4; next++) { /* the next four names, taken */
        snprintf(command, sizeof command, "%s/pid/.obj.tmp-%d-%u", root, (int)getpid(), next);
        FILE *f = fopen(command, "w");
        CHECK(f != NULL);
        if (f)
            fclose(f);
    }
    CHECK(store_put(s, "pid/obj", "1", 1, STORE_PUT_REPLACE, &err) == 0);
    char *data = NULL;
    size_t length;
    CHECK(store_get(s, "pid/obj", 0, &data, &length, &err) == 0 && length == 1);
    free(data);
    store_free(s);
}

static void test_create_only_and_abort(void)
{
    tp_err err;
    store *s = store_dir_open(root, &err);
    CHECK(store_put(s, "once/x", "1", 1, STORE_PUT_IF_ABSENT, &err) == 0);
    CHECK(store_put(s, "once/x", "2", 1, STORE_PUT_IF_ABSENT, &err) < 0);
    CHECK_INT(err.code, TP_ERR_EXISTS);
    char *data;
    size_t length;
    CHECK(store_get(s, "once/x", 0, &data, &length, &err) == 0);
    CHECK_STR(data, "1");
    free(data);
    /* an unfinished writer is invisible, and abort leaves nothing behind */
    store_writer *w = s->ops->writer_open(s, "once/y", STORE_PUT_REPLACE, &err);
    CHECK(w && s->ops->writer_write(w, "partial", 7, &err) == 0);
    buf listing = BUF_INIT;
    s->ops->list(s, "once/", collect, &listing, &err);
    CHECK_STR(listing.data, "once/x:1\n");
    s->ops->writer_abort(w);
    char path[512];
    snprintf(path, sizeof path, "rm -f %s/once/x && [ -z \"$(ls -A %s/once)\" ]", root, root);
    CHECK(system(path) == 0);
    buf_free(&listing);
    store_free(s);
}

#define TEN_MINUTES_MS (10 * 60 * 1000)
#define HOUR_S         3600

/* A pid that names no process: a child's, once reaped (tried again in the
 * unlikely case the pid was taken at once by another process). */
static pid_t dead_pid(void)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0)
            return -1;
        waitpid(pid, NULL, 0);
        if (kill(pid, 0) < 0 && errno == ESRCH)
            return pid;
    }
    return -1;
}

/* Sets path's mtime (not following a symlink) seconds_ago seconds back. */
static int age(const char *path, long seconds_ago)
{
    struct timespec times[2];
    clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= seconds_ago;
    times[1] = times[0];
    return utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW);
}

/* Creates <root>/<relative> (and its folders) holding size bytes, last
 * modified seconds_ago seconds back. */
static int plant(const char *relative, size_t size, long seconds_ago)
{
    char path[512], command[600];
    snprintf(path, sizeof path, "%s/%s", root, relative);
    snprintf(command, sizeof command, "mkdir -p \"$(dirname '%s')\"", path);
    if (system(command) != 0)
        return -1;
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    for (size_t i = 0; i < size; i++)
        fputc('x', f);
    fclose(f);
    return age(path, seconds_ago);
}

static int exists(const char *relative)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", root, relative);
    return lstat(path, &st) == 0;
}

static void test_sweep_removes_only_temporaries_of_dead_writers(void)
{
    tp_err err;
    store *s = store_dir_open(root, &err);
    pid_t dead = dead_pid(), self = getpid();
    CHECK(s && dead > 0);
    char name[64][160];
    int n = 0;
    /* stale temporaries of a dead writer, at every depth: removed */
    snprintf(name[n++], sizeof name[0], "sweep/.b.tmp-%d-7", (int)dead);
    snprintf(name[n++], sizeof name[0], "sweep/dt=2024-01-02/.a.jsonl.gz.tmp-%d-0", (int)dead);
    snprintf(name[n++], sizeof name[0], "sweep/dt=2024-01-02/hour=09/.c.tmp-%d-4294967295",
             (int)dead);
    /* our own pid on a file last written before we started: a reused pid */
    snprintf(name[n++], sizeof name[0], "sweep/.reused.tmp-%d-3", (int)self);
    const int removed = n;
    for (int i = 0; i < removed; i++)
        CHECK(plant(name[i], 100 + (size_t)i, HOUR_S) == 0);
    /* kept, whatever the age: not exactly the writer's naming */
    const char *const malformed[] = {
        ".x.tmp-",
        ".x.tmp-12-",
        ".x.tmp-abc-1",
        "x.tmp-%d-2",
        ".x.tmp-0%d-1",
        ".x.tmp-%d-01",
        ".x.tmp-%d-1.gz",
        ".tmp-%d-1",
        ".x.tmp--%d-1",
        ".x.tmp-%d-99999999999",
        ".x.tmp-0-1",
        ".x.TMP-%d-1",
        ".foo.tmp-notes",
        ".x.tmp-%d",
        ".x.tmp-%d-",
        ".x.tmp-%d--1",
        ".x.tmp-2147483648-1",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        char file[64];
        snprintf(file, sizeof file, malformed[i], (int)dead);
        snprintf(name[n], sizeof name[0], "sweep/dt=2024-01-02/%s", file);
        CHECK(plant(name[n++], 10, HOUR_S) == 0);
    }
    /* kept: a dead writer's file modified within the age limit */
    snprintf(name[n], sizeof name[0], "sweep/dt=2024-01-02/.fresh.tmp-%d-1", (int)dead);
    CHECK(plant(name[n++], 10, 5 * 60) == 0);
    const int fresh = n - 1;
    /* kept: the file of a running writer, written since it started */
    snprintf(name[n], sizeof name[0], "sweep/.live.tmp-%d-2", (int)self);
    CHECK(plant(name[n++], 10, 0) == 0);
    /* kept: a hidden folder is not entered; a folder or a symlink with a
     * temporary's name is no temporary file */
    snprintf(name[n], sizeof name[0], "sweep/.hidden/.h.tmp-%d-1", (int)dead);
    CHECK(plant(name[n++], 10, HOUR_S) == 0);
    char path[512], target[512];
    snprintf(name[n], sizeof name[0], "sweep/dt=2024-01-02/.folder.tmp-%d-1", (int)dead);
    snprintf(path, sizeof path, "%s/%s", root, name[n++]);
    CHECK(mkdir(path, 0755) == 0 && age(path, HOUR_S) == 0);
    snprintf(name[n], sizeof name[0], "sweep/.link.tmp-%d-1", (int)dead);
    snprintf(path, sizeof path, "%s/%s", root, name[n++]);
    snprintf(target, sizeof target, "%s/%s", root, name[0]);
    CHECK(symlink(target, path) == 0 && age(path, HOUR_S) == 0);
    CHECK(store_put(s, "sweep/dt=2024-01-02/real.jsonl.gz", "data", 4, STORE_PUT_REPLACE, &err) ==
          0);

    struct store_dir_sweep_stats stats;
    CHECK(store_dir_sweep_temporaries(s, "sweep", TEN_MINUTES_MS, &stats, &err) == 0);
    CHECK_INT(stats.removed, removed);
    CHECK_INT(stats.bytes_freed, 100 + 101 + 102 + 103);
    CHECK_INT(stats.kept, 2); /* .fresh and .live */
    for (int i = 0; i < n; i++)
        if (!CHECK(exists(name[i]) == (i >= removed)))
            fprintf(stderr, "  %s: %s\n", name[i], i >= removed ? "removed" : "kept");
    CHECK(exists("sweep/dt=2024-01-02/real.jsonl.gz"));
    /* with no age limit the dead writer's fresh file goes; the running one's stays */
    CHECK(store_dir_sweep_temporaries(s, "sweep/", 0, &stats, &err) == 0);
    CHECK_INT(stats.removed, 1);
    CHECK_INT(stats.kept, 1);
    CHECK(!exists(name[fresh]));
    CHECK(exists(name[fresh + 1]));
    buf listing = BUF_INIT;
    CHECK(s->ops->list(s, "sweep/", collect, &listing, &err) == 0);
    char want[256]; /* x.tmp-<pid>-2 has no leading dot: an object like any other */
    snprintf(want, sizeof want,
             "sweep/dt=2024-01-02/real.jsonl.gz:4\nsweep/dt=2024-01-02/x.tmp-%d-2:10\n", (int)dead);
    CHECK_STR(listing.data, want);
    buf_free(&listing);
    store_free(s);
}

/* A writer killed mid-write leaves a file the sweep recognises: the
 * naming and its parser agree. */
static void test_sweep_removes_what_a_killed_writer_left(void)
{
    tp_err err;
    store *s = store_dir_open(root, &err);
    CHECK(s != NULL);
    pid_t child = fork();
    if (child == 0) {
        store_writer *w =
            s->ops->writer_open(s, "killed/dt=2024-01-02/x.jsonl.gz", STORE_PUT_REPLACE, &err);
        if (w)
            s->ops->writer_write(w, "partial", 7, &err);
        _exit(w ? 0 : 1); /* no commit, no abort */
    }
    int status = -1;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char folder[512], temp[700] = "";
    snprintf(folder, sizeof folder, "%s/killed/dt=2024-01-02", root);
    DIR *d = opendir(folder);
    struct dirent *entry;
    while (d && (entry = readdir(d)))
        if (entry->d_name[0] == '.' && strcmp(entry->d_name, ".") && strcmp(entry->d_name, ".."))
            snprintf(temp, sizeof temp, "%s/%s", folder, entry->d_name);
    if (d)
        closedir(d);
    CHECK(temp[0] && age(temp, HOUR_S) == 0);
    struct store_dir_sweep_stats stats;
    CHECK(store_dir_sweep_temporaries(s, "killed", TEN_MINUTES_MS, &stats, &err) == 0);
    CHECK_INT(stats.removed, 1);
    CHECK_INT(stats.bytes_freed, 7);
    CHECK(access(temp, F_OK) < 0);
    store_free(s);
}

static void test_sweep_scope(void)
{
    tp_err err;
    store *s = store_dir_open(root, &err);
    pid_t dead = dead_pid();
    CHECK(s && dead > 0);
    char inside[128], outside[128], sibling[128];
    snprintf(inside, sizeof inside, "scope/t/.a.tmp-%d-1", (int)dead);
    snprintf(outside, sizeof outside, "scope/u/.a.tmp-%d-1", (int)dead);
    snprintf(sibling, sizeof sibling, "scope/t2/.a.tmp-%d-1", (int)dead);
    CHECK(plant(inside, 1, HOUR_S) == 0 && plant(outside, 1, HOUR_S) == 0 &&
          plant(sibling, 1, HOUR_S) == 0);
    /* a symbolic link to a folder is not followed */
    char link[512], target[512];
    snprintf(link, sizeof link, "%s/scope/t/linked", root);
    snprintf(target, sizeof target, "%s/scope/u", root);
    CHECK(symlink(target, link) == 0);
    struct store_dir_sweep_stats stats;
    /* a prefix names a folder: "scope/t" is not "scope/t2" */
    CHECK(store_dir_sweep_temporaries(s, "scope/t", TEN_MINUTES_MS, &stats, &err) == 0);
    CHECK_INT(stats.removed, 1);
    CHECK(!exists(inside) && exists(outside) && exists(sibling));
    /* a missing folder is nothing to sweep; a bad key is a usage error */
    CHECK(store_dir_sweep_temporaries(s, "scope/none", TEN_MINUTES_MS, &stats, &err) == 0);
    CHECK_INT(stats.removed + stats.kept, 0);
    CHECK(store_dir_sweep_temporaries(s, "../scope", TEN_MINUTES_MS, &stats, &err) < 0);
    CHECK_INT(err.code, TP_ERR_USAGE);
    /* "" is the whole store */
    CHECK(store_dir_sweep_temporaries(s, "", TEN_MINUTES_MS, &stats, &err) == 0);
    CHECK(stats.removed >= 2 && !exists(outside) && !exists(sibling));
    /* only a directory store has temporary files */
    static const struct store_ops other_ops = {.scheme = "s3"};
    struct store other = {&other_ops, "s3://bucket/lake"};
    CHECK(store_dir_sweep_temporaries(&other, "", 0, &stats, &err) < 0);
    CHECK_INT(err.code, TP_ERR_USAGE);
    store_free(s);
}

int main(void)
{
    log_set_level(LOG_INFO); /* the removal lines too */
    snprintf(root, sizeof root, "/tmp/tickpipe-store-test-%d", (int)getpid());
    RUN(test_put_get_list_remove);
    RUN(test_create_only_and_abort);
    RUN(test_writer_skips_a_leftover_with_our_pid);
    RUN(test_sweep_removes_only_temporaries_of_dead_writers);
    RUN(test_sweep_removes_what_a_killed_writer_left);
    RUN(test_sweep_scope);
    char command[300];
    snprintf(command, sizeof command, "rm -rf %s", root);
    if (system(command) != 0)
        return 1;
    CHECK_EXIT();
}
