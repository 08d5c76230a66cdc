/*
 * s3: `tickpipe s3 ls|cp|cat|rm`, a small aws-cli-like tool for looking at
 * a lake on S3 (or any S3-compatible endpoint) and the end-to-end test of
 * the aws/ layer. Data goes to stdout (ls lines, cat bytes); what was done
 * goes to stderr through the log.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aws/s3.h"
#include "cmd/aws_options.h"
#include "cmd/cmd.h"
#include "lib/fs.h"
#include "lib/buf.h"
#include "lib/log.h"

struct s3_command {
    struct s3_client *s3;
    int recursive;
    int no_overwrite;
    size_t part_size;
    const char *content_type;
    struct s3_put_options put_options;
};

static int s3_fail(tp_err *err)
{
    log_error("%s", err->msg);
    return err->code == TP_ERR_USAGE ? CMD_EXIT_USAGE : CMD_EXIT_FAILURE;
}

/* ---- ls ---------------------------------------------------------------- */

struct s3_ls_state {
    size_t strip; /* bytes of the key to hide (the "directory" listed) */
    long count;
};

static int s3_ls_print(void *context, const struct s3_list_entry *e, tp_err *err)
{
    (void)err;
    struct s3_ls_state *state = context;
    const char *name = strlen(e->key) >= state->strip ? e->key + state->strip : e->key;
    if (e->is_prefix) {
        printf("%27s PRE %s\n", "", name);
    } else {
        char when[32] = "";
        time_t t = (time_t)e->last_modified;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        printf("%s %10llu %s\n", when, (unsigned long long)e->size, name);
    }
    state->count++;
    return 0;
}

static int s3_ls(struct s3_command *c, const char *url)
{
    tp_err err;
    tp_err_clear(&err);
    char *bucket, *prefix;
    if (s3_parse_url(url, &bucket, &prefix, &err) < 0)
        return s3_fail(&err);
    struct s3_ls_state state = {0, 0};
    if (!c->recursive) {
        const char *slash = strrchr(prefix, '/');
        state.strip = slash ? (size_t)(slash - prefix + 1) : 0;
    }
    int rc = s3_list_objects(c->s3, bucket, prefix, c->recursive ? NULL : "/", 0, s3_ls_print,
                             &state, &err);
    free(bucket);
    free(prefix);
    if (rc < 0)
        return s3_fail(&err);
    log_info("%ld entries", state.count);
    return CMD_EXIT_OK;
}

/* ---- cat and download -------------------------------------------------- */

struct s3_file_sink {
    FILE *file;
    const char *path;
};

static int s3_write_sink(void *context, const void *data, size_t len, tp_err *err)
{
    struct s3_file_sink *sink = context;
    if (fwrite(data, 1, len, sink->file) != len)
        return tp_err_set(err, TP_ERR_IO, "writing %s: %s", sink->path, strerror(errno));
    return 0;
}

static int s3_cat(struct s3_command *c, int count, char **urls)
{
    for (int i = 0; i < count; i++) {
        tp_err err;
        tp_err_clear(&err);
        char *bucket, *key;
        if (s3_parse_url(urls[i], &bucket, &key, &err) < 0)
            return s3_fail(&err);
        struct s3_file_sink sink = {stdout, "stdout"};
        int rc = s3_get_object(c->s3, bucket, key, s3_write_sink, &sink, &err);
        free(bucket);
        free(key);
        if (rc < 0 || fflush(stdout) != 0) {
            if (rc == 0)
                tp_err_set(&err, TP_ERR_IO, "writing stdout: %s", strerror(errno));
            return s3_fail(&err);
        }
    }
    return CMD_EXIT_OK;
}

/* Downloads into a temporary file renamed into place, so a failed copy
 * never leaves a truncated file under the final name. */
static int s3_download(struct s3_command *c, const char *bucket, const char *key, const char *path,
                       tp_err *err)
{
    if (strcmp(path, "-") == 0) {
        struct s3_file_sink sink = {stdout, "stdout"};
        if (s3_get_object(c->s3, bucket, key, s3_write_sink, &sink, err) < 0)
            return -1;
        return fflush(stdout) == 0 ? 0 : tp_err_set(err, TP_ERR_IO, "writing stdout");
    }
    if (fs_make_parents(path, 0, err) < 0)
        return -1;
    buf tmp = BUF_INIT;
    buf_printf(&tmp, "%s.tickpipe-part", path);
    struct s3_file_sink sink = {fopen(tmp.data, "wb"), path};
    if (!sink.file) {
        tp_err_set(err, TP_ERR_IO, "cannot create %s: %s", tmp.data, strerror(errno));
        buf_free(&tmp);
        return -1;
    }
    int rc = s3_get_object(c->s3, bucket, key, s3_write_sink, &sink, err);
    if (fclose(sink.file) != 0 && rc == 0)
        rc = tp_err_set(err, TP_ERR_IO, "writing %s: %s", path, strerror(errno));
    if (rc == 0 && rename(tmp.data, path) < 0)
        rc = tp_err_set(err, TP_ERR_IO, "cannot rename %s to %s: %s", tmp.data, path,
                        strerror(errno));
    if (rc < 0)
        unlink(tmp.data);
    else
        log_notice("download: s3://%s/%s to %s", bucket, key, path);
    buf_free(&tmp);
    return rc;
}

static int s3_is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *s3_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A key must not climb out of the destination directory. */
static int s3_key_is_safe(const char *relative)
{
    if (!*relative || relative[0] == '/')
        return 0;
    for (const char *p = relative; *p;) {
        size_t len = strcspn(p, "/");
        if ((len == 2 && p[0] == '.' && p[1] == '.') || (len == 1 && p[0] == '.'))
            return 0;
        p += len + (p[len] == '/');
    }
    return 1;
}

struct s3_download_all {
    struct s3_command *c;
    const char *bucket;
    const char *prefix;
    const char *dir;
    long count;
};

static int s3_download_entry(void *context, const struct s3_list_entry *e, tp_err *err)
{
    struct s3_download_all *d = context;
    const char *relative = e->key + strlen(d->prefix);
    if (!s3_key_is_safe(relative)) {
        log_warn("skipping s3://%s/%s: the key does not map to a file under %s", d->bucket, e->key,
                 d->dir);
        return 0;
    }
    buf path = BUF_INIT;
    buf_printf(&path, "%s/%s", d->dir, relative);
    int rc = s3_download(d->c, d->bucket, e->key, path.data, err);
    buf_free(&path);
    d->count += rc == 0;
    return rc;
}

static int s3_copy_down(struct s3_command *c, const char *url, const char *dest)
{
    tp_err err;
    tp_err_clear(&err);
    char *bucket, *key;
    if (s3_parse_url(url, &bucket, &key, &err) < 0)
        return s3_fail(&err);
    int rc;
    if (c->recursive) {
        buf prefix = BUF_INIT;
        buf_printf(&prefix, "%s%s", key, *key && key[strlen(key) - 1] != '/' ? "/" : "");
        struct s3_download_all d = {c, bucket, prefix.data, dest, 0};
        rc = s3_list_objects(c->s3, bucket, prefix.data, NULL, 0, s3_download_entry, &d, &err);
        if (rc == 0)
            log_info("%ld objects downloaded", d.count);
        buf_free(&prefix);
    } else {
        buf path = BUF_INIT;
        size_t len = strlen(dest);
        if (s3_is_directory(dest) || (len && dest[len - 1] == '/'))
            buf_printf(&path, "%s%s%s", dest, len && dest[len - 1] == '/' ? "" : "/",
                       s3_base_name(key));
        else
            buf_append_str(&path, dest);
        rc = *key ? s3_download(c, bucket, key, path.data, &err)
                  : tp_err_set(&err, TP_ERR_USAGE, "%s names no object (use -r for a prefix)", url);
        buf_free(&path);
    }
    free(bucket);
    free(key);
    return rc < 0 ? s3_fail(&err) : CMD_EXIT_OK;
}

/* ---- upload ------------------------------------------------------------ */

static ssize_t s3_read_stdin(void *context, void *out, size_t cap, tp_err *err)
{
    (void)context;
    size_t n = fread(out, 1, cap, stdin);
    if (n == 0 && ferror(stdin))
        return tp_err_set(err, TP_ERR_IO, "reading stdin: %s", strerror(errno));
    return (ssize_t)n;
}

static int s3_upload(struct s3_command *c, const char *path, const char *bucket, const char *key,
                     tp_err *err)
{
    enum s3_put_result result =
        strcmp(path, "-") == 0
            ? s3_put_stream(c->s3, bucket, key, s3_read_stdin, NULL, c->part_size, &c->put_options,
                            err)
            : s3_put_file(c->s3, bucket, key, path, c->part_size, &c->put_options, err);
    if (result == S3_PUT_EXISTS)
        return tp_err_set(err, TP_ERR_REMOTE,
                          "PutObject s3://%s/%s: the object already exists (--no-overwrite)",
                          bucket, key);
    if (result == S3_PUT_ERROR)
        return -1;
    log_notice("upload: %s to s3://%s/%s", path, bucket, key);
    return 0;
}

static int s3_upload_tree(struct s3_command *c, const char *dir, const char *bucket,
                          const char *prefix, long *count, tp_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return tp_err_set(err, TP_ERR_IO, "cannot read directory %s: %s", dir, strerror(errno));
    /* Sorted, so uploads happen in a stable order. */
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    closedir(d);
    if (n < 0)
        return tp_err_set(err, TP_ERR_IO, "cannot read directory %s: %s", dir, strerror(errno));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (rc == 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            buf path = BUF_INIT, key = BUF_INIT;
            buf_printf(&path, "%s/%s", dir, name);
            buf_printf(&key, "%s%s", prefix, name);
            if (s3_is_directory(path.data)) {
                buf_append_char(&key, '/');
                rc = s3_upload_tree(c, path.data, bucket, key.data, count, err);
            } else {
                rc = s3_upload(c, path.data, bucket, key.data, err);
                *count += rc == 0;
            }
            buf_free(&path);
            buf_free(&key);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static int s3_copy_up(struct s3_command *c, const char *source, const char *url)
{
    tp_err err;
    tp_err_clear(&err);
    char *bucket, *key;
    if (s3_parse_url(url, &bucket, &key, &err) < 0)
        return s3_fail(&err);
    buf full_key = BUF_INIT;
    int rc;
    if (c->recursive) {
        if (!s3_is_directory(source)) {
            rc = tp_err_set(&err, TP_ERR_USAGE, "%s is not a directory (-r copies directories)",
                            source);
        } else {
            buf_printf(&full_key, "%s%s", key, *key && key[strlen(key) - 1] != '/' ? "/" : "");
            long count = 0;
            rc = s3_upload_tree(c, source, bucket, full_key.data, &count, &err);
            log_info("%ld files uploaded", count);
        }
    } else if (strcmp(source, "-") != 0 && s3_is_directory(source)) {
        rc = tp_err_set(&err, TP_ERR_USAGE, "%s is a directory (use -r)", source);
    } else {
        if (!*key || key[strlen(key) - 1] == '/')
            buf_printf(&full_key, "%s%s", key,
                       strcmp(source, "-") == 0 ? "stdin" : s3_base_name(source));
        else
            buf_append_str(&full_key, key);
        rc = s3_upload(c, source, bucket, full_key.data, &err);
    }
    buf_free(&full_key);
    free(bucket);
    free(key);
    return rc < 0 ? s3_fail(&err) : CMD_EXIT_OK;
}

/* ---- rm ---------------------------------------------------------------- */

struct s3_key_list {
    char **keys;
    size_t count, capacity;
};

static int s3_collect_key(void *context, const struct s3_list_entry *e, tp_err *err)
{
    struct s3_key_list *list = context;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 256;
        char **keys = realloc(list->keys, capacity * sizeof *keys);
        if (!keys)
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        list->keys = keys;
        list->capacity = capacity;
    }
    if (!(list->keys[list->count] = strdup(e->key)))
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    list->count++;
    return 0;
}

static int s3_rm(struct s3_command *c, int count, char **urls)
{
    for (int i = 0; i < count; i++) {
        tp_err err;
        tp_err_clear(&err);
        char *bucket, *key;
        if (s3_parse_url(urls[i], &bucket, &key, &err) < 0)
            return s3_fail(&err);
        int rc;
        if (c->recursive) {
            struct s3_key_list list = {0};
            rc = s3_list_objects(c->s3, bucket, key, NULL, 0, s3_collect_key, &list, &err);
            if (rc == 0)
                rc = s3_delete_objects(c->s3, bucket, (const char *const *)list.keys, list.count,
                                       &err);
            if (rc == 0)
                log_notice("delete: %zu objects under s3://%s/%s", list.count, bucket, key);
            for (size_t k = 0; k < list.count; k++)
                free(list.keys[k]);
            free(list.keys);
        } else if (!*key) {
            rc =
                tp_err_set(&err, TP_ERR_USAGE, "%s names no object (use -r for a prefix)", urls[i]);
        } else {
            rc = s3_delete_object(c->s3, bucket, key, &err);
            if (rc == 0)
                log_notice("delete: s3://%s/%s", bucket, key);
        }
        free(bucket);
        free(key);
        if (rc < 0)
            return s3_fail(&err);
    }
    return CMD_EXIT_OK;
}

/* ---- dispatch ---------------------------------------------------------- */

static int s3_is_url(const char *text)
{
    return strncmp(text, "s3://", 5) == 0;
}

static int s3_run(struct s3_command *c, const char *action, int count, char **args)
{
    if (strcmp(action, "ls") == 0) {
        if (count != 1)
            return cmd_usage_error("usage: tickpipe s3 ls s3://BUCKET[/PREFIX] [-r]");
        return s3_ls(c, args[0]);
    }
    if (strcmp(action, "cat") == 0) {
        if (count < 1)
            return cmd_usage_error("usage: tickpipe s3 cat s3://BUCKET/KEY...");
        return s3_cat(c, count, args);
    }
    if (strcmp(action, "rm") == 0) {
        if (count < 1)
            return cmd_usage_error("usage: tickpipe s3 rm s3://BUCKET/KEY... [-r]");
        return s3_rm(c, count, args);
    }
    if (count != 2)
        return cmd_usage_error("usage: tickpipe s3 cp SOURCE DESTINATION [-r]");
    if (s3_is_url(args[0]) && !s3_is_url(args[1]))
        return s3_copy_down(c, args[0], args[1]);
    if (!s3_is_url(args[0]) && s3_is_url(args[1]))
        return s3_copy_up(c, args[0], args[1]);
    return cmd_usage_error("cp copies between a local path (or -) and an s3:// URL");
}

int cmd_s3(int argc, char **argv)
{
    struct cmd_aws_options aws_options = {0};
    struct s3_command c = {0};
    long long part_size = 0;
    const struct opt_spec options[] = {
        {"recursive", 'r', OPT_FLAG, &c.recursive, NULL, NULL, NULL,
         "ls: every key under the prefix; cp/rm: whole directories or prefixes", NULL},
        {"no-overwrite", 0, OPT_FLAG, &c.no_overwrite, NULL, NULL, NULL,
         "cp: fail when the object exists (conditional put, If-None-Match: *)", NULL},
        {"part-size", 0, OPT_SIZE, &part_size, "SIZE", "8MiB", "TICKPIPE_S3_PART_SIZE",
         "cp: files larger than this go up as multipart uploads of parts this big (>= 5MiB)", NULL},
        {"content-type", 0, OPT_STRING, &c.content_type, "TYPE", "application/octet-stream", NULL,
         "cp: Content-Type of uploaded objects", NULL},
        CMD_AWS_OPTION_SPECS(&aws_options),
        {0},
    };
    const struct opt_command command = {
        "s3", "ls|cp|cat|rm ARGS... [options]",
        "Look at and copy objects on S3 or an S3-compatible endpoint.",
        "Actions:\n"
        "  ls s3://BUCKET[/PREFIX]      list keys (with -r: every key under the prefix)\n"
        "  cp FILE|DIR|- s3://BUCKET/KEY   upload (with -r: a directory tree)\n"
        "  cp s3://BUCKET/KEY FILE|DIR|-   download (with -r: every key under a prefix)\n"
        "  cat s3://BUCKET/KEY...       write objects to stdout\n"
        "  rm s3://BUCKET/KEY...        delete (with -r: every key under a prefix)\n",
        options};
    int npositional, exit_code;
    if (cmd_parse(&command, argc, argv, &npositional, &exit_code) < 0)
        return exit_code;
    if (npositional < 1)
        return cmd_usage_error("missing action: ls, cp, cat or rm (see 'tickpipe s3 --help')");
    const char *action = argv[1];
    if (strcmp(action, "ls") != 0 && strcmp(action, "cp") != 0 && strcmp(action, "cat") != 0 &&
        strcmp(action, "rm") != 0)
        return cmd_usage_error("unknown action '%s': use ls, cp, cat or rm", action);
    if (part_size < (long long)S3_MIN_PART_SIZE || part_size > (5LL << 30))
        return cmd_usage_error("--part-size must be between 5MiB and 5GiB");
    c.part_size = (size_t)part_size;
    c.put_options.content_type = c.content_type;
    c.put_options.if_none_match = c.no_overwrite;

    tp_err err;
    tp_err_clear(&err);
    struct cmd_aws aws;
    if (cmd_aws_open(&aws_options, &aws, &err) < 0)
        return s3_fail(&err);
    c.s3 = s3_client_new(aws.http, aws.creds, aws_options.s3_path_style, &err);
    if (!c.s3) {
        cmd_aws_close(&aws);
        return s3_fail(&err);
    }
    cmd_install_stop_handlers();
    int rc = s3_run(&c, action, npositional - 1, argv + 2);
    s3_client_free(c.s3);
    cmd_aws_close(&aws);
    return rc;
}
