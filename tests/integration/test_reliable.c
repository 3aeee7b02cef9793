/*  test_reliable.c - reliable events between node processes that are
    killed with SIGKILL, restarted, flooded and failed on purpose; and the
    commits that events and calls share.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include <sqlite3.h>
#include "zmesh.h"
#include "inbox.h"
#include "replay.h"
#include "child.h"

static char dir [64];

static void
s_setup (void)
{
    child_dir_make (dir, "reliable");
}

static void
s_teardown (void)
{
    child_cleanup ();
    child_dir_remove (dir);
}

TestSuite (reliable, .init = s_setup, .fini = s_teardown, .timeout = 240);

typedef struct {
    char data [128];
    char events [300];
    char calls [300];
    char peer_events [300];
    char peer_calls [300];
} s_paths_t;

//  A publisher on ipc endpoints of this test's own (see test_resilience:
//  tcp ports of killed servers can be taken over by other tests).
static testnode_t
s_publisher_with (const char *count, const char *body, const char *hwm,
                  const char *slow, const char *extra, s_paths_t *paths)
{
    snprintf (paths->data, sizeof paths->data, "node/data=%s/pub", dir);
    snprintf (paths->events, sizeof paths->events,
              "node/events=ipc://%s/pub-events", dir);
    snprintf (paths->calls, sizeof paths->calls, "node/calls=ipc://%s/pub-calls",
              dir);
    snprintf (paths->peer_events, sizeof paths->peer_events,
              "peers/pub/events=ipc://%s/pub-events", dir);
    snprintf (paths->peer_calls, sizeof paths->peer_calls,
              "peers/pub/calls=ipc://%s/pub-calls", dir);
    const char *settings [] = {paths->data, paths->events, paths->calls,
                               "events/sync=normal", "timing/heartbeat=200",
                               hwm, extra, NULL};
    const char *options [] = {"--role", "pub", "--count", count, "--body",
                              body, "--slow-us", slow, NULL};
    return testnode_start_with (TESTNODE, options, settings);
}

static testnode_t
s_publisher (const char *count, const char *body, const char *hwm,
             const char *slow, s_paths_t *paths)
{
    return s_publisher_with (count, body, hwm, slow, NULL, paths);
}

static testnode_t
s_consumer (const s_paths_t *paths, const char *hwm, const char *slow)
{
    char data [128];
    snprintf (data, sizeof data, "node/data=%s/consumer", dir);
    const char *settings [] = {data, paths->peer_events, paths->peer_calls,
                               "events/sync=normal", "timing/heartbeat=200",
                               hwm, NULL};
    const char *options [] = {"--role", "consumer", "--slow-us", slow, NULL};
    return testnode_start_with (TESTNODE, options, settings);
}

//  The zmesh.stats reply of the node whose calls endpoint is calls, asked
//  by a probe node of this process (the test owns the reply).
static zmesh_envelope_t *
s_stats_at (const char *calls)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "probe");
    char setting [300];
    snprintf (setting, sizeof setting, "peers/consumer/calls=%s", calls);
    zmesh_node_config_set (&config, setting, NULL);
    zmesh_node_t *probe = zmesh_node_new (&config, NULL, NULL, NULL);
    cr_assert (probe != NULL);
    zmesh_envelope_t *reply = NULL;
    cr_assert (eq (int, zmesh_node_call (probe, "consumer", "zmesh.stats", NULL,
                                         0, 5000, &reply, NULL), 0));
    zmesh_node_destroy (&probe);
    return reply;
}

//  Take what the publisher printed; return the last sequence it said it
//  had published (0 if none yet).
static uint64_t
s_drain (child_t *publisher, uint64_t last)
{
    char line [64];
    while (child_read_line (publisher->out, line, sizeof line, 0)) {
        uint64_t seq;
        if (sscanf (line, "published %" SCNu64, &seq) == 1)
            last = seq;
    }
    return last;
}

//  How many events the consumer has recorded as seen (read-only look).
static int64_t
s_seen_count (void)
{
    char path [160];
    snprintf (path, sizeof path, "%s/consumer/consumer.db", dir);
    sqlite3 *db;
    int64_t count = -1;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout (db, 1000);
        sqlite3_stmt *statement;
        if (sqlite3_prepare_v2 (db, "SELECT COUNT (*) FROM events WHERE "
                                    "stream = 'seen'", -1, &statement, NULL)
                == SQLITE_OK
            && sqlite3_step (statement) == SQLITE_ROW)
            count = sqlite3_column_int64 (statement, 0);
        sqlite3_finalize (statement);
    }
    sqlite3_close (db);
    return count;
}

//  Wait, draining the publisher, until the consumer has seen target
//  events, at most timeout_ms.
static int64_t
s_wait_seen (child_t *publisher, int64_t target, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms, seen = 0;
    while ((seen = s_seen_count ()) < target && zclock_mono () < deadline) {
        if (publisher)
            s_drain (publisher, 0);
        zclock_sleep (100);
    }
    return seen;
}

typedef struct {
    uint64_t expected;
    uint64_t count;
    bool ordered;
} s_check_t;

static bool
s_check_seen (const zmesh_stored_event_t *event, void *arg)
{
    s_check_t *check = arg;
    uint64_t seq = 0;
    const uint8_t *body = event->body;
    if (event->body_size == 9 && body [0] == 0xcf)
        for (int index = 0; index < 8; index++)
            seq = (seq << 8) | body [1 + index];
    if (seq != check->expected)
        check->ordered = false;
    check->expected = seq + 1;
    check->count++;
    return true;
}

//  Every sequence 1..total seen exactly once, in order.
static void
s_assert_exactly_once (uint64_t total)
{
    char path [160];
    snprintf (path, sizeof path, "%s/consumer/consumer.db", dir);
    zmesh_store_t *store = zmesh_store_open (path, false, NULL);
    cr_assert (store != NULL);
    s_check_t check = {1, 0, true};
    cr_assert (eq (int, zmesh_store_read_stream (store, "seen", 1, false, 0,
                                                 s_check_seen, &check, NULL),
                   0));
    cr_assert (check.ordered, "events out of order or repeated");
    cr_assert (eq (u64, check.count, total));
    zmesh_store_close (&store);
}

Test (reliable, a_subscriber_killed_twice_processes_every_event_exactly_once)
{
    enum { TOTAL = 100000 };
    s_paths_t paths;
    testnode_t publisher = s_publisher ("100000", "8", "sockets/hwm=10000", "0",
                                        &paths);
    testnode_t consumer = s_consumer (&paths, "sockets/hwm=10000", "0");
    for (int kill_at = 1; kill_at <= 2; kill_at++) {
        int64_t seen = s_wait_seen (&publisher.child, kill_at * TOTAL / 3,
                                    120000);
        cr_assert (ge (i64, seen, kill_at * TOTAL / 3), "stalled at %" PRId64,
                   seen);
        child_kill (&consumer.child);
        fprintf (stderr, "reliable: consumer killed with %" PRId64 " seen\n",
                 s_seen_count ());
        consumer = s_consumer (&paths, "sockets/hwm=10000", "0");
    }
    cr_assert (eq (i64, s_wait_seen (&publisher.child, TOTAL, 180000), TOTAL));
    cr_assert (eq (int, child_stop (&consumer.child, 5000), 0));
    cr_assert (eq (int, child_stop (&publisher.child, 5000), 0));
    s_assert_exactly_once (TOTAL);
}

Test (reliable, a_publisher_killed_and_restarted_loses_nothing_it_confirmed)
{
    s_paths_t paths;
    testnode_t consumer;
    testnode_t publisher = s_publisher ("20000", "8", "sockets/hwm=10000",
                                        "200", &paths);
    consumer = s_consumer (&paths, "sockets/hwm=10000", "0");
    uint64_t confirmed = 0;
    int64_t deadline = zclock_mono () + 60000;
    while (confirmed < 5000 && zclock_mono () < deadline) {
        confirmed = s_drain (&publisher.child, confirmed);
        zclock_sleep (5);
    }
    cr_assert (ge (u64, confirmed, 5000));
    child_kill (&publisher.child);

    //  Restarted on the same store: its numbers go on from its log.
    testnode_t again = s_publisher ("1000", "8", "sockets/hwm=10000", "0",
                                    &paths);
    uint64_t first_again = 0, last_again = 0;
    deadline = zclock_mono () + 60000;
    char line [64];
    while (last_again == 0 || first_again == 0 || zclock_mono () < deadline) {
        if (!child_read_line (again.child.out, line, sizeof line, 2000))
            break;
        uint64_t seq;
        if (sscanf (line, "published %" SCNu64, &seq) == 1) {
            if (!first_again)
                first_again = seq;
            last_again = seq;
        }
    }
    cr_assert (gt (u64, first_again, confirmed), "a sequence was reused");
    cr_assert (ge (u64, last_again, first_again + 999));
    cr_assert (eq (i64, s_wait_seen (NULL, (int64_t) last_again, 60000),
                   (int64_t) last_again));
    cr_assert (eq (int, child_stop (&consumer.child, 5000), 0));
    cr_assert (eq (int, child_stop (&again.child, 5000), 0));
    s_assert_exactly_once (last_again);
}

Test (reliable, a_slow_subscriber_with_a_tiny_hwm_has_its_gaps_repaired)
{
    s_paths_t paths;
    testnode_t publisher = s_publisher ("20000", "1024", "sockets/hwm=5", "0",
                                        &paths);
    testnode_t consumer = s_consumer (&paths, "sockets/hwm=5", "200");
    cr_assert (eq (i64, s_wait_seen (&publisher.child, 20000, 180000), 20000));

    //  The consumer's counters say it had to repair.
    zmesh_envelope_t *reply = s_stats_at (consumer.calls);
    long replayed = strtol (zmesh_envelope_header (reply, "events_replayed"),
                            NULL, 10);
    fprintf (stderr, "reliable: slow subscriber had %ld events replayed\n",
             replayed);
    cr_assert (gt (long, replayed, 0), "nothing was dropped: no gap to repair");
    zmesh_envelope_destroy (&reply);
    cr_assert (eq (int, child_stop (&consumer.child, 5000), 0));
    cr_assert (eq (int, child_stop (&publisher.child, 5000), 0));
    s_assert_exactly_once (20000);
}

Test (reliable, batches_lost_to_a_tiny_hwm_are_repaired_event_by_event)
{
    //  32 events to a message, 5 messages queued: whole batches are lost
    s_paths_t paths;
    testnode_t publisher = s_publisher_with ("20000", "64", "sockets/hwm=5",
                                             "0", "events/batch=32", &paths);
    testnode_t consumer = s_consumer (&paths, "sockets/hwm=5", "200");
    cr_assert (eq (i64, s_wait_seen (&publisher.child, 20000, 180000), 20000));
    zmesh_envelope_t *reply = s_stats_at (consumer.calls);
    long replayed = strtol (zmesh_envelope_header (reply, "events_replayed"),
                            NULL, 10);
    long bad = strtol (zmesh_envelope_header (reply, "bad_frames"), NULL, 10);
    zmesh_envelope_destroy (&reply);
    cr_assert (gt (long, replayed, 0), "nothing was dropped: no gap to repair");
    cr_assert (eq (long, bad, 0));
    cr_assert (eq (int, child_stop (&consumer.child, 5000), 0));
    cr_assert (eq (int, child_stop (&publisher.child, 5000), 0));
    s_assert_exactly_once (20000);
}

//  A counter of the consumer's zmesh.stats.
static long
s_stat_at (const char *calls, const char *counter)
{
    zmesh_envelope_t *reply = s_stats_at (calls);
    const char *value = zmesh_envelope_header (reply, counter);
    long number = value ? strtol (value, NULL, 10) : -1;
    zmesh_envelope_destroy (&reply);
    return number;
}

//  A consumer held up on one event says how far behind it is, and that it
//  is stalled once its position has not moved for timing/gone; caught up,
//  neither. zsniff on its events endpoint shows both, from its heartbeats.
//  The lag and stalled count, of consumer, that zsniff --stats shows
//  after two of its heartbeats, into tapped.
static void
s_tapped_lag (const char *events, long tapped [2])
{
    char *argv [] = {ZSNIFF, "--connect", (char *) events, "--stats",
                     "--json", "--control", "--type", "zmesh.heartbeat",
                     "--count", "2", NULL};
    child_t tap = child_spawn (argv);
    char line [4096], last [4096] = "";
    while (child_read_line (tap.out, line, sizeof line, 10000))
        snprintf (last, sizeof last, "%s", line);
    cr_assert (eq (int, child_reap (&tap, 5000), 0));
    json_t *table = json_loads (last, 0, NULL);
    cr_assert (table != NULL, "not JSON: %s", last);
    json_t *row = json_object_get (json_object_get (table, "sources"),
                                   "consumer");
    cr_assert (row != NULL, "%s", last);
    tapped [0] = (long) json_integer_value (json_object_get (row, "lag"));
    tapped [1] = (long) json_integer_value (json_object_get (row, "stalled"));
    json_decref (table);
}

Test (reliable, a_consumer_held_up_shows_its_lag_and_that_it_is_stalled)
{
    s_paths_t paths;
    testnode_t publisher = s_publisher ("200", "64", "sockets/hwm=1000", "0",
                                        &paths);
    char data [128], heal [128];
    snprintf (data, sizeof data, "node/data=%s/consumer", dir);
    snprintf (heal, sizeof heal, "%s/heal", dir);
    const char *settings [] = {data, paths.peer_events, paths.peer_calls,
                               "timing/heartbeat=200", "timing/quiet=1000",
                               "timing/gone=2000", "events/attempts=20",
                               "events/retry_delay=200", NULL};
    const char *options [] = {"--role", "consumer", "--fail-every", "150",
                              "--heal", heal, NULL};
    testnode_t consumer = testnode_start_with (TESTNODE, options, settings);
    int64_t deadline = zclock_mono () + 20000;
    long lag = 0, stalled = 0;
    while (zclock_mono () < deadline && stalled < 1) {
        zclock_sleep (200);
        lag = s_stat_at (consumer.calls, "lag");
        stalled = s_stat_at (consumer.calls, "stalled");
    }
    cr_assert (eq (long, stalled, 1), "stalled behind seq 150 (lag %ld)", lag);
    cr_assert (eq (long, lag, 51), "151..200 and 150 itself are left");
    cr_assert (eq (long, s_stat_at (consumer.calls, "lag_max"), 51));
    //  A tap on the consumer sees the same in its heartbeats
    long tapped [2];
    s_tapped_lag (consumer.events, tapped);
    cr_assert (eq (long, tapped [0], 51));
    cr_assert (eq (long, tapped [1], 1));
    //  Healed, it catches up, and is neither behind nor stalled
    FILE *file = fopen (heal, "w");
    cr_assert (file != NULL);
    fclose (file);
    deadline = zclock_mono () + 20000;
    while (zclock_mono () < deadline
           && (s_stat_at (consumer.calls, "lag") != 0
               || s_stat_at (consumer.calls, "stalled") != 0))
        zclock_sleep (200);
    cr_assert (eq (long, s_stat_at (consumer.calls, "lag"), 0));
    cr_assert (eq (long, s_stat_at (consumer.calls, "stalled"), 0));
    s_tapped_lag (consumer.events, tapped);
    cr_assert (eq (long, tapped [0], 0));
    cr_assert (eq (long, tapped [1], 0));
    cr_assert (eq (int, child_stop (&consumer.child, 5000), 0));
    cr_assert (eq (int, child_stop (&publisher.child, 5000), 0));
}

static bool failing = true;
static int handled;

static zmesh_err_t
s_picky (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg,
         zmesh_detail_t *detail)
{
    (void) node, (void) arg;
    if (failing && zmesh_envelope_seq (event) % 10 == 0) {
        snprintf (detail->text, sizeof detail->text, "seq %" PRIu64
                  " is a multiple of ten", zmesh_envelope_seq (event));
        return ZMESH_ERR_INVALID;
    }
    handled++;
    return ZMESH_OK;
}

typedef struct {
    int count;
    int attempts;
    char error [160];
} s_letters_t;

static bool
s_count_letters (const zmesh__dead_letter_t *letter, void *arg)
{
    s_letters_t *letters = arg;
    letters->count++;
    letters->attempts = letter->attempts;
    snprintf (letters->error, sizeof letters->error, "%s", letter->error);
    return true;
}

Test (reliable, failing_events_go_to_dead_letters_and_replay_to_success)
{
    s_paths_t paths;
    testnode_t publisher = s_publisher ("50", "8", "sockets/hwm=10000", "0",
                                        &paths);
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "picky");
    char data [128];
    snprintf (data, sizeof data, "node/data=%s/picky", dir);
    const char *settings [] = {data, paths.peer_events, paths.peer_calls,
                               "events/attempts=3", "events/retry_delay=1",
                               "timing/heartbeat=100", NULL};
    for (int index = 0; settings [index]; index++)
        cr_assert (eq (int, zmesh_node_config_set (&config, settings [index],
                                                   NULL), 0));
    zmesh_detail_t detail = {""};
    zmesh_node_t *node = zmesh_node_new (&config, NULL, NULL, &detail);
    cr_assert (node != NULL, "%s", detail.text);
    cr_assert (eq (int, zmesh_node_consume (node, "tick.*", s_picky, NULL), 0));
    zmesh_node_stats_t stats;
    int64_t deadline = zclock_mono () + 30000;
    do {
        zmesh_node_poll (node, 50);
        s_drain (&publisher.child, 0);
        zmesh_node_stats (node, &stats);
    } while (stats.events_consumed + stats.dead_letters < 50
             && zclock_mono () < deadline);
    cr_assert (eq (u64, stats.events_consumed, 45));
    cr_assert (eq (u64, stats.dead_letters, 5));
    s_letters_t letters = {0, 0, ""};
    zmesh__inbox_dead_letters (zmesh_node_store (node), s_count_letters,
                              &letters);
    cr_assert (eq (int, letters.count, 5));
    cr_assert (eq (int, letters.attempts, 3));
    cr_assert (strstr (letters.error, "multiple of ten") != NULL, "%s",
               letters.error);

    //  Fixed: replay them.
    failing = false;
    size_t replayed = 0, failed = 0;
    cr_assert (eq (int, zmesh_node_replay_dead_letters (node, &replayed,
                                                        &failed, &detail), 0),
               "%s", detail.text);
    cr_assert (eq (sz, replayed, 5));
    cr_assert (eq (sz, failed, 0));
    letters.count = 0;
    zmesh__inbox_dead_letters (zmesh_node_store (node), s_count_letters,
                              &letters);
    cr_assert (eq (int, letters.count, 0));
    cr_assert (eq (int, handled, 50));
    zmesh_node_destroy (&node);
    cr_assert (eq (int, child_stop (&publisher.child, 5000), 0));
}

static zmesh_err_t
s_count_tick (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg,
              zmesh_detail_t *detail)
{
    (void) node, (void) detail;
    uint64_t *seqs = arg;
    seqs [0]++;
    if (!seqs [1])
        seqs [1] = zmesh_envelope_seq (event);     //  The first one seen
    return ZMESH_OK;
}

//  An in-process node called name, with its store under dir and settings
//  (up to a NULL).
static zmesh_node_t *
s_local_node (const char *name, const char *const *settings)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, name);
    char data [128];
    snprintf (data, sizeof data, "node/data=%s/%s", dir, name);
    cr_assert (eq (int, zmesh_node_config_set (&config, data, NULL), 0));
    for (int index = 0; settings [index]; index++)
        cr_assert (eq (int, zmesh_node_config_set (&config, settings [index],
                                                   NULL), 0), "%s",
                   settings [index]);
    //  A node made again at once may find its inproc endpoint still held
    //  by the one before, whose socket libzmq closes in the background
    zmesh_detail_t detail = {""};
    zmesh_node_t *node = NULL;
    for (int64_t until = zclock_mono () + 2000;
         !(node = zmesh_node_new (&config, NULL, NULL, &detail))
         && zclock_mono () < until;)
        zclock_sleep (20);
    cr_assert (node != NULL, "%s", detail.text);
    return node;
}

//  An in-process consumer of the publisher at paths, with one more setting.
static zmesh_node_t *
s_local_consumer (const s_paths_t *paths, const char *name,
                  const char *setting, uint64_t *seqs)
{
    const char *settings [] = {paths->peer_events, paths->peer_calls,
                               "timing/heartbeat=100", setting, NULL};
    zmesh_node_t *node = s_local_node (name, settings);
    cr_assert (eq (int, zmesh_node_consume (node, "tick.*", s_count_tick,
                                            seqs), 0));
    return node;
}

//  Wait, at most 10 s, until the publisher says it has published count
//  events; returns the last sequence it said.
static uint64_t
s_wait_published (child_t *publisher, uint64_t count)
{
    int64_t deadline = zclock_mono () + 10000;
    uint64_t published = 0;
    while (published < count && zclock_mono () < deadline) {
        published = s_drain (publisher, published);
        zclock_sleep (20);
    }
    return published;
}

//  Poll node, at most timeout_ms, until s_count_tick has counted count
//  events in seqs, draining publisher's output if there is one; stats,
//  if not NULL, gets the node's counters.
static void
s_consume_until (zmesh_node_t *node, const uint64_t *seqs, uint64_t count,
                 int timeout_ms, child_t *publisher, zmesh_node_stats_t *stats)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (seqs [0] < count && zclock_mono () < deadline) {
        zmesh_node_poll (node, 50);
        if (publisher)
            s_drain (publisher, 0);
    }
    if (stats)
        zmesh_node_stats (node, stats);
}

Test (reliable, a_trimmed_range_is_reported_and_the_rest_consumed)
{
    s_paths_t paths;
    //  The publisher keeps its last 10 events only, and has published 100
    //  before anyone listens.
    testnode_t publisher = s_publisher ("100", "8", "events/retain=10", "0",
                                        &paths);
    cr_assert (eq (u64, s_wait_published (&publisher.child, 100), 100));
    zclock_sleep (500);         //  A heartbeat or two: the trim has run
    uint64_t seqs [2] = {0, 0};
    zmesh_node_t *node = s_local_consumer (&paths, "late", "events/start="
                                           "beginning", seqs);
    zmesh_node_stats_t stats;
    s_consume_until (node, seqs, 10, 10000, NULL, &stats);
    cr_assert (eq (u64, stats.ranges_trimmed, 1), "the loss is counted");
    cr_assert (eq (u64, seqs [0], 10), "what is kept is consumed");
    cr_assert (eq (u64, seqs [1], 91));
    zmesh_node_destroy (&node);
    cr_assert (eq (int, child_stop (&publisher.child, 5000), 0));
}

//  The largest event a store takes still fits a replay reply: a consumer
//  that missed three of them gets them all by replay.
Test (reliable, the_largest_stored_events_come_by_replay)
{
    s_paths_t paths;
    char body [32];
    //  The testnode's body is a msgpack bin: 5 bytes of head, then these
    snprintf (body, sizeof body, "%d", ZMESH_STORE_BODY_MAX - 5);
    testnode_t publisher = s_publisher ("3", body, "sockets/hwm=1000", "0",
                                        &paths);
    cr_assert (eq (u64, s_wait_published (&publisher.child, 3), 3));
    uint64_t seqs [2] = {0, 0};
    zmesh_node_t *node = s_local_consumer (&paths, "late", "events/start="
                                           "beginning", seqs);
    zmesh_node_stats_t stats;
    s_consume_until (node, seqs, 3, 20000, NULL, &stats);
    cr_assert (eq (u64, seqs [0], 3), "every one of them consumed");
    cr_assert (eq (u64, seqs [1], 1));
    cr_assert (eq (u64, stats.events_replayed, 3));
    zmesh_node_destroy (&node);
    cr_assert (eq (int, child_stop (&publisher.child, 5000), 0));
}

Test (reliable, consumed_events_commit_in_batches)
{
    s_paths_t paths;
    testnode_t publisher = s_publisher ("500", "8", "sockets/hwm=10000", "0",
                                        &paths);
    cr_assert (eq (u64, s_wait_published (&publisher.child, 500), 500));
    //  All 500 wait in the log: the consumer takes them by replay, in
    //  turns of the loop, each turn one transaction.
    uint64_t seqs [2] = {0, 0};
    zmesh_node_t *node = s_local_consumer (&paths, "batched", "events/start="
                                           "beginning", seqs);
    zmesh_node_stats_t stats;
    s_consume_until (node, seqs, 500, 20000, NULL, &stats);
    cr_assert (eq (u64, seqs [0], 500));
    cr_assert (eq (u64, stats.events_consumed, 500));
    cr_assert (ge (u64, stats.batch_commits, 1));
    cr_assert (le (u64, stats.batch_commits, 50),
               "%" PRIu64 " commits for 500 events", stats.batch_commits);
    //  And each is recorded: a restart consumes none of them again.
    zmesh_node_destroy (&node);
    seqs [0] = seqs [1] = 0;
    node = s_local_consumer (&paths, "batched", "events/start=beginning",
                             seqs);
    s_consume_until (node, seqs, 1, 1000, NULL, NULL);
    cr_assert (eq (u64, seqs [0], 0));
    zmesh_node_destroy (&node);
    cr_assert (eq (int, child_stop (&publisher.child, 5000), 0));
}

Test (reliable, a_consumer_may_start_from_now)
{
    s_paths_t paths;
    testnode_t publisher = s_publisher ("30", "8", "sockets/hwm=10000", "0",
                                        &paths);
    s_wait_published (&publisher.child, 30);
    uint64_t seqs [2] = {0, 0};
    zmesh_node_t *node = s_local_consumer (&paths, "fresh", "events/start=now",
                                           seqs);
    //  Poll through a few heartbeats: nothing from before is replayed.
    s_consume_until (node, seqs, 1, 1000, NULL, NULL);
    cr_assert (eq (u64, seqs [0], 0), "the past is not replayed");
    //  What comes after is consumed: the publisher, restarted, adds five.
    cr_assert (eq (int, child_stop (&publisher.child, 5000), 0));
    publisher = s_publisher ("5", "8", "sockets/hwm=10000", "0", &paths);
    s_consume_until (node, seqs, 5, 10000, &publisher.child, NULL);
    cr_assert (eq (u64, seqs [0], 5));
    cr_assert (eq (u64, seqs [1], 31), "starting right after what it missed");
    zmesh_node_destroy (&node);
    cr_assert (eq (int, child_stop (&publisher.child, 5000), 0));
}

Test (reliable, group_commit_sends_only_what_is_committed)
{
    //  Commits of up to 100 events: 1050 make ten full groups and a tail
    //  that only events/group_ms (10 ms) commits.
    s_paths_t paths;
    testnode_t publisher = s_publisher ("1050", "8", "events/group=100", "0",
                                        &paths);
    testnode_t consumer = s_consumer (&paths, "sockets/hwm=10000", "0");
    cr_assert (eq (i64, s_wait_seen (&publisher.child, 1050, 60000), 1050));
    cr_assert (eq (int, child_stop (&consumer.child, 5000), 0));
    cr_assert (eq (int, child_stop (&publisher.child, 5000), 0));
    s_assert_exactly_once (1050);
}


Test (reliable, flush_commits_the_open_group_at_once)
{
    const char *settings [] = {"events/group=1000", "events/group_ms=60000",
                               NULL};
    zmesh_node_t *node = s_local_node ("grouped", settings);
    cr_assert (eq (int, zmesh_node_flush (node), ZMESH_OK), "nothing open");
    for (int index = 0; index < 10; index++)
        cr_assert (eq (int, zmesh_node_publish (node, "tick.tock", NULL, 0),
                       ZMESH_OK));
    cr_assert (eq (u64, child_committed (dir, "grouped"), 0),
               "the group is open");
    cr_assert (eq (int, zmesh_node_flush (node), ZMESH_OK));
    cr_assert (eq (u64, child_committed (dir, "grouped"), 10));
    zmesh_node_stats_t stats;
    zmesh_node_stats (node, &stats);
    cr_assert (eq (u64, stats.events_published, 10), "sent once committed");
    zmesh_node_destroy (&node);
}

//  The calls one turn of a node with a store takes share one commit, and
//  their replies wait for it. The node is in this process, on inproc, so
//  that every request is in its socket before it polls once.
#define CLIENTS 20

typedef struct {
    zsock_t *clients [CLIENTS];
    int served;
    int replies_early;          //  Replies the clients had before commit
    bool end_transaction;       //  Make the node's commit fail
} s_served_t;

static void
s_note_take (zmesh_node_t *node, const zmesh_envelope_t *request,
             zmesh_envelope_t *reply, void *arg)
{
    (void) request, (void) reply;
    s_served_t *served = arg;
    for (int index = 0; index < CLIENTS; index++)
        served->replies_early += (zsock_events (served->clients [index])
                                  & ZMQ_POLLIN) != 0;
    served->served++;
    cr_assert (eq (int, zmesh_node_publish (node, "note.taken", NULL, 0),
                   ZMESH_OK));
    if (served->end_transaction)
        zmesh_store_commit (zmesh_node_store (node), NULL);
}

//  Send a request of method with id and body (size bytes) from client.
static void
s_request_with (zsock_t *client, const char *method, const zmesh_uuid_t *id,
                const void *body, size_t size)
{
    zmesh_envelope_t *request = zmesh_envelope_new (ZMESH_KIND_REQUEST);
    zmesh_envelope_set_id (request, id);
    zmesh_envelope_set_correlation (request, id);
    zmesh_envelope_set_type (request, method);
    zmesh_envelope_set_source (request, "test");
    zmesh_envelope_set_timestamp (request, 1);
    zmesh_envelope_set_budget_ms (request, 5000);
    if (size)
        cr_assert (eq (int, zmesh_envelope_set_body (request, body, size), 0));
    zframe_t *frame = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (request, &frame, NULL), 0));
    cr_assert (eq (int, zframe_send (&frame, client, 0), 0));
    zmesh_envelope_destroy (&request);
}

//  The same without a body.
static void
s_request_of (zsock_t *client, const char *method, const zmesh_uuid_t *id)
{
    s_request_with (client, method, id, NULL, 0);
}

//  Send a note.take request with id from client.
static void
s_request (zsock_t *client, const zmesh_uuid_t *id)
{
    s_request_of (client, "note.take", id);
}

//  The reply client has, decoded; the test owns it.
static zmesh_envelope_t *
s_reply (zsock_t *client)
{
    cr_assert (zsock_events (client) & ZMQ_POLLIN, "a reply is there");
    zframe_t *frame = zframe_recv (client);
    zmesh_envelope_t *reply = NULL;
    cr_assert (eq (int, zmesh_envelope_decode (zframe_data (frame),
                                               zframe_size (frame), &reply,
                                               NULL), 0));
    zframe_destroy (&frame);
    return reply;
}

Test (reliable, calls_of_one_turn_commit_once_and_reply_after)
{
    const char *settings [] = {"node/calls=inproc://noter-calls", NULL};
    zmesh_node_t *node = s_local_node ("noter", settings);
    s_served_t served = {.served = 0};
    cr_assert (eq (int, zmesh_node_serve (node, "note.take", s_note_take,
                                          &served), 0));
    zmesh_rand_t *rand = zmesh_rand_new ();
    zmesh_uuid_t ids [CLIENTS];
    for (int index = 0; index < CLIENTS; index++) {
        served.clients [index] = zsock_new_req ("inproc://noter-calls");
        zmesh_uuid_generate (rand, &ids [index]);
        s_request (served.clients [index], &ids [index]);
    }
    zmesh_node_poll (node, 0);
    cr_assert (eq (int, served.served, CLIENTS));
    cr_assert (eq (int, served.replies_early, 0),
               "no reply leaves before the commit");
    zmesh_node_stats_t stats;
    zmesh_node_stats (node, &stats);
    cr_assert (eq (u64, stats.batch_commits, 1), "one commit for the turn");
    cr_assert (eq (u64, stats.events_published, CLIENTS));
    cr_assert (eq (u64, child_committed (dir, "noter"), CLIENTS));
    for (int index = 0; index < CLIENTS; index++) {
        zmesh_envelope_t *reply = s_reply (served.clients [index]);
        cr_assert (eq (int, zmesh_envelope_status (reply), ZMESH_STATUS_OK));
        zmesh_envelope_destroy (&reply);
    }

    //  A commit that fails turns the turn's replies into errors, and takes
    //  them out of the reply cache: the retry runs the handler again.
    served.end_transaction = true;
    s_request (served.clients [0], &ids [0]);   //  A retry of a cached one
    zmesh_uuid_t fresh;
    zmesh_uuid_generate (rand, &fresh);
    s_request (served.clients [1], &fresh);
    zmesh_node_poll (node, 0);
    cr_assert (eq (int, served.served, CLIENTS + 1), "the retry was cached");
    zmesh_envelope_t *reply = s_reply (served.clients [1]);
    cr_assert (eq (int, zmesh_envelope_status (reply),
                   ZMESH_STATUS_MESH_ERROR));
    cr_assert (eq (i64, zmesh_envelope_error_code (reply),
                   ZMESH_MESH_UNAVAILABLE));
    cr_assert (eq (str, (char *) zmesh_envelope_header (reply,
                                                        "retry-after-ms"),
                   "1000"));
    zmesh_envelope_destroy (&reply);
    reply = s_reply (served.clients [0]);
    cr_assert (eq (int, zmesh_envelope_status (reply), ZMESH_STATUS_OK),
               "the cached reply was committed in the turn before");
    zmesh_envelope_destroy (&reply);
    served.end_transaction = false;
    s_request (served.clients [1], &fresh);
    zmesh_node_poll (node, 0);
    cr_assert (eq (int, served.served, CLIENTS + 2), "run again");
    reply = s_reply (served.clients [1]);
    cr_assert (eq (int, zmesh_envelope_status (reply), ZMESH_STATUS_OK));
    zmesh_envelope_destroy (&reply);

    for (int index = 0; index < CLIENTS; index++)
        zsock_destroy (&served.clients [index]);
    zmesh_rand_destroy (&rand);
    zmesh_node_destroy (&node);
}

//  At most once across a restart: the reply to a request whose handler
//  wrote is committed with what it wrote, and a retry of it that reaches
//  the node restarted gets that reply, without the handler running again.
Test (reliable, a_retry_after_a_restart_gets_the_reply_its_writes_committed_with)
{
    const char *settings [] = {"node/calls=inproc://once-calls", NULL};
    zmesh_node_t *node = s_local_node ("once", settings);
    s_served_t served = {.served = 0};
    cr_assert (eq (int, zmesh_node_serve (node, "note.take", s_note_take,
                                          &served), 0));
    zmesh_rand_t *rand = zmesh_rand_new ();
    zmesh_uuid_t id;
    zmesh_uuid_generate (rand, &id);
    for (int index = 0; index < CLIENTS; index++)
        served.clients [index] = zsock_new_req ("inproc://once-calls");
    s_request (served.clients [0], &id);
    zmesh_node_poll (node, 0);
    cr_assert (eq (int, served.served, 1));
    zmesh_envelope_t *first = s_reply (served.clients [0]);
    //  The node goes away, its memory with it, and comes back on its store
    zmesh_node_destroy (&node);
    node = s_local_node ("once", settings);
    cr_assert (eq (int, zmesh_node_serve (node, "note.take", s_note_take,
                                          &served), 0));
    //  The retry, as a caller's next attempt makes it: on a new link
    zsock_destroy (&served.clients [0]);
    served.clients [0] = zsock_new_req ("inproc://once-calls");
    s_request (served.clients [0], &id);
    int64_t give_up = zclock_mono () + 5000;
    while (!(zsock_events (served.clients [0]) & ZMQ_POLLIN)
           && zclock_mono () < give_up)
        zmesh_node_poll (node, 10);
    cr_assert (eq (int, served.served, 1), "the handler ran once");
    zmesh_envelope_t *again = s_reply (served.clients [0]);
    cr_assert (zmesh_uuid_eq (zmesh_envelope_id (again),
                              zmesh_envelope_id (first)), "the same reply");
    zmesh_node_stats_t stats;
    zmesh_node_stats (node, &stats);
    cr_assert (eq (u64, stats.duplicates_answered, 1));
    cr_assert (eq (u64, child_committed (dir, "once"), 1), "one event written");
    zmesh_envelope_destroy (&first);
    zmesh_envelope_destroy (&again);
    for (int index = 0; index < CLIENTS; index++)
        zsock_destroy (&served.clients [index]);
    zmesh_rand_destroy (&rand);
    zmesh_node_destroy (&node);
}

//  Wait up to 5 s for a reply on client; whether one came.
static bool
s_wait_reply (zsock_t *client)
{
    zpoller_t *poller = zpoller_new (client, NULL);
    bool ready = zpoller_wait (poller, 5000) == client;
    zpoller_destroy (&poller);
    return ready;
}

//  The same across a real crash: an echo node is killed (SIGKILL, by the
//  library preloaded into it) after the turn that served a request has
//  committed and before the reply leaves. The retry reaches the node
//  restarted, and gets the reply that was committed, without the handler
//  running again.
Test (reliable, a_node_killed_between_commit_and_reply_answers_the_retry_once)
{
    char data [128], calls [300];
    snprintf (data, sizeof data, "node/data=%s/echo", dir);
    snprintf (calls, sizeof calls, "node/calls=ipc://%s/echo-calls", dir);
    char events [300];
    snprintf (events, sizeof events, "node/events=ipc://%s/echo-events", dir);
    const char *settings [] = {data, events, calls, "events/sync=normal",
                               NULL};
    //  Preloaded into the node only; a sanitizer's runtime, if any, then
    //  comes second, which it is told to allow.
    const char *asan = getenv ("ASAN_OPTIONS");
    char asan_options [512];
    snprintf (asan_options, sizeof asan_options, "%s%sverify_asan_link_order=0",
              asan ? asan : "", asan && *asan ? ":" : "");
    setenv ("ASAN_OPTIONS", asan_options, 1);
    setenv ("LD_PRELOAD", CUTREPLY, 1);
    testnode_t node = testnode_start (TESTNODE, "echo", settings);
    unsetenv ("LD_PRELOAD");
    if (asan)
        setenv ("ASAN_OPTIONS", asan, 1);
    else
        unsetenv ("ASAN_OPTIONS");

    zmesh_rand_t *rand = zmesh_rand_new ();
    zmesh_uuid_t id;
    zmesh_uuid_generate (rand, &id);
    zsock_t *client = zsock_new_req (node.calls);
    s_request_of (client, "echo.say", &id);
    cr_assert (eq (int, child_reap (&node.child, 10000), -1),
               "killed as its reply was to leave");
    cr_assert (eq (u64, child_committed (dir, "echo"), 1),
               "echo.said is committed");
    cr_assert (s_wait_reply (client) == false, "no reply came");
    zsock_destroy (&client);

    //  Restarted on its store; the caller's next attempt, on a new link
    node = testnode_start (TESTNODE, "echo", settings);
    client = zsock_new_req (node.calls);
    s_request_of (client, "echo.say", &id);
    cr_assert (s_wait_reply (client), "the retry is answered");
    zmesh_envelope_t *reply = s_reply (client);
    cr_assert (eq (int, zmesh_envelope_status (reply), ZMESH_STATUS_OK));
    char text [ZMESH_UUID_STR_LEN + 1];
    cr_assert (eq (str, (char *) zmesh_envelope_header (reply, "request-id"),
                   zmesh_uuid_unparse (&id, text)));
    cr_assert (eq (u64, child_committed (dir, "echo"), 1),
               "the handler ran once");
    zmesh_envelope_destroy (&reply);
    //  And the node counted it as a duplicate answered
    zmesh_uuid_t ask;
    zmesh_uuid_generate (rand, &ask);
    s_request_of (client, "zmesh.stats", &ask);
    cr_assert (s_wait_reply (client));
    reply = s_reply (client);
    cr_assert (eq (str, (char *) zmesh_envelope_header (reply,
                                                        "duplicates_answered"),
                   "1"));
    zmesh_envelope_destroy (&reply);
    zsock_destroy (&client);
    zmesh_rand_destroy (&rand);
    cr_assert (eq (int, child_stop (&node.child, 5000), 0));
}

//  Send zmesh.replay for from..to from client, and its reply.
static zmesh_envelope_t *
s_replay (zmesh_node_t *node, zsock_t *client, uint64_t from, uint64_t to)
{
    uint8_t body [ZMESH_REPLAY_REQUEST_MAX];
    size_t size = zmesh__replay_request (from, to, NULL, body);
    zmesh_uuid_t id;
    zmesh_rand_t *rand = zmesh_rand_new ();
    zmesh_uuid_generate (rand, &id);
    zmesh_rand_destroy (&rand);
    s_request_with (client, "zmesh.replay", &id, body, size);
    int64_t give_up = zclock_mono () + 5000;
    while (!(zsock_events (client) & ZMQ_POLLIN) && zclock_mono () < give_up)
        zmesh_node_poll (node, 10);
    return s_reply (client);
}

//  A replay's range is a position in the log: numbers past INT64_MAX (or
//  from after to) get mesh error 3, never a read from the start.
Test (reliable, a_replay_range_out_of_bounds_is_refused)
{
    const char *settings [] = {"node/calls=inproc://bounds-calls", NULL};
    zmesh_node_t *node = s_local_node ("bounds", settings);
    for (int index = 0; index < 3; index++)
        cr_assert (eq (int, zmesh_node_publish (node, "tick.tock", NULL, 0),
                       ZMESH_OK));
    zsock_t *client = zsock_new_req ("inproc://bounds-calls");
    const struct {
        uint64_t from, to;
        bool good;
    } cases [] = {{1, 3, true},
                  {(uint64_t) INT64_MAX + 6, (uint64_t) INT64_MAX + 9, false},
                  {1, (uint64_t) INT64_MAX + 1, false},
                  {3, 2, false},
                  {0, 3, false}};
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        zmesh_envelope_t *reply = s_replay (node, client, cases [index].from,
                                            cases [index].to);
        if (cases [index].good)
            cr_assert (eq (int, zmesh_envelope_status (reply),
                           ZMESH_STATUS_OK));
        else {
            cr_assert (eq (int, zmesh_envelope_status (reply),
                           ZMESH_STATUS_MESH_ERROR), "case %zu", index);
            cr_assert (eq (i64, zmesh_envelope_error_code (reply),
                           ZMESH_MESH_BAD_REQUEST), "case %zu", index);
        }
        zmesh_envelope_destroy (&reply);
    }
    zsock_destroy (&client);
    zmesh_node_destroy (&node);
}

//  Two instances of one service (node/service = pub), each with a name
//  of its own, publish 200 ticks each before the consumer starts: it
//  keeps a position for each, and repairs each from that instance's log.
Test (reliable, two_instances_of_a_service_are_consumed_each_on_its_own)
{
    char settings [2][4][200], peers [2][3][200];
    testnode_t pubs [2];
    const char *names [] = {"pub-a", "pub-b"};
    for (int which = 0; which < 2; which++) {
        const char *name = names [which];
        snprintf (settings [which][0], sizeof settings [which][0],
                  "node/data=%s/%s", dir, name);
        snprintf (settings [which][1], sizeof settings [which][1],
                  "node/events=ipc://%s/%s-events", dir, name);
        snprintf (settings [which][2], sizeof settings [which][2],
                  "node/calls=ipc://%s/%s-calls", dir, name);
        snprintf (peers [which][0], sizeof peers [which][0],
                  "peers/%s/service=pub", name);
        snprintf (peers [which][1], sizeof peers [which][1],
                  "peers/%s/events=ipc://%s/%s-events", name, dir, name);
        snprintf (peers [which][2], sizeof peers [which][2],
                  "peers/%s/calls=ipc://%s/%s-calls", name, dir, name);
        const char *list [] = {settings [which][0], settings [which][1],
                               settings [which][2], "node/service=pub",
                               "events/sync=normal", "timing/heartbeat=200",
                               NULL};
        const char *options [] = {"--role", "pub", "--name", name, "--count",
                                  "200", NULL};
        pubs [which] = testnode_start_with (TESTNODE, options, list);
        cr_assert (eq (u64, s_wait_published (&pubs [which].child, 200),
                       200));
    }
    char data [128];
    snprintf (data, sizeof data, "node/data=%s/consumer", dir);
    const char *list [] = {data, peers [0][0], peers [0][1], peers [0][2],
                           peers [1][0], peers [1][1], peers [1][2],
                           "events/sync=normal", "timing/heartbeat=200",
                           NULL};
    const char *options [] = {"--role", "consumer", NULL};
    testnode_t consumer = testnode_start_with (TESTNODE, options, list);
    cr_assert (eq (i64, s_wait_seen (NULL, 400, 20000), 400),
               "every tick of both instances");
    zclock_sleep (500);
    cr_assert (eq (i64, s_seen_count (), 400), "and none twice");
    //  Each replay came from its own instance: none was refused
    zmesh_envelope_t *reply = s_stats_at (consumer.calls);
    cr_assert (eq (str, (char *) zmesh_envelope_header (reply, "bad_frames"),
                   "0"));
    cr_assert (eq (str, (char *) zmesh_envelope_header (reply,
                                                        "events_replayed"),
                   "400"));
    zmesh_envelope_destroy (&reply);
    cr_assert (eq (int, child_stop (&consumer.child, 5000), 0));
    for (int which = 0; which < 2; which++)
        cr_assert (eq (int, child_stop (&pubs [which].child, 5000), 0));
}
