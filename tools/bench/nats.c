/*  nats.c - zmesh-bench's nats section: the broker a user would pick
    instead, measured in the same run. A nats-server of bench.sh's own on
    loopback (--nats URL); Debian's libnats (cnats) on the client side.

    Events: one publisher, one subscriber, 64 B and 1 KiB bodies, as the
    events section runs zmesh, the two taking turns. Calls: request/reply
    latency, one caller, as the calls section times zmesh's.

    The roles follow events.c's protocol: the publisher sends warm-up
    messages until "go N", then N as fast as it can; the subscriber says
    "ready" at its first warm-up message and reports "got COUNT SECONDS".

    Part of zmesh. MIT License.
*/
#include "bench.h"

#ifdef BENCH_NATS
#include <nats/nats.h>
#include <poll.h>

#define SUBJECT "bench.event"
#define WARM "bench.warm"
#define ECHO "bench.echo"
#define IDLE_NS 3000000000LL

//  A connection to url. With asap, each message goes out at once
//  (natsOptions_SetSendAsap), as a request or a reply should; without,
//  libnats's flusher gathers them, as a stream of events should: each
//  side of NATS at its best.
static natsConnection *
s_connect (const char *url, bool asap)
{
    natsConnection *connection = NULL;
    natsOptions *options = NULL;
    natsStatus status = natsOptions_Create (&options);
    if (status == NATS_OK)
        status = natsOptions_SetURL (options, url);
    if (status == NATS_OK)
        status = natsOptions_SetSendAsap (options, asap);
    if (status == NATS_OK)
        status = natsConnection_Connect (&connection, options);
    natsOptions_Destroy (options);
    if (status != NATS_OK) {
        fprintf (stderr, "zmesh-bench: cannot connect to NATS at %s: %s\n",
                 url, nats_GetLastError (NULL));
        return NULL;
    }
    return connection;
}

//  Role "nats-pub URL BODY".
int
bench_nats_pub (int argc, char *argv [])
{
    if (argc < 2)
        return 2;
    size_t size = strtoul (argv [1], NULL, 10);
    natsConnection *connection = s_connect (argv [0], false);
    if (!connection)
        return 1;
    printf ("ready %s\n", argv [0]);
    fflush (stdout);
    uint8_t body [BODY_LARGE];
    bench_fill_body (body, size);
    char line [64] = "";
    struct pollfd item = {STDIN_FILENO, POLLIN, 0};
    while (poll (&item, 1, 0) <= 0) {
        natsConnection_Publish (connection, WARM, body, (int) size);
        natsConnection_FlushTimeout (connection, 1000);
        struct timespec pause = {0, 10000000};
        nanosleep (&pause, NULL);
    }
    if (!fgets (line, sizeof line, stdin))
        return 1;
    long count = atol (line + 3), failed = 0;
    int64_t start = bench_now_ns ();
    for (long index = 0; index < count; index++)
        failed += natsConnection_Publish (connection, SUBJECT, body,
                                          (int) size) != NATS_OK;
    natsConnection_FlushTimeout (connection, 30000);
    printf ("sent %.6f %ld\n", bench_seconds_since (start), failed);
    fflush (stdout);
    //  Until the parent stops us
    while (fgets (line, sizeof line, stdin))
        ;
    natsConnection_Destroy (connection);
    return 0;
}

//  Role "nats-sub URL COUNT HWM": HWM is zmesh's; NATS's pending limits
//  are lifted, so that it drops nothing on the client side either.
int
bench_nats_sub (int argc, char *argv [])
{
    if (argc < 2)
        return 2;
    long count = atol (argv [1]);
    natsConnection *connection = s_connect (argv [0], false);
    natsSubscription *subscription = NULL;
    if (!connection
        || natsConnection_SubscribeSync (&subscription, connection, "bench.*")
           != NATS_OK
        || natsSubscription_SetPendingLimits (subscription, -1, -1)
           != NATS_OK
        || natsConnection_FlushTimeout (connection, 5000) != NATS_OK)
        return 1;
    long got = 0;
    bool ready = false;
    int64_t start = 0, last = bench_now_ns ();
    while (got < count && bench_now_ns () - last < IDLE_NS) {
        natsMsg *message = NULL;
        if (natsSubscription_NextMsg (&message, subscription, 100)
            != NATS_OK)
            continue;
        last = bench_now_ns ();
        bool warm = streq (natsMsg_GetSubject (message), WARM);
        natsMsg_Destroy (message);
        if (warm) {
            if (!ready) {
                printf ("ready\n");
                fflush (stdout);
            }
            ready = true;
            continue;
        }
        if (got++ == 0)
            start = last;
    }
    printf ("got %ld %.6f\n", got, got ? (double) (last - start) / 1e9 : 0.0);
    fflush (stdout);
    natsSubscription_Destroy (subscription);
    natsConnection_Destroy (connection);
    return 0;
}

//  Role "nats-echo URL": answers every request on bench.echo with its
//  own body, until the parent stops it.
static void
s_echo (natsConnection *connection, natsSubscription *subscription,
        natsMsg *message, void *arg)
{
    (void) subscription, (void) arg;
    natsConnection_Publish (connection, natsMsg_GetReply (message),
                            natsMsg_GetData (message),
                            natsMsg_GetDataLength (message));
    natsMsg_Destroy (message);
}

int
bench_nats_echo (int argc, char *argv [])
{
    if (argc < 1)
        return 2;
    natsConnection *connection = s_connect (argv [0], true);
    natsSubscription *subscription = NULL;
    if (!connection
        || natsConnection_Subscribe (&subscription, connection, ECHO, s_echo,
                                     NULL) != NATS_OK
        || natsConnection_FlushTimeout (connection, 5000) != NATS_OK)
        return 1;
    printf ("ready %s\n", argv [0]);
    fflush (stdout);
    char line [64];
    while (fgets (line, sizeof line, stdin))
        ;
    natsSubscription_Destroy (subscription);
    natsConnection_Destroy (connection);
    return 0;
}

bool
bench_nats_latency (const char *url, size_t size, int64_t *samples,
                    size_t count, size_t warm)
{
    natsConnection *connection = s_connect (url, true);
    if (!connection)
        return false;
    uint8_t body [BODY_LARGE];
    bench_fill_body (body, size);
    bool ok = true;
    for (size_t index = 0; ok && index < count + warm; index++) {
        natsMsg *reply = NULL;
        int64_t start = bench_now_ns ();
        ok = natsConnection_Request (&reply, connection, ECHO, body,
                                     (int) size, 5000) == NATS_OK;
        if (index >= warm)
            samples [index - warm] = bench_now_ns () - start;
        natsMsg_Destroy (reply);
    }
    natsConnection_Destroy (connection);
    return ok;
}

void
bench_nats (void)
{
    const char *url = bench_options.nats;
    if (!url) {
        fprintf (stderr, "zmesh-bench: nats skipped: no server (--nats URL; "
                 "tools/bench.sh starts one)\n");
        return;
    }
    char topic_frame [ZMESH_TOPIC_MAX];
    size_t topic_size = zmesh_topic_format ("bench.event", false, topic_frame);
    struct {
        size_t body;
        long count, quick_count;
    } runs [] = {{BODY_SMALL, 2000000, 200000}, {BODY_LARGE, 500000, 50000}};
    for (size_t run = 0; run < sizeof runs / sizeof runs [0]; run++) {
        long count = bench_options.quick ? runs [run].quick_count
                                         : runs [run].count;
        size_t frame_size = bench_envelope_size (
            ZMESH_KIND_EVENT, "bench.event", runs [run].body);
        for (int batched = 0; batched < 1 + (runs [run].body == BODY_SMALL);
             batched++) {
            bench_events_result_t n, z;
            if (!bench_events_compare (batched ? "batched" : "zmesh", "nats",
                                       runs [run].body, topic_size,
                                       frame_size, 1, count, &z, &n))
                continue;
            char what [128], zt [48], nt [48], verdict [48];
            snprintf (what, sizeof what, "events, %zu B body, 1 sub%s, vs "
                      "NATS pub/sub", runs [run].body,
                      batched ? ", events/batch=" BENCH_BATCH : "");
            double ratio = z.rate / n.rate;
            snprintf (verdict, sizeof verdict, "%s%s",
                      ratio >= 1 ? "met" : "MISSED",
                      z.delivered >= 1.0 && n.delivered >= 1.0
                          ? "" : " (lost some)");
            bench_row ("nats", what, bench_rate_text (zt, z.rate),
                       bench_rate_text (nt, n.rate), ratio,
                       runs [run].body == BODY_SMALL ? "≥ 1" : NULL,
                       runs [run].body == BODY_SMALL ? verdict : NULL);
            snprintf (what, sizeof what, "  same, delivered %.4f / %.4f",
                      z.delivered, n.delivered);
            bench_row ("nats", what, "", "", -1, NULL, NULL);
        }
    }
    //  Request/reply, one caller: zmesh's calls against NATS's requests
    size_t count = bench_options.quick ? 2000 : 20000;
    char line [600], calls [300], events [300];
    bench_child_t echo, nats_echo;
    if (!bench_role (&echo, "zmesh-echo", "-", NULL)
        || !bench_child_line (&echo, line, sizeof line, 10000)
        || sscanf (line, "ready %299s %299s", calls, events) != 2
        || !bench_role (&nats_echo, "nats-echo", url, NULL)
        || !bench_child_line (&nats_echo, line, sizeof line, 10000)) {
        fprintf (stderr, "zmesh-bench: the echo servers did not start\n");
        return;
    }
    int64_t *nats_samples = calloc (count, sizeof (int64_t));
    int64_t *zmesh_samples = calloc (count, sizeof (int64_t));
    bool ok = bench_latency_compare (calls, BODY_SMALL, zmesh_samples, "nats",
                                     url, BODY_SMALL, nats_samples, count);
    if (ok) {
        qsort (nats_samples, count, sizeof (int64_t), bench_compare_i64);
        qsort (zmesh_samples, count, sizeof (int64_t), bench_compare_i64);
        const struct {
            double p;
            const char *name;
        } points [] = {{50, "p50"}, {99, "p99"}};
        for (size_t point = 0; point < 2; point++) {
            double z = bench_percentile (zmesh_samples, count,
                                         points [point].p);
            double n = bench_percentile (nats_samples, count,
                                         points [point].p);
            char what [96], zt [48], nt [48];
            snprintf (what, sizeof what, "request/reply, %d B body, %s of %zu, "
                      "vs NATS", BODY_SMALL, points [point].name, count);
            bench_row ("nats", what, bench_us_text (zt, z),
                       bench_us_text (nt, n), z / n,
                       point == 0 ? "≤ 1" : NULL,
                       point == 0 ? (z <= n ? "met" : "MISSED") : NULL);
        }
    }
    else
        fprintf (stderr, "zmesh-bench: a NATS latency run failed\n");
    free (nats_samples);
    free (zmesh_samples);
    bench_child_stop (&echo);
    bench_child_stop (&nats_echo);
}

#else

void
bench_nats (void)
{
    fprintf (stderr, "zmesh-bench: nats skipped: built without libnats "
             "(tools/bench.sh installs libnats-dev)\n");
}

#endif
