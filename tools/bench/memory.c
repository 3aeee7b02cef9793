/*  memory.c - zmesh-bench's memory section: an idle node, a node fed
    garbage, and a node serving and publishing for a while.

    Part of zmesh. MIT License.
*/
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <zmq.h>
#include "bench.h"

//  Resident size of a process, in KiB, or -1.
static long
s_rss_kib (pid_t pid)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    long kib = -1;
    while (file && fgets (line, sizeof line, file))
        if (sscanf (line, "VmRSS: %ld", &kib) == 1)
            break;
    if (file)
        fclose (file);
    return kib;
}

//  Bytes that are not ZMTP, written to a tcp://127.0.0.1:port endpoint on
//  a connection of their own.
static void
s_raw_junk (const char *endpoint, const uint8_t *bytes, size_t size)
{
    const char *port = strrchr (endpoint, ':');
    if (!port || strncmp (endpoint, "tcp://", 6))
        return;
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_port = htons ((uint16_t) strtol (port + 1, NULL, 10));
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect (fd, (struct sockaddr *) &address,
                            sizeof address) == 0) {
        ssize_t sent = send (fd, bytes, size, MSG_NOSIGNAL);
        (void) sent;            //  The node may hang up on us mid-way
    }
    if (fd >= 0)
        close (fd);
}

//  Garbage at a node's calls and events sockets, rounds times: raw bytes
//  to both, and on the calls socket requests without a delimiter, bytes
//  that are not msgpack, and frames of 256 KiB that are not envelopes;
//  nonsense upstream into its publisher. The node's answers are read and
//  dropped as they come.
static void
s_garbage (const char *calls, const char *events, int rounds)
{
    enum { BIG = 256 * 1024 };
    zsock_t *dealer = zsock_new_dealer (calls);
    zsock_t *xsub = zsock_new_xsub (events);
    uint8_t *big = malloc (BIG), junk [2048];
    if (!dealer || !xsub || !big) {
        zsock_destroy (&dealer);
        zsock_destroy (&xsub);
        free (big);
        return;
    }
    memset (big, 0xc1, BIG);
    for (size_t index = 0; index < sizeof junk; index++)
        junk [index] = (uint8_t) (index * 131 + 7);
    for (int round = 0; round < rounds; round++) {
        if (round % 10 == 0) {
            s_raw_junk (calls, junk, sizeof junk);
            s_raw_junk (events, junk, sizeof junk);
        }
        zsock_send (dealer, "s", "no delimiter");
        zsock_send (dealer, "bb", "", (size_t) 0, "\xc1", (size_t) 1);
        zsock_send (dealer, "bb", "", (size_t) 0, big, (size_t) BIG);
        zsock_send (xsub, "s", "\x07not a subscription");
        while (zsock_events (dealer) & ZMQ_POLLIN) {
            zmsg_t *answer = zmsg_recv (dealer);
            zmsg_destroy (&answer);
        }
    }
    int64_t start = bench_now_ns ();
    while (bench_seconds_since (start) < 1) {
        if (zsock_events (dealer) & ZMQ_POLLIN) {
            zmsg_t *answer = zmsg_recv (dealer);
            zmsg_destroy (&answer);
        }
        else
            usleep (10000);
    }
    free (big);
    zsock_destroy (&xsub);
    zsock_destroy (&dealer);
}

void
bench_memory (void)
{
    char line [600], calls [300], events [300], text [48], raw_text [48];
    bench_child_t echo, raw, sub;
    if (!bench_role (&raw, "raw-rep", "100", NULL)
        || !bench_child_line (&raw, line, sizeof line, 10000)
        || !bench_role (&echo, "zmesh-echo", "publish", NULL)
        || !bench_child_line (&echo, line, sizeof line, 10000)
        || sscanf (line, "ready %299s %299s", calls, events) != 2)
        return;
    usleep (1000000);
    long idle = s_rss_kib (echo.pid), raw_idle = s_rss_kib (raw.pid);
    snprintf (text, sizeof text, "%.1f MB", (double) idle / 1024);
    snprintf (raw_text, sizeof raw_text, "%.1f MB", (double) raw_idle / 1024);
    bench_row ("memory", "resident, idle node (raw: a REP process)", text,
               raw_text, -1, "< 10 MB", idle < 10 * 1024 ? "met" : "MISSED");

    //  After garbage, and two idle seconds, the node is back near its idle
    //  size: what the garbage took was given back.
    int rounds = bench_options.quick ? 500 : 2000;
    s_garbage (calls, events, rounds);
    long hit = s_rss_kib (echo.pid);
    usleep (2000000);
    long after = s_rss_kib (echo.pid);
    char what [96];
    snprintf (what, sizeof what, "resident after %d rounds of garbage: at "
              "once → 2 s later", rounds);
    snprintf (text, sizeof text, "%.1f → %.1f MB", (double) hit / 1024,
              (double) after / 1024);
    bench_row ("memory", what, text, NULL, -1, "≤ 1.2 × idle",
               after <= idle * 12 / 10 ? "met" : "MISSED");

    bench_role (&sub, "zmesh-sub", events, "1000000000", "10000", "echo", NULL);
    bench_child_line (&sub, line, sizeof line, 0);
    char peer [400];
    zmesh_node_t *node = bench_node_new (
        "bench", bench_fmt (peer, sizeof peer, "peers/echo/calls=%s", calls),
        NULL);
    double seconds = bench_options.quick ? 4 : 30;
    long samples [10] = {0}, calls_made = 0;
    uint8_t body [BODY_SMALL];
    bench_fill_body (body, sizeof body);
    int64_t start = bench_now_ns ();
    for (int sample = 0; sample < 10; sample++) {
        while (bench_seconds_since (start) < seconds * (sample + 1) / 10) {
            zmesh_envelope_t *reply = NULL;
            zmesh_node_call (node, "echo", "bench.echo", body, sizeof body, 0,
                             &reply, NULL);
            zmesh_envelope_destroy (&reply);
            calls_made++;
        }
        samples [sample] = s_rss_kib (echo.pid);
    }
    zmesh_node_destroy (&node);
    long peak = 0;
    for (int sample = 0; sample < 10; sample++)
        peak = samples [sample] > peak ? samples [sample] : peak;
    snprintf (what, sizeof what, "resident under load: %ld calls + events in "
              "%.0f s, at 30%% → end", calls_made, seconds);
    snprintf (text, sizeof text, "%.1f → %.1f MB", (double) samples [2] / 1024,
              (double) samples [9] / 1024);
    long growth = samples [9] - samples [2];
    bench_row ("memory", what, text, NULL, -1, "flat",
               growth <= 256 ? "met" : "MISSED");
    snprintf (text, sizeof text, "%.1f MB", (double) peak / 1024);
    bench_row ("memory", "  same, peak", text, NULL, -1, NULL, NULL);
    bench_child_stop (&sub);
    bench_child_stop (&echo);
    bench_child_stop (&raw);
}
