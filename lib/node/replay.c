/*  replay.c - both halves of gap repair: serving zmesh.replay, and asking for
   it.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

typedef struct {
    zmesh_node_t *node;
    const char *publisher;
    uint64_t *last;
} s_repair_t;

//  One replayed frame: it must be the publisher's next event.
static zmesh_err_t
s_replayed (const void *frame, size_t size, void *arg)
{
    s_repair_t *repair = arg;
    zmesh_envelope_t *event = NULL;
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_envelope_decode (frame, size, &event, &detail);
    if (rc == ZMESH_OK
        && (zmesh_envelope_kind (event) != ZMESH_KIND_EVENT
            || !streq (zmesh_envelope_source (event), repair->publisher)))
        rc = ZMESH_ERR_BAD_REPLY;
    if (rc == ZMESH_OK && zmesh_envelope_seq (event) > *repair->last) {
        if (zmesh_envelope_seq (event) == *repair->last + 1) {
            repair->node->stats.events_replayed++;
            zmesh__consume_one (repair->node, repair->publisher, repair->last,
                                event, frame, size);
        }
        else
            rc = ZMESH_ERR_BAD_REPLY;   //  A hole in the replay itself
    }
    if (rc)
        zmesh__node_bad_frame (repair->node, "replay", rc, detail.text);
    zmesh_envelope_destroy (&event);
    return rc;
}

//  Fill the gap after *last up to to, from the publisher's log.
static void
s_repair_range (zmesh_node_t *self, const char *publisher, uint64_t *last,
                uint64_t to)
{
    s_repair_t repair = {self, publisher, last};
    while (*last < to) {
        uint8_t request [32];
        size_t size = zmesh__replay_request (*last + 1, to, request);
        zmesh_envelope_t *reply = NULL;
        zmesh_detail_t detail = {""};
        zmesh_err_t rc = zmesh_node_call (self, publisher, ZMESH_REPLAY_METHOD,
                                          request, size, 0, &reply, &detail);
        if (rc == ZMESH_ERR_APP_ERROR
            && zmesh_envelope_error_code (reply) == ZMESH_REPLAY_TRIMMED) {
            //  Gone for good: say so, and go on from what is left.
            const char *earliest = zmesh_envelope_header (reply, "earliest");
            uint64_t from = earliest ? strtoull (earliest, NULL, 10) : 0;
            zsys_error ("node %s: %s trimmed seq %" PRIu64 " to %" PRIu64
                        " before we had it: lost", self->config.name,
                        publisher, *last + 1, from - 1);
            self->stats.ranges_trimmed++;
            zmesh_envelope_destroy (&reply);
            if (from <= *last + 1)
                return;
            *last = from - 1;
            zmesh_inbox_set_position (self->store, publisher, *last);
            continue;
        }
        if (rc != ZMESH_OK) {
            self->stats.replays_failed++;
            zsys_warning ("node %s: replay of %s from %" PRIu64 " failed: %s "
                          "%s", self->config.name, publisher, *last + 1,
                          zmesh_strerror (rc), detail.text);
            zmesh_envelope_destroy (&reply);
            return;             //  The next heartbeat tries again
        }
        uint64_t next = 0, before = *last;
        rc = zmesh__replay_reply_read (zmesh_envelope_body (reply),
                                       zmesh_envelope_body_size (reply), &next,
                                       s_replayed, &repair);
        zmesh_envelope_destroy (&reply);
        if (rc != ZMESH_OK || *last == before)
            return;             //  No progress: do not spin
    }
}

//  Repair, and say in one line what was repaired.
void
zmesh__replay_repair (zmesh_node_t *self, const char *publisher, uint64_t *last,
                      uint64_t to)
{
    uint64_t before = *last;
    //  Its calls keep a shared node's lock: last points into positions.
    self->busy++;
    s_repair_range (self, publisher, last, to);
    self->busy--;
    if (*last > before)
        zsys_info ("node %s: repaired seq %" PRIu64 " to %" PRIu64 " of %s "
                   "by replay", self->config.name, before + 1, *last,
                   publisher);
}

typedef struct {
    zmesh_node_t *node;
    uint64_t to;                //  Last sequence asked for
    uint64_t next;              //  First sequence not in the reply
    zframe_t *frames [ZMESH_REPLAY_BATCH];
    size_t count;
    size_t bytes;
} s_replaying_t;

static bool
s_replay_one (const zmesh_stored_event_t *stored, void *arg)
{
    s_replaying_t *replaying = arg;
    if (stored->position > replaying->to)
        return false;
    zmesh_envelope_t *event
        = zmesh__publish_envelope_of (replaying->node, stored);
    zframe_t *frame = NULL;
    if (!event || zmesh_envelope_encode (event, &frame, NULL) != ZMESH_OK) {
        zmesh_envelope_destroy (&event);
        return false;
    }
    zmesh_envelope_destroy (&event);
    //  Stop before the reply outgrows its share of the body limit; the
    //  caller asks again from next.
    if (replaying->count > 0
        && replaying->bytes + zframe_size (frame) > ZMESH_REPLAY_BYTES) {
        zframe_destroy (&frame);
        return false;
    }
    replaying->bytes += zframe_size (frame);
    replaying->frames [replaying->count++] = frame;
    replaying->next = stored->position + 1;
    return replaying->count < ZMESH_REPLAY_BATCH;
}

//  zmesh.replay: the events from..to of this node's log, as published.
void
zmesh__replay_serve (zmesh_node_t *self, const zmesh_envelope_t *request,
                     zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    uint64_t from, to, earliest = 1;
    zmesh__turn_flush (self);     //  Serve only what is committed
    if (zmesh__replay_request_read (zmesh_envelope_body (request),
                                    zmesh_envelope_body_size (request), &from,
                                    &to) != ZMESH_OK) {
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_BAD_REQUEST,
                                   "replay wants {from, to} with from <= to");
        return;
    }
    zmesh_store_earliest (self->store, &earliest);
    if (from < earliest) {
        char text [96];
        snprintf (text, sizeof text, "%" PRIu64, earliest);
        zmesh_envelope_set_header (reply, "earliest", text);
        snprintf (text, sizeof text, "trimmed: %s keeps events from %" PRIu64,
                  self->config.name, earliest);
        zmesh_envelope_set_status (reply, ZMESH_STATUS_APP_ERROR,
                                   ZMESH_REPLAY_TRIMMED, text);
        return;
    }
    s_replaying_t replaying = {.node = self, .to = to, .next = from};
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_store_read_all (self->store, from,
                                           ZMESH_REPLAY_BATCH + 1, s_replay_one,
                                           &replaying, &detail);
    void *body = NULL;
    size_t size = 0;
    if (rc == ZMESH_OK)
        rc = zmesh__replay_reply (replaying.next, replaying.frames,
                                  replaying.count, &body, &size);
    if (rc == ZMESH_OK)
        rc = zmesh_envelope_set_body (reply, body, size);
    if (rc != ZMESH_OK)
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_INTERNAL, detail.text);
    free (body);
    for (size_t index = 0; index < replaying.count; index++)
        zframe_destroy (&replaying.frames [index]);
}
