/*  fuzz_gateway_route.c - libFuzzer target: what the gateway makes of an
    HTTP request (nodes/gateway/route.c), from its method, path, version,
    Host and Idempotency-Key headers and body.

    The input's first byte picks the method (GET, POST, or the bytes up to
    the first NUL) and whether there is a Host header and an
    Idempotency-Key; then come the path, the version and the key, each
    ended by a NUL, and the rest is the body. Any bytes: never a crash,
    leak or hang; an answer has a status of 100 to 599 and a body that
    writes out as JSON; a call goes to user or order with a JSON object,
    and its GETs with an id in canonical UUID form.

    Part of zmesh. MIT License.
*/
#include <string.h>
#include "route.h"
#include "zmesh.h"

//  The next NUL-ended field of data, copied into field (size bytes), or
//  the rest if there is no NUL; advances *at.
static void
s_field (const uint8_t *data, size_t size, size_t *at, char *field,
         size_t field_size)
{
    size_t length = 0;
    while (*at < size && data [*at] && length + 1 < field_size)
        field [length++] = (char) data [(*at)++];
    field [length] = 0;
    while (*at < size && data [*at])
        (*at)++;                //  What did not fit
    if (*at < size)
        (*at)++;                //  The NUL
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t choice = data [0];
    size_t at = 1;
    char method [32], url [4096], version [32], key [512];
    static const char *methods [] = {"GET", "POST", "PUT", "DELETE"};
    if ((choice & 7) < 4)
        snprintf (method, sizeof method, "%s", methods [choice & 3]);
    else
        s_field (data, size, &at, method, sizeof method);
    s_field (data, size, &at, url, sizeof url);
    s_field (data, size, &at, version, sizeof version);
    s_field (data, size, &at, key, sizeof key);
    route_request_t request = {
        .method = method, .url = url,
        .version = choice & 8 ? "HTTP/1.0" : *version ? version : "HTTP/1.1",
        .has_host = (choice & 16) != 0,
        .idempotency_key = choice & 32 ? key : NULL,
        .body = (const char *) data + at, .size = size - at,
        .too_big = (choice & 64) != 0};
    route_t route;
    route_decide (&request, &route);
    switch (route.kind) {
        case ROUTE_ANSWER: {
            char *text = route.body ? json_dumps (route.body, JSON_COMPACT)
                                    : NULL;
            if (route.status < 100 || route.status > 599
                || (route.body && !text))
                __builtin_trap ();
            free (text);
            break;
        }
        case ROUTE_METRICS:
            if (route.body)
                __builtin_trap ();
            break;
        case ROUTE_CALL: {
            bool user = route.service && strcmp (route.service, "user") == 0;
            bool order = route.service && strcmp (route.service, "order") == 0;
            if ((!user && !order) || !json_is_object (route.body)
                || !zmesh_envelope_name_valid (route.method, 64))
                __builtin_trap ();
            const char *id = json_string_value (json_object_get (route.body,
                                                                 "id"));
            zmesh_uuid_t parsed;
            char canonical [ZMESH_UUID_STR_LEN + 1];
            if (route.status == 200
                && (!id || zmesh_uuid_parse (id, &parsed) != ZMESH_OK
                    || strcmp (zmesh_uuid_unparse (&parsed, canonical), id)))
                __builtin_trap ();
            break;
        }
        default:
            __builtin_trap ();
    }
    json_decref (route.body);
    return 0;
}
