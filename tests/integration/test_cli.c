/*  test_cli.c - the zmesh command line against real nodes.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"
#include "child.h"
#include "peer.h"

static char dir [64];

static void
s_setup (void)
{
    child_dir_make (dir, "cli");
}

static void
s_teardown (void)
{
    child_cleanup ();
    child_dir_remove (dir);
}

TestSuite (cli, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  Run zmesh with up to six arguments; stdout into output; the exit code.
static int
s_zmesh (char *output, size_t size, const char *a, const char *b,
         const char *c, const char *d, const char *e, const char *f)
{
    char *argv [] = {ZMESH, (char *) a, (char *) b, (char *) c, (char *) d,
                     (char *) e, (char *) f, NULL};
    child_t child = child_spawn (argv);
    size_t used = 0;
    char line [1024];
    if (output)
        *output = 0;
    while (child_read_line (child.out, line, sizeof line, 10000))
        if (output)
            used += (size_t) snprintf (output + used, size - used, "%s", line);
    return child_reap (&child, 10000);
}

Test (cli, call_and_status_reach_a_node)
{
    testnode_t echo = testnode_start (TESTNODE, "echo", NULL);
    char output [4096];
    cr_assert (eq (int, s_zmesh (output, sizeof output, "call", echo.calls,
                                 "echo.say", "{\"hello\": [1, 2]}", NULL, NULL),
                   0));
    cr_assert (eq (str, output, "{\"hello\":[1,2]}\n"));
    cr_assert (eq (int, s_zmesh (output, sizeof output, "--key", "order-42",
                                 "call", echo.calls, "echo.say", "3"), 0),
               "a call with a key");
    cr_assert (eq (str, output, "3\n"));
    //  A command that works says nothing else: no start-up lines of the
    //  node it makes for the while
    char *call [] = {ZMESH, "call", echo.calls, "echo.say", "7", NULL};
    child_t quiet = child_spawn_piped (call);
    char line [1024];
    while (child_read_line (quiet.err, line, sizeof line, 10000))
        cr_assert (false, "on stderr: %s", line);
    while (child_read_line (quiet.out, line, sizeof line, 10000))
        ;
    cr_assert (eq (int, child_reap (&quiet, 10000), 0));
    cr_assert (eq (int, s_zmesh (output, sizeof output, "call", echo.calls,
                                 "echo.shout", NULL, NULL, NULL), 1),
               "an unknown method fails");
    cr_assert (eq (int, s_zmesh (output, sizeof output, "call", echo.calls,
                                 "echo.say", "{oops", NULL, NULL), 2),
               "bad JSON is a usage error");
    char peer [300];
    snprintf (peer, sizeof peer, "peers/echo/calls=%s", echo.calls);
    cr_assert (eq (int, s_zmesh (output, sizeof output, "--set", peer,
                                 "status", NULL, NULL, NULL), 0));
    cr_assert (strstr (output, "echo") != NULL && strstr (output, "SERVICE")
               != NULL && strstr (output, "LAG") != NULL, "%s", output);
    cr_assert (eq (int, s_zmesh (NULL, 0, "frobnicate", NULL, NULL, NULL, NULL,
                                 NULL), 2));
    cr_assert (eq (int, s_zmesh (output, sizeof output, "--help", NULL, NULL,
                                 NULL, NULL, NULL), 0));
    cr_assert (strstr (output, "usage: zmesh") != NULL);
    //  Long options may follow the command; "--" keeps what follows it
    cr_assert (eq (int, s_zmesh (output, sizeof output, "status", "--set",
                                 peer, NULL, NULL, NULL), 0));
    cr_assert (strstr (output, "echo") != NULL, "%s", output);
    cr_assert (eq (int, s_zmesh (output, sizeof output, "call", echo.calls,
                                 "echo.say", "--", "-1", NULL), 0));
    cr_assert (eq (str, output, "-1\n"));
    cr_assert (eq (int, s_zmesh (output, sizeof output, "call", echo.calls,
                                 "echo.say", "-1", "--timeout=3000", NULL), 0),
               "-1 stays the body; --timeout is an option");
    cr_assert (eq (str, output, "-1\n"));
    cr_assert (eq (int, child_stop (&echo.child, 5000), 0));
}

Test (cli, publish_through_a_node_and_replay_dead_letters)
{
    char data [128], heal [128], events [128], calls [128];
    snprintf (data, sizeof data, "node/data=%s/pub", dir);
    snprintf (events, sizeof events, "peers/pub/events=ipc://%s/pub-events",
              dir);
    snprintf (calls, sizeof calls, "peers/pub/calls=ipc://%s/pub-calls", dir);
    char pub_events [128], pub_calls [128];
    snprintf (pub_events, sizeof pub_events, "node/events=ipc://%s/pub-events",
              dir);
    snprintf (pub_calls, sizeof pub_calls, "node/calls=ipc://%s/pub-calls",
              dir);
    const char *pub_settings [] = {data, pub_events, pub_calls,
                                   "timing/heartbeat=100", "access/admins=*",
                                   NULL};
    testnode_t pub = testnode_start (TESTNODE, "pub", pub_settings);

    snprintf (heal, sizeof heal, "%s/heal", dir);
    char consumer_data [128];
    snprintf (consumer_data, sizeof consumer_data, "node/data=%s/consumer",
              dir);
    const char *options [] = {"--role", "consumer", "--fail-every", "2",
                              "--heal", heal, NULL};
    const char *settings [] = {consumer_data, events, calls,
                               "timing/heartbeat=100", "events/attempts=2",
                               "events/retry_delay=1", "access/admins=*",
                               NULL};
    testnode_t consumer = testnode_start_with (TESTNODE, options, settings);

    //  Four ticks through the publisher's log; seq 2 and 4 are refused.
    char output [8192];
    cr_assert (eq (int, s_zmesh (output, sizeof output, "publish",
                                 "ipc://dummy", NULL, NULL, NULL, NULL), 2),
               "publish wants a type");
    char pub_target [200];
    snprintf (pub_target, sizeof pub_target, "ipc://%s/pub-calls", dir);
    for (int tick = 0; tick < 4; tick++) {
        cr_assert (eq (int, s_zmesh (output, sizeof output, "publish",
                                     pub_target, "tick.happened",
                                     "{\"n\": 1}", NULL, NULL), 0));
        cr_assert (strstr (output, "\"seq\"") != NULL, "%s", output);
    }
    int64_t deadline = zclock_mono () + 10000;
    int letters = 0;
    while (letters < 2 && zclock_mono () < deadline) {
        s_zmesh (output, sizeof output, "dlq", "list", consumer.calls, NULL,
                 NULL, NULL);
        json_t *list = json_loads (output, 0, NULL);
        letters = (int) json_array_size (list);
        json_decref (list);
        zclock_sleep (100);
    }
    cr_assert (eq (int, letters, 2), "%s", output);
    cr_assert (strstr (output, "refusing seq 2") != NULL, "%s", output);

    //  One letter, whole: what was refused, and the event itself.
    json_t *list = json_loads (output, 0, NULL);
    char id [64];
    snprintf (id, sizeof id, "%s", json_string_value (json_object_get (
                  json_array_get (list, 0), "id")));
    json_decref (list);
    cr_assert (eq (int, s_zmesh (output, sizeof output, "dlq", "show",
                                 consumer.calls, id, NULL, NULL), 0));
    json_t *letter = json_loads (output, 0, NULL);
    cr_assert (letter != NULL, "%s", output);
    json_t *event = json_object_get (letter, "event");
    cr_assert (eq (str, (char *) json_string_value (json_object_get (
                            event, "id")), id));
    cr_assert (eq (str, (char *) json_string_value (json_object_get (
                            event, "type")), "tick.happened"));
    json_t *body = json_object_get (event, "body");
    cr_assert (eq (int, (int) json_integer_value (json_object_get (body, "n")),
                   1));
    cr_assert (strstr (json_string_value (json_object_get (letter, "error")),
                       "refusing seq") != NULL, "%s", output);
    json_decref (letter);
    cr_assert (eq (int, s_zmesh (output, sizeof output, "dlq", "show",
                                 consumer.calls,
                                 "00000000-0000-4000-8000-000000000000", NULL,
                                 NULL), 1), "no such letter");

    //  Healed, the replay succeeds and the letters are gone.
    FILE *file = fopen (heal, "w");
    fclose (file);
    cr_assert (eq (int, s_zmesh (output, sizeof output, "dlq", "replay",
                                 consumer.calls, NULL, NULL, NULL), 0));
    cr_assert (eq (str, output, "{\"replayed\":2,\"failed\":0}\n"));
    s_zmesh (output, sizeof output, "dlq", "list", consumer.calls, NULL, NULL,
             NULL);
    cr_assert (eq (str, output, "[]\n"));
    cr_assert (eq (int, child_stop (&consumer.child, 5000), 0));
    cr_assert (eq (int, child_stop (&pub.child, 5000), 0));
}

//  The administrative built-ins are off unless access/admins names the
//  caller: without security, unless it is "*".
Test (cli, the_administrative_built_ins_are_off_by_default)
{
    testnode_t echo = testnode_start (TESTNODE, "echo", NULL);
    char output [4096];
    cr_assert (eq (int, s_zmesh (output, sizeof output, "tap", "on",
                                 echo.calls, NULL, NULL, NULL), 1),
               "zmesh.tap refused");
    cr_assert (eq (int, s_zmesh (output, sizeof output, "publish", echo.calls,
                                 "echo.said", "{}", NULL, NULL), 1),
               "zmesh.publish refused");
    cr_assert (eq (int, s_zmesh (output, sizeof output, "call", echo.calls,
                                 "zmesh.stats", NULL, NULL, NULL), 0),
               "zmesh.stats served");
    cr_assert (eq (int, child_stop (&echo.child, 5000), 0));
}

//  A node's tap, switched on and off by zmesh, shows zsniff --calls each
//  call it serves: both envelopes, the status and the latency.
Test (cli, the_tap_mirrors_calls_for_zsniff)
{
    const char *settings [] = {"access/admins=*", NULL};
    testnode_t echo = testnode_start (TESTNODE, "echo", settings);
    char output [4096];
    cr_assert (eq (int, s_zmesh (output, sizeof output, "tap", "on",
                                 echo.calls, NULL, NULL, NULL), 0));
    json_t *answer = json_loads (output, 0, NULL);
    cr_assert (json_object_get (answer, "on") == json_true (), "%s", output);
    char endpoint [256];
    snprintf (endpoint, sizeof endpoint, "%s",
              json_string_value (json_object_get (answer, "endpoint")));
    json_decref (answer);
    cr_assert (strncmp (endpoint, "tcp://127.0.0.1:", 16) == 0, "%s", endpoint);

    char *argv [] = {ZSNIFF, "--calls", "--json", "--count", "1",
                     "--duration", "20", "--connect", endpoint, NULL};
    child_t sniff = child_spawn (argv);
    //  The tap's subscriber needs a moment to join: call until it shows one
    char line [8192] = "";
    int64_t deadline = zclock_mono () + 15000;
    bool seen = false;
    while (!seen && zclock_mono () < deadline) {
        cr_assert (eq (int, s_zmesh (NULL, 0, "call", echo.calls, "echo.say",
                                     "{\"n\": 7}", NULL, NULL), 0));
        seen = child_read_line (sniff.out, line, sizeof line, 200);
    }
    cr_assert (seen, "zsniff --calls showed nothing");
    cr_assert (eq (int, child_reap (&sniff, 10000), 0));
    json_t *call = json_loads (line, 0, NULL);
    cr_assert (call != NULL, "%s", line);
    cr_assert (eq (str, (char *) json_string_value (json_object_get (call,
                                                                     "what")),
                   "served"));
    cr_assert (eq (str, (char *) json_string_value (json_object_get (call,
                                                                     "name")),
                   "echo.say"));
    cr_assert (eq (str, (char *) json_string_value (json_object_get (
                            call, "status")), "ok"));
    cr_assert (eq (str, (char *) json_string_value (json_object_get (call,
                                                                     "node")),
                   "echo"));
    json_t *request = json_object_get (call, "request");
    json_t *reply = json_object_get (call, "reply");
    cr_assert (eq (int, (int) json_integer_value (json_object_get (
                            json_object_get (request, "body"), "n")), 7));
    cr_assert (eq (int, (int) json_integer_value (json_object_get (
                            json_object_get (reply, "body"), "n")), 7));
    cr_assert (eq (str, (char *) json_string_value (json_object_get (
                            reply, "causation")),
                   (char *) json_string_value (json_object_get (request,
                                                                "id"))),
               "the reply answers the request shown");
    cr_assert (json_integer_value (json_object_get (call, "latency_us")) >= 0);
    json_decref (call);

    cr_assert (eq (int, s_zmesh (output, sizeof output, "tap", "off",
                                 echo.calls, NULL, NULL, NULL), 0));
    cr_assert (strstr (output, "\"on\":false") != NULL, "%s", output);
    cr_assert (eq (int, s_zmesh (NULL, 0, "tap", "sideways", echo.calls, NULL,
                                 NULL, NULL), 2));
    cr_assert (eq (int, s_zmesh (NULL, 0, "trace", "not-a-uuid", NULL, NULL,
                                 NULL, NULL), 2));
    cr_assert (eq (int, child_stop (&echo.child, 5000), 0));
}

//  What a peer written elsewhere might answer: the body given, and no
//  headers.
typedef struct {
    const void *data;
    size_t size;
} s_body_t;

static void
s_sparse (const zmesh_envelope_t *request, zmesh_envelope_t *reply,
          void *arg)
{
    (void) request;
    s_body_t *body = arg;
    if (body->data)
        zmesh_envelope_set_body (reply, body->data, body->size);
}

//  Answer the one request that comes to router, sparsely, with body.
static void
s_answer_sparsely (zsock_t *router, const void *body, size_t size)
{
    zpoller_t *poller = zpoller_new (router, NULL);
    cr_assert (zpoller_wait (poller, 10000) == router, "no request came");
    zpoller_destroy (&poller);
    s_body_t answer = {body, size};
    zmesh_envelope_t *request = peer_reply (router, "sparse", s_sparse,
                                            &answer);
    zmesh_envelope_destroy (&request);
}

//  Run zmesh with args against router, which answers sparsely with body;
//  its output, and its exit code.
static int
s_against_sparse (zsock_t *router, const void *body, size_t size,
                  char *const *args, char *output, size_t room)
{
    child_t child = child_spawn (args);
    s_answer_sparsely (router, body, size);
    size_t used = 0;
    char line [1024];
    *output = 0;
    while (child_read_line (child.out, line, sizeof line, 10000))
        used += (size_t) snprintf (output + used, room - used, "%s", line);
    return child_reap (&child, 10000);
}

//  A peer that keeps fewer counters, or records without some fields, is
//  shown with what it has: no crash, no "(null)".
Test (cli, status_and_trace_take_what_a_peer_leaves_out)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    cr_assert (gt (int, port, 0));
    char peer [128], output [4096];
    snprintf (peer, sizeof peer, "peers/sparse/calls=tcp://127.0.0.1:%d",
              port);
    char *status [] = {ZMESH, "--set", peer, "status", NULL};
    cr_assert (eq (int, s_against_sparse (router, NULL, 0, status, output,
                                          sizeof output), 0));
    cr_assert (strstr (output, "sparse") != NULL, "%s", output);
    cr_assert (strstr (output, "(null)") == NULL, "%s", output);
    //  Trace records: one with no fields at all, one with a few.
    json_t *records = json_pack ("[{}, {s:s, s:s}, {s:i}]", "what", "made",
                                 "id", "x", "what", 7);
    void *body = NULL;
    size_t size = 0;
    cr_assert (eq (int, zmesh_json_to_msgpack (records, &body, &size, NULL),
                   0));
    json_decref (records);
    char *trace [] = {ZMESH, "--set", peer, "trace",
                      "00000000-0000-4000-8000-000000000001", NULL};
    int rc = s_against_sparse (router, body, size, trace, output,
                               sizeof output);
    cr_assert (rc == 0 || rc == 1, "zmesh trace exited %d", rc);
    cr_assert (strstr (output, "(null)") == NULL, "%s", output);
    free (body);
    zsock_destroy (&router);
}
