/*  turn.c - the loop's transaction: what one turn does commits together.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

//  After a commit, send the events it made durable; after a failure,
//  drop them and take the sequence back from the store.
void
zmesh__turn_send_unsent (zmesh_node_t *self, bool committed)
{
    if (!committed) {
        zlistx_purge (self->unsent);
        zmesh_store_head (self->store, &self->seq);
        return;
    }
    zmsg_t *msg;
    while ((msg = zlistx_detach (self->unsent, NULL)))
        if (zmesh__publish_send_msg (self, &msg) == ZMESH_OK)
            self->stats.events_published++;
}

//  Group commit (events/group > 1): commit the open transaction, then
//  send what it held. Events are never sent before they are committed: a
//  crash must not take back a sequence number a subscriber has seen.
zmesh_err_t
zmesh__turn_flush_group (zmesh_node_t *self)
{
    if (!self->group_started_ms)
        return ZMESH_OK;
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_store_commit (self->store, &detail);
    self->group_started_ms = 0;
    if (rc) {
        zsys_error ("node %s: group commit failed, %zu events lost: %s",
                    self->config.name, zlistx_size (self->unsent), detail.text);
        zmesh_store_rollback (self->store);
    }
    zmesh__turn_send_unsent (self, rc == ZMESH_OK);
    return rc;
}

//  Send the replies held for the loop's commit. If it failed, each becomes
//  a mesh error (unavailable, retry after a second) and leaves the reply
//  cache, so that the caller's retry runs the handler again.
static void
s_send_held (zmesh_node_t *self, bool committed)
{
    zmsg_t *msg;
    while ((msg = zlistx_detach (self->held, NULL))) {
        zframe_t *frame = zmsg_last (msg);
        zmesh_envelope_t *reply = NULL;
        if (!committed
            && zmesh_envelope_decode (zframe_data (frame), zframe_size (frame),
                                      &reply, NULL) == ZMESH_OK) {
            char key [2 * ZMESH_UUID_SIZE + 1];
            if (zmesh_envelope_causation (reply)) {
                zmesh__serve_key (zmesh_envelope_causation (reply), key);
                zmesh__serve_uncache (self, key);
            }
            zmesh_envelope_set_body (reply, NULL, 0);
            zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                       ZMESH_MESH_UNAVAILABLE,
                                       "the reply could not be made durable, "
                                       "retry after 1000 ms");
            zmesh_envelope_set_header (reply, "retry-after-ms", "1000");
            zframe_t *error = NULL;
            if (zmesh_envelope_encode (reply, &error, NULL) == ZMESH_OK) {
                zmsg_remove (msg, frame);
                zframe_destroy (&frame);
                zmsg_append (msg, &error);
            }
            zmesh_envelope_destroy (&reply);
        }
        if (zmsg_send (&msg, self->router) != 0)
            zmsg_destroy (&msg);    //  The caller is gone
    }
}

//  Open the loop's transaction, unless it is open: the events and calls
//  one turn of the loop takes share it (zmesh__turn_commit). False if the
//  store cannot begin one.
bool
zmesh__turn_begin (zmesh_node_t *self)
{
    if (self->batching)
        return true;
    zmesh__turn_flush_group (self);
    zmesh_detail_t detail = {""};
    if (zmesh_store_begin (self->store, &detail) != ZMESH_OK) {
        zsys_error ("node %s: cannot begin a transaction: %s",
                    self->config.name, detail.text);
        return false;
    }
    self->batching = true;
    return true;
}

//  What one turn of the loop did is committed together: the events it
//  consumed and the calls it served, so that one fsync covers many under
//  load and one when idle. The events they published and the replies are
//  sent after the commit. If it fails, no event is sent, every reply
//  becomes an error, and the positions are read back from the store, so
//  that the lost events come again by replay.
void
zmesh__turn_commit (zmesh_node_t *self)
{
    if (!self->batching)
        return;
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_store_commit (self->store, &detail);
    self->batching = false;
    if (rc == ZMESH_OK)
        self->stats.batch_commits++;
    else {
        zmesh_store_rollback (self->store);
        //  In place: a repair in progress holds a pointer to its position
        for (uint64_t *last = zhashx_first (self->positions); last;
             last = zhashx_next (self->positions)) {
            bool known = false;
            *last = 0;
            zmesh_inbox_position (self->store, zhashx_cursor (self->positions),
                                  last, &known);
        }
        zsys_error ("node %s: could not commit %zu consumed events, which "
                    "will be replayed, and %zu replies, which are errors: %s",
                    self->config.name, self->consumed_uncommitted,
                    zlistx_size (self->held), detail.text);
    }
    self->consumed_uncommitted = 0;
    zmesh__turn_send_unsent (self, rc == ZMESH_OK);
    s_send_held (self, rc == ZMESH_OK);
}
