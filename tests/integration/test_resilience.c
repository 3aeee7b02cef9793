/*  test_resilience.c - breakers, failover and recovery against real node
    processes that are killed with SIGKILL and started again.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"
#include "child.h"

TestSuite (resilience, .fini = child_cleanup);

//  Servers here are killed. On tcp, CZMQ gives a "*" bind the lowest free
//  port (and "!" a port drawn from a generator seeded by the time), so a
//  server another test starts meanwhile can take over a dead one's port
//  and answer in its place. IPC paths of this process's own are never
//  taken by anyone else.
typedef struct {
    char events [128];
    char calls [128];
    const char *settings [3];
} s_ipc_t;

//  Fill ipc in place: its settings point into it.
static void
s_ipc (s_ipc_t *ipc, const char *name)
{
    snprintf (ipc->events, sizeof ipc->events,
              "node/events=ipc:///tmp/zmesh-resilience-%d-%s-events", getpid (),
              name);
    snprintf (ipc->calls, sizeof ipc->calls,
              "node/calls=ipc:///tmp/zmesh-resilience-%d-%s-calls", getpid (),
              name);
    ipc->settings [0] = ipc->events;
    ipc->settings [1] = ipc->calls;
    ipc->settings [2] = NULL;
}

//  Remove the socket files a server left behind.
static void
s_unlink (const s_ipc_t *ipc)
{
    unlink (strchr (ipc->events, '=') + 7);
    unlink (strchr (ipc->calls, '=') + 7);
}

static zmesh_node_t *
s_client (const char *const *settings)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "client");
    zmesh_detail_t detail = {""};
    for (int index = 0; settings [index]; index++)
        cr_assert (eq (int, zmesh_node_config_set (&config, settings [index],
                                                   &detail), 0),
                   "%s", detail.text);
    zmesh_node_t *node = zmesh_node_new (&config, NULL, NULL, &detail);
    cr_assert (node != NULL, "%s", detail.text);
    return node;
}

//  Call echo.say on echo, with key (or NULL: to any instance).
static zmesh_err_t
s_say_keyed (zmesh_node_t *client, const char *key)
{
    zmesh_envelope_t *reply = NULL;
    zmesh_call_options_t options = {.key = key};
    zmesh_err_t rc = zmesh_node_call_with (client, "echo", "echo.say", "\x07",
                                           1, &options, &reply, NULL);
    zmesh_envelope_destroy (&reply);
    return rc;
}

static zmesh_err_t
s_say (zmesh_node_t *client)
{
    return s_say_keyed (client, NULL);
}

static uint64_t
s_attempts (zmesh_node_t *client)
{
    zmesh_node_stats_t stats;
    zmesh_node_stats (client, &stats);
    return stats.calls_made;
}

Test (resilience, a_killed_server_opens_the_breaker_and_a_restart_closes_it,
      .timeout = 60)
{
    s_ipc_t ipc;
    s_ipc (&ipc, "echo");
    ipc.settings [0] = ipc.calls;           //  Leave events on tcp
    ipc.settings [1] = NULL;
    testnode_t echo = testnode_start (TESTNODE, "echo", ipc.settings);
    char calls [300];
    snprintf (calls, sizeof calls, "peers/echo/calls=%s", echo.calls);
    const char *settings [] = {
        calls, "timing/call_timeout=200", "retry/retries=0",
        "breaker/window_size=10", "breaker/min_calls=5",
        "breaker/failure_rate=50", "breaker/reset_timeout=500", NULL};
    zmesh_node_t *client = s_client (settings);

    for (int index = 0; index < 20; index++)
        cr_assert (eq (int, s_say (client), ZMESH_OK));
    zmesh_breaker_t *breaker = zmesh_caller_breaker (zmesh_node_caller (client),
                                                     echo.calls);
    cr_assert (breaker != NULL);

    //  Crash the server mid-stream. The window holds 10 successes; each
    //  timeout pushes one out, and at 5 of 10 (50 %, >=) it opens.
    child_kill (&echo.child);
    for (int index = 0; index < 5; index++)
        cr_assert (eq (int, s_say (client), ZMESH_ERR_TIMEOUT), "call %d",
                   index);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));

    //  Open: calls fail at once and touch no socket.
    uint64_t attempts = s_attempts (client);
    enum { FAST = 10000 };
    int64_t started = zclock_usecs ();
    for (int index = 0; index < FAST; index++)
        cr_assert (eq (int, s_say (client), ZMESH_ERR_CIRCUIT_OPEN));
    int64_t elapsed = zclock_usecs () - started;
    cr_assert (eq (u64, s_attempts (client), attempts), "no attempt made");
    fprintf (stderr, "resilience: %d calls refused by an open breaker, "
                     "%.2f us each\n", FAST, (double) elapsed / FAST);
    cr_assert (lt (i64, elapsed / FAST, 1000), "failing fast means well "
               "under a millisecond a call");

    //  The server comes back on the same endpoint; once the reset timeout
    //  has passed, a probe gets through and closes the breaker.
    echo = testnode_start (TESTNODE, "echo", ipc.settings);
    int64_t deadline = zclock_mono () + 10000;
    zmesh_err_t rc;
    while ((rc = s_say (client)) != ZMESH_OK && zclock_mono () < deadline)
        zclock_sleep (50);
    cr_assert (eq (int, rc, ZMESH_OK));
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_CLOSED));
    for (int index = 0; index < 10; index++)
        cr_assert (eq (int, s_say (client), ZMESH_OK));
    zmesh_breaker_stats_t stats;
    zmesh_breaker_stats (breaker, &stats);
    cr_assert (ge (u64, stats.rejections, FAST));
    cr_assert (ge (u64, stats.opened, 1));

    zmesh_node_destroy (&client);
    cr_assert (eq (int, child_stop (&echo.child, 2000), 0));
    s_unlink (&ipc);
}

Test (resilience, with_two_instances_killing_one_loses_no_call, .timeout = 60)
{
    s_ipc_t ipc_1, ipc_2;
    s_ipc (&ipc_1, "echo-1");
    s_ipc (&ipc_2, "echo-2");
    testnode_t first = testnode_start (TESTNODE, "echo", ipc_1.settings);
    testnode_t second = testnode_start (TESTNODE, "echo", ipc_2.settings);
    char calls_1 [300], calls_2 [300];
    snprintf (calls_1, sizeof calls_1, "peers/echo-1/calls=%s", first.calls);
    snprintf (calls_2, sizeof calls_2, "peers/echo-2/calls=%s", second.calls);
    const char *settings [] = {
        "peers/echo-1/service=echo", calls_1, "peers/echo-2/service=echo",
        calls_2, "timing/call_timeout=2000", "retry/attempt_timeout=200",
        "breaker/window_size=10", "breaker/min_calls=5", NULL};
    zmesh_node_t *client = s_client (settings);

    for (int index = 0; index < 20; index++)
        cr_assert (eq (int, s_say (client), ZMESH_OK));
    child_kill (&first.child);
    //  Every call succeeds: a timeout on echo-1 fails over to echo-2, and
    //  once echo-1's breaker opens, calls go straight to echo-2.
    uint64_t before = s_attempts (client);
    for (int index = 0; index < 40; index++)
        cr_assert (eq (int, s_say (client), ZMESH_OK), "call %d", index);
    uint64_t attempts = s_attempts (client) - before;
    fprintf (stderr, "resilience: 40 calls after a crash took %" PRIu64
                     " attempts\n", attempts);
    cr_assert (le (u64, attempts, 40 + 10), "the breaker stops the detours");
    zmesh_breaker_t *dead = zmesh_caller_breaker (zmesh_node_caller (client),
                                                  first.calls);
    cr_assert (eq (int, zmesh_breaker_state (dead), ZMESH_BREAKER_OPEN));

    zmesh_node_destroy (&client);
    cr_assert (eq (int, child_stop (&second.child, 2000), 0));
    s_unlink (&ipc_1);
    s_unlink (&ipc_2);
}

//  Calls granted to each endpoint, so far, by the client's breakers.
static uint64_t
s_granted (zmesh_node_t *client, const char *endpoint)
{
    zmesh_breaker_t *breaker = zmesh_caller_breaker (zmesh_node_caller (client),
                                                     endpoint);
    zmesh_breaker_stats_t stats = {0};
    if (breaker)
        zmesh_breaker_stats (breaker, &stats);
    return stats.calls;
}

//  Two live instances of a service share its calls; a call with a key
//  goes to the one instance that owns the key, and to the other once the
//  owner is gone.
Test (resilience, two_instances_share_the_calls_and_a_key_keeps_its_owner,
      .timeout = 60)
{
    s_ipc_t ipc_1, ipc_2;
    s_ipc (&ipc_1, "echo-1");
    s_ipc (&ipc_2, "echo-2");
    testnode_t first = testnode_start (TESTNODE, "echo", ipc_1.settings);
    testnode_t second = testnode_start (TESTNODE, "echo", ipc_2.settings);
    char peers [4][300];
    snprintf (peers [0], sizeof peers [0], "peers/echo-1/calls=%s",
              first.calls);
    snprintf (peers [1], sizeof peers [1], "peers/echo-1/events=%s",
              first.events);
    snprintf (peers [2], sizeof peers [2], "peers/echo-2/calls=%s",
              second.calls);
    snprintf (peers [3], sizeof peers [3], "peers/echo-2/events=%s",
              second.events);
    const char *settings [] = {
        "peers/echo-1/service=echo", peers [0], peers [1],
        "peers/echo-2/service=echo", peers [2], peers [3],
        "timing/call_timeout=2000", "retry/attempt_timeout=200", NULL};
    zmesh_node_t *client = s_client (settings);
    //  Both alive: heard from
    int64_t deadline = zclock_mono () + 10000;
    zmesh_peer_info_t peer;
    int alive = 0;
    while (alive < 2 && zclock_mono () < deadline) {
        zmesh_node_poll (client, 100);
        alive = 0;
        for (size_t index = 0; index < zmesh_node_peer_count (client);
             index++) {
            zmesh_node_peer (client, index, &peer);
            alive += peer.state == ZMESH_PEER_ALIVE;
        }
    }
    cr_assert (eq (int, alive, 2));

    for (int index = 0; index < 300; index++)
        cr_assert (eq (int, s_say (client), ZMESH_OK));
    uint64_t one = s_granted (client, first.calls),
             two = s_granted (client, second.calls);
    fprintf (stderr, "resilience: 300 calls, %" PRIu64 " to echo-1 and %"
             PRIu64 " to echo-2\n", one, two);
    cr_assert (eq (u64, one + two, 300));
    cr_assert (ge (u64, one, 100), "each takes at least a third");
    cr_assert (ge (u64, two, 100), "each takes at least a third");

    //  A key: every call to its owner
    for (int index = 0; index < 50; index++)
        cr_assert (eq (int, s_say_keyed (client, "order-42"), ZMESH_OK));
    uint64_t more_one = s_granted (client, first.calls) - one,
             more_two = s_granted (client, second.calls) - two;
    cr_assert (more_one == 50 || more_two == 50, "one owner: %" PRIu64 ", %"
               PRIu64, more_one, more_two);
    cr_assert (eq (u64, more_one + more_two, 50));
    //  The owner goes: its keys go to the other
    testnode_t *owner = more_one ? &first : &second;
    const char *heir = more_one ? second.calls : first.calls;
    child_kill (&owner->child);
    uint64_t before = s_granted (client, heir);
    for (int index = 0; index < 20; index++)
        cr_assert (eq (int, s_say_keyed (client, "order-42"), ZMESH_OK));
    cr_assert (eq (u64, s_granted (client, heir) - before, 20));

    zmesh_node_destroy (&client);
    testnode_t *left = more_one ? &second : &first;
    cr_assert (eq (int, child_stop (&left->child, 2000), 0));
    s_unlink (&ipc_1);
    s_unlink (&ipc_2);
}
