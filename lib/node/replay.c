/*  replay.c - both halves of gap repair: serving zmesh.replay, and asking for
   it.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

//  A repair under way: one zmesh.replay call in flight to publisher.
typedef struct {
    zmesh_node_t *node;
    char publisher [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    uint64_t to;                //  The last sequence wanted
    uint64_t started;           //  The position it began at, for the log
    uint64_t claimed;           //  Where the publisher said its log now
                                //  begins, until its replay shows it; or 0
} s_repair_t;

void
zmesh__replay_repair_destroy (void **item_p)
{
    zmesh__free (*item_p);
    *item_p = NULL;
}

//  One replayed frame: it must be the publisher's next event. A publisher
//  whose events wait behind one held back for a retry takes none: the
//  repair stops there, and goes on once that is through.
static zmesh_err_t
s_replayed (const void *frame, size_t size, void *arg)
{
    s_repair_t *repair = arg;
    zmesh_node_t *self = repair->node;
    uint64_t *last = zmesh__consume_position (self, repair->publisher);
    if (!last || zmesh__consume_waits (self, repair->publisher))
        return ZMESH_ERR_INTERRUPTED;
    zmesh_envelope_t *event = NULL;
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_envelope_decode (frame, size, &event, &detail);
    if (rc == ZMESH_OK
        && (zmesh_envelope_kind (event) != ZMESH_KIND_EVENT
            || !streq (zmesh_envelope_source (event), repair->publisher)))
        rc = ZMESH_ERR_BAD_REPLY;
    uint64_t seq = rc == ZMESH_OK ? zmesh_envelope_seq (event) : 0;
    if (rc == ZMESH_OK && seq > *last + 1 && seq == repair->claimed) {
        //  The log does begin there: what came before is lost for good.
        zsys_error ("node %s: %s trimmed seq %" PRIu64 " to %" PRIu64
                    " before we had it: lost", self->config.name,
                    repair->publisher, *last + 1, seq - 1);
        *last = seq - 1;
        repair->claimed = 0;
    }
    if (rc == ZMESH_OK && seq > *last) {
        if (seq == *last + 1) {
            self->stats.events_replayed++;
            zmesh__consume_one (self, repair->publisher, last, event, frame,
                                size);
        }
        else
            rc = ZMESH_ERR_BAD_REPLY;   //  A hole in the replay itself
    }
    if (rc)
        zmesh__node_bad_frame (self, "replay", rc, detail.text);
    zmesh_envelope_destroy (&event);
    return rc;
}

static void s_replied (zmesh_node_t *node, zmesh_err_t rc,
                       const zmesh_envelope_t *reply, const char *detail,
                       void *arg);

//  Where to ask for publisher's events: the calls endpoint of the instance
//  itself while it is alive; otherwise of an alive instance of its service
//  (*mate), which has the publisher's log in the store they share.
static const char *
s_replay_at (zmesh_node_t *self, const zmesh__publisher_t *publisher,
             bool *mate)
{
    const char *other = NULL;
    for (size_t index = 0; index < zmesh__peers_count (self->peers);
         index++) {
        zmesh_peer_info_t *peer = zmesh__peers_at (self->peers, index);
        if (peer->state != ZMESH_PEER_ALIVE || !*peer->calls)
            continue;
        if (streq (peer->calls, publisher->calls))
            return publisher->calls;
        if (!other && streq (peer->service, publisher->service))
            other = peer->calls;
    }
    *mate = other != NULL;
    return other ? other : publisher->calls;
}

//  Ask for the events after last up to the repair's end, outside any flow
//  and deadline of the code that found the gap. False if the call could
//  not be made.
static bool
s_ask (zmesh_node_t *self, s_repair_t *repair, uint64_t last)
{
    //  To the instance whose events they are: the one at the other end of
    //  the link its heartbeats came on; or, while it is not alive, to an
    //  instance of its service that is, which has its log in the store
    //  they share
    zmesh__publisher_t *heard = zhashx_lookup (self->durable,
                                               repair->publisher);
    if (!heard || !*heard->calls)
        return false;
    bool mate = false;
    const char *calls = s_replay_at (self, heard, &mate);
    uint8_t request [ZMESH_REPLAY_REQUEST_MAX];
    size_t size = zmesh__replay_request (last + 1, repair->to,
                                         mate ? repair->publisher : NULL,
                                         request);
    zmesh__context_t saved = self->context;
    self->context.active = false;
    self->context.has_deadline = false;
    zmesh_err_t rc = zmesh__call_async_at (self, heard->service, calls,
                                           ZMESH_REPLAY_METHOD, request, size,
                                           NULL, s_replied, repair, true);
    self->context = saved;
    return rc == ZMESH_OK;
}

//  The repair is over, for now: say in one line what it repaired.
static void
s_repair_end (zmesh_node_t *self, s_repair_t *repair, uint64_t last)
{
    if (last > repair->started)
        zsys_info ("node %s: repaired seq %" PRIu64 " to %" PRIu64 " of %s "
                   "by replay", self->config.name, repair->started + 1, last,
                   repair->publisher);
    char publisher [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    snprintf (publisher, sizeof publisher, "%s", repair->publisher);
    zhashx_delete (self->repairs, publisher);
}

//  A batch of the replay has come, or the call failed: consume what came
//  and ask for the next batch, which comes in a later turn, until the gap
//  is filled or no progress is made.
static void
s_replied (zmesh_node_t *self, zmesh_err_t rc, const zmesh_envelope_t *reply,
           const char *detail, void *arg)
{
    s_repair_t *repair = arg;
    uint64_t *last = zmesh__consume_position (self, repair->publisher);
    if (!last) {
        s_repair_end (self, repair, repair->started);
        return;
    }
    uint64_t before = *last;
    if (rc == ZMESH_ERR_APP_ERROR
        && zmesh_envelope_error_code (reply) == ZMESH_REPLAY_TRIMMED) {
        //  Gone, it says: ask for what it says is left, and go on from
        //  there once its replay shows it (s_replayed); a claim alone
        //  moves nothing.
        const char *earliest = zmesh_envelope_header (reply, "earliest");
        uint64_t from = earliest ? strtoull (earliest, NULL, 10) : 0;
        self->stats.ranges_trimmed++;
        if (from > *last + 1 && from <= repair->to && !repair->claimed) {
            repair->claimed = from;
            if (s_ask (self, repair, from - 1))
                return;
        }
        s_repair_end (self, repair, *last);
        return;
    }
    else if (rc == ZMESH_ERR_INTERRUPTED) {
        s_repair_end (self, repair, *last);     //  The node is closing
        return;
    }
    else if (rc != ZMESH_OK) {
        self->stats.replays_failed++;
        zsys_warning ("node %s: replay of %s from %" PRIu64 " failed: %s %s",
                      self->config.name, repair->publisher, *last + 1,
                      zmesh_strerror (rc), detail);
        s_repair_end (self, repair, *last);     //  The next heartbeat
        return;                                 //  tries again
    }
    else {
        uint64_t next = 0;
        zmesh__replay_reply_read (zmesh_envelope_body (reply),
                                  zmesh_envelope_body_size (reply), &next,
                                  s_replayed, repair);
    }
    //  No progress (a bad reply, a held-back event): do not spin
    if (*last >= repair->to || *last == before || !s_ask (self, repair, *last))
        s_repair_end (self, repair, *last);
}

void
zmesh__replay_repair (zmesh_node_t *self, const char *publisher,
                      uint64_t last, uint64_t to)
{
    s_repair_t *repair = zhashx_lookup (self->repairs, publisher);
    if (repair) {
        if (to > repair->to)
            repair->to = to;    //  Under way: it goes on to the new end
        return;
    }
    repair = zmesh__calloc (1, sizeof *repair);
    if (!repair)
        return;
    repair->node = self;
    snprintf (repair->publisher, sizeof repair->publisher, "%s", publisher);
    repair->to = to;
    repair->started = last;
    zhashx_insert (self->repairs, publisher, repair);
    if (!s_ask (self, repair, last))
        s_repair_end (self, repair, last);
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
    if (stored->seq > replaying->to)
        return false;
    zmesh__event_fields_t event;
    if (!zmesh__publish_fields_of (replaying->node, stored, &event, true))
        return false;
    size_t size = zmesh__envelope_pack_event (&event, NULL, 0);
    zframe_t *frame = zframe_new (NULL, size);
    if (!frame)
        return false;
    zmesh__envelope_pack_event (&event, zframe_data (frame), size);
    //  Stop before the reply outgrows its share of the body limit; the
    //  caller asks again from next.
    if (replaying->count > 0
        && replaying->bytes + zframe_size (frame) > ZMESH_REPLAY_BYTES) {
        zframe_destroy (&frame);
        return false;
    }
    replaying->bytes += zframe_size (frame);
    replaying->frames [replaying->count++] = frame;
    replaying->next = stored->seq + 1;
    return replaying->count < ZMESH_REPLAY_BATCH;
}

//  zmesh.replay: the events from..to of this node's log, as published.
void
zmesh__replay_serve (zmesh_node_t *self, const zmesh_envelope_t *request,
                     zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    uint64_t from, to, earliest = 1;
    char publisher [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    zmesh__turn_flush (self);     //  Serve only what is committed
    if (zmesh__replay_request_read (zmesh_envelope_body (request),
                                    zmesh_envelope_body_size (request), &from,
                                    &to, publisher) != ZMESH_OK) {
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_BAD_REQUEST,
                                   "replay wants {from, to} with from <= to");
        return;
    }
    //  Its own log, or that of another instance sharing its store
    if (!*publisher)
        snprintf (publisher, sizeof publisher, "%s", self->config.name);
    zmesh_store_log_earliest (self->store, publisher, &earliest);
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
    zmesh_err_t rc = zmesh_store_read_log (self->store, publisher, from,
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
