/*  consume.c - reliable consumers: each event once, in order, durably.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

//  The last sequence consumed from publisher, from memory or the store.
static uint64_t *
s_position (zmesh_node_t *self, const char *publisher, bool *known)
{
    uint64_t *last = zhashx_lookup (self->positions, publisher);
    *known = last != NULL;
    if (last)
        return last;
    uint64_t saved = 0;
    if (zmesh_inbox_position (self->store, publisher, &saved, known)
        != ZMESH_OK)
        return NULL;
    last = zmesh__alloc (sizeof *last);
    if (!last)
        return NULL;
    *last = saved;
    zhashx_insert (self->positions, publisher, last);
    return last;
}

//  Run every matching consumer on event, each up to events/attempts times
//  with backoff, inside a savepoint per try so a failed try leaves no
//  writes. Returns ZMESH_OK, or the last error of a consumer that gave up
//  (with detail).
zmesh_err_t
zmesh__consume_run (zmesh_node_t *self, const zmesh_envelope_t *event,
                    int *attempts, zmesh_detail_t *detail)
{
    zmesh__context_t saved;
    zmesh__flow_enter (self, &saved, zmesh_envelope_correlation (event),
                       zmesh_envelope_id (event));
    zmesh_err_t rc = ZMESH_OK;
    *attempts = 0;
    zmesh__subscription_t *consumer = zlistx_first (self->consumers);
    for (; consumer && rc == ZMESH_OK;
         consumer = zlistx_next (self->consumers)) {
        if (!zmesh_topic_matches (consumer->pattern,
                                  zmesh_envelope_type (event)))
            continue;
        for (int attempt = 1; attempt <= self->config.handler_attempts;
             attempt++) {
            *attempts = attempt;
            if (attempt > 1)
                zmesh_clock_sleep (self->clock, (int64_t)
                                   self->config.handler_retry_ms
                                   << (attempt - 2));
            zmesh__turn_mark_t mark;
            zmesh__turn_savepoint (self, &mark);
            rc = consumer->consumer (self, event, consumer->arg, detail);
            if (zmesh__turn_release (self, &mark, rc == ZMESH_OK))
                break;
        }
    }
    zmesh__flow_leave (self, &saved);
    return rc;
}

//  Handle one event of publisher's, which must be the next in its order:
//  run the consumers (or bury the event if they give up), and record it
//  processed and the position moved, all in one savepoint of the loop's
//  turn. last is NULL for a publisher that keeps no log: its sequence numbers start again when it restarts, so only
//  event ids keep repeats out.
void
zmesh__consume_one (zmesh_node_t *self, const char *publisher, uint64_t *last,
                    const zmesh_envelope_t *event, const void *frame,
                    size_t size)
{
    uint64_t seq = zmesh_envelope_seq (event);
    zmesh_detail_t detail = {""};
    if (zmesh__turn_full (self))
        zmesh__turn_commit (self);      //  A long replay commits as it goes
    if (!zmesh__turn_begin (self))
        return;
    zmesh__turn_mark_t mark;
    zmesh__turn_savepoint (self, &mark);
    bool seen = false;
    zmesh_err_t rc = zmesh_inbox_seen (self->store, zmesh_envelope_id (event),
                                       &seen);
    if (rc == ZMESH_OK && seen)
        self->stats.events_repeated++;
    else if (rc == ZMESH_OK) {
        int attempts = 0;
        uint64_t at_us = (uint64_t) zmesh_clock_unix_us (self->clock);
        zmesh_err_t handled
            = zmesh__consume_run (self, event, &attempts, &detail);
        zmesh__tap_trace (self, ZMESH_TRACE_RECEIVED, event, publisher, handled,
                          at_us, 0, NULL);
        if (handled == ZMESH_OK)
            self->stats.events_consumed++;
        else {
            zmesh_dead_letter_t letter = {
                .event_id = *zmesh_envelope_id (event), .publisher = publisher,
                .seq = seq, .envelope = frame, .envelope_size = size,
                .error = detail.text, .attempts = attempts,
                .at = (uint64_t) zmesh_clock_unix_ms (self->clock)};
            rc = zmesh_inbox_bury (self->store, &letter);
            self->stats.dead_letters++;
            zsys_warning ("node %s: %s from %s (seq %" PRIu64 ") buried after "
                          "%d attempts: %s", self->config.name,
                          zmesh_envelope_type (event), publisher, seq, attempts,
                          detail.text);
        }
        if (rc == ZMESH_OK)
            rc = zmesh_inbox_mark (
                self->store, zmesh_envelope_id (event),
                (uint64_t) zmesh_clock_unix_ms (self->clock));
    }
    if (rc == ZMESH_OK && last)
        rc = zmesh_inbox_set_position (self->store, publisher, seq);
    //  What its consumers published goes with it if it fails
    if (zmesh__turn_release (self, &mark, rc == ZMESH_OK)) {
        zmesh__turn_consumed (self);
        if (last)
            *last = seq;
    }
    else
        zsys_error ("node %s: could not record seq %" PRIu64 " of %s: %s",
                    self->config.name, seq, publisher,
                    zmesh_strerror (rc ? rc : ZMESH_ERR_STORE));
}

//  A live event from a publisher: consume it in order, repairing the gap
//  before it first if there is one.
void
zmesh__consume_live (zmesh_node_t *self, const zmesh_envelope_t *event,
                     const void *data, size_t size)
{
    const char *publisher = zmesh_envelope_source (event);
    uint64_t seq = zmesh_envelope_seq (event);
    const char *durable = zhashx_lookup (self->durable, publisher);
    //  Until its first heartbeat says whether it keeps a log, events are
    //  left: if it does, they are replayed, in order, once it beats.
    if (!durable)
        return;
    if (streq (durable, "0")) {
        //  No log, so its numbers restart with it: best effort, ids only.
        zmesh__consume_one (self, publisher, NULL, event, data, size);
        return;
    }
    bool known;
    uint64_t *last = s_position (self, publisher, &known);
    if (!last)
        return;
    if (!known && self->config.start_now)
        *last = seq - 1;        //  Begin with this one
    if (seq <= *last) {
        self->stats.events_repeated++;
        return;
    }
    if (seq > *last + 1)
        zmesh__replay_repair (self, publisher, last, seq - 1);
    if (seq == *last + 1)
        zmesh__consume_one (self, publisher, last, event, data, size);
}

//  A heartbeat says what the publisher's next sequence will be: anything
//  before it that we lack is a lost tail.
void
zmesh__consume_tail (zmesh_node_t *self, const zmesh_envelope_t *beat)
{
    const char *publisher = zmesh_envelope_source (beat);
    uint64_t next = zmesh_envelope_seq (beat);
    const char *durable = zhashx_lookup (self->durable, publisher);
    if (!durable || streq (durable, "0"))
        return;
    bool known;
    uint64_t *last = s_position (self, publisher, &known);
    if (!last)
        return;
    if (!known && self->config.start_now) {
        *last = next - 1;
        zmesh_inbox_set_position (self->store, publisher, *last);
        return;
    }
    if (next > *last + 1)
        zmesh__replay_repair (self, publisher, last, next - 1);
}

zmesh_err_t
zmesh_node_consume (zmesh_node_t *self, const char *pattern,
                    zmesh_consume_fn *handler, void *arg)
{
    assert (self && handler);
    char bytes [ZMESH_TOPIC_MAX];
    if (!self->store || zmesh_topic_subscription (pattern, bytes) < 0)
        return ZMESH_ERR_INVALID;
    zmesh__subscription_t *consumer = zmesh__subscription_new (pattern, arg);
    if (!consumer)
        return ZMESH_ERR_NOMEM;
    consumer->consumer = handler;
    //  Sequence numbers count all of a publisher's events: to see every
    //  one, and so every gap, a consumer takes them all and filters here.
    if (zlistx_size (self->consumers) == 0)
        zsock_set_subscribe (self->sub, "");
    zlistx_add_end (self->consumers, consumer);
    return ZMESH_OK;
}
