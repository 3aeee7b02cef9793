/*  test_loop.c - nodes' loops in one process, on a fake clock. Nothing
    blocks a loop: calls with zmesh_node_call_async through the caller
    (timeouts, retries with the whole budget, failover, breaker, fallback),
    handlers with many calls in flight, deferred replies (one finished too
    late among them), consumers whose retries wait on timers, and repairs
    that go on a batch a turn. And what the loop learns of its peers: a
    new instance gets a fresh breaker, and control events that speak for
    another service are not obeyed.

    The nodes run in this process, on inproc endpoints, and share one fake
    clock: time moves only when a test advances it, so every timeout,
    backoff and deadline below is exact. The tests turn the nodes' loops
    by hand (zmesh_node_poll with no wait) until what they wait for is
    there, within a bound of real time.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"
#include "child.h"
#include "peer.h"
#include "inbox.h"
#include "replay.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define NODES_MAX 4
#define FAN_OUT 100

static zmesh_clock_t *clock_fake;
static zmesh_rand_t *rand_seeded;
static zmesh_node_t *nodes [NODES_MAX];
static size_t node_count;
static char dir [64];               //  For the nodes' stores

static void
s_setup (void)
{
    clock_fake = zmesh_clock_fake_new (1000000);
    rand_seeded = zmesh_rand_seeded_new (42);
    node_count = 0;
    child_dir_make (dir, "loop");
}

static void
s_teardown (void)
{
    while (node_count)
        zmesh_node_destroy (&nodes [--node_count]);
    zmesh_rand_destroy (&rand_seeded);
    zmesh_clock_destroy (&clock_fake);
    child_dir_remove (dir);
}

TestSuite (loop, .init = s_setup, .fini = s_teardown, .timeout = 60);

//  A node called name on inproc endpoints of its own, with the settings
//  (NULL-terminated) and the fake clock.
static zmesh_node_t *
s_node (const char *name, const char *const *settings)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, name);
    char setting [160];
    zmesh_detail_t detail = {""};
    snprintf (setting, sizeof setting, "node/events=inproc://%s-events",
              name);
    cr_assert (eq (int, zmesh_node_config_set (&config, setting, &detail), 0));
    snprintf (setting, sizeof setting, "node/calls=inproc://%s-calls", name);
    cr_assert (eq (int, zmesh_node_config_set (&config, setting, &detail), 0));
    for (size_t index = 0; settings && settings [index]; index++)
        cr_assert (eq (int, zmesh_node_config_set (&config, settings [index],
                                                   &detail), 0),
                   "%s: %s", settings [index], detail.text);
    cr_assert (lt (sz, node_count, NODES_MAX));
    zmesh_node_t *node = zmesh_node_new (&config, clock_fake, rand_seeded,
                                         &detail);
    cr_assert (node != NULL, "%s", detail.text);
    nodes [node_count++] = node;
    return node;
}

//  Turn every node's loop until *flag holds, within a few seconds of real
//  time (nothing here waits on the fake clock).
static void
s_turn_until (const bool *flag, const char *what)
{
    int64_t give_up = zclock_mono () + 5000;
    while (!*flag && zclock_mono () < give_up)
        for (size_t index = 0; index < node_count; index++)
            zmesh_node_poll (nodes [index], 1);
    cr_assert (flag [0], "%s: not within 5 s", what);
}

//  Turn every node's loop a few times: what is ready gets handled.
static void
s_turn (void)
{
    for (int round = 0; round < 20; round++)
        for (size_t index = 0; index < node_count; index++)
            zmesh_node_poll (nodes [index], 0);
}

//  What one call's completion saw.
typedef struct {
    bool done;
    zmesh_err_t rc;
    char body [64];             //  The reply's body as text, if a string
    char fallback [32];         //  Its "fallback" header
    bool in_flow;               //  Ran with the maker's correlation
    zmesh_uuid_t correlation;
} s_outcome_t;

static void
s_done (zmesh_node_t *node, zmesh_err_t rc, const zmesh_envelope_t *reply,
        const char *detail, void *arg)
{
    (void) detail;
    s_outcome_t *outcome = arg;
    cr_assert (outcome->done == false, "a completion runs once");
    outcome->done = true;
    outcome->rc = rc;
    const zmesh_uuid_t *correlation = zmesh_node_correlation (node);
    outcome->in_flow = correlation
                    && zmesh_uuid_eq (correlation, &outcome->correlation);
    if (reply) {
        const uint8_t *body = zmesh_envelope_body (reply);
        size_t size = zmesh_envelope_body_size (reply);
        //  A fixstr body: its text
        if (size && (body [0] & 0xe0) == 0xa0 && size <= sizeof outcome->body)
            memcpy (outcome->body, body + 1, size - 1);
        const char *fallback = zmesh_envelope_header (reply, "fallback");
        if (fallback)
            snprintf (outcome->fallback, sizeof outcome->fallback, "%s",
                      fallback);
    }
}

//  Start a call of method on service in a flow of its own, whose
//  correlation outcome remembers.
static void
s_call (zmesh_node_t *node, const char *service, const char *method,
        const zmesh_call_options_t *options, s_outcome_t *outcome)
{
    memset (outcome, 0, sizeof *outcome);
    zmesh_uuid_generate (rand_seeded, &outcome->correlation);
    zmesh_node_flow_begin (node, &outcome->correlation);
    cr_assert (eq (int, zmesh_node_call_async (node, service, method, NULL, 0,
                                               options, s_done, outcome), 0));
    zmesh_node_flow_end (node);
    cr_assert (outcome->done == false, "done never runs before call_async returns");
}

//  A calls endpoint that takes requests and never answers: a stopped
//  service. Each request it has taken is read with s_swallowed.
static zsock_t *
s_black_hole (const char *endpoint)
{
    zsock_t *router = zsock_new_router (endpoint);
    cr_assert (router != NULL);
    return router;
}

//  The next request the black hole took, decoded (the test owns it), or
//  NULL when it took none.
static zmesh_envelope_t *
s_swallowed (zsock_t *router)
{
    if (!(zsock_events (router) & ZMQ_POLLIN))
        return NULL;
    zmsg_t *msg = zmsg_recv (router);
    zframe_t *last = zmsg_last (msg);
    zmesh_envelope_t *request = NULL;
    cr_assert (eq (int, zmesh_envelope_decode (zframe_data (last),
                                               zframe_size (last), &request,
                                               NULL), 0));
    zmsg_destroy (&msg);
    return request;
}

//  Method echo.text: replies with the fixstr "pong".
static void
s_echo (zmesh_node_t *node, const zmesh_envelope_t *request,
        zmesh_envelope_t *reply, void *arg)
{
    (void) node, (void) request, (void) arg;
    zmesh_envelope_set_body (reply, "\xa4pong", 5);
}

//  Method hold.text: defers every reply, for the test to finish.
typedef struct {
    zmesh_deferred_t *held [FAN_OUT];
    size_t count;
} s_holder_t;

static void
s_hold (zmesh_node_t *node, const zmesh_envelope_t *request,
        zmesh_envelope_t *reply, void *arg)
{
    (void) request, (void) reply;
    s_holder_t *holder = arg;
    cr_assert (lt (sz, holder->count, FAN_OUT));
    holder->held [holder->count] = zmesh_node_defer (node);
    cr_assert (holder->held [holder->count] != NULL);
    cr_assert (zmesh_node_defer (node) == NULL, "deferred once only");
    holder->count++;
}

//  The node "holder", serving hold.text into holder.
static zmesh_node_t *
s_holder_node (s_holder_t *holder)
{
    zmesh_node_t *node = s_node ("holder", NULL);
    cr_assert (eq (int, zmesh_node_serve (node, "hold.text", s_hold, holder),
                   0));
    return node;
}

//  Finish every reply held, each with the fixstr "held".
static void
s_release (s_holder_t *holder)
{
    for (size_t index = 0; index < holder->count; index++) {
        zmesh_envelope_set_body (zmesh_deferred_reply (holder->held [index]),
                                 "\xa4" "held", 5);
        zmesh_deferred_finish (&holder->held [index]);
        cr_assert (holder->held [index] == NULL);
    }
    holder->count = 0;
}

Test (loop, an_async_call_completes_in_the_flow_that_made_it)
{
    zmesh_node_t *server = s_node ("echo", NULL);
    cr_assert (eq (int, zmesh_node_serve (server, "echo.text", s_echo, NULL),
                   0));
    const char *settings [] = {"peers/echo/calls=inproc://echo-calls",
                               "peers/echo/service=echo", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    s_outcome_t outcome;
    s_call (client, "echo", "echo.text", NULL, &outcome);
    s_turn_until (&outcome.done, "the reply");
    cr_assert (eq (int, outcome.rc, ZMESH_OK));
    cr_assert (eq (str, outcome.body, "pong"));
    cr_assert (outcome.in_flow, "the completion ran in the caller's flow");
    cr_assert (zmesh_node_correlation (client) == NULL,
               "and the flow ended with it");
    //  A bad method name never starts, and done never runs.
    cr_assert (eq (int, zmesh_node_call_async (client, "echo", "no good", NULL,
                                               0, NULL, s_done, &outcome),
                   ZMESH_ERR_ENVELOPE_BAD_NAME));
}

Test (loop, every_attempt_carries_what_is_left_of_the_deadline)
{
    zsock_t *stuck = s_black_hole ("inproc://stuck-calls");
    const char *settings [] = {"peers/stuck/calls=inproc://stuck-calls",
                               "peers/stuck/service=stuck",
                               "retry/jitter=none", "retry/base_delay=100",
                               "retry/attempt_timeout=1000",
                               "retry/retries=3", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    s_outcome_t outcome;
    zmesh_call_options_t options = {.timeout_ms = 5000};
    s_call (client, "stuck", "stuck.get", &options, &outcome);
    zmesh_uuid_t first_id;
    //  Attempt n goes at 1000 ms + the backoff before it past the last:
    //  100, 200, 400 ms. Each carries the time left of the 5000.
    int64_t elapsed [] = {0, 1100, 2300, 3700};
    int64_t at = 0;
    for (size_t attempt = 0; attempt < 4; attempt++) {
        zmesh_clock_fake_advance (clock_fake, elapsed [attempt] - at);
        at = elapsed [attempt];
        zmesh_envelope_t *request = NULL;
        int64_t give_up = zclock_mono () + 5000;
        while (!(request = s_swallowed (stuck)) && zclock_mono () < give_up)
            zmesh_node_poll (client, 1);
        cr_assert (request != NULL, "attempt %zu was made", attempt + 1);
        cr_assert (eq (u32, zmesh_envelope_budget_ms (request),
                       (uint32_t) (5000 - at)), "attempt %zu", attempt + 1);
        if (attempt == 0)
            first_id = *zmesh_envelope_id (request);
        cr_assert (zmesh_uuid_eq (zmesh_envelope_id (request), &first_id),
                   "every attempt is the same request");
        zmesh_envelope_destroy (&request);
        cr_assert (outcome.done == false);
        //  Its attempt's deadline, less a millisecond: still in flight
        zmesh_clock_fake_advance (clock_fake, 999);
        s_turn ();
        cr_assert (outcome.done == false, "attempt %zu is in flight", attempt + 1);
        zmesh_clock_fake_advance (clock_fake, 1);
        at += 1000;
        s_turn ();
    }
    cr_assert (outcome.done, "over after the last attempt timed out");
    cr_assert (eq (int, outcome.rc, ZMESH_ERR_TIMEOUT));
    zmesh_node_stats_t stats;
    zmesh_node_stats (client, &stats);
    cr_assert (eq (u64, stats.calls_made, 4));
    cr_assert (eq (u64, stats.call_timeouts, 4));
    zsock_destroy (&stuck);
}

//  The weight of label for key in rendezvous hashing, as node.md section
//  2 gives it: 64-bit FNV-1a over label, a NUL and key, then splitmix64's
//  finalizer.
static uint64_t
s_weight (const char *label, const char *key)
{
    uint64_t hash = 14695981039346656037ULL;
    const char *parts [] = {label, "", key};
    for (size_t part = 0; part < 3; part++)
        for (size_t index = 0; index < strlen (parts [part]) + (part == 1);
             index++)
            hash = (hash ^ (uint8_t) parts [part][index]) * 1099511628211ULL;
    hash = (hash ^ (hash >> 30)) * 0xbf58476d1ce4e5b9ULL;
    hash = (hash ^ (hash >> 27)) * 0x94d049bb133111ebULL;
    return hash ^ (hash >> 31);
}

Test (loop, a_timeout_fails_over_and_an_open_breaker_refuses_at_once)
{
    zsock_t *stuck = s_black_hole ("inproc://a-calls");
    zmesh_node_t *server = s_node ("b", NULL);
    cr_assert (eq (int, zmesh_node_serve (server, "echo.text", s_echo, NULL),
                   0));
    //  Instance a (stuck) owns the key, so it is first in the route; b
    //  answers. (Which key a owns also checks the hash node.md gives.)
    const char *settings [] = {"peers/a/calls=inproc://a-calls",
                               "peers/a/service=echo",
                               "peers/b/calls=inproc://b-calls",
                               "peers/b/service=echo",
                               "retry/jitter=none", "retry/base_delay=10",
                               "breaker/min_calls=1",
                               "breaker/failure_rate=100", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    char key [16];
    for (int index = 0; index < 64; index++) {
        snprintf (key, sizeof key, "k%d", index);
        if (s_weight ("a", key) > s_weight ("b", key))
            break;
    }
    zmesh_call_options_t keyed = {.key = key};
    s_outcome_t outcome;
    s_call (client, "echo", "echo.text", &keyed, &outcome);
    s_turn ();
    zmesh_envelope_t *request = s_swallowed (stuck);
    cr_assert (request != NULL, "the first attempt went to a");
    zmesh_envelope_destroy (&request);
    zmesh_clock_fake_advance (clock_fake, 1000);    //  Its attempt timeout
    s_turn ();
    zmesh_clock_fake_advance (clock_fake, 10);      //  The backoff
    s_turn_until (&outcome.done, "the reply from b");
    cr_assert (eq (int, outcome.rc, ZMESH_OK));
    cr_assert (eq (str, outcome.body, "pong"));
    zmesh_breaker_t *breaker = zmesh_caller_breaker (
        zmesh_node_caller (client), "inproc://a-calls");
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
    //  With a open, the next call goes straight to b: a takes nothing.
    s_call (client, "echo", "echo.text", &keyed, &outcome);
    s_turn_until (&outcome.done, "the second reply");
    cr_assert (eq (int, outcome.rc, ZMESH_OK));
    cr_assert (s_swallowed (stuck) == NULL);
    zsock_destroy (&stuck);
}

//  A call's clock reads (issue 21's budget): one of each clock for a call
//  refused at once, the wall's for its id and the monotonic one for its
//  start and deadline; its steps, the breaker's look and its end read
//  none of their own.
Test (loop, a_refused_call_reads_each_clock_once)
{
    const char *settings [] = {"peers/a/calls=inproc://a-calls",
                               "peers/a/service=echo",
                               "breaker/mode=forced-open", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    for (int round = 0; round < 3; round++) {
        zmesh_envelope_t *reply = NULL;
        uint64_t before = zmesh_clock_fake_reads (clock_fake);
        cr_assert (eq (int, zmesh_node_call (client, "echo", "echo.text", NULL,
                                             0, 0, &reply, NULL),
                       ZMESH_ERR_CIRCUIT_OPEN));
        cr_assert (eq (u64, zmesh_clock_fake_reads (clock_fake) - before, 2));
        cr_assert (reply == NULL);
    }
}

//  And one reading a live event published: the wall's, for its id, its
//  timestamp and its trace record.
Test (loop, a_live_publish_reads_the_clock_once)
{
    zmesh_node_t *node = s_node ("publisher", NULL);
    uint64_t before = zmesh_clock_fake_reads (clock_fake);
    for (int index = 0; index < 10; index++)
        cr_assert (eq (int, zmesh_node_publish (node, index % 2 ? "t.odd"
                                                                : "t.even",
                                                "\x2a", 1), 0));
    cr_assert (eq (u64, zmesh_clock_fake_reads (clock_fake) - before, 10));
}

//  Method busy.text: "overloaded, retry after 50 ms" the first time, then
//  pong; counts its runs in arg.
static void
s_busy_once (zmesh_node_t *node, const zmesh_envelope_t *request,
             zmesh_envelope_t *reply, void *arg)
{
    (void) node, (void) request;
    if ((*(int *) arg)++ == 0)
        zmesh_reply_overloaded (reply, 50);
    else
        zmesh_envelope_set_body (reply, "\xa4pong", 5);
}

//  A server that answers "try again later" has not answered: the retry,
//  with the same request id, runs its handler again, no sooner than asked,
//  and gets the real answer.
Test (loop, a_retry_after_overloaded_runs_the_handler_again)
{
    zmesh_node_t *server = s_node ("b", NULL);
    int runs = 0;
    cr_assert (eq (int, zmesh_node_serve (server, "busy.text", s_busy_once,
                                          &runs), 0));
    const char *settings [] = {"peers/b/calls=inproc://b-calls",
                               "peers/b/service=busy", "retry/jitter=none",
                               NULL};
    zmesh_node_t *client = s_node ("client", settings);
    s_outcome_t outcome;
    s_call (client, "busy", "busy.text", NULL, &outcome);
    int64_t give_up = zclock_mono () + 5000;
    while (runs < 1 && zclock_mono () < give_up)
        s_turn ();
    cr_assert (eq (int, runs, 1));
    s_turn ();
    cr_assert (not (outcome.done), "it waits to be asked again");
    zmesh_clock_fake_advance (clock_fake, 49);
    s_turn ();
    cr_assert (eq (int, runs, 1), "no sooner than asked");
    zmesh_clock_fake_advance (clock_fake, 1000);
    s_turn_until (&outcome.done, "the retry's reply");
    cr_assert (eq (int, outcome.rc, ZMESH_OK), "%s", zmesh_strerror (outcome.rc));
    cr_assert (eq (str, outcome.body, "pong"));
    cr_assert (eq (int, runs, 2), "the handler ran again");
}

static void
s_fallback (zmesh_err_t cause, zmesh_envelope_t *reply, void *arg)
{
    (void) cause, (void) arg;
    zmesh_envelope_set_body (reply, "\xa4" "fell", 5);
}

Test (loop, a_call_that_cannot_be_made_ends_in_its_fallback)
{
    zmesh_node_t *client = s_node ("client", NULL);
    s_outcome_t outcome;
    s_call (client, "nobody", "nobody.get", NULL, &outcome);
    s_turn_until (&outcome.done, "the completion");
    cr_assert (eq (int, outcome.rc, ZMESH_ERR_NO_ROUTE));
    //  With a fallback, its reply instead, saying why.
    zmesh_call_options_t options = {.fallback = s_fallback};
    s_call (client, "nobody", "nobody.get", &options, &outcome);
    s_turn_until (&outcome.done, "the completion");
    cr_assert (eq (int, outcome.rc, ZMESH_OK));
    cr_assert (eq (str, outcome.body, "fell"));
    cr_assert (eq (str, outcome.fallback, "ERR_NO_ROUTE"));
}

//  The fan-out node's method fan.out: FAN_OUT calls to hold.text at once,
//  its own reply deferred until the last of them is back.
typedef struct {
    zmesh_deferred_t *deferred;
    size_t answered;
    size_t in_flight_max;
    size_t in_flight;
} s_fan_t;

static void
s_fan_done (zmesh_node_t *node, zmesh_err_t rc, const zmesh_envelope_t *reply,
            const char *detail, void *arg)
{
    (void) node, (void) reply;
    s_fan_t *fan = arg;
    cr_assert (eq (int, rc, ZMESH_OK), "%s", detail);
    fan->in_flight--;
    if (++fan->answered == FAN_OUT) {
        char body [8];
        body [0] = (char) 0xcc;         //  uint8
        body [1] = (char) fan->answered;
        zmesh_envelope_set_body (zmesh_deferred_reply (fan->deferred), body,
                                 2);
        zmesh_deferred_finish (&fan->deferred);
    }
}

static void
s_fan_out (zmesh_node_t *node, const zmesh_envelope_t *request,
           zmesh_envelope_t *reply, void *arg)
{
    (void) request, (void) reply;
    s_fan_t *fan = arg;
    for (int index = 0; index < FAN_OUT; index++) {
        cr_assert (eq (int, zmesh_node_call_async (node, "holder",
                                                   "hold.text", NULL, 0, NULL,
                                                   s_fan_done, fan), 0));
        if (++fan->in_flight > fan->in_flight_max)
            fan->in_flight_max = fan->in_flight;
    }
    fan->deferred = zmesh_node_defer (node);
    cr_assert (fan->deferred != NULL);
}

Test (loop, a_handler_has_100_calls_in_flight_and_the_node_serves_meanwhile)
{
    s_holder_t holder = {.count = 0};
    s_holder_node (&holder);
    const char *settings [] = {"peers/holder/calls=inproc://holder-calls",
                               "peers/holder/service=holder",
                               "calls/max_in_flight=128", NULL};
    zmesh_node_t *fan_node = s_node ("fan", settings);
    s_fan_t fan = {.deferred = NULL};
    cr_assert (eq (int, zmesh_node_serve (fan_node, "fan.out", s_fan_out,
                                          &fan), 0));
    //  A caller of fan.out, and one of zmesh.stats, from a third node.
    const char *caller_settings [] = {"peers/fan/calls=inproc://fan-calls",
                                      "peers/fan/service=fan", NULL};
    zmesh_node_t *outside = s_node ("outside", caller_settings);
    s_outcome_t fanned, stats;
    s_call (outside, "fan", "fan.out", NULL, &fanned);
    //  Every one of the hundred reaches the holder while the others are
    //  still out: all are in flight at once.
    int64_t give_up = zclock_mono () + 5000;
    while (holder.count < FAN_OUT && zclock_mono () < give_up)
        s_turn ();
    cr_assert (eq (sz, holder.count, FAN_OUT));
    cr_assert (eq (sz, fan.in_flight, FAN_OUT));
    //  Meanwhile the fan node answers other calls.
    s_call (outside, "fan", "zmesh.stats", NULL, &stats);
    s_turn_until (&stats.done, "zmesh.stats while 100 calls are out");
    cr_assert (eq (int, stats.rc, ZMESH_OK));
    cr_assert (fanned.done == false, "fan.out waits for its hundred");
    s_release (&holder);
    s_turn_until (&fanned.done, "fan.out's deferred reply");
    cr_assert (eq (int, fanned.rc, ZMESH_OK));
    cr_assert (eq (sz, fan.answered, FAN_OUT));
    cr_assert (eq (sz, fan.in_flight_max, FAN_OUT));
}

Test (loop, a_deferred_reply_finished_after_the_budget_is_dropped)
{
    s_holder_t holder = {.count = 0};
    zmesh_node_t *server = s_holder_node (&holder);
    const char *settings [] = {"peers/holder/calls=inproc://holder-calls",
                               "peers/holder/service=holder",
                               "retry/retries=0", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    s_outcome_t outcome;
    zmesh_call_options_t options = {.timeout_ms = 500};
    s_call (client, "holder", "hold.text", &options, &outcome);
    int64_t give_up = zclock_mono () + 5000;
    while (holder.count < 1 && zclock_mono () < give_up)
        s_turn ();
    cr_assert (eq (sz, holder.count, 1));
    //  In time: a second call's reply is finished within its budget.
    s_outcome_t in_time;
    s_call (client, "holder", "hold.text", &options, &in_time);
    give_up = zclock_mono () + 5000;
    while (holder.count < 2 && zclock_mono () < give_up)
        s_turn ();
    zmesh_envelope_set_body (zmesh_deferred_reply (holder.held [1]),
                             "\xa4" "held", 5);
    zmesh_deferred_finish (&holder.held [1]);
    s_turn_until (&in_time.done, "the reply finished in time");
    cr_assert (eq (int, in_time.rc, ZMESH_OK));
    cr_assert (eq (str, in_time.body, "held"));
    //  Late: the caller gives up at its deadline, and the reply finished
    //  after it is not sent, but counted.
    zmesh_clock_fake_advance (clock_fake, 501);
    s_turn_until (&outcome.done, "the caller's timeout");
    cr_assert (eq (int, outcome.rc, ZMESH_ERR_TIMEOUT));
    zmesh_deferred_finish (&holder.held [0]);
    zmesh_node_stats_t stats;
    zmesh_node_stats (server, &stats);
    cr_assert (eq (u64, stats.replies_late, 1));
    cr_assert (eq (u64, stats.calls_served, 1), "only the one in time");
}

Test (loop, a_node_destroyed_with_calls_in_flight_completes_them)
{
    zsock_t *stuck = s_black_hole ("inproc://stuck-calls");
    const char *settings [] = {"peers/stuck/calls=inproc://stuck-calls",
                               "peers/stuck/service=stuck", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    s_outcome_t outcome;
    s_call (client, "stuck", "stuck.get", NULL, &outcome);
    s_turn ();
    zmesh_node_destroy (&nodes [--node_count]);
    cr_assert (outcome.done);
    cr_assert (eq (int, outcome.rc, ZMESH_ERR_INTERRUPTED));
    zsock_destroy (&stuck);
}

//  The reliable consumer of the tests below: it fails every event whose
//  type begins with "bad", and notes what it was given, in order.
typedef struct {
    char seen [16][32];         //  "source:type" of each try
    size_t count;
} s_consumed_t;

static zmesh_err_t
s_consumer (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg,
            zmesh_detail_t *detail)
{
    (void) node;
    s_consumed_t *consumed = arg;
    if (consumed->count < 16)
        snprintf (consumed->seen [consumed->count++], 32, "%s:%s",
                  zmesh_envelope_source (event), zmesh_envelope_type (event));
    if (strncmp (zmesh_envelope_type (event), "bad", 3) == 0) {
        snprintf (detail->text, sizeof detail->text, "bad on purpose");
        return ZMESH_ERR_INVALID;
    }
    return ZMESH_OK;
}

static zmesh_node_stats_t
s_stats (zmesh_node_t *node)
{
    zmesh_node_stats_t stats;
    zmesh_node_stats (node, &stats);
    return stats;
}

//  How many of node's peers it has heard from.
static size_t
s_alive (zmesh_node_t *node)
{
    size_t alive = 0;
    for (size_t index = 0; index < zmesh_node_peer_count (node); index++) {
        zmesh_peer_info_t peer;
        zmesh_node_peer (node, index, &peer);
        alive += peer.state == ZMESH_PEER_ALIVE;
    }
    return alive;
}

//  Turn the loops until node has consumed count events, or 20 s pass.
//  While none comes, a heartbeat's worth of fake time passes every 50 ms:
//  an event published before the consumer's subscription reached its
//  publisher is not sent, and only the next heartbeat tells of it.
static void
s_turn_until_consumed (zmesh_node_t *node, uint64_t count)
{
    int64_t give_up = zclock_mono () + 20000;
    int64_t beat = zclock_mono () + 50;
    while (s_stats (node).events_consumed < count && zclock_mono () < give_up) {
        s_turn ();
        if (zclock_mono () >= beat) {
            zmesh_clock_fake_advance (clock_fake, 100);
            beat = zclock_mono () + 50;
        }
    }
    cr_assert (eq (u64, s_stats (node).events_consumed, count));
}

//  A publisher with a store at dir/<name>, its endpoints there too (a
//  heartbeat announces tcp or ipc endpoints only).
static zmesh_node_t *
s_publisher (const char *name)
{
    char data [128], events [128], calls [128];
    snprintf (data, sizeof data, "node/data=%s/%s", dir, name);
    snprintf (events, sizeof events, "node/events=ipc://%s/%s-events", dir,
              name);
    snprintf (calls, sizeof calls, "node/calls=ipc://%s/%s-calls", dir, name);
    const char *settings [] = {data, events, calls, "timing/heartbeat=100",
                               "timing/quiet=300", "timing/gone=600", NULL};
    return s_node (name, settings);
}

//  A peer setting for the publisher called name: "peers/NAME/KIND=ipc..."
static const char *
s_peer (const char *name, const char *kind)
{
    static char settings [8][160];
    static size_t next = 0;
    char *setting = settings [next++ % 8];
    snprintf (setting, 160, "peers/%s/%s=ipc://%s/%s-%s", name, kind, dir,
              name, kind);
    return setting;
}

//  "consumer", with a store of its own, of alpha's events (and of the
//  peers and settings in more, NULL-terminated or NULL: three at most),
//  at these tests' heartbeat timings, handing each event to handler.
static zmesh_node_t *
s_alpha_consumer (const char *const *more, zmesh_consume_fn *handler,
                  void *arg)
{
    char data [128];
    snprintf (data, sizeof data, "node/data=%s/consumer", dir);
    const char *settings [9] = {data, s_peer ("alpha", "events"),
                                "timing/heartbeat=100", "timing/quiet=300",
                                "timing/gone=600"};
    for (size_t index = 0; more && more [index]; index++) {
        cr_assert (lt (sz, index, 3));
        settings [5 + index] = more [index];
    }
    zmesh_node_t *consumer = s_node ("consumer", settings);
    cr_assert (eq (int, zmesh_node_consume (consumer, "*", handler, arg), 0));
    return consumer;
}

Test (loop, a_consumer_whose_handler_keeps_failing_holds_up_only_its_publisher)
{
    zmesh_node_t *alpha = s_publisher ("alpha");
    zmesh_node_t *beta = s_publisher ("beta");
    const char *more [] = {s_peer ("beta", "events"), "events/attempts=3",
                           "events/retry_delay=5000", NULL};
    s_consumed_t consumed = {.count = 0};
    zmesh_node_t *consumer = s_alpha_consumer (more, s_consumer, &consumed);
    //  Heartbeats, on the fake clock, until it has heard both publishers
    int64_t give_up = zclock_mono () + 5000;
    while (s_alive (consumer) < 2 && zclock_mono () < give_up) {
        zmesh_clock_fake_advance (clock_fake, 100);
        s_turn ();
    }
    cr_assert (eq (sz, s_alive (consumer), 2));

    //  Alpha's event fails; beta's goes through at once, with no time
    //  passing for the retry's delay.
    cr_assert (eq (int, zmesh_node_publish (alpha, "bad.one", NULL, 0), 0));
    cr_assert (eq (int, zmesh_node_publish (beta, "good.one", NULL, 0), 0));
    s_turn_until_consumed (consumer, 1);
    cr_assert (eq (str, consumed.seen [consumed.count - 1], "beta:good.one"));
    //  Alpha's next waits behind its failed one; beta's do not.
    cr_assert (eq (int, zmesh_node_publish (alpha, "good.two", NULL, 0), 0));
    cr_assert (eq (int, zmesh_node_publish (beta, "good.three", NULL, 0), 0));
    s_turn_until_consumed (consumer, 2);
    s_turn ();
    cr_assert (eq (u64, s_stats (consumer).events_consumed, 2));
    cr_assert (eq (u64, s_stats (consumer).dead_letters, 0));
    //  Its retries come on their timers: 5 s, then 10 s; then it is
    //  buried and alpha's next event goes on.
    zmesh_clock_fake_advance (clock_fake, 5000);
    s_turn ();
    cr_assert (eq (u64, s_stats (consumer).dead_letters, 0), "2nd try");
    zmesh_clock_fake_advance (clock_fake, 10000);
    s_turn_until_consumed (consumer, 3);
    cr_assert (eq (u64, s_stats (consumer).dead_letters, 1));
    //  Alpha's events, in alpha's order: three tries of the bad one, then
    //  the good one.
    const char *alpha_order [] = {"alpha:bad.one", "alpha:bad.one",
                                  "alpha:bad.one", "alpha:good.two"};
    size_t next = 0;
    for (size_t index = 0; index < consumed.count; index++)
        if (strncmp (consumed.seen [index], "alpha:", 6) == 0) {
            cr_assert (lt (sz, next, 4));
            cr_assert (eq (str, consumed.seen [index],
                           (char *) alpha_order [next]));
            next++;
        }
    cr_assert (eq (sz, next, 4));
}

static void
s_count_heard (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg)
{
    (void) node, (void) event;
    (*(uint64_t *) arg)++;
}

Test (loop, a_members_events_come_to_its_mates_handlers_only)
{
    //  Two instances of pay: "pay" (its name its service, and so on
    //  SQLite) consumes all that publishers send, and a handler takes
    //  u.*. Events of its mate's are for other groups, not its consumer.
    const char *service [] = {"node/service=pay", NULL};
    zmesh_node_t *mate = s_node ("pay-b", service);
    char data [128];
    snprintf (data, sizeof data, "node/data=%s/pay", dir);
    const char *settings [] = {data,
                               "peers/pay-b/events=inproc://pay-b-events",
                               "peers/pay-b/service=pay", NULL};
    zmesh_node_t *member = s_node ("pay", settings);
    uint64_t heard = 0;
    s_consumed_t consumed = {.count = 0};
    cr_assert (eq (int, zmesh_node_consume (member, "*", s_consumer,
                                            &consumed), 0));
    cr_assert (eq (int, zmesh_node_subscribe (member, "u.*", s_count_heard,
                                              &heard), 0));
    //  Until its subscription has reached the mate, and then some more:
    //  what comes after a u.one in the mate's order has come with it.
    int64_t give_up = zclock_mono () + 5000;
    while (heard == 0 && zclock_mono () < give_up) {
        cr_assert (eq (int, zmesh_node_publish (mate, "t.one", NULL, 0), 0));
        cr_assert (eq (int, zmesh_node_publish (mate, "u.one", NULL, 0), 0));
        s_turn ();
    }
    cr_assert (gt (u64, heard, 0));
    uint64_t before = heard;
    for (int index = 0; index < 3; index++)
        cr_assert (eq (int, zmesh_node_publish (mate, "t.two", NULL, 0), 0));
    cr_assert (eq (int, zmesh_node_publish (mate, "u.two", NULL, 0), 0));
    give_up = zclock_mono () + 5000;
    while (heard == before && zclock_mono () < give_up)
        s_turn ();
    cr_assert (eq (u64, heard, before + 1));
    //  Each event that came was a u.*: no t.* was sent to it
    cr_assert (eq (u64, s_stats (member).events_received, heard));
    cr_assert (eq (u64, s_stats (member).events_consumed, 0));
}

//  zmesh.trace's answer: the records of a flow, as JSON.
static void
s_records (zmesh_node_t *node, zmesh_err_t rc, const zmesh_envelope_t *reply,
           const char *detail, void *arg)
{
    (void) node;
    cr_assert (eq (int, rc, 0), "zmesh.trace: %s", detail ? detail : "");
    cr_assert (eq (int, zmesh_json_from_msgpack (zmesh_envelope_body (reply),
                                                 zmesh_envelope_body_size (
                                                     reply),
                                                 (json_t **) arg, NULL), 0));
}

Test (loop, a_received_event_is_recorded_at_the_time_its_turn_took_it)
{
    zmesh_node_t *alpha = s_node ("alpha", NULL);
    const char *settings [] = {"peers/alpha/events=inproc://alpha-events",
                               "access/admins=*", NULL};
    zmesh_node_t *sub = s_node ("sub", settings);
    uint64_t heard = 0;
    cr_assert (eq (int, zmesh_node_subscribe (sub, "t.*", s_count_heard,
                                              &heard), 0));
    int64_t give_up = zclock_mono () + 5000;
    while (heard == 0 && zclock_mono () < give_up) {
        cr_assert (eq (int, zmesh_node_publish (alpha, "t.warm", NULL, 0), 0));
        s_turn ();
    }
    cr_assert (gt (u64, heard, 0));
    //  Published at one time, taken by a turn 7 ms later
    zmesh_uuid_t flow;
    zmesh_uuid_generate (rand_seeded, &flow);
    zmesh_node_flow_begin (alpha, &flow);
    cr_assert (eq (int, zmesh_node_publish (alpha, "t.one", NULL, 0), 0));
    zmesh_node_flow_end (alpha);
    zmesh_clock_fake_advance (clock_fake, 7);
    int64_t taken_us = zmesh_clock_unix_us (clock_fake);
    uint64_t before = heard;
    give_up = zclock_mono () + 5000;
    while (heard == before && zclock_mono () < give_up)
        s_turn ();
    cr_assert (eq (u64, heard, before + 1));
    //  Its record at the subscriber, as zmesh.trace gives it
    const char *asking [] = {"peers/sub/calls=inproc://sub-calls",
                             "peers/sub/service=sub", NULL};
    zmesh_node_t *asker = s_node ("asker", asking);
    char cid [ZMESH_UUID_STR_LEN + 1], query [80];
    snprintf (query, sizeof query, "{\"cid\": \"%s\"}",
              zmesh_uuid_unparse (&flow, cid));
    json_t *records = NULL, *request = json_loads (query, 0, NULL);
    void *body = NULL;
    size_t size = 0;
    cr_assert (eq (int, zmesh_json_to_msgpack (request, &body, &size, NULL),
                   0));
    json_decref (request);
    cr_assert (eq (int, zmesh_node_call_async (asker, "sub", "zmesh.trace",
                                               body, size, NULL, s_records,
                                               &records), 0));
    free (body);
    give_up = zclock_mono () + 5000;
    while (!records && zclock_mono () < give_up)
        s_turn ();
    cr_assert (records != NULL, "no answer from zmesh.trace");
    cr_assert (eq (sz, json_array_size (records), 1));
    json_t *record = json_array_get (records, 0);
    cr_assert (eq (str, (char *) json_string_value (json_object_get (
                            record, "what")), "received"));
    cr_assert (eq (i64, (int64_t) json_integer_value (json_object_get (
                            record, "at_us")), taken_us));
    json_decref (records);
}

//  Fill the store of a publisher called name with count events, as if it
//  had published them, before it starts.
static void
s_fill_store (const char *name, size_t count)
{
    char path [128];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    cr_assert (eq (int, zsys_dir_create ("%s", path), 0));
    snprintf (path, sizeof path, "%s/%s/%s.db", dir, name, name);
    zmesh_detail_t detail = {""};
    zmesh_store_t *store = zmesh_store_open (path, false, &detail);
    cr_assert (store != NULL, "%s", detail.text);
    enum { BATCH = 1000 };
    static zmesh_new_event_t events [BATCH];
    cr_assert (eq (int, zmesh_store_begin (store, &detail), 0));
    for (size_t done = 0; done < count; done += BATCH) {
        for (size_t index = 0; index < BATCH; index++) {
            events [index] = (zmesh_new_event_t) {
                .type = "thing.happened", .body = "\x01", .body_size = 1,
                .timestamp = 1764374400000};
            zmesh_uuid_generate_v7 (rand_seeded, 1764374400000,
                                    &events [index].id);
            zmesh_uuid_generate (rand_seeded, &events [index].correlation);
        }
        zmesh_append_result_t result;
        cr_assert (eq (int, zmesh_store_append (store, name, ZMESH_VERSION_ANY,
                                                events, BATCH, &result,
                                                &detail), 0), "%s",
                   detail.text);
    }
    cr_assert (eq (int, zmesh_store_commit (store, &detail), 0));
    zmesh_store_close (&store);
}

//  The publisher "big", its log holding events, and "consumer", which
//  consumes everything it publishes into consumed, with up to three more
//  settings (NULL-terminated, or NULL).
static zmesh_node_t *
s_big_consumer (size_t events, const char *const *more,
                s_consumed_t *consumed)
{
    s_fill_store ("big", events);
    s_publisher ("big");
    char data [128];
    snprintf (data, sizeof data, "node/data=%s/consumer", dir);
    const char *settings [8] = {data, s_peer ("big", "events"),
                                s_peer ("big", "calls"),
                                "peers/big/service=big"};
    for (size_t index = 0; more && more [index]; index++) {
        cr_assert (lt (sz, index, 3));
        settings [4 + index] = more [index];
    }
    zmesh_node_t *consumer = s_node ("consumer", settings);
    *consumed = (s_consumed_t) {.count = 0};
    cr_assert (eq (int, zmesh_node_consume (consumer, "*", s_consumer,
                                            consumed), 0));
    return consumer;
}

//  Turn the loops, at the pace of s_turn, until consumer's repair is
//  under way (it has taken a replayed event), and not a turn more.
static void
s_turn_until_replaying (zmesh_node_t *consumer)
{
    int64_t give_up = zclock_mono () + 10000;
    while (s_stats (consumer).events_replayed == 0
           && zclock_mono () < give_up) {
        zmesh_clock_fake_advance (clock_fake, 100);
        for (int round = 0;
             round < 20 && s_stats (consumer).events_replayed == 0; round++)
            for (size_t index = 0; index < node_count; index++)
                zmesh_node_poll (nodes [index], 0);
    }
    cr_assert (gt (u64, s_stats (consumer).events_replayed, 0));
}

Test (loop, a_repair_of_100000_events_goes_on_while_the_node_answers)
{
    enum { EVENTS = 100000 };
    s_consumed_t consumed;
    zmesh_node_t *consumer = s_big_consumer (EVENTS, NULL, &consumed);
    const char *probe_settings [] = {
        "peers/consumer/calls=inproc://consumer-calls",
        "peers/consumer/service=consumer", NULL};
    zmesh_node_t *probe = s_node ("probe", probe_settings);
    //  The publisher's heartbeat (one every 100 ms of the fake clock)
    //  starts the repair; turn until it is under way, then ask the
    //  consumer for its counters.
    int64_t give_up = zclock_mono () + 10000;
    while (s_stats (consumer).events_replayed == 0
           && zclock_mono () < give_up) {
        zmesh_clock_fake_advance (clock_fake, 100);
        s_turn ();
    }
    cr_assert (gt (u64, s_stats (consumer).events_replayed, 0));
    s_outcome_t stats;
    s_call (probe, "consumer", "zmesh.stats", NULL, &stats);
    uint64_t consumed_when_asked = 0;
    while (!stats.done && zclock_mono () < give_up)
        for (size_t index = 0; index < node_count; index++) {
            zmesh_node_poll (nodes [index], 0);
            if (index == 1 && !stats.done)
                consumed_when_asked = s_stats (consumer).events_consumed;
        }
    cr_assert (stats.done, "zmesh.stats answered during the repair: "
               "consumed %" PRIu64 " served %" PRIu64 " probe made %" PRIu64,
               s_stats (consumer).events_consumed,
               s_stats (consumer).calls_served, s_stats (probe).calls_made);
    cr_assert (eq (int, stats.rc, ZMESH_OK));
    cr_assert (lt (u64, consumed_when_asked, EVENTS),
               "answered with %" PRIu64 " of %d consumed", consumed_when_asked,
               EVENTS);
    give_up = zclock_mono () + 60000;
    while (s_stats (consumer).events_consumed < EVENTS
           && zclock_mono () < give_up)
        s_turn ();
    cr_assert (eq (u64, s_stats (consumer).events_consumed, EVENTS));
    cr_assert (eq (u64, s_stats (consumer).events_replayed, EVENTS));
}

//  How many bad frames node has counted.
static uint64_t
s_bad (zmesh_node_t *node)
{
    return s_stats (node).bad_frames;
}

//  The peer of node's called key, copied.
static zmesh_peer_info_t
s_peer_info (zmesh_node_t *node, const char *key)
{
    zmesh_peer_info_t peer;
    for (size_t index = 0; index < zmesh_node_peer_count (node); index++) {
        zmesh_node_peer (node, index, &peer);
        if (streq (peer.key, key))
            return peer;
    }
    cr_assert (false, "no peer %s", key);
    return peer;
}

Test (loop, a_restarted_instance_gets_a_fresh_breaker)
{
    zmesh_node_t *first = s_publisher ("svc");
    cr_assert (eq (int, zmesh_node_serve (first, "echo.text", s_echo, NULL),
                   0));
    const char *settings [] = {s_peer ("svc", "events"), s_peer ("svc", "calls"),
                               "peers/svc/service=svc", "retry/retries=0",
                               "breaker/min_calls=1",
                               "breaker/failure_rate=100", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    int64_t give_up = zclock_mono () + 5000;
    while (s_alive (client) < 1 && zclock_mono () < give_up) {
        zmesh_clock_fake_advance (clock_fake, 100);
        s_turn ();
    }
    zmesh_peer_info_t before = s_peer_info (client, "svc");
    cr_assert (eq (int, before.state, ZMESH_PEER_ALIVE));
    cr_assert (eq (sz, strlen (before.instance), 36), "its instance is known");
    //  The instance stops; calls time out and the breaker opens.
    zmesh_node_destroy (&nodes [0]);
    nodes [0] = client;
    node_count = 1;
    s_outcome_t outcome;
    s_call (client, "svc", "echo.text", NULL, &outcome);
    s_turn ();
    zmesh_clock_fake_advance (clock_fake, 1000);
    s_turn_until (&outcome.done, "the timeout");
    cr_assert (eq (int, outcome.rc, ZMESH_ERR_TIMEOUT));
    zmesh_breaker_t *breaker = zmesh_caller_breaker (
        zmesh_node_caller (client), s_peer_info (client, "svc").calls);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
    //  A new instance at the same endpoints: its first heartbeat closes
    //  the breaker, long before the 30 s reset timeout.
    zmesh_node_t *second = s_publisher ("svc");
    cr_assert (eq (int, zmesh_node_serve (second, "echo.text", s_echo, NULL),
                   0));
    give_up = zclock_mono () + 5000;
    while (zmesh_breaker_state (breaker) != ZMESH_BREAKER_CLOSED
           && zclock_mono () < give_up) {
        zmesh_clock_fake_advance (clock_fake, 100);
        s_turn ();
    }
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_CLOSED));
    cr_assert (ne (str, s_peer_info (client, "svc").instance,
                   before.instance));
    s_call (client, "svc", "echo.text", NULL, &outcome);
    s_turn_until (&outcome.done, "the reply of the new instance");
    cr_assert (eq (int, outcome.rc, ZMESH_OK));
}

//  A call waiting on an instance that went away with its request is made
//  again as soon as the next instance at that endpoint is heard, not
//  after the attempt's deadline.
Test (loop, an_attempt_lost_with_its_instance_is_made_again_when_the_next_is_heard)
{
    s_holder_t holder = {.count = 0};
    zmesh_node_t *first = s_publisher ("svc");
    cr_assert (eq (int, zmesh_node_serve (first, "echo.text", s_hold,
                                          &holder), 0));
    const char *settings [] = {s_peer ("svc", "events"), s_peer ("svc", "calls"),
                               "peers/svc/service=svc",
                               "retry/attempt_timeout=0", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    int64_t give_up = zclock_mono () + 5000;
    while (s_alive (client) < 1 && zclock_mono () < give_up) {
        zmesh_clock_fake_advance (clock_fake, 100);
        s_turn ();
    }
    cr_assert (eq (int, s_alive (client), 1));
    zmesh_call_options_t options = {.timeout_ms = 10000};
    s_outcome_t outcome;
    s_call (client, "svc", "echo.text", &options, &outcome);
    give_up = zclock_mono () + 5000;
    while (holder.count == 0 && zclock_mono () < give_up)
        s_turn ();
    cr_assert (eq (sz, holder.count, 1), "the first instance took it");
    //  It goes, with the request it held and never answered.
    zmesh_node_destroy (&nodes [0]);
    nodes [0] = client;
    node_count = 1;
    zmesh_node_t *second = s_publisher ("svc");
    cr_assert (eq (int, zmesh_node_serve (second, "echo.text", s_echo, NULL),
                   0));
    //  Real time goes by too, for the client's links to reconnect.
    int64_t waited = 0;
    give_up = zclock_mono () + 5000;
    while (!outcome.done && zclock_mono () < give_up) {
        zmesh_clock_fake_advance (clock_fake, 10);
        waited += 10;
        for (size_t index = 0; index < node_count; index++)
            zmesh_node_poll (nodes [index], 5);
    }
    cr_assert (outcome.done, "the call is answered");
    cr_assert (eq (int, outcome.rc, ZMESH_OK));
    cr_assert (eq (str, outcome.body, "pong"), "by the second instance");
    cr_assert (lt (i64, waited, 1000), "at its first heartbeat, not at the "
               "deadline: %" PRId64 " ms", waited);
}

//  An event handler that counts what it hears in *arg.
static void
s_heard (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg)
{
    (void) node, (void) event;
    (*(int *) arg)++;
}

//  Send a control event of type from a publisher socket, as source, saying
//  seq is its next sequence, with the headers given (name, value, ...,
//  NULL).
static void
s_forge (zsock_t *pub, const char *type, const char *source, uint64_t seq,
         ...)
{
    const char *headers [17] = {NULL};
    va_list args;
    va_start (args, seq);
    for (size_t index = 0; index < 16
                           && (headers [index] = va_arg (args, const char *));
         index++)
        ;
    va_end (args);
    peer_publish (pub, rand_seeded, type, source, seq, headers, NULL, 0);
}

Test (loop, control_events_that_speak_for_another_service_are_dropped)
{
    zmesh_node_t *user = s_publisher ("user");
    cr_assert (eq (int, zmesh_node_serve (user, "echo.text", s_echo, NULL), 0));
    //  The client hears user, and evil: a publisher it was told of.
    char evil_events [160];
    snprintf (evil_events, sizeof evil_events, "ipc://%s/evil-events", dir);
    //  It drops nothing, however late the client's I/O thread reads: the
    //  counts below are exact
    zsock_t *evil = zsock_new (ZMQ_PUB);
    cr_assert (evil != NULL);
    zsock_set_sndhwm (evil, 0);
    cr_assert (gt (int, zsock_bind (evil, "%s", evil_events), -1));
    char evil_setting [200];
    snprintf (evil_setting, sizeof evil_setting, "peers/evil/events=%s",
              evil_events);
    const char *settings [] = {s_peer ("user", "events"),
                               s_peer ("user", "calls"),
                               "peers/user/service=user", evil_setting,
                               "peers/evil/service=evil", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    int64_t give_up = zclock_mono () + 5000;
    while (s_alive (client) < 1 && zclock_mono () < give_up) {
        zmesh_clock_fake_advance (clock_fake, 100);
        s_turn ();
    }
    zmesh_peer_info_t user_before = s_peer_info (client, "user");
    cr_assert (eq (int, user_before.state, ZMESH_PEER_ALIVE));
    char user_events [160], attacker_calls [160];
    snprintf (user_events, sizeof user_events, "ipc://%s/user-events", dir);
    snprintf (attacker_calls, sizeof attacker_calls, "ipc://%s/evil-calls",
              dir);
    //  Until the client's subscription reaches evil's socket
    give_up = zclock_mono () + 5000;
    uint64_t bad = s_bad (client);
    while (s_bad (client) == bad && zclock_mono () < give_up) {
        s_forge (evil, "zmesh.heartbeat", "evil", 1, "instance", "user",
                 "events", "tcp://127.0.0.1:1", "calls", attacker_calls, NULL);
        s_turn ();
    }
    cr_assert (gt (u64, s_bad (client), bad),
               "an instance that is a label, not a UUID: dropped");
    //  Evil's heartbeat and goodbye naming user's endpoints change evil
    //  alone: the peer a control event speaks for is the one at the other
    //  end of the link it came on.
    s_forge (evil, "zmesh.heartbeat", "evil", 1, "instance",
             "00000000-0000-4000-8000-000000000001", "events", user_events,
             "calls", attacker_calls, NULL);
    s_forge (evil, "zmesh.bye", "evil", 1, "instance",
             "00000000-0000-4000-8000-000000000001", "events", user_events,
             "calls", attacker_calls, NULL);
    give_up = zclock_mono () + 5000;
    while (s_peer_info (client, "evil").state != ZMESH_PEER_QUIET
           && zclock_mono () < give_up)
        s_turn ();
    cr_assert (eq (str, s_peer_info (client, "evil").instance,
                   "00000000-0000-4000-8000-000000000001"));
    cr_assert (eq (int, s_peer_info (client, "evil").state, ZMESH_PEER_QUIET));
    zmesh_peer_info_t user_after = s_peer_info (client, "user");
    cr_assert (eq (str, user_after.calls, user_before.calls));
    cr_assert (eq (str, user_after.instance, user_before.instance));
    cr_assert (eq (int, user_after.state, ZMESH_PEER_ALIVE));
    //  An event that says it is user's, on evil's link: dropped, and
    //  counted; evil's own events are taken.
    int heard = 0;
    cr_assert (eq (int, zmesh_node_subscribe (client, "user.*", s_heard,
                                              &heard), 0));
    cr_assert (eq (int, zmesh_node_subscribe (client, "evil.*", s_heard,
                                              &heard), 0));
    //  Until the subscriptions reach evil's socket; then what is on the
    //  way arrives, and one of each goes, in order, on the one link
    give_up = zclock_mono () + 5000;
    while (heard == 0 && zclock_mono () < give_up) {
        s_forge (evil, "evil.said", "evil", 2, NULL);
        s_turn ();
    }
    cr_assert (gt (int, heard, 0), "evil's own events are taken");
    for (int round = 0; round < 20; round++)
        zmesh_node_poll (client, 10);
    int before = heard;
    bad = s_bad (client);
    s_forge (evil, "user.created", "user", 3, NULL);
    s_forge (evil, "evil.said", "evil", 4, NULL);
    give_up = zclock_mono () + 5000;
    while (heard == before && zclock_mono () < give_up)
        zmesh_node_poll (client, 10);
    cr_assert (eq (int, heard, before + 1), "evil's own event");
    cr_assert (eq (u64, s_bad (client), bad + 1), "the one as user: dropped");
    //  Heartbeats under a thousand names of evil's choosing: each dropped,
    //  and nothing kept under any of them (taken as they come, within the
    //  high-water marks). What was forged above and is still on its way
    //  arrives first.
    give_up = zclock_mono () + 5000;
    for (int still = 0; still < 5 && zclock_mono () < give_up;) {
        bad = s_bad (client);
        zmesh_node_poll (client, 10);
        still = s_bad (client) == bad ? still + 1 : 0;
    }
    bad = s_bad (client);
    for (int index = 0; index < 1000; index++) {
        if (index % 50 == 0)
            zmesh_node_poll (client, 1);
        char source [32], instance [40];
        snprintf (source, sizeof source, "s-%d", index);
        snprintf (instance, sizeof instance,
                  "00000000-0000-4000-8000-%012d", index);
        s_forge (evil, "zmesh.heartbeat", source, 1, "instance", instance,
                 "events", evil_events, "calls", attacker_calls, NULL);
    }
    give_up = zclock_mono () + 5000;
    while (s_bad (client) < bad + 1000 && zclock_mono () < give_up)
        zmesh_node_poll (client, 10);
    cr_assert (eq (u64, s_bad (client), bad + 1000));
    cr_assert (eq (sz, zmesh_node_peer_count (client), 2), "nothing learned");
    //  Calls to user still go to user.
    s_outcome_t outcome;
    s_call (client, "user", "echo.text", NULL, &outcome);
    s_turn_until (&outcome.done, "user's reply");
    cr_assert (eq (int, outcome.rc, ZMESH_OK));
    cr_assert (eq (str, outcome.body, "pong"));
    zsock_destroy (&evil);
}

//  With access/publish, a node takes from each publisher only the types
//  its rule names: a payment.processed from inventory goes nowhere.
Test (loop, a_publisher_is_taken_only_the_types_its_rule_names)
{
    char evil_events [160], evil_setting [200];
    snprintf (evil_events, sizeof evil_events, "ipc://%s/inv-events", dir);
    zsock_t *evil = zsock_new_pub (evil_events);
    cr_assert (evil != NULL);
    snprintf (evil_setting, sizeof evil_setting, "peers/inventory/events=%s",
              evil_events);
    const char *settings [] = {evil_setting,
                               "access/publish/inventory=inventory.*", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    int heard = 0;
    cr_assert (eq (int, zmesh_node_subscribe (client, "payment.*", s_heard,
                                              &heard), 0));
    cr_assert (eq (int, zmesh_node_subscribe (client, "inventory.*", s_heard,
                                              &heard), 0));
    int64_t give_up = zclock_mono () + 5000;
    while (heard == 0 && zclock_mono () < give_up) {
        s_forge (evil, "inventory.reserved", "inventory", 1, NULL);
        s_turn ();
    }
    cr_assert (gt (int, heard, 0), "its own types are taken");
    for (int round = 0; round < 20; round++)
        zmesh_node_poll (client, 10);
    int before = heard;
    uint64_t bad = s_bad (client);
    s_forge (evil, "payment.processed", "inventory", 2, NULL);
    s_forge (evil, "inventory.reserved", "inventory", 3, NULL);
    give_up = zclock_mono () + 5000;
    while (heard == before && zclock_mono () < give_up)
        zmesh_node_poll (client, 10);
    cr_assert (eq (int, heard, before + 1), "payment.processed went nowhere");
    cr_assert (eq (u64, s_bad (client), bad + 1), "and was counted");
    zsock_destroy (&evil);
}

Test (loop, a_peer_heard_again_is_probed_at_once)
{
    zmesh_node_t *server = s_publisher ("svc");
    cr_assert (eq (int, zmesh_node_serve (server, "echo.text", s_echo, NULL),
                   0));
    const char *settings [] = {s_peer ("svc", "events"), s_peer ("svc", "calls"),
                               "peers/svc/service=svc", "retry/retries=0",
                               "breaker/min_calls=1",
                               "breaker/failure_rate=100",
                               "timing/heartbeat=100", "timing/quiet=300",
                               "timing/gone=600", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    int64_t give_up = zclock_mono () + 5000;
    while (s_alive (client) < 1 && zclock_mono () < give_up) {
        zmesh_clock_fake_advance (clock_fake, 100);
        s_turn ();
    }
    cr_assert (eq (sz, s_alive (client), 1));
    //  The server stops turning its loop (as under SIGSTOP): a call times
    //  out, the breaker opens, and the peer goes quiet.
    s_outcome_t outcome;
    s_call (client, "svc", "echo.text", NULL, &outcome);
    for (int step = 0; step < 15; step++) {
        zmesh_clock_fake_advance (clock_fake, 100);
        zmesh_node_poll (client, 0);
    }
    cr_assert (outcome.done);
    cr_assert (eq (int, outcome.rc, ZMESH_ERR_TIMEOUT));
    zmesh_breaker_t *breaker = zmesh_caller_breaker (
        zmesh_node_caller (client), s_peer_info (client, "svc").calls);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
    cr_assert (eq (sz, s_alive (client), 0));
    //  It goes on: its next heartbeat lets the breaker probe now, not
    //  after the 30 s reset timeout.
    give_up = zclock_mono () + 5000;
    while (s_alive (client) < 1 && zclock_mono () < give_up) {
        zmesh_clock_fake_advance (clock_fake, 100);
        s_turn ();
    }
    cr_assert (eq (int, zmesh_breaker_state (breaker),
                   ZMESH_BREAKER_HALF_OPEN));
    s_call (client, "svc", "echo.text", NULL, &outcome);
    s_turn_until (&outcome.done, "the probe's reply");
    cr_assert (eq (int, outcome.rc, ZMESH_OK));
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_CLOSED));
}

//  How a lying publisher answers zmesh.replay: an application error
//  (code, with header name = value), or with code 0 an empty replay from
//  next.
typedef struct {
    int code;
    const char *name, *value;
    uint64_t next;
} s_lie_t;

static void
s_lie (const zmesh_envelope_t *request, zmesh_envelope_t *reply, void *arg)
{
    (void) request;
    s_lie_t *lie = arg;
    if (lie->code) {
        zmesh_envelope_set_status (reply, ZMESH_STATUS_APP_ERROR, lie->code,
                                   "trimmed");
        zmesh_envelope_set_header (reply, lie->name, lie->value);
        return;
    }
    void *body = NULL;
    size_t size = 0;
    cr_assert (eq (int, zmesh__replay_reply (lie->next, NULL, 0, &body, &size),
                   0));
    zmesh_envelope_set_body (reply, body, size);
    free (body);
}

//  Answer the next request that comes to router as lie says, turning the
//  loops meanwhile. Returns the request's from, or 0 when nothing came in
//  5 s.
static uint64_t
s_answer_replay (zsock_t *router, s_lie_t lie)
{
    int64_t give_up = zclock_mono () + 5000;
    while (!(zsock_events (router) & ZMQ_POLLIN) && zclock_mono () < give_up)
        s_turn ();
    if (!(zsock_events (router) & ZMQ_POLLIN))
        return 0;
    zmesh_envelope_t *request = peer_reply (router, "liar", s_lie, &lie);
    uint64_t from = 0, to = 0;
    char publisher [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    cr_assert (eq (int, zmesh__replay_request_read (
                            zmesh_envelope_body (request),
                            zmesh_envelope_body_size (request), &from, &to,
                            publisher), 0));
    cr_assert (eq (str, publisher, ""), "its own log");
    zmesh_envelope_destroy (&request);
    return from;
}

//  A publisher that says its log begins later than it does cannot move a
//  consumer past events it never showed.
Test (loop, a_trimmed_range_is_skipped_only_when_the_replay_shows_it)
{
    char events [160], calls [160], data [128];
    snprintf (events, sizeof events, "ipc://%s/liar-events", dir);
    snprintf (calls, sizeof calls, "ipc://%s/liar-calls", dir);
    zsock_t *pub = zsock_new_pub (events);
    zsock_t *router = zsock_new_router (calls);
    cr_assert (pub && router);
    snprintf (data, sizeof data, "node/data=%s/consumer", dir);
    char peer_events [200], peer_calls [200];
    snprintf (peer_events, sizeof peer_events, "peers/liar/events=%s", events);
    snprintf (peer_calls, sizeof peer_calls, "peers/liar/calls=%s", calls);
    const char *settings [] = {data, peer_events, peer_calls,
                               "peers/liar/service=liar", NULL};
    zmesh_node_t *consumer = s_node ("consumer", settings);
    s_consumed_t consumed = {.count = 0};
    cr_assert (eq (int, zmesh_node_consume (consumer, "*", s_consumer,
                                            &consumed), 0));
    //  Its heartbeat says four events are out: the consumer asks for them
    uint64_t from = 0;
    int64_t give_up = zclock_mono () + 5000;
    while (!(zsock_events (router) & ZMQ_POLLIN)
           && zclock_mono () < give_up) {
        s_forge (pub, "zmesh.heartbeat", "liar", 5, "instance",
                 "00000000-0000-4000-8000-00000000000a", "events", events,
                 "calls", calls, "log", "1", NULL);
        s_turn ();
    }
    //  "Trimmed: my log begins at 4" (a lie)
    from = s_answer_replay (router, (s_lie_t) {ZMESH_REPLAY_TRIMMED,
                                               "earliest", "4", 0});
    cr_assert (eq (u64, from, 1));
    //  It asks from 4, as told, and the replay shows nothing there
    from = s_answer_replay (router, (s_lie_t) {0, NULL, NULL, 4});
    cr_assert (eq (u64, from, 4), "asked for what was said to be left");
    s_turn ();
    uint64_t position = 99;
    bool known = false;
    cr_assert (eq (int, zmesh__inbox_position (zmesh_node_store (consumer),
                                               "liar", &position, &known),
                   0));
    cr_assert (eq (u64, position, 0), "not moved by a claim alone");
    cr_assert (eq (u64, s_stats (consumer).ranges_trimmed, 1));
    zsock_destroy (&pub);
    zsock_destroy (&router);
}

//  A peer learned from the wire (gossip) and gone long enough is
//  forgotten, with what was kept under its name: the peer table does not
//  only grow.
Test (loop, a_learned_peer_gone_long_enough_is_forgotten)
{
    char events [160], gossip [160];
    snprintf (events, sizeof events, "ipc://%s/far-events", dir);
    snprintf (gossip, sizeof gossip, "gossip/bind=ipc://%s/gossip", dir);
    zsock_t *pub = zsock_new_pub (events);
    cr_assert (pub != NULL);
    const char *settings [] = {gossip, "timing/heartbeat=100",
                               "timing/quiet=300", "timing/gone=600", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    //  Drifter announces itself in the gossip directory, and never beats
    zactor_t *announcer = zactor_new (zgossip, "drifter");
    cr_assert (announcer != NULL);
    zstr_sendx (announcer, "SET", "server/background", "1", NULL);
    zstr_sendx (announcer, "CONNECT", gossip + strlen ("gossip/bind="), NULL);
    char value [400];
    snprintf (value, sizeof value, "events=%s calls=ipc://%s/far-calls",
              events, dir);
    zstr_sendx (announcer, "PUBLISH", ZMESH_GOSSIP_PREFIX
                "drifter/00000000-0000-4000-8000-0000000000d1", value, NULL);
    int64_t give_up = zclock_mono () + 5000;
    while (zmesh_node_peer_count (client) < 1 && zclock_mono () < give_up)
        zmesh_node_poll (client, 10);
    cr_assert (eq (sz, zmesh_node_peer_count (client), 1), "learned");
    //  Silent: gone after 600 ms, and forgotten after six times that
    zmesh_clock_fake_advance (clock_fake, 700);
    s_turn ();
    cr_assert (eq (sz, zmesh_node_peer_count (client), 1), "gone, still kept");
    zmesh_peer_info_t kept;
    zmesh_node_peer (client, 0, &kept);
    cr_assert (eq (int, kept.state, ZMESH_PEER_GONE));
    zmesh_clock_fake_advance (clock_fake, 6 * 600);
    s_turn ();
    cr_assert (eq (sz, zmesh_node_peer_count (client), 0), "forgotten");
    zactor_destroy (&announcer);
    zsock_destroy (&pub);
}

//  The admin endpoint (admin/port): one HTTP exchange with it, on
//  127.0.0.1 at port, the request sent as given. The response goes into
//  response (its body at *body); returns its status, or -1 when there was
//  no response.
static int
s_http_raw (int port, const char *request, char *response, size_t size,
            const char **body)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    cr_assert (fd >= 0);
    struct timeval timeout = {5, 0};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons ((uint16_t) port),
                                  .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    cr_assert (eq (int, connect (fd, (struct sockaddr *) &address,
                                 sizeof address), 0));
    cr_assert (eq (sz, (size_t) write (fd, request, strlen (request)),
                   strlen (request)));
    size_t used = 0;
    ssize_t got;
    while (used + 1 < size
           && (got = read (fd, response + used, size - 1 - used)) > 0)
        used += (size_t) got;
    response [used] = 0;
    close (fd);
    int status = -1;
    sscanf (response, "HTTP/1.%*d %d", &status);
    const char *end = strstr (response, "\r\n\r\n");
    if (body)
        *body = end ? end + 4 : response + used;
    return status;
}

//  GET path from node's admin endpoint: its status, the body in body.
static int
s_admin_get (zmesh_node_t *node, const char *path, char *body, size_t size)
{
    char request [256], response [65536];
    snprintf (request, sizeof request, "GET %s HTTP/1.1\r\nHost: 127.0.0.1"
              "\r\nConnection: close\r\n\r\n", path);
    const char *text;
    int status = s_http_raw (zmesh_node_admin_port (node), request, response,
                             sizeof response, &text);
    snprintf (body, size, "%s", text);
    return status;
}

//  The value of the sample named (with its labels, exactly as written)
//  in a /metrics text; -1 when there is none.
static double
s_sample (const char *text, const char *sample)
{
    size_t length = strlen (sample);
    for (const char *line = text; line && *line;
         line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL)
        if (strncmp (line, sample, length) == 0 && line [length] == ' ')
            return strtod (line + length + 1, NULL);
    return -1;
}

static bool
s_metric_name (const char **cursor, bool label)
{
    const char *at = *cursor;
    if (!(isalpha ((unsigned char) *at) || *at == '_' || (!label && *at == ':')))
        return false;
    while (isalnum ((unsigned char) *at) || *at == '_' || (!label && *at == ':'))
        at++;
    *cursor = at;
    return true;
}

//  Whether text follows the Prometheus text format, version 0.0.4, with
//  a TYPE for every family: each line a HELP or TYPE comment or a sample;
//  a family's TYPE once, before its samples, which come together; names,
//  label names and quoted label values well formed; values numbers; a
//  histogram's buckets rising to +Inf, which equals its count. If not,
//  why says which line.
static bool
s_metrics_valid (const char *text, char *why, size_t size)
{
    static char families [128][80];
    size_t family_count = 0;
    char family [80] = "", type [16] = "", series [512] = "";
    double bucket = -1;
    int number = 0;
    for (const char *line = text; *line; number++) {
        const char *end = strchr (line, '\n');
        if (!end) {
            snprintf (why, size, "line %d: no line feed at the end", number);
            return false;
        }
        char copy [1024];
        snprintf (copy, sizeof copy, "%.*s", (int) (end - line), line);
        line = end + 1;
        char name [80], rest [16];
        if (strncmp (copy, "# TYPE ", 7) == 0) {
            if (sscanf (copy + 7, "%79s %15s", name, rest) != 2
                || (!streq (rest, "counter") && !streq (rest, "gauge")
                    && !streq (rest, "histogram") && !streq (rest, "summary")
                    && !streq (rest, "untyped"))) {
                snprintf (why, size, "line %d: a bad TYPE: %.100s", number, copy);
                return false;
            }
            for (size_t index = 0; index < family_count; index++)
                if (streq (families [index], name)) {
                    snprintf (why, size, "line %d: %s typed twice", number,
                              name);
                    return false;
                }
            cr_assert (lt (sz, family_count, 128));
            snprintf (families [family_count++], 80, "%s", name);
            snprintf (family, sizeof family, "%s", name);
            snprintf (type, sizeof type, "%s", rest);
            continue;
        }
        if (*copy == '#')
            continue;           //  HELP, or a comment
        const char *at = copy;
        if (!s_metric_name (&at, false)) {
            snprintf (why, size, "line %d: not a sample: %.100s", number, copy);
            return false;
        }
        snprintf (name, sizeof name, "%.*s", (int) (at - copy), copy);
        char suffix [16] = "";
        if (!streq (name, family)) {
            size_t length = strlen (family);
            if (!streq (type, "histogram") || strncmp (name, family, length)
                || (!streq (name + length, "_bucket")
                    && !streq (name + length, "_sum")
                    && !streq (name + length, "_count"))) {
                snprintf (why, size, "line %d: %s is not of family %s",
                          number, name, family);
                return false;
            }
            snprintf (suffix, sizeof suffix, "%s", name + length);
        }
        //  Labels: name="value", with \\, \" and \n the only escapes
        char labels [512] = "", le [32] = "";
        if (*at == '{') {
            at++;
            while (*at != '}') {
                const char *label = at;
                if (!s_metric_name (&at, true) || *at++ != '=' || *at++ != '"') {
                    snprintf (why, size, "line %d: a bad label", number);
                    return false;
                }
                bool is_le = strncmp (label, "le=", 3) == 0;
                const char *value = at;
                while (*at && *at != '"') {
                    if (*at == '\\' && !strchr ("\\\"n", at [1])) {
                        snprintf (why, size, "line %d: a bad escape", number);
                        return false;
                    }
                    at += *at == '\\' ? 2 : 1;
                }
                if (*at++ != '"') {
                    snprintf (why, size, "line %d: an open quote", number);
                    return false;
                }
                if (is_le)
                    snprintf (le, sizeof le, "%.*s", (int) (at - 1 - value),
                              value);
                else
                    snprintf (labels + strlen (labels),
                              sizeof labels - strlen (labels), "%.*s,",
                              (int) (at - label), label);
                if (*at == ',')
                    at++;
                else if (*at != '}') {
                    snprintf (why, size, "line %d: labels not closed", number);
                    return false;
                }
            }
            at++;
        }
        char *number_end;
        if (*at++ != ' ') {
            snprintf (why, size, "line %d: no value", number);
            return false;
        }
        double value = strtod (at, &number_end);
        if (number_end == at || (*number_end && *number_end != ' ')) {
            snprintf (why, size, "line %d: a bad value: %s", number, at);
            return false;
        }
        //  A histogram's buckets, of one series, rise to +Inf: its count
        if (streq (suffix, "_bucket")) {
            if (!*le) {
                snprintf (why, size, "line %d: a bucket without le", number);
                return false;
            }
            if (!streq (labels, series))
                bucket = -1;
            snprintf (series, sizeof series, "%s", labels);
            if (value < bucket) {
                snprintf (why, size, "line %d: a bucket below the one before",
                          number);
                return false;
            }
            bucket = streq (le, "+Inf") ? -value - 1 : value;
            if (!streq (le, "+Inf"))
                continue;
        }
        if (streq (suffix, "_count")
            && (!streq (labels, series) || bucket >= 0
                || -bucket - 1 != value)) {
            snprintf (why, size, "line %d: a count not its +Inf bucket",
                      number);
            return false;
        }
    }
    return true;
}

//  A /metrics text passes promtool's check, when there is a promtool
//  (tools/setup.sh takes it from Debian's prometheus package), and this
//  test's own reading of the format.
static void
s_assert_metrics_valid (const char *text)
{
    char why [200];
    cr_assert (s_metrics_valid (text, why, sizeof why), "%s", why);
#ifdef PROMTOOL
    char path [128];
    snprintf (path, sizeof path, "%s/metrics.txt", dir);
    FILE *file = fopen (path, "w");
    cr_assert (file != NULL);
    fputs (text, file);
    fclose (file);
    char command [512], said [1024] = "";
    snprintf (command, sizeof command, "%s check metrics < %s 2>&1", PROMTOOL,
              path);
    FILE *checked = popen (command, "r");
    cr_assert (checked != NULL);
    size_t got = fread (said, 1, sizeof said - 1, checked);
    said [got] = 0;
    cr_assert (eq (int, pclose (checked), 0), "promtool: %s", said);
    cr_assert (eq (sz, got, 0), "promtool: %s", said);
#else
    cr_log_warn ("no promtool: /metrics checked by this test's reading only");
#endif
}

//  /readyz says not ready until every publisher configured has been
//  heard and while the consumer is behind one; ready once it has caught
//  up. /metrics shows the lag by publisher.
Test (loop, the_admin_endpoint_is_not_ready_while_a_consumer_catches_up)
{
    enum { EVENTS = 20000 };
    //  A heartbeat every 100 ms of the fake clock: each leaves the
    //  endpoint what it serves
    const char *settings [] = {"admin/port=0", "timing/heartbeat=100", NULL};
    s_consumed_t consumed;
    zmesh_node_t *consumer = s_big_consumer (EVENTS, settings, &consumed);
    cr_assert (gt (int, zmesh_node_admin_port (consumer), 0));
    char body [65536];
    cr_assert (eq (int, s_admin_get (consumer, "/healthz", body, sizeof body),
                   200));
    cr_assert (eq (str, body, "ok\n"));
    cr_assert (eq (int, s_admin_get (consumer, "/readyz", body, sizeof body),
                   503));
    cr_assert (eq (str, body, "not ready: peer big not heard from yet\n"));
    s_turn_until_replaying (consumer);
    //  The consumer's next heartbeat leaves what the endpoint serves
    zmesh_clock_fake_advance (clock_fake, 100);
    zmesh_node_poll (consumer, 0);
    cr_assert (lt (u64, s_stats (consumer).events_consumed, EVENTS));
    cr_assert (eq (int, s_admin_get (consumer, "/readyz", body, sizeof body),
                   503));
    cr_assert (strstr (body, "not ready: catching up: ") != NULL, "%s", body);
    cr_assert (eq (int, s_admin_get (consumer, "/metrics", body, sizeof body),
                   200));
    s_assert_metrics_valid (body);
    cr_assert (gt (dbl, s_sample (body, "zmesh_consumer_lag{node=\"consumer\","
                                  "publisher=\"big\"}"), 0));
    //  Caught up (time passing, should a replay have timed out on a busy
    //  machine), and ready at the next heartbeat
    s_turn_until_consumed (consumer, EVENTS);
    zmesh_clock_fake_advance (clock_fake, 100);
    s_turn ();
    cr_assert (eq (int, s_admin_get (consumer, "/readyz", body, sizeof body),
                   200));
    cr_assert (eq (str, body, "ready\n"));
    cr_assert (eq (int, s_admin_get (consumer, "/metrics", body, sizeof body),
                   200));
    s_assert_metrics_valid (body);
    cr_assert (eq (dbl, s_sample (body, "zmesh_consumer_lag{node=\"consumer\","
                                  "publisher=\"big\"}"), 0));
    cr_assert (eq (dbl, s_sample (body, "zmesh_events_consumed_total"
                                  "{node=\"consumer\"}"), EVENTS));
    cr_assert (eq (dbl, s_sample (body, "zmesh_consumer_stalled"
                                  "{node=\"consumer\",publisher=\"big\"}"),
                   0));
}

//  /metrics has a latency histogram of the calls made, by the service
//  called (on the fake clock, every call takes no time), their failures,
//  and the breaker of each instance called. /healthz fails once the loop
//  has not turned for timing/quiet, and passes again once it has.
Test (loop, the_admin_endpoint_shows_calls_breakers_and_a_loop_that_stopped)
{
    zmesh_node_t *server = s_node ("echo", NULL);
    cr_assert (eq (int, zmesh_node_serve (server, "echo.text", s_echo, NULL),
                   0));
    const char *settings [] = {"peers/echo/calls=inproc://echo-calls",
                               "peers/echo/service=echo", "admin/port=0",
                               "timing/heartbeat=100", "timing/quiet=300",
                               "timing/gone=600", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    for (int index = 0; index < 5; index++) {
        s_outcome_t outcome;
        s_call (client, "echo", "echo.text", NULL, &outcome);
        s_turn_until (&outcome.done, "the reply");
        cr_assert (eq (int, outcome.rc, ZMESH_OK));
    }
    s_outcome_t unknown;
    s_call (client, "echo", "no.such", NULL, &unknown);
    s_turn_until (&unknown.done, "the reply");
    cr_assert (eq (int, unknown.rc, ZMESH_ERR_UNKNOWN_METHOD));
    zmesh_clock_fake_advance (clock_fake, 100);
    s_turn ();
    char body [65536];
    cr_assert (eq (int, s_admin_get (client, "/metrics", body, sizeof body),
                   200));
    s_assert_metrics_valid (body);
    const char *series = "{node=\"client\",service=\"echo\"";
    char sample [200];
    snprintf (sample, sizeof sample, "zmesh_call_duration_seconds_count%s}",
              series);
    cr_assert (eq (dbl, s_sample (body, sample), 6), "%s", body);
    snprintf (sample, sizeof sample, "zmesh_call_duration_seconds_bucket%s,"
              "le=\"0.00025\"}", series);
    cr_assert (eq (dbl, s_sample (body, sample), 6));
    snprintf (sample, sizeof sample, "zmesh_call_failures_total%s}", series);
    cr_assert (eq (dbl, s_sample (body, sample), 1));
    snprintf (sample, sizeof sample, "zmesh_breaker_state%s,endpoint=\""
              "inproc://echo-calls\"}", series);
    cr_assert (eq (dbl, s_sample (body, sample), 0), "%s", body);
    cr_assert (eq (dbl, s_sample (body, "zmesh_calls_made_total"
                                  "{node=\"client\"}"), 6));
    //  The loop stops turning: by the node's clock, what it left grows
    //  old, and after timing/quiet the node is not alive
    cr_assert (eq (int, s_admin_get (client, "/healthz", body, sizeof body),
                   200));
    zmesh_clock_fake_advance (clock_fake, 301);
    cr_assert (eq (int, s_admin_get (client, "/healthz", body, sizeof body),
                   503));
    cr_assert (eq (str, body, "stalled: the loop has not turned for 301 ms\n"));
    cr_assert (eq (int, s_admin_get (client, "/readyz", body, sizeof body),
                   503));
    s_turn ();
    cr_assert (eq (int, s_admin_get (client, "/healthz", body, sizeof body),
                   200));
}

//  Bad requests get their HTTP error, garbage a closed connection, and
//  the endpoint goes on. A bad admin/port or admin/host, or a port taken,
//  is an error that says so.
Test (loop, the_admin_endpoint_refuses_what_it_does_not_serve)
{
    const char *settings [] = {"admin/port=0", NULL};
    zmesh_node_t *node = s_node ("lone", settings);
    int port = zmesh_node_admin_port (node);
    char response [4096];
    const char *body;
    cr_assert (eq (int, s_http_raw (port, "POST /metrics HTTP/1.1\r\nHost: x"
                                    "\r\nContent-Length: 3\r\nConnection: "
                                    "close\r\n\r\nabc", response,
                                    sizeof response, &body), 405));
    cr_assert (strstr (response, "Allow: GET, HEAD") != NULL, "%s", response);
    cr_assert (eq (int, s_http_raw (port, "GET /nothing HTTP/1.1\r\nHost: x"
                                    "\r\nConnection: close\r\n\r\n", response,
                                    sizeof response, &body), 404));
    cr_assert (eq (int, s_http_raw (port, "GET /healthz HTTP/1.1\r\n"
                                    "Connection: close\r\n\r\n", response,
                                    sizeof response, &body), 400));
    int status = s_http_raw (port, "\x16\x03\x01garbage\r\n\r\n", response,
                             sizeof response, &body);
    cr_assert (status == -1 || status == 400, "%d", status);
    cr_assert (eq (int, s_http_raw (port, "HEAD /healthz HTTP/1.0\r\n\r\n",
                                    response, sizeof response, &body), 200));
    cr_assert (eq (str, (char *) body, ""), "HEAD: no body");
    //  Settings
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "other");
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_config_set (&config, "admin/port=65536",
                                               &detail), ZMESH_ERR_CONFIG));
    cr_assert (strstr (detail.text, "admin/port") != NULL, "%s", detail.text);
    //  An address, never a name: no lookup
    cr_assert (eq (int, zmesh_node_config_set (&config,
                                               "admin/host=localhost",
                                               &detail), ZMESH_ERR_CONFIG));
    cr_assert (eq (str, detail.text, "admin/host: 'localhost' is not an IPv4 "
                   "or IPv6 address"));
    char taken [32];
    snprintf (taken, sizeof taken, "admin/port=%d", port);
    const char *sets [] = {"node/events=inproc://other-events",
                           "node/calls=inproc://other-calls", taken, NULL};
    for (size_t index = 0; sets [index]; index++)
        cr_assert (eq (int, zmesh_node_config_set (&config, sets [index],
                                                   &detail), 0));
    cr_assert (zmesh_node_new (&config, clock_fake, rand_seeded, &detail)
               == NULL);
    cr_assert (strstr (detail.text, "admin/port: cannot listen on 127.0.0.1 "
                       "port") != NULL, "%s", detail.text);
    //  The sockets are not bound: the same endpoints may be had
    cr_assert (eq (int, zmesh_node_config_set (&config, "admin/port=0",
                                               &detail), 0));
    zmesh_node_t *other = zmesh_node_new (&config, clock_fake, rand_seeded,
                                          &detail);
    cr_assert (other != NULL, "%s", detail.text);
    zmesh_node_destroy (&other);
    //  And without admin/port, no endpoint
    zmesh_node_t *plain = s_node ("plain", NULL);
    cr_assert (eq (int, zmesh_node_admin_port (plain), 0));
}

//  An OTLP collector for the tests: libmicrohttpd on 127.0.0.1, keeping
//  the body of each POST it takes (up to COLLECTED_MAX).
#define COLLECTED_MAX 64
typedef struct {
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t lock;
    char *bodies [COLLECTED_MAX];
    size_t count;
} s_collector_t;

typedef struct {
    char *data;
    size_t size;
} s_upload_t;

static enum MHD_Result
s_collect (void *cls, struct MHD_Connection *connection, const char *url,
           const char *method, const char *version, const char *upload_data,
           size_t *upload_data_size, void **con_cls)
{
    (void) version;
    s_collector_t *collector = cls;
    s_upload_t *upload = *con_cls;
    if (!upload) {
        *con_cls = calloc (1, sizeof (s_upload_t));
        return MHD_YES;
    }
    if (*upload_data_size) {
        upload->data = realloc (upload->data, upload->size + *upload_data_size
                                              + 1);
        memcpy (upload->data + upload->size, upload_data, *upload_data_size);
        upload->size += *upload_data_size;
        upload->data [upload->size] = 0;
        *upload_data_size = 0;
        return MHD_YES;
    }
    const char *type = MHD_lookup_connection_value (connection,
                                                    MHD_HEADER_KIND,
                                                    "Content-Type");
    unsigned status = streq (method, "POST") && streq (url, "/v1/traces")
                      && type && streq (type, "application/json")
                      && upload->data ? 200 : 400;
    pthread_mutex_lock (&collector->lock);
    if (status == 200 && collector->count < COLLECTED_MAX) {
        collector->bodies [collector->count++] = upload->data;
        upload->data = NULL;
    }
    pthread_mutex_unlock (&collector->lock);
    free (upload->data);
    free (upload);
    *con_cls = NULL;
    struct MHD_Response *response = MHD_create_response_from_buffer (
        2, "{}", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result result = MHD_queue_response (connection, status,
                                                 response);
    MHD_destroy_response (response);
    return result;
}

//  Start the collector at port (0: any free one).
static void
s_collector_start (s_collector_t *collector, int port)
{
    collector->daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, (uint16_t) port, NULL,
        NULL, s_collect, collector, MHD_OPTION_SOCK_ADDR,
        &(struct sockaddr_in) {.sin_family = AF_INET,
                               .sin_port = htons ((uint16_t) port),
                               .sin_addr.s_addr = htonl (INADDR_LOOPBACK)},
        MHD_OPTION_END);
    cr_assert (collector->daemon != NULL);
    collector->port = MHD_get_daemon_info (collector->daemon,
                                           MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void
s_collector_stop (s_collector_t *collector)
{
    if (collector->daemon)
        MHD_stop_daemon (collector->daemon);
    collector->daemon = NULL;
}

//  Every span the collector has been sent, in one array, each with its
//  resource's service.name as "service"; the request's shape is checked
//  on the way.
static json_t *
s_collected_spans (s_collector_t *collector)
{
    json_t *all = json_array ();
    pthread_mutex_lock (&collector->lock);
    for (size_t index = 0; index < collector->count; index++) {
        json_t *request = json_loads (collector->bodies [index], 0, NULL);
        cr_assert (request != NULL, "%s", collector->bodies [index]);
        json_t *resources = json_object_get (request, "resourceSpans");
        cr_assert (eq (sz, json_array_size (resources), 1));
        json_t *resource = json_array_get (resources, 0);
        const char *service = NULL;
        size_t at;
        json_t *attribute;
        json_array_foreach (json_object_get (json_object_get (
                                resource, "resource"), "attributes"),
                            at, attribute)
            if (streq (json_string_value (json_object_get (attribute, "key")),
                       "service.name"))
                service = json_string_value (json_object_get (json_object_get (
                    attribute, "value"), "stringValue"));
        cr_assert (service != NULL);
        json_t *scope = json_array_get (json_object_get (resource,
                                                         "scopeSpans"), 0);
        cr_assert (eq (str, (char *) json_string_value (json_object_get (
                                json_object_get (scope, "scope"), "name")),
                       "zmesh"));
        json_t *span;
        json_array_foreach (json_object_get (scope, "spans"), at, span) {
            json_object_set_new (span, "service", json_string (service));
            json_array_append (all, span);
        }
        json_decref (request);
    }
    pthread_mutex_unlock (&collector->lock);
    return all;
}

//  A span's attribute, as text ("" when it has none).
static const char *
s_span_attribute (json_t *span, const char *key)
{
    size_t index;
    json_t *attribute;
    json_array_foreach (json_object_get (span, "attributes"), index, attribute)
        if (streq (json_string_value (json_object_get (attribute, "key")),
                   key)) {
            json_t *value = json_object_get (attribute, "value");
            const char *text = json_string_value (json_object_get (
                value, "stringValue"));
            return text ? text : json_string_value (json_object_get (
                                     value, "intValue"));
        }
    return "";
}

//  The span of service named name of kind, or NULL.
static json_t *
s_span_of (json_t *spans, const char *service, const char *name, int kind)
{
    size_t index;
    json_t *span;
    json_array_foreach (spans, index, span)
        if (streq (json_string_value (json_object_get (span, "service")),
                   service)
            && streq (json_string_value (json_object_get (span, "name")), name)
            && json_integer_value (json_object_get (span, "kind")) == kind)
            return span;
    return NULL;
}

static const char *
s_field_text (json_t *object, const char *key)
{
    const char *text = json_string_value (json_object_get (object, key));
    return text ? text : "";
}

//  The flow records of two nodes reach a collector as OTLP spans, in its
//  JSON encoding: one trace, the client's span the parent of the first
//  call, a server span under its client span, kinds, names, attributes
//  for service, method and status, and times. Exports go at each
//  heartbeat, on the node's clock.
Test (loop, flow_records_reach_a_collector_as_otlp_spans)
{
    s_collector_t collector = {.lock = PTHREAD_MUTEX_INITIALIZER};
    s_collector_start (&collector, 0);
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint,
              "otlp/endpoint=http://127.0.0.1:%d/v1/traces", collector.port);
    const char *server_settings [] = {endpoint, "timing/heartbeat=100",
                                      "timing/quiet=300", "timing/gone=600",
                                      NULL};
    zmesh_node_t *server = s_node ("echo", server_settings);
    cr_assert (eq (int, zmesh_node_serve (server, "echo.text", s_echo, NULL),
                   0));
    const char *settings [] = {"peers/echo/calls=inproc://echo-calls",
                               "peers/echo/service=echo", endpoint,
                               "timing/heartbeat=100", "timing/quiet=300",
                               "timing/gone=600", NULL};
    zmesh_node_t *client = s_node ("client", settings);
    //  A flow from a client's span: a call, a call of a method not
    //  served, and an event
    const char *given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    s_outcome_t echo = {0}, unknown = {0};
    cr_assert (eq (int, zmesh_node_flow_begin_traced (client, given), 0));
    cr_assert (eq (int, zmesh_node_call_async (client, "echo", "echo.text",
                                               NULL, 0, NULL, s_done, &echo),
                   0));
    cr_assert (eq (int, zmesh_node_call_async (client, "echo", "no.such",
                                               NULL, 0, NULL, s_done,
                                               &unknown), 0));
    cr_assert (eq (int, zmesh_node_publish (client, "thing.done", NULL, 0),
                   0));
    zmesh_node_flow_end (client);
    s_turn_until (&echo.done, "the reply");
    s_turn_until (&unknown.done, "the error");
    //  The next heartbeat sends them
    zmesh_clock_fake_advance (clock_fake, 100);
    s_turn ();
    int64_t give_up = zclock_mono () + 10000;
    while ((s_stats (client).spans_exported < 3
            || s_stats (server).spans_exported < 2)
           && zclock_mono () < give_up) {
        zclock_sleep (10);
        s_turn ();
    }
    cr_assert (eq (u64, s_stats (client).spans_exported, 3));
    cr_assert (eq (u64, s_stats (server).spans_exported, 2));
    cr_assert (eq (u64, s_stats (client).spans_dropped, 0));
    json_t *spans = s_collected_spans (&collector);
    cr_assert (eq (sz, json_array_size (spans), 5));
    size_t index;
    json_t *span;
    json_array_foreach (spans, index, span) {
        cr_assert (eq (str, (char *) s_field_text (span, "traceId"),
                       "4bf92f3577b34da6a3ce929d0e0e4736"), "one trace");
        cr_assert (eq (sz, strlen (s_field_text (span, "spanId")), 16));
        size_t parent = strlen (s_field_text (span, "parentSpanId"));
        cr_assert (parent == 0 || parent == 16, "a parent, or none");
        uint64_t start = strtoull (s_field_text (span, "startTimeUnixNano"),
                                   NULL, 10);
        uint64_t end = strtoull (s_field_text (span, "endTimeUnixNano"), NULL,
                                 10);
        cr_assert (start > 0 && end >= start);
    }
    //  CLIENT 3, SERVER 2, PRODUCER 4
    json_t *made = s_span_of (spans, "client", "echo.text", 3);
    json_t *served = s_span_of (spans, "echo", "echo.text", 2);
    json_t *failed = s_span_of (spans, "client", "no.such", 3);
    json_t *published = s_span_of (spans, "client", "thing.done", 4);
    cr_assert (made && served && failed && published);
    cr_assert (eq (str, (char *) s_field_text (made, "parentSpanId"),
                   "00f067aa0ba902b7"), "under the client's span");
    cr_assert (eq (str, (char *) s_field_text (served, "parentSpanId"),
                   (char *) s_field_text (made, "spanId")));
    cr_assert (strcmp (s_field_text (served, "spanId"),
                       s_field_text (made, "spanId")) != 0);
    cr_assert (eq (str, (char *) s_span_attribute (made, "rpc.service"),
                   "echo"));
    cr_assert (eq (str, (char *) s_span_attribute (served, "rpc.service"),
                   "echo"));
    cr_assert (eq (str, (char *) s_span_attribute (made, "rpc.method"),
                   "echo.text"));
    cr_assert (eq (str, (char *) s_span_attribute (made, "zmesh.status"),
                   "ok"));
    cr_assert (json_object_size (json_object_get (made, "status")) == 0,
                   "success leaves the status unset");
    cr_assert (eq (int, (int) json_integer_value (json_object_get (
                            json_object_get (failed, "status"), "code")), 2));
    cr_assert (eq (str, (char *) s_field_text (json_object_get (failed,
                                                                "status"),
                                               "message"), "unknown_method"));
    cr_assert (eq (str, (char *) s_span_attribute (published,
                                                   "messaging.destination."
                                                   "name"), "thing.done"));
    json_decref (spans);
    zmesh_node_destroy (&nodes [--node_count]);
    zmesh_node_destroy (&nodes [--node_count]);
    s_collector_stop (&collector);
    for (size_t body = 0; body < collector.count; body++)
        free (collector.bodies [body]);
}

//  Method tell.me: publishes tell.told, caused by the request, and
//  answers.
static void
s_tell (zmesh_node_t *node, const zmesh_envelope_t *request,
        zmesh_envelope_t *reply, void *arg)
{
    (void) request, (void) arg;
    cr_assert (eq (int, zmesh_node_publish (node, "tell.told", NULL, 0), 0));
    zmesh_envelope_set_body (reply, "\xa4pong", 5);
}

//  A published event's span is under its cause's (one a method publishes:
//  its request's span), or, first in a flow begun from a client's span,
//  under that span.
Test (loop, a_published_events_span_is_under_its_cause_or_the_flows_parent)
{
    s_collector_t collector = {.lock = PTHREAD_MUTEX_INITIALIZER};
    s_collector_start (&collector, 0);
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint,
              "otlp/endpoint=http://127.0.0.1:%d/v1/traces", collector.port);
    const char *server_settings [] = {endpoint, NULL};
    zmesh_node_t *server = s_node ("teller", server_settings);
    cr_assert (eq (int, zmesh_node_serve (server, "tell.me", s_tell, NULL),
                   0));
    const char *settings [] = {"peers/teller/calls=inproc://teller-calls",
                               "peers/teller/service=teller", endpoint, NULL};
    zmesh_node_t *client = s_node ("client", settings);
    const char *given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    s_outcome_t told = {0};
    cr_assert (eq (int, zmesh_node_flow_begin_traced (client, given), 0));
    cr_assert (eq (int, zmesh_node_publish (client, "thing.done", NULL, 0),
                   0));
    cr_assert (eq (int, zmesh_node_call_async (client, "teller", "tell.me",
                                               NULL, 0, NULL, s_done, &told),
                   0));
    zmesh_node_flow_end (client);
    s_turn_until (&told.done, "the reply");
    cr_assert (eq (int, told.rc, ZMESH_OK));
    zmesh_clock_fake_advance (clock_fake, 1000);    //  The next heartbeat
    s_turn ();
    int64_t give_up = zclock_mono () + 10000;
    while ((s_stats (client).spans_exported < 2
            || s_stats (server).spans_exported < 2)
           && zclock_mono () < give_up) {
        zclock_sleep (10);
        s_turn ();
    }
    json_t *spans = s_collected_spans (&collector);
    json_t *made = s_span_of (spans, "client", "tell.me", 3);
    json_t *caused = s_span_of (spans, "teller", "tell.told", 4);
    json_t *first = s_span_of (spans, "client", "thing.done", 4);
    cr_assert (made && caused && first);
    cr_assert (eq (str, (char *) s_field_text (caused, "parentSpanId"),
                   (char *) s_field_text (made, "spanId")),
               "under the request that caused it");
    cr_assert (eq (str, (char *) s_field_text (first, "parentSpanId"),
                   "00f067aa0ba902b7"), "under the client's span");
    json_decref (spans);
    zmesh_node_destroy (&nodes [--node_count]);
    zmesh_node_destroy (&nodes [--node_count]);
    s_collector_stop (&collector);
    for (size_t body = 0; body < collector.count; body++)
        free (collector.bodies [body]);
}

//  While the collector is away, spans are dropped and counted, and the
//  loop goes on; once it is back, they reach it again.
Test (loop, spans_are_dropped_and_counted_while_the_collector_is_away)
{
    s_collector_t collector = {.lock = PTHREAD_MUTEX_INITIALIZER};
    s_collector_start (&collector, 0);
    int port = collector.port;
    s_collector_stop (&collector);      //  Away: nothing listens there
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint,
              "otlp/endpoint=http://127.0.0.1:%d/v1/traces", port);
    const char *settings [] = {endpoint, "timing/heartbeat=100",
                               "timing/quiet=300", "timing/gone=600", NULL};
    zmesh_node_t *node = s_node ("lone", settings);
    for (int index = 0; index < 10; index++)
        cr_assert (eq (int, zmesh_node_publish (node, "thing.done", NULL, 0),
                       0));
    zmesh_clock_fake_advance (clock_fake, 100);
    s_turn ();
    int64_t give_up = zclock_mono () + 10000;
    while (s_stats (node).spans_dropped < 10 && zclock_mono () < give_up) {
        zclock_sleep (10);
        s_turn ();
    }
    cr_assert (eq (u64, s_stats (node).spans_dropped, 10));
    cr_assert (eq (u64, s_stats (node).spans_exported, 0));
    //  Back
    s_collector_start (&collector, port);
    cr_assert (eq (int, zmesh_node_publish (node, "thing.done", NULL, 0), 0));
    zmesh_clock_fake_advance (clock_fake, 100);
    s_turn ();
    give_up = zclock_mono () + 10000;
    while (s_stats (node).spans_exported < 1 && zclock_mono () < give_up) {
        zclock_sleep (10);
        s_turn ();
    }
    cr_assert (eq (u64, s_stats (node).spans_exported, 1));
    json_t *spans = s_collected_spans (&collector);
    cr_assert (eq (sz, json_array_size (spans), 1));
    json_decref (spans);
    zmesh_node_destroy (&nodes [--node_count]);
    s_collector_stop (&collector);
    for (size_t body = 0; body < collector.count; body++)
        free (collector.bodies [body]);
}

//  A stopping node waits for the calls its handlers and the application
//  made, not for its own repairs: a replay the publisher never answers
//  does not hold up the drain (here, of no time at all).
Test (loop, a_drain_does_not_wait_for_the_nodes_own_repairs)
{
    const char *settings [] = {"timing/drain=0", NULL};
    s_consumed_t consumed;
    zmesh_node_t *consumer = s_big_consumer (20000, settings, &consumed);
    s_turn_until_replaying (consumer);
    //  The consumer alone turns: its next replay goes out, unanswered
    uint64_t made = s_stats (consumer).calls_made;
    for (int round = 0; round < 20; round++)
        zmesh_node_poll (consumer, 0);
    cr_assert (gt (u64, s_stats (consumer).calls_made, made),
               "a replay is in flight");
    cr_assert (lt (u64, s_stats (consumer).events_consumed, 20000));
    cr_assert (eq (int, zmesh_node_drain (consumer), ZMESH_OK));
}

//  The confirms of asynchronous publishes, in the order they came; the
//  one for seq again_at publishes once more.
typedef struct {
    size_t count;
    zmesh_err_t rc [128];
    uint64_t seq [128];
    uint64_t again_at;
} s_confirms_t;

static void
s_confirmed (zmesh_node_t *node, zmesh_err_t rc, uint64_t seq, void *arg)
{
    s_confirms_t *confirms = arg;
    cr_assert (lt (sz, confirms->count, 128));
    confirms->rc [confirms->count] = rc;
    confirms->seq [confirms->count++] = seq;
    if (seq && seq == confirms->again_at)
        cr_assert (eq (int, zmesh_node_publish_async (node, "tick.again", NULL,
                                                      0, s_confirmed, arg),
                       ZMESH_OK));
}


Test (loop, asynchronous_publishes_share_the_next_turns_commit_and_confirms)
{
    zmesh_node_t *alpha = s_publisher ("alpha");
    s_consumed_t consumed = {.count = 0};
    zmesh_node_t *consumer = s_alpha_consumer (NULL, s_consumer, &consumed);
    s_confirms_t confirms = {.again_at = 100};
    for (int index = 0; index < 100; index++)
        cr_assert (eq (int, zmesh_node_publish_async (alpha, "tick.tock", NULL,
                                                      0, s_confirmed,
                                                      &confirms), ZMESH_OK));
    //  Appended, not committed, not sent, and not confirmed
    cr_assert (eq (sz, confirms.count, 0));
    cr_assert (eq (u64, child_committed (dir, "alpha"), 0));
    cr_assert (eq (u64, s_stats (alpha).events_published, 0));
    //  One turn commits them all and confirms each, in order
    cr_assert (eq (int, zmesh_node_poll (alpha, 60000), ZMESH_OK));
    cr_assert (eq (sz, confirms.count, 100));
    for (size_t index = 0; index < 100; index++) {
        cr_assert (eq (int, confirms.rc [index], ZMESH_OK));
        cr_assert (eq (u64, confirms.seq [index], index + 1));
    }
    cr_assert (eq (u64, child_committed (dir, "alpha"), 100));
    cr_assert (eq (u64, s_stats (alpha).events_published, 100));
    //  The last confirm published again: the next turn confirms that
    cr_assert (eq (int, zmesh_node_poll (alpha, 60000), ZMESH_OK));
    cr_assert (eq (sz, confirms.count, 101));
    cr_assert (eq (u64, confirms.seq [100], 101));
    s_turn_until_consumed (consumer, 101);
    //  A confirm owed lets the poll wait for nothing else: not for the
    //  minute asked, nor for a heartbeat or events/group_ms a minute away
    char data [128];
    snprintf (data, sizeof data, "node/data=%s/loner", dir);
    const char *slow [] = {data, "timing/heartbeat=60000",
                           "events/group_ms=60000",
                           "timing/quiet=180000", "timing/gone=360000", NULL};
    zmesh_node_t *loner = s_node ("loner", slow);
    zmesh_node_poll (loner, 0);     //  Its first heartbeat
    s_confirms_t one = {.count = 0};
    cr_assert (eq (int, zmesh_node_publish_async (loner, "tick.tock", NULL, 0,
                                                  s_confirmed, &one), 0));
    int64_t started = zclock_mono ();
    cr_assert (eq (int, zmesh_node_poll (loner, 60000), ZMESH_OK));
    cr_assert (lt (i64, zclock_mono () - started, 5000), "did not wait");
    cr_assert (eq (sz, one.count, 1));
    //  Without a store there is nothing to confirm with
    zmesh_node_t *bare = s_node ("bare", NULL);
    cr_assert (eq (int, zmesh_node_publish_async (bare, "tick.tock", NULL, 0,
                                                  s_confirmed, &confirms),
                   ZMESH_ERR_INVALID));
    cr_assert (eq (int, zmesh_node_publish_async (alpha, "bad type", NULL, 0,
                                                  s_confirmed, &confirms),
                   ZMESH_ERR_ENVELOPE_BAD_NAME));
    cr_assert (eq (int, zmesh_node_flush (alpha), ZMESH_OK));
    cr_assert (eq (sz, confirms.count, 101), "no confirm for a refused one");
}

Test (loop, a_confirm_says_when_its_event_was_not_committed)
{
    zmesh_node_t *alpha = s_publisher ("alpha");
    s_confirms_t confirms = {.count = 0};
    for (int index = 0; index < 10; index++)
        cr_assert (eq (int, zmesh_node_publish_async (alpha, "tick.tock", NULL,
                                                      0, s_confirmed,
                                                      &confirms), ZMESH_OK));
    //  The group is taken back from under the node: its commit fails
    zmesh_store_rollback (zmesh_node_store (alpha));
    zmesh_node_poll (alpha, 0);
    cr_assert (eq (sz, confirms.count, 10));
    for (size_t index = 0; index < 10; index++) {
        cr_assert (eq (int, confirms.rc [index], ZMESH_ERR_STORE));
        cr_assert (eq (u64, confirms.seq [index], 0));
    }
    cr_assert (eq (u64, s_stats (alpha).events_published, 0), "none sent");
    //  The numbers they had are given again, and flush confirms too
    cr_assert (eq (int, zmesh_node_publish_async (alpha, "tick.tock", NULL, 0,
                                                  s_confirmed, &confirms),
                   ZMESH_OK));
    cr_assert (eq (int, zmesh_node_flush (alpha), ZMESH_OK));
    cr_assert (eq (sz, confirms.count, 11));
    cr_assert (eq (int, confirms.rc [10], ZMESH_OK));
    cr_assert (eq (u64, confirms.seq [10], 1));
    cr_assert (eq (u64, child_committed (dir, "alpha"), 1));
}

//  A consumer that publishes asynchronously for each event, and fails
//  those whose type begins with "bad".
static zmesh_err_t
s_publishing_consumer (zmesh_node_t *node, const zmesh_envelope_t *event,
                       void *arg, zmesh_detail_t *detail)
{
    cr_assert (eq (int, zmesh_node_publish_async (node, "tick.derived", NULL,
                                                  0, s_confirmed, arg),
                   ZMESH_OK));
    if (strncmp (zmesh_envelope_type (event), "bad", 3) == 0) {
        snprintf (detail->text, sizeof detail->text, "bad on purpose");
        return ZMESH_ERR_INVALID;
    }
    return ZMESH_OK;
}

Test (loop, a_handler_that_fails_takes_back_its_asynchronous_publishes)
{
    zmesh_node_t *alpha = s_publisher ("alpha");
    const char *more [] = {"events/attempts=1", NULL};
    s_confirms_t confirms = {.count = 0};
    zmesh_node_t *consumer = s_alpha_consumer (more, s_publishing_consumer,
                                               &confirms);
    cr_assert (eq (int, zmesh_node_publish (alpha, "good.one", NULL, 0), 0));
    cr_assert (eq (int, zmesh_node_publish (alpha, "bad.two", NULL, 0), 0));
    cr_assert (eq (int, zmesh_node_publish (alpha, "good.three", NULL, 0), 0));
    s_turn_until_consumed (consumer, 2);
    s_turn ();
    cr_assert (eq (u64, s_stats (consumer).dead_letters, 1));
    cr_assert (eq (sz, confirms.count, 3));
    //  In the order published: the failed handler's in the middle
    cr_assert (eq (int, confirms.rc [0], ZMESH_OK));
    cr_assert (eq (int, confirms.rc [1], ZMESH_ERR_STORE));
    cr_assert (eq (u64, confirms.seq [1], 0));
    cr_assert (eq (int, confirms.rc [2], ZMESH_OK));
    cr_assert (eq (u64, confirms.seq [0], 1));
    cr_assert (eq (u64, confirms.seq [2], 2), "the taken-back number again");
    cr_assert (eq (u64, child_committed (dir, "consumer"), 2));
}
