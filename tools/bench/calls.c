/*  calls.c - zmesh-bench's calls section: latency of one caller,
    throughput of four, zmesh against raw REQ/REP. The calls are made and
    timed by the latency and caller roles (roles.c), each side in
    processes of its own.

    Part of zmesh. MIT License.
*/
#include "bench.h"

#define LATENCY_BLOCKS 10     //  Raw and zmesh take turns this many times

//  count samples of one side's latency (kind "raw", "zmesh" or "nats"),
//  from a child, into samples.
static bool
s_latency_block (const char *kind, const char *endpoint, size_t request_size,
                 int64_t *samples, size_t count)
{
    char number [32], size [32], path [PATH_MAX], line [64];
    snprintf (number, sizeof number, "%zu", count);
    snprintf (size, sizeof size, "%zu", request_size);
    snprintf (path, sizeof path, "%s/latency", bench_options.tmp);
    bench_child_t child;
    bool ok = bench_role (&child, "latency", kind, endpoint, number, size,
                          path, NULL)
           && bench_child_line (&child, line, sizeof line, 120000)
           && streq (line, "done");
    bench_child_stop (&child);
    FILE *file = ok ? fopen (path, "rb") : NULL;
    ok = file && fread (samples, sizeof (int64_t), count, file) == count;
    if (file)
        fclose (file);
    unlink (path);
    return ok;
}

bool
bench_latency_compare (const char *endpoint, size_t request_size,
                       int64_t *ours, const char *theirs,
                       const char *their_endpoint, size_t their_size,
                       int64_t *their, size_t count)
{
    //  Alternate blocks, so that drift and bursts of noise hit both sides
    size_t block = count / LATENCY_BLOCKS;
    for (size_t at = 0; at < count; at += block) {
        size_t size = count - at < block ? count - at : block;
        if (!s_latency_block (theirs, their_endpoint, their_size, their + at,
                              size)
            || !s_latency_block ("zmesh", endpoint, request_size, ours + at,
                                 size))
            return false;
    }
    return true;
}

static void
s_latency_rows (const char *section, const char *label, int64_t *zmesh,
                int64_t *raw, size_t count, bool targets)
{
    qsort (zmesh, count, sizeof *zmesh, bench_compare_i64);
    if (raw)
        qsort (raw, count, sizeof *raw, bench_compare_i64);
    const struct {
        double p;
        const char *name, *target;
    } points [] = {{50, "p50", "≤ 1.15"}, {99, "p99", "≤ 1.5"},
                   {99.9, "p99.9", NULL}};
    for (size_t point = 0; point < 3; point++) {
        char what [96], zt [48], rt [48];
        double z = bench_percentile (zmesh, count, points [point].p);
        snprintf (what, sizeof what, "%s, %s of %zu", label,
                  points [point].name, count);
        if (raw) {
            double r = bench_percentile (raw, count, points [point].p);
            bench_row (section, what, bench_us_text (zt, z),
                       bench_us_text (rt, r), z / r,
                       targets ? points [point].target : NULL, NULL);
        }
        else
            bench_row (section, what, bench_us_text (zt, z), NULL, -1, NULL,
                       NULL);
    }
}

//  Calls per second of callers processes for seconds, all at once.
static double
s_throughput (bool zmesh, const char *endpoint, size_t size, int callers,
              double seconds)
{
    bench_child_t children [8];
    char size_text [32], seconds_text [32], line [128];
    snprintf (size_text, sizeof size_text, "%zu", size);
    snprintf (seconds_text, sizeof seconds_text, "%g", seconds);
    int started = 0;
    for (; started < callers; started++)
        if (!bench_role (&children [started],
                         zmesh ? "zmesh-caller" : "raw-req", endpoint,
                         size_text, seconds_text, NULL)
            || !bench_child_line (&children [started], line, sizeof line,
                                  10000))
            break;
    for (int index = 0; index < started; index++)
        bench_child_say (&children [index], "go\n");
    double rate = 0;
    for (int index = 0; index < started; index++) {
        long calls = 0, failed = 0;
        if (bench_child_line (&children [index], line, sizeof line,
                              (int) (seconds * 1000) + 20000))
            sscanf (line, "calls %ld %ld", &calls, &failed);
        if (failed)
            fprintf (stderr, "zmesh-bench: %ld calls failed\n", failed);
        rate += (double) calls / seconds;
    }
    for (int index = 0; index < started; index++)
        bench_child_stop (&children [index]);
    return started == callers ? rate : 0;
}

void
bench_calls (void)
{
    size_t count = bench_options.quick ? 2000 : 20000;
    size_t request_size = bench_envelope_size (ZMESH_KIND_REQUEST, "bench.echo",
                                               BODY_SMALL);
    size_t reply_size = bench_envelope_size (ZMESH_KIND_REPLY, "bench.echo",
                                             BODY_SMALL);
    char text [32], line [600], raw_endpoint [300], calls [300], events [300];
    snprintf (text, sizeof text, "%zu", reply_size);
    bench_child_t raw, echo;
    if (!bench_role (&raw, "raw-rep", text, NULL)
        || !bench_child_line (&raw, line, sizeof line, 10000)
        || sscanf (line, "ready %299s", raw_endpoint) != 1
        || !bench_role (&echo, "zmesh-echo", "-", NULL)
        || !bench_child_line (&echo, line, sizeof line, 10000)
        || sscanf (line, "ready %299s %299s", calls, events) != 2) {
        fprintf (stderr, "zmesh-bench: the call servers did not start\n");
        return;
    }
    int64_t *raw_samples = calloc (count, sizeof (int64_t));
    int64_t *zmesh_samples = calloc (count, sizeof (int64_t));
    bool ok = bench_latency_compare (calls, request_size, zmesh_samples,
                                     "raw", raw_endpoint, request_size,
                                     raw_samples, count);
    char label [64];
    snprintf (label, sizeof label, "round trip, %d B body (%zu/%zu B)",
              BODY_SMALL, request_size, reply_size);
    if (ok)
        s_latency_rows ("calls", label, zmesh_samples, raw_samples, count,
                        true);
    else
        fprintf (stderr, "zmesh-bench: a latency run failed\n");
    free (raw_samples);
    free (zmesh_samples);

    double seconds = bench_options.quick ? 1 : 4;
    double raw_rate = s_throughput (false, raw_endpoint, request_size, 4,
                                    seconds);
    double zmesh_rate = s_throughput (true, calls, BODY_SMALL, 4, seconds);
    char zt [48], rt [48];
    if (raw_rate > 0 && zmesh_rate > 0)
        bench_row ("calls", "throughput, 4 callers, 1 server",
                   bench_rate_text (zt, zmesh_rate),
                   bench_rate_text (rt, raw_rate), zmesh_rate / raw_rate, NULL,
                   NULL);
    bench_child_stop (&raw);
    bench_child_stop (&echo);
}
