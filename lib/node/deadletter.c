/*  deadletter.c - dead letters: burying is in consume.c; listing and replaying
   here.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

typedef struct {
    zmesh_node_t *node;
    zlistx_t *letters;          //  Copies of the envelopes, to replay
} s_dead_t;

static bool
s_collect_dead (const zmesh__dead_letter_t *letter, void *arg)
{
    s_dead_t *dead = arg;
    zframe_t *frame = zframe_new (letter->envelope, letter->envelope_size);
    if (frame)
        zlistx_add_end (dead->letters, frame);
    return true;
}

zmesh_err_t
zmesh_node_replay_dead_letters (zmesh_node_t *self, size_t *replayed,
                                size_t *failed, zmesh_detail_t *detail)
{
    assert (self);
    size_t ok = 0, not_ok = 0;
    if (!self->store)
        return ZMESH_ERR_INVALID;
    //  Each letter has a transaction of its own: end the loop's (when the
    //  zmesh.dlq.replay method runs this) and the publish group.
    zmesh__turn_commit (self);
    s_dead_t dead = {self, zlistx_new ()};
    zlistx_set_destructor (dead.letters, zmesh__node_frame_destroy);
    zmesh_err_t rc = zmesh__inbox_dead_letters (self->store, s_collect_dead,
                                               &dead);
    for (zframe_t *frame = zlistx_first (dead.letters); frame && rc == ZMESH_OK;
         frame = zlistx_next (dead.letters)) {
        zmesh_envelope_t *event = NULL;
        if (zmesh_envelope_decode (zframe_data (frame), zframe_size (frame),
                                   &event, detail) != ZMESH_OK) {
            not_ok++;
            continue;
        }
        //  One try each, now: a person asked for it. What the consumers
        //  publish waits for the commit.
        rc = zmesh__turn_begin (self) ? ZMESH_OK : ZMESH_ERR_STORE;
        if (rc == ZMESH_OK) {
            self->busy++;
            bool handled = zmesh__consume_run (self, event, detail)
                           == ZMESH_OK;
            self->busy--;
            if (handled)
                rc = zmesh__inbox_unbury (self->store,
                                         zmesh_envelope_id (event));
            if (rc == ZMESH_OK)
                rc = zmesh__turn_commit (self);
            else
                zmesh__turn_abort (self);
            ok += handled && rc == ZMESH_OK;
            not_ok += !handled;
        }
        zmesh_envelope_destroy (&event);
    }
    zlistx_destroy (&dead.letters);
    if (replayed)
        *replayed = ok;
    if (failed)
        *failed = not_ok;
    return rc;
}

//  A dead letter as JSON: with the event's type only, or with the whole
//  event.
static json_t *
s_letter_json (const zmesh__dead_letter_t *letter, bool whole)
{
    char id [ZMESH_UUID_STR_LEN + 1];
    zmesh_envelope_t *event = NULL;
    zmesh_envelope_decode (letter->envelope, letter->envelope_size, &event,
                           NULL);
    json_t *object = json_pack (
        "{s:s, s:s, s:I, s:s, s:i, s:I}",
        "id", zmesh_uuid_unparse (&letter->event_id, id), "publisher",
        letter->publisher ? letter->publisher : "", "seq",
        (json_int_t) letter->seq, "error", letter->error ? letter->error : "",
        "attempts", letter->attempts, "at", (json_int_t) letter->at);
    if (whole)
        json_object_set_new (object, "event", event
                             ? zmesh_json_from_envelope (event) : json_null ());
    else
        json_object_set_new (object, "type", json_string (
                             event ? zmesh_envelope_type (event) : "?"));
    zmesh_envelope_destroy (&event);
    return object;
}

static bool
s_list_dead (const zmesh__dead_letter_t *letter, void *arg)
{
    json_array_append_new ((json_t *) arg, s_letter_json (letter, false));
    return true;
}

//  zmesh.dlq.list: the node's dead letters, oldest first.
void
zmesh__deadletter_serve_list (zmesh_node_t *self,
                              const zmesh_envelope_t *request,
                              zmesh_envelope_t *reply, void *arg)
{
    (void) request, (void) arg;
    json_t *letters = json_array ();
    zmesh__inbox_dead_letters (self->store, s_list_dead, letters);
    zmesh__builtins_reply_json (reply, letters);
}

typedef struct {
    zmesh_uuid_t id;
    json_t *found;              //  The letter, whole, once found
} s_show_dead_t;

static bool
s_show_dead (const zmesh__dead_letter_t *letter, void *arg)
{
    s_show_dead_t *show = (s_show_dead_t *) arg;
    if (!zmesh_uuid_eq (&letter->event_id, &show->id))
        return true;
    show->found = s_letter_json (letter, true);
    return false;
}

//  zmesh.dlq.show {id}: one dead letter, with the whole event.
void
zmesh__deadletter_serve_show (zmesh_node_t *self,
                              const zmesh_envelope_t *request,
                              zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    json_t *body = zmesh__builtins_request_json (request);
    const char *id = json_string_value (json_object_get (body, "id"));
    s_show_dead_t show = {.found = NULL};
    if (!id || zmesh_uuid_parse (id, &show.id) != ZMESH_OK)
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_BAD_REQUEST,
                                   "zmesh.dlq.show wants {id}: an event id");
    else {
        zmesh__inbox_dead_letters (self->store, s_show_dead, &show);
        if (show.found)
            zmesh__builtins_reply_json (reply, show.found);
        else
            zmesh_envelope_set_status (reply, ZMESH_STATUS_APP_ERROR, 404,
                                       "no dead letter has that id");
    }
    json_decref (body);
}

//  zmesh.dlq.replay: run the consumers on them again.
void
zmesh__deadletter_serve_replay (zmesh_node_t *self,
                                const zmesh_envelope_t *request,
                                zmesh_envelope_t *reply, void *arg)
{
    (void) request, (void) arg;
    size_t replayed = 0, failed = 0;
    zmesh_detail_t detail = {""};
    if (zmesh_node_replay_dead_letters (self, &replayed, &failed, &detail)
        != ZMESH_OK)
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_INTERNAL, detail.text);
    else
        zmesh__builtins_reply_json (
            reply, json_pack ("{s:I, s:I}", "replayed", (json_int_t) replayed,
                              "failed", (json_int_t) failed));
}
