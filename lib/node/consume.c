/*  consume.c - reliable consumers: each event once, in order, durably.

    Each event is handled in a savepoint of the loop's turn, together with
    the record of its id as processed; the publisher's new position goes
    in the same transaction, once, as the turn commits. A handler that
    fails has the whole event taken back and tried again
    events/retry_delay x 2^n ms later, from a timer: meanwhile the node
    goes on with everything else, and the publisher's later events wait
    behind it, in order (at most CONSUME_BATCH_MAX of them; a publisher
    with a log has those over that replayed afterwards). After
    events/attempts tries the event goes to the dead letters and its
    publisher goes on.

    The members of a group (the instances of a service, on one shared
    store) divide each publisher's events by key. Each member walks every
    event, handles those it owns, and keeps the others pending until the
    store shows them handled, by their owner or by anyone: its recorded
    position never passes an event the group has not handled, so an owner
    that dies leaves its events pending at the others, and the one that
    owns them when the members change handles them. That the event's id
    is recorded as processed in the same transaction as its handling,
    under the store's one write lock, keeps out a second handling when two
    members both think they own a key for a moment.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

//  A publisher whose next event failed and waits to be tried again.
typedef struct {
    char publisher [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    zframe_t *frame;            //  The event, as it came
    bool durable;               //  The publisher keeps a log
    int attempts;               //  Tries made
    int64_t retry_ms;           //  Monotonic: when to try again
    zlistx_t *waiting;          //  Frames of its events that came since
    bool dropped;               //  Some did not fit in waiting
} s_blocked_t;

//  An event of a publisher's that another member of the group owns: kept
//  until the store shows it handled, or the members change and it is ours.
typedef struct {
    uint64_t seq;
    zmesh_uuid_t id;
    char *key;                  //  What the group divides it by
    zframe_t *frame;            //  The event, as it came
} s_deferred_t;

typedef struct {
    zlistx_t *events;           //  s_deferred_t, in order of seq
    size_t bytes;
    uint64_t epoch;             //  Of the members they were looked at under
} s_pending_t;

static void
s_deferred_destroy (void **item_p)
{
    s_deferred_t *deferred = *item_p;
    if (deferred) {
        zframe_destroy (&deferred->frame);
        zmesh__free (deferred->key);
        zmesh__free (deferred);
        *item_p = NULL;
    }
}

static int
s_deferred_compare (const void *one, const void *two)
{
    uint64_t first = ((const s_deferred_t *) one)->seq;
    uint64_t second = ((const s_deferred_t *) two)->seq;
    return first < second ? -1 : first > second;
}

void
zmesh__consume_pending_destroy (void **item_p)
{
    s_pending_t *pending = *item_p;
    if (pending) {
        zlistx_destroy (&pending->events);
        zmesh__free (pending);
        *item_p = NULL;
    }
}

//  What the members of a group divide event by: its "key" header (an
//  aggregate's stream), or else its publisher, whose events then keep
//  their order.
static const char *
s_key (const char *publisher, const zmesh_envelope_t *event)
{
    const char *key = zmesh_envelope_header (event, "key");
    return key ? key : publisher;
}

//  Whether this member of its group owns key. Alone in its group, a node
//  owns every key.
static bool
s_ours (zmesh_node_t *self, const char *key)
{
    return zmesh__peers_owns (self->peers, self->config.group,
                              self->config.name, key);
}

//  Whether a consumer of the node takes event: one of a type its publisher
//  may not publish here (access/publish) none does.
static bool
s_taken (zmesh_node_t *self, const zmesh_envelope_t *event)
{
    const char *type = zmesh_envelope_type (event);
    if (!zmesh__access_may_publish (self, zmesh_envelope_source (event), type))
        return false;
    for (zmesh__subscription_t *consumer = zlistx_first (self->consumers);
         consumer; consumer = zlistx_next (self->consumers))
        if (zmesh_topic_matches (consumer->pattern, type))
            return true;
    return false;
}

//  The position this member may record, having walked publisher's events
//  up to last: none after it that the group has not handled.
static uint64_t
s_settled (zmesh_node_t *self, const char *publisher, uint64_t last)
{
    s_pending_t *pending = zhashx_lookup (self->pending, publisher);
    s_deferred_t *first = pending ? zlistx_head (pending->events) : NULL;
    return first && first->seq <= last ? first->seq - 1 : last;
}

//  Keep an event another member owns, pending, and walk on past it. Too
//  many kept: it is not taken, so that the next event shows a gap, and a
//  replay brings it back once those kept are through.
static void
s_defer (zmesh_node_t *self, const char *publisher, uint64_t *last,
         const zmesh_envelope_t *event, const void *frame, size_t size)
{
    //  The first kept is looked at in SETTLE_MS; a change of the members
    //  may have made it due sooner
    if (zhashx_size (self->pending) == 0)
        self->settle_ms = zmesh_clock_mono_ms (self->clock) + SETTLE_MS;
    s_pending_t *pending = zhashx_lookup (self->pending, publisher);
    if (!pending) {
        pending = zmesh__calloc (1, sizeof *pending);
        if (pending && !(pending->events = zlistx_new ())) {
            zmesh__free (pending);
            pending = NULL;
        }
        if (!pending)
            return;
        zlistx_set_destructor (pending->events, s_deferred_destroy);
        zlistx_set_comparator (pending->events, s_deferred_compare);
        pending->epoch = self->group_epoch;
        zhashx_insert (self->pending, publisher, pending);
    }
    if (zlistx_size (pending->events) >= PENDING_MAX
        || pending->bytes + size > PENDING_BYTES)
        return;
    const char *key = s_key (publisher, event);
    s_deferred_t *deferred = zmesh__calloc (1, sizeof *deferred);
    if (deferred) {
        deferred->frame = zframe_new (frame, size);
        deferred->key = zmesh__strndup (key, strlen (key));
    }
    if (!deferred || !deferred->frame || !deferred->key
        || !zlistx_add_end (pending->events, deferred)) {
        void *item = deferred;
        s_deferred_destroy (&item);
        return;
    }
    deferred->seq = zmesh_envelope_seq (event);
    deferred->id = *zmesh_envelope_id (event);
    pending->bytes += size;
    *last = deferred->seq;
}

static void
s_blocked_destroy (void **item_p)
{
    s_blocked_t *blocked = *item_p;
    if (blocked) {
        zframe_destroy (&blocked->frame);
        zlistx_destroy (&blocked->waiting);
        zmesh__free (blocked);
        *item_p = NULL;
    }
}

//  The last sequence consumed from publisher, from memory or the store.
static uint64_t *
s_position (zmesh_node_t *self, const char *publisher, bool *known)
{
    uint64_t *last = zhashx_lookup (self->positions, publisher);
    *known = last != NULL;
    if (last)
        return last;
    uint64_t saved = 0;
    if (zmesh__inbox_position (self->store, publisher, &saved, known)
        != ZMESH_OK)
        return NULL;
    last = zmesh__alloc (sizeof *last);
    if (!last)
        return NULL;
    *last = saved;
    zhashx_insert (self->positions, publisher, last);
    return last;
}

uint64_t *
zmesh__consume_position (zmesh_node_t *self, const char *publisher)
{
    bool known;
    return s_position (self, publisher, &known);
}

bool
zmesh__consume_waits (zmesh_node_t *self, const char *publisher)
{
    return zhashx_lookup (self->blocked, publisher) != NULL;
}

zmesh_err_t
zmesh__consume_run (zmesh_node_t *self, const zmesh_envelope_t *event,
                    zmesh_detail_t *detail)
{
    zmesh__context_t saved;
    zmesh__flow_enter (self, &saved, zmesh_envelope_correlation (event),
                       zmesh_envelope_id (event));
    zmesh_err_t rc = ZMESH_OK;
    //  An event its publisher may not publish here (access/publish) is
    //  consumed as one no consumer takes: its place in the order passes.
    bool allowed = zmesh__access_may_publish (self,
                                              zmesh_envelope_source (event),
                                              zmesh_envelope_type (event));
    zmesh__subscription_t *consumer = allowed ? zlistx_first (self->consumers)
                                              : NULL;
    for (; consumer && rc == ZMESH_OK;
         consumer = zlistx_next (self->consumers)) {
        if (!zmesh_topic_matches (consumer->pattern,
                                  zmesh_envelope_type (event)))
            continue;
        zmesh__turn_mark_t mark;
        zmesh__turn_savepoint (self, &mark);
        rc = consumer->consumer (self, event, consumer->arg, detail);
        zmesh__turn_release (self, &mark, rc == ZMESH_OK);
    }
    zmesh__flow_leave (self, &saved);
    return rc;
}

//  Hold publisher's event (frame) back after its attempt-th try failed,
//  to be tried again after the backoff. False if out of memory.
static bool
s_block (zmesh_node_t *self, const char *publisher, const void *frame,
         size_t size, bool durable, int attempt)
{
    s_blocked_t *blocked = zmesh__calloc (1, sizeof *blocked);
    if (!blocked)
        return false;
    snprintf (blocked->publisher, sizeof blocked->publisher, "%s", publisher);
    blocked->frame = zframe_new (frame, size);
    blocked->waiting = zlistx_new ();
    blocked->durable = durable;
    blocked->attempts = attempt;
    blocked->retry_ms = zmesh_clock_mono_ms (self->clock)
                      + ((int64_t) self->config.handler_retry_ms
                         << (attempt - 1));
    if (!blocked->frame || !blocked->waiting) {
        void *item = blocked;
        s_blocked_destroy (&item);
        return false;
    }
    zlistx_set_destructor (blocked->waiting, zmesh__node_frame_destroy);
    //  Not there: a publisher is held back once at a time
    zhashx_insert (self->blocked, publisher, blocked);
    return true;
}

//  A later event of a publisher that waits: it waits behind, in order.
static void
s_wait (zmesh_node_t *self, s_blocked_t *blocked, const void *data,
        size_t size)
{
    zframe_t *frame = zlistx_size (blocked->waiting) < CONSUME_BATCH_MAX
                    ? zframe_new (data, size) : NULL;
    if (frame && zlistx_add_end (blocked->waiting, frame))
        return;
    zframe_destroy (&frame);
    if (!blocked->dropped)
        zsys_warning ("node %s: %s's events wait behind one that failed; "
                      "more than %d dropped%s", self->config.name,
                      blocked->publisher, CONSUME_BATCH_MAX,
                      blocked->durable ? ", to be replayed" : "");
    blocked->dropped = true;
}

//  Positions moved by events passed over: the next turn that commits
//  records them (zmesh__consume_save), or one of their own SAVE_MS after
//  the first of them.
static void
s_unsaved (zmesh_node_t *self, const char *publisher)
{
    if (zhashx_size (self->unsaved) == 0)
        self->unsaved_ms = zmesh_clock_mono_ms (self->clock) + SAVE_MS;
    zhashx_insert (self->unsaved, publisher, self);     //  Or there already
}

void
zmesh__consume_save (zmesh_node_t *self)
{
    if (!self->unsaved || zhashx_size (self->unsaved) == 0
        || self->turn.state != ZMESH__TURN_OPEN)
        return;
    for (void *item = zhashx_first (self->unsaved); item;
         item = zhashx_next (self->unsaved)) {
        const char *publisher = zhashx_cursor (self->unsaved);
        const uint64_t *last = zhashx_lookup (self->positions, publisher);
        if (last)
            zmesh__turn_position (self, publisher,
                                  s_settled (self, publisher, *last));
    }
    zhashx_purge (self->unsaved);
}

void
zmesh__consume_flush (zmesh_node_t *self)
{
    if (self->unsaved && zhashx_size (self->unsaved)
        && zmesh__turn_begin_unlocked (self))
        zmesh__consume_save (self);
}

//  Pass over, in its place, an event that no consumer takes. There is no
//  handling to keep a repeat of out, and no owner to leave it to: every
//  member of a group passes it, and records no more than its position,
//  with the next turn that commits.
static void
s_pass (zmesh_node_t *self, const char *publisher, uint64_t *last,
        const zmesh_envelope_t *event)
{
    zmesh__tap_trace (self, ZMESH_TRACE_RECEIVED, event, publisher, ZMESH_OK,
                      zmesh__node_taken_us (self), 0, NULL);
    self->stats.events_consumed++;
    if (!last)
        return;
    if (zmesh_envelope_seq (event) > *last)
        *last = zmesh_envelope_seq (event);
    s_unsaved (self, publisher);
}

//  Handle one event of publisher's, which must be the next in its order,
//  as its attempt-th try: run the consumers, and record it processed and
//  the position moved, all in one savepoint of the loop's turn. If they
//  fail, it is held back to be tried again (s_block) or, on the last try,
//  buried. last is NULL for a publisher that keeps no log: its sequence
//  numbers start again when it restarts, so only event ids keep repeats
//  out.
static void
s_consume (zmesh_node_t *self, const char *publisher, uint64_t *last,
           const zmesh_envelope_t *event, const void *frame, size_t size,
           int attempt)
{
    uint64_t seq = zmesh_envelope_seq (event);
    if (!s_taken (self, event)) {
        s_pass (self, publisher, last, event);
        return;
    }
    if (last && !s_ours (self, s_key (publisher, event))) {
        s_defer (self, publisher, last, event, frame, size);
        return;
    }
    zmesh_detail_t detail = {""};
    if (zmesh__turn_full (self))
        zmesh__turn_commit (self);      //  A long replay commits as it goes
    //  With a log, one member of a group owns the event, so the turn takes
    //  the write lock at its first write: the handler reads its aggregate
    //  while another member writes. Should another member have handled the
    //  event since it was looked up, its record (zmesh__inbox_mark) is
    //  refused under the lock, and its writes are taken back (proto/node.md,
    //  Groups, says with what else of the turn). Without a log, every
    //  member takes every event: the lock goes before the look-up, so that
    //  the others find it handled.
    if (!(last ? zmesh__turn_begin_unlocked (self) : zmesh__turn_begin (self)))
        return;
    zmesh__turn_mark_t mark;
    zmesh__turn_savepoint (self, &mark);
    bool seen = false;
    zmesh_err_t rc = zmesh__inbox_seen (self->store, zmesh_envelope_id (event),
                                       &seen);
    if (rc == ZMESH_OK && seen)
        self->stats.events_repeated++;
    else if (rc == ZMESH_OK) {
        uint64_t at_us = (uint64_t) zmesh_clock_unix_us (self->clock);
        zmesh_err_t handled = zmesh__consume_run (self, event, &detail);
        if (handled != ZMESH_OK && attempt < self->config.handler_attempts) {
            zmesh__turn_release (self, &mark, false);
            if (!s_block (self, publisher, frame, size, last != NULL,
                          attempt))
                zsys_error ("node %s: out of memory holding back seq %"
                            PRIu64 " of %s", self->config.name, seq,
                            publisher);
            return;
        }
        zmesh__tap_trace (self, ZMESH_TRACE_RECEIVED, event, publisher,
                          handled, at_us, 0, NULL);
        if (handled == ZMESH_OK)
            self->stats.events_consumed++;
        else {
            zmesh__dead_letter_t letter = {
                .event_id = *zmesh_envelope_id (event), .publisher = publisher,
                .seq = seq, .envelope = frame, .envelope_size = size,
                .error = detail.text, .attempts = attempt,
                .at = (uint64_t) zmesh_clock_unix_ms (self->clock)};
            rc = zmesh__inbox_bury (self->store, &letter);
            self->stats.dead_letters++;
            zsys_warning ("node %s: %s from %s (seq %" PRIu64 ") buried after "
                          "%d attempts: %s", self->config.name,
                          zmesh_envelope_type (event), publisher, seq, attempt,
                          detail.text);
        }
        if (rc == ZMESH_OK)
            rc = zmesh__inbox_mark (
                self->store, zmesh_envelope_id (event),
                (uint64_t) zmesh_clock_unix_ms (self->clock));
    }
    //  An event taken over from another member may lie behind the walk
    uint64_t walked = last && *last > seq ? *last : seq;
    //  What its consumers published goes with it if it fails
    if (zmesh__turn_release (self, &mark, rc == ZMESH_OK)) {
        zmesh__turn_consumed (self);
        if (last) {
            *last = walked;
            zmesh__turn_position (self, publisher,
                                  s_settled (self, publisher, walked));
        }
    }
    else
        zsys_error ("node %s: could not record seq %" PRIu64 " of %s: %s",
                    self->config.name, seq, publisher,
                    zmesh_strerror (rc ? rc : ZMESH_ERR_STORE));
}

void
zmesh__consume_one (zmesh_node_t *self, const char *publisher, uint64_t *last,
                    const zmesh_envelope_t *event, const void *frame,
                    size_t size)
{
    s_consume (self, publisher, last, event, frame, size, 1);
}

int64_t
zmesh__consume_due_ms (zmesh_node_t *self)
{
    int64_t due = zhashx_size (self->pending) ? self->settle_ms : INT64_MAX;
    if (zhashx_size (self->unsaved) && self->unsaved_ms < due)
        due = self->unsaved_ms;
    for (s_blocked_t *blocked = zhashx_first (self->blocked); blocked;
         blocked = zhashx_next (self->blocked))
        if (blocked->retry_ms < due)
            due = blocked->retry_ms;
    return due;
}

//  Try a held-back event again, then let what waited behind it go on,
//  in order, until one of them is held back in its turn.
static void
s_retry (zmesh_node_t *self, s_blocked_t *blocked)
{
    zmesh_envelope_t *event = NULL;
    if (zmesh_envelope_decode (zframe_data (blocked->frame),
                               zframe_size (blocked->frame), &event, NULL)
        == ZMESH_OK) {
        uint64_t *last = blocked->durable
                       ? zmesh__consume_position (self, blocked->publisher)
                       : NULL;
        if (!blocked->durable || last)
            s_consume (self, blocked->publisher, last, event,
                       zframe_data (blocked->frame),
                       zframe_size (blocked->frame), blocked->attempts + 1);
        zmesh_envelope_destroy (&event);
    }
    zframe_t *frame;
    while ((frame = zlistx_detach (blocked->waiting, NULL))) {
        s_blocked_t *again = zhashx_lookup (self->blocked,
                                            blocked->publisher);
        if (again) {
            //  Still in order: behind the one held back now
            if (!zlistx_add_end (again->waiting, frame))
                zframe_destroy (&frame);
            continue;
        }
        if (zmesh_envelope_decode (zframe_data (frame), zframe_size (frame),
                                   &event, NULL) == ZMESH_OK)
            zmesh__consume_live (self, event, zframe_data (frame),
                                 zframe_size (frame));
        zmesh_envelope_destroy (&event);
        zframe_destroy (&frame);
    }
}

//  Handle the pending events of publisher's that are ours now, in order;
//  those that wait behind one of them that failed stay pending, to be
//  looked at again.
static void
s_take_over (zmesh_node_t *self, const char *publisher, s_pending_t *pending,
             uint64_t *last)
{
    zlistx_t *ours = zlistx_new ();
    if (!ours)
        return;
    zlistx_set_destructor (ours, s_deferred_destroy);
    for (s_deferred_t *deferred = zlistx_first (pending->events); deferred;
         deferred = zlistx_next (pending->events))
        if (s_ours (self, deferred->key)) {
            zlistx_detach_cur (pending->events);
            pending->bytes -= zframe_size (deferred->frame);
            zlistx_add_end (ours, deferred);
        }
    s_deferred_t *deferred;
    while ((deferred = zlistx_detach (ours, NULL))) {
        zmesh_envelope_t *event = NULL;
        if (zmesh__consume_waits (self, publisher)) {
            pending->bytes += zframe_size (deferred->frame);
            zlistx_insert (pending->events, deferred, true);
            pending->epoch = self->group_epoch - 1;     //  Look again
            continue;
        }
        if (zmesh_envelope_decode (zframe_data (deferred->frame),
                                   zframe_size (deferred->frame), &event,
                                   NULL) == ZMESH_OK)
            s_consume (self, publisher, last, event,
                       zframe_data (deferred->frame),
                       zframe_size (deferred->frame), 1);
        zmesh_envelope_destroy (&event);
        void *item = deferred;
        s_deferred_destroy (&item);
    }
    zlistx_destroy (&ours);
}

//  Drop the pending events at the front that the store shows handled, and
//  record the position past them; take over those that are ours now.
static void
s_settle (zmesh_node_t *self, const char *publisher, s_pending_t *pending)
{
    uint64_t *last = zmesh__consume_position (self, publisher);
    if (!last)
        return;
    if (pending->epoch != self->group_epoch) {
        pending->epoch = self->group_epoch;
        s_take_over (self, publisher, pending, last);
    }
    uint64_t before = s_settled (self, publisher, *last);
    //  A batch of those at the front at a time, while all of one are seen
    size_t count = 0, seen = 0;
    do {
        zmesh_uuid_t ids [ZMESH__INBOX_BATCH];
        count = 0;
        for (s_deferred_t *deferred = zlistx_first (pending->events);
             deferred && count < ZMESH__INBOX_BATCH;
             deferred = zlistx_next (pending->events))
            ids [count++] = deferred->id;
        if (zmesh__inbox_seen_prefix (self->store, ids, count, &seen))
            break;
        for (size_t index = 0; index < seen; index++) {
            s_deferred_t *deferred = zlistx_head (pending->events);
            pending->bytes -= zframe_size (deferred->frame);
            zlistx_delete (pending->events, NULL);
            self->stats.events_left++;
        }
    } while (count && seen == count);
    uint64_t after = s_settled (self, publisher, *last);
    if (after > before && zmesh__turn_begin (self))
        zmesh__turn_position (self, publisher, after);
}

void
zmesh__consume_turn (zmesh_node_t *self)
{
    int64_t now = self->now_ms;
    if (zhashx_size (self->pending) && self->settle_ms <= now) {
        self->settle_ms = now + SETTLE_MS;
        zlistx_t *publishers = zhashx_keys (self->pending);
        for (const char *publisher = publishers ? zlistx_first (publishers)
                                                : NULL;
             publisher; publisher = zlistx_next (publishers)) {
            s_pending_t *pending = zhashx_lookup (self->pending, publisher);
            if (pending)
                s_settle (self, publisher, pending);
            if (pending && zlistx_size (pending->events) == 0)
                zhashx_delete (self->pending, publisher);
        }
        zlistx_destroy (&publishers);
    }
    if (zhashx_size (self->unsaved) && self->unsaved_ms <= now)
        zmesh__consume_flush (self);
    if (zmesh__consume_due_ms (self) > now)
        return;
    //  Those due, taken out first: a retry may hold a publisher back again
    zlistx_t *due = zlistx_new ();
    if (!due)
        return;
    zlistx_set_destructor (due, s_blocked_destroy);
    for (s_blocked_t *blocked = zhashx_first (self->blocked); blocked;
         blocked = zhashx_next (self->blocked))
        if (blocked->retry_ms <= now)
            zlistx_add_end (due, blocked);
    for (s_blocked_t *blocked = zlistx_first (due); blocked;
         blocked = zlistx_next (due)) {
        zhashx_delete (self->blocked, blocked->publisher);
    }
    for (s_blocked_t *blocked = zlistx_first (due); blocked;
         blocked = zlistx_next (due))
        s_retry (self, blocked);
    zlistx_destroy (&due);
}

//  A live event from a publisher: consume it in order, repairing the gap
//  before it first if there is one.
void
zmesh__consume_live (zmesh_node_t *self, const zmesh_envelope_t *event,
                     const void *data, size_t size)
{
    const char *publisher = zmesh_envelope_source (event);
    uint64_t seq = zmesh_envelope_seq (event);
    zmesh__publisher_t *heard = zhashx_lookup (self->durable, publisher);
    //  Until its first heartbeat says whether it keeps a log, events are
    //  left: if it does, they are replayed, in order, once it beats. A
    //  member's own group's are not for it, as a node's own are not.
    if (!heard || streq (heard->service, self->config.group))
        return;
    s_blocked_t *blocked = zhashx_lookup (self->blocked, publisher);
    if (blocked) {
        s_wait (self, blocked, data, size);
        return;
    }
    if (!heard->log) {
        //  No log, so its numbers restart with it: best effort, ids only.
        s_consume (self, publisher, NULL, event, data, size, 1);
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
        zmesh__replay_repair (self, publisher, *last, seq - 1);
    if (seq == *last + 1)
        s_consume (self, publisher, last, event, data, size, 1);
}

//  A heartbeat says what the publisher's next sequence will be: anything
//  before it that we lack is a lost tail.
void
zmesh__consume_tail (zmesh_node_t *self, const zmesh_envelope_t *beat)
{
    const char *publisher = zmesh_envelope_source (beat);
    uint64_t next = zmesh_envelope_seq (beat);
    zmesh__publisher_t *heard = zhashx_lookup (self->durable, publisher);
    if (!heard || !heard->log)
        return;
    bool known;
    uint64_t *last = s_position (self, publisher, &known);
    if (!last)
        return;
    if (!known && self->config.start_now) {
        *last = next - 1;
        zmesh__inbox_set_position (self->store, publisher, *last);
        return;
    }
    if (next > *last + 1)
        zmesh__replay_repair (self, publisher, *last, next - 1);
    //  Whether we move: a stall is a position that stays behind
    int64_t now = zmesh_clock_mono_ms (self->clock);
    if (!heard->watching || *last != heard->watched || *last >= heard->tail)
        heard->moved_ms = now;
    heard->watched = *last;
    heard->watching = true;
}

//  A heartbeat of source, an instance of service: the other instances of
//  service whose logs we lack the end of are repaired now, by source if
//  they are down (replay.c), so that a dead instance's events still come.
void
zmesh__consume_mates (zmesh_node_t *self, const char *service,
                      const char *source)
{
    for (zmesh__publisher_t *publisher = zhashx_first (self->durable);
         publisher; publisher = zhashx_next (self->durable)) {
        const char *name = zhashx_cursor (self->durable);
        if (!publisher->log || !streq (publisher->service, service)
            || streq (name, source) || zmesh__consume_waits (self, name))
            continue;
        uint64_t *last = zmesh__consume_position (self, name);
        if (last && publisher->tail > *last)
            zmesh__replay_repair (self, name, *last, publisher->tail);
    }
}

void
zmesh__consume_lag (zmesh_node_t *self, zmesh__consume_lag_t *lag,
                    zmesh__consume_lag_fn *each, void *arg)
{
    memset (lag, 0, sizeof *lag);
    if (!zlistx_size (self->consumers))
        return;
    int64_t now = zmesh_clock_mono_ms (self->clock);
    for (zmesh__publisher_t *publisher = zhashx_first (self->durable);
         publisher; publisher = zhashx_next (self->durable)) {
        if (!publisher->log || streq (publisher->service, self->config.group))
            continue;
        const uint64_t *last = zhashx_lookup (self->positions,
                                              zhashx_cursor (self->durable));
        uint64_t at = last ? *last : 0;
        //  A position that moved since the last look moves, whether by
        //  the publisher's own events or by a mate's replay of its log
        if (at != publisher->watched) {
            publisher->watched = at;
            publisher->moved_ms = now;
        }
        uint64_t behind = at < publisher->tail ? publisher->tail - at : 0;
        bool stalled = behind && publisher->watching
                       && now - publisher->moved_ms >= self->config.gone_ms;
        lag->lag += behind;
        if (behind > lag->lag_max)
            lag->lag_max = behind;
        lag->stalled += stalled;
        if (each)
            each (arg, zhashx_cursor (self->durable), behind, stalled);
    }
}

void
zmesh__consume_close (zmesh_node_t *self)
{
    zhashx_purge (self->pending);
    void *blocked;
    while ((blocked = zhashx_first (self->blocked))) {
        zhashx_delete (self->blocked, zhashx_cursor (self->blocked));
        s_blocked_destroy (&blocked);
    }
}

zmesh_err_t
zmesh_node_consume (zmesh_node_t *self, const char *pattern,
                    zmesh_consume_fn *handler, void *arg)
{
    assert (self && handler);
    char bytes [ZMESH_TOPIC_MAX];
    if (!self->store || zmesh_topic_subscription (pattern, bytes) < 0)
        return ZMESH_ERR_INVALID;
    //  Events once per group need the group's one store: on SQLite each
    //  instance has a file of its own, and every one would handle them.
    if (!streq (self->config.group, self->config.name)
        && !zmesh__db_is_pg (zmesh__store_db (self->store))) {
        zsys_error ("node %s: a consumer in group %s needs the store its "
                    "members share: set node/data to a postgresql:// URI, "
                    "or node/service to the node's name", self->config.name,
                    self->config.group);
        return ZMESH_ERR_CONFIG;
    }
    zmesh__subscription_t *consumer = zmesh__subscription_new (pattern, arg);
    if (!consumer)
        return ZMESH_ERR_NOMEM;
    consumer->consumer = handler;
    //  Sequence numbers count all of a publisher's events: to see every
    //  one, and so every gap, a consumer takes them all and filters here.
    if (zlistx_size (self->consumers) == 0)
        zmesh__links_subscribe_all (self);
    zlistx_add_end (self->consumers, consumer);
    return ZMESH_OK;
}
