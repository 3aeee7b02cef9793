/*  replicas.c - zmesh-bench's replicas section: the demo mesh on
    PostgreSQL with one and with two replicas of each service, under the
    edge's load (POST /orders through the gateway, wrk's 50 connections).

    Part of zmesh. MIT License.
*/
#include <libpq-fe.h>
#include "bench.h"

static void
s_pg_quiet (void *arg, const char *message)
{
    (void) arg, (void) message;     //  "does not exist, skipping"
}

//  Run sql on the --postgresql server at uri; the first column of its first
//  row as a number, or -1.
static long
s_pg_query (const char *uri, const char *sql)
{
    PGconn *conn = PQconnectdb (uri);
    long value = -1;
    PQsetNoticeProcessor (conn, s_pg_quiet, NULL);
    if (PQstatus (conn) == CONNECTION_OK) {
        PGresult *result = PQexec (conn, sql);
        if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result))
            value = atol (PQgetvalue (result, 0, 0));
        else if (PQresultStatus (result) == PGRES_COMMAND_OK)
            value = 0;
        PQclear (result);
    }
    PQfinish (conn);
    return value;
}

//  The services, and the gateway last, as the report names them
enum { SERVICES = 4, PARTS = SERVICES + 1 };
static const char *s_parts [PARTS] = {"user", "order", "inventory",
                                      "payment", "gateway"};

typedef struct {
    bench_wrk_t wrk;            //  Under the most load the mesh takes
    long events;                //  Events stored, every service's, and
    double busy_s;              //  how long until the last was
    bench_wrk_t paced;          //  Under the paced load, of which:
    long orders;                //  order.placed in the order store
    double cpu_ms;              //  Of every node, the gateway's too
    double part_ms [PARTS];     //  Of each service's replicas, and the
} s_replicated_t;               //  gateway's

//  The events the services of uris have stored, all of them, once they
//  are through with the load (no event stored for a second, at most 60 s
//  after it); how long that took is *waited_s.
static long
s_through (char uris [][PATH_MAX + 64], double *waited_s)
{
    long events = -1;
    int waited = 0;
    for (int still = 0; still < 4 && waited < 240; waited++) {
        usleep (250000);
        long now = 0;
        for (int service = 0; service < SERVICES; service++)
            now += s_pg_query (uris [service], "SELECT count (*) FROM events");
        still = now == events ? still + 1 : 0;
        events = now;
    }
    *waited_s = (waited - 4) / 4.0;
    return events;
}

static long
s_placed (const char *uri)
{
    return s_pg_query (uri, "SELECT count (*) FROM events WHERE type = "
                            "'order.placed'");
}

//  The demo mesh on PostgreSQL with replicas (1 or 2) of each service,
//  the two of a service sharing a schema of the --postgresql server: the
//  edge's load for seconds, as much as it takes, then for seconds more
//  paced, each of wrk's connections waiting *delay_ms before each request
//  (if 0, set here to offer half the rate it took), counting the CPU of
//  every node for the paced orders. The two meshes compare at one paced
//  rate: a mesh that takes more orders a second batches more of them in
//  each turn of its loops, and so spends less on each.
static bool
s_edge_replicas_run (int replicas, double seconds, int *delay_ms,
                     s_replicated_t *run)
{
    const char *const *services = s_parts;
    enum { NODES = 2 * SERVICES + 1 };
    char uris [SERVICES][PATH_MAX + 64];
    const char *base = bench_options.postgresql;
    for (int service = 0; service < SERVICES; service++) {
        char sql [160], schema [32];
        snprintf (schema, sizeof schema, "bench_r%d_%s", replicas,
                  services [service]);
        snprintf (sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; "
                  "CREATE SCHEMA %s", schema, schema);
        if (s_pg_query (base, sql) < 0)
            return false;
        snprintf (uris [service], sizeof uris [service],
                  "%s%soptions=-csearch_path%%3D%s", base,
                  strchr (base, '?') ? "&" : "?", schema);
    }
    //  Instances: <service>-a (and -b), then the gateway
    char names [NODES][32];
    int count = 0;
    for (int service = 0; service < SERVICES; service++)
        for (int replica = 0; replica < replicas; replica++)
            snprintf (names [count++], sizeof names [0], "%s-%c",
                      services [service], 'a' + replica);
    int instances = count;
    snprintf (names [count++], sizeof names [0], "gateway");
    bench_child_t children [NODES];
    int started = 0, port = 0;
    char line [600];
    static char settings [64][PATH_MAX + 128];
    for (; started < count; started++) {
        char *argv [140], program [PATH_MAX];
        int argc = 0, used = 0;
        const char *name = names [started];
        char service [32];
        snprintf (service, sizeof service, "%s", name);
        if (strchr (service, '-'))
            *strchr (service, '-') = 0;
        snprintf (program, sizeof program, "%s/zmesh-%s", bench_options.nodes,
                  service);
        argv [argc++] = program;
#define SET(...) (snprintf (settings [used], sizeof settings [used], __VA_ARGS__), \
                  argv [argc++] = "--set", argv [argc++] = settings [used++])
        SET ("node/name=%s", name);
        SET ("node/service=%s", service);
        SET ("node/events=ipc://%s/r%d-%s-e", bench_options.tmp, replicas,
             name);
        SET ("node/calls=ipc://%s/r%d-%s-c", bench_options.tmp, replicas, name);
        int index = 0;
        while (index < SERVICES && !streq (services [index], service))
            index++;
        if (index < SERVICES)
            SET ("node/data=%s", uris [index]);
        else
            SET ("node/data=%s/r%d-gateway", bench_options.tmp, replicas);
        SET ("events/sync=normal");
        SET ("service/stock=1000000000");
        SET ("service/http_port=0");
        for (int peer = 0; peer < instances; peer++) {
            if (peer == started)
                continue;
            char of [32];
            snprintf (of, sizeof of, "%s", names [peer]);
            *strchr (of, '-') = 0;
            SET ("peers/%s/service=%s", names [peer], of);
            SET ("peers/%s/events=ipc://%s/r%d-%s-e", names [peer],
                 bench_options.tmp, replicas, names [peer]);
            SET ("peers/%s/calls=ipc://%s/r%d-%s-c", names [peer],
                 bench_options.tmp, replicas, names [peer]);
        }
#undef SET
        argv [argc] = NULL;
        if (!bench_spawn (&children [started], argv)
            || !bench_child_line (&children [started], line, sizeof line,
                                  10000))
            break;
        if (started == count - 1)
            sscanf (line, "http=%d", &port);
    }
    usleep (1000000);           //  The members hear each other
    double waited = 0;
    bool ok = started == count
              && bench_edge_load (port, seconds, 0, &run->wrk);
    run->events = ok ? s_through (uris, &waited) : -1;
    run->busy_s = seconds + waited;
    if (ok && *delay_ms == 0 && run->wrk.rate > 0)
        *delay_ms = (int) (2 * 50 * 1000 / run->wrk.rate);
    //  The CPU of what was placed under the paced load, all of it: until
    //  the services are through with it
    long before = s_placed (uris [1]);
    double before_each [NODES];
    for (int index = 0; index < started; index++)
        before_each [index] = bench_cpu_ms (children [index].pid);
    ok = ok && *delay_ms > 0
         && bench_edge_load (port, seconds, *delay_ms, &run->paced);
    if (ok)
        s_through (uris, &waited);
    for (int index = 0; index < started; index++) {
        //  Those of a service come in its order, and the gateway last
        int part = index < instances ? index / replicas : SERVICES;
        double spent = bench_cpu_ms (children [index].pid)
                     - before_each [index];
        run->part_ms [part] += spent;
        run->cpu_ms += spent;
    }
    run->orders = s_placed (uris [1]) - before;
    for (int index = started - 1; index >= 0; index--)
        bench_child_stop (&children [index]);
    return ok && run->orders > 0;
}

static int
s_compare_double (const void *one, const void *two)
{
    double a = *(const double *) one, b = *(const double *) two;
    return (a > b) - (a < b);
}

static double
s_median_of (double *values, int count)
{
    qsort (values, (size_t) count, sizeof *values, s_compare_double);
    return values [count / 2];
}

//  POST /orders through a mesh of one and of two replicas of each service
//  on PostgreSQL: two replicas on two cores must lose no throughput, and
//  spend no more CPU per order. The server shares the cores, and a run
//  varies with what it is doing: the two meshes take turns (five each,
//  one in quick mode), the medians count, and the report shows how far
//  the turns' own ratios spread.
void
bench_replicas (void)
{
    if (!bench_edge_ready ("replicas"))
        return;
    double seconds = bench_options.quick ? 3 : 10;
    enum { TURNS_MAX = 5 };
    int turns = bench_options.quick ? 1 : TURNS_MAX;
    double rate [2][TURNS_MAX], cpu [2][TURNS_MAX], events [2][TURNS_MAX];
    double paced [2][TURNS_MAX], part [PARTS][2][TURNS_MAX];
    bool ok = bench_options.postgresql != NULL;
    int delay_ms = 0;           //  Set by the first run, for all of them
    for (int turn = 0; ok && turn < turns; turn++)
        for (int mesh = 0; ok && mesh < 2; mesh++) {
            s_replicated_t run;
            memset (&run, 0, sizeof run);
            ok = s_edge_replicas_run (mesh + 1, seconds, &delay_ms, &run);
            rate [mesh][turn] = run.wrk.rate;
            paced [mesh][turn] = run.paced.rate;
            cpu [mesh][turn] = run.cpu_ms / (double) run.orders;
            events [mesh][turn] = (double) run.events / run.busy_s;
            for (int which = 0; which < PARTS; which++)
                part [which][mesh][turn] = run.part_ms [which]
                                         / (double) run.orders;
        }
    if (!ok) {
        bench_row ("replicas", "POST /orders on PostgreSQL, 1 and 2 replicas "
                   "of each service", bench_options.postgresql
                                      ? "failed" : "no --postgresql",
                   NULL, -1, NULL, NULL);
        return;
    }
    //  Each turn's two meshes side by side, before the sorting below
    double lowest = 0, highest = 0;
    for (int turn = 0; turn < turns; turn++) {
        double ratio = cpu [1][turn] / cpu [0][turn];
        if (turn == 0 || ratio < lowest)
            lowest = ratio;
        if (turn == 0 || ratio > highest)
            highest = ratio;
    }
    double median [4][2];
    for (int mesh = 0; mesh < 2; mesh++) {
        median [0][mesh] = s_median_of (rate [mesh], turns);
        median [1][mesh] = s_median_of (cpu [mesh], turns);
        median [2][mesh] = s_median_of (events [mesh], turns);
        median [3][mesh] = s_median_of (paced [mesh], turns);
    }
    char one [48], two [48], what [160];
    snprintf (what, sizeof what, "POST /orders on PostgreSQL, 2 replicas of "
              "each service vs 1, median of %d", turns);
    bench_row ("replicas", what, bench_rate_text (two, median [0][1]),
               bench_rate_text (one, median [0][0]),
               median [0][1] / median [0][0], "≥ 0.9", NULL);
    snprintf (what, sizeof what, "  paced, each connection %d ms between "
              "requests", delay_ms);
    bench_row ("replicas", what, bench_rate_text (two, median [3][1]),
               bench_rate_text (one, median [3][0]),
               median [3][1] / median [3][0], NULL, NULL);
    snprintf (two, sizeof two, "%.2f ms", median [1][1]);
    snprintf (one, sizeof one, "%.2f ms", median [1][0]);
    bench_row ("replicas", "  paced, CPU of every node per order placed", two,
               one, median [1][1] / median [1][0], "≤ 1.15", NULL);
    snprintf (two, sizeof two, "%.2f to %.2f", lowest, highest);
    bench_row ("replicas", "    the CPU ratios of the turns, each on its own",
               two, NULL, -1, NULL, NULL);
    //  Where it goes: each service's replicas together, and the gateway
    for (int which = 0; which < PARTS; which++) {
        double of [2];
        for (int mesh = 0; mesh < 2; mesh++)
            of [mesh] = s_median_of (part [which][mesh], turns);
        snprintf (two, sizeof two, "%.2f ms", of [1]);
        snprintf (one, sizeof one, "%.2f ms", of [0]);
        snprintf (what, sizeof what, "    of which %s%s", s_parts [which],
                  which < SERVICES ? ", its replicas together" : "");
        bench_row ("replicas", what, two, one, of [1] / of [0], NULL, NULL);
    }
    snprintf (two, sizeof two, "%.0f/s", median [2][1]);
    snprintf (one, sizeof one, "%.0f/s", median [2][0]);
    bench_row ("replicas", "  unpaced, events stored by every service, until "
               "the last", two, one, median [2][1] / median [2][0], NULL,
               NULL);
}

