/*  test_garbage.c - garbage sent to every socket of a node process: it
    drops and counts what it cannot read, answers what it can, and serves
    the next valid call.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "zmesh.h"
#include "child.h"

TestSuite (garbage, .fini = child_cleanup);

//  Connect a plain TCP socket to a tcp://127.0.0.1:port endpoint and write
//  bytes that are not ZMTP.
static void
s_raw_garbage (const char *endpoint, zmesh_rand_t *rand)
{
    const char *port = strrchr (endpoint, ':');
    cr_assert (port != NULL);
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_port = htons ((uint16_t) strtol (port + 1, NULL, 10));
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    for (int round = 0; round < 3; round++) {
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        cr_assert (connect (fd, (struct sockaddr *) &address,
                            sizeof address) == 0);
        uint8_t bytes [2048];
        zmesh_rand_fill (rand, bytes, sizeof bytes);
        if (round == 1)     //  A ZMTP-looking signature, then nonsense
            memcpy (bytes, "\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f", 10);
        ssize_t sent = send (fd, bytes, sizeof bytes, MSG_NOSIGNAL);
        (void) sent;        //  The node may hang up on us mid-way
        close (fd);
    }
}

static zframe_t *
s_envelope (zmesh_rand_t *rand, zmesh_kind_t kind, const char *type,
            uint32_t budget)
{
    zmesh_envelope_t *envelope = zmesh_envelope_new (kind);
    zmesh_uuid_t id;
    zmesh_uuid_generate (rand, &id);
    zmesh_envelope_set_id (envelope, &id);
    zmesh_envelope_set_correlation (envelope, &id);
    zmesh_envelope_set_type (envelope, type);
    zmesh_envelope_set_source (envelope, "rogue");
    zmesh_envelope_set_seq (envelope, 1);
    zmesh_envelope_set_budget_ms (envelope, budget);
    zframe_t *frame = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (envelope, &frame, NULL), 0));
    zmesh_envelope_destroy (&envelope);
    return frame;
}

//  The envelope in msg's first frame; asserts it decodes.
static zmesh_envelope_t *
s_reply_in (zmsg_t *msg)
{
    zframe_t *frame = zmsg_first (msg);
    zmesh_envelope_t *reply = NULL;
    cr_assert (eq (int, zmesh_envelope_decode (zframe_data (frame),
                                               zframe_size (frame), &reply,
                                               NULL), 0));
    return reply;
}

//  Wait for a reply on a DEALER or REQ socket and return its error code.
static int64_t
s_mesh_error (zsock_t *socket, bool dealer)
{
    zpoller_t *poller = zpoller_new (socket, NULL);
    cr_assert (zpoller_wait (poller, 3000) == socket, "no reply");
    zpoller_destroy (&poller);
    zmsg_t *msg = zmsg_recv (socket);
    if (dealer) {
        zframe_t *empty = zmsg_pop (msg);
        cr_assert (eq (sz, zframe_size (empty), 0));
        zframe_destroy (&empty);
    }
    zmesh_envelope_t *reply = s_reply_in (msg);
    cr_assert (eq (int, zmesh_envelope_status (reply),
                   ZMESH_STATUS_MESH_ERROR));
    int64_t code = zmesh_envelope_error_code (reply);
    zmesh_envelope_destroy (&reply);
    zmsg_destroy (&msg);
    return code;
}

Test (garbage, to_every_socket_and_the_node_still_serves, .timeout = 60)
{
    zmesh_rand_t *rand = zmesh_rand_seeded_new (11);
    //  A rogue publisher the node subscribes to.
    zsock_t *rogue_pub = zsock_new (ZMQ_XPUB);
    cr_assert (zsock_bind (rogue_pub, "tcp://127.0.0.1:*") > 0);
    char *rogue_endpoint = zsock_last_endpoint (rogue_pub);
    char setting [300];
    snprintf (setting, sizeof setting, "peers/rogue/events=%s", rogue_endpoint);
    zstr_free (&rogue_endpoint);

    const char *settings [] = {setting, NULL};
    testnode_t node = testnode_start (TESTNODE, "echo", settings);
    child_t echo = node.child;
    const char *events = node.events, *calls = node.calls;

    //  1. Bytes that are not ZMTP at all, to both bound ports.
    s_raw_garbage (events, rand);
    s_raw_garbage (calls, rand);

    //  2. Bad requests on the calls socket.
    zsock_t *dealer = zsock_new_dealer (calls);
    zsock_send (dealer, "s", "no delimiter");
    zsock_send (dealer, "bb", "", (size_t) 0, "\xc1", (size_t) 1);
    cr_assert (eq (i64, s_mesh_error (dealer, true), ZMESH_MESH_BAD_REQUEST));
    zframe_t *event = s_envelope (rand, ZMESH_KIND_EVENT, "echo.say", 100);
    zsock_send (dealer, "bf", "", (size_t) 0, event);
    zframe_destroy (&event);
    cr_assert (eq (i64, s_mesh_error (dealer, true), ZMESH_MESH_BAD_REQUEST));
    zsock_t *req = zsock_new_req (calls);
    zframe_t *spent = s_envelope (rand, ZMESH_KIND_REQUEST, "echo.say", 0);
    zframe_send (&spent, req, 0);
    cr_assert (eq (i64, s_mesh_error (req, false),
                   ZMESH_MESH_DEADLINE_EXCEEDED));
    //  A frame over the envelope limit: ZeroMQ drops the connection.
    size_t huge = ZMESH_ENVELOPE_FRAME_MAX + 1;
    zframe_t *big = zframe_new (NULL, huge);
    memset (zframe_data (big), 0x80, huge);
    zsock_send (dealer, "bf", "", (size_t) 0, big);
    zframe_destroy (&big);

    //  3. Bad events from the rogue publisher, once the node has subscribed.
    zpoller_t *poller = zpoller_new (rogue_pub, NULL);
    cr_assert (zpoller_wait (poller, 5000) == rogue_pub, "node never came");
    zpoller_destroy (&poller);
    zframe_t *subscription = zframe_recv (rogue_pub);
    zframe_destroy (&subscription);
    zclock_sleep (100);     //  Let the node's other subscriptions arrive
    zsock_send (rogue_pub, "bs", "echo.said", (size_t) 10, "garbage");
    zsock_send (rogue_pub, "b", "echo.said", (size_t) 10);
    zsock_send (rogue_pub, "bss", "echo.said", (size_t) 10, "a", "b");
    zframe_t *mismatch = s_envelope (rand, ZMESH_KIND_EVENT, "user.created", 1);
    zsock_send (rogue_pub, "bf", "echo.said", (size_t) 10, mismatch);
    zframe_destroy (&mismatch);
    zframe_t *request = s_envelope (rand, ZMESH_KIND_REQUEST, "echo.said", 1);
    zsock_send (rogue_pub, "bf", "echo.said", (size_t) 10, request);
    zframe_destroy (&request);
    zframe_t *beat = s_envelope (rand, ZMESH_KIND_EVENT, "zmesh.heartbeat", 1);
    zsock_send (rogue_pub, "bf", "$zmesh.heartbeat", (size_t) 17, beat);
    zframe_destroy (&beat);

    //  4. Nonsense sent upstream into the node's publisher.
    zsock_t *xsub = zsock_new_xsub (events);
    zsock_send (xsub, "s", "\x07not a subscription");
    zsock_send (xsub, "ss", "\x01", "two frames");

    //  The node answers the next valid call, and counted what it dropped.
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "client");
    snprintf (setting, sizeof setting, "peers/echo/calls=%s", calls);
    zmesh_node_config_set (&config, setting, NULL);
    zmesh_node_t *client = zmesh_node_new (&config, NULL, rand, NULL);
    zmesh_envelope_t *reply = NULL;
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_call (client, "echo", "echo.say", "\x2a", 1,
                                         3000, &reply, &detail), ZMESH_OK),
               "%s", detail.text);
    cr_assert (memcmp (zmesh_envelope_body (reply), "\x2a", 1) == 0);
    zmesh_envelope_destroy (&reply);
    //  At least three on the calls socket and six on the events socket;
    //  more, since libzmq still speaks ZMTP 1.0, which has no handshake to
    //  fail, and takes the raw garbage after a 0xff signature as frames.
    int64_t deadline = zclock_mono () + 3000;
    long bad = 0;
    while (bad < 9 && zclock_mono () < deadline) {
        cr_assert (eq (int, zmesh_node_call (client, "echo", "zmesh.stats",
                                             NULL, 0, 3000, &reply, NULL), 0));
        bad = strtol (zmesh_envelope_header (reply, "bad_frames"), NULL, 10);
        zmesh_envelope_destroy (&reply);
        if (bad < 9)
            zclock_sleep (50);
    }
    cr_assert (ge (long, bad, 9));

    zmesh_node_destroy (&client);
    zsock_destroy (&xsub);
    zsock_destroy (&req);
    zsock_destroy (&dealer);
    cr_assert (eq (int, child_stop (&echo, 2000), 0));
    zsock_destroy (&rogue_pub);
    zmesh_rand_destroy (&rand);
}

//  Send a request for echo.say on dealer behind hops routing frames
//  ("hop0", "hop1", ...), as proxies in between would add them.
static void
s_send_routed (zsock_t *dealer, zmesh_rand_t *rand, int hops)
{
    zmsg_t *msg = zmsg_new ();
    for (int hop = 0; hop < hops; hop++)
        zmsg_addstrf (msg, "hop%d", hop);
    zmsg_addmem (msg, "", 0);
    zframe_t *request = s_envelope (rand, ZMESH_KIND_REQUEST, "echo.say", 3000);
    zmsg_append (msg, &request);
    cr_assert (eq (int, zmsg_send (&msg, dealer), 0));
}

Test (garbage, routing_frames_come_back_and_too_many_are_dropped,
      .timeout = 60)
{
    zmesh_rand_t *rand = zmesh_rand_seeded_new (12);
    testnode_t node = testnode_start (TESTNODE, "echo", NULL);
    zsock_t *dealer = zsock_new_dealer (node.calls);
    //  With the ROUTER's own routing id, 6 hops and the delimiter make 8
    //  routing frames, the most a call may have; 7 hops are one too many.
    s_send_routed (dealer, rand, 7);
    s_send_routed (dealer, rand, 6);
    zpoller_t *poller = zpoller_new (dealer, NULL);
    cr_assert (zpoller_wait (poller, 3000) == dealer, "no reply");
    zmsg_t *msg = zmsg_recv (dealer);
    cr_assert (eq (sz, zmsg_size (msg), 8), "6 hops, delimiter, reply");
    for (int hop = 0; hop < 6; hop++) {
        char *text = zmsg_popstr (msg), expected [16];
        snprintf (expected, sizeof expected, "hop%d", hop);
        cr_assert (eq (str, text, expected), "the route, in order");
        zstr_free (&text);
    }
    zframe_t *empty = zmsg_pop (msg);
    cr_assert (eq (sz, zframe_size (empty), 0));
    zframe_destroy (&empty);
    zmesh_envelope_t *reply = s_reply_in (msg);
    cr_assert (eq (int, zmesh_envelope_status (reply), ZMESH_STATUS_OK));
    zmesh_envelope_destroy (&reply);
    zmsg_destroy (&msg);

    //  The one with 7 hops was counted and got nothing back.
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "client");
    char setting [300];
    snprintf (setting, sizeof setting, "peers/echo/calls=%s", node.calls);
    zmesh_node_config_set (&config, setting, NULL);
    zmesh_node_t *client = zmesh_node_new (&config, NULL, rand, NULL);
    cr_assert (eq (int, zmesh_node_call (client, "echo", "zmesh.stats", NULL,
                                         0, 3000, &reply, NULL), 0));
    cr_assert (eq (str, (char *) zmesh_envelope_header (reply, "bad_frames"),
                   "1"));
    zmesh_envelope_destroy (&reply);
    cr_assert (zpoller_wait (poller, 200) == NULL, "no reply to the 7 hops");
    zpoller_destroy (&poller);
    zmesh_node_destroy (&client);
    zsock_destroy (&dealer);
    cr_assert (eq (int, child_stop (&node.child, 2000), 0));
    zmesh_rand_destroy (&rand);
}
