/*
 * store_s3: lib/store's object-store interface on Amazon S3 (or any
 * S3-compatible endpoint), rooted at s3://bucket/prefix. Writers spool to
 * a temporary file and upload on commit (one PUT, or a multipart upload
 * for big objects), so memory stays bounded; create-only commits use
 * If-None-Match: *.
 */
#ifndef TICKPIPE_AWS_STORE_S3_H
#define TICKPIPE_AWS_STORE_S3_H

#include "lib/err.h"
#include "lib/store.h"

struct s3_client;

/* url: "s3://bucket" or "s3://bucket/prefix". The client is borrowed and
 * must outlive the store. */
store *store_s3_open(struct s3_client *s3, const char *url, tp_err *err);

#endif
