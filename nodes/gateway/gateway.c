/*  gateway.c - zmesh-gateway: HTTP and JSON at the edge of the demo mesh.

        POST /users          {name, email}            -> user.create
        GET  /users/{id}                              -> user.get
        POST /orders         {userId, items: [...]}   -> order.create
        GET  /orders/{id}                             -> order.get
        GET  /health, GET /metrics (Prometheus text: the gateway's own)

    Each request is a flow: it keeps the client's X-Correlation-ID when that
    is a UUID, or gets a new one, and the response carries it back. Bodies
    are JSON both ways. Application errors keep their HTTP-like codes; a
    service that cannot be reached (open circuit, timeout, no instance)
    answers 503 with Retry-After, within the call's deadline.

    libmicrohttpd serves each connection from a thread of its own, up to
    CONNECTIONS_MAX. They share the one node, and so its breakers, with the
    main thread, which keeps its heartbeats going, under the node's lock
    (zmesh_node_lock): a call lets go of it while it waits, so a slow
    service holds up only the requests that go to it.

    Part of zmesh. MIT License.
*/
#include <microhttpd.h>
#include <netdb.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>
#include "route.h"
#include "service.h"

#define BODY_MAX        (64 * 1024)
#define CONNECTIONS_MAX 512     //  HTTP connections served at once
#define PER_CLIENT_MAX  128     //  Of them from one address: no client
                                //  can take them all, /health included
#define IDLE_TIMEOUT_S  10      //  An idle connection is closed then

typedef struct {
    zmesh_node_t *node;         //  Shared: used under zmesh_node_lock
    zmesh_rand_t *rand;         //  For new correlation ids: under the lock
    atomic_uint_least64_t requests;
    atomic_uint_least64_t responses [6];    //  By class: 1xx .. 5xx
    atomic_int in_flight;                   //  Requests being answered
    atomic_bool draining;       //  Stopping: each response closes its link
} s_gateway_t;

typedef struct {
    char *data;                 //  The request body so far
    size_t size;
    bool too_big;
} s_upload_t;

//  The flow of one request: its correlation id, and the W3C traceparent
//  to answer with ("" for none).
typedef struct {
    char cid [ZMESH_UUID_STR_LEN + 1];
    char traceparent [ZMESH_TRACEPARENT_LEN + 1];
} s_flow_t;

static enum MHD_Result
s_respond (struct MHD_Connection *connection, s_gateway_t *gateway, int status,
           json_t *body, const s_flow_t *flow, const char *retry_after)
{
    //  A body that could not be made (out of memory) or written out still
    //  gets an answer, and the connection a response.
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    json_decref (body);
    if (!text) {
        status = 500;
        text = strdup ("{\"error\":\"the gateway could not write its "
                       "answer\"}");
        if (!text)
            return MHD_NO;
    }
    struct MHD_Response *response = MHD_create_response_from_buffer (
        strlen (text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, "Content-Type", "application/json");
    MHD_add_response_header (response, "X-Correlation-ID", flow->cid);
    if (*flow->traceparent)
        MHD_add_response_header (response, "traceparent", flow->traceparent);
    if (retry_after)
        MHD_add_response_header (response, "Retry-After", retry_after);
    //  While draining, a keep-alive link is closed after its answer, so that
    //  the client's next request goes to the next gateway.
    if (gateway->draining)
        MHD_add_response_header (response, "Connection", "close");
    enum MHD_Result result = MHD_queue_response (connection,
                                                 (unsigned) status, response);
    MHD_destroy_response (response);
    gateway->responses [status / 100 < 6 ? status / 100 : 5]++;
    return result;
}

static json_t *
s_error (const char *message)
{
    return json_pack ("{s:s}", "error", message);
}

//  Make the call for a route and turn its outcome into HTTP.
static enum MHD_Result
s_forward (struct MHD_Connection *connection, s_gateway_t *gateway,
           const char *service, const char *method, json_t *body,
           int created_status, const zmesh_uuid_t *correlation,
           s_flow_t *flow)
{
    void *data = NULL;
    size_t size = 0;
    zmesh_err_t packed = body ? zmesh_json_to_msgpack (body, &data, &size,
                                                       NULL)
                              : ZMESH_ERR_NOMEM;
    json_decref (body);
    if (packed != ZMESH_OK)
        return s_respond (connection, gateway, 500,
                          s_error ("the gateway could not encode the request"),
                          flow, NULL);
    zmesh_envelope_t *reply = NULL;
    zmesh_detail_t detail = {""};
    zmesh_node_lock (gateway->node);
    //  The client's trace goes on in the mesh, with its span the parent of
    //  the request's
    if (!*flow->traceparent
        || zmesh_node_flow_begin_traced (gateway->node, flow->traceparent)
           != ZMESH_OK)
        zmesh_node_flow_begin (gateway->node, correlation);
    zmesh_err_t rc = zmesh_node_call (gateway->node, service, method, data,
                                      size, 0, &reply, &detail);
    zmesh_node_flow_end (gateway->node);
    zmesh_node_unlock (gateway->node);
    free (data);
    //  The answer's traceparent names the request's span, which the reply
    //  is caused by; with no reply, the client's own comes back
    uint8_t span [ZMESH_SPAN_ID_SIZE];
    if (reply && zmesh_envelope_parent_span (reply, span))
        zmesh_traceparent_format (correlation, span, flow->traceparent);
    json_t *answer = NULL;
    if (reply && zmesh_envelope_body_size (reply))
        zmesh_json_from_msgpack (zmesh_envelope_body (reply),
                                 zmesh_envelope_body_size (reply), &answer,
                                 NULL);
    enum MHD_Result result;
    if (rc == ZMESH_OK)
        result = s_respond (connection, gateway, created_status,
                            answer ? answer : json_object (), flow, NULL);
    else if (rc == ZMESH_ERR_APP_ERROR) {
        int64_t code = zmesh_envelope_error_code (reply);
        const char *text = zmesh_envelope_error_text (reply);
        json_decref (answer);
        result = s_respond (connection, gateway,
                            code >= 400 && code <= 599 ? (int) code : 500,
                            s_error (text ? text : "refused"), flow,
                            code == 503 ? "1" : NULL);
    }
    else {
        json_decref (answer);
        char message [300];
        snprintf (message, sizeof message, "%s unavailable: %s%s%s", service,
                  zmesh_strerror (rc), *detail.text ? ": " : "", detail.text);
        bool bad = rc == ZMESH_ERR_UNKNOWN_METHOD
                || rc == ZMESH_ERR_BAD_REQUEST;
        result = s_respond (connection, gateway, bad ? 500 : 503,
                            s_error (message), flow, bad ? NULL : "1");
    }
    zmesh_envelope_destroy (&reply);
    return result;
}

//  The gateway's own metrics: its HTTP counters, then its node's
//  (zmesh_node_metrics: the calls it makes by service, their latency, its
//  breakers). Each node serves its own at its admin endpoint (admin/port):
//  a scrape here waits on no other node.
static enum MHD_Result
s_metrics (struct MHD_Connection *connection, s_gateway_t *gateway)
{
    zmesh_node_lock (gateway->node);
    char *node = zmesh_node_metrics (gateway->node);
    zmesh_node_unlock (gateway->node);
    char *text = NULL;
    int length = node ? asprintf (
        &text,
        "# HELP zmesh_http_requests_total HTTP requests taken\n"
        "# TYPE zmesh_http_requests_total counter\n"
        "zmesh_http_requests_total %" PRIu64 "\n"
        "# HELP zmesh_http_responses_total HTTP responses, by class\n"
        "# TYPE zmesh_http_responses_total counter\n"
        "zmesh_http_responses_total{class=\"2xx\"} %" PRIu64 "\n"
        "zmesh_http_responses_total{class=\"4xx\"} %" PRIu64 "\n"
        "zmesh_http_responses_total{class=\"5xx\"} %" PRIu64 "\n%s",
        (uint64_t) gateway->requests, (uint64_t) gateway->responses [2],
        (uint64_t) gateway->responses [4], (uint64_t) gateway->responses [5],
        node) : -1;
    free (node);
    if (length < 0)
        return MHD_NO;
    struct MHD_Response *response = MHD_create_response_from_buffer (
        (size_t) length, text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, "Content-Type",
                             "text/plain; version=0.0.4");
    if (gateway->draining)
        MHD_add_response_header (response, "Connection", "close");
    enum MHD_Result result = MHD_queue_response (connection, MHD_HTTP_OK,
                                                 response);
    MHD_destroy_response (response);
    gateway->responses [2]++;
    return result;
}

static enum MHD_Result
s_route (struct MHD_Connection *connection, s_gateway_t *gateway,
         const char *method, const char *url, const char *version,
         s_upload_t *upload)
{
    gateway->requests++;
    //  The flow: the client's correlation id; else the trace id of its
    //  W3C traceparent, whose trace the flow then goes on with; else a new
    //  one. A traceparent of another trace than the correlation id is
    //  passed over.
    zmesh_uuid_t correlation, trace;
    s_flow_t flow = {"", ""};
    const char *given = MHD_lookup_connection_value (connection,
                                                     MHD_HEADER_KIND,
                                                     "X-Correlation-ID");
    const char *traceparent = MHD_lookup_connection_value (
        connection, MHD_HEADER_KIND, "traceparent");
    uint8_t parent [ZMESH_SPAN_ID_SIZE];
    bool traced = zmesh_traceparent_parse (traceparent, &trace, parent, NULL)
                  == ZMESH_OK;
    bool correlated = given && zmesh_uuid_parse (given, &correlation)
                               == ZMESH_OK;
    if (traced && (!correlated || zmesh_uuid_eq (&correlation, &trace))) {
        correlation = trace;
        correlated = true;
        //  Read as version 00, written as one
        zmesh_traceparent_format (&trace, parent, flow.traceparent);
    }
    if (!correlated) {
        zmesh_node_lock (gateway->node);
        zmesh_uuid_generate (gateway->rand, &correlation);
        zmesh_node_unlock (gateway->node);
    }
    zmesh_uuid_unparse (&correlation, flow.cid);
    route_request_t request = {
        .method = method, .url = url, .version = version,
        .has_host = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_HOST)
                    != NULL,
        .idempotency_key = MHD_lookup_connection_value (
            connection, MHD_HEADER_KIND, "Idempotency-Key"),
        .body = upload->data, .size = upload->size,
        .too_big = upload->too_big};
    route_t route;
    route_decide (&request, &route);
    switch (route.kind) {
        case ROUTE_METRICS:
            return s_metrics (connection, gateway);
        case ROUTE_CALL:
            return s_forward (connection, gateway, route.service,
                              route.method, route.body, route.status,
                              &correlation, &flow);
        case ROUTE_ANSWER:
            break;
    }
    return s_respond (connection, gateway, route.status, route.body, &flow,
                      NULL);
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *connection, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **con_cls)
{
    s_gateway_t *gateway = cls;
    s_upload_t *upload = *con_cls;
    if (!upload) {
        //  First call: headers only. Make room for the body.
        *con_cls = calloc (1, sizeof (s_upload_t));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        if (upload->size + *upload_data_size > BODY_MAX)
            upload->too_big = true;
        else {
            char *grown = realloc (upload->data,
                                   upload->size + *upload_data_size + 1);
            if (!grown)
                return MHD_NO;
            upload->data = grown;
            memcpy (upload->data + upload->size, upload_data,
                    *upload_data_size);
            upload->size += *upload_data_size;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    gateway->in_flight++;
    enum MHD_Result result = s_route (connection, gateway, method, url,
                                      version, upload);
    gateway->in_flight--;
    return result;
}

static unsigned
s_connections (struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (
        daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? info->num_connections : 0;
}

//  The listening socket systemd (or another supervisor) passed, by its
//  socket-activation protocol: LISTEN_PID is this process and LISTEN_FDS
//  is 1, the socket at descriptor 3. It outlives each gateway, so that a
//  restart refuses no connection: those that come meanwhile wait in its
//  backlog for the next. MHD_INVALID_SOCKET when none was passed; -2 (with
//  a message) when what was passed is not one listening stream socket.
static int
s_inherited_listener (void)
{
    const char *pid = getenv ("LISTEN_PID");
    const char *fds = getenv ("LISTEN_FDS");
    if (!pid || !fds || strtol (pid, NULL, 10) != (long) getpid ())
        return MHD_INVALID_SOCKET;
    unsetenv ("LISTEN_PID");
    unsetenv ("LISTEN_FDS");
    unsetenv ("LISTEN_FDNAMES");
    int listening = 0, type = 0;
    socklen_t size = sizeof listening;
    if (!streq (fds, "1")
        || getsockopt (3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0
        || !listening
        || (size = sizeof type,
            getsockopt (3, SOL_SOCKET, SO_TYPE, &type, &size) != 0)
        || type != SOCK_STREAM) {
        fprintf (stderr, "zmesh-gateway: LISTEN_FDS=%s: socket activation "
                 "passes one listening stream socket, at descriptor 3\n",
                 fds);
        return -2;
    }
    fcntl (3, F_SETFD, FD_CLOEXEC);
    return 3;
}

static void
s_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
             enum MHD_RequestTerminationCode code)
{
    (void) cls, (void) connection, (void) code;
    s_upload_t *upload = *con_cls;
    if (upload) {
        free (upload->data);
        free (upload);
        *con_cls = NULL;
    }
}

int
main (int argc, char *argv [])
{
    //  The HTTP port is the gateway's own setting; the rest is a node's.
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "gateway");
    zmesh_detail_t detail = {""};
    for (int index = 1; index < argc; index++) {
        if ((streq (argv [index], "--set") || streq (argv [index], "-s"))
            && index + 1 < argc) {
            if (zmesh_node_config_set (&config, argv [++index], &detail)) {
                fprintf (stderr, "zmesh-gateway: %s\ntry --help\n",
                         detail.text);
                return 2;
            }
        }
        else if ((streq (argv [index], "--config") || streq (argv [index], "-c"))
                 && index + 1 < argc) {
            if (zmesh_node_config_load (&config, argv [++index], &detail)) {
                fprintf (stderr, "zmesh-gateway: %s\n", detail.text);
                return 2;
            }
        }
        else if ((streq (argv [index], "--name") || streq (argv [index], "-n"))
                 && index + 1 < argc)
            snprintf (config.name, sizeof config.name, "%s", argv [++index]);
        else if (streq (argv [index], "--verbose") || streq (argv [index], "-v"))
            config.verbose = true;
        else if (streq (argv [index], "--version") || streq (argv [index], "-V")) {
            printf ("zmesh %d.%d.%d\n", ZMESH_VERSION_MAJOR,
                    ZMESH_VERSION_MINOR, ZMESH_VERSION_PATCH);
            return 0;
        }
        else if (streq (argv [index], "--help") || streq (argv [index], "-h")) {
            printf ("usage: zmesh-gateway [--config FILE] [--set PATH=VALUE]"
                    "... [--name NAME]\n\n"
                    "The HTTP gateway of the zmesh demo: POST /users, GET "
                    "/users/{id},\nPOST /orders, GET /orders/{id}, GET "
                    "/health, GET /metrics.\n\n"
                    "  -c, --config FILE     settings in ZPL (proto/node.md)\n"
                    "  -s, --set PATH=VALUE  one setting; repeatable\n"
                    "  -n, --name NAME       the node's name (default "
                    "gateway)\n"
                    "  -v, --verbose         log every event and call "
                    "(node/verbose)\n"
                    "  -h, --help            this text\n"
                    "  -V, --version         the zmesh version\n\n"
                    "service/http_port (default 8080) and service/http_host "
                    "(default 127.0.0.1;\na name, or an IPv4 or IPv6 address) "
                    "say where to listen, unless a supervisor\npasses the "
                    "listening socket (systemd's LISTEN_FDS=1, at descriptor 3).\n"
                    "Prints \"http=<port>\" once it is up.\n"
                    "On SIGTERM or SIGINT it stops taking connections, "
                    "answers the requests\nit has (for at most "
                    "timing/call_timeout and a second more), and exits.\n"
                    "SIGHUP reads security/keys again. /metrics is the "
                    "gateway's own; with\n--set admin/port=PORT it serves "
                    "/healthz, /readyz and /metrics there too\n(proto/node.md, "
                    "section 6).\n");
            return 0;
        }
        else {
            fprintf (stderr, "zmesh-gateway: unexpected '%s'; try --help\n",
                     argv [index]);
            return 2;
        }
    }
    zsys_set_logstream (stderr);
    zsys_set_logident (config.name);
    signal (SIGXFSZ, SIG_IGN);      //  A file-size limit: EFBIG, as in service.c
    char *end;
    long port = strtol (zmesh_node_config_service (&config, "http_port",
                                                   "8080"), &end, 10);
    if (*end || port < 0 || port > 65535) {
        fprintf (stderr, "zmesh-gateway: service/http_port is not a port\n");
        return 2;
    }
    //  Where to listen: a host that does not resolve is an error, never
    //  every interface.
    const char *host = zmesh_node_config_service (&config, "http_host",
                                                  "127.0.0.1");
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *found = NULL;
    char service [8];
    snprintf (service, sizeof service, "%ld", port);
    int inherited = s_inherited_listener ();
    if (inherited == -2)
        return 2;
    int resolved = inherited >= 0 ? 0
                 : getaddrinfo (host, service, &hints, &found);
    if (resolved != 0) {
        fprintf (stderr, "zmesh-gateway: service/http_host '%s': %s\n", host,
                 gai_strerror (resolved));
        return 2;
    }
    //  Stop signals wait for the main thread, which asks for them between
    //  its turns: none may cut short a request being answered in another
    //  thread (every thread made from here on inherits this mask).
    sigset_t stop_signals;
    sigemptyset (&stop_signals);
    sigaddset (&stop_signals, SIGINT);
    sigaddset (&stop_signals, SIGTERM);
    sigaddset (&stop_signals, SIGHUP);      //  Not a stop: keys again
    pthread_sigmask (SIG_BLOCK, &stop_signals, NULL);
    s_gateway_t gateway = {.node = zmesh_node_new (&config, NULL, NULL,
                                                   &detail),
                           .rand = zmesh_rand_new ()};
    if (!gateway.node || !gateway.rand) {
        fprintf (stderr, "zmesh-gateway: %s\n", detail.text);
        zmesh_node_destroy (&gateway.node);
        zmesh_rand_destroy (&gateway.rand);
        freeaddrinfo (found);
        return 1;
    }
    struct sockaddr_storage bound;
    socklen_t bound_size = sizeof bound;
    if (inherited >= 0
        && getsockname (inherited, (struct sockaddr *) &bound,
                        &bound_size) != 0)
        bound.ss_family = AF_INET;
    int family = inherited >= 0 ? bound.ss_family : found->ai_family;
    struct MHD_OptionItem where [] = {
        inherited >= 0
            ? (struct MHD_OptionItem) {MHD_OPTION_LISTEN_SOCKET, inherited,
                                       NULL}
            : (struct MHD_OptionItem) {MHD_OPTION_SOCK_ADDR, 0,
                                       found->ai_addr},
        {MHD_OPTION_END, 0, NULL}};
    struct MHD_Daemon *daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION
        | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC
        | (family == AF_INET6 ? MHD_USE_IPv6 : 0),
        (uint16_t) port, NULL, NULL, s_access, &gateway,
        MHD_OPTION_ARRAY, where,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) CONNECTIONS_MAX,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) PER_CLIENT_MAX,
        MHD_OPTION_END);
    if (found)
        freeaddrinfo (found);
    if (!daemon) {
        fprintf (stderr, "zmesh-gateway: cannot listen on %s port %ld\n",
                 host, port);
        zmesh_node_destroy (&gateway.node);
        zmesh_rand_destroy (&gateway.rand);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (
        daemon, MHD_DAEMON_INFO_BIND_PORT);
    printf ("http=%u events=%s calls=%s\n", info ? info->port : (unsigned) port,
            zmesh_node_events_endpoint (gateway.node),
            zmesh_node_calls_endpoint (gateway.node));
    fflush (stdout);
    //  Heartbeats and peers go on here, between requests, until a stop
    //  signal comes.
    struct timespec turn = {0, 50 * 1000 * 1000};
    zmesh_err_t rc = ZMESH_OK;
    int got;
    while (rc == ZMESH_OK
           && ((got = sigtimedwait (&stop_signals, NULL, &turn)) < 0
               || got == SIGHUP)) {
        zmesh_node_lock (gateway.node);
        if (got == SIGHUP)
            zmesh_node_reload_keys (gateway.node, NULL);
        rc = zmesh_node_poll (gateway.node, 0);
        zmesh_node_unlock (gateway.node);
    }
    //  Draining: no new connections; the requests taken are answered,
    //  within their calls' deadline. A second signal stops at once.
    MHD_socket listener = MHD_quiesce_daemon (daemon);
    //  Connections taken whose requests have not all come in (or idle
    //  keep-alive ones) are given a second at most.
    gateway.draining = true;
    int64_t now = zclock_mono ();
    int64_t until = now + config.call_timeout_ms + 1000;
    int64_t uploads_until = now + 1000;
    struct timespec pause = {0, 20 * 1000 * 1000};
    while ((gateway.in_flight > 0
            || (zclock_mono () < uploads_until && s_connections (daemon) > 0))
           && zclock_mono () < until
           && ((got = sigtimedwait (&stop_signals, NULL, &pause)) < 0
               || got == SIGHUP)) {
        zmesh_node_lock (gateway.node);
        zmesh_node_poll (gateway.node, 0);
        zmesh_node_unlock (gateway.node);
    }
    MHD_stop_daemon (daemon);
    if (listener != MHD_INVALID_SOCKET)
        close (listener);
    zmesh_node_destroy (&gateway.node);
    zmesh_rand_destroy (&gateway.rand);
    return 0;
}
