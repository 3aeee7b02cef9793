/*  scale.c - zmesh-bench's scale section: meshes of 2, 8 and 32 nodes
    on this host, every node a peer of every other: events/s each node
    receives while all publish, then call latency into the mesh. On two
    shared cores, rates fall as nodes are added whatever zmesh does; what
    a mesh's size costs is the CPU: of every node per event delivered,
    and of the called node per call (from /proc, user and system).

    Part of zmesh. MIT License.
*/
#include <sys/stat.h>
#include "bench.h"

void
bench_scale (void)
{
    int sizes [] = {2, 8, 32};
    size_t count = bench_options.quick ? 2 : 3;
    double first_rate = 0, first_p50 = 0, first_event_us = 0,
           first_call_us = 0;
    for (size_t run = 0; run < count; run++) {
        int nodes = sizes [run];
        long events = (bench_options.quick ? 40000 : 200000) / (nodes - 1);
        char dir [PATH_MAX], index_text [16], nodes_text [16], events_text [32];
        snprintf (dir, sizeof dir, "%s/mesh%d", bench_options.tmp, nodes);
        mkdir (dir, 0700);
        snprintf (nodes_text, sizeof nodes_text, "%d", nodes);
        snprintf (events_text, sizeof events_text, "%ld", events);
        bench_child_t children [32];
        int started = 0, ready = 0;
        for (; started < nodes; started++) {
            snprintf (index_text, sizeof index_text, "%d", started);
            if (!bench_role (&children [started], "mesh", index_text,
                             nodes_text, dir, events_text, NULL))
                break;
        }
        char line [300];
        for (int index = 0; index < started; index++)
            ready += bench_child_line (&children [index], line, sizeof line,
                                       30000);
        double rate = 0;
        long received = 0;
        if (ready == nodes) {
            double cpu_ms = -bench_children_cpu_ms (children, started);
            for (int index = 0; index < started; index++)
                bench_child_say (&children [index], "go\n");
            for (int index = 0; index < started; index++) {
                long got = 0;
                double seconds = 0;
                if (bench_child_line (&children [index], line, sizeof line,
                                      300000)
                    && sscanf (line, "got %ld %lf", &got, &seconds) == 2
                    && seconds > 0)
                    rate += (double) got / seconds / nodes;
                received += got;
            }
            cpu_ms += bench_children_cpu_ms (children, started);
            double event_us = received ? cpu_ms * 1e3 / (double) received
                                       : 0;
            //  Calls from outside into node 0, the mesh otherwise idle
            size_t calls = bench_options.quick ? 1000 : 5000;
            int64_t *samples = calloc (calls, sizeof (int64_t));
            char peer [PATH_MAX + 64];
            zmesh_node_t *node = bench_node_new (
                "bench",
                bench_fmt (peer, sizeof peer, "peers/n0/calls=ipc://%s/n0-c",
                           dir),
                NULL);
            double called_ms = -bench_cpu_ms (children [0].pid);
            bool called = bench_zmesh_latency (node, "n0", samples, calls);
            called_ms += bench_cpu_ms (children [0].pid);
            double call_us = called_ms * 1e3
                           / (double) (calls + BENCH_WARM_CALLS);
            if (called) {
                qsort (samples, calls, sizeof *samples, bench_compare_i64);
                double p50 = bench_percentile (samples, calls, 50);
                double p99 = bench_percentile (samples, calls, 99);
                if (run == 0) {
                    first_rate = rate;
                    first_p50 = p50;
                    first_event_us = event_us;
                    first_call_us = call_us;
                }
                char what [96], zt [48], rt [48];
                snprintf (what, sizeof what, "%d nodes: events/s in per node "
                          "(%.4f delivered); vs 2 nodes", nodes,
                          (double) received / ((double) events * (nodes - 1)
                                               * nodes));
                bench_row ("scale", what, bench_rate_text (zt, rate),
                           bench_rate_text (rt, first_rate), rate / first_rate,
                           NULL, NULL);
                snprintf (what, sizeof what, "%d nodes: call p50 (p99 %.0f µs)"
                          "; vs 2 nodes", nodes, p99 / 1e3);
                bench_row ("scale", what, bench_us_text (zt, p50),
                           bench_us_text (rt, first_p50), p50 / first_p50, NULL,
                           NULL);
                //  The cost, which two shared cores do not hide
                double ratio = event_us / first_event_us;
                snprintf (what, sizeof what, "%d nodes: CPU of every node per "
                          "event delivered; vs 2 nodes", nodes);
                snprintf (zt, sizeof zt, "%.2f µs", event_us);
                snprintf (rt, sizeof rt, "%.2f µs", first_event_us);
                bench_row ("scale", what, zt, rt, ratio,
                           run ? "≤ 1.2" : NULL,
                           run ? (ratio <= 1.2 ? "met" : "MISSED") : NULL);
                snprintf (what, sizeof what, "%d nodes: CPU of the called node "
                          "per call; vs 2 nodes", nodes);
                snprintf (zt, sizeof zt, "%.2f µs", call_us);
                snprintf (rt, sizeof rt, "%.2f µs", first_call_us);
                bench_row ("scale", what, zt, rt, call_us / first_call_us,
                           NULL, NULL);
            }
            zmesh_node_destroy (&node);
            free (samples);
        }
        else
            fprintf (stderr, "zmesh-bench: %d of %d mesh nodes ready\n", ready,
                     nodes);
        for (int index = 0; index < started; index++)
            bench_child_stop (&children [index]);
    }
}
