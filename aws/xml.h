/*
 * xml: a small read-only tree over libexpat for AWS responses (S3 results
 * and errors), tolerant of namespaces: element names are kept without their
 * namespace, so <ListBucketResult xmlns="..."> from AWS, s3rver or MinIO all
 * read alike. Also the escaping helper for the few XML bodies we send.
 *
 * Ownership: xml_parse returns a tree the caller frees with xml_free; node
 * and text pointers live as long as the tree. Errors: NULL plus a tp_err.
 * Limits: documents over XML_MAX_DOCUMENT bytes or deeper than 64 levels
 * are rejected (responses are small; this keeps a hostile peer bounded).
 */
#ifndef TICKPIPE_AWS_XML_H
#define TICKPIPE_AWS_XML_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/err.h"

#define XML_MAX_DOCUMENT (64u << 20)

struct xml_node {
    char *name; /* local name, namespace removed */
    char *text; /* concatenated character data directly inside ("" when none) */
    struct xml_node *first_child;
    struct xml_node *next; /* next sibling */
};

/* Parses a whole document; returns its root element. */
struct xml_node *xml_parse(const char *data, size_t len, tp_err *err);
void xml_free(struct xml_node *root);

/* First child named name, or NULL. */
const struct xml_node *xml_child(const struct xml_node *node, const char *name);
/* Next sibling after node with the same name, or NULL. */
const struct xml_node *xml_next_same(const struct xml_node *node);
/* Text of the first child named name, or NULL when there is no such child. */
const char *xml_child_text(const struct xml_node *node, const char *name);

/* Appends text with &, <, >, ", ' escaped. Returns 0 or -1 (memory). */
int xml_escape(buf *out, const char *text);

#endif
