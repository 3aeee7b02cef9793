/*  test_zsniff.c - the event tap against real publishers.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include <sys/stat.h>
#include <unistd.h>
#include "zmesh.h"
#include "child.h"

static char dir [64];

static void
s_setup (void)
{
    child_dir_make (dir, "zsniff");
}

static void
s_teardown (void)
{
    child_cleanup ();
    child_dir_remove (dir);
}

TestSuite (zsniff, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  Start zsniff on the publisher's ipc endpoint with more arguments.
static child_t
s_zsniff (const char *endpoint, const char *a, const char *b, const char *c,
          const char *d, const char *e)
{
    char *argv [] = {ZSNIFF, "--connect", (char *) endpoint, (char *) a,
                     (char *) b, (char *) c, (char *) d, (char *) e, NULL};
    return child_spawn (argv);
}

//  The publisher of count ticks, with one more setting (or NULL).
static child_t
s_publisher_with (const char *count, const char *setting)
{
    char data [128], events [128];
    snprintf (data, sizeof data, "node/data=%s/pub", dir);
    snprintf (events, sizeof events, "node/events=ipc://%s/pub-events", dir);
    char *argv [] = {TESTNODE, "--role", "pub", "--count", (char *) count,
                     "--slow-us", "2000", "--set", data, "--set", events,
                     "--set", "timing/heartbeat=100",
                     setting ? "--set" : NULL, (char *) setting, NULL};
    child_t child = child_spawn (argv);
    char line [600];
    cr_assert (child_read_line (child.out, line, sizeof line, 5000));
    return child;
}

static child_t
s_publisher (const char *count)
{
    return s_publisher_with (count, NULL);
}

Test (zsniff, each_event_of_a_batch_is_shown_in_order)
{
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/pub-events", dir);
    //  Eight to a message (the publisher polls once in 100 events), and a
    //  count that ends inside one
    child_t tap = s_zsniff (endpoint, "--json", "--count", "37", NULL, NULL);
    child_t publisher = s_publisher_with ("200", "events/batch=8");
    char line [2048];
    uint64_t last = 0;
    int seen = 0;
    while (child_read_line (tap.out, line, sizeof line, 10000)) {
        json_t *event = json_loads (line, 0, NULL);
        cr_assert (event != NULL, "not JSON: %s", line);
        uint64_t seq = (uint64_t) json_integer_value (json_object_get (event,
                                                                      "seq"));
        cr_assert (last == 0 || seq == last + 1, "%" PRIu64 " after %" PRIu64,
                   seq, last);
        last = seq;
        json_decref (event);
        seen++;
    }
    cr_assert (eq (int, seen, 37));
    cr_assert (eq (int, child_reap (&tap, 5000), 0));
    child_stop (&publisher, 5000);
}

Test (zsniff, json_lines_carry_every_field_of_the_events)
{
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/pub-events", dir);
    child_t tap = s_zsniff (endpoint, "--json", "--count", "20", NULL, NULL);
    child_t publisher = s_publisher ("200");
    char line [2048];
    uint64_t last = 0;
    int seen = 0;
    while (child_read_line (tap.out, line, sizeof line, 10000)) {
        json_t *event = json_loads (line, 0, NULL);
        cr_assert (event != NULL, "not JSON: %s", line);
        cr_assert (eq (str, (char *) json_string_value (json_object_get (
                                event, "type")), "tick.happened"));
        cr_assert (eq (str, (char *) json_string_value (json_object_get (
                                event, "source")), "pub"));
        cr_assert (eq (str, (char *) json_string_value (json_object_get (
                                event, "kind")), "event"));
        zmesh_uuid_t id;
        cr_assert (eq (int, zmesh_uuid_parse (json_string_value (
                                json_object_get (event, "id")), &id), 0));
        uint64_t seq = (uint64_t) json_integer_value (json_object_get (event,
                                                                      "seq"));
        cr_assert (gt (u64, seq, last), "in order");
        last = seq;
        cr_assert (json_string_value (json_object_get (event, "body"))
                   != NULL, "a bin body shows as base64");
        //  Its W3C trace context: its correlation, and its id's last bytes
        zmesh_uuid_t correlation;
        cr_assert (eq (int, zmesh_uuid_parse (json_string_value (
                                json_object_get (event, "correlation")),
                                              &correlation), 0));
        char traceparent [ZMESH_TRACEPARENT_LEN + 1];
        zmesh_traceparent_format (&correlation, id.bytes + 8, traceparent);
        const char *shown = json_string_value (json_object_get (event,
                                                                "traceparent"));
        cr_assert (shown != NULL, "%s", line);
        cr_assert (eq (str, (char *) shown, traceparent));
        cr_assert (json_object_get (event, "parent_span") == NULL,
                   "a publish outside a flow is a trace's root");
        json_decref (event);
        seen++;
    }
    cr_assert (eq (int, seen, 20));
    cr_assert (eq (int, child_reap (&tap, 5000), 0));
    child_stop (&publisher, 5000);
}

Test (zsniff, filters_show_only_what_they_match)
{
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/pub-events", dir);
    child_t none = s_zsniff (endpoint, "--type", "nothing.*", "--duration",
                             "2", NULL);
    child_t beats = s_zsniff (endpoint, "--control", "--type",
                              "zmesh.heartbeat", "--count", "3");
    child_t publisher = s_publisher ("100000");
    char line [2048];
    int heartbeats = 0;
    while (child_read_line (beats.out, line, sizeof line, 5000)) {
        cr_assert (strstr (line, "zmesh.heartbeat") != NULL, "%s", line);
        heartbeats++;
    }
    cr_assert (eq (int, heartbeats, 3));
    cr_assert (eq (int, child_reap (&beats, 5000), 0));
    cr_assert (not (child_read_line (none.out, line, sizeof line, 3000)),
               "no tick matches nothing.*: %s", line);
    cr_assert (eq (int, child_reap (&none, 5000), 0));
    child_stop (&publisher, 5000);
}

//  Publish a tick.happened event from source with seq and a msgpack body
//  (or none) on a bare XPUB socket, as a node of our own making would.
static void
s_rogue_event (zsock_t *rogue, const char *source, uint64_t seq,
               const char *body, size_t size)
{
    zmesh_rand_t *rand = zmesh_rand_seeded_new (seq);
    zmesh_envelope_t *event = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_uuid_t id;
    zmesh_uuid_generate (rand, &id);
    zmesh_envelope_set_id (event, &id);
    zmesh_envelope_set_correlation (event, &id);
    zmesh_envelope_set_type (event, "tick.happened");
    zmesh_envelope_set_source (event, source);
    zmesh_envelope_set_seq (event, seq);
    if (body)
        zmesh_envelope_set_body (event, body, size);
    zframe_t *frame = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (event, &frame, NULL), 0));
    zsock_send (rogue, "bf", "tick.happened", (size_t) 14, frame);
    zframe_destroy (&frame);
    zmesh_envelope_destroy (&event);
    zmesh_rand_destroy (&rand);
}

Test (zsniff, malformed_frames_are_shown_and_the_tap_goes_on)
{
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/rogue", dir);
    zsock_t *rogue = zsock_new (ZMQ_XPUB);
    cr_assert (zsock_bind (rogue, "%s", endpoint) == 0);
    char capture [128];
    snprintf (capture, sizeof capture, "%s/rogue.zsniff", dir);
    child_t tap = s_zsniff (endpoint, "--no-color", "--count", "1", "--write",
                            capture);
    zpoller_t *poller = zpoller_new (rogue, NULL);
    cr_assert (zpoller_wait (poller, 5000) == rogue, "zsniff never came");
    zpoller_destroy (&poller);
    zframe_t *subscription = zframe_recv (rogue);
    zframe_destroy (&subscription);
    zsock_send (rogue, "bb", "tick.happened", (size_t) 14, "\xc1\x00\x01",
                (size_t) 3);
    s_rogue_event (rogue, "rogue", 7, "\x81\xa1n\x2a", 4);

    char line [2048];
    cr_assert (child_read_line (tap.out, line, sizeof line, 5000));
    cr_assert (strstr (line, "malformed") != NULL, "%s", line);
    cr_assert (strstr (line, "c1 00 01") != NULL, "the bytes: %s", line);
    cr_assert (child_read_line (tap.out, line, sizeof line, 5000));
    cr_assert (strstr (line, "rogue") != NULL && strstr (line, "#7") != NULL
               && strstr (line, "{\"n\":42}") != NULL, "%s", line);
    cr_assert (eq (int, child_reap (&tap, 5000), 0));
    zsock_destroy (&rogue);

    //  A capture holds the traffic: its owner's alone
    struct stat status;
    cr_assert (eq (int, stat (capture, &status), 0));
    cr_assert (eq (int, (int) (status.st_mode & 0777), 0600));
    //  The capture holds the bad frame as it came: read back, it is
    //  reported the same way.
    char *read [] = {ZSNIFF, "--read", capture, "--no-color", NULL};
    tap = child_spawn (read);
    cr_assert (child_read_line (tap.out, line, sizeof line, 5000));
    cr_assert (strstr (line, "malformed") != NULL
               && strstr (line, "c1 00 01") != NULL, "%s", line);
    cr_assert (child_read_line (tap.out, line, sizeof line, 5000));
    cr_assert (strstr (line, "rogue") != NULL && strstr (line, "#7") != NULL,
               "%s", line);
    cr_assert (not (child_read_line (tap.out, line, sizeof line, 1000)));
    cr_assert (eq (int, child_reap (&tap, 5000), 0));
}

//  Read every line a child prints into lines; returns how many.
static int
s_lines (child_t *child, char lines [][1024], int max)
{
    int count = 0;
    while (count < max
           && child_read_line (child->out, lines [count], 1024, 10000))
        count++;
    return count;
}

Test (zsniff, a_capture_reads_back_as_it_was_shown_live)
{
    char endpoint [128], capture [128];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/pub-events", dir);
    snprintf (capture, sizeof capture, "%s/ticks.zsniff", dir);
    child_t tap = s_zsniff (endpoint, "--json", "--count", "20", "--write",
                            capture);
    child_t publisher = s_publisher ("100000");
    static char live [21][1024], again [21][1024];
    cr_assert (eq (int, s_lines (&tap, live, 21), 20));
    cr_assert (eq (int, child_reap (&tap, 5000), 0));
    child_stop (&publisher, 5000);

    //  Every field, the arrival time included, comes back the same.
    char *all [] = {ZSNIFF, "--read", capture, "--json", NULL};
    tap = child_spawn (all);
    cr_assert (eq (int, s_lines (&tap, again, 21), 20));
    cr_assert (eq (int, child_reap (&tap, 5000), 0));
    for (int index = 0; index < 20; index++)
        cr_assert (eq (str, again [index], live [index]));
    json_t *first = json_loads (live [0], 0, NULL);
    cr_assert (json_integer_value (json_object_get (first, "arrived"))
               > 1700000000LL * 1000000, "microseconds since the epoch");
    json_decref (first);

    //  The filters work on a capture as on the wire.
    char *five [] = {ZSNIFF, "--read", capture, "--json", "--count", "5",
                     NULL};
    tap = child_spawn (five);
    cr_assert (eq (int, s_lines (&tap, again, 21), 5));
    cr_assert (eq (int, child_reap (&tap, 5000), 0));
    cr_assert (eq (str, again [4], live [4]));
    char *none [] = {ZSNIFF, "--read", capture, "--type", "nothing.*", NULL};
    tap = child_spawn (none);
    cr_assert (eq (int, s_lines (&tap, again, 21), 0));
    cr_assert (eq (int, child_reap (&tap, 5000), 0));

    //  A template picks the fields: strings bare, the rest as JSON.
    char *format [] = {ZSNIFF, "--read", capture, "--format",
                       "{seq}\\t{type}|{source}|{cid}|{body}", NULL};
    tap = child_spawn (format);
    cr_assert (eq (int, s_lines (&tap, again, 21), 20));
    cr_assert (eq (int, child_reap (&tap, 5000), 0));
    for (int index = 0; index < 20; index++) {
        json_t *event = json_loads (live [index], 0, NULL);
        char expected [1024];
        snprintf (expected, sizeof expected, "%" JSON_INTEGER_FORMAT
                  "\t%s|%s|%.8s|%s\n",
                  json_integer_value (json_object_get (event, "seq")),
                  json_string_value (json_object_get (event, "type")),
                  json_string_value (json_object_get (event, "source")),
                  json_string_value (json_object_get (event, "correlation")),
                  json_string_value (json_object_get (event, "body")));
        cr_assert (eq (str, again [index], expected));
        json_decref (event);
    }

    //  Cut short mid-message, as when the tap is killed: what is whole is
    //  shown, and the exit status says the file was not whole.
    struct stat info;
    cr_assert (stat (capture, &info) == 0);
    cr_assert (truncate (capture, info.st_size - 3) == 0);
    tap = child_spawn (all);
    cr_assert (eq (int, s_lines (&tap, again, 21), 19));
    cr_assert (eq (int, child_reap (&tap, 5000), 1));
    cr_assert (eq (str, again [18], live [18]));

    //  Something that is not a capture at all is refused.
    FILE *file = fopen (capture, "w");
    cr_assert (file && fputs ("order.created {}\n", file) >= 0);
    fclose (file);
    tap = child_spawn (all);
    cr_assert (eq (int, child_reap (&tap, 5000), 1));
}

Test (zsniff, usage_errors_exit_2_and_help_exits_0)
{
    char *help [] = {ZSNIFF, "--help", NULL};
    child_t child = child_spawn (help);
    char line [512];
    cr_assert (child_read_line (child.out, line, sizeof line, 5000));
    cr_assert (strstr (line, "usage: zsniff") != NULL);
    while (child_read_line (child.out, line, sizeof line, 1000))
        ;
    cr_assert (eq (int, child_reap (&child, 5000), 0));
    char *bad [] = {ZSNIFF, "--count", "zero", "--connect", "ipc:///x", NULL};
    child = child_spawn (bad);
    cr_assert (eq (int, child_reap (&child, 5000), 2));
    char *nowhere [] = {ZSNIFF, NULL};
    child = child_spawn (nowhere);
    cr_assert (eq (int, child_reap (&child, 5000), 2));
    char *field [] = {ZSNIFF, "--read", "x", "--format", "{seq} {nope}",
                      NULL};
    child = child_spawn (field);
    cr_assert (eq (int, child_reap (&child, 5000), 2));
    char *seed [] = {ZSNIFF, "--seed", "nowhere", NULL};
    child = child_spawn (seed);
    cr_assert (eq (int, child_reap (&child, 5000), 2));
    char *match [] = {ZSNIFF, "--read", "x", "--match", "a..b=1", NULL};
    child = child_spawn (match);
    cr_assert (eq (int, child_reap (&child, 5000), 2));
    char *both [] = {ZSNIFF, "--read", "x", "--connect", "ipc:///x", NULL};
    child = child_spawn (both);
    cr_assert (eq (int, child_reap (&child, 5000), 2));
}

//  The last line a child prints, parsed as JSON.
static json_t *
s_last_json (child_t *child)
{
    static char lines [64][1024];
    int count = s_lines (child, lines, 64);
    cr_assert (gt (int, count, 0), "no output");
    json_t *object = json_loads (lines [count - 1], 0, NULL);
    cr_assert (object != NULL, "not JSON: %s", lines [count - 1]);
    return object;
}

static double
s_number_at (json_t *object, const char *group, const char *key,
             const char *field)
{
    json_t *row = json_object_get (json_object_get (object, group), key);
    cr_assert (row != NULL, "no %s row for %s", group, key);
    return json_number_value (json_object_get (row, field));
}

Test (zsniff, stats_count_the_rate_the_publisher_sent_at)
{
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/pub-events", dir);
    child_t stats = s_zsniff (endpoint, "--stats", "--json", "--count", "300",
                              NULL);
    child_t lines = s_zsniff (endpoint, "--json", "--count", "300", NULL,
                              NULL);
    child_t publisher = s_publisher ("100000");

    //  The rate the events were sent at, by the publisher's own stamps.
    static char line [301][1024];
    cr_assert (eq (int, s_lines (&lines, line, 301), 300));
    cr_assert (eq (int, child_reap (&lines, 5000), 0));
    json_t *first = json_loads (line [0], 0, NULL);
    json_t *last = json_loads (line [299], 0, NULL);
    double sent_s = (json_integer_value (json_object_get (last, "timestamp"))
                   - json_integer_value (json_object_get (first, "timestamp")))
                  / 1000.0;
    json_decref (first);
    json_decref (last);
    cr_assert (gt (dbl, sent_s, 0.0));
    double sent_rate = 299 / sent_s;

    json_t *table = s_last_json (&stats);
    cr_assert (eq (int, child_reap (&stats, 5000), 0));
    child_stop (&publisher, 5000);
    cr_assert (eq (dbl, s_number_at (table, "types", "tick.happened",
                                     "events"), 300));
    cr_assert (eq (dbl, s_number_at (table, "sources", "pub", "events"), 300));
    cr_assert (eq (dbl, s_number_at (table, "sources", "pub", "gaps"), 0));
    cr_assert (eq (dbl, json_number_value (json_object_get (table,
                                                            "malformed")), 0));
    double rate = s_number_at (table, "types", "tick.happened",
                               "events_per_s");
    fprintf (stderr, "zsniff: sent at %.0f/s, --stats saw %.0f/s\n",
             sent_rate, rate);
    cr_assert (rate > sent_rate * 0.8 && rate < sent_rate * 1.25,
               "sent at %.0f/s, counted %.0f/s", sent_rate, rate);
    double bytes = s_number_at (table, "types", "tick.happened", "bytes");
    cr_assert (gt (dbl, bytes, 300 * 14.0), "topic and envelope are counted");
    json_decref (table);
}

Test (zsniff, stats_count_gaps_and_malformed_frames_live_and_read_back)
{
    char endpoint [128], capture [128];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/rogue", dir);
    snprintf (capture, sizeof capture, "%s/gaps.zsniff", dir);
    zsock_t *rogue = zsock_new (ZMQ_XPUB);
    cr_assert (zsock_bind (rogue, "%s", endpoint) == 0);
    char *argv [] = {ZSNIFF, "--connect", endpoint, "--stats", "--json",
                     "--count", "5", "--write", capture, NULL};
    child_t tap = child_spawn (argv);
    zpoller_t *poller = zpoller_new (rogue, NULL);
    cr_assert (zpoller_wait (poller, 5000) == rogue, "zsniff never came");
    zpoller_destroy (&poller);
    zframe_t *subscription = zframe_recv (rogue);
    zframe_destroy (&subscription);
    //  a: 1 2 5 6 (two missing); b: 9 then 3 (a restart, not a gap).
    s_rogue_event (rogue, "a", 1, NULL, 0);
    s_rogue_event (rogue, "a", 2, NULL, 0);
    zsock_send (rogue, "bb", "tick.happened", (size_t) 14, "\xc1", (size_t) 1);
    s_rogue_event (rogue, "a", 5, NULL, 0);
    s_rogue_event (rogue, "b", 9, NULL, 0);
    s_rogue_event (rogue, "b", 3, NULL, 0);
    json_t *live = s_last_json (&tap);
    cr_assert (eq (int, child_reap (&tap, 5000), 0));
    zsock_destroy (&rogue);
    cr_assert (eq (dbl, s_number_at (live, "sources", "a", "events"), 3));
    cr_assert (eq (dbl, s_number_at (live, "sources", "a", "gaps"), 2));
    cr_assert (eq (dbl, s_number_at (live, "sources", "b", "gaps"), 0));
    cr_assert (eq (dbl, s_number_at (live, "types", "tick.happened",
                                     "events"), 5));
    cr_assert (eq (dbl, json_number_value (json_object_get (live,
                                                            "malformed")), 1));

    //  The capture gives the same counts.
    char *read [] = {ZSNIFF, "--read", capture, "--stats", "--json", NULL};
    tap = child_spawn (read);
    json_t *again = s_last_json (&tap);
    cr_assert (eq (int, child_reap (&tap, 5000), 0));
    json_object_del (live, "seconds");
    json_object_del (again, "seconds");
    char *one = json_dumps (live, JSON_SORT_KEYS);
    char *two = json_dumps (again, JSON_SORT_KEYS);
    cr_assert (eq (str, two, one));
    free (one);
    free (two);
    json_decref (live);
    json_decref (again);
}

Test (zsniff, match_filters_on_fields_of_the_body)
{
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/rogue", dir);
    zsock_t *rogue = zsock_new (ZMQ_XPUB);
    zsock_set_xpub_verbose (rogue, 1);
    cr_assert (zsock_bind (rogue, "%s", endpoint) == 0);
    child_t number = s_zsniff (endpoint, "--match", "n=2", "--format",
                               "{seq}", NULL);
    char *argv [] = {ZSNIFF, "--connect", endpoint, "--match",
                     "who.name=ann", "--match", "n=3", "--format", "{seq}",
                     NULL};
    child_t nested = child_spawn (argv);
    zpoller_t *poller = zpoller_new (rogue, NULL);
    for (int taps = 0; taps < 2; taps++) {
        cr_assert (zpoller_wait (poller, 5000) == rogue, "zsniff never came");
        zframe_t *subscription = zframe_recv (rogue);
        zframe_destroy (&subscription);
    }
    zpoller_destroy (&poller);
    //  {"n": seq, "who": {"name": bob|ann|ann}}
    s_rogue_event (rogue, "r", 1, "\x82\xa1n\x01\xa3who\x81\xa4name\xa3" "bob",
                   18);
    s_rogue_event (rogue, "r", 2, "\x82\xa1n\x02\xa3who\x81\xa4name\xa3" "ann",
                   18);
    s_rogue_event (rogue, "r", 3, "\x82\xa1n\x03\xa3who\x81\xa4name\xa3" "ann",
                   18);
    s_rogue_event (rogue, "r", 4, NULL, 0);
    char line [256];
    cr_assert (child_read_line (number.out, line, sizeof line, 5000));
    cr_assert (eq (str, line, "2\n"));
    cr_assert (child_read_line (nested.out, line, sizeof line, 5000));
    cr_assert (eq (str, line, "3\n"));
    cr_assert (not (child_read_line (number.out, line, sizeof line, 500)));
    cr_assert (not (child_read_line (nested.out, line, sizeof line, 500)));
    child_stop (&number, 5000);
    child_stop (&nested, 5000);
    zsock_destroy (&rogue);
}

Test (zsniff, a_seed_leads_the_tap_to_publishers_as_they_join)
{
    char directory [128], bind [160], seed [160], data [128], events [128];
    snprintf (directory, sizeof directory, "ipc://%s/gossip", dir);
    snprintf (bind, sizeof bind, "gossip/bind=%s", directory);
    snprintf (seed, sizeof seed, "gossip/seed=%s", directory);
    const char *seed_settings [] = {bind, NULL};
    testnode_t directory_node = testnode_start (TESTNODE, "seed",
                                                seed_settings);
    //  The tap is there first: the publisher joins later.
    char *argv [] = {ZSNIFF, "--seed", directory, "--json", "--count", "5",
                     NULL};
    child_t tap = child_spawn (argv);
    zclock_sleep (300);
    snprintf (data, sizeof data, "node/data=%s/pub", dir);
    snprintf (events, sizeof events, "node/events=ipc://%s/pub-events", dir);
    char *pub [] = {TESTNODE, "--role", "pub", "--count", "100000",
                    "--slow-us", "2000", "--set", data, "--set", events,
                    "--set", seed, "--set", "timing/heartbeat=100", NULL};
    child_t publisher = child_spawn (pub);
    char line [2048];
    int seen = 0;
    while (child_read_line (tap.out, line, sizeof line, 10000)) {
        json_t *event = json_loads (line, 0, NULL);
        cr_assert (event != NULL, "not JSON: %s", line);
        cr_assert (eq (str, (char *) json_string_value (json_object_get (
                                event, "source")), "pub"));
        json_decref (event);
        seen++;
    }
    cr_assert (eq (int, seen, 5), "gossip never led the tap to pub");
    cr_assert (eq (int, child_reap (&tap, 5000), 0));
    child_stop (&publisher, 5000);
    child_stop (&directory_node.child, 5000);
}

//  zsniff --calls takes a tap's records as they come: one without the
//  fields it shows, or with fields of the wrong kind, is shown with what
//  it has, and the tap goes on.
Test (zsniff, calls_with_records_missing_fields_are_shown)
{
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/tap", dir);
    zsock_t *tap_pub = zsock_new (ZMQ_XPUB);
    cr_assert (zsock_bind (tap_pub, "%s", endpoint) == 0);
    child_t tap = s_zsniff (endpoint, "--calls", "--no-color", "--count", "3",
                            NULL);
    zpoller_t *poller = zpoller_new (tap_pub, NULL);
    cr_assert (zpoller_wait (poller, 5000) == tap_pub, "zsniff never came");
    zpoller_destroy (&poller);
    zframe_t *subscription = zframe_recv (tap_pub);
    zframe_destroy (&subscription);
    //  A request to show
    zmesh_envelope_t *request = zmesh_envelope_new (ZMESH_KIND_REQUEST);
    zmesh_rand_t *rand = zmesh_rand_new ();
    zmesh_uuid_t id;
    zmesh_uuid_generate (rand, &id);
    zmesh_rand_destroy (&rand);
    zmesh_envelope_set_id (request, &id);
    zmesh_envelope_set_correlation (request, &id);
    zmesh_envelope_set_type (request, "echo.say");
    zmesh_envelope_set_source (request, "caller");
    zmesh_envelope_set_timestamp (request, 1);
    zmesh_envelope_set_budget_ms (request, 1000);
    zframe_t *asked = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (request, &asked, NULL), 0));
    zmesh_envelope_destroy (&request);
    const char *records [] = {"{}", "{\"what\": 7, \"node\": [1], "
                              "\"status\": {}, \"at_us\": \"soon\"}",
                              "{\"what\": \"served\", \"node\": \"echo\", "
                              "\"name\": \"echo.say\", \"status\": \"ok\"}"};
    for (int index = 0; index < 3; index++) {
        json_t *record = json_loads (records [index], 0, NULL);
        cr_assert (record != NULL);
        void *packed = NULL;
        size_t size = 0;
        cr_assert (eq (int, zmesh_json_to_msgpack (record, &packed, &size,
                                                   NULL), 0));
        json_decref (record);
        zmsg_t *msg = zmsg_new ();
        zmsg_addstr (msg, "served");
        zmsg_addmem (msg, packed, size);
        zmsg_addmem (msg, zframe_data (asked), zframe_size (asked));
        zmsg_addmem (msg, NULL, 0);
        cr_assert (eq (int, zmsg_send (&msg, tap_pub), 0));
        free (packed);
    }
    zframe_destroy (&asked);
    char line [2048];
    for (int index = 0; index < 3; index++) {
        cr_assert (child_read_line (tap.out, line, sizeof line, 5000),
                   "call %d shown", index + 1);
        cr_assert (strstr (line, "(null)") == NULL, "%s", line);
        cr_assert (strstr (line, "malformed") == NULL, "%s", line);
    }
    cr_assert (strstr (line, "echo.say") != NULL, "%s", line);
    cr_assert (eq (int, child_reap (&tap, 5000), 0), "zsniff exits cleanly");
    zsock_destroy (&tap_pub);
}
