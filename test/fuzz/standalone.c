/*
 * standalone: runs a libFuzzer harness over its seed corpus without
 * libFuzzer, so `make test` (and `make asan`) replay every corpus file
 * through every harness. Usage: fuzz_x CORPUS_DIR... ; prints one PASS
 * line per directory (a crash aborts the run, which test/run reports).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
    size_t got = data ? fread(data, 1, (size_t)size, f) : 0;
    fclose(f);
    if (!data || got != (size_t)size) {
        free(data);
        return -1;
    }
    LLVMFuzzerTestOneInput(data, got);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        DIR *dir = opendir(argv[i]);
        if (!dir) {
            printf("FAIL %s: cannot open corpus %s\n", name, argv[i]);
            failed = 1;
            continue;
        }
        int files = 0;
        struct dirent *entry;
        while ((entry = readdir(dir))) {
            if (entry->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], entry->d_name);
            if (run_file(path) == 0)
                files++;
        }
        closedir(dir);
        if (files == 0) {
            printf("FAIL %s: corpus %s is empty\n", name, argv[i]);
            failed = 1;
        } else {
            printf("PASS %s: %d corpus inputs replayed without a crash\n", name, files);
        }
    }
    return failed;
}
