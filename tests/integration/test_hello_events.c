/*  test_hello_events.c - the hello_events example, run as two real processes
    over tcp loopback.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"
#include "child.h"

TestSuite (hello_events, .fini = child_cleanup);

static child_t
s_spawn (const char *command, const char *endpoint, const char *count)
{
    char *argv [] = {HELLO_EVENTS, (char *) command, "--count", (char *) count,
                     endpoint ? "--endpoint" : NULL, (char *) endpoint, NULL};
    return child_spawn_piped (argv);
}

static void
s_endpoint (child_t *listener, char *endpoint, size_t size)
{
    cr_assert (child_read_line (listener->out, endpoint, size, 5000),
               "listener printed no endpoint");
    endpoint [strcspn (endpoint, "\n")] = 0;
    cr_assert (strncmp (endpoint, "tcp://127.0.0.1:", 16) == 0, "%s",
               endpoint);
}

Test (hello_events, carries_one_flow_between_two_processes)
{
    child_t listener = s_spawn ("listen", NULL, "3");
    char endpoint [256];
    s_endpoint (&listener, endpoint, sizeof endpoint);

    child_t publisher = s_spawn ("publish", endpoint, "3");
    char said [256], correlation [64] = "";
    while (child_read_line (publisher.err, said, sizeof said, 5000)) {
        char *found = strstr (said, "correlation ");
        if (found)
            snprintf (correlation, sizeof correlation, "correlation=%.36s",
                      found + 12);
    }
    cr_assert (eq (int, child_reap (&publisher, 10000), 0));
    cr_assert (strlen (correlation) == 12 + 36, "publisher named no flow");

    char ids [3][64];
    for (int seq = 1; seq <= 3; seq++) {
        char line [512], expected [32];
        cr_assert (child_read_line (listener.out, line, sizeof line, 5000),
                   "event %d never arrived", seq);
        snprintf (expected, sizeof expected, "order.created seq=%d ", seq);
        cr_assert (strncmp (line, expected, strlen (expected)) == 0, "%s",
                   line);
        cr_assert (strstr (line, correlation) != NULL,
                   "event %d left the flow: %s", seq, line);
        char *id = strstr (line, " id=");
        cr_assert (id != NULL);
        snprintf (ids [seq - 1], sizeof ids [0], "%.36s", id + 4);
        zmesh_uuid_t parsed;
        cr_assert (eq (int, zmesh_uuid_parse (ids [seq - 1], &parsed), 0));
        for (int before = 0; before < seq - 1; before++)
            cr_assert (strcmp (ids [before], ids [seq - 1]) != 0);
    }
    cr_assert (eq (int, child_reap (&listener, 10000), 0));
}

Test (hello_events, listener_drops_bad_messages_and_keeps_going)
{
    child_t listener = s_spawn ("listen", NULL, "1");
    char endpoint [256];
    s_endpoint (&listener, endpoint, sizeof endpoint);

    //  A hostile publisher: waits to be subscribed, then sends a topic with
    //  garbage for an envelope, a lone topic, and a valid envelope under a
    //  topic that does not match its type.
    zsock_t *rogue = zsock_new (ZMQ_XPUB);
    cr_assert (zsock_connect (rogue, "%s", endpoint) == 0);
    zpoller_t *poller = zpoller_new (rogue, NULL);
    cr_assert (zpoller_wait (poller, 5000) == rogue, "no subscription");
    zframe_t *subscription = zframe_recv (rogue);
    zframe_destroy (&subscription);
    zpoller_destroy (&poller);
    zsock_send (rogue, "bb", "order.created", (size_t) 14, "garbage", (size_t) 7);
    zsock_send (rogue, "b", "order.created", (size_t) 14);

    zmesh_rand_t *rand = zmesh_rand_seeded_new (1);
    zmesh_envelope_t *event = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_uuid_t id;
    zmesh_uuid_generate (rand, &id);
    zmesh_envelope_set_id (event, &id);
    zmesh_envelope_set_correlation (event, &id);
    zmesh_envelope_set_type (event, "user.created");
    zmesh_envelope_set_source (event, "rogue");
    zmesh_envelope_set_seq (event, 1);
    zframe_t *frame = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (event, &frame, NULL), 0));
    zsock_send (rogue, "bf", "order.created", (size_t) 14, frame);
    zframe_destroy (&frame);
    zmesh_envelope_destroy (&event);
    zmesh_rand_destroy (&rand);

    //  All three are refused before the real publisher starts.
    char line [512];
    for (int bad = 1; bad <= 3; bad++) {
        cr_assert (child_read_line (listener.err, line, sizeof line, 5000),
                   "bad message %d went unreported", bad);
        cr_assert (strstr (line, "dropped bad message") != NULL, "%s", line);
    }
    child_t publisher = s_spawn ("publish", endpoint, "1");
    cr_assert (eq (int, child_reap (&publisher, 10000), 0));
    cr_assert (child_read_line (listener.out, line, sizeof line, 5000),
               "the valid event never arrived");
    cr_assert (strncmp (line, "order.created seq=1 from=hello-publisher", 40)
               == 0, "%s", line);
    cr_assert (eq (int, child_reap (&listener, 10000), 0));
    zsock_destroy (&rogue);
}
