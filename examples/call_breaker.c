/*  call_breaker.c - a call through the breaker: a service that dies, calls
    that then fail fast, and the breaker closing again once it is back.

        call_breaker [--help]

    One process, two nodes: "clock" serves clock.now from a thread of its
    own; the main thread calls it through the node's caller, with a breaker
    that opens after 3 failures of 3 and probes again after 500 ms.

    Part of zmesh. MIT License.
*/
#include "zmesh.h"

static char s_endpoint [64];    //  ipc, of this process's own

static void
s_now (zmesh_node_t *node, const zmesh_envelope_t *request,
       zmesh_envelope_t *reply, void *arg)
{
    (void) node, (void) request, (void) arg;
    zmesh_envelope_set_body (reply, "\xc3", 1);     //  true
}

//  The clock service, until told to stop.
static void
s_clock (zsock_t *pipe, void *arg)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "clock");
    char setting [100];
    snprintf (setting, sizeof setting, "node/calls=%s", s_endpoint);
    zmesh_node_config_set (&config, setting, NULL);
    zmesh_node_t *node = zmesh_node_new (&config, NULL, NULL, NULL);
    zsock_signal (pipe, node ? 0 : 1);
    if (!node)
        return;
    zmesh_node_serve (node, "clock.now", s_now, arg);
    while (!(zsock_events (pipe) & ZMQ_POLLIN))
        zmesh_node_poll (node, 10);
    zmesh_node_destroy (&node);
}

static void
s_call (zmesh_node_t *client, int number)
{
    zmesh_envelope_t *reply = NULL;
    int64_t started = zclock_usecs ();
    zmesh_err_t rc = zmesh_node_call (client, "clock", "clock.now", NULL, 0,
                                      200, &reply, NULL);
    zmesh_breaker_t *breaker = zmesh_caller_breaker (
        zmesh_node_caller (client), s_endpoint);
    printf ("call %2d: %-28s in %6.1f ms, breaker %s\n", number,
            rc == ZMESH_OK ? "ok" : zmesh_strerror (rc),
            (double) (zclock_usecs () - started) / 1000.0,
            breaker ? zmesh_breaker_state_name (zmesh_breaker_state (breaker))
                    : "-");
    zmesh_envelope_destroy (&reply);
}

int
main (int argc, char *argv [])
{
    if (argc > 1) {
        printf ("usage: call_breaker\n\nShows a call through the breaker: "
                "the service dies, calls fail fast,\nthe service comes back "
                "and the breaker closes again.\n");
        return streq (argv [1], "--help") ? 0 : 2;
    }
    zsys_set_logstream (stderr);
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "client");
    snprintf (s_endpoint, sizeof s_endpoint, "ipc:///tmp/zmesh-example-%d",
              getpid ());
    char peer [100];
    snprintf (peer, sizeof peer, "peers/clock/calls=%s", s_endpoint);
    const char *settings [] = {
        peer, "retry/retries=0",
        "breaker/window_size=3", "breaker/min_calls=3",
        "breaker/reset_timeout=500", NULL};
    for (int index = 0; settings [index]; index++)
        zmesh_node_config_set (&config, settings [index], NULL);
    zmesh_node_t *client = zmesh_node_new (&config, NULL, NULL, NULL);
    zactor_t *clock = zactor_new (s_clock, NULL);
    if (!client || !clock)
        return 1;
    int number = 1;
    printf ("the clock is up\n");
    for (int index = 0; index < 2; index++)
        s_call (client, number++);
    zactor_destroy (&clock);
    printf ("the clock is gone\n");
    for (int index = 0; index < 5; index++)
        s_call (client, number++);
    clock = zactor_new (s_clock, NULL);
    printf ("the clock is back; waiting out the reset timeout\n");
    zclock_sleep (600);
    for (int index = 0; index < 2; index++)
        s_call (client, number++);
    zactor_destroy (&clock);
    zmesh_node_destroy (&client);
    unlink (s_endpoint + strlen ("ipc://"));
    return 0;
}
