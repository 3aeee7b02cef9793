/*  turn.c - the loop's transaction: what one turn does commits together,
    and nothing it makes leaves before that.

    The events and calls that one turn of the loop takes share one
    transaction of the node's store, so that one fsync covers many under
    load and one when idle. Each handler runs in a savepoint of its own,
    so that one that fails takes back only its own writes and the events it
    published. The events published and the replies made are held until
    the commit, for a crash must not take back a sequence number that a
    subscriber has seen, nor a reply that a caller has read. If the commit
    fails, the events are dropped (subscribers get them again by replay,
    once made again), every reply becomes an error that the caller retries,
    and the positions consumed are read back from the store.

    Outside the loop, with events/group above 1, a publish group is the
    same transaction opened by zmesh_node_publish and committed when full,
    events/group_ms later, or at zmesh_node_flush. zmesh_node_publish_async
    opens it too, and the loop's next turn commits it; the confirms it owes
    are decided by the commit and called at the end of that turn, in the
    order the events were published.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

#define HELD_REPLIES    16      //  Replies a turn holds before the array
                                //  grows

void
zmesh__turn_init (zmesh__turn_t *turn)
{
    memset (turn, 0, sizeof *turn);
    turn->events = zlistx_new ();
    zlistx_set_destructor (turn->events, zmesh__publish_msg_destroy_item);
    turn->replies = zmesh__calloc (HELD_REPLIES, sizeof *turn->replies);
    turn->reply_max = turn->replies ? HELD_REPLIES : 0;
}

void
zmesh__turn_fini (zmesh__turn_t *turn)
{
    zlistx_destroy (&turn->events);
    for (size_t index = 0; index < turn->reply_count; index++)
        zmesh__routed_destroy (&turn->replies [index].msg);
    zmesh__free (turn->replies);
    turn->replies = NULL;
    turn->reply_count = turn->reply_max = 0;
    zmesh__free (turn->positions);
    turn->positions = NULL;
    turn->position_count = turn->position_max = 0;
    zmesh__free (turn->confirms);   //  Owed still: never called
    turn->confirms = NULL;
    turn->confirm_count = turn->confirm_max = turn->confirm_decided = 0;
}

//  Send the events held, or drop them and take the sequence back from the
//  store.
static void
s_release_events (zmesh_node_t *self, bool committed)
{
    if (!committed) {
        zlistx_purge (self->turn.events);
        zmesh_store_log_head (self->store, self->config.name, &self->seq);
        return;
    }
    zmesh__event_msg_t *msg;
    while ((msg = zlistx_detach (self->turn.events, NULL)))
        if (zmesh__publish_send_msg (self, &msg) == ZMESH_OK)
            self->stats.events_published++;
}

//  A reply held for a commit that failed becomes a mesh error
//  (unavailable, retry after a second) and leaves the reply cache, so that
//  the caller's retry runs the handler again.
static void
s_reply_failed (zmesh_node_t *self, zmesh__held_reply_t *held)
{
    if (held->keyed)
        zmesh__reply_cache_drop (self->replies, &held->key);
    zmq_msg_t *frame = &held->msg->body;
    zmesh_envelope_t *reply = NULL;
    if (zmesh_envelope_decode (zmq_msg_data (frame), zmq_msg_size (frame),
                               &reply, NULL) != ZMESH_OK)
        return;
    zmesh_envelope_set_body (reply, NULL, 0);
    zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                               ZMESH_MESH_UNAVAILABLE,
                               "the reply could not be made durable, retry "
                               "after 1000 ms");
    zmesh_envelope_set_header (reply, "retry-after-ms", "1000");
    zmq_msg_t error;
    if (zmesh_envelope_encode_msg (reply, &error, NULL) == ZMESH_OK) {
        zmq_msg_move (frame, &error);
        zmq_msg_close (&error);
    }
    zmesh_envelope_destroy (&reply);
}

//  Send a reply's message (taken) on the calls socket, which the next
//  wait then asks again: the send may have taken in its commands.
static void
s_send_routed (zmesh_node_t *self, zmesh__routed_t **msg_p)
{
    zmesh__routed_send (msg_p, zsock_resolve (self->router));
    zmesh__pollset_touch (self->pollset, self->router);
}

static void
s_release_replies (zmesh_node_t *self, bool committed)
{
    for (size_t index = 0; index < self->turn.reply_count; index++) {
        zmesh__held_reply_t *held = &self->turn.replies [index];
        if (!committed)
            s_reply_failed (self, held);
        s_send_routed (self, &held->msg);
    }
    self->turn.reply_count = 0;
}

//  Open the loop's turn, holding the store's write lock (locked) or
//  leaving it to the first write.
static bool
s_begin (zmesh_node_t *self, bool locked)
{
    zmesh__db_t *db = zmesh__store_db (self->store);
    zmesh_detail_t detail = {""};
    zmesh_err_t rc;
    if (self->turn.state == ZMESH__TURN_OPEN)
        rc = locked ? zmesh__db_lock (db, &detail) : ZMESH_OK;
    else {
        zmesh__turn_flush (self);
        rc = locked ? zmesh__db_begin (db, &detail)
                    : zmesh__db_begin_unlocked (db, &detail);
        if (rc == ZMESH_OK)
            self->turn.state = ZMESH__TURN_OPEN;
    }
    if (rc)
        zsys_error ("node %s: cannot begin a transaction: %s",
                    self->config.name, detail.text);
    return rc == ZMESH_OK;
}

bool
zmesh__turn_begin (zmesh_node_t *self)
{
    return s_begin (self, true);
}

bool
zmesh__turn_begin_unlocked (zmesh_node_t *self)
{
    return s_begin (self, false);
}

zmesh_err_t
zmesh__turn_group (zmesh_node_t *self, zmesh_detail_t *detail)
{
    if (self->turn.state != ZMESH__TURN_IDLE)
        return ZMESH_OK;
    zmesh_err_t rc = zmesh_store_begin (self->store, detail);
    if (rc == ZMESH_OK) {
        self->turn.state = ZMESH__TURN_GROUP;
        self->turn.group_started_ms = zmesh_clock_mono_ms (self->clock);
    }
    return rc;
}

void
zmesh__turn_savepoint (zmesh_node_t *self, zmesh__turn_mark_t *mark)
{
    assert (self->turn.state != ZMESH__TURN_IDLE);
    mark->events = zlistx_size (self->turn.events);
    mark->seq = self->seq;
    mark->confirms = self->turn.confirm_count;
    mark->open = zmesh_store_savepoint (self->store, NULL) == ZMESH_OK;
}

bool
zmesh__turn_release (zmesh_node_t *self, const zmesh__turn_mark_t *mark,
                     bool keep)
{
    if (keep && mark->open
        && zmesh_store_release (self->store, NULL) == ZMESH_OK)
        return true;
    if (mark->open)
        zmesh_store_rollback_to (self->store);
    //  What was published since was rolled back: unsend it
    while (zlistx_size (self->turn.events) > mark->events) {
        zlistx_last (self->turn.events);
        zmesh__event_msg_t *msg = zlistx_detach_cur (self->turn.events);
        zmesh__publish_msg_destroy (&msg);
    }
    self->seq = mark->seq;
    //  Their confirms say so once the turn is over: none is called early
    for (size_t index = mark->confirms > self->turn.confirm_decided
                        ? mark->confirms : self->turn.confirm_decided;
         index < self->turn.confirm_count; index++)
        self->turn.confirms [index].rc = ZMESH_ERR_STORE;
    return false;
}

void
zmesh__turn_hold_event (zmesh_node_t *self, zmesh__event_msg_t **msg_p)
{
    assert (self->turn.state != ZMESH__TURN_IDLE);
    if (zlistx_add_end (self->turn.events, *msg_p))
        *msg_p = NULL;
    else
        zmesh__publish_msg_destroy (msg_p);
}

size_t
zmesh__turn_held_events (zmesh_node_t *self)
{
    return zlistx_size (self->turn.events);
}

//  Room for one more confirm, so that an event appended always has one.
bool
zmesh__turn_confirm_reserve (zmesh_node_t *self)
{
    zmesh__turn_t *turn = &self->turn;
    if (turn->confirm_count < turn->confirm_max)
        return true;
    size_t max = turn->confirm_max ? turn->confirm_max * 2 : 64;
    zmesh__confirm_t *grown
        = zmesh__realloc (turn->confirms, max * sizeof *grown);
    if (!grown)
        return false;
    turn->confirms = grown;
    turn->confirm_max = max;
    return true;
}

//  Owe a confirm for the event appended with seq (room reserved).
void
zmesh__turn_confirm_add (zmesh_node_t *self, zmesh_confirm_fn *fn, void *arg,
                         uint64_t seq)
{
    zmesh__turn_t *turn = &self->turn;
    assert (turn->confirm_count < turn->confirm_max);
    turn->confirms [turn->confirm_count++]
        = (zmesh__confirm_t) {fn, arg, seq, ZMESH_OK};
}

//  The commit (rc ZMESH_OK) or its failure decides every confirm owed.
static void
s_decide_confirms (zmesh_node_t *self, zmesh_err_t rc)
{
    zmesh__turn_t *turn = &self->turn;
    for (size_t index = turn->confirm_decided; index < turn->confirm_count;
         index++) {
        zmesh__confirm_t *confirm = &turn->confirms [index];
        if (confirm->rc == ZMESH_OK)
            confirm->rc = rc;
        if (confirm->rc != ZMESH_OK)
            confirm->seq = 0;
    }
    turn->confirm_decided = turn->confirm_count;
}

//  Call the confirms decided, in order. A confirm may publish again (its
//  confirm is owed after these) or flush, which calls those it decides
//  from here, once.
void
zmesh__turn_confirm_deliver (zmesh_node_t *self)
{
    zmesh__turn_t *turn = &self->turn;
    if (turn->confirming || turn->confirm_decided == 0)
        return;
    turn->confirming = true;
    size_t called = 0;
    for (; called < turn->confirm_decided; called++) {
        zmesh__confirm_t confirm = turn->confirms [called];
        confirm.fn (self, confirm.rc, confirm.seq, confirm.arg);
    }
    memmove (turn->confirms, turn->confirms + called,
             (turn->confirm_count - called) * sizeof *turn->confirms);
    turn->confirm_count -= called;
    turn->confirm_decided = 0;
    turn->confirming = false;
}

void
zmesh__turn_reply (zmesh_node_t *self, zmesh__routed_t **msg_p,
                   const zmesh_uuid_t *key)
{
    zmesh__turn_t *turn = &self->turn;
    if (turn->state == ZMESH__TURN_OPEN) {
        if (turn->reply_count == turn->reply_max) {
            size_t max = turn->reply_max ? turn->reply_max * 2 : HELD_REPLIES;
            zmesh__held_reply_t *grown
                = zmesh__realloc (turn->replies, max * sizeof *grown);
            if (!grown) {
                zmesh__routed_destroy (msg_p);  //  Out of memory: it retries
                return;
            }
            turn->replies = grown;
            turn->reply_max = max;
        }
        zmesh__held_reply_t *held = &turn->replies [turn->reply_count++];
        held->msg = *msg_p;
        held->keyed = key != NULL;
        if (key)
            held->key = *key;
        *msg_p = NULL;
    }
    else
        s_send_routed (self, msg_p);
}

void
zmesh__turn_consumed (zmesh_node_t *self)
{
    self->turn.consumed++;
}

//  A position is written once a turn, not with each event: a row updated
//  again in each savepoint of a transaction gets a PostgreSQL MultiXact
//  per update, which every later look at the row pays for.
void
zmesh__turn_position (zmesh_node_t *self, const char *publisher,
                      uint64_t seq)
{
    zmesh__turn_t *turn = &self->turn;
    assert (turn->state == ZMESH__TURN_OPEN);
    size_t index = 0;
    while (index < turn->position_count
           && !streq (turn->positions [index].publisher, publisher))
        index++;
    if (index == turn->position_max) {
        size_t max = turn->position_max ? turn->position_max * 2 : 8;
        zmesh__turn_position_t *grown
            = zmesh__realloc (turn->positions, max * sizeof *grown);
        if (!grown) {               //  Now, then
            zmesh__inbox_set_position (self->store, publisher, seq);
            return;
        }
        turn->positions = grown;
        turn->position_max = max;
    }
    if (index == turn->position_count) {
        snprintf (turn->positions [index].publisher,
                  sizeof turn->positions [index].publisher, "%s", publisher);
        turn->position_count++;
    }
    turn->positions [index].seq = seq;
}

bool
zmesh__turn_full (zmesh_node_t *self)
{
    return self->turn.consumed >= CONSUME_BATCH_MAX;
}

//  Confirms owed make the group due since it began: the loop's next turn
//  commits it, and calls those its commit (or an earlier one) decided.
int64_t
zmesh__turn_due_ms (zmesh_node_t *self)
{
    if (self->turn.confirm_count > 0)
        return self->turn.group_started_ms;
    return self->turn.state == ZMESH__TURN_GROUP
           ? self->turn.group_started_ms + self->config.group_ms
           : INT64_MAX;
}

zmesh_err_t
zmesh__turn_flush (zmesh_node_t *self)
{
    return self->turn.state == ZMESH__TURN_GROUP ? zmesh__turn_commit (self)
                                                 : ZMESH_OK;
}

//  Commit what is open, or abort it (commit false), and release what it
//  held accordingly.
static zmesh_err_t
s_end (zmesh_node_t *self, bool commit)
{
    zmesh__turn_state_t state = self->turn.state;
    if (state == ZMESH__TURN_IDLE)
        return ZMESH_OK;
    zmesh_detail_t detail = {"aborted"};
    zmesh_err_t rc = commit ? ZMESH_OK : ZMESH_ERR_STORE;
    if (commit)
        zmesh__consume_save (self);
    for (size_t index = 0; rc == ZMESH_OK && index < self->turn.position_count;
         index++)
        if (zmesh__inbox_set_position (self->store,
                                       self->turn.positions [index].publisher,
                                       self->turn.positions [index].seq)) {
            snprintf (detail.text, sizeof detail.text, "cannot record the "
                      "position of %s", self->turn.positions [index].publisher);
            rc = ZMESH_ERR_STORE;
        }
    self->turn.position_count = 0;
    if (rc == ZMESH_OK)
        rc = zmesh_store_commit (self->store, &detail);
    self->turn.state = ZMESH__TURN_IDLE;
    if (rc == ZMESH_OK && state == ZMESH__TURN_OPEN)
        self->stats.batch_commits++;
    else if (rc && state == ZMESH__TURN_GROUP) {
        zsys_error ("node %s: group commit failed, %zu events lost: %s",
                    self->config.name, zlistx_size (self->turn.events),
                    detail.text);
        zmesh_store_rollback (self->store);
    }
    else if (rc) {
        zmesh_store_rollback (self->store);
        //  In place: a repair in progress holds a pointer to its position.
        //  The walk starts again from there, and finds again what it had
        //  left to other members of the group.
        zhashx_purge (self->pending);
        for (uint64_t *last = zhashx_first (self->positions); last;
             last = zhashx_next (self->positions)) {
            bool known = false;
            *last = 0;
            zmesh__inbox_position (self->store, zhashx_cursor (self->positions),
                                  last, &known);
        }
        //  A full disk fails every turn: one line a second says so.
        int64_t now = zmesh_clock_mono_ms (self->clock);
        if (self->turn.reported_ms && now - self->turn.reported_ms < 1000)
            self->turn.failed++;
        else {
            zsys_error ("node %s: could not commit %zu consumed events, "
                        "which will be replayed, and %zu replies, which are "
                        "errors: %s (%" PRIu64 " more failed since the last "
                        "report)", self->config.name, self->turn.consumed,
                        self->turn.reply_count, detail.text,
                        self->turn.failed);
            self->turn.failed = 0;
            self->turn.reported_ms = now;
        }
    }
    self->turn.consumed = 0;
    s_release_events (self, rc == ZMESH_OK);
    s_release_replies (self, rc == ZMESH_OK);
    s_decide_confirms (self, rc == ZMESH_OK ? ZMESH_OK : ZMESH_ERR_STORE);
    return rc;
}

zmesh_err_t
zmesh__turn_commit (zmesh_node_t *self)
{
    return s_end (self, true);
}

void
zmesh__turn_abort (zmesh_node_t *self)
{
    s_end (self, false);
}
