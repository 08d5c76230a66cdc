/*
 * catalog_glue: lib/catalog's interface on the AWS Glue Data Catalog, so
 * `crawl --catalog glue` writes the same TableInput/PartitionInput
 * documents the local catalog stores.
 * Ownership: the glue client is borrowed and must outlive the catalog.
 */
#ifndef TICKPIPE_AWS_CATALOG_GLUE_H
#define TICKPIPE_AWS_CATALOG_GLUE_H

#include "aws/glue.h"
#include "lib/catalog.h"

catalog *catalog_glue_open(glue_client *glue, tp_err *err);

#endif
