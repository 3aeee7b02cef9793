/*  test_groups.c - service groups: the instances of a consuming service
    on one PostgreSQL store share a publisher's events, each event handled
    once by the group, through a member's SIGKILL and its return.

    The members are zmesh_testnode consumers (node/service=c) on a schema
    of their own on the suites' server (ZMESH_TEST_PG); each records what
    it handles in stream "seen" of the shared store, under an id of its
    own name, so that an event two members both handled shows twice.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdarg.h>
#include "zmesh.h"
#include "child.h"
#include "pgtest.h"

static char dir [64];
static char schema [64];
static char uri [1024];

static void
s_setup (void)
{
    child_dir_make (dir, "groups");
    pgtest_schema_new (schema, uri, sizeof uri);
}

static void
s_teardown (void)
{
    child_cleanup ();
    child_dir_remove (dir);
    pgtest_schema_drop (schema);
}

TestSuite (groups, .init = s_setup, .fini = s_teardown, .timeout = 240);

//  A setting, formatted, kept for the life of the test.
static char s_settings [32][1100];
static size_t s_used;

static const char *
s_setting (const char *format, ...)
{
    cr_assert (lt (sz, s_used, 32));
    va_list args;
    va_start (args, format);
    vsnprintf (s_settings [s_used], sizeof s_settings [0], format, args);
    va_end (args);
    return s_settings [s_used++];
}

//  The publisher: count ticks in 64 streams, slow_us apart.
static testnode_t
s_publisher (const char *count, const char *slow_us)
{
    const char *settings [] = {
        s_setting ("node/data=%s/pub", dir),
        s_setting ("node/events=ipc://%s/pub-events", dir),
        s_setting ("node/calls=ipc://%s/pub-calls", dir),
        "events/sync=normal", "timing/heartbeat=200", NULL};
    const char *options [] = {"--role", "pub", "--count", count, "--keys",
                              "64", "--slow-us", slow_us, NULL};
    return testnode_start_with (TESTNODE, options, settings);
}

//  Member name of group c, which knows the publisher and the other member.
static testnode_t
s_member (const char *name, const char *other)
{
    const char *settings [] = {
        "node/service=c",
        s_setting ("node/data=%s", uri),
        s_setting ("node/events=ipc://%s/%s-events", dir, name),
        s_setting ("node/calls=ipc://%s/%s-calls", dir, name),
        s_setting ("peers/pub/events=ipc://%s/pub-events", dir),
        s_setting ("peers/pub/calls=ipc://%s/pub-calls", dir),
        s_setting ("peers/%s/service=c", other),
        s_setting ("peers/%s/events=ipc://%s/%s-events", other, dir, other),
        s_setting ("peers/%s/calls=ipc://%s/%s-calls", other, dir, other),
        "events/sync=normal", "timing/heartbeat=200", "timing/quiet=1000",
        "timing/gone=3000", NULL};
    const char *options [] = {"--role", "consumer", "--name", name, NULL};
    return testnode_start_with (TESTNODE, options, settings);
}

typedef struct {
    uint64_t max;
    int *counts;
} s_tally_t;

static bool
s_count (const zmesh_stored_event_t *event, void *arg)
{
    s_tally_t *tally = arg;
    const uint8_t *body = event->body;
    cr_assert (eq (sz, event->body_size, 9));
    uint64_t seq = 0;
    for (int index = 1; index < 9; index++)
        seq = seq << 8 | body [index];
    tally->counts [seq <= tally->max ? seq : 0]++;
    return true;
}

//  How many times each sequence up to max is in stream "seen": counts
//  [seq], with counts [0] for those past max.
static void
s_seen (uint64_t max, int *counts)
{
    memset (counts, 0, (max + 1) * sizeof *counts);
    zmesh_detail_t detail = {""};
    zmesh_store_t *store = zmesh_store_open (uri, false, &detail);
    cr_assert (store != NULL, "%s", detail.text);
    s_tally_t tally = {max, counts};
    cr_assert (eq (int, zmesh_store_read_stream (store, "seen", 1, false, 0,
                                                 s_count, &tally, NULL), 0));
    zmesh_store_close (&store);
}

//  Sequences 1..upto seen at least once.
static uint64_t
s_covered (uint64_t upto, int *counts)
{
    s_seen (upto, counts);
    uint64_t covered = 0;
    for (uint64_t seq = 1; seq <= upto; seq++)
        covered += counts [seq] > 0;
    return covered;
}

//  Wait until every sequence 1..upto is seen, at most timeout_ms; the
//  milliseconds it took.
static int64_t
s_wait_covered (uint64_t upto, int *counts, int timeout_ms)
{
    int64_t start = zclock_mono (), deadline = start + timeout_ms;
    while (s_covered (upto, counts) < upto && zclock_mono () < deadline)
        zclock_sleep (50);
    cr_assert (eq (u64, s_covered (upto, counts), upto),
               "every event up to %" PRIu64 " handled in %d ms", upto,
               timeout_ms);
    return zclock_mono () - start;
}

//  Each sequence 1..upto seen exactly once.
static void
s_assert_once (uint64_t upto, int *counts)
{
    s_seen (upto, counts);
    for (uint64_t seq = 1; seq <= upto; seq++)
        cr_assert (eq (int, counts [seq], 1), "seq %" PRIu64 " handled %d "
                   "times", seq, counts [seq]);
    cr_assert (eq (int, counts [0], 0), "nothing past %" PRIu64, upto);
}

//  A counter of the member's zmesh.stats.
static uint64_t
s_stat (const testnode_t *member, const char *name)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "probe");
    char setting [300];
    snprintf (setting, sizeof setting, "peers/member/calls=%s", member->calls);
    zmesh_node_config_set (&config, setting, NULL);
    zmesh_node_t *probe = zmesh_node_new (&config, NULL, NULL, NULL);
    cr_assert (probe != NULL);
    zmesh_envelope_t *reply = NULL;
    cr_assert (eq (int, zmesh_node_call (probe, "member", "zmesh.stats", NULL,
                                         0, 5000, &reply, NULL), 0));
    const char *value = zmesh_envelope_header (reply, name);
    cr_assert (value != NULL, "%s in zmesh.stats", name);
    uint64_t number = strtoull (value, NULL, 10);
    zmesh_envelope_destroy (&reply);
    zmesh_node_destroy (&probe);
    return number;
}

//  The last sequence the publisher said it published, reading what it
//  printed since.
static uint64_t
s_published (child_t *publisher, uint64_t last)
{
    char line [64];
    while (child_read_line (publisher->out, line, sizeof line, 0)) {
        uint64_t seq;
        if (sscanf (line, "published %" SCNu64, &seq) == 1)
            last = seq;
    }
    return last;
}

Test (groups, two_members_share_a_publishers_events_and_handle_each_once)
{
    enum { EVENTS = 600 };
    testnode_t one = s_member ("c-a", "c-b");
    testnode_t two = s_member ("c-b", "c-a");
    zclock_sleep (800);         //  They hear each other
    testnode_t publisher = s_publisher ("600", "2000");
    int counts [EVENTS + 1];
    s_wait_covered (EVENTS, counts, 60000);
    s_assert_once (EVENTS, counts);
    uint64_t first = s_stat (&one, "events_consumed");
    uint64_t second = s_stat (&two, "events_consumed");
    cr_assert (eq (u64, first + second, EVENTS), "%" PRIu64 " + %" PRIu64,
               first, second);
    cr_assert (ge (u64, first, EVENTS / 4), "c-a handled %" PRIu64, first);
    cr_assert (ge (u64, second, EVENTS / 4), "c-b handled %" PRIu64, second);
    cr_assert (gt (u64, s_stat (&one, "events_left"), 0));
    cr_assert (gt (u64, s_stat (&two, "events_left"), 0));
    cr_assert (eq (int, child_stop (&publisher.child, 10000), 0));
    cr_assert (eq (int, child_stop (&one.child, 10000), 0));
    cr_assert (eq (int, child_stop (&two.child, 10000), 0));
}

Test (groups, a_killed_member_leaves_its_keys_to_the_other_and_takes_them_back)
{
    enum { EVENTS = 5000 };
    testnode_t one = s_member ("c-a", "c-b");
    testnode_t two = s_member ("c-b", "c-a");
    zclock_sleep (800);
    testnode_t publisher = s_publisher ("5000", "2000");
    static int counts [EVENTS + 1];
    uint64_t published = 0;
    while ((published = s_published (&publisher.child, published)) < 300)
        zclock_sleep (20);
    //  Killed with events of its keys in flight: the survivor has them
    //  pending, and takes them once it hears no more of c-a
    child_kill (&one.child);
    published = s_published (&publisher.child, published);
    int64_t took = s_wait_covered (published, counts, 20000);
    cr_log_info ("killed at %" PRIu64 ", covered in %" PRId64 " ms, now %"
                 PRIu64, published, took,
                 s_published (&publisher.child, published));
    cr_assert (le (i64, took, 3000), "events up to the kill (%" PRIu64 ") "
               "handled %" PRId64 " ms after it", published, took);
    //  Back, it takes its share of what comes after
    one = s_member ("c-a", "c-b");
    zclock_sleep (800);
    uint64_t back_at = published = s_published (&publisher.child, published);
    cr_assert (lt (u64, back_at, EVENTS - 1000), "still publishing");
    cr_log_info ("keys moved in %" PRId64 " ms; c-a back at %" PRIu64, took,
                 back_at);
    s_wait_covered (EVENTS, counts, 60000);
    s_assert_once (EVENTS, counts);
    uint64_t share = s_stat (&one, "events_consumed");
    cr_assert (ge (u64, share, (EVENTS - back_at) / 4),
               "c-a handled %" PRIu64 " of the %" PRIu64 " after it came "
               "back", share, EVENTS - back_at);
    cr_assert (eq (int, child_stop (&publisher.child, 10000), 0));
    cr_assert (eq (int, child_stop (&one.child, 10000), 0));
    cr_assert (eq (int, child_stop (&two.child, 10000), 0));
}

//  On SQLite each instance has a file of its own: a group could not keep
//  its promise, and the consumer is refused, saying so.
Test (groups, a_member_on_sqlite_is_refused)
{
    char data [128];
    snprintf (data, sizeof data, "node/data=%s/c-a", dir);
    char *argv [] = {TESTNODE, "--role", "consumer", "--name", "c-a",
                     "--set", "node/service=c", "--set", data, NULL};
    cr_assert (eq (int, child_run (argv, 10000), 2));
}
