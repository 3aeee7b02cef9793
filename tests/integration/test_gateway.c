/*  test_gateway.c - the demo mesh end to end over HTTP: five node processes
    driven with curl.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"
#include "child.h"
#include "http.h"
#include "peer.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir [64];
static int http_port;
static child_t nodes [5];
static char calls [5][256];         //  Each node's calls endpoint
static int listener = -1;           //  The gateway's, when the test holds it
static char mounted [128];          //  A tmpfs the test mounted, or ""

static void
s_setup (void)
{
    child_dir_make (dir, "gateway");
}

static void
s_teardown (void)
{
    //  What zmesh up started is not our child: zmesh down stops it
    char mesh [128];
    snprintf (mesh, sizeof mesh, "%s/mesh.zpl", dir);
    if (access (mesh, R_OK) == 0) {
        char *down [] = {ZMESH, "down", mesh, NULL};
        child_run (down, 30000);
    }
    child_cleanup ();
    if (*mounted)
        umount2 (mounted, MNT_DETACH);
    *mounted = 0;
    child_dir_remove (dir);
    if (listener >= 0)
        close (listener);
    listener = -1;
}

TestSuite (gateway, .init = s_setup, .fini = s_teardown, .timeout = 120);

static child_t
s_start (const char *service, const char *const *peers, const char *extra)
{
    //  zmesh trace asks every node for its records: an administrative
    //  built-in, which these nodes, without security, serve to anyone.
    char line [600], settings [400];
    snprintf (settings, sizeof settings, "access/admins=* %s",
              extra ? extra : "");
    child_t child = child_start_service_on (
        NODES_DIR, dir, service, peers, settings,
        streq (service, "gateway") ? listener : -1, line, sizeof line);
    if (streq (service, "gateway"))
        cr_assert (sscanf (line, "http=%d", &http_port) == 1, "%s", line);
    const char *at = strstr (line, "calls=");
    cr_assert (at != NULL, "%s", line);
    static int started = 0;
    sscanf (at, "calls=%255s", calls [started++ % 5]);
    return child;
}

static void
s_mesh_with (const char *gateway_settings)
{
    const char *order_peers [] = {"user", "inventory", "payment", NULL};
    const char *inventory_peers [] = {"order", NULL};
    const char *payment_peers [] = {"inventory", NULL};
    const char *gateway_peers [] = {"user", "order", NULL};
    nodes [0] = s_start ("user", NULL, NULL);
    nodes [1] = s_start ("order", order_peers, NULL);
    nodes [2] = s_start ("inventory", inventory_peers, "service/stock=100");
    nodes [3] = s_start ("payment", payment_peers, "service/limit=100000");
    nodes [4] = s_start ("gateway", gateway_peers, gateway_settings);
}

static void
s_mesh (void)
{
    s_mesh_with ("service/http_port=0");
}

//  Stop the mesh's nodes from the gateway down to nodes [first].
static void
s_stop_nodes (int first)
{
    for (int node = 4; node >= first; node--)
        cr_assert (eq (int, child_stop (&nodes [node], 5000), 0));
}

static const char *
s_field (const http_t *response, const char *key)
{
    const char *value = json_string_value (json_object_get (response->body,
                                                            key));
    return value ? value : "";
}

//  Whether /metrics has a line that starts with name (plain text, so it is
//  read here with curl -s, not through http_request's JSON).
static int
s_metric (const char *name)
{
    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/metrics", http_port);
    char *argv [] = {"/usr/bin/curl", "-s", url, NULL};
    child_t curl = child_spawn (argv);
    char line [512];
    int found = 0;
    while (child_read_line (curl.out, line, sizeof line, 10000))
        found |= strncmp (line, name, strlen (name)) == 0;
    cr_assert (eq (int, child_reap (&curl, 10000), 0));
    return found;
}

//  Run zmesh with every node of the mesh as a peer and up to four more
//  arguments; its stdout into output, and its exit code.
static int
s_zmesh (char *output, size_t size, const char *a, const char *b,
         const char *c, const char *d)
{
    const char *names [] = {"user", "order", "inventory", "payment", "gateway"};
    char *argv [20] = {ZMESH};
    char settings [5][320];
    int argc = 1;
    for (int node = 0; node < 5; node++) {
        snprintf (settings [node], sizeof settings [node],
                  "peers/%s/calls=%.255s", names [node], calls [node]);
        argv [argc++] = "--set";
        argv [argc++] = settings [node];
    }
    const char *rest [] = {a, b, c, d};
    for (int index = 0; index < 4 && rest [index]; index++)
        argv [argc++] = (char *) rest [index];
    argv [argc] = NULL;
    child_t cli = child_spawn (argv);
    char line [4096];
    size_t used = 0;
    *output = 0;
    while (child_read_line (cli.out, line, sizeof line, 10000))
        used += (size_t) snprintf (output + used, size - used, "%s", line);
    return child_reap (&cli, 10000);
}

//  Run zmesh --json trace flow with every node as a peer; its records.
static json_t *
s_trace (const char *flow, char *line, size_t size)
{
    cr_assert (eq (int, s_zmesh (line, size, "--json", "trace", flow, NULL),
                   0));
    json_t *records = json_loads (line, 0, NULL);
    cr_assert (records != NULL && json_typeof (records) == JSON_ARRAY, "%s",
               line);
    return records;
}

//  zmesh trace gathers the flow from all five nodes: the gateway's call,
//  the order node serving it, calling the user node and publishing, the
//  others receiving and publishing, each at its depth under its cause.
static void
s_trace_shows_the_flow (const char *flow)
{
    struct {
        const char *node, *what, *name;
        int depth;
    } expected [] = {{"gateway", "made", "order.create", 0},
                     {"order", "served", "order.create", 1},
                     {"order", "made", "user.get", 2},
                     {"user", "served", "user.get", 3},
                     {"order", "published", "order.placed", 2},
                     {"inventory", "received", "order.placed", 3},
                     {"inventory", "published", "inventory.reserved", 4},
                     {"payment", "received", "inventory.reserved", 5},
                     {"order", "received", "inventory.reserved", 5},
                     {"payment", "published", "payment.processed", 6},
                     {"order", "received", "payment.processed", 7},
                     //  Under whichever of the two came to the order last
                     {"order", "published", "order.paid", -1}};
    size_t count = sizeof expected / sizeof expected [0];
    int depths [sizeof expected / sizeof expected [0]];
    static char line [65536];
    //  The order may be paid before it has taken inventory.reserved: ask
    //  again until every record is there
    int64_t deadline = zclock_mono () + 10000;
    bool all = false;
    while (!all) {
        json_t *records = s_trace (flow, line, sizeof line);
        all = true;
        for (size_t want = 0; want < count; want++) {
            depths [want] = -1;
            size_t index;
            json_t *record;
            json_array_foreach (records, index, record) {
                cr_assert (eq (str, (char *) json_string_value (
                                   json_object_get (record, "cid")),
                               (char *) flow));
                if (streq (json_string_value (json_object_get (record, "node")),
                           expected [want].node)
                    && streq (json_string_value (json_object_get (record,
                                                                  "what")),
                              expected [want].what)
                    && streq (json_string_value (json_object_get (record,
                                                                  "name")),
                              expected [want].name))
                    depths [want] = (int) json_integer_value (
                        json_object_get (record, "depth"));
            }
            all &= depths [want] >= 0;
        }
        json_decref (records);
        if (zclock_mono () > deadline)
            break;
        if (!all)
            zclock_sleep (200);
    }
    for (size_t want = 0; want < count; want++)
        if (expected [want].depth < 0)
            cr_assert (depths [want] == 6 || depths [want] == 8,
                       "order.paid at %d", depths [want]);
        else
            cr_assert (eq (int, depths [want], expected [want].depth),
                       "%s %s %s in %s", expected [want].node,
                       expected [want].what, expected [want].name, line);
}

Test (gateway, orders_over_http_keep_the_clients_correlation_id)
{
    s_mesh ();
    http_t health = http_request (http_port, "GET", "/health", NULL, NULL);
    cr_assert (eq (int, health.status, 200));
    cr_assert (strlen (health.correlation) == 36, "every answer has one");

    http_t user = http_request (http_port, "POST", "/users",
                            "{\"name\": \"Ada\", \"email\": \"ada@example.org\"}",
                            NULL);
    cr_assert (eq (int, user.status, 201));
    char user_id [64];
    snprintf (user_id, sizeof user_id, "%s", s_field (&user, "id"));
    http_t fetched;
    char path [128];
    snprintf (path, sizeof path, "/users/%s", user_id);
    fetched = http_request (http_port, "GET", path, NULL, NULL);
    cr_assert (eq (int, fetched.status, 200));
    cr_assert (eq (str, (char *) s_field (&fetched, "name"), "Ada"));

    const char *flow = "0c0ffee0-0000-4000-8000-000000000042";
    char order_body [256];
    snprintf (order_body, sizeof order_body,
              "{\"userId\": \"%s\", \"items\": [{\"productId\": \"p-book\", "
              "\"quantity\": 2, \"price\": 1250}]}", user_id);
    http_t order = http_request (http_port, "POST", "/orders", order_body, flow);
    cr_assert (eq (int, order.status, 201));
    cr_assert (eq (str, order.correlation, (char *) flow));
    char order_id [64];
    snprintf (order_id, sizeof order_id, "%s", s_field (&order, "id"));

    snprintf (path, sizeof path, "/orders/%s", order_id);
    http_t state = {0};
    int64_t deadline = zclock_mono () + 15000;
    while (zclock_mono () < deadline) {
        json_decref (state.body);
        state = http_request (http_port, "GET", path, NULL, NULL);
        if (streq (s_field (&state, "status"), "paid"))
            break;
        zclock_sleep (100);
    }
    cr_assert (eq (str, (char *) s_field (&state, "status"), "paid"));
    json_t *history = json_object_get (state.body, "history");
    size_t index;
    json_t *entry;
    json_array_foreach (history, index, entry)
        cr_assert (eq (str, (char *) json_string_value (json_object_get (
                                entry, "correlation")), (char *) flow),
                   "every event of the order is on the client's flow");

    s_trace_shows_the_flow (flow);

    //  The other verbs, against the demo mesh
    static char output [16384];
    cr_assert (eq (int, s_zmesh (output, sizeof output, "status", NULL, NULL,
                                 NULL), 0), "%s", output);
    int up = 0;
    for (const char *at = output; (at = strstr (at, " up ")); at++)
        up++;
    cr_assert (eq (int, up, 5), "%s", output);
    char request [128];
    snprintf (request, sizeof request, "{\"id\": \"%s\"}", user_id);
    cr_assert (eq (int, s_zmesh (output, sizeof output, "call", "user",
                                 "user.get", request), 0));
    cr_assert (strstr (output, "\"Ada\"") != NULL, "%s", output);
    cr_assert (eq (int, s_zmesh (output, sizeof output, "dlq", "list", "order",
                                 NULL), 0));
    cr_assert (eq (str, output, "[]\n"));
    cr_assert (eq (int, s_zmesh (output, sizeof output, "publish", "user",
                                 "user.noted", "{\"n\": 1}"), 0));
    cr_assert (strstr (output, "\"seq\"") != NULL, "%s", output);

    http_t metrics = http_request (http_port, "GET", "/metrics", NULL, NULL);
    cr_assert (eq (int, metrics.status, 200));
    cr_assert (eq (int, s_metric ("zmesh_http_requests_total"), 1), "listed");
    cr_assert (eq (int, s_metric ("zmesh_call_duration_seconds_count{node=\""
                                  "gateway\",service=\"order\"}"), 1),
               "the gateway's calls to order, by their latency");
    json_decref (health.body);
    json_decref (user.body);
    json_decref (fetched.body);
    json_decref (order.body);
    json_decref (state.body);
    s_stop_nodes (0);
}

//  A W3C traceparent at the edge: the flow is its trace (the correlation
//  id is the trace id), the client's span is the parent of the gateway's
//  request, every record of the flow names its span, and the answer's
//  traceparent names the request's. One that is not valid is passed
//  over; an answer that made no call returns the client's own.
Test (gateway, a_traceparent_goes_on_through_the_mesh)
{
    s_mesh ();
    const char *given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const char *flow = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736";
    char header [128];
    snprintf (header, sizeof header, "traceparent: %s", given);
    http_t user = http_request_with (NULL, http_port, "POST", "/users",
                                     "{\"name\": \"Ada\", \"email\": "
                                     "\"ada@example.org\"}", header);
    cr_assert (eq (int, user.status, 201));
    cr_assert (eq (str, user.correlation, (char *) flow));
    cr_assert (eq (sz, strlen (user.traceparent), ZMESH_TRACEPARENT_LEN),
               "%s", user.traceparent);
    cr_assert (eq (int, strncmp (user.traceparent, given, 36), 0),
               "the same trace: %s", user.traceparent);
    cr_assert (strcmp (user.traceparent + 36, given + 36) != 0,
               "the gateway's request is a span of its own");
    //  The records of the flow: the gateway's call under the client's
    //  span, the user node's serving of the same request, each with the
    //  span the answer named
    static char line [65536];
    json_t *records = NULL;
    int64_t deadline = zclock_mono () + 10000;
    while (true) {
        records = s_trace (flow, line, sizeof line);
        if (json_array_size (records) >= 2 || zclock_mono () > deadline)
            break;
        json_decref (records);
        zclock_sleep (100);
    }
    int made = 0, served = 0;
    size_t index;
    json_t *record;
    json_array_foreach (records, index, record) {
        const char *traceparent = json_string_value (json_object_get (
            record, "traceparent"));
        cr_assert (traceparent && strncmp (traceparent, given, 36) == 0,
                   "%s", line);
        const char *what = json_string_value (json_object_get (record, "what"));
        if (streq (what, "made") || streq (what, "served")) {
            cr_assert (eq (str, (char *) traceparent, user.traceparent));
            const char *parent = json_string_value (json_object_get (
                record, "parent_span"));
            cr_assert (parent != NULL, "%s", line);
            cr_assert (eq (str, (char *) parent, "00f067aa0ba902b7"));
            made += streq (what, "made");
            served += streq (what, "served");
        }
    }
    cr_assert (eq (int, made, 1), "%s", line);
    cr_assert (eq (int, served, 1), "%s", line);
    json_decref (records);
    //  Not valid, or of another trace: passed over
    http_t health = http_request_with (NULL, http_port, "GET", "/health", NULL,
                                       "traceparent: 00-4bf92f3577b34da6a3ce"
                                       "929d0e0e4736-0000000000000000-01");
    cr_assert (eq (int, health.status, 200));
    cr_assert (strcmp (health.correlation, flow) != 0);
    cr_assert (eq (str, health.traceparent, ""));
    http_t other = http_request_with (NULL, http_port, "GET", "/health", NULL,
                                      "traceparent: 00-0af7651916cd43dd8448eb2"
                                      "11c80319c-b7ad6b7169203331-01");
    cr_assert (eq (str, other.traceparent,
                   "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
               "an answer without a call returns the client's own");
    json_decref (user.body);
    json_decref (health.body);
    json_decref (other.body);
    s_stop_nodes (0);
}

Test (gateway, bad_requests_get_clear_errors)
{
    s_mesh ();
    struct {
        const char *method, *path, *body;
        int status;
        const char *mention;
    } cases [] = {
        {"POST", "/orders", "{\"userId\": ", 400, "JSON"},
        {"POST", "/orders", "[1, 2]", 400, "object"},
        {"POST", "/orders", "{\"userId\": \"u\"}", 400, "items"},
        {"POST", "/users", "{\"name\": 7}", 400, "name"},
        {"POST", "/orders",
         "{\"userId\": \"00000000-0000-4000-8000-000000000000\", \"items\": "
         "[{\"productId\": \"p\", \"quantity\": 1, \"price\": 1}]}", 422,
         "unknown user"},
        {"GET", "/users/nobody", NULL, 400, "user id"},
        //  Not UTF-8 once decoded: these once aborted the gateway.
        {"GET", "/users/%ff", NULL, 400, "user id"},
        {"GET", "/orders/%c3", NULL, 400, "order id"},
        {"GET", "/nowhere", NULL, 404, "no such route"},
        {"DELETE", "/users", NULL, 405, "no such route"},
        {"POST", "/users", NULL, 413, "64 KiB"},     //  Body below
    };
    static char oversize [70000];
    memset (oversize, ' ', sizeof oversize - 1);
    memcpy (oversize, "{\"name\": \"", 10);
    cases [sizeof cases / sizeof cases [0] - 1].body = oversize;
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        http_t response = http_request (http_port, cases [index].method, cases [index].path,
                                    cases [index].body, NULL);
        cr_assert (eq (int, response.status, cases [index].status),
                   "%s %s", cases [index].method, cases [index].path);
        const char *error = s_field (&response, "error");
        cr_assert (strstr (error, cases [index].mention) != NULL,
                   "'%s' lacks '%s'", error, cases [index].mention);
        json_decref (response.body);
    }
    //  HTTP/1.1 without Host is refused (curl sends none with "Host:").
    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/health", http_port);
    char *argv [] = {"/usr/bin/curl", "-s", "-o", "/dev/null", "-w",
                     "%{http_code}\n", "-H", "Host:", url, NULL};
    child_t curl = child_spawn (argv);
    char line [64] = "";
    cr_assert (child_read_line (curl.out, line, sizeof line, 10000));
    cr_assert (eq (str, line, "400\n"), "without Host: %s", line);
    cr_assert (eq (int, child_reap (&curl, 10000), 0));
    //  The user service down: 503 and Retry-After, within the deadline.
    child_kill (&nodes [0]);
    int64_t started = zclock_mono ();
    http_t response = http_request (http_port, "POST", "/orders",
                                "{\"userId\": \"00000000-0000-4000-8000-00000000"
                                "0001\", \"items\": [{\"productId\": \"p\", "
                                "\"quantity\": 1, \"price\": 1}]}", NULL);
    int64_t elapsed = zclock_mono () - started;
    cr_assert (eq (int, response.status, 503));
    cr_assert (eq (str, response.retry_after, "1"));
    cr_assert (le (i64, elapsed, 5000 + 1000), "took %" PRId64 " ms", elapsed);
    json_decref (response.body);
    s_stop_nodes (1);               //  The user node was killed
}

//  A node of the test's that calls service at calls [node].
static zmesh_node_t *
s_probe (int node, const char *service)
{
    char setting [320];
    snprintf (setting, sizeof setting, "peers/%s/calls=%.255s", service,
              calls [node]);
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "probe");
    cr_assert (eq (int, zmesh_node_config_set (&config, setting, NULL), 0));
    zmesh_node_t *probe = zmesh_node_new (&config, NULL, NULL, NULL);
    cr_assert (probe != NULL);
    return probe;
}

//  The gateway takes a node's command line: --version, and --name, which
//  its replies carry as their source.
Test (gateway, takes_its_name_and_says_its_version_on_the_command_line)
{
    char program [300], line [600];
    snprintf (program, sizeof program, "%s/zmesh-gateway", NODES_DIR);
    char *version [] = {program, "--version", NULL};
    child_t child = child_spawn (version);
    cr_assert (child_read_line (child.out, line, sizeof line, 5000));
    cr_assert (strncmp (line, "zmesh ", 6) == 0, "%s", line);
    cr_assert (eq (int, child_reap (&child, 5000), 0));
    char settings [3][300];
    snprintf (settings [0], sizeof settings [0], "node/data=%s/gw", dir);
    snprintf (settings [1], sizeof settings [1], "node/events=ipc://%s/gw-e",
              dir);
    snprintf (settings [2], sizeof settings [2], "node/calls=ipc://%s/gw-c",
              dir);
    char *named [] = {program, "--name", "gw-9", "--set", settings [0],
                      "--set", settings [1], "--set", settings [2],
                      "--set", "service/http_port=0", NULL};
    child = child_spawn (named);
    cr_assert (child_read_line (child.out, line, sizeof line, 5000));
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "probe");
    char peer [320];
    snprintf (peer, sizeof peer, "peers/gw/calls=ipc://%s/gw-c", dir);
    cr_assert (eq (int, zmesh_node_config_set (&config, peer, NULL), 0));
    zmesh_node_t *probe = zmesh_node_new (&config, NULL, NULL, NULL);
    cr_assert (probe != NULL);
    zmesh_envelope_t *reply = NULL;
    cr_assert (eq (int, zmesh_node_call (probe, "gw", "zmesh.stats", NULL, 0,
                                         5000, &reply, NULL), ZMESH_OK));
    cr_assert (eq (str, (char *) zmesh_envelope_source (reply), "gw-9"));
    zmesh_envelope_destroy (&reply);
    zmesh_node_destroy (&probe);
    cr_assert (eq (int, child_stop (&child, 10000), 0));
}

//  A counter of service's zmesh.stats, asked through probe.
static long
s_counter (zmesh_node_t *probe, const char *service, const char *counter)
{
    zmesh_envelope_t *reply = NULL;
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_call (probe, service, "zmesh.stats", NULL,
                                         0, 5000, &reply, &detail), ZMESH_OK),
               "%s", detail.text);
    const char *value = zmesh_envelope_header (reply, counter);
    long count = value ? strtol (value, NULL, 10) : -1;
    zmesh_envelope_destroy (&reply);
    return count;
}

//  Wait until the gateway has made count calls: a request it took has
//  gone into the mesh.
static void
s_wait_gateway_calls (long count)
{
    zmesh_node_t *probe = s_probe (4, "gateway");
    int64_t deadline = zclock_mono () + 10000;
    while (s_counter (probe, "gateway", "calls_made") < count
           && zclock_mono () < deadline)
        zclock_sleep (20);
    cr_assert (eq (i32, (int) s_counter (probe, "gateway", "calls_made"),
                   (int) count));
    zmesh_node_destroy (&probe);
}

//  Make a user called name, and the body of an order of one pen for them
//  (order, 256 bytes). The user's response, which the caller frees.
static http_t
s_user_and_order (const char *name, char *order)
{
    char body [128];
    snprintf (body, sizeof body, "{\"name\": \"%s\", \"email\": \"%s@x.org\"}",
              name, name);
    http_t user = http_request (http_port, "POST", "/users", body, NULL);
    cr_assert (eq (int, user.status, 201));
    snprintf (order, 256,
              "{\"userId\": \"%s\", \"items\": [{\"productId\": \"p-pen\", "
              "\"quantity\": 1, \"price\": 300}]}", s_field (&user, "id"));
    return user;
}

//  POST order with curl in the background; it prints the status code.
static child_t
s_post_order (const char *order)
{
    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/orders", http_port);
    char *argv [] = {"/usr/bin/curl", "-s", "-o", "/dev/null", "-w",
                     "%{http_code}\n", "-H", "Content-Type: application/json",
                     "--data", (char *) order, url, NULL};
    return child_spawn (argv);
}

//  The background POST's answer: the order placed (201), within 30 s.
static void
s_expect_placed (child_t *post)
{
    char line [64] = "";
    cr_assert (child_read_line (post->out, line, sizeof line, 30000));
    cr_assert (eq (str, line, "201\n"), "POST /orders answered %s", line);
    cr_assert (eq (int, child_reap (post, 10000), 0));
}

//  Each HTTP request has a thread of its own at the gateway: while one
//  waits on a stopped order node, others are answered.
Test (gateway, a_stopped_service_holds_up_only_the_requests_to_it)
{
    //  One attempt that may wait 20 s, so the order is answered once the
    //  order node goes on.
    s_mesh_with ("service/http_port=0 retry/attempt_timeout=0 "
                 "timing/call_timeout=20000");
    char path [128], order [256];
    http_t user = s_user_and_order ("Cy", order);
    snprintf (path, sizeof path, "/users/%s", s_field (&user, "id"));

    cr_assert (eq (int, kill (nodes [1].pid, SIGSTOP), 0));
    child_t post = s_post_order (order);
    s_wait_gateway_calls (2);       //  Until it has sent order.create

    http_t fetched = http_request (http_port, "GET", path, NULL, NULL);
    cr_assert (eq (int, fetched.status, 200));
    cr_assert (eq (str, (char *) s_field (&fetched, "name"), "Cy"));
    http_t health = http_request (http_port, "GET", "/health", NULL, NULL);
    cr_assert (eq (int, health.status, 200));

    //  The order was still waiting: it is placed once the node goes on.
    cr_assert (eq (int, kill (nodes [1].pid, SIGCONT), 0));
    s_expect_placed (&post);
    json_decref (user.body);
    json_decref (fetched.body);
    json_decref (health.body);
    s_stop_nodes (0);
}

//  The bulkhead at the edge: with the order node stopped and at most four
//  calls in flight to it, the fifth and sixth orders are refused at once,
//  and the four are placed once it goes on.
Test (gateway, a_full_bulkhead_refuses_at_once_and_the_rest_are_placed)
{
    enum { ORDERS = 6, SLOTS = 4 };
    s_mesh_with ("service/http_port=0 retry/attempt_timeout=0 "
                 "timing/call_timeout=20000 calls/max_in_flight=4");
    char order [256];
    http_t user = s_user_and_order ("Di", order);
    cr_assert (eq (int, kill (nodes [1].pid, SIGSTOP), 0));
    child_t posts [ORDERS];
    bool answered [ORDERS] = {false};
    for (int index = 0; index < ORDERS; index++)
        posts [index] = s_post_order (order);

    //  Those over the bulkhead are answered while the node is stopped
    int refused = 0;
    int64_t deadline = zclock_mono () + 10000;
    while (refused < ORDERS - SLOTS && zclock_mono () < deadline) {
        for (int index = 0; index < ORDERS; index++) {
            char line [64];
            if (!answered [index]
                && child_read_line (posts [index].out, line, sizeof line, 0)) {
                cr_assert (eq (str, line, "503\n"), "refused with %s", line);
                answered [index] = true;
                refused++;
            }
        }
        zclock_sleep (20);
    }
    cr_assert (eq (int, refused, ORDERS - SLOTS));

    cr_assert (eq (int, kill (nodes [1].pid, SIGCONT), 0));
    for (int index = 0; index < ORDERS; index++) {
        char line [64] = "";
        if (!answered [index]) {
            cr_assert (child_read_line (posts [index].out, line, sizeof line,
                                        30000));
            cr_assert (eq (str, line, "201\n"), "placed, not %s", line);
        }
        cr_assert (eq (int, child_reap (&posts [index], 10000), 0));
    }
    json_decref (user.body);
    s_stop_nodes (0);
}

//  True while pid runs: there, and not a zombie waiting for its parent
//  (what zmesh up starts outlives it; init reaps it in its own time).
static bool
s_runs (pid_t pid)
{
    char path [64], stat [256] = "";
    snprintf (path, sizeof path, "/proc/%ld/stat", (long) pid);
    FILE *file = fopen (path, "r");
    size_t got = file ? fread (stat, 1, sizeof stat - 1, file) : 0;
    if (file)
        fclose (file);
    stat [got] = 0;
    const char *state = strrchr (stat, ')');
    return got && state && state [2] != 'Z' && state [2] != 'X';
}

//  zmesh up starts the nodes a mesh file gives this host, detached, and
//  they work as a mesh; zmesh down stops every one of them.
Test (gateway, zmesh_up_and_down_run_the_mesh_of_a_file)
{
    char mesh [128], run [128];
    snprintf (mesh, sizeof mesh, "%s/mesh.zpl", dir);
    snprintf (run, sizeof run, "%s/run", dir);
    FILE *file = fopen (mesh, "w");
    cr_assert (file != NULL);
    fprintf (file, "mesh\n    programs = %s\n    run = %s\nhost\n"
             "    here = 127.0.0.1\n    elsewhere = 192.0.2.1\nnode\n", NODES_DIR,
             run);
    const char *names [] = {"user", "order", "inventory", "payment", "gateway"};
    const char *peers [] = {"", "user inventory payment", "order", "inventory",
                            "user order"};
    for (int node = 0; node < 5; node++)
        fprintf (file, "    %s\n        host = here\n"
                 "        events = ipc://%s/%s-events\n"
                 "        calls = ipc://%s/%s-calls\n"
                 "        data = %s/%s\n        peers = \"%s\"\n", names [node],
                 dir, names [node], dir, names [node], dir, names [node],
                 peers [node]);
    fprintf (file, "        set\n            service/http_port = 0\n"
             "    stray\n        host = elsewhere\n");
    fclose (file);

    char *up [] = {ZMESH, "up", mesh, NULL};
    child_t cli = child_spawn (up);
    char line [512];
    int lines = 0;
    while (child_read_line (cli.out, line, sizeof line, 20000))
        lines += strstr (line, "zmesh: up: ") != NULL;
    cr_assert (eq (int, child_reap (&cli, 20000), 0));
    cr_assert (eq (int, lines, 5), "one line per node of this host");

    //  The gateway says its port in its log; a user goes in and comes out
    char log [160];
    snprintf (log, sizeof log, "%s/gateway.log", run);
    file = fopen (log, "r");
    int port = 0;
    while (file && fgets (line, sizeof line, file) && !port)
        sscanf (line, "http=%d", &port);
    if (file)
        fclose (file);
    cr_assert (port > 0);
    http_t user = http_request (port, "POST", "/users",
                                "{\"name\": \"Bo\", \"email\": \"bo@x.org\"}",
                                NULL);
    cr_assert (eq (int, user.status, 201));
    json_decref (user.body);

    //  Up again starts nothing twice
    cli = child_spawn (up);
    lines = 0;
    while (child_read_line (cli.out, line, sizeof line, 20000))
        lines += strstr (line, "running already") != NULL;
    cr_assert (eq (int, child_reap (&cli, 20000), 0));
    cr_assert (eq (int, lines, 5));

    //  Down stops them all: their pids are gone
    pid_t pids [5];
    for (int node = 0; node < 5; node++) {
        char path [160];
        snprintf (path, sizeof path, "%s/%s.pid", run, names [node]);
        file = fopen (path, "r");
        long pid = 0;
        cr_assert (file && fscanf (file, "%ld", &pid) == 1);
        fclose (file);
        pids [node] = (pid_t) pid;
    }
    char *down [] = {ZMESH, "down", mesh, NULL};
    cli = child_spawn (down);
    lines = 0;
    while (child_read_line (cli.out, line, sizeof line, 30000))
        lines += strstr (line, "zmesh: down: ") != NULL;
    cr_assert (eq (int, child_reap (&cli, 30000), 0));
    cr_assert (eq (int, lines, 5));
    for (int node = 0; node < 5; node++)
        cr_assert (s_runs (pids [node]) == false, "%s still runs",
                   names [node]);
    //  The deployment recipe's mesh file reads, and gives a host it does
    //  not name nothing (named, so that a machine that happens to have one
    //  of its 10.0.0.x addresses starts nothing either)
    char *recipe [] = {ZMESH, "--run", run, "--host", "nowhere", "up",
                       SOURCE_DIR "/deploy/mesh.zpl", NULL};
    cli = child_spawn (recipe);
    lines = 0;
    while (child_read_line (cli.out, line, sizeof line, 5000))
        lines++;
    cr_assert (eq (int, child_reap (&cli, 5000), 1));
    cr_assert (eq (int, lines, 0), "started nothing");
    char *bad [] = {ZMESH, "up", "/nonexistent/mesh.zpl", NULL};
    cr_assert (eq (int, child_run (bad, 5000), 1));
}

//  zmesh up keeps to a run directory that is its user's alone, and
//  follows no link planted in it: another user could otherwise have it
//  overwrite files or signal processes.
Test (gateway, zmesh_up_keeps_to_a_run_directory_of_its_own)
{
    char mesh [128], run [128], victim [128], log [160], pidfile [160];
    snprintf (mesh, sizeof mesh, "%s/mesh.zpl", dir);
    snprintf (run, sizeof run, "%s/run", dir);
    snprintf (victim, sizeof victim, "%s/victim", dir);
    snprintf (log, sizeof log, "%s/user.log", run);
    snprintf (pidfile, sizeof pidfile, "%s/user.pid", run);
    FILE *file = fopen (mesh, "w");
    cr_assert (file != NULL);
    fprintf (file, "mesh\n    programs = %s\n    run = %s\nnode\n    user\n"
             "        events = ipc://%s/user-events\n"
             "        calls = ipc://%s/user-calls\n        data = %s/user\n",
             NODES_DIR, run, dir, dir, dir);
    fclose (file);
    file = fopen (victim, "w");
    cr_assert (file != NULL);
    fputs ("precious\n", file);
    fclose (file);
    char *up [] = {ZMESH, "up", mesh, NULL};
    //  Writable by others: refused, nothing started
    cr_assert (eq (int, mkdir (run, 0700), 0));
    cr_assert (eq (int, chmod (run, 0777), 0));
    cr_assert (eq (int, child_run (up, 20000), 1), "a run directory 0777");
    cr_assert (access (pidfile, F_OK) != 0);
    //  A link planted where the log goes: not followed, the node not run
    cr_assert (eq (int, chmod (run, 0700), 0));
    cr_assert (eq (int, symlink (victim, log), 0));
    cr_assert (eq (int, child_run (up, 20000), 1), "a link as the log");
    char line [64] = "";
    file = fopen (victim, "r");
    cr_assert (file && fgets (line, sizeof line, file));
    fclose (file);
    cr_assert (eq (str, line, "precious\n"), "the victim file is intact");
    //  Its own directory, clean: up, with files of its own, and down
    cr_assert (eq (int, unlink (log), 0));
    cr_assert (eq (int, child_run (up, 20000), 0));
    struct stat info;
    cr_assert (eq (int, stat (pidfile, &info), 0));
    cr_assert (eq (int, info.st_mode & 077, 0), "the pid file is 0600");
    cr_assert (eq (int, stat (log, &info), 0));
    cr_assert (eq (int, info.st_mode & 077, 0), "the log is 0600");
    char *down [] = {ZMESH, "down", mesh, NULL};
    cr_assert (eq (int, child_run (down, 30000), 0));
    cr_assert (access (pidfile, F_OK) != 0, "down took its pid file");
}

//  Between nodes too, a stopped service holds up only what needs it: with
//  the user node stopped and orders waiting on user.get, the order node
//  goes on answering GET /orders/{id} and keeps its heartbeats' period.
Test (gateway, a_stopped_user_node_holds_up_only_the_orders_that_need_it)
{
    enum { POSTS = 8, GETS = 10 };
    s_mesh ();
    char order [256], path [128];
    http_t user = s_user_and_order ("Ed", order);
    http_t placed = http_request (http_port, "POST", "/orders", order, NULL);
    cr_assert (eq (int, placed.status, 201));
    snprintf (path, sizeof path, "/orders/%s", s_field (&placed, "id"));
    zmesh_node_t *client = s_probe (1, "order");
    cr_assert (eq (int, kill (nodes [0].pid, SIGSTOP), 0));
    child_t posts [POSTS];
    for (int index = 0; index < POSTS; index++)
        posts [index] = s_post_order (order);
    long beats = s_counter (client, "order", "heartbeats_sent");
    int64_t started = zclock_mono ();
    for (int index = 0; index < GETS; index++) {
        //  No wait for user.get: far below a call's 5 s deadline.
        int64_t asked = zclock_mono ();
        http_t fetched = http_request (http_port, "GET", path, NULL, NULL);
        int64_t took = zclock_mono () - asked;
        cr_assert (eq (int, fetched.status, 200), "GET %d of %d", index + 1,
                   GETS);
        cr_assert (lt (i64, took, 2000), "GET %d took %" PRId64 " ms",
                   index + 1, took);
        json_decref (fetched.body);
    }
    //  Three periods at least, and a heartbeat in each (timing/heartbeat
    //  is 1000 ms): none held up by the orders waiting.
    while (zclock_mono () - started < 3500)
        zclock_sleep (100);
    long beaten = s_counter (client, "order", "heartbeats_sent") - beats;
    cr_assert (ge (i64, beaten, 3), "%ld heartbeats in 3.5 s", beaten);

    //  The user node goes on: every waiting order is answered, placed or,
    //  if its deadline passed, refused as unavailable.
    cr_assert (eq (int, kill (nodes [0].pid, SIGCONT), 0));
    for (int index = 0; index < POSTS; index++) {
        char line [64] = "";
        cr_assert (child_read_line (posts [index].out, line, sizeof line,
                                    30000));
        bool answered = streq (line, "201\n") || streq (line, "503\n");
        cr_assert (answered, "POST /orders answered %s", line);
        cr_assert (eq (int, child_reap (&posts [index], 10000), 0));
    }
    zmesh_node_destroy (&client);
    json_decref (user.body);
    json_decref (placed.body);
    s_stop_nodes (0);
}

//  A gateway told to stop answers the requests it has taken, takes no
//  more, and exits cleanly.
Test (gateway, sigterm_answers_the_requests_in_flight_then_exits)
{
    s_mesh_with ("service/http_port=0 retry/attempt_timeout=0 "
                 "timing/call_timeout=20000");
    char order [256];
    http_t user = s_user_and_order ("Fay", order);
    cr_assert (eq (int, kill (nodes [1].pid, SIGSTOP), 0));
    child_t post = s_post_order (order);
    s_wait_gateway_calls (2);
    cr_assert (eq (int, kill (nodes [4].pid, SIGTERM), 0));
    //  A new connection is not served: refused (curl's 7), or, while the
    //  listening socket stays open until the gateway exits, left in its
    //  backlog unanswered (28, after curl's second) or reset (56)
    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/health", http_port);
    char *argv [] = {"/usr/bin/curl", "-s", "-m", "1", "-o", "/dev/null", url,
                     NULL};
    int64_t deadline = zclock_mono () + 5000;
    int refused = 0;
    while ((refused = child_run (argv, 10000)) == 0
           && zclock_mono () < deadline)
        zclock_sleep (50);
    cr_assert (refused == 7 || refused == 28 || refused == 56,
               "curl exited %d", refused);
    //  The order in flight is placed once the order node goes on.
    cr_assert (eq (int, kill (nodes [1].pid, SIGCONT), 0));
    s_expect_placed (&post);
    cr_assert (eq (int, child_reap (&nodes [4], 10000), 0), "exits cleanly");
    json_decref (user.body);
    //  A node whose repair waits on the order node, stopped for a while,
    //  may take timing/drain (5 s) to go
    for (int node = 3; node >= 0; node--)
        cr_assert (eq (int, child_stop (&nodes [node], 10000), 0));
}

//  A service node told to stop finishes what it has in flight first: an
//  order waiting on user.get is placed, and then the order node exits.
Test (gateway, sigterm_lets_a_node_finish_its_calls_in_flight)
{
    s_mesh_with ("service/http_port=0 retry/attempt_timeout=0 "
                 "timing/call_timeout=20000");
    char order [256];
    http_t user = s_user_and_order ("Gil", order);
    zmesh_node_t *probe = s_probe (1, "order");
    long made = s_counter (probe, "order", "calls_made");
    cr_assert (eq (int, kill (nodes [0].pid, SIGSTOP), 0));
    child_t post = s_post_order (order);
    //  Until the order node has called user.get for it
    int64_t deadline = zclock_mono () + 10000;
    while (s_counter (probe, "order", "calls_made") <= made
           && zclock_mono () < deadline)
        zclock_sleep (20);
    cr_assert (gt (i64, s_counter (probe, "order", "calls_made"), made));
    zmesh_node_destroy (&probe);
    cr_assert (eq (int, kill (nodes [1].pid, SIGTERM), 0));
    cr_assert (eq (int, kill (nodes [0].pid, SIGCONT), 0));
    s_expect_placed (&post);
    cr_assert (eq (int, child_reap (&nodes [1], 10000), 0), "exits cleanly");
    json_decref (user.body);
    //  Each may take timing/drain (5 s) to go, as in the test above
    cr_assert (eq (int, child_stop (&nodes [4], 10000), 0));
    for (int node = 3; node >= 2; node--)
        cr_assert (eq (int, child_stop (&nodes [node], 10000), 0));
    cr_assert (eq (int, child_stop (&nodes [0], 10000), 0));
}

//  POST order until it is placed (201), within timeout_ms; how long it
//  took, or -1.
static int64_t
s_until_placed (const char *order, int64_t timeout_ms)
{
    int64_t started = zclock_mono ();
    while (zclock_mono () - started < timeout_ms) {
        http_t response = http_request (http_port, "POST", "/orders", order,
                                        NULL);
        json_decref (response.body);
        if (response.status == 201)
            return zclock_mono () - started;
        cr_assert (eq (int, response.status, 503), "while down: 503 only");
        zclock_sleep (50);
    }
    return -1;
}

//  Recovery takes as long as the fault, not as long as a breaker's timer:
//  orders are placed again within 3 s of a crashed node's restart.
Test (gateway, orders_are_placed_within_3_s_of_a_crashed_node_coming_back)
{
    s_mesh ();
    char order [256];
    http_t user = s_user_and_order ("Hal", order);
    const char *order_peers [] = {"user", "inventory", "payment", NULL};
    const char *names [] = {"user", "order"};
    for (int node = 0; node < 2; node++) {
        //  Killed, with no goodbye; orders refused until the breakers of
        //  the instance that died have opened.
        child_kill (&nodes [node]);
        for (int index = 0; index < 4; index++) {
            http_t refused = http_request (http_port, "POST", "/orders", order,
                                           NULL);
            cr_assert (eq (int, refused.status, 503), "%s down",
                       names [node]);
            json_decref (refused.body);
        }
        nodes [node] = child_start_service (NODES_DIR, dir, names [node],
                                            node ? order_peers : NULL, NULL,
                                            NULL, 0);
        int64_t took = s_until_placed (order, 10000);
        cr_assert (ge (i64, took, 0), "no order placed after %s came back",
                   names [node]);
        cr_assert (le (i64, took, 3000), "%s back: placed after %" PRId64
                   " ms", names [node], took);
        fprintf (stderr, "recovery: %s back, an order placed %" PRId64
                 " ms later\n", names [node], took);
    }
    json_decref (user.body);
    s_stop_nodes (0);
}

typedef struct {
    const char *type;
    int count;
} s_tally_t;

static bool
s_tally (const zmesh_stored_event_t *event, void *arg)
{
    s_tally_t *tally = arg;
    tally->count += streq (event->type, tally->type);
    return true;
}

//  How many events of type the order node's store holds.
static int
s_orders_with (const char *type)
{
    char path [128];
    snprintf (path, sizeof path, "%s/order/order.db", dir);
    zmesh_store_t *store = zmesh_store_open (path, false, NULL);
    cr_assert (store != NULL);
    s_tally_t tally = {.type = type};
    zmesh_store_read_all (store, 1, 0, s_tally, &tally, NULL);
    zmesh_store_close (&store);
    return tally.count;
}

//  How many orders the order node's store holds.
static int
s_orders_placed (void)
{
    return s_orders_with ("order.placed");
}

//  POST order four times: each refused with 503.
static void
s_expect_refused (const char *order, const char *why)
{
    for (int index = 0; index < 4; index++) {
        http_t refused = http_request (http_port, "POST", "/orders", order,
                                       NULL);
        cr_assert (eq (int, refused.status, 503), "%s: %d", why,
                   refused.status);
        json_decref (refused.body);
    }
}

//  The order node's disk fills, then frees: orders are refused (503) while
//  it is full, and placed again within 3 s of the space coming back. As
//  root the disk is a small tmpfs, filled up to the last block; a file-size
//  limit put on the node (prlimit) does the same, as any user.
Test (gateway, orders_are_placed_within_3_s_of_disk_space_coming_back)
{
    bool root = geteuid () == 0;
    if (root) {
        snprintf (mounted, sizeof mounted, "%s/order", dir);
        cr_assert (eq (int, mkdir (mounted, 0700), 0));
        cr_assert (eq (int, mount ("tmpfs", mounted, "tmpfs", 0,
                                   "size=8m,mode=0700"), 0),
                   "mount: %s", strerror (errno));
    }
    s_mesh ();
    char order [256];
    http_t user = s_user_and_order ("Kim", order);
    http_t first = http_request (http_port, "POST", "/orders", order, NULL);
    cr_assert (eq (int, first.status, 201));
    json_decref (first.body);
    int placed = 1;
    if (root) {
        char fill [160];
        snprintf (fill, sizeof fill, "%s/fill", mounted);
        int file = open (fill, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        cr_assert (file >= 0);
        static char block [65536];
        while (write (file, block, sizeof block) > 0)
            ;
        cr_assert (eq (int, errno, ENOSPC), "filled: %s", strerror (errno));
        close (file);
        //  Pages the store's files hold already may take a few more
        int before = placed;
        for (int index = 0; index < 50 && placed == before + index; index++) {
            http_t more = http_request (http_port, "POST", "/orders", order,
                                        NULL);
            cr_assert (more.status == 201 || more.status == 503, "%d",
                       more.status);
            placed += more.status == 201;
            json_decref (more.body);
        }
        cr_assert (lt (int, placed - before, 50), "the disk never fills");
        s_expect_refused (order, "the disk full");
        cr_assert (eq (int, unlink (fill), 0));
        int64_t took = s_until_placed (order, 10000);
        cr_assert (ge (i64, took, 0), "no order placed after the disk freed");
        cr_assert (le (i64, took, 3000), "placed %" PRId64 " ms after the "
                   "disk freed", took);
        fprintf (stderr, "recovery: disk space back, an order placed %" PRId64
                 " ms later\n", took);
        placed++;
    }
    //  No write past the file's first byte: every commit fails, with EFBIG
    struct rlimit before, tight;
    cr_assert (eq (int, prlimit (nodes [1].pid, RLIMIT_FSIZE, NULL, &before),
                   0));
    tight = (struct rlimit) {1, before.rlim_max};
    cr_assert (eq (int, prlimit (nodes [1].pid, RLIMIT_FSIZE, &tight, NULL),
                   0));
    s_expect_refused (order, "no file may grow");
    cr_assert (eq (int, prlimit (nodes [1].pid, RLIMIT_FSIZE, &before, NULL),
                   0));
    int64_t took = s_until_placed (order, 10000);
    cr_assert (ge (i64, took, 0), "no order placed after the limit went");
    cr_assert (le (i64, took, 3000), "placed %" PRId64 " ms after the limit "
               "went", took);
    fprintf (stderr, "recovery: file-size limit lifted, an order placed %"
             PRId64 " ms later\n", took);
    placed++;
    //  Every order answered 201 is there
    cr_assert (ge (int, s_orders_placed (), placed));
    json_decref (user.body);
    s_stop_nodes (0);
}

//  The same Idempotency-Key makes one order and one user, across restarts
//  of the gateway and the order node, and a key reused for another order
//  gets 422.
Test (gateway, an_idempotency_key_makes_one_order_across_restarts)
{
    s_mesh ();
    char body [128];
    snprintf (body, sizeof body, "{\"name\": \"Ivy\", \"email\": "
              "\"ivy@x.org\"}");
    const char *user_key = "Idempotency-Key: user-ivy-1";
    http_t user = http_request_with (NULL, http_port, "POST", "/users", body,
                                     user_key);
    cr_assert (eq (int, user.status, 201));
    http_t again = http_request_with (NULL, http_port, "POST", "/users", body,
                                      user_key);
    cr_assert (eq (int, again.status, 201));
    cr_assert (eq (str, (char *) s_field (&again, "id"),
                   (char *) s_field (&user, "id")), "the same user");
    char order [256];
    snprintf (order, sizeof order,
              "{\"userId\": \"%s\", \"items\": [{\"productId\": "
              "\"p-pen\", \"quantity\": 2, \"price\": 300}]}",
              s_field (&user, "id"));
    const char *order_key = "Idempotency-Key: order-ivy-1";
    http_t first = http_request_with (NULL, http_port, "POST", "/orders",
                                      order, order_key);
    cr_assert (eq (int, first.status, 201));
    //  The gateway and the order node restart: the key is remembered in
    //  the order's own stream.
    cr_assert (eq (int, child_stop (&nodes [4], 5000), 0));
    cr_assert (eq (int, child_stop (&nodes [1], 5000), 0));
    const char *order_peers [] = {"user", "inventory", "payment", NULL};
    const char *gateway_peers [] = {"user", "order", NULL};
    nodes [1] = child_start_service (NODES_DIR, dir, "order", order_peers,
                                     NULL, NULL, 0);
    char line [600];
    nodes [4] = child_start_service (NODES_DIR, dir, "gateway", gateway_peers,
                                     "service/http_port=0", line,
                                     sizeof line);
    cr_assert (sscanf (line, "http=%d", &http_port) == 1, "%s", line);
    http_t second = {0};
    int64_t deadline = zclock_mono () + 10000;
    do {
        json_decref (second.body);
        second = http_request_with (NULL, http_port, "POST", "/orders", order,
                                    order_key);
    } while (second.status == 503 && zclock_mono () < deadline
             && (zclock_sleep (100), true));
    cr_assert (eq (int, second.status, 201));
    cr_assert (eq (str, (char *) s_field (&second, "id"),
                   (char *) s_field (&first, "id")), "the same order");
    cr_assert (eq (int, s_orders_placed (), 1), "one order in the store");
    //  The key again, for another order: 422, and still one order.
    char other [256];
    snprintf (other, sizeof other,
              "{\"userId\": \"%s\", \"items\": [{\"productId\": "
              "\"p-pen\", \"quantity\": 3, \"price\": 300}]}",
              s_field (&user, "id"));
    http_t reused = http_request_with (NULL, http_port, "POST", "/orders",
                                       other, order_key);
    cr_assert (eq (int, reused.status, 422));
    cr_assert (eq (int, s_orders_placed (), 1));
    //  A key that is not one (over 255 characters): 400
    char long_key [300];
    snprintf (long_key, sizeof long_key, "Idempotency-Key: %0280d", 7);
    http_t bad = http_request_with (NULL, http_port, "POST", "/orders", other,
                                    long_key);
    cr_assert (eq (int, bad.status, 400), "a long key: %d", bad.status);
    json_decref (user.body);
    json_decref (again.body);
    json_decref (first.body);
    json_decref (second.body);
    json_decref (reused.body);
    json_decref (bad.body);
    s_stop_nodes (0);
}

//  Idle connections from one client cannot take the gateway: past its
//  share, that client's are turned away, and others are served.
Test (gateway, idle_connections_from_one_client_do_not_stop_health)
{
    enum { IDLE = 520 };
    s_mesh ();
    static int sockets [IDLE];
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons ((uint16_t) http_port)};
    inet_pton (AF_INET, "127.0.0.1", &address.sin_addr);
    int opened = 0;
    for (int index = 0; index < IDLE; index++) {
        sockets [index] = socket (AF_INET, SOCK_STREAM, 0);
        if (sockets [index] >= 0
            && connect (sockets [index], (struct sockaddr *) &address,
                        sizeof address) == 0)
            opened++;
    }
    cr_assert (gt (int, opened, 128));
    //  Another client (127.0.0.2, still loopback) is answered, at once
    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/health", http_port);
    char *argv [] = {"/usr/bin/curl", "-s", "-m", "5", "--interface",
                     "127.0.0.2", "-o", "/dev/null", "-w", "%{http_code}\n",
                     url, NULL};
    child_t curl = child_spawn (argv);
    char line [64] = "";
    cr_assert (child_read_line (curl.out, line, sizeof line, 10000));
    cr_assert (eq (str, line, "200\n"), "GET /health answered %s", line);
    cr_assert (eq (int, child_reap (&curl, 10000), 0));
    for (int index = 0; index < IDLE; index++)
        if (sockets [index] >= 0)
            close (sockets [index]);
    s_stop_nodes (0);
}

//  A listening socket on 127.0.0.1 at a port of the kernel's choice, for
//  the test to hold across restarts of the gateway; its port in port.
static int
s_listen (int *port)
{
    int socket_fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert (socket_fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET};
    inet_pton (AF_INET, "127.0.0.1", &address.sin_addr);
    socklen_t size = sizeof address;
    cr_assert (eq (int, bind (socket_fd, (struct sockaddr *) &address,
                              sizeof address), 0));
    cr_assert (eq (int, listen (socket_fd, 128), 0));
    cr_assert (eq (int, getsockname (socket_fd, (struct sockaddr *) &address,
                                     &size), 0));
    *port = ntohs (address.sin_port);
    return socket_fd;
}

//  A rolling restart of the whole mesh under load: each node in turn is
//  told to stop (SIGTERM) and started again, the gateway on a listening
//  socket that outlives it, as systemd's socket activation keeps one. No
//  request is refused, and each order is placed once and settled once:
//  the stock of 100 pens paid for by 100 orders, the rest cancelled.
Test (gateway, a_rolling_restart_under_load_refuses_nothing_and_loses_nothing)
{
    enum { WORKERS = 4, EACH_MAX = 1500, STOCK = 100 };
    int port = 0;
    listener = s_listen (&port);
    s_mesh ();
    cr_assert (eq (int, http_port, port), "the gateway serves the socket");
    char order [256];
    http_t user = s_user_and_order ("Jo", order);
    //  Each worker POSTs an order after another, until told to stop (at
    //  most EACH_MAX), and prints each status code (000: no answer).
    char stop [128], url [128], script [1024];
    snprintf (stop, sizeof stop, "%s/stop-load", dir);
    snprintf (url, sizeof url, "http://127.0.0.1:%d/orders", port);
    snprintf (script, sizeof script,
              "i=0; while [ ! -e '%s' ] && [ $i -lt %d ]; do "
              "curl -s -m 30 -o /dev/null -w '%%{http_code}\\n' "
              "-H 'Content-Type: application/json' --data '%s' '%s'; "
              "i=$((i+1)); done", stop, EACH_MAX, order, url);
    char *argv [] = {"/bin/sh", "-c", script, NULL};
    child_t workers [WORKERS];
    for (int index = 0; index < WORKERS; index++)
        workers [index] = child_spawn (argv);
    const char *names [] = {"user", "order", "inventory", "payment",
                            "gateway"};
    const char *peers [][4] = {{NULL}, {"user", "inventory", "payment", NULL},
                               {"order", NULL}, {"inventory", NULL},
                               {"user", "order", NULL}};
    const char *extra [] = {NULL, NULL, "service/stock=100",
                            "service/limit=100000", "service/http_port=0"};
    zclock_sleep (500);
    for (int node = 0; node < 5; node++) {
        cr_assert (eq (int, child_stop (&nodes [node], 10000), 0),
                   "%s stops cleanly", names [node]);
        nodes [node] = s_start (names [node], peers [node], extra [node]);
        zclock_sleep (500);
    }
    //  The load goes on until the stock has run out (a slower build, under
    //  a sanitizer, takes longer), within 30 s
    int64_t until = zclock_mono () + 30000;
    while (s_orders_placed () <= 2 * STOCK && zclock_mono () < until)
        zclock_sleep (100);
    FILE *flag = fopen (stop, "w");
    cr_assert (flag != NULL);
    fclose (flag);
    int answered [6] = {0}, sent = 0;
    char line [64];
    for (int index = 0; index < WORKERS; index++) {
        while (child_read_line (workers [index].out, line, sizeof line,
                                40000)) {
            int status = atoi (line);
            answered [status / 100 < 6 ? status / 100 : 0]++;
            sent++;
        }
        cr_assert (eq (int, child_reap (&workers [index], 10000), 0));
    }
    fprintf (stderr, "rolling restart: %d POSTs, %d placed, %d refused "
             "(%d 5xx, %d 4xx, %d with no answer)\n", sent, answered [2],
             sent - answered [2], answered [5], answered [4], answered [0]);
    cr_assert (gt (int, sent, 2 * STOCK), "under load");
    cr_assert (eq (int, answered [2], sent), "every POST placed its order");
    //  None lost, none twice: one order.placed each, and each settled once
    int64_t deadline = zclock_mono () + 30000;
    while (s_orders_with ("order.paid") + s_orders_with ("order.cancelled")
           < sent && zclock_mono () < deadline)
        zclock_sleep (100);
    cr_assert (eq (int, s_orders_placed (), sent));
    cr_assert (eq (int, s_orders_with ("order.paid"), STOCK));
    cr_assert (eq (int, s_orders_with ("order.cancelled"), sent - STOCK));
    json_decref (user.body);
    s_stop_nodes (0);
}

//  /metrics is the gateway's own: a scrape asks no other node for its
//  counters, so a peer that never answers cannot slow it down (each node
//  serves its own at its admin endpoint).
Test (gateway, metrics_wait_on_no_peer)
{
    char silent [160], extra [300];
    snprintf (silent, sizeof silent, "ipc://%s/silent-calls", dir);
    zsock_t *router = zsock_new_router (silent);
    cr_assert (router != NULL);
    snprintf (extra, sizeof extra, "service/http_port=0 peers/user/calls=%s",
              silent);
    nodes [4] = s_start ("gateway", NULL, extra);
    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/metrics", http_port);
    char *argv [] = {"/usr/bin/curl", "-s", "-m", "10", url, NULL};
    int64_t asked = zclock_mono ();
    child_t curl = child_spawn (argv);
    char line [512];
    bool requests = false, node = false;
    const char *ours = "zmesh_calls_total{node=\"gateway\"} ";
    while (child_read_line (curl.out, line, sizeof line, 10000)) {
        requests |= strncmp (line, "zmesh_http_requests_total ", 26) == 0;
        node |= strncmp (line, ours, strlen (ours)) == 0;
    }
    cr_assert (eq (int, child_reap (&curl, 10000), 0));
    cr_assert (lt (i64, zclock_mono () - asked, 2000), "answered at once");
    cr_assert (requests, "the gateway's HTTP counters");
    cr_assert (node, "and its node's");
    cr_assert (eq (int, zsock_events (router) & ZMQ_POLLIN, 0),
               "nothing asked of the peer");
    cr_assert (eq (int, child_stop (&nodes [4], 5000), 0));
    zsock_destroy (&router);
}
