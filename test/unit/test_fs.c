/* test_fs: lib/fs directory helpers; fs_make_parents_below creates only
 * the directories it is given and never brings back a removed one above. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fs.h"
#include "test/unit/check.h"

static int is_directory(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char root[64];

static void path_in_root(char *out, size_t size, const char *relative)
{
    snprintf(out, size, "%s/%s", root, relative);
}

static void test_creates_the_last_levels(void)
{
    char lake[128], file[160], cache[160], duckdb[160];
    path_in_root(lake, sizeof lake, "lake");
    path_in_root(file, sizeof file, "lake/_cache/duckdb/db.duckdb");
    path_in_root(cache, sizeof cache, "lake/_cache");
    path_in_root(duckdb, sizeof duckdb, "lake/_cache/duckdb");
    CHECK(mkdir(lake, 0755) == 0);
    tp_err err;
    CHECK_INT(fs_make_parents_below(file, 2, &err), 0);
    CHECK(is_directory(cache) && is_directory(duckdb));
    CHECK_INT(fs_make_parents_below(file, 2, &err), 0); /* already there */
    CHECK(access(file, F_OK) != 0);                     /* the file itself is not made */
}

static void test_never_recreates_a_removed_lake(void)
{
    char file[160], gone[128];
    path_in_root(file, sizeof file, "removed/_cache/duckdb/db.duckdb");
    path_in_root(gone, sizeof gone, "removed");
    tp_err err;
    CHECK_INT(fs_make_parents_below(file, 2, &err), -1);
    CHECK_INT(err.code, TP_ERR_NOT_FOUND);
    CHECK(strstr(err.msg, "is gone") != NULL);
    CHECK(!is_directory(gone));
    /* one level: only <dir>/_cache of an existing dir */
    char one[160], made[160];
    path_in_root(one, sizeof one, "lake/_results/r.result");
    path_in_root(made, sizeof made, "lake/_results");
    CHECK_INT(fs_make_parents_below(one, 1, &err), 0);
    CHECK(is_directory(made));
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_fs.XXXXXX");
    if (!mkdtemp(root))
        return 1;
    RUN(test_creates_the_last_levels);
    RUN(test_never_recreates_a_removed_lake);
    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", root);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    CHECK_EXIT();
}
