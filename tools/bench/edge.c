/*  edge.c - zmesh-bench's edge section: POST /orders through the
    gateway under wrk, against the tutorial's express mini-project under
    the same load.

    Part of zmesh. MIT License.
*/
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
s_run_wrk (int port, const char *script, double seconds, bench_wrk_t *result)
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
bool
bench_edge_load (int port, double seconds, int delay_ms, bench_wrk_t *result)
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
    if (delay_ms > 0)
        fprintf (file, "function delay () return %d end\n", delay_ms);
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
            bench_wrk_t *result, long *stored)
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
    bool ok = started == 5 && bench_edge_load (port, seconds, 0, result);
    for (int index = started - 1; index >= 0; index--)
        bench_child_stop (&children [index]);
    char path [PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/%s-order/order.db", bench_options.tmp,
              label);
    *stored = ok ? s_orders_stored (path) : -1;
    return ok;
}

bool
bench_edge_ready (const char *section)
{
    if (access ("/usr/bin/wrk", X_OK) == 0 && bench_options.nodes)
        return true;
    fprintf (stderr, "zmesh-bench: %s skipped: needs /usr/bin/wrk and the "
             "demo nodes (--nodes)\n", section);
    return false;
}

void
bench_edge (void)
{
    if (!bench_edge_ready ("edge"))
        return;
    double seconds = bench_options.quick ? 3 : 15;
    bench_wrk_t zmesh = {0}, normal = {0}, express = {0};
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
        bench_wrk_t *wrk;
        long stored;
        const char *name;
    } runs [] = {{ok, &zmesh, stored, "events/sync=full (default)"},
                 {normal_ok, &normal, normal_stored, "events/sync=normal"}};
    for (size_t run = 0; run < 2; run++) {
        if (!runs [run].ok)
            continue;
        bench_wrk_t *wrk = runs [run].wrk;
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
}
