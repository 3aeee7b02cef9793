/*  route.h - what the gateway makes of an HTTP request: an answer of its
    own, or a call into the mesh with its JSON body. No I/O, so that any
    request, as bytes, can be fed to it (tests/fuzz/fuzz_gateway_route.c).

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_GATEWAY_ROUTE_H_INCLUDED
#define ZMESH_GATEWAY_ROUTE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    ROUTE_ANSWER,               //  status and body: the gateway's own answer
    ROUTE_METRICS,              //  GET /metrics
    ROUTE_CALL                  //  call method of service with body; status
                                //  is the answer's if it succeeds
} route_kind_t;

typedef struct {
    route_kind_t kind;
    int status;
    const char *service;        //  CALL: "user" or "order"
    char method [32];           //  CALL: "user.get", ...
    json_t *body;               //  ANSWER and CALL (owned; NULL if out of
                                //  memory): the answer, or the call's body
} route_t;

//  The request as the gateway has it: its method, its URL's path (percent-
//  decoded: any byte), its HTTP version, whether it had a Host header, its
//  Idempotency-Key header (or NULL), and its body (size bytes; too_big if
//  it was over the limit and so cut short).
typedef struct {
    const char *method;
    const char *url;
    const char *version;
    bool has_host;
    const char *idempotency_key;
    const char *body;
    size_t size;
    bool too_big;
} route_request_t;

//  Decide request's route into route: bad input gets a 4xx answer that
//  says why, never a call. The caller frees route->body.
void
    route_decide (const route_request_t *request, route_t *route);

#endif
