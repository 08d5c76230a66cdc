/*
 * fuzz_query_answer: libFuzzer harness for the query server's client side
 * (query_server_read_answer in lib/query_server.c): any byte stream a
 * server may send is decoded without reading out of bounds, ends in one
 * of the documented outcomes, and reaches the same sinks a real client
 * uses (the stored-result recorder in front of each result writer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/query_results.h"
#include "lib/query_server.h"
#include "lib/result_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum result_format formats[] = {RESULT_FORMAT_CSV, RESULT_FORMAT_TABLE,
                                                 RESULT_FORMAT_JSON};
    static FILE *sink_file;
    if (!sink_file && !(sink_file = fopen("/dev/null", "w")))
        return 0;
    int fd = memfd_create("answer", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    enum result_format format = formats[size % 3];
    result_writer *writer = result_writer_new(sink_file, format);
    struct query_sink inner = result_writer_sink(writer);
    query_results_recorder *recorder = query_results_recorder_new(&inner);
    struct query_sink sink = query_results_recorder_sink(recorder);
    struct query_stats stats = {0};
    buf stale = BUF_INIT;
    tp_err err;
    tp_err_clear(&err);
    lseek(fd, 0, SEEK_SET);
    int rc = query_server_read_answer(fd, &sink, &stats, &stale, &err);
    if (rc != 1 && rc != 0 && rc != -1 && rc != -2)
        abort();
    if (rc == -1 && !err.msg[0])
        abort(); /* an error outcome always says why */
    if (rc == 1)
        result_writer_finish(writer, &err);
    query_results_recorder_free(recorder);
    result_writer_free(writer);
    buf_free(&stale);
    close(fd);
    return 0;
}
