/*
 * test_aws_xml: the expat-backed tree: namespaces dropped from names,
 * repeated elements, error documents, malformed input, depth limit and
 * escaping of the bodies we send.
 */
#include <string.h>

#include "aws/xml.h"
#include "test/unit/check.h"

static void test_namespaced_list_result(void)
{
    const char *doc = "<?xml version=\"1.0\"?>\n<ListBucketResult "
                      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
                      "<IsTruncated>true</IsTruncated><Contents><Key>a &amp; b</Key><Size>3</Size>"
                      "</Contents><Contents><Key>c</Key></Contents>"
                      "<NextContinuationToken>tok</NextContinuationToken></ListBucketResult>";
    tp_err err;
    struct xml_node *root = xml_parse(doc, strlen(doc), &err);
    CHECK(root != NULL);
    if (!root)
        return;
    CHECK_STR(root->name, "ListBucketResult");
    CHECK_STR(xml_child_text(root, "IsTruncated"), "true");
    CHECK_STR(xml_child_text(root, "NextContinuationToken"), "tok");
    const struct xml_node *c = xml_child(root, "Contents");
    CHECK_STR(xml_child_text(c, "Key"), "a & b");
    c = xml_next_same(c);
    CHECK_STR(xml_child_text(c, "Key"), "c");
    CHECK(xml_next_same(c) == NULL);
    CHECK(xml_child_text(root, "Missing") == NULL);
    xml_free(root);
}

static void test_prefixed_namespace_and_foreign_namespace(void)
{
    const char *doc = "<s:Error xmlns:s=\"urn:x\"><s:Code>NoSuchKey</s:Code>"
                      "<Message xmlns=\"http://other/\">gone</Message></s:Error>";
    struct xml_node *root = xml_parse(doc, strlen(doc), NULL);
    CHECK(root != NULL);
    CHECK_STR(root ? root->name : NULL, "Error");
    CHECK_STR(xml_child_text(root, "Code"), "NoSuchKey");
    CHECK_STR(xml_child_text(root, "Message"), "gone");
    xml_free(root);
}

static void test_malformed_and_empty(void)
{
    tp_err err;
    tp_err_clear(&err);
    CHECK(xml_parse("<a><b></a>", 10, &err) == NULL);
    CHECK(strstr(err.msg, "malformed XML") != NULL);
    CHECK(xml_parse("", 0, &err) == NULL);
    CHECK(xml_parse("<a>", 3, &err) == NULL);
}

static void test_depth_limit(void)
{
    buf doc = BUF_INIT;
    for (int i = 0; i < 100; i++)
        buf_append_str(&doc, "<d>");
    for (int i = 0; i < 100; i++)
        buf_append_str(&doc, "</d>");
    tp_err err;
    tp_err_clear(&err);
    CHECK(xml_parse(doc.data, doc.len, &err) == NULL);
    CHECK(strstr(err.msg, "deeper") != NULL);
    buf_free(&doc);
}

static void test_escape(void)
{
    buf out = BUF_INIT;
    CHECK_INT(xml_escape(&out, "a<b>&\"c'\r"), 0);
    CHECK_STR(out.data, "a&lt;b&gt;&amp;&quot;c&apos;&#13;");
    buf_free(&out);
}

int main(void)
{
    RUN(test_namespaced_list_result);
    RUN(test_prefixed_namespace_and_foreign_namespace);
    RUN(test_malformed_and_empty);
    RUN(test_depth_limit);
    RUN(test_escape);
    CHECK_EXIT();
}
