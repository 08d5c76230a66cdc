/*
 * query_rpc: calls to AWS services that speak the query protocol (awsQuery:
 * SNS, STS...): a signed form POST of Action, Version and the parameters,
 * answered with XML <ActionResponse><ActionResult>...</ActionResult>.
 *
 * Ownership: *result is the whole parsed answer (free with xml_free); use
 * xml_child(root, "<Action>Result") to reach the result. Parameters are
 * borrowed. Errors: -1 and a tp_err line such as "Publish sns:topic:
 * HTTP 404 NotFound: Topic does not exist (request id ...)".
 */
#ifndef TICKPIPE_AWS_QUERY_RPC_H
#define TICKPIPE_AWS_QUERY_RPC_H

#include <stddef.h>

#include "aws/sigv4.h"
#include "aws/xml.h"
#include "lib/err.h"

struct http_client;
struct creds;

struct query_rpc_service {
    const char *signing_name; /* "sns": SigV4 scope and endpoint */
    const char *api_version;  /* "2010-03-31" */
};

/* Names and values are sent form-encoded in the given order, e.g.
 * {"TopicArn", arn}, {"Message", text}, {"MessageAttributes.entry.1.Name", "k"}. */
int query_rpc_call(struct http_client *http, struct creds *creds,
                   const struct query_rpc_service *service, const char *action, const char *target,
                   const struct sigv4_header *params, size_t param_count, struct xml_node **result,
                   tp_err *err);

#endif
