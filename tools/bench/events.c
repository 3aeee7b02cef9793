/*  events.c - zmesh-bench's events section: one publisher, 1/4/16
    subscribers, zmesh against raw libzmq sending frames of zmesh's sizes.

    Part of zmesh. MIT License.
*/
#include "bench.h"

//  One events run: kind is "raw", "zmesh" or "nats", whose roles KIND-pub
//  and KIND-sub it starts, or "batched", zmesh's with events/batch; count
//  events to subscribers.
static bool
s_run (const char *kind, size_t body_size, size_t topic_size,
       size_t frame_size, int subscribers, long count,
       bench_events_result_t *result)
{
    bool batched = streq (kind, "batched");
    bool zmesh = batched || streq (kind, "zmesh"), nats = streq (kind, "nats");
    if (batched)
        kind = "zmesh";
    char hwm [32], body [32], topic [32], frame [32], number [32], line [300];
    snprintf (hwm, sizeof hwm, "%ld",
              count + 10000 > 10000000 ? 10000000 : count + 10000);
    snprintf (body, sizeof body, "%zu", body_size);
    snprintf (topic, sizeof topic, "%zu", topic_size);
    snprintf (frame, sizeof frame, "%zu", frame_size);
    snprintf (number, sizeof number, "%ld", count);
    bench_child_t pub, subs [16];
    char pub_role [32], sub_role [32];
    snprintf (pub_role, sizeof pub_role, "%s-pub", kind);
    snprintf (sub_role, sizeof sub_role, "%s-sub", kind);
    bool ok = zmesh ? bench_role (&pub, pub_role, body, hwm,
                                  batched ? BENCH_BATCH : "1", NULL)
            : nats ? bench_role (&pub, pub_role, bench_options.nats, body,
                                 NULL)
                   : bench_role (&pub, pub_role, topic, frame, hwm, NULL);
    char endpoint [300] = "";
    if (!ok || !bench_child_line (&pub, line, sizeof line, 10000)
        || sscanf (line, "ready %299s", endpoint) != 1) {
        fprintf (stderr, "zmesh-bench: the publisher did not start\n");
        bench_child_stop (&pub);
        return false;
    }
    int started = 0;
    for (; started < subscribers; started++)
        if (!bench_role (&subs [started], sub_role, endpoint, number, hwm,
                         NULL))
            break;
    int ready = 0;
    for (int index = 0; index < started; index++)
        ready += bench_child_line (&subs [index], line, sizeof line, 20000)
              && streq (line, "ready");
    memset (result, 0, sizeof *result);
    if (ready == subscribers) {
        snprintf (line, sizeof line, "go %ld\n", count);
        bench_child_say (&pub, line);
        long received = 0;
        for (int index = 0; index < started; index++) {
            long got = 0;
            double seconds = 0;
            if (bench_child_line (&subs [index], line, sizeof line, 300000)
                && sscanf (line, "got %ld %lf", &got, &seconds) == 2
                && seconds > 0)
                result->rate += (double) got / seconds / subscribers;
            received += got;
        }
        result->delivered = (double) received / ((double) count * subscribers);
    }
    else
        fprintf (stderr, "zmesh-bench: %d of %d subscribers ready\n", ready,
                 subscribers);
    for (int index = 0; index < started; index++)
        bench_child_stop (&subs [index]);
    bench_child_stop (&pub);
    return ready == subscribers;
}

#define EVENT_ROUNDS 3          //  Turns each side takes, in full mode

static int
s_compare_rate (const void *a, const void *b)
{
    double x = ((const bench_events_result_t *) a)->rate;
    double y = ((const bench_events_result_t *) b)->rate;
    return x < y ? -1 : x > y;
}

//  The run with the median rate; delivery the worst of them all.
static bench_events_result_t
s_median (bench_events_result_t *runs, int count)
{
    double delivered = 1;
    for (int index = 0; index < count; index++)
        if (runs [index].delivered < delivered)
            delivered = runs [index].delivered;
    qsort (runs, (size_t) count, sizeof *runs, s_compare_rate);
    bench_events_result_t median = runs [count / 2];
    median.delivered = delivered;
    return median;
}

bool
bench_events_compare (const char *kind, const char *theirs, size_t body_size,
                      size_t topic_size, size_t frame_size, int subscribers,
                      long count, bench_events_result_t *ours_p,
                      bench_events_result_t *theirs_p)
{
    //  The two take turns, and each keeps its median round: one slow
    //  round on a shared machine does not make the ratio.
    int rounds = bench_options.quick ? 1 : EVENT_ROUNDS;
    bench_events_result_t ours [EVENT_ROUNDS], their [EVENT_ROUNDS];
    for (int round = 0; round < rounds; round++)
        if (!s_run (theirs, body_size, topic_size, frame_size, subscribers,
                    count, &their [round])
            || !s_run (kind, body_size, topic_size, frame_size,
                       subscribers, count, &ours [round]))
            return false;
    *ours_p = s_median (ours, rounds);
    *theirs_p = s_median (their, rounds);
    return true;
}

//  The rows of one run: rate and MB/s.
static void
s_row (size_t body, size_t wire, int subscribers, bool batched,
       const bench_events_result_t *zmesh, const bench_events_result_t *raw)
{
    char what [128], zt [48], rt [48], verdict [48];
    snprintf (what, sizeof what, "%zu B body (%zu B on the wire), %d sub%s%s",
              body, wire, subscribers, subscribers > 1 ? "s, per sub" : "",
              batched ? ", events/batch=" BENCH_BATCH : "");
    double ratio = zmesh->rate / raw->rate;
    bool all = zmesh->delivered >= 1.0 && raw->delivered >= 1.0;
    snprintf (verdict, sizeof verdict, "%s%s", ratio >= 0.8 ? "met" : "MISSED",
              all ? "" : " (lost some)");
    bench_row ("events", what, bench_rate_text (zt, zmesh->rate),
               bench_rate_text (rt, raw->rate), ratio, "≥ 0.8", verdict);
    snprintf (what, sizeof what, "  same, MB/s; delivered %.4f / %.4f",
              zmesh->delivered, raw->delivered);
    snprintf (zt, sizeof zt, "%.1f MB/s", zmesh->rate * (double) wire / 1e6);
    snprintf (rt, sizeof rt, "%.1f MB/s", raw->rate * (double) wire / 1e6);
    bench_row ("events", what, zt, rt, ratio, NULL, NULL);
}

void
bench_events (void)
{
    char topic_frame [ZMESH_TOPIC_MAX];
    size_t topic_size = zmesh_topic_format ("bench.event", false, topic_frame);
    struct {
        size_t body;
        int subscribers;
        long count, quick_count;
    } runs [] = {{BODY_SMALL, 1, 2000000, 200000},
                 {BODY_LARGE, 1, 500000, 50000},
                 {BODY_SMALL, 4, 500000, 50000},
                 {BODY_SMALL, 16, 200000, 0}};
    for (size_t run = 0; run < sizeof runs / sizeof runs [0]; run++) {
        long count = bench_options.quick ? runs [run].quick_count
                                     : runs [run].count;
        if (count == 0)
            continue;
        size_t frame_size = bench_envelope_size (
            ZMESH_KIND_EVENT, "bench.event", runs [run].body);
        //  Small events also batched: events/batch puts many in a message
        for (int batched = 0; batched < 1 + (runs [run].body == BODY_SMALL);
             batched++) {
            bench_events_result_t raw, zmesh;
            if (!bench_events_compare (batched ? "batched" : "zmesh", "raw",
                                       runs [run].body, topic_size,
                                       frame_size, runs [run].subscribers,
                                       count, &zmesh, &raw))
                continue;
            s_row (runs [run].body, topic_size + frame_size,
                   runs [run].subscribers, batched, &zmesh, &raw);
        }
    }
}
