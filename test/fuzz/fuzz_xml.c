/*
 * fuzz_xml: arbitrary bytes into the expat-backed tree (walked and freed),
 * and an escape/parse round trip: any text xml_escape writes must parse
 * back to the same text whenever expat accepts the characters.
 * Build: clang -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I. \
 *   test/fuzz/fuzz_xml.c aws/xml.c lib/buf.c lib/err.c -lexpat
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/xml.h"

static size_t walk(const struct xml_node *node, int depth)
{
    size_t count = 0;
    for (; node; node = node->next) {
        if (!node->name || !node->text || depth > 64)
            abort();
        count += 1 + walk(node->first_child, depth + 1);
        if (node->first_child)
            (void)xml_child_text(node, node->first_child->name);
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tp_err err;
    struct xml_node *root = xml_parse((const char *)data, size, &err);
    if (root) {
        walk(root, 0);
        xml_free(root);
    }

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    buf doc = BUF_INIT;
    buf_append_str(&doc, "<a>");
    xml_escape(&doc, text);
    buf_append_str(&doc, "</a>");
    root = xml_parse(doc.data, doc.len, NULL);
    if (root && strcmp(root->text, text) != 0 && !strchr(text, '\r'))
        abort();
    xml_free(root);
    buf_free(&doc);
    free(text);
    return 0;
}
