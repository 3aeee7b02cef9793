/*  test_gateway.c - the demo mesh end to end over HTTP: five node processes
    driven with curl.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include "zmesh.h"
#include "child.h"
#include "http.h"

static char dir [64];
static int http_port;
static child_t nodes [5];

static void
s_setup (void)
{
    child_dir_make (dir, "gateway");
}

static void
s_teardown (void)
{
    child_cleanup ();
    child_dir_remove (dir);
}

TestSuite (gateway, .init = s_setup, .fini = s_teardown, .timeout = 120);

static child_t
s_start (const char *service, const char *const *peers, const char *extra)
{
    char line [600];
    child_t child = child_start_service (NODES_DIR, dir, service, peers,
                                         extra, line, sizeof line);
    if (streq (service, "gateway"))
        cr_assert (sscanf (line, "http=%d", &http_port) == 1, "%s", line);
    return child;
}

static void
s_mesh (void)
{
    const char *order_peers [] = {"user", "inventory", "payment", NULL};
    const char *inventory_peers [] = {"order", NULL};
    const char *payment_peers [] = {"inventory", NULL};
    const char *gateway_peers [] = {"user", "order", NULL};
    nodes [0] = s_start ("user", NULL, NULL);
    nodes [1] = s_start ("order", order_peers, NULL);
    nodes [2] = s_start ("inventory", inventory_peers, "service/stock=100");
    nodes [3] = s_start ("payment", payment_peers, "service/limit=100000");
    nodes [4] = s_start ("gateway", gateway_peers, "service/http_port=0");
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

    http_t metrics = http_request (http_port, "GET", "/metrics", NULL, NULL);
    cr_assert (eq (int, metrics.status, 200));
    cr_assert (eq (int, s_metric ("zmesh_calls_total"), 1), "listed");
    cr_assert (eq (int, s_metric ("zmesh_node_events_consumed{node=\"order\"}"),
                   1), "the order node's own counters are there");
    json_decref (health.body);
    json_decref (user.body);
    json_decref (fetched.body);
    json_decref (order.body);
    json_decref (state.body);
    for (int node = 4; node >= 0; node--)
        cr_assert (eq (int, child_stop (&nodes [node], 5000), 0));
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
        {"GET", "/nowhere", NULL, 404, "no such route"},
        {"DELETE", "/users", NULL, 405, "no such route"},
    };
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
    for (int node = 4; node >= 1; node--)
        cr_assert (eq (int, child_stop (&nodes [node], 5000), 0));
}
