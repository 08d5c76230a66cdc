/*
 * fuzz_csv: the produce path on arbitrary bytes. The input is read as a
 * CSV file (at a read size chosen by the first byte, to hit buffer
 * boundaries); every record is rendered as a tick under a fixed schema and
 * each rendered tick must be valid JSON (checked with cJSON). Every field
 * also goes through the time parser.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/csv.h"
#include "lib/tick.h"
#include "lib/timestamp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t read_size = 1 + data[0] % 16;
    int fd = memfd_create("fuzz", 0);
    if (fd < 0 || write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
        abort();
    lseek(fd, 0, SEEK_SET);
    struct csv_options options = {.read_size = read_size, .max_record_bytes = 4096};
    tp_err err;
    csv_reader *reader = csv_reader_new(fd, &options, &err);
    char *header_fields[] = {"symbol", "date", "price", "note"};
    size_t header_lengths[] = {6, 4, 5, 4};
    csv_record header = {4, header_fields, header_lengths, 1, 0, NULL};
    tick_schema schema;
    if (tick_schema_init(&schema, &header, NULL, &err) < 0)
        abort();
    schema.kinds[2] = TICK_COLUMN_NUMBER;
    buf json = BUF_INIT;
    csv_record record;
    int rows = 0;
    while (csv_reader_next(reader, &record, &err) == 1 && rows++ < 10000) {
        for (size_t i = 0; i < record.count; i++) {
            int64_t ms;
            (void)timestamp_parse(record.fields[i], record.lengths[i], NULL, &ms);
        }
        struct tick tick;
        if (tick_render(&schema, &record, &json, &tick, &err) == 0) {
            cJSON *parsed = cJSON_ParseWithLength(json.data, json.len);
            if (!parsed || !cJSON_IsObject(parsed))
                abort(); /* a rendered tick must always be valid JSON */
            cJSON_Delete(parsed);
        }
    }
    buf_free(&json);
    tick_schema_free(&schema);
    csv_reader_free(reader);
    close(fd);
    return 0;
}
