/*
 * xml: builds the xml_node tree from libexpat's callbacks. Expat is told to
 * split namespaces with a separator so the local name is what follows it;
 * external entities are never loaded (expat's default), and expat 2.4+
 * guards against entity expansion attacks.
 */
#include "aws/xml.h"

#include <expat.h>
#include <stdlib.h>
#include <string.h>

#define XML_NAMESPACE_SEPARATOR '\x01'
#define XML_MAX_DEPTH           64

struct xml_builder {
    struct xml_node *root;
    struct xml_node *stack[XML_MAX_DEPTH];
    struct xml_node *last_child[XML_MAX_DEPTH];
    buf text[XML_MAX_DEPTH];
    int depth;
    int failed; /* 1: out of memory, 2: too deep */
    XML_Parser parser;
};

static void xml_node_free(struct xml_node *node)
{
    while (node) {
        struct xml_node *next = node->next;
        xml_node_free(node->first_child);
        free(node->name);
        free(node->text);
        free(node);
        node = next;
    }
}

void xml_free(struct xml_node *root)
{
    xml_node_free(root);
}

static void xml_on_start(void *data, const XML_Char *name, const XML_Char **attributes)
{
    (void)attributes;
    struct xml_builder *b = data;
    if (b->failed)
        return;
    if (b->depth >= XML_MAX_DEPTH) {
        b->failed = 2;
        XML_StopParser(b->parser, XML_FALSE);
        return;
    }
    const char *local = strrchr(name, XML_NAMESPACE_SEPARATOR);
    local = local ? local + 1 : name;
    struct xml_node *node = calloc(1, sizeof *node);
    if (!node || !(node->name = strdup(local))) {
        free(node);
        b->failed = 1;
        XML_StopParser(b->parser, XML_FALSE);
        return;
    }
    if (b->depth == 0) {
        b->root = node;
    } else {
        struct xml_node *parent = b->stack[b->depth - 1];
        if (b->last_child[b->depth - 1])
            b->last_child[b->depth - 1]->next = node;
        else
            parent->first_child = node;
        b->last_child[b->depth - 1] = node;
    }
    b->stack[b->depth] = node;
    b->last_child[b->depth] = NULL;
    buf_reset(&b->text[b->depth]);
    b->depth++;
}

static void xml_on_end(void *data, const XML_Char *name)
{
    (void)name;
    struct xml_builder *b = data;
    if (b->failed || b->depth == 0)
        return;
    b->depth--;
    buf *text = &b->text[b->depth];
    b->stack[b->depth]->text = buf_detach(text);
}

static void xml_on_text(void *data, const XML_Char *s, int len)
{
    struct xml_builder *b = data;
    if (b->failed || b->depth == 0)
        return;
    if (buf_append(&b->text[b->depth - 1], s, (size_t)len) < 0) {
        b->failed = 1;
        XML_StopParser(b->parser, XML_FALSE);
    }
}

struct xml_node *xml_parse(const char *data, size_t len, tp_err *err)
{
    if (len > XML_MAX_DOCUMENT) {
        tp_err_set(err, TP_ERR_PARSE, "XML document of %zu bytes is too large", len);
        return NULL;
    }
    struct xml_builder b;
    memset(&b, 0, sizeof b);
    b.parser = XML_ParserCreateNS(NULL, XML_NAMESPACE_SEPARATOR);
    if (!b.parser) {
        tp_err_set(err, TP_ERR_INTERNAL, "XML parser: out of memory");
        return NULL;
    }
    XML_SetUserData(b.parser, &b);
    XML_SetElementHandler(b.parser, xml_on_start, xml_on_end);
    XML_SetCharacterDataHandler(b.parser, xml_on_text);
    enum XML_Status status = XML_Parse(b.parser, data, (int)len, XML_TRUE);
    if (b.failed == 2)
        tp_err_set(err, TP_ERR_PARSE, "XML nested deeper than %d levels", XML_MAX_DEPTH);
    else if (b.failed)
        tp_err_set(err, TP_ERR_INTERNAL, "XML parser: out of memory");
    else if (status != XML_STATUS_OK)
        tp_err_set(err, TP_ERR_PARSE, "malformed XML at line %lu: %s",
                   (unsigned long)XML_GetCurrentLineNumber(b.parser),
                   XML_ErrorString(XML_GetErrorCode(b.parser)));
    else if (!b.root)
        tp_err_set(err, TP_ERR_PARSE, "empty XML document");
    int ok = !b.failed && status == XML_STATUS_OK && b.root;
    for (int i = 0; i < XML_MAX_DEPTH; i++)
        buf_free(&b.text[i]);
    XML_ParserFree(b.parser);
    if (!ok) {
        xml_node_free(b.root);
        return NULL;
    }
    /* Elements left open cannot happen once XML_Parse succeeded with
     * isFinal, so every node has its text set. */
    return b.root;
}

const struct xml_node *xml_child(const struct xml_node *node, const char *name)
{
    if (!node)
        return NULL;
    for (const struct xml_node *c = node->first_child; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

const struct xml_node *xml_next_same(const struct xml_node *node)
{
    for (const struct xml_node *c = node->next; c; c = c->next)
        if (strcmp(c->name, node->name) == 0)
            return c;
    return NULL;
}

const char *xml_child_text(const struct xml_node *node, const char *name)
{
    const struct xml_node *child = xml_child(node, name);
    return child ? child->text : NULL;
}

int xml_escape(buf *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        int rc;
        switch (*p) {
        case '&':
            rc = buf_append_str(out, "&amp;");
            break;
        case '<':
            rc = buf_append_str(out, "&lt;");
            break;
        case '>':
            rc = buf_append_str(out, "&gt;");
            break;
        case '"':
            rc = buf_append_str(out, "&quot;");
            break;
        case '\'':
            rc = buf_append_str(out, "&apos;");
            break;
        case '\r':
            rc = buf_append_str(out, "&#13;");
            break;
        default:
            rc = buf_append_char(out, *p);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}
