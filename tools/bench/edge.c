/*  edge.c - zmesh-bench's edge section: POST /orders through the
    gateway under wrk, against the tutorial's express mini-project under
    the same load; then, with --postgresql, the mesh on PostgreSQL with one
    and with two replicas of each service.

    Part of zmesh. MIT License.
*/
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "bench.h"

//  One HTTP request to 127.0.0.1:port; the response (head and body) into
//  response. Returns false if it could not be sent or read.
static bool
s_http (int port, const char *method, const char *path, const char *body,
        char *response, size_t size)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons ((uint16_t) port)};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (connect (fd, (struct sockaddr *) &address, sizeof address)) {
        close (fd);
        return false;
    }
    char request [1024];
    int length = snprintf (request, sizeof request,
                           "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                           method, path, strlen (body), body);
    bool ok = write (fd, request, (size_t) length) == length;
    size_t held = 0;
    ssize_t got;
    while (ok && held + 1 < size
           && (got = read (fd, response + held, size - 1 - held)) > 0)
        held += (size_t) got;
    response [held] = 0;
    close (fd);
    return ok && held > 0;
}

typedef struct {
    double rate, p50_ms, p99_ms;
    long requests;              //  Answered
    long errors;                //  Answered, but not 2xx or 3xx
    long failed;                //  Not answered: socket errors, timeouts
} s_wrk_t;

//  Parse wrk's duration ("1.23ms", "456.00us", "1.10s") into ms.
static double
s_wrk_ms (const char *text)
{
    char *end;
    double value = strtod (text, &end);
    if (*end == 'u')
        return value / 1000;
    if (*end == 's')
        return value * 1000;
    if (*end == 'm' && end [1] == 's')
        return value;
    if (*end == 'm')
        return value * 60000;
    return value;
}

static bool
s_run_wrk (int port, const char *script, double seconds, s_wrk_t *result)
{
    char url [64], duration [32], output [8192];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/orders", port);
    snprintf (duration, sizeof duration, "%.0fs", seconds);
    char *argv [] = {"/usr/bin/wrk", "-t", "2", "-c", "50", "-d", duration,
                     "--latency", "-s", (char *) script, url, NULL};
    bench_child_t wrk;
    if (!bench_spawn (&wrk, argv))
        return false;
    size_t held = 0;
    while (held + 1 < sizeof output
           && bench_child_line (&wrk, output + held, sizeof output - held,
                                (int) seconds * 1000 + 30000)) {
        held += strlen (output + held);
        output [held++] = '\n';
    }
    output [held] = 0;
    waitpid (wrk.pid, NULL, 0);
    close (wrk.to);
    close (wrk.from);
    memset (result, 0, sizeof *result);
    char *at;
    if ((at = strstr (output, "Requests/sec:")))
        result->rate = atof (at + strlen ("Requests/sec:"));
    if ((at = strstr (output, " 50% ")))
        result->p50_ms = s_wrk_ms (at + strspn (at + 5, " ") + 5);
    if ((at = strstr (output, " 99% ")))
        result->p99_ms = s_wrk_ms (at + strspn (at + 5, " ") + 5);
    if ((at = strstr (output, " requests in ")))
        while (at > output && at [-1] != '\n' && at [-1] != ' ')
            at--;
    if (at)
        result->requests = atol (at);
    if ((at = strstr (output, "Non-2xx or 3xx responses:")))
        result->errors = atol (at + strlen ("Non-2xx or 3xx responses:"));
    long connect = 0, read = 0, write = 0, timeout = 0;
    if ((at = strstr (output, "Socket errors:"))
        && sscanf (at, "Socket errors: connect %ld, read %ld, write %ld, "
                   "timeout %ld", &connect, &read, &write, &timeout) == 4)
        result->failed = connect + read + write + timeout;
    //  Only the answers that placed an order count: errors come back fast,
    //  and a service refusing everything must not look quick.
    if (result->requests > 0)
        result->rate *= (double) (result->requests - result->errors)
                      / (double) result->requests;
    if (result->rate <= 0)
        fprintf (stderr, "zmesh-bench: wrk said:\n%s", output);
    return result->rate > 0;
}

//  A free tcp port on loopback (a small race with others, acceptable here).
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    int port = 0;
    if (bind (fd, (struct sockaddr *) &address, sizeof address) == 0
        && getsockname (fd, (struct sockaddr *) &address, &length) == 0)
        port = ntohs (address.sin_port);
    close (fd);
    return port;
}

//  Orders in the order node's store: streams order-<id>.
static long
s_orders_stored (const char *path)
{
    sqlite3 *db = NULL;
    long count = -1;
    sqlite3_stmt *statement = NULL;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
        && sqlite3_prepare_v2 (db, "SELECT count (*) FROM events WHERE type ="
                               " 'order.placed'", -1, &statement, NULL)
               == SQLITE_OK
        && sqlite3_step (statement) == SQLITE_ROW)
        count = sqlite3_column_int64 (statement, 0);
    sqlite3_finalize (statement);
    sqlite3_close (db);
    return count;
}

//  Through the gateway at port: create a user, then put wrk's 50
//  connections on POST /orders for seconds, and wait for what they placed
//  to settle.
static bool
s_edge_load (int port, double seconds, s_wrk_t *result)
{
    char response [4096], user [40] = "";
    const char *id = NULL;
    if (port > 0
        && s_http (port, "POST", "/users",
                   "{\"name\": \"Bench\", \"email\": \"bench@example.org\"}",
                   response, sizeof response))
        id = strstr (response, "\"id\"");
    if (!id || sscanf (id, "\"id\": \"%36[^\"]\"", user) != 1) {
        fprintf (stderr, "zmesh-bench: edge: the mesh did not create a user\n");
        return false;
    }
    snprintf (bench_options.script, sizeof bench_options.script,
              "%s/orders.lua", bench_options.tmp);
    FILE *file = fopen (bench_options.script, "w");
    if (!file)
        return false;
    fprintf (file,
             "wrk.method = \"POST\"\n"
             "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
             "wrk.body = '{\"userId\": \"%s\", \"items\": [{\"productId\": "
             "\"p-book\", \"quantity\": 1, \"price\": 1250}]}'\n", user);
    fclose (file);
    bool ok = s_run_wrk (port, bench_options.script, seconds, result);
    usleep (500000);
    return ok;
}

//  Start the demo mesh (stores under <tmp>/<label>-<node>, with sync, an
//  events/sync setting), create a user, and put wrk's 50 connections on
//  POST /orders for seconds. *stored: orders placed in the order store.
static bool
s_edge_run (const char *label, const char *sync, double seconds,
            s_wrk_t *result, long *stored)
{
    const char *names [] = {"user", "order", "inventory", "payment", "gateway"};
    const char *peers [] = {"", "user inventory payment", "order", "inventory",
                            "user order"};
    const char *extra [] = {NULL, NULL, "service/stock=1000000000",
                            "service/latency_ms=0", "service/http_port=0"};
    bench_child_t children [5];
    int started = 0, port = 0;
    char line [600];
    for (; started < 5; started++) {
        char *argv [32];
        char settings [16][PATH_MAX + 64], program [PATH_MAX];
        int argc = 0, used = 0;
        snprintf (program, sizeof program, "%s/zmesh-%s", bench_options.nodes,
                  names [started]);
        argv [argc++] = program;
#define SET(...) (snprintf (settings [used], sizeof settings [used], __VA_ARGS__), \
                  argv [argc++] = "--set", argv [argc++] = settings [used++])
        SET ("node/events=ipc://%s/%s-%s-e", bench_options.tmp, label,
             names [started]);
        SET ("node/calls=ipc://%s/%s-%s-c", bench_options.tmp, label,
             names [started]);
        SET ("node/data=%s/%s-%s", bench_options.tmp, label, names [started]);
        SET ("%s", sync);
        char list [64];
        snprintf (list, sizeof list, "%s", peers [started]);
        for (char *peer = strtok (list, " "); peer; peer = strtok (NULL, " ")) {
            SET ("peers/%s/events=ipc://%s/%s-%s-e", peer, bench_options.tmp,
                 label, peer);
            SET ("peers/%s/calls=ipc://%s/%s-%s-c", peer, bench_options.tmp,
                 label, peer);
        }
        if (extra [started])
            SET ("%s", extra [started]);
#undef SET
        argv [argc] = NULL;
        if (!bench_spawn (&children [started], argv)
            || !bench_child_line (&children [started], line, sizeof line,
                                  10000))
            break;
        if (started == 4)
            sscanf (line, "http=%d", &port);
    }
    bool ok = started == 5 && s_edge_load (port, seconds, result);
    for (int index = started - 1; index >= 0; index--)
        bench_child_stop (&children [index]);
    char path [PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/%s-order/order.db", bench_options.tmp,
              label);
    *stored = ok ? s_orders_stored (path) : -1;
    return ok;
}

//  CPU time the process has used, user and system, in ms (-1 if unknown).
static double
s_cpu_ms (pid_t pid)
{
    char path [64], text [1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    size_t size = file ? fread (text, 1, sizeof text - 1, file) : 0;
    if (file)
        fclose (file);
    text [size] = 0;
    //  After the command's ")": state is field 3, utime 14, stime 15
    char *at = strrchr (text, ')');
    unsigned long user = 0, system = 0;
    if (!at || sscanf (at + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                       "%lu %lu", &user, &system) != 2)
        return -1;
    return (double) (user + system) * 1000 / (double) sysconf (_SC_CLK_TCK);
}

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

typedef struct {
    s_wrk_t wrk;
    long orders;                //  order.placed in the order store
    long events;                //  Events stored, every service's
    double busy_s;              //  Until the last was stored
    double cpu_ms;              //  Of every node, the gateway's too
} s_replicated_t;

//  The demo mesh on PostgreSQL with replicas (1 or 2) of each service,
//  the two of a service sharing a schema of the --postgresql server,
//  under the edge's load for seconds.
static bool
s_edge_replicas_run (int replicas, double seconds, s_replicated_t *run)
{
    static const char *services [] = {"user", "order", "inventory",
                                      "payment"};
    enum { SERVICES = 4, NODES = 2 * SERVICES + 1 };
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
    double before = 0;
    for (int index = 0; index < started; index++)
        before += s_cpu_ms (children [index].pid);
    bool ok = started == count && s_edge_load (port, seconds, &run->wrk);
    //  The CPU of what was placed, all of it: until the services are
    //  through with it (no event stored for a second), at most 60 s
    run->events = -1;
    int waited = 0;
    for (int still = 0; still < 4 && waited < 240; waited++) {
        usleep (250000);
        long events = 0;
        for (int service = 0; service < SERVICES; service++)
            events += s_pg_query (uris [service],
                                  "SELECT count (*) FROM events");
        still = events == run->events ? still + 1 : 0;
        run->events = events;
    }
    run->busy_s = seconds + (waited - 4) / 4.0;
    run->cpu_ms = -before;
    for (int index = 0; index < started; index++)
        run->cpu_ms += s_cpu_ms (children [index].pid);
    for (int index = started - 1; index >= 0; index--)
        bench_child_stop (&children [index]);
    run->orders = s_pg_query (uris [1], "SELECT count (*) FROM events WHERE "
                                        "type = 'order.placed'");
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
//  varies with what it is doing: the two meshes take turns (three each,
//  one in quick mode), and the medians count.
static void
s_bench_replicas (double seconds)
{
    enum { TURNS_MAX = 3 };
    int turns = bench_options.quick ? 1 : TURNS_MAX;
    double rate [2][TURNS_MAX], cpu [2][TURNS_MAX], events [2][TURNS_MAX];
    bool ok = bench_options.postgresql != NULL;
    for (int turn = 0; ok && turn < turns; turn++)
        for (int mesh = 0; ok && mesh < 2; mesh++) {
            s_replicated_t run;
            memset (&run, 0, sizeof run);
            ok = s_edge_replicas_run (mesh + 1, seconds, &run);
            rate [mesh][turn] = run.wrk.rate;
            cpu [mesh][turn] = run.cpu_ms / (double) run.orders;
            events [mesh][turn] = (double) run.events / run.busy_s;
        }
    if (!ok) {
        bench_row ("edge", "POST /orders on PostgreSQL, 1 and 2 replicas of "
                   "each service", bench_options.postgresql ? "failed"
                                                    : "no --postgresql",
                   NULL, -1, NULL, NULL);
        return;
    }
    double median [3][2];
    for (int mesh = 0; mesh < 2; mesh++) {
        median [0][mesh] = s_median_of (rate [mesh], turns);
        median [1][mesh] = s_median_of (cpu [mesh], turns);
        median [2][mesh] = s_median_of (events [mesh], turns);
    }
    char one [48], two [48], what [160];
    snprintf (what, sizeof what, "POST /orders on PostgreSQL, 2 replicas of "
              "each service vs 1, median of %d", turns);
    bench_row ("edge", what, bench_rate_text (two, median [0][1]),
               bench_rate_text (one, median [0][0]),
               median [0][1] / median [0][0], "≥ 0.9", NULL);
    snprintf (two, sizeof two, "%.2f ms", median [1][1]);
    snprintf (one, sizeof one, "%.2f ms", median [1][0]);
    bench_row ("edge", "  same, CPU of every node per order placed", two, one,
               median [1][1] / median [1][0], "≤ 1.15", NULL);
    snprintf (two, sizeof two, "%.0f/s", median [2][1]);
    snprintf (one, sizeof one, "%.0f/s", median [2][0]);
    bench_row ("edge", "  same, events stored by every service, until the "
               "last", two, one, median [2][1] / median [2][0], NULL, NULL);
}

void
bench_edge (void)
{
    if (access ("/usr/bin/wrk", X_OK) || !bench_options.nodes) {
        fprintf (stderr, "zmesh-bench: edge skipped: needs /usr/bin/wrk and "
                 "the demo nodes (--nodes)\n");
        return;
    }
    double seconds = bench_options.quick ? 3 : 15;
    s_wrk_t zmesh = {0}, normal = {0}, express = {0};
    long stored = 0, normal_stored = 0;
    bool ok = s_edge_run ("full", "events/sync=full", seconds, &zmesh, &stored);
    bool normal_ok = !bench_options.quick
                  && s_edge_run ("normal", "events/sync=normal", seconds,
                                 &normal, &normal_stored);

    //  The express mini-project, when the bench was given it
    double express_rate = bench_options.express_rate;
    const char *express_from = express_rate > 0 ? "given" : "not run";
    char line [300];
    if (bench_options.express && ok) {
        int express_port = s_free_port ();
        char port_text [16];
        snprintf (port_text, sizeof port_text, "%d", express_port);
        char *argv [] = {"/usr/bin/env", "node", (char *) bench_options.express,
                         port_text, NULL};
        bench_child_t node;
        if (bench_spawn (&node, argv)
            && bench_child_line (&node, line, sizeof line, 10000)
            && s_run_wrk (express_port, bench_options.script, seconds,
                          &express)) {
            express_rate = express.rate;
            express_from = "measured";
        }
        bench_child_stop (&node);
    }
    char what [96], zt [48], rt [48];
    const struct {
        bool ok;
        s_wrk_t *wrk;
        long stored;
        const char *name;
    } runs [] = {{ok, &zmesh, stored, "events/sync=full (default)"},
                 {normal_ok, &normal, normal_stored, "events/sync=normal"}};
    for (size_t run = 0; run < 2; run++) {
        if (!runs [run].ok)
            continue;
        s_wrk_t *wrk = runs [run].wrk;
        snprintf (what, sizeof what, "POST /orders, 50 conns, %s, vs express "
                  "(%s)", runs [run].name, express_from);
        bench_row ("edge", what, bench_rate_text (zt, wrk->rate),
                   express_rate > 0 ? bench_rate_text (rt, express_rate) : "",
                   express_rate > 0 ? wrk->rate / express_rate : -1,
                   express_rate > 0 ? "≥ 2" : NULL, NULL);
        snprintf (zt, sizeof zt, "%.1f / %.1f ms", wrk->p50_ms, wrk->p99_ms);
        snprintf (rt, sizeof rt, express.rate > 0 ? "%.1f / %.1f ms" : "",
                  express.p50_ms, express.p99_ms);
        bench_row ("edge", "  same, latency p50 / p99", zt, rt, -1, NULL, NULL);
        snprintf (what, sizeof what, "  orders placed in the store, of %ld "
                  "answered (%ld not 2xx; %ld unanswered)", wrk->requests,
                  wrk->errors, wrk->failed);
        snprintf (zt, sizeof zt, "%ld", runs [run].stored);
        bench_row ("edge", what, zt, NULL, -1, NULL,
                   runs [run].stored >= wrk->requests - wrk->errors ? "all"
                                                                : "MISSING");
    }
    s_bench_replicas (seconds);
}
