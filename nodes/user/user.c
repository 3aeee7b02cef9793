/*  user.c - the user service: users as event streams.

        user.create {name, email[, idempotencyKey]}
                                   ->  {id, name, email}; user.created
                                       (a repeated key: the same user)
        user.get {id}              ->  {id, name, email}, or 404

    Each user is the stream "user-<id>", whose first event is user.created.

    Part of zmesh. MIT License.
*/
#include "service.h"
#include "user.h"

typedef struct {
    json_t *user;
} s_found_t;

static bool
s_first (const zmesh_stored_event_t *event, void *arg)
{
    s_found_t *found = arg;
    if (streq (event->type, "user.created"))
        zmesh_json_from_msgpack (event->body, event->body_size, &found->user,
                                 NULL);
    return false;
}

//  A create with the idempotency key of a user made before (wanted): that
//  user again if it asks for the same name and email, else 422.
static void
s_repeat (zmesh_node_t *node, const char *stream, json_t *wanted,
          zmesh_envelope_t *reply)
{
    s_found_t found = {NULL};
    zmesh_store_read_stream (zmesh_node_store (node), stream, 1, false, 1,
                             s_first, &found, NULL);
    if (found.user && json_equal (found.user, wanted))
        service_set_body (reply, found.user);
    else {
        service_refuse (reply, 422, "this Idempotency-Key was used for "
                        "another user");
        json_decref (found.user);
    }
}

static void
s_create (zmesh_node_t *node, const zmesh_envelope_t *request,
          zmesh_envelope_t *reply, void *arg)
{
    zmesh_rand_t *rand = arg;
    zmesh_detail_t detail = {""};
    json_t *body = service_body (request, &detail);
    const char *name = body ? service_string (body, "name", 100) : NULL;
    const char *email = body ? service_string (body, "email", 200) : NULL;
    if (!name || !email || !strchr (email, '@')) {
        service_refuse (reply, 400, "a user needs a name (1 to 100 bytes) "
                        "and an email with an @%s%s", *detail.text ? ": " : "",
                        detail.text);
        json_decref (body);
        return;
    }
    //  With an idempotency key, the user's id comes from it: a repeat
    //  finds the user the first request made.
    const char *key = service_string (body, "idempotencyKey",
                                      SERVICE_KEY_MAX);
    char text [ZMESH_UUID_STR_LEN + 1], stream [64];
    if (key)
        service_keyed_id ("user", key, text);
    else {
        zmesh_uuid_t id;
        zmesh_uuid_generate (rand, &id);
        zmesh_uuid_unparse (&id, text);
    }
    snprintf (stream, sizeof stream, "user-%s", text);
    json_t *user = json_pack ("{s:s, s:s, s:s}", "id", text, "name", name,
                              "email", email);
    json_decref (body);
    zmesh_err_t rc = service_append (node, stream, ZMESH_VERSION_NO_STREAM,
                                     NULL, "user.created", json_incref (user),
                                     NULL, NULL, &detail);
    if (rc == ZMESH_ERR_CONCURRENCY && key)
        s_repeat (node, stream, user, reply);
    else if (rc != ZMESH_OK)
        service_refuse (reply, 503, "cannot store the user: %s", detail.text);
    else
        service_set_body (reply, json_incref (user));
    json_decref (user);
}

static void
s_get (zmesh_node_t *node, const zmesh_envelope_t *request,
       zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    json_t *body = service_body (request, NULL);
    const char *id = body ? service_string (body, "id", 36) : NULL;
    zmesh_uuid_t parsed;
    if (!id || zmesh_uuid_parse (id, &parsed) != ZMESH_OK) {
        service_refuse (reply, 400, "user.get needs {\"id\": a user id}");
        json_decref (body);
        return;
    }
    char stream [64];
    snprintf (stream, sizeof stream, "user-%s", id);
    s_found_t found = {NULL};
    zmesh_store_read_stream (zmesh_node_store (node), stream, 1, false, 1,
                             s_first, &found, NULL);
    if (found.user)
        service_set_body (reply, found.user);
    else
        service_refuse (reply, 404, "no user %s", id);
    json_decref (body);
}

static zmesh_err_t
s_attach (zmesh_node_t *node, const zmesh_node_config_t *config,
          void **state_p)
{
    (void) config;
    zmesh_rand_t *rand = zmesh_rand_new ();
    if (!rand)
        return ZMESH_ERR_NOMEM;
    *state_p = rand;
    if (zmesh_node_serve (node, "user.create", s_create, rand) != ZMESH_OK
        || zmesh_node_serve (node, "user.get", s_get, NULL) != ZMESH_OK)
        return ZMESH_ERR_INVALID;
    return ZMESH_OK;
}

static void
s_detach (void **state_p)
{
    zmesh_rand_destroy ((zmesh_rand_t **) state_p);
}

const service_t user_service = {
    .name = "user",
    .stored = "users are kept in the store",
    .summary = "The user service of the zmesh demo: user.create, user.get.",
    .attach = s_attach,
    .detach = s_detach};
