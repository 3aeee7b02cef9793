/*  failure.c - zmesh-bench's failure section: calls refused by an
    open breaker, and how long after a server dies callers start failing
    fast.

    Part of zmesh. MIT License.
*/
#include <signal.h>
#include "bench.h"

void
bench_failure (void)
{
    char dead [PATH_MAX + 64], text [48], what [96];
    snprintf (dead, sizeof dead, "peers/dead/calls=ipc://%s/dead",
              bench_options.tmp);
    zmesh_node_t *node
        = bench_node_new ("bench", dead, "timing/call_timeout=20", NULL);
    uint8_t body [BODY_SMALL];
    bench_fill_body (body, sizeof body);
    zmesh_err_t rc = ZMESH_OK;
    for (int attempt = 0; attempt < 100 && rc != ZMESH_ERR_CIRCUIT_OPEN;
         attempt++) {
        zmesh_envelope_t *reply = NULL;
        rc = zmesh_node_call (node, "dead", "bench.echo", body, sizeof body, 0,
                              &reply, NULL);
        zmesh_envelope_destroy (&reply);
    }
    if (rc == ZMESH_ERR_CIRCUIT_OPEN) {
        long count = bench_options.quick ? 100000 : 1000000, refused = 0;
        int64_t start = bench_now_ns ();
        for (long index = 0; index < count; index++) {
            zmesh_envelope_t *reply = NULL;
            refused += zmesh_node_call (node, "dead", "bench.echo", body,
                                        sizeof body, 0, &reply, NULL)
                       == ZMESH_ERR_CIRCUIT_OPEN;
            zmesh_envelope_destroy (&reply);
        }
        double ns = (double) (bench_now_ns () - start) / (double) count;
        snprintf (what, sizeof what, "call refused by an open breaker "
                  "(%ld of %ld refused)", refused, count);
        snprintf (text, sizeof text, "%.2f µs", ns / 1e3);
        bench_row ("failure", what, text, NULL, -1, "< 1 µs",
                   ns < 1000 && refused == count ? "met" : "MISSED");
    }
    else
        fprintf (stderr, "zmesh-bench: the breaker never opened\n");
    zmesh_node_destroy (&node);

    //  A server killed with SIGKILL: the time until calls fail fast, with
    //  timing/call_timeout = 100 ms and the default breaker
    char calls [PATH_MAX + 64], line [600], endpoint [300], events [300];
    snprintf (calls, sizeof calls, "node/calls=ipc://%s/echo",
              bench_options.tmp);
    bench_child_t echo;
    if (!bench_role (&echo, "zmesh-echo", "-", calls, NULL)
        || !bench_child_line (&echo, line, sizeof line, 10000)
        || sscanf (line, "ready %299s %299s", endpoint, events) != 2)
        return;
    char peer [400];
    node = bench_node_new ("bench", bench_fmt (peer, sizeof peer,
                                               "peers/echo/calls=%s", endpoint),
                           "timing/call_timeout=100", NULL);
    for (int index = 0; index < 100; index++) {
        zmesh_envelope_t *reply = NULL;
        zmesh_node_call (node, "echo", "bench.echo", body, sizeof body, 0,
                         &reply, NULL);
        zmesh_envelope_destroy (&reply);
    }
    kill (echo.pid, SIGKILL);
    int64_t start = bench_now_ns ();
    long failed_slow = 0;
    double fast_at = -1;
    while (bench_seconds_since (start) < 30) {
        zmesh_envelope_t *reply = NULL;
        int64_t call_start = bench_now_ns ();
        rc = zmesh_node_call (node, "echo", "bench.echo", body, sizeof body, 0,
                              &reply, NULL);
        zmesh_envelope_destroy (&reply);
        if (rc != ZMESH_OK && bench_now_ns () - call_start < 1000000) {
            fast_at = bench_seconds_since (start);
            break;
        }
        failed_slow += rc != ZMESH_OK;
    }
    bench_child_stop (&echo);
    zmesh_node_destroy (&node);
    snprintf (what, sizeof what, "server killed → calls fail fast "
              "(%ld calls timed out first)", failed_slow);
    snprintf (text, sizeof text, fast_at < 0 ? "never" : "%.0f ms",
              fast_at * 1000);
    bench_row ("failure", what, text, NULL, -1, NULL, NULL);
}
