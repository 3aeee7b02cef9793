/*  test_threads.c - a node shared between threads, under ThreadSanitizer.

    Four threads call through one client node while the main thread polls
    it, as zmesh-gateway does: calls to a live echo service, each in a flow
    of its own, and calls to a service that never answers, whose retries
    back off with the lock let go. Built with -fsanitize=thread (tools/
    build.sh --tsan); a plain program, since criterion does not run under
    ThreadSanitizer. Meanwhile a fifth thread scrapes the client's admin
    endpoint, whose own thread reads what the loop leaves it at each
    heartbeat, and its span exporter's thread takes the flow records.
    Exits 1 on a failed check; ThreadSanitizer exits 66 on a
    race.

    Part of zmesh. MIT License.
*/
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>
#include "zmesh.h"

#define CALLERS         4
#define CALLS           150     //  To echo, per caller
#define DEAD_CALLS      5       //  To the service that never answers

static zmesh_node_t *client;
static atomic_int failures;
static atomic_bool done;

#define CHECK(condition, ...)                                       \
    do {                                                            \
        if (!(condition)) {                                         \
            fprintf (stderr, "test_threads: " __VA_ARGS__);         \
            fprintf (stderr, "\n");                                 \
            atomic_fetch_add (&failures, 1);                        \
        }                                                           \
    } while (0)

static void
s_echo (zmesh_node_t *node, const zmesh_envelope_t *request,
        zmesh_envelope_t *reply, void *arg)
{
    (void) node, (void) arg;
    zmesh_envelope_set_body (reply, zmesh_envelope_body (request),
                             zmesh_envelope_body_size (request));
}

static void *
s_serve (void *arg)
{
    zmesh_node_t *server = arg;
    while (!atomic_load (&done))
        zmesh_node_poll (server, 10);
    return NULL;
}

//  One call in a flow of its own, which must end in expected.
static void
s_call (const char *service, uint32_t timeout_ms, zmesh_err_t expected)
{
    zmesh_envelope_t *reply = NULL;
    zmesh_node_lock (client);
    zmesh_node_flow_begin (client, NULL);
    zmesh_uuid_t flow = *zmesh_node_correlation (client);
    zmesh_err_t rc = zmesh_node_call (client, service, "echo.say", "\x91\x01",
                                      2, timeout_ms, &reply, NULL);
    //  Once its breaker is open, dead fails fast instead
    CHECK (rc == expected || (expected == ZMESH_ERR_TIMEOUT
                              && rc == ZMESH_ERR_CIRCUIT_OPEN),
           "%s: %s", service, zmesh_strerror (rc));
    CHECK (zmesh_uuid_eq (zmesh_node_correlation (client), &flow),
           "the flow in force came back changed");
    if (reply)
        CHECK (zmesh_uuid_eq (zmesh_envelope_correlation (reply), &flow),
               "a reply in another flow");
    zmesh_node_flow_end (client);
    zmesh_node_unlock (client);
    zmesh_envelope_destroy (&reply);
}

static void *
s_caller (void *arg)
{
    (void) arg;
    for (int index = 0; index < CALLS; index++) {
        s_call ("echo", 5000, ZMESH_OK);
        if (index % (CALLS / DEAD_CALLS) == 0)
            s_call ("dead", 150, ZMESH_ERR_TIMEOUT);
    }
    return NULL;
}

//  GET path from the admin endpoint at port: its status, or -1.
static int
s_get (int port, const char *path)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons ((uint16_t) port)};
    inet_pton (AF_INET, "127.0.0.1", &address.sin_addr);
    char buffer [16384];
    int status = -1;
    if (fd >= 0
        && connect (fd, (struct sockaddr *) &address, sizeof address) == 0) {
        int length = snprintf (buffer, sizeof buffer, "GET %s HTTP/1.0\r\n"
                               "\r\n", path);
        if (write (fd, buffer, (size_t) length) == length) {
            size_t used = 0;
            ssize_t got;
            while (used + 1 < sizeof buffer
                   && (got = read (fd, buffer + used,
                                   sizeof buffer - 1 - used)) > 0)
                used += (size_t) got;
            buffer [used] = 0;
            sscanf (buffer, "HTTP/1.%*d %d", &status);
        }
    }
    if (fd >= 0)
        close (fd);
    return status;
}

static void *
s_scrape (void *arg)
{
    int port = *(int *) arg;
    for (int round = 0; round < 50 && !atomic_load (&done); round++) {
        CHECK (s_get (port, "/metrics") == 200, "/metrics failed");
        CHECK (s_get (port, "/healthz") == 200, "/healthz failed");
        s_get (port, "/readyz");
        zmesh_clock_sleep (zmesh_clock_real (), 10);
    }
    return NULL;
}

//  A node on tcp loopback with settings (up to a NULL, or NULL).
static zmesh_node_t *
s_node (const char *name, const char *const *settings)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, name);
    zmesh_detail_t detail = {""};
    zmesh_node_config_set (&config, "node/events=tcp://127.0.0.1:*", NULL);
    zmesh_node_config_set (&config, "node/calls=tcp://127.0.0.1:*", NULL);
    for (size_t index = 0; settings && settings [index]; index++)
        if (zmesh_node_config_set (&config, settings [index], &detail)) {
            fprintf (stderr, "test_threads: %s\n", detail.text);
            exit (1);
        }
    zmesh_node_t *node = zmesh_node_new (&config, NULL, NULL, &detail);
    if (!node) {
        fprintf (stderr, "test_threads: %s\n", detail.text);
        exit (1);
    }
    return node;
}

int
main (void)
{
    zmesh_node_t *server = s_node ("echo", NULL);
    zmesh_node_serve (server, "echo.say", s_echo, NULL);
    char echo [300], dead [300];
    snprintf (echo, sizeof echo, "peers/echo/calls=%s",
              zmesh_node_calls_endpoint (server));
    //  A port held, and never listened on: every attempt waits out its time.
    int held = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET};
    socklen_t length = sizeof address;
    inet_pton (AF_INET, "127.0.0.1", &address.sin_addr);
    if (held < 0 || bind (held, (struct sockaddr *) &address, sizeof address)
        || getsockname (held, (struct sockaddr *) &address, &length)) {
        fprintf (stderr, "test_threads: cannot hold a port\n");
        return 1;
    }
    snprintf (dead, sizeof dead, "peers/dead/calls=tcp://127.0.0.1:%d",
              ntohs (address.sin_port));
    //  Short attempts and backoffs: a call to dead makes several, and
    //  waits between them.
    const char *settings [] = {echo, dead, "retry/attempt_timeout=30",
                               "retry/base_delay=10", "admin/port=0",
                               "timing/heartbeat=20", "timing/quiet=5000",
                               "timing/gone=10000",
                               //  Spans to a port nobody listens on: the
                               //  exporter's thread drops them
                               "otlp/endpoint=http://127.0.0.1:1/v1/traces",
                               NULL};
    client = s_node ("client", settings);
    int port = zmesh_node_admin_port (client);
    CHECK (port > 0, "no admin endpoint");

    pthread_t serving, scraping, callers [CALLERS];
    pthread_create (&serving, NULL, s_serve, server);
    pthread_create (&scraping, NULL, s_scrape, &port);
    for (int index = 0; index < CALLERS; index++)
        pthread_create (&callers [index], NULL, s_caller, NULL);
    //  The loop of the shared node, between the calls
    for (int round = 0; round < 100; round++) {
        zmesh_node_lock (client);
        zmesh_node_poll (client, 0);
        zmesh_node_unlock (client);
        zmesh_clock_sleep (zmesh_clock_real (), 10);
    }
    for (int index = 0; index < CALLERS; index++)
        pthread_join (callers [index], NULL);
    atomic_store (&done, true);
    pthread_join (serving, NULL);
    pthread_join (scraping, NULL);

    zmesh_node_stats_t stats;
    zmesh_node_stats (client, &stats);
    CHECK (stats.call_timeouts > 0, "no attempt on dead timed out");
    zmesh_caller_stats_t calls;
    zmesh_caller_stats (zmesh_node_caller (client), &calls);
    CHECK (calls.calls == CALLERS * (CALLS + DEAD_CALLS),
           "%" PRIu64 " calls", calls.calls);
    CHECK (calls.retries > 0, "no call backed off");
    CHECK (stats.spans_dropped > 0, "no span went to the exporter");
    printf ("test_threads: %d threads, %" PRIu64 " calls, %" PRIu64
            " attempts, %" PRIu64 " retries, %d failed checks\n", CALLERS,
            calls.calls, calls.attempts, calls.retries,
            atomic_load (&failures));
    zmesh_node_destroy (&client);
    zmesh_node_destroy (&server);
    close (held);
    return atomic_load (&failures) ? 1 : 0;
}
