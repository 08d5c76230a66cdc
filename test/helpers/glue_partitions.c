/*
 * glue_partitions: drives aws/glue's BatchCreatePartition (chunks of 100,
 * AlreadyExists counted as done), BatchUpdatePartition (chunks of 100,
 * per-entry errors) and GetPartitions (paging) directly, for the
 * integration tests that need partitions the crawler would not send:
 *   glue_partitions create DATABASE TABLE VALUE...   prints "created N"
 *   glue_partitions update DATABASE TABLE VALUE...   prints "updated N"; each
 *       partition's Location becomes s3://updated/VALUE/
 *   glue_partitions count DATABASE TABLE             prints the partition count
 * Credentials, region and endpoint come from the usual chain. Exit 1 with
 * the error line on stderr when a call fails.
 */
#include <stdio.h>

#include "aws/creds.h"
#include "aws/glue.h"
#include "aws/http.h"
#include "lib/log.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: glue_partitions create|update|count DATABASE TABLE [VALUE...]\n");
        return 2;
    }
    log_set_program("glue_partitions");
    tp_err err;
    tp_err_clear(&err);
    struct http_client *http = http_client_new(NULL, &err);
    struct creds_options options = {NULL, NULL, NULL};
    struct creds *creds = http ? creds_new(&options, http, &err) : NULL;
    glue_client *glue = creds ? glue_client_new(http, creds, &err) : NULL;
    int rc = glue ? 0 : -1;
    if (rc == 0 && argv[1][0] == 'c' && argv[1][1] == 'r') {
        cJSON *inputs = cJSON_CreateArray();
        for (int i = 4; i < argc; i++) {
            cJSON *input = cJSON_CreateObject();
            cJSON_AddItemToArray(cJSON_AddArrayToObject(input, "Values"),
                                 cJSON_CreateString(argv[i]));
            cJSON_AddItemToArray(inputs, input);
        }
        long long created = 0;
        rc = glue_batch_create_partition(glue, argv[2], argv[3], inputs, &created, &err);
        printf("created %lld\n", created);
        cJSON_Delete(inputs);
    } else if (rc == 0 && argv[1][0] == 'u') {
        cJSON *entries = cJSON_CreateArray();
        for (int i = 4; i < argc; i++) {
            char location[600];
            snprintf(location, sizeof location, "s3://updated/%s/", argv[i]);
            cJSON *entry = cJSON_CreateObject();
            cJSON_AddItemToArray(cJSON_AddArrayToObject(entry, "PartitionValueList"),
                                 cJSON_CreateString(argv[i]));
            cJSON *input = cJSON_AddObjectToObject(entry, "PartitionInput");
            cJSON_AddItemToArray(cJSON_AddArrayToObject(input, "Values"),
                                 cJSON_CreateString(argv[i]));
            cJSON_AddStringToObject(cJSON_AddObjectToObject(input, "StorageDescriptor"), "Location",
                                    location);
            cJSON_AddItemToArray(entries, entry);
        }
        long long updated = 0;
        rc = glue_batch_update_partition(glue, argv[2], argv[3], entries, &updated, &err);
        printf("updated %lld\n", updated);
        cJSON_Delete(entries);
    } else if (rc == 0) {
        cJSON *partitions = NULL;
        rc = glue_get_partitions(glue, argv[2], argv[3], &partitions, &err);
        if (rc == 0)
            printf("%d\n", cJSON_GetArraySize(partitions));
        cJSON_Delete(partitions);
    }
    if (rc < 0)
        fprintf(stderr, "glue_partitions: %s\n", err.msg);
    glue_client_free(glue);
    creds_free(creds);
    http_client_free(http);
    return rc < 0 ? 1 : 0;
}
