/*  route.c - what the gateway makes of an HTTP request.

    Part of zmesh. MIT License.
*/
#include <string.h>
#include "route.h"
#include "zmesh.h"

static void
s_answer (route_t *route, int status, const char *message)
{
    route->kind = ROUTE_ANSWER;
    route->status = status;
    route->body = json_pack ("{s:s}", "error", message);
}

//  The id after prefix in url ("/users/<id>"), or NULL.
static const char *
s_tail (const char *url, const char *prefix)
{
    size_t length = strlen (prefix);
    return strncmp (url, prefix, length) == 0 && url [length]
           && !strchr (url + length, '/') ? url + length : NULL;
}

//  An Idempotency-Key we take: 1 to 255 printable ASCII characters.
static bool
s_key_valid (const char *key)
{
    size_t length = strnlen (key, 256);
    if (length < 1 || length > 255)
        return false;
    for (size_t index = 0; index < length; index++)
        if (key [index] < 0x20 || key [index] > 0x7e)
            return false;
    return true;
}

//  GET of one resource by its id. The path may hold any byte: only a UUID
//  goes on into the mesh, in its canonical form.
static void
s_get_by_id (route_t *route, const char *service, const char *id)
{
    zmesh_uuid_t parsed;
    if (zmesh_uuid_parse (id, &parsed) != ZMESH_OK) {
        char message [64];
        snprintf (message, sizeof message, "a %s id is a UUID", service);
        s_answer (route, 400, message);
        return;
    }
    char canonical [ZMESH_UUID_STR_LEN + 1];
    route->kind = ROUTE_CALL;
    route->status = 200;
    route->service = service;
    snprintf (route->method, sizeof route->method, "%s.get", service);
    route->body = json_pack ("{s:s}", "id",
                             zmesh_uuid_unparse (&parsed, canonical));
}

void
route_decide (const route_request_t *request, route_t *route)
{
    memset (route, 0, sizeof *route);
    //  HTTP/1.1 requires Host (RFC 9112, section 3.2): a request without
    //  it is refused, as servers must.
    if (strcmp (request->version, "HTTP/1.1") == 0 && !request->has_host) {
        s_answer (route, 400, "an HTTP/1.1 request needs a Host header");
        return;
    }
    bool post = strcmp (request->method, "POST") == 0;
    bool get = strcmp (request->method, "GET") == 0;
    const char *url = request->url, *id;
    if (get && strcmp (url, "/health") == 0) {
        route->kind = ROUTE_ANSWER;
        route->status = 200;
        route->body = json_pack ("{s:s}", "status", "ok");
        return;
    }
    if (get && strcmp (url, "/metrics") == 0) {
        route->kind = ROUTE_METRICS;
        route->status = 200;
        return;
    }
    if (get && (id = s_tail (url, "/users/"))) {
        s_get_by_id (route, "user", id);
        return;
    }
    if (get && (id = s_tail (url, "/orders/"))) {
        s_get_by_id (route, "order", id);
        return;
    }
    bool users = strcmp (url, "/users") == 0;
    bool orders = strcmp (url, "/orders") == 0;
    if (!post || (!users && !orders)) {
        s_answer (route, post || get ? 404 : 405,
                  "no such route: see GET /health, POST /users, POST /orders");
        return;
    }
    if (request->too_big) {
        s_answer (route, 413, "the body is over 64 KiB");
        return;
    }
    json_t *body = NULL;
    zmesh_detail_t detail = {""};
    if (zmesh_json_parse (request->body, request->size, &body, &detail)
        != ZMESH_OK) {
        s_answer (route, 400, detail.text);
        return;
    }
    if (!json_is_object (body)) {
        json_decref (body);
        s_answer (route, 400, "the body must be a JSON object");
        return;
    }
    //  Idempotency-Key (the IETF httpapi draft): the same key makes one
    //  order or user, however often it is sent; the service keeps it, as
    //  the body's "idempotencyKey".
    const char *key = request->idempotency_key;
    json_object_del (body, "idempotencyKey");
    if (key && !s_key_valid (key)) {
        json_decref (body);
        s_answer (route, 400,
                  "Idempotency-Key is 1 to 255 printable characters");
        return;
    }
    if (key)
        json_object_set_new (body, "idempotencyKey", json_string (key));
    route->kind = ROUTE_CALL;
    route->status = 201;
    route->service = users ? "user" : "order";
    snprintf (route->method, sizeof route->method, "%s",
              users ? "user.create" : "order.create");
    route->body = body;
}
