/*
 * fs: directory creation and syncing, the pieces every writer of files
 * needs before its atomic rename.
 */
#include "lib/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_sync_directory(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int fs_make_parents_below(const char *path, int levels, tp_err *err)
{
    char *copy = strdup(path);
    if (!copy)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    /* cut[i]: the slash ending the i-th directory from the end */
    char *cut[8];
    int count = 0;
    for (char *end = copy + strlen(copy); count < levels && count < 8;) {
        char *slash = memrchr(copy, '/', (size_t)(end - copy));
        if (!slash || slash == copy)
            break;
        cut[count++] = slash;
        end = slash;
    }
    int rc = 0;
    for (int i = count - 1; i >= 0 && rc == 0; i--) {
        *cut[i] = '\0';
        if (mkdir(copy, 0755) != 0 && errno != EEXIST)
            rc = tp_err_set(err, errno == ENOENT ? TP_ERR_NOT_FOUND : TP_ERR_IO,
                            "cannot create directory %s: %s", copy,
                            errno == ENOENT ? "the directory above it is gone" : strerror(errno));
        *cut[i] = '/';
    }
    free(copy);
    return rc;
}

int fs_make_parents(const char *path, int durable, tp_err *err)
{
    char *copy = strdup(path);
    if (!copy)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    for (char *slash = strchr(copy + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdir(copy, 0755) == 0) {
            char *parent_end = strrchr(copy, '/');
            if (durable && parent_end && parent_end != copy) {
                *parent_end = '\0';
                fs_sync_directory(copy);
                *parent_end = '/';
            }
        } else if (errno != EEXIST) {
            tp_err_set(err, TP_ERR_IO, "cannot create directory %s: %s", copy, strerror(errno));
            free(copy);
            return -1;
        }
        *slash = '/';
    }
    free(copy);
    return 0;
}
