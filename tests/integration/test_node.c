/*  test_node.c - nodes in separate processes over tcp loopback: events,
    calls, correlation chains, a stuck server, shutdown.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"
#include "child.h"
#include "peer.h"
#include "alloc.h"
#include <pthread.h>
#include <stdatomic.h>

TestSuite (node, .fini = child_cleanup);

typedef testnode_t s_peer_t;

//  Start a testnode with role and up to two settings.
static s_peer_t
s_start (const char *role, const char *set1, const char *set2)
{
    const char *settings [] = {set1, set1 ? set2 : NULL, NULL};
    return testnode_start (TESTNODE, role, settings);
}

typedef struct {
    char type [ZMESH_ENVELOPE_TYPE_MAX + 1];
    zmesh_uuid_t id, correlation, causation;
} s_seen_t;

typedef struct {
    s_seen_t events [16];
    size_t count;
} s_log_t;

static void
s_record (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg)
{
    (void) node;
    s_log_t *log = arg;
    if (log->count == 16)
        return;
    s_seen_t *seen = &log->events [log->count++];
    snprintf (seen->type, sizeof seen->type, "%s", zmesh_envelope_type (event));
    seen->id = *zmesh_envelope_id (event);
    seen->correlation = *zmesh_envelope_correlation (event);
    //  Nil when there is none: a flow's first message has no cause.
    const zmesh_uuid_t *cause = zmesh_envelope_causation (event);
    memset (&seen->causation, 0, sizeof seen->causation);
    if (cause)
        seen->causation = *cause;
}

static const s_seen_t *
s_find (s_log_t *log, const char *type)
{
    for (size_t index = 0; index < log->count; index++)
        if (streq (log->events [index].type, type))
            return &log->events [index];
    return NULL;
}

static bool
s_alive (zmesh_node_t *node, const char *service)
{
    for (size_t index = 0; index < zmesh_node_peer_count (node); index++) {
        zmesh_peer_info_t info;
        zmesh_node_peer (node, index, &info);
        if (streq (info.service, service) && info.state == ZMESH_PEER_ALIVE)
            return true;
    }
    return false;
}

//  Poll node until it has heard from service, at most 5 s.
static void
s_wait_alive (zmesh_node_t *node, const char *service)
{
    int64_t deadline = zclock_mono () + 5000;
    while (!s_alive (node, service) && zclock_mono () < deadline)
        zmesh_node_poll (node, 50);
    cr_assert (s_alive (node, service), "never heard from %s", service);
}

static zmesh_node_t *
s_client (const char *setting1, const char *setting2, const char *setting3)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "client");
    zmesh_node_config_set (&config, "timing/heartbeat=100", NULL);
    const char *settings [] = {setting1, setting2, setting3};
    zmesh_detail_t detail = {""};
    for (int index = 0; index < 3; index++)
        if (settings [index])
            cr_assert (eq (int, zmesh_node_config_set (&config, settings [index],
                                                       &detail), 0),
                       "%s", detail.text);
    zmesh_node_t *node = zmesh_node_new (&config, NULL, NULL, &detail);
    cr_assert (node != NULL, "%s", detail.text);
    return node;
}

//  A client node that calls service at peer.
static zmesh_node_t *
s_client_for (const char *service, const s_peer_t *peer)
{
    char calls [300];
    snprintf (calls, sizeof calls, "peers/%s/calls=%s", service, peer->calls);
    return s_client (calls, NULL, NULL);
}

static void
s_uuid_header (const zmesh_envelope_t *envelope, const char *name,
               zmesh_uuid_t *uuid)
{
    const char *text = zmesh_envelope_header (envelope, name);
    cr_assert (text != NULL, "no header %s", name);
    cr_assert (eq (int, zmesh_uuid_parse (text, uuid), 0), "%s", text);
}

Test (node, correlation_chains_through_a_handler_that_publishes_and_calls)
{
    char setting [2][ZMESH_ENDPOINT_MAX + 32];
    s_peer_t echo = s_start ("echo", "timing/heartbeat=100", NULL);
    snprintf (setting [0], sizeof setting [0], "peers/echo/calls=%s",
              echo.calls);
    s_peer_t relay = s_start ("relay", "timing/heartbeat=100", setting [0]);

    char relay_events [300], relay_calls [300], echo_events [300];
    snprintf (relay_events, sizeof relay_events, "peers/relay/events=%s",
              relay.events);
    snprintf (relay_calls, sizeof relay_calls, "peers/relay/calls=%s",
              relay.calls);
    snprintf (echo_events, sizeof echo_events, "peers/echo/events=%s",
              echo.events);
    zmesh_node_t *client = s_client (relay_events, relay_calls, echo_events);
    s_log_t log = {.count = 0};
    cr_assert (eq (int, zmesh_node_subscribe (client, "relay.*", s_record, &log),
                   0));
    cr_assert (eq (int, zmesh_node_subscribe (client, "echo.said", s_record,
                                              &log), 0));
    s_wait_alive (client, "relay");
    s_wait_alive (client, "echo");

    //  The flow: client -> relay.start -> (relay.started, echo.say ->
    //  (echo.said)) -> reply.
    zmesh_uuid_t flow;
    cr_assert (eq (int, zmesh_uuid_parse ("5a1e0000-0000-4000-8000-00000000f10e",
                                          &flow), 0));
    zmesh_node_flow_begin (client, &flow);
    zmesh_envelope_t *reply = NULL;
    zmesh_detail_t detail = {""};
    int rc = zmesh_node_call (client, "relay", "relay.start", "\xa2hi", 3, 5000,
                              &reply, &detail);
    zmesh_node_flow_end (client);
    cr_assert (eq (int, rc, ZMESH_OK), "%s: %s", zmesh_strerror (rc),
               detail.text);
    cr_assert (eq (sz, zmesh_envelope_body_size (reply), 3));
    cr_assert (memcmp (zmesh_envelope_body (reply), "\xa2hi", 3) == 0);

    int64_t deadline = zclock_mono () + 5000;
    while ((!s_find (&log, "relay.started") || !s_find (&log, "echo.said"))
           && zclock_mono () < deadline)
        zmesh_node_poll (client, 50);
    const s_seen_t *started = s_find (&log, "relay.started");
    const s_seen_t *said = s_find (&log, "echo.said");
    cr_assert (started && said, "events missing: %zu seen", log.count);

    cr_assert (not (zmesh_uuid_is_nil (&started->causation)));
    cr_assert (not (zmesh_uuid_is_nil (&said->causation)));
    //  One correlation id all the way through.
    cr_assert (zmesh_uuid_eq (zmesh_envelope_correlation (reply), &flow));
    cr_assert (zmesh_uuid_eq (&started->correlation, &flow));
    cr_assert (zmesh_uuid_eq (&said->correlation, &flow));
    //  Causation: each message points at the one that caused it.
    const zmesh_uuid_t *relay_request = zmesh_envelope_causation (reply);
    cr_assert (relay_request != NULL);
    cr_assert (zmesh_uuid_eq (&started->causation, relay_request),
               "relay.started was caused by the relay.start request");
    zmesh_uuid_t echo_request, echo_cause;
    s_uuid_header (reply, "request-id", &echo_request);
    s_uuid_header (reply, "request-causation", &echo_cause);
    cr_assert (zmesh_uuid_eq (&echo_cause, relay_request),
               "echo.say was caused by the relay.start request");
    cr_assert (zmesh_uuid_eq (&said->causation, &echo_request),
               "echo.said was caused by the echo.say request");

    zmesh_envelope_destroy (&reply);
    zmesh_node_destroy (&client);
    cr_assert (eq (int, child_stop (&relay.child, 2000), 0));
    cr_assert (eq (int, child_stop (&echo.child, 2000), 0));
}

Test (node, stuck_server_times_out_on_time_and_the_next_call_works)
{
    s_peer_t stuck = s_start ("stuck", NULL, NULL);
    zmesh_node_t *client = s_client_for ("stuck", &stuck);

    zmesh_envelope_t *reply = NULL;
    zmesh_detail_t detail = {""};
    int64_t started = zclock_mono ();
    int rc = zmesh_node_call (client, "stuck", "stuck.sleep", NULL, 0, 300,
                              &reply, &detail);
    int64_t elapsed = zclock_mono () - started;
    cr_assert (eq (int, rc, ZMESH_ERR_TIMEOUT), "%s", zmesh_strerror (rc));
    cr_assert (reply == NULL);
    cr_assert (ge (i64, elapsed, 300));
    //  Well before stuck.sleep's 1500 ms would have answered, with room
    //  for a loaded machine.
    cr_assert (le (i64, elapsed, 300 + 900), "took %" PRId64 " ms", elapsed);

    //  The server is still asleep on the first request. The next call's
    //  first attempt times out after retry/attempt_timeout (1 s) on a
    //  fresh socket; its retry, with the same request id, finds the server
    //  awake: it has run ping for the first attempt, and answers the retry
    //  from its reply cache without running the handler again.
    rc = zmesh_node_call (client, "stuck", "stuck.ping", NULL, 0, 5000, &reply,
                          &detail);
    cr_assert (eq (int, rc, ZMESH_OK), "%s: %s", zmesh_strerror (rc),
               detail.text);
    cr_assert (eq (str, (char *) zmesh_envelope_type (reply), "stuck.ping"));
    zmesh_envelope_destroy (&reply);
    zmesh_node_stats_t stats;
    zmesh_node_stats (client, &stats);
    cr_assert (eq (u64, stats.call_timeouts, 2));
    cr_assert (eq (u64, stats.calls_made, 3));
    cr_assert (eq (int, zmesh_node_call (client, "stuck", "zmesh.stats", NULL,
                                         0, 2000, &reply, &detail), ZMESH_OK));
    cr_assert (eq (str, (char *) zmesh_envelope_header (reply,
                                                        "duplicates_answered"),
                   "1"), "the retry was answered from the cache");
    cr_assert (eq (str, (char *) zmesh_envelope_header (reply, "calls_served"),
                   "3"), "sleep, ping once, the cached ping");
    zmesh_envelope_destroy (&reply);
    zmesh_node_destroy (&client);
    cr_assert (eq (int, child_stop (&stuck.child, 3000), 0));
}

//  A call from a second thread of a shared node, in a flow of its own.
typedef struct {
    zmesh_node_t *node;
    zmesh_uuid_t flow;
    zmesh_err_t rc;
    zmesh_uuid_t replied_in;    //  The reply's correlation
    atomic_bool done;
} s_sleeper_t;

static void *
s_sleeper (void *arg)
{
    s_sleeper_t *sleeper = arg;
    zmesh_envelope_t *reply = NULL;
    zmesh_node_lock (sleeper->node);
    zmesh_node_flow_begin (sleeper->node, &sleeper->flow);
    sleeper->rc = zmesh_node_call (sleeper->node, "stuck", "stuck.sleep", NULL,
                                   0, 10000, &reply, NULL);
    cr_assert (zmesh_uuid_eq (zmesh_node_correlation (sleeper->node),
                              &sleeper->flow), "the flow in force is back");
    zmesh_node_flow_end (sleeper->node);
    if (reply)
        sleeper->replied_in = *zmesh_envelope_correlation (reply);
    zmesh_envelope_destroy (&reply);
    //  Before the lock goes: a call that waited for it sees done.
    atomic_store (&sleeper->done, true);
    zmesh_node_unlock (sleeper->node);
    return NULL;
}

Test (node, threads_sharing_a_node_have_calls_in_flight_at_once)
{
    s_peer_t stuck = s_start ("stuck", NULL, NULL);
    s_peer_t echo = s_start ("echo", NULL, NULL);
    char setting [2][ZMESH_ENDPOINT_MAX + 32];
    snprintf (setting [0], sizeof setting [0], "peers/stuck/calls=%s",
              stuck.calls);
    snprintf (setting [1], sizeof setting [1], "peers/echo/calls=%s",
              echo.calls);
    zmesh_node_t *client = s_client (setting [0], setting [1], NULL);
    zmesh_rand_t *rand = zmesh_rand_new ();
    s_sleeper_t sleeper = {.node = client};
    zmesh_uuid_generate (rand, &sleeper.flow);
    atomic_init (&sleeper.done, false);
    pthread_t thread;
    cr_assert (eq (int, pthread_create (&thread, NULL, s_sleeper, &sleeper),
                   0));

    //  Once its request is out (it counts it under the lock, just before
    //  it lets go), the sleeper waits 1500 ms for stuck.sleep's reply.
    zmesh_node_stats_t stats = {0};
    while (stats.calls_made == 0) {
        zmesh_node_lock (client);
        zmesh_node_stats (client, &stats);
        zmesh_node_unlock (client);
    }
    zmesh_uuid_t flow;
    zmesh_uuid_generate (rand, &flow);
    zmesh_envelope_t *reply = NULL;
    zmesh_detail_t detail = {""};
    zmesh_node_lock (client);
    zmesh_node_flow_begin (client, &flow);
    zmesh_err_t rc = zmesh_node_call (client, "echo", "echo.say", NULL, 0, 5000,
                                      &reply, &detail);
    zmesh_node_flow_end (client);
    zmesh_node_unlock (client);
    bool sleeper_done = atomic_load (&sleeper.done);
    cr_assert (eq (int, rc, ZMESH_OK), "%s: %s", zmesh_strerror (rc),
               detail.text);
    cr_assert (not (sleeper_done),
               "echo.say waited for the other thread's call to end");
    cr_assert (zmesh_uuid_eq (zmesh_envelope_correlation (reply), &flow),
               "each thread's call carries its own flow");
    zmesh_envelope_destroy (&reply);

    pthread_join (thread, NULL);
    cr_assert (eq (int, sleeper.rc, ZMESH_OK), "%s",
               zmesh_strerror (sleeper.rc));
    cr_assert (zmesh_uuid_eq (&sleeper.replied_in, &sleeper.flow));
    //  The sleeper's first attempt timed out after retry/attempt_timeout
    //  (1 s), and stuck answered its retry from the reply cache: its wait
    //  between the two let go of the lock as well.
    zmesh_node_stats (client, &stats);
    cr_assert (eq (u64, stats.calls_made, 3));
    cr_assert (eq (u64, stats.call_timeouts, 1));
    zmesh_rand_destroy (&rand);
    zmesh_node_destroy (&client);
    cr_assert (eq (int, child_stop (&stuck.child, 3000), 0));
    cr_assert (eq (int, child_stop (&echo.child, 2000), 0));
}

Test (node, unknown_methods_and_services_get_clear_errors)
{
    s_peer_t echo = s_start ("echo", NULL, NULL);
    zmesh_node_t *client = s_client_for ("echo", &echo);

    zmesh_envelope_t *reply = NULL;
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_call (client, "echo", "echo.shout", NULL, 0,
                                         2000, &reply, &detail),
                   ZMESH_ERR_UNKNOWN_METHOD));
    cr_assert (strstr (detail.text, "echo.shout") != NULL, "%s", detail.text);
    cr_assert (eq (int, zmesh_node_call (client, "nobody", "x.y", NULL, 0, 2000,
                                         &reply, &detail), ZMESH_ERR_NO_ROUTE));
    cr_assert (eq (int, zmesh_node_call (client, "echo", "bad method", NULL, 0,
                                         2000, &reply, &detail),
                   ZMESH_ERR_ENVELOPE_BAD_NAME));
    cr_assert (reply == NULL);

    //  The built-in counters saw it all.
    cr_assert (eq (int, zmesh_node_call (client, "echo", "zmesh.stats", NULL, 0,
                                         2000, &reply, &detail), ZMESH_OK));
    cr_assert (eq (str, (char *) zmesh_envelope_header (reply,
                                                        "unknown_methods"),
                   "1"));
    zmesh_envelope_destroy (&reply);
    zmesh_node_destroy (&client);
    cr_assert (eq (int, child_stop (&echo.child, 2000), 0));
}

Test (node, sigterm_stops_a_node_within_a_second)
{
    s_peer_t echo = s_start ("echo", NULL, NULL);
    //  child_stop fails the test if the node is still there after 1 s; a
    //  second clock around it would only add the reaper's polling jitter.
    cr_assert (eq (int, child_stop (&echo.child, 1000), 0));
}

//  Two nodes in this process, over tcp loopback, polled in turn.
typedef struct {
    zmesh_node_t *publisher;
    zmesh_node_t *subscriber;
} s_pair_t;

static s_pair_t
s_pair (void)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "publisher");
    zmesh_node_config_set (&config, "timing/heartbeat=50", NULL);
    s_pair_t pair;
    pair.publisher = zmesh_node_new (&config, NULL, NULL, NULL);
    cr_assert (pair.publisher != NULL);
    char events [300], calls [300];
    snprintf (events, sizeof events, "peers/publisher/events=%s",
              zmesh_node_events_endpoint (pair.publisher));
    snprintf (calls, sizeof calls, "peers/publisher/calls=%s",
              zmesh_node_calls_endpoint (pair.publisher));
    zmesh_node_config_defaults (&config, "subscriber");
    zmesh_node_config_set (&config, events, NULL);
    zmesh_node_config_set (&config, calls, NULL);
    pair.subscriber = zmesh_node_new (&config, NULL, NULL, NULL);
    cr_assert (pair.subscriber != NULL);
    return pair;
}

static void
s_poll_both (s_pair_t *pair)
{
    zmesh_node_poll (pair->publisher, 0);
    zmesh_node_poll (pair->subscriber, 10);
}

Test (node, exact_subscriptions_skip_longer_types_and_prefixes_match)
{
    s_pair_t pair = s_pair ();
    s_log_t log = {.count = 0};
    zmesh_node_subscribe (pair.subscriber, "user.created", s_record, &log);
    zmesh_node_subscribe (pair.subscriber, "order.*", s_record, &log);

    //  Publish a probe until it arrives: then both subscriptions, sent
    //  in order on one connection, have reached the publisher.
    int64_t deadline = zclock_mono () + 5000;
    while (log.count == 0 && zclock_mono () < deadline) {
        zmesh_node_publish (pair.publisher, "order.probe", NULL, 0);
        s_poll_both (&pair);
    }
    cr_assert (ge (sz, log.count, 1), "the subscriber never connected");
    deadline = zclock_mono () + 200;        //  Probes still on the way
    while (zclock_mono () < deadline)
        s_poll_both (&pair);
    log.count = 0;

    const char *types [] = {"user.created_v2", "user.created", "users.created",
                            "order.created", "orders.created",
                            "order.confirmed", "user.createdx", NULL};
    for (int index = 0; types [index]; index++)
        cr_assert (eq (int, zmesh_node_publish (pair.publisher, types [index],
                                                "\xc0", 1), 0));
    deadline = zclock_mono () + 1000;
    while (zclock_mono () < deadline)
        s_poll_both (&pair);
    cr_assert (eq (sz, log.count, 3));
    cr_assert (eq (str, log.events [0].type, "user.created"));
    cr_assert (eq (str, log.events [1].type, "order.created"));
    cr_assert (eq (str, log.events [2].type, "order.confirmed"));
    //  Outside any flow, each publish starts one of its own, uncaused,
    //  named by its own id (envelope.md, Ids).
    cr_assert (not (zmesh_uuid_eq (&log.events [0].correlation,
                                   &log.events [1].correlation)));
    for (size_t index = 0; index < log.count; index++)
        cr_assert (zmesh_uuid_eq (&log.events [index].correlation,
                                  &log.events [index].id));
    cr_assert (zmesh_uuid_is_nil (&log.events [0].causation));
    zmesh_node_destroy (&pair.subscriber);
    zmesh_node_destroy (&pair.publisher);
}

//  An event goes to every subscription that matches it, in the order they
//  were made, and to none of the others between them.
Test (node, every_subscription_that_matches_an_event_takes_it)
{
    s_pair_t pair = s_pair ();
    s_log_t orders = {.count = 0}, users = {.count = 0}, created = {.count = 0};
    zmesh_node_subscribe (pair.subscriber, "order.*", s_record, &orders);
    zmesh_node_subscribe (pair.subscriber, "user.*", s_record, &users);
    zmesh_node_subscribe (pair.subscriber, "order.created", s_record,
                          &created);
    int64_t deadline = zclock_mono () + 5000;
    while ((orders.count == 0 || users.count == 0)
           && zclock_mono () < deadline) {
        zmesh_node_publish (pair.publisher, "order.probe", NULL, 0);
        zmesh_node_publish (pair.publisher, "user.probe", NULL, 0);
        s_poll_both (&pair);
    }
    cr_assert (orders.count > 0 && users.count > 0,
               "the subscriber never connected");
    deadline = zclock_mono () + 200;        //  Probes still on the way
    while (zclock_mono () < deadline)
        s_poll_both (&pair);
    orders.count = users.count = created.count = 0;
    cr_assert (eq (int, zmesh_node_publish (pair.publisher, "order.created",
                                            "\xc0", 1), 0));
    deadline = zclock_mono () + 1000;
    while (zclock_mono () < deadline && created.count == 0)
        s_poll_both (&pair);
    cr_assert (eq (sz, orders.count, 1));
    cr_assert (eq (sz, created.count, 1));
    cr_assert (eq (sz, users.count, 0));
    cr_assert (zmesh_uuid_eq (&orders.events [0].id, &created.events [0].id));
    zmesh_node_destroy (&pair.subscriber);
    zmesh_node_destroy (&pair.publisher);
}

static void
s_refuse (zmesh_node_t *node, const zmesh_envelope_t *request,
          zmesh_envelope_t *reply, void *arg)
{
    (void) node, (void) request, (void) arg;
    zmesh_envelope_set_status (reply, ZMESH_STATUS_APP_ERROR, 402,
                               "payment declined");
}

//  A payment node in a thread of its own: sends its calls endpoint up the
//  pipe, then serves until $TERM.
static void
s_payment_actor (zsock_t *pipe, void *arg)
{
    (void) arg;
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "payment");
    zmesh_node_t *node = zmesh_node_new (&config, NULL, NULL, NULL);
    if (!node) {
        zsock_signal (pipe, 0);
        zstr_sendx (pipe, "", "none", NULL);
        return;
    }
    zmesh_node_serve (node, "payment.charge", s_refuse, NULL);
    bool twice = zmesh_node_serve (node, "payment.charge", s_refuse, NULL)
                 == ZMESH_ERR_INVALID;
    zsock_signal (pipe, 0);
    zstr_sendx (pipe, zmesh_node_calls_endpoint (node), twice ? "1" : "0",
                NULL);
    while (!zsock_events (pipe) || !(zsock_events (pipe) & ZMQ_POLLIN))
        zmesh_node_poll (node, 10);
    char *command = zstr_recv (pipe);
    zstr_free (&command);
    zmesh_node_destroy (&node);
}

Test (node, application_errors_reach_the_caller_with_code_and_text)
{
    zactor_t *payment = zactor_new (s_payment_actor, NULL);
    char *calls = NULL, *twice = NULL;
    zstr_recvx (payment, &calls, &twice, NULL);
    cr_assert (eq (str, twice, "1"), "a method is served only once");
    char setting [300];
    snprintf (setting, sizeof setting, "peers/payment/calls=%s", calls);
    zmesh_node_t *client = s_client (setting, NULL, NULL);

    zmesh_envelope_t *reply = NULL;
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_call (client, "payment", "payment.charge",
                                         NULL, 0, 2000, &reply, &detail),
                   ZMESH_ERR_APP_ERROR));
    cr_assert (reply != NULL, "an application error comes with its reply");
    cr_assert (eq (i64, zmesh_envelope_error_code (reply), 402));
    cr_assert (eq (str, (char *) zmesh_envelope_error_text (reply),
                   "payment declined"));
    cr_assert (eq (str, detail.text, "payment declined"));
    zmesh_envelope_destroy (&reply);
    zmesh_node_destroy (&client);
    zactor_destroy (&payment);
    zstr_free (&calls);
    zstr_free (&twice);
}

//  A server that answers its first request with a reply to some other
//  request, and the second one properly.
static void
s_confused_actor (zsock_t *pipe, void *arg)
{
    (void) arg;
    zsock_t *router = zsock_new_router ("tcp://127.0.0.1:*");
    zmesh_rand_t *rand = zmesh_rand_seeded_new (3);
    zsock_signal (pipe, 0);
    char *endpoint = zsock_last_endpoint (router);
    zstr_send (pipe, endpoint);
    zstr_free (&endpoint);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    for (int round = 0; zpoller_wait (poller, -1) == router; round++) {
        zmsg_t *msg = zmsg_recv (router);
        zframe_t *last = zmsg_last (msg);
        zmesh_envelope_t *request = NULL;
        if (zmesh_envelope_decode (zframe_data (last), zframe_size (last),
                                   &request, NULL) != ZMESH_OK) {
            zmsg_destroy (&msg);
            continue;
        }
        zmesh_envelope_t *reply = zmesh_envelope_new (ZMESH_KIND_REPLY);
        zmesh_uuid_t id;
        zmesh_uuid_generate (rand, &id);
        zmesh_envelope_set_id (reply, &id);
        zmesh_envelope_set_correlation (reply,
                                        zmesh_envelope_correlation (request));
        if (round == 0)
            zmesh_envelope_set_causation (reply, &id);
        else
            zmesh_envelope_set_causation (reply, zmesh_envelope_id (request));
        zmesh_envelope_set_type (reply, zmesh_envelope_type (request));
        zmesh_envelope_set_source (reply, "confused");
        zmsg_remove (msg, last);
        zframe_destroy (&last);
        zframe_t *frame = NULL;
        zmesh_envelope_encode (reply, &frame, NULL);
        zmsg_append (msg, &frame);
        zmsg_send (&msg, router);
        zmesh_envelope_destroy (&reply);
        zmesh_envelope_destroy (&request);
    }
    zpoller_destroy (&poller);
    zmesh_rand_destroy (&rand);
    zsock_destroy (&router);
}

Test (node, a_reply_to_another_request_is_discarded)
{
    zactor_t *confused = zactor_new (s_confused_actor, NULL);
    char *endpoint = zstr_recv (confused);
    char setting [300];
    snprintf (setting, sizeof setting, "peers/confused/calls=%s", endpoint);
    zstr_free (&endpoint);
    //  Without retries, so the discarded reply shows as the call's result.
    zmesh_node_t *client = s_client (setting, "retry/retries=0", NULL);

    zmesh_envelope_t *reply = NULL;
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_call (client, "confused", "x.get", NULL, 0,
                                         2000, &reply, &detail),
                   ZMESH_ERR_BAD_REPLY));
    cr_assert (reply == NULL);
    cr_assert (strstr (detail.text, "another request") != NULL, "%s",
               detail.text);
    cr_assert (eq (int, zmesh_node_call (client, "confused", "x.get", NULL, 0,
                                         2000, &reply, &detail), ZMESH_OK),
               "%s", detail.text);
    zmesh_envelope_destroy (&reply);
    zmesh_node_stats_t stats;
    zmesh_node_stats (client, &stats);
    cr_assert (eq (u64, stats.bad_replies, 1));
    zmesh_node_destroy (&client);
    zactor_destroy (&confused);
}

//  Batches (events/batch): what a publisher's events look like on the
//  wire, and what its subscribers make of them.
typedef struct {
    char types [128];           //  Each type's letter after "tick."
    uint64_t seqs [128];
    size_t count;
} s_order_t;

static void
s_keep_order (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg)
{
    (void) node;
    s_order_t *order = arg;
    if (order->count < sizeof order->seqs / sizeof order->seqs [0]) {
        order->types [order->count] = zmesh_envelope_type (event) [5];
        order->seqs [order->count++] = zmesh_envelope_seq (event);
    }
}

//  Messages and the envelopes in them that a raw SUB takes within 500 ms.
static void
s_count_raw (zsock_t *sub, size_t *messages, size_t *envelopes)
{
    zmesh_envelope_t *envelope = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zpoller_t *poller = zpoller_new (sub, NULL);
    while (zpoller_wait (poller, 500) == sub) {
        zmsg_t *msg = zmsg_recv (sub);
        cr_assert (eq (sz, zmsg_size (msg), 2));
        zframe_t *frame = zmsg_last (msg);
        size_t at = 0, used = 0;
        while (at < zframe_size (frame)) {
            cr_assert (eq (int, zmesh_envelope_decode_next (
                                    zframe_data (frame) + at,
                                    zframe_size (frame) - at, &used,
                                    envelope, NULL), 0));
            at += used;
            (*envelopes)++;
        }
        (*messages)++;
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    zmesh_envelope_destroy (&envelope);
}

Test (node, batched_events_leave_together_in_order_and_at_each_turn)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "publisher");
    //  No heartbeat meanwhile: it would send the batch before it
    zmesh_node_config_set (&config, "timing/heartbeat=60000", NULL);
    zmesh_node_config_set (&config, "timing/quiet=120000", NULL);
    zmesh_node_config_set (&config, "timing/gone=240000", NULL);
    zmesh_node_config_set (&config, "events/batch=16", NULL);
    zmesh_node_t *publisher = zmesh_node_new (&config, NULL, NULL, NULL);
    cr_assert (publisher != NULL);
    char events [300];
    snprintf (events, sizeof events, "peers/publisher/events=%s",
              zmesh_node_events_endpoint (publisher));
    zmesh_node_t *subscriber = s_client (events, NULL, NULL);
    s_order_t order = {.count = 0};
    zmesh_node_subscribe (subscriber, "tick.*", s_keep_order, &order);
    zmesh_node_subscribe (subscriber, "tock.*", s_keep_order, &order);
    zsock_t *raw = zsock_new_sub (zmesh_node_events_endpoint (publisher),
                                  "tick.");
    //  Until a probe reaches both (each turn sends what is batched)
    int64_t deadline = zclock_mono () + 5000;
    size_t messages = 0, envelopes = 0;
    while ((order.count == 0 || messages == 0) && zclock_mono () < deadline) {
        zmesh_node_publish (publisher, "tick.probe", NULL, 0);
        zmesh_node_poll (publisher, 0);
        zmesh_node_poll (subscriber, 10);
        if (zsock_events (raw) & ZMQ_POLLIN) {
            zmsg_t *msg = zmsg_recv (raw);
            zmsg_destroy (&msg);
            messages++;
        }
    }
    cr_assert (ge (sz, order.count, 1), "the subscriber never connected");
    cr_assert (ge (sz, messages, 1), "the raw subscriber never connected");
    s_count_raw (raw, &messages, &envelopes);       //  Probes on the way
    deadline = zclock_mono () + 200;
    while (zclock_mono () < deadline)
        zmesh_node_poll (subscriber, 10);
    order.count = 0;
    //  100 with no turn of the loop: six full batches leave at once, and
    //  the four left over at the publisher's next turn
    for (int index = 0; index < 100; index++)
        cr_assert (eq (int, zmesh_node_publish (publisher, "tick.n", "\xc0",
                                                1), 0));
    messages = envelopes = 0;
    s_count_raw (raw, &messages, &envelopes);
    cr_assert (eq (sz, messages, 6));
    cr_assert (eq (sz, envelopes, 96));
    zmesh_node_poll (publisher, 0);
    messages = envelopes = 0;
    s_count_raw (raw, &messages, &envelopes);
    cr_assert (eq (sz, messages, 1));
    cr_assert (eq (sz, envelopes, 4));
    //  An event to another topic sends the batch before it
    const char *types [] = {"tick.a", "tick.b", "tock.c", "tick.d", NULL};
    for (int index = 0; types [index]; index++)
        zmesh_node_publish (publisher, types [index], NULL, 0);
    zmesh_node_poll (publisher, 0);
    deadline = zclock_mono () + 2000;
    while (order.count < 104 && zclock_mono () < deadline)
        zmesh_node_poll (subscriber, 10);
    cr_assert (eq (sz, order.count, 104));
    for (size_t index = 1; index < order.count; index++)
        cr_assert (eq (u64, order.seqs [index], order.seqs [0] + index),
                   "event %zu out of order", index);
    cr_assert (eq (int, memcmp (order.types + 100, "abcd", 4), 0));
    zsock_destroy (&raw);
    zmesh_node_destroy (&subscriber);
    zmesh_node_destroy (&publisher);
}

Test (node, a_bad_envelope_in_a_batch_drops_the_rest_of_it_and_counts)
{
    zsock_t *rogue = zsock_new (ZMQ_XPUB);
    cr_assert (zsock_bind (rogue, "tcp://127.0.0.1:*") > 0);
    char *endpoint = zsock_last_endpoint (rogue), setting [300];
    snprintf (setting, sizeof setting, "peers/rogue/events=%s", endpoint);
    zstr_free (&endpoint);
    zmesh_node_t *node = s_client (setting, NULL, NULL);
    s_order_t order = {.count = 0};
    zmesh_node_subscribe (node, "rogue.*", s_keep_order, &order);
    zpoller_t *poller = zpoller_new (rogue, NULL);
    int64_t deadline = zclock_mono () + 5000;
    bool subscribed = false;
    while (!subscribed && zclock_mono () < deadline) {
        zmesh_node_poll (node, 10);
        if (zpoller_wait (poller, 0) == rogue) {
            zframe_t *subscription = zframe_recv (rogue);
            subscribed = zframe_data (subscription) [0] == 1
                      && zframe_size (subscription) > 1
                      && zframe_data (subscription) [1] == 'r';
            zframe_destroy (&subscription);
        }
    }
    cr_assert (subscribed, "the node never subscribed");
    //  Events 1 and 2, a byte that is no msgpack, and 3: 1 and 2 are
    //  handled, 3 is lost with the frame's rest. Then 4 alone.
    zmesh_rand_t *rand = zmesh_rand_seeded_new (7);
    zframe_t *batch = zframe_new (NULL, 0);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        zframe_t *event = peer_event (rand, "rogue.said", "rogue", seq, NULL,
                                      NULL, 0);
        zchunk_t *chunk = zchunk_new (zframe_data (batch), zframe_size (batch));
        zchunk_extend (chunk, zframe_data (event), zframe_size (event));
        if (seq == 2)
            zchunk_extend (chunk, "\xc1", 1);
        zframe_reset (batch, zchunk_data (chunk), zchunk_size (chunk));
        zchunk_destroy (&chunk);
        zframe_destroy (&event);
    }
    zsock_send (rogue, "bf", "rogue.said", (size_t) 11, batch);
    zframe_destroy (&batch);
    peer_publish (rogue, rand, "rogue.said", "rogue", 4, NULL, NULL, 0);
    zmesh_rand_destroy (&rand);
    deadline = zclock_mono () + 2000;
    while (order.count < 3 && zclock_mono () < deadline)
        zmesh_node_poll (node, 10);
    cr_assert (eq (sz, order.count, 3));
    cr_assert (eq (u64, order.seqs [0], 1));
    cr_assert (eq (u64, order.seqs [1], 2));
    cr_assert (eq (u64, order.seqs [2], 4));
    zmesh_node_stats_t stats;
    zmesh_node_stats (node, &stats);
    cr_assert (eq (u64, stats.bad_frames, 1));
    zpoller_destroy (&poller);
    zmesh_node_destroy (&node);
    zsock_destroy (&rogue);
}

Test (node, a_link_that_cannot_be_opened_is_opened_at_a_later_heartbeat)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "publisher");
    zmesh_node_t *publisher = zmesh_node_new (&config, NULL, NULL, NULL);
    cr_assert (publisher != NULL);
    zmesh_node_config_defaults (&config, "subscriber");
    zmesh_node_config_set (&config, "timing/heartbeat=100", NULL);
    char events [300];
    snprintf (events, sizeof events, "peers/publisher/events=%s",
              zmesh_node_events_endpoint (publisher));
    cr_assert (eq (int, zmesh_node_config_set (&config, events, NULL), 0));
    //  Out of memory at each allocation of the node's making in turn,
    //  until the one that opens the link to the publisher
    zmesh_node_t *subscriber = NULL;
    zmesh_node_stats_t stats = {0};
    for (long nth = 1; !subscriber; nth++) {
        zmesh__alloc_fail_at (nth);
        subscriber = zmesh_node_new (&config, NULL, NULL, NULL);
        long made = zmesh__alloc_fail_at (0);
        cr_assert (ge (i64, made, nth), "no allocation opened the link");
        if (subscriber)
            zmesh_node_stats (subscriber, &stats);
        if (subscriber && stats.links_failed == 0)
            zmesh_node_destroy (&subscriber);
    }
    cr_assert (eq (u64, stats.links_failed, 1));
    s_order_t order = {.count = 0};
    zmesh_node_subscribe (subscriber, "tick.*", s_keep_order, &order);
    int64_t deadline = zclock_mono () + 5000;
    while (order.count == 0 && zclock_mono () < deadline) {
        zmesh_node_publish (publisher, "tick.n", NULL, 0);
        zmesh_node_poll (publisher, 0);
        zmesh_node_poll (subscriber, 10);
    }
    cr_assert (ge (sz, order.count, 1), "the link was never opened");
    zmesh_node_stats (subscriber, &stats);
    cr_assert (eq (u64, stats.links_failed, 1));
    zmesh_node_destroy (&subscriber);
    zmesh_node_destroy (&publisher);
}
