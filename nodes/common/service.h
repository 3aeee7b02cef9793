/*  service.h - what the demo services share: JSON bodies, refusals, and
    the main of a node program.

    Part of zmesh. MIT License.
*/
#ifndef SERVICE_H_INCLUDED
#define SERVICE_H_INCLUDED

#include "zmesh.h"

//  A service: attach registers its methods and consumers on node, with the
//  node's config, and keeps what it needs in *state_p; detach frees that.
typedef struct {
    const char *name;           //  Default node name, e.g. "order"
    const char *summary;        //  One line for --help
    const char *stored;         //  Why it needs node/data, e.g. "users are
                                //  kept in the store": checked before attach
    zmesh_err_t (*attach) (zmesh_node_t *node,
                           const zmesh_node_config_t *config, void **state_p);
    void (*detach) (void **state_p);
} service_t;

//  The body of an envelope as a JSON object; NULL (and detail) if it is
//  missing, not msgpack, or not a map. Caller owns the result.
json_t *
    service_body (const zmesh_envelope_t *envelope, zmesh_detail_t *detail);

//  Set value (taken) as the envelope's body.
zmesh_err_t
    service_set_body (zmesh_envelope_t *envelope, json_t *value);

//  Answer with an application error: code (HTTP-like: 400, 404, 409, 422,
//  503) and a message.
void
    service_refuse (zmesh_envelope_t *reply, int code, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  A string field of object, 1 to max bytes, or NULL.
const char *
    service_string (json_t *object, const char *key, size_t max);

//  The longest Idempotency-Key taken, in bytes.
#define SERVICE_KEY_MAX 255

//  The id that a create with an idempotency key (the request's
//  "idempotencyKey", which the gateway sets from the Idempotency-Key
//  header) gives what it makes: the same for the same scope and key, in
//  every process and after every restart, so that a repeat finds what the
//  first one made. text holds ZMESH_UUID_STR_LEN + 1 bytes.
void
    service_keyed_id (const char *scope, const char *key, char *text);

//  Append one event of type with a JSON body (taken) to stream, expecting
//  expected, through the node: stored, then published. key (or NULL: the
//  stream) is what the members of a consuming group divide it by. fold,
//  if not NULL, is given the event as stored (its version, type and body),
//  as a read of the stream would give it, without the read.
zmesh_err_t
    service_append (zmesh_node_t *node, const char *stream, int64_t expected,
                    const char *key, const char *type, json_t *body,
                    zmesh_stored_event_fn *fold, void *arg,
                    zmesh_detail_t *detail);

//  The main of a node program: --config, --set, --name, --help, --version;
//  prints "events=<endpoint> calls=<endpoint>" once up; runs until SIGINT
//  or SIGTERM. Returns the exit code.
int
    service_main (const service_t *service, int argc, char *argv []);

#endif
