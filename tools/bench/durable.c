/*  durable.c - zmesh-bench's durable section: publish with the store,
    under three commit policies, a subscriber's recovery after missing
    many, and the store's own appends on PostgreSQL beside SQLite.

    Part of zmesh. MIT License.
*/
#include "bench.h"

static double
s_durable_rate (const char *label, const char *sync, const char *group,
                long count, long flush_every)
{
    char data [PATH_MAX + 64];
    snprintf (data, sizeof data, "node/data=%s/%s", bench_options.tmp, label);
    zmesh_node_t *node = bench_node_new (label, data, sync, group, NULL);
    uint8_t body [BODY_SMALL];
    bench_fill_body (body, sizeof body);
    int64_t start = bench_now_ns ();
    long failed = 0;
    for (long index = 0; index < count; index++) {
        failed += zmesh_node_publish (node, "bench.event", body, sizeof body)
                  != ZMESH_OK;
        //  The confirm of a batch: all of it is durable once this returns
        if (flush_every && (index + 1) % flush_every == 0
            && zmesh_node_flush (node) != ZMESH_OK)
            failed += flush_every;
    }
    if (flush_every && zmesh_node_flush (node) != ZMESH_OK)
        failed += count % flush_every;
    double seconds = bench_seconds_since (start);
    zmesh_node_destroy (&node);
    if (failed)
        fprintf (stderr, "zmesh-bench: %ld publishes failed\n", failed);
    return (double) (count - failed) / seconds;
}

//  Publishes with asynchronous confirms: at most window unconfirmed, the
//  loop committing what each turn finds. Confirmed events per second.
typedef struct {
    long confirmed, failed;
} s_confirms_t;

static void
s_confirmed (zmesh_node_t *node, zmesh_err_t rc, uint64_t seq, void *arg)
{
    (void) node, (void) seq;
    s_confirms_t *confirms = arg;
    if (rc == ZMESH_OK)
        confirms->confirmed++;
    else
        confirms->failed++;
}

static double
s_async_rate (long count, long window)
{
    char data [PATH_MAX + 64];
    snprintf (data, sizeof data, "node/data=%s/async", bench_options.tmp);
    zmesh_node_t *node = bench_node_new ("async", data, "events/sync=full",
                                         NULL);
    uint8_t body [BODY_SMALL];
    bench_fill_body (body, sizeof body);
    s_confirms_t confirms = {0, 0};
    long published = 0;
    int64_t start = bench_now_ns ();
    while (confirms.confirmed + confirms.failed < count
           && bench_seconds_since (start) < 120) {
        //  A publish refused is counted as failed, so the loop ends
        for (; published < count
               && published - confirms.confirmed - confirms.failed < window;
             published++)
            if (zmesh_node_publish_async (node, "bench.event", body,
                                          sizeof body, s_confirmed, &confirms)
                != ZMESH_OK)
                confirms.failed++;
        zmesh_node_poll (node, 0);
    }
    double seconds = bench_seconds_since (start);
    zmesh_node_flush (node);
    zmesh_node_destroy (&node);
    if (confirms.failed)
        fprintf (stderr, "zmesh-bench: %ld publishes not confirmed\n",
                 confirms.failed);
    return (double) confirms.confirmed / seconds;
}

//  Appends per second to the store at path, each commit fsynced: count
//  events, per events in one transaction. -1 if the store cannot be used.
static double
s_append_rate (const char *path, long count, long per)
{
    zmesh_detail_t detail = {""};
    zmesh_store_t *store = zmesh_store_open (path, true, &detail);
    if (!store) {
        fprintf (stderr, "zmesh-bench: %s\n", detail.text);
        return -1;
    }
    zmesh_rand_t *rand = zmesh_rand_seeded_new (7);
    uint8_t body [BODY_SMALL];
    bench_fill_body (body, sizeof body);
    body [0] = 0xc4;                    //  A msgpack bin of the rest
    body [1] = (uint8_t) (sizeof body - 2);
    int64_t start = bench_now_ns ();
    long failed = 0;
    for (long index = 0; index < count; index += per) {
        bool grouped = per > 1 && zmesh_store_begin (store, NULL) == ZMESH_OK;
        for (long event = 0; event < per; event++) {
            zmesh_new_event_t new_event = {.type = "bench.event",
                                           .body = body,
                                           .body_size = sizeof body,
                                           .timestamp = 1};
            zmesh_uuid_generate (rand, &new_event.id);
            new_event.correlation = new_event.id;
            zmesh_append_result_t result;
            failed += zmesh_store_append (store, "bench-1", ZMESH_VERSION_ANY,
                                          &new_event, 1, &result, NULL)
                      != ZMESH_OK;
        }
        if (grouped && zmesh_store_commit (store, NULL) != ZMESH_OK)
            failed += per;
    }
    double seconds = bench_seconds_since (start);
    zmesh_rand_destroy (&rand);
    zmesh_store_close (&store);
    if (failed)
        fprintf (stderr, "zmesh-bench: %ld appends failed\n", failed);
    return failed < count ? (double) (count - failed) / seconds : -1;
}

//  The store's appends on PostgreSQL beside SQLite, one event and 100 per
//  fsynced commit.
static void
s_bench_store (void)
{
    bool quick = bench_options.quick;
    const long per [] = {1, 100};
    for (size_t index = 0; index < 2; index++) {
        long count = per [index] == 1 ? (quick ? 300 : 2000)
                                      : (quick ? 5000 : 50000);
        char file [PATH_MAX], what [128], zt [48], rt [48];
        snprintf (file, sizeof file, "%s/append-%ld.db", bench_options.tmp,
                  per [index]);
        double lite = s_append_rate (file, count, per [index]);
        double pg = bench_options.postgresql
                  ? s_append_rate (bench_options.postgresql, count, per [index])
                  : -1;
        snprintf (what, sizeof what, "store append, %ld event%s per fsynced "
                  "commit: PostgreSQL vs SQLite", per [index],
                  per [index] == 1 ? "" : "s");
        bench_rate_text (rt, lite);
        if (pg > 0 && lite > 0)
            bench_row ("durable", what, bench_rate_text (zt, pg), rt, pg / lite,
                       NULL, NULL);
        else
            bench_row ("durable", what, bench_options.postgresql ? "failed"
                                                         : "no server",
                       lite > 0 ? rt : "failed", -1, NULL, NULL);
    }
}

//  A durable row: zmesh's rate against RabbitMQ's (-1: not measured, for
//  want of a server or because it failed).
static void
s_durable_row (const char *what, double rate, double theirs,
               const char *target)
{
    char zt [48], rt [48];
    bench_rate_text (zt, rate);
    if (theirs > 0)
        bench_row ("durable", what, zt, bench_rate_text (rt, theirs),
                   rate / theirs, target, NULL);
    else
        bench_row ("durable", what, zt, bench_options.rabbitmq ? "failed"
                                                               : "no server",
                   -1, NULL, NULL);
}

void
bench_durable (void)
{
    bool quick = bench_options.quick;
    const char *url = bench_options.rabbitmq;
    if (!url)
        fprintf (stderr, "zmesh-bench: durable: no RabbitMQ to compare with "
                 "(--rabbitmq URL; tools/bench.sh starts one)\n");
    //  RabbitMQ like zmesh: a publish that waits for its confirm, and a
    //  stream of them, 1000 unconfirmed at most
    double waiting = url ? bench_rabbitmq_publish_rate (url, "bench.waiting",
                                                        quick ? 300 : 3000, 1)
                         : -1;
    double streaming = url ? bench_rabbitmq_publish_rate (
                                 url, "bench.streaming",
                                 quick ? 20000 : 200000, 1000)
                           : -1;
    long count = quick ? 10000 : 100000;
    double consuming = url ? bench_rabbitmq_consume_rate (url, count) : -1;
    double rate = s_durable_rate ("full", "events/sync=full", "events/group=1",
                                  quick ? 300 : 3000, 0);
    s_durable_row ("publish, committed + fsynced first (default), vs "
                   "RabbitMQ waiting for each confirm",
                   rate, waiting, NULL);
    rate = s_durable_rate ("normal", "events/sync=normal", "events/group=1",
                           quick ? 5000 : 50000, 0);
    s_durable_row ("publish, committed first, events/sync=normal, vs the "
                   "same", rate, waiting, NULL);
    rate = s_durable_rate ("group", "events/sync=full", "events/group=100",
                           quick ? 20000 : 200000, 100);
    s_durable_row ("publish, fsynced in groups of 100, each confirmed by "
                   "zmesh_node_flush, vs RabbitMQ streaming confirms (1000 "
                   "unconfirmed at most)", rate, streaming, NULL);
    rate = s_async_rate (quick ? 20000 : 200000, 1000);
    s_durable_row ("publish with asynchronous confirms (1000 unconfirmed at "
                   "most), fsynced once a turn, vs the same",
                   rate, streaming, "≥ 5");

    //  Recovery: a consumer stopped, count events published, restarted
    char zt [48], data [PATH_MAX + 64], line [300], consumer_data [PATH_MAX + 16];
    snprintf (data, sizeof data, "node/data=%s/source", bench_options.tmp);
    snprintf (consumer_data, sizeof consumer_data, "%s/consumer",
              bench_options.tmp);
    zmesh_node_t *node = bench_node_new (
        "source", data, "events/sync=normal", "events/group=1000",
        "timing/heartbeat=100", "sockets/hwm=1000000", NULL);
    char events [300], calls [300], target [32];
    snprintf (events, sizeof events, "%s", zmesh_node_events_endpoint (node));
    snprintf (calls, sizeof calls, "%s", zmesh_node_calls_endpoint (node));
    bench_child_t consumer;
    bool ok = bench_role (&consumer, "consumer", events, calls, consumer_data,
                          "1", NULL);
    uint8_t body [BODY_SMALL];
    bench_fill_body (body, sizeof body);
    for (int index = 0; index < 1000; index++)
        zmesh_node_publish (node, "bench.warm", body, sizeof body);
    int64_t start = bench_now_ns ();
    bool heard = false;
    while (ok && !heard && bench_seconds_since (start) < 20) {
        zmesh_node_poll (node, 5);
        heard = bench_child_line (&consumer, line, sizeof line, 0);
    }
    bench_child_stop (&consumer);
    if (heard) {
        for (long index = 0; index < count; index++) {
            zmesh_node_publish (node, "bench.event", body, sizeof body);
            if (index % 1000 == 999)
                zmesh_node_poll (node, 0);
        }
        zmesh_node_poll (node, 50);
        snprintf (target, sizeof target, "%ld", count);
        ok = bench_role (&consumer, "consumer", events, calls, consumer_data,
                         target, NULL);
        start = bench_now_ns ();
        double seconds = -1;
        while (ok && seconds < 0 && bench_seconds_since (start) < 300) {
            zmesh_node_poll (node, 5);
            if (bench_child_line (&consumer, line, sizeof line, 0))
                sscanf (line, "consumed %*d %lf", &seconds);
        }
        bench_child_stop (&consumer);
        char what [96];
        snprintf (what, sizeof what, "restarted consumer catches up on %ld "
                  "missed events", count);
        snprintf (zt, sizeof zt, seconds < 0 ? "did not" : "%.2f s", seconds);
        bench_row ("durable", what, zt, NULL, -1, NULL, NULL);
        if (seconds > 0)
            s_durable_row ("  same, as a rate, vs RabbitMQ's consumer "
                           "acknowledging each (1000 prefetched)",
                           (double) count / seconds, consuming, NULL);
    }
    else
        fprintf (stderr, "zmesh-bench: the consumer never consumed\n");
    zmesh_node_destroy (&node);
    s_bench_store ();
}
