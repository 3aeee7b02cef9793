/*  admin.c - the node's admin HTTP endpoint: /healthz, /readyz, /metrics.

    Off unless admin/port is set. libmicrohttpd answers in a thread of its
    own, which never touches the node: at each heartbeat the loop leaves
    what the endpoint serves until the next (zmesh__admin_refresh), under
    the endpoint's mutex. So a scrape costs the loop nothing, and a loop
    that stops turning shows: once what it left is timing/quiet old (what
    its peers take for alive), /healthz answers 503.

    /metrics is the Prometheus text format (version 0.0.4), built by
    zmesh_node_metrics: the node's counters, a latency histogram of the
    calls it makes per service called, its consumers' lag per publisher,
    and the state of each breaker.

    Part of zmesh. MIT License.
*/
#include "node_private.h"
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>

//  A few scrapers and probes, never many: beyond these, libmicrohttpd
//  turns a connection away at once rather than let it wait.
#define CONNECTIONS_MAX 16
#define PER_CLIENT_MAX 8
#define IDLE_TIMEOUT_S 10

struct _zmesh__admin_t {
    struct MHD_Daemon *daemon;
    zmesh_clock_t *clock;           //  The node's, which any thread may read
    pthread_mutex_t lock;           //  Guards what follows
    char *metrics;                  //  The last /metrics, or NULL
    bool ready;
    char why [160];                 //  Why not ready
    int64_t refreshed_ms;           //  Monotonic: when the loop left them
    int64_t stale_ms;               //  timing/quiet
    unsigned port;
};

//  The upper bounds of the latency buckets, in microseconds.
static const uint64_t s_bounds_us [ZMESH__LATENCY_BOUNDS] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    500000, 1000000, 2500000, 5000000};

void
zmesh__admin_call (zmesh_node_t *self, const char *service,
                   uint64_t latency_us, bool failed)
{
    if (!self->latencies) {
        self->latencies = zmesh__calloc (ZMESH__LATENCY_SERVICES,
                                         sizeof *self->latencies);
        if (!self->latencies)
            return;
    }
    zmesh__latency_t *latency = NULL;
    for (size_t index = 0; index < self->latency_count && !latency; index++)
        if (streq (self->latencies [index].service, service))
            latency = &self->latencies [index];
    if (!latency) {
        //  A new service; past the last but one, all go to the last
        bool other = self->latency_count == ZMESH__LATENCY_SERVICES - 1;
        if (self->latency_count == ZMESH__LATENCY_SERVICES)
            latency = &self->latencies [ZMESH__LATENCY_SERVICES - 1];
        else {
            latency = &self->latencies [self->latency_count++];
            snprintf (latency->service, sizeof latency->service, "%s",
                      other ? "_other" : service);
        }
    }
    size_t bucket = 0;
    while (bucket < ZMESH__LATENCY_BOUNDS && latency_us > s_bounds_us [bucket])
        bucket++;
    latency->buckets [bucket]++;
    latency->count++;
    latency->failed += failed;
    latency->sum_us += latency_us;
}

//  The text of /metrics as it grows: appended to with s_add, which stops
//  at the first failure (out of memory), after which text is NULL.
typedef struct {
    char *text;
    size_t size, used;
    const char *node;               //  Every sample's node label
} s_text_t;

static void __attribute__ ((format (printf, 2, 3)))
s_add (s_text_t *text, const char *format, ...)
{
    if (!text->text)
        return;
    while (true) {
        va_list args;
        va_start (args, format);
        int length = vsnprintf (text->text + text->used,
                                text->size - text->used, format, args);
        va_end (args);
        if (length < 0) {
            zmesh__free (text->text);
            text->text = NULL;
            return;
        }
        if (text->used + (size_t) length < text->size) {
            text->used += (size_t) length;
            return;
        }
        size_t size = text->size * 2 + (size_t) length;
        char *grown = zmesh__realloc (text->text, size);
        if (!grown) {
            zmesh__free (text->text);
            text->text = NULL;
            return;
        }
        text->text = grown;
        text->size = size;
    }
}

//  A label's value, escaped as the text format wants: backslash, double
//  quote and line feed.
static const char *
s_escaped (const char *value, char *buffer, size_t size)
{
    size_t used = 0;
    for (; *value && used + 3 < size; value++) {
        if (*value == '\\' || *value == '"')
            buffer [used++] = '\\';
        if (*value == '\n') {
            buffer [used++] = '\\';
            buffer [used++] = 'n';
            continue;
        }
        buffer [used++] = *value;
    }
    buffer [used] = 0;
    return buffer;
}

static void
s_family (s_text_t *text, const char *name, const char *type,
          const char *help)
{
    s_add (text, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

//  Consumer lag, one publisher at a time: two families, so two walks.
typedef struct {
    s_text_t *text;
    bool stalled;                   //  Which of the two
} s_lag_walk_t;

static void
s_lag_sample (void *arg, const char *publisher, uint64_t behind,
              bool stalled)
{
    s_lag_walk_t *walk = arg;
    char escaped [2 * ZMESH_ENVELOPE_SOURCE_MAX + 2];
    s_add (walk->text, "%s{node=\"%s\",publisher=\"%s\"} %" PRIu64 "\n",
           walk->stalled ? "zmesh_consumer_stalled" : "zmesh_consumer_lag",
           walk->text->node, s_escaped (publisher, escaped, sizeof escaped),
           walk->stalled ? (uint64_t) stalled : behind);
}

char *
zmesh_node_metrics (zmesh_node_t *self)
{
    assert (self);
    char node [2 * ZMESH_ENVELOPE_SOURCE_MAX + 2];
    s_text_t text = {.text = zmesh__alloc (8192), .size = 8192,
                     .node = s_escaped (self->config.name, node, sizeof node)};
    if (!text.text)
        return NULL;
    text.text [0] = 0;
    zmesh__counter_t counters [ZMESH__COUNTERS_MAX];
    size_t count = zmesh__builtins_counters (self, counters,
                                             ZMESH__COUNTERS_MAX);
    for (size_t index = 0; index < count; index++) {
        char name [80];
        snprintf (name, sizeof name, "zmesh_%s%s", counters [index].name,
                  counters [index].gauge ? "" : "_total");
        s_family (&text, name, counters [index].gauge ? "gauge" : "counter",
                  counters [index].help);
        s_add (&text, "%s{node=\"%s\"} %" PRIu64 "\n", name, text.node,
               counters [index].value);
    }
    //  What the caller did with them: retries, refusals, fallbacks
    zmesh_caller_stats_t caller;
    zmesh_caller_stats (self->caller, &caller);
    const struct {
        const char *name, *help;
        uint64_t value;
    } calls [] = {
        {"zmesh_calls_total", "Calls made, whatever their attempts",
         caller.calls},
        {"zmesh_call_attempts_total", "Attempts of the calls made",
         caller.attempts},
        {"zmesh_call_retries_total", "Attempts after a call's first",
         caller.retries},
        {"zmesh_call_retries_refused_total",
         "Retries the retry budget refused", caller.budget_exhausted},
        {"zmesh_calls_rejected_total",
         "Calls no instance would take: breakers open or bulkheads full",
         caller.rejected},
        {"zmesh_call_fallbacks_total", "Calls that ended in their fallback",
         caller.fallbacks},
    };
    for (size_t index = 0; index < sizeof calls / sizeof calls [0]; index++) {
        s_family (&text, calls [index].name, "counter", calls [index].help);
        s_add (&text, "%s{node=\"%s\"} %" PRIu64 "\n", calls [index].name,
               text.node, calls [index].value);
    }
    //  The calls made, by the service called
    s_family (&text, "zmesh_call_duration_seconds", "histogram",
              "Calls made, from the request to the reply or the failure, by "
              "the service called");
    for (size_t index = 0; index < self->latency_count; index++) {
        const zmesh__latency_t *latency = &self->latencies [index];
        char service [2 * ZMESH_ENVELOPE_SOURCE_MAX + 2];
        s_escaped (latency->service, service, sizeof service);
        uint64_t below = 0;
        for (size_t bucket = 0; bucket < ZMESH__LATENCY_BOUNDS; bucket++) {
            below += latency->buckets [bucket];
            s_add (&text, "zmesh_call_duration_seconds_bucket{node=\"%s\","
                   "service=\"%s\",le=\"%g\"} %" PRIu64 "\n", text.node,
                   service, (double) s_bounds_us [bucket] / 1e6, below);
        }
        s_add (&text, "zmesh_call_duration_seconds_bucket{node=\"%s\","
               "service=\"%s\",le=\"+Inf\"} %" PRIu64 "\n"
               "zmesh_call_duration_seconds_sum{node=\"%s\",service=\"%s\"} "
               "%.6f\n"
               "zmesh_call_duration_seconds_count{node=\"%s\","
               "service=\"%s\"} %" PRIu64 "\n", text.node, service,
               latency->count, text.node, service,
               (double) latency->sum_us / 1e6, text.node, service,
               latency->count);
    }
    s_family (&text, "zmesh_call_failures_total", "counter",
              "Calls made that ended in an error, by the service called");
    for (size_t index = 0; index < self->latency_count; index++) {
        char service [2 * ZMESH_ENVELOPE_SOURCE_MAX + 2];
        s_add (&text, "zmesh_call_failures_total{node=\"%s\",service=\"%s\"} "
               "%" PRIu64 "\n", text.node,
               s_escaped (self->latencies [index].service, service,
                          sizeof service),
               self->latencies [index].failed);
    }
    //  Consumer lag, by publisher followed
    zmesh__consume_lag_t lag;
    s_lag_walk_t walk = {&text, false};
    s_family (&text, "zmesh_consumer_lag", "gauge",
              "Events in a publisher's log the node's consumers have not "
              "consumed yet");
    zmesh__consume_lag (self, &lag, s_lag_sample, &walk);
    walk.stalled = true;
    s_family (&text, "zmesh_consumer_stalled", "gauge",
              "1 while the consumers have events of the publisher left and "
              "their position has not moved for timing/gone");
    zmesh__consume_lag (self, &lag, s_lag_sample, &walk);
    //  Breakers, by the instance they guard
    s_family (&text, "zmesh_breaker_state", "gauge",
              "The breaker of each peer instance called: 0 closed, 1 open, "
              "2 half-open");
    for (size_t index = 0; index < zmesh_node_peer_count (self); index++) {
        zmesh_peer_info_t peer;
        zmesh_node_peer (self, index, &peer);
        zmesh_breaker_t *breaker = *peer.calls
                                   ? zmesh_caller_breaker (self->caller,
                                                           peer.calls)
                                   : NULL;
        if (!breaker)
            continue;
        char service [2 * ZMESH_ENVELOPE_SOURCE_MAX + 2];
        char endpoint [2 * ZMESH_ENDPOINT_MAX + 2];
        s_add (&text, "zmesh_breaker_state{node=\"%s\",service=\"%s\","
               "endpoint=\"%s\"} %d\n", text.node,
               s_escaped (peer.service, service, sizeof service),
               s_escaped (peer.calls, endpoint, sizeof endpoint),
               (int) zmesh_breaker_state (breaker));
    }
    return text.text;
}

//  Whether the node is ready for work, and if not, why: its sockets bound,
//  every configured peer that publishes heard from once, not draining,
//  and its consumers caught up with the publishers they follow.
static bool
s_ready (zmesh_node_t *self, char *why, size_t size)
{
    if (self->draining) {
        snprintf (why, size, "draining");
        return false;
    }
    for (int socket = 0; socket < 3; socket++)
        if (*self->rebind [socket]) {
            snprintf (why, size, "not bound at %.100s", self->rebind [socket]);
            return false;
        }
    for (size_t index = 0; index < zmesh_node_peer_count (self); index++) {
        zmesh_peer_info_t peer;
        zmesh_node_peer (self, index, &peer);
        if (peer.from_config && *peer.events
            && peer.state == ZMESH_PEER_UNKNOWN) {
            snprintf (why, size, "peer %.100s not heard from yet", peer.key);
            return false;
        }
    }
    zmesh__consume_lag_t lag;
    zmesh__consume_lag (self, &lag, NULL, NULL);
    if (lag.lag) {
        snprintf (why, size, "catching up: %" PRIu64 " events behind%s",
                  lag.lag, lag.stalled ? ", stalled" : "");
        return false;
    }
    *why = 0;
    return true;
}

void
zmesh__admin_refresh (zmesh_node_t *self)
{
    zmesh__admin_t *admin = self->admin;
    if (!admin)
        return;
    char *metrics = zmesh_node_metrics (self);
    char why [sizeof admin->why];
    bool ready = s_ready (self, why, sizeof why);
    pthread_mutex_lock (&admin->lock);
    //  Out of memory: the last metrics stay, and the time says how old
    if (metrics) {
        zmesh__free (admin->metrics);
        admin->metrics = metrics;
    }
    admin->ready = ready;
    memcpy (admin->why, why, sizeof why);
    admin->refreshed_ms = zmesh_clock_mono_ms (self->clock);
    pthread_mutex_unlock (&admin->lock);
}

static enum MHD_Result
s_respond (struct MHD_Connection *connection, unsigned status,
           const char *type, const char *body)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (body), (void *) body, MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL,
                             "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW,
                                 "GET, HEAD");
    enum MHD_Result result = MHD_queue_response (connection, status,
                                                 response);
    MHD_destroy_response (response);
    return result;
}

#define TEXT_PLAIN "text/plain; charset=utf-8"

//  One request, in libmicrohttpd's thread: answered from what the loop
//  left, under the lock.
static enum MHD_Result
s_answer (void *cls, struct MHD_Connection *connection, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **con_cls)
{
    (void) upload_data;
    zmesh__admin_t *admin = cls;
    static int headers_seen;
    if (!*con_cls) {                //  First call: the headers only
        *con_cls = &headers_seen;
        return MHD_YES;
    }
    if (*upload_data_size) {        //  A body: not wanted, passed over
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (streq (version, MHD_HTTP_VERSION_1_1)
        && !MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_HOST))
        return s_respond (connection, MHD_HTTP_BAD_REQUEST, TEXT_PLAIN,
                          "an HTTP/1.1 request needs a Host header\n");
    if (!streq (method, MHD_HTTP_METHOD_GET)
        && !streq (method, MHD_HTTP_METHOD_HEAD))
        return s_respond (connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                          TEXT_PLAIN, "only GET and HEAD\n");
    bool health = streq (url, "/healthz"), readiness = streq (url, "/readyz");
    if (!health && !readiness && !streq (url, "/metrics"))
        return s_respond (connection, MHD_HTTP_NOT_FOUND, TEXT_PLAIN,
                          "not found: this is /healthz, /readyz and "
                          "/metrics\n");
    char body [256];
    pthread_mutex_lock (&admin->lock);
    int64_t age = zmesh_clock_mono_ms (admin->clock) - admin->refreshed_ms;
    bool alive = age <= admin->stale_ms;
    if (!health && !readiness) {
        enum MHD_Result result = admin->metrics
            ? s_respond (connection, MHD_HTTP_OK,
                         "text/plain; version=0.0.4; charset=utf-8",
                         admin->metrics)
            : s_respond (connection, MHD_HTTP_SERVICE_UNAVAILABLE,
                         TEXT_PLAIN, "no metrics yet\n");
        pthread_mutex_unlock (&admin->lock);
        return result;
    }
    unsigned status = MHD_HTTP_OK;
    if (!alive) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf (body, sizeof body, "stalled: the loop has not turned for "
                  "%" PRId64 " ms\n", age);
    }
    else if (readiness && !admin->ready) {
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
        snprintf (body, sizeof body, "not ready: %s\n", admin->why);
    }
    else
        snprintf (body, sizeof body, health ? "ok\n" : "ready\n");
    pthread_mutex_unlock (&admin->lock);
    return s_respond (connection, status, TEXT_PLAIN, body);
}

static void
s_admin_destroy (zmesh__admin_t **admin_p)
{
    zmesh__admin_t *admin = *admin_p;
    if (!admin)
        return;
    if (admin->daemon)
        MHD_stop_daemon (admin->daemon);
    pthread_mutex_destroy (&admin->lock);
    zmesh__free (admin->metrics);
    zmesh__free (admin);
    *admin_p = NULL;
}

zmesh_err_t
zmesh__admin_start (zmesh_node_t *self, zmesh_detail_t *detail)
{
    const char *host = self->config.admin_host;
    int port = self->config.admin_port;
    char service [8];
    snprintf (service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST
                                         | AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    int resolved = getaddrinfo (host, service, &hints, &found);
    if (resolved != 0) {
        zmesh__detail (detail, "admin/host '%s': %s", host,
                       gai_strerror (resolved));
        return ZMESH_ERR_CONFIG;
    }
    zmesh__admin_t *admin = zmesh__calloc (1, sizeof *admin);
    if (!admin) {
        freeaddrinfo (found);
        zmesh__detail (detail, "out of memory");
        return ZMESH_ERR_NOMEM;
    }
    pthread_mutex_init (&admin->lock, NULL);
    admin->clock = self->clock;
    admin->stale_ms = self->config.quiet_ms;
    //  Signals are the loop's: its thread must see SIGINT and SIGTERM,
    //  so libmicrohttpd's thread starts with every one blocked.
    sigset_t all, before;
    sigfillset (&all);
    pthread_sigmask (SIG_BLOCK, &all, &before);
    admin->daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC
        | (found->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        (uint16_t) port, NULL, NULL, s_answer, admin,
        MHD_OPTION_SOCK_ADDR, found->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) CONNECTIONS_MAX,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) PER_CLIENT_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) IDLE_TIMEOUT_S,
        MHD_OPTION_END);
    int error = errno;
    pthread_sigmask (SIG_SETMASK, &before, NULL);
    freeaddrinfo (found);
    if (!admin->daemon) {
        zmesh__detail (detail, "admin/port: cannot listen on %s port %d: %s",
                       host, port, strerror (error));
        s_admin_destroy (&admin);
        return ZMESH_ERR_CONFIG;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (
        admin->daemon, MHD_DAEMON_INFO_BIND_PORT);
    admin->port = info ? info->port : (unsigned) port;
    //  Alive, and not ready until the node is up (zmesh_node_new's last
    //  step is the first refresh)
    admin->refreshed_ms = zmesh_clock_mono_ms (self->clock);
    snprintf (admin->why, sizeof admin->why, "starting");
    self->admin = admin;
    zsys_info ("node %s: admin endpoint at http://%s%s%s:%u/ (/healthz, "
               "/readyz, /metrics)", self->config.name,
               strchr (host, ':') ? "[" : "", host,
               strchr (host, ':') ? "]" : "", admin->port);
    return ZMESH_OK;
}

void
zmesh__admin_stop (zmesh_node_t *self)
{
    s_admin_destroy (&self->admin);
}

int
zmesh_node_admin_port (zmesh_node_t *self)
{
    assert (self);
    return self->admin ? (int) self->admin->port : 0;
}
