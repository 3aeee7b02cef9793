/*  test_hosts.c - nodes on several hosts: three network namespaces joined
    by veth pairs on a bridge, which the suite creates and removes.

    Host 1 runs a gossip seed and the echo service, host 2 the relay, and
    this test's own node joins host 3. Nobody is configured with anyone but
    the seed: the rest is found through the gossip directory. Echo is then
    killed and started again on host 2, and reached there.

    The addresses are link-local (169.254.213.0/24) and exist only inside
    the namespaces; nothing here touches the machine's own interfaces.
    Creating namespaces needs root: without it the suite is skipped, and
    says so.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include "zmesh.h"
#include "child.h"
#include "http.h"

#define HOSTS 3
#define SUBNET "169.254.213."

static char prefix [16];         //  zm<pid>: names of our namespaces, links
static bool created;
static bool ready;               //  All hosts are up
static char unready [200];       //  Why they are not
static zmesh_node_t *client;     //  This test's node, on host 3

//  Run a shell command; returns its exit status.
static int
s_run (const char *format, ...)
{
    char command [512];
    va_list args;
    va_start (args, format);
    vsnprintf (command, sizeof command, format, args);
    va_end (args);
    int status = system (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static char recipe [64];         //  The recipe test's directory, or ""

//  Stop what zmesh up started on each host of the recipe (zmesh down).
static void
s_recipe_down (void)
{
    for (int host = 1; *recipe && host <= HOSTS; host++) {
        char run [128];
        snprintf (run, sizeof run, "%s/run-%d", recipe, host);
        char *argv [] = {ZMESH, "--run", run, "down", NULL};
        child_run (argv, 30000);
    }
}

static void
s_teardown (void)
{
    //  On a failed assertion the test body is gone mid-way: stop what it
    //  started here, before the namespaces go.
    zmesh_node_destroy (&client);
    s_recipe_down ();
    if (*recipe)
        child_dir_remove (recipe);
    *recipe = 0;
    child_cleanup ();
    if (!created)
        return;
    //  Deleting a namespace deletes the links in it, the bridge included.
    for (int host = 1; host <= HOSTS; host++)
        s_run ("ip netns del %sh%d 2>/dev/null", prefix, host);
    s_run ("ip netns del %ssw 2>/dev/null", prefix);
    created = false;
}

//  Hosts h1..h3 at SUBNET.1..3, each a veth to a bridge in namespace sw.
//  Where namespaces cannot be made (no root; a chroot whose / is not a
//  mount point, which ip netns needs), the tests say so and are skipped.
static void
s_setup (void)
{
    snprintf (prefix, sizeof prefix, "zm%d", getpid () % 100000);
    if (geteuid () != 0) {
        snprintf (unready, sizeof unready, "creating network namespaces "
                  "needs root");
        return;
    }
    created = true;
    ready = s_run ("ip netns add %ssw && "
                   "ip -n %ssw link add br0 type bridge && "
                   "ip -n %ssw link set br0 up", prefix, prefix, prefix) == 0;
    for (int host = 1; ready && host <= HOSTS; host++)
        ready = s_run (
            "ip netns add %1$sh%2$d && "
            "ip link add %1$sh%2$d type veth peer name %1$ss%2$d && "
            "ip link set %1$sh%2$d netns %1$sh%2$d && "
            "ip link set %1$ss%2$d netns %1$ssw && "
            "ip -n %1$ssw link set %1$ss%2$d master br0 up && "
            "ip -n %1$sh%2$d addr add " SUBNET "%2$d/24 dev %1$sh%2$d && "
            "ip -n %1$sh%2$d link set %1$sh%2$d up && "
            "ip -n %1$sh%2$d link set lo up", prefix, host) == 0;
    if (!ready) {
        snprintf (unready, sizeof unready, "'ip netns' could not build the "
                  "hosts here (see its message above)");
        s_teardown ();          //  Take down what was made
    }
}

//  Skip, saying why, unless the hosts are up.
static void
s_need_hosts (void)
{
    if (!ready)
        cr_skip_test ("the multi-host suite: %s; skipped, not passed",
                      unready);
}

TestSuite (hosts, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  Start a testnode with role on host, binding its events and calls at
//  ports base and base + 1; extra is one more setting, or NULL.
static child_t
s_start (int host, const char *role, int base, const char *extra)
{
    char ns [32], events [64], calls [64], seed [64], timing [3][32];
    snprintf (ns, sizeof ns, "%sh%d", prefix, host);
    snprintf (events, sizeof events, "node/events=tcp://" SUBNET "%d:%d", host,
              base);
    snprintf (calls, sizeof calls, "node/calls=tcp://" SUBNET "%d:%d", host,
              base + 1);
    snprintf (seed, sizeof seed, "gossip/seed=tcp://" SUBNET "1:5670");
    snprintf (timing [0], sizeof timing [0], "timing/heartbeat=100");
    snprintf (timing [1], sizeof timing [1], "timing/quiet=300");
    snprintf (timing [2], sizeof timing [2], "timing/gone=1000");
    char *argv [24] = {"/usr/sbin/ip", "netns", "exec", ns, TESTNODE,
                       "--role", (char *) role, "--set", events, "--set",
                       calls, "--set", timing [0], "--set", timing [1],
                       "--set", timing [2], "--set",
                       extra ? (char *) extra : seed, NULL};
    child_t child = child_spawn (argv);
    char line [600];
    cr_assert (child_read_line (child.out, line, sizeof line, 5000),
               "%s on host %d did not start", role, host);
    return child;
}

static int
s_stop (child_t *child)
{
    return child_stop (child, 2000);
}

//  Join this process to host's network namespace: must happen before the
//  first ZeroMQ socket, whose I/O thread then starts inside it.
static void
s_join (int host)
{
    char path [64];
    snprintf (path, sizeof path, "/var/run/netns/%sh%d", prefix, host);
    int fd = open (path, O_RDONLY);
    cr_assert (fd >= 0, "no namespace at %s", path);
    cr_assert (eq (int, setns (fd, CLONE_NEWNET), 0));
    close (fd);
}

static int
s_events_seen;

static void
s_count (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg)
{
    (void) node, (void) arg;
    if (streq (zmesh_envelope_type (event), "echo.said")
        || streq (zmesh_envelope_type (event), "relay.started"))
        s_events_seen++;
}

//  True if an instance of service is alive (at calls, if not NULL).
static bool
s_alive (zmesh_node_t *node, const char *service, const char *calls)
{
    for (size_t index = 0; index < zmesh_node_peer_count (node); index++) {
        zmesh_peer_info_t info;
        zmesh_node_peer (node, index, &info);
        if (streq (info.service, service) && info.state == ZMESH_PEER_ALIVE
            && (!calls || streq (info.calls, calls)))
            return true;
    }
    return false;
}

//  Poll until relay.start succeeds end to end, at most timeout_ms.
static int
s_call_until_ok (zmesh_node_t *node, int timeout_ms, zmesh_detail_t *detail)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    int rc = ZMESH_ERR_TIMEOUT;
    while (zclock_mono () < deadline) {
        zmesh_envelope_t *reply = NULL;
        rc = zmesh_node_call (node, "relay", "relay.start", "\xc0", 1, 1000,
                              &reply, detail);
        zmesh_envelope_destroy (&reply);
        if (rc == ZMESH_OK)
            break;
        zmesh_node_poll (node, 100);
    }
    return rc;
}

Test (hosts, events_calls_and_gossip_cross_hosts_and_survive_a_move)
{
    s_need_hosts ();
    child_t seed = s_start (1, "seed", 5600, "gossip/bind=tcp://" SUBNET
                                             "1:5670");
    child_t echo = s_start (1, "echo", 5610, NULL);
    child_t relay = s_start (2, "relay", 5620, NULL);

    s_join (3);
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "client");
    const char *settings [] = {
        "node/events=tcp://" SUBNET "3:5630", "node/calls=tcp://" SUBNET "3:5631",
        "gossip/seed=tcp://" SUBNET "1:5670", "timing/heartbeat=100",
        "timing/quiet=300", "timing/gone=1000", NULL};
    for (int index = 0; settings [index]; index++)
        cr_assert (eq (int, zmesh_node_config_set (&config, settings [index],
                                                   NULL), 0));
    zmesh_detail_t detail = {""};
    client = zmesh_node_new (&config, NULL, NULL, &detail);
    cr_assert (client != NULL, "%s", detail.text);
    zmesh_node_subscribe (client, "echo.said", s_count, NULL);
    zmesh_node_subscribe (client, "relay.*", s_count, NULL);

    //  Found through gossip alone, and heard from across the bridge.
    int64_t deadline = zclock_mono () + 10000;
    while (!(s_alive (client, "echo", NULL) && s_alive (client, "relay", NULL))
           && zclock_mono () < deadline)
        zmesh_node_poll (client, 100);
    cr_assert (s_alive (client, "echo", NULL) && s_alive (client, "relay", NULL),
               "gossip did not bring both services to host 3");

    //  A call from host 3 to host 2, which calls host 1; events from both.
    cr_assert (eq (int, s_call_until_ok (client, 5000, &detail), ZMESH_OK),
               "%s", detail.text);
    deadline = zclock_mono () + 5000;
    while (s_events_seen < 2 && zclock_mono () < deadline)
        zmesh_node_poll (client, 100);
    cr_assert (ge (int, s_events_seen, 2), "events did not cross hosts");

    //  Echo dies on host 1 and comes back on host 2, on new endpoints:
    //  gossip tells everyone, and both this node and the relay reach it.
    cr_assert (eq (int, s_stop (&echo), 0));
    echo = s_start (2, "echo", 5640, NULL);
    //  Its goodbye marks the old instance gone at once.
    const char *old = "tcp://" SUBNET "1:5611", *moved = "tcp://" SUBNET "2:5641";
    deadline = zclock_mono () + 10000;
    while ((s_alive (client, "echo", old) || !s_alive (client, "echo", moved))
           && zclock_mono () < deadline)
        zmesh_node_poll (client, 100);
    cr_assert (s_alive (client, "echo", moved), "echo not heard on host 2");
    cr_assert (not (s_alive (client, "echo", old)), "old echo still alive");
    zmesh_envelope_t *reply = NULL;
    cr_assert (eq (int, zmesh_node_call (client, "echo", "echo.say", "\x01", 1,
                                         2000, &reply, &detail), ZMESH_OK),
               "%s", detail.text);
    zmesh_envelope_destroy (&reply);
    cr_assert (eq (int, s_call_until_ok (client, 15000, &detail), ZMESH_OK),
               "the relay did not reach echo on its new host: %s",
               detail.text);

    zmesh_node_destroy (&client);
    cr_assert (eq (int, s_stop (&echo), 0));
    cr_assert (eq (int, s_stop (&relay), 0));
    cr_assert (eq (int, s_stop (&seed), 0));
}

//  A demo service on host, at ports base (events) and base + 1 (calls),
//  with its peers (name:host:base) given statically.
static child_t
s_service (int host, const char *service, int base, const char *const *peers,
           const char *extra)
{
    char ns [32], program [300], settings [16][200];
    snprintf (ns, sizeof ns, "%sh%d", prefix, host);
    snprintf (program, sizeof program, "%s/zmesh-%s", NODES_DIR, service);
    int count = 0;
    snprintf (settings [count++], 200, "node/events=tcp://" SUBNET "%d:%d",
              host, base);
    snprintf (settings [count++], 200, "node/calls=tcp://" SUBNET "%d:%d",
              host, base + 1);
    snprintf (settings [count++], 200, "node/data=/tmp/%s-%s", prefix,
              service);
    snprintf (settings [count++], 200, "timing/heartbeat=100");
    for (int index = 0; peers && peers [index]; index++) {
        char name [32];
        int peer_host, peer_base;
        cr_assert (sscanf (peers [index], "%31[^:]:%d:%d", name, &peer_host,
                           &peer_base) == 3);
        snprintf (settings [count++], 200,
                  "peers/%s/events=tcp://" SUBNET "%d:%d", name, peer_host,
                  peer_base);
        snprintf (settings [count++], 200,
                  "peers/%s/calls=tcp://" SUBNET "%d:%d", name, peer_host,
                  peer_base + 1);
    }
    if (extra)
        snprintf (settings [count++], 200, "%s", extra);
    char *argv [40] = {"/usr/sbin/ip", "netns", "exec", ns, program};
    int argc = 5;
    for (int index = 0; index < count; index++) {
        argv [argc++] = "--set";
        argv [argc++] = settings [index];
    }
    argv [argc] = NULL;
    child_t child = child_spawn (argv);
    char line [600];
    cr_assert (child_read_line (child.out, line, sizeof line, 5000),
               "%s on host %d did not start", service, host);
    return child;
}

static const char *
s_text (const http_t *response, const char *key)
{
    const char *value = json_string_value (json_object_get (response->body,
                                                            key));
    return value ? value : "";
}

//  Create a user and place an order through the gateway at address:8080
//  under flow; it must be paid (it crosses every host), and every event of
//  the order must carry flow.
static void
s_order_gets_paid (const char *address, const char *flow)
{
    http_t user = http_request_to (address, 8080, "POST", "/users",
                                   "{\"name\": \"Ada\", \"email\": "
                                   "\"ada@example.org\"}", NULL);
    cr_assert (eq (int, user.status, 201));
    char body [256];
    snprintf (body, sizeof body, "{\"userId\": \"%s\", \"items\": "
              "[{\"productId\": \"p-1\", \"quantity\": 1, \"price\": 99}]}",
              s_text (&user, "id"));
    http_t order = http_request_to (address, 8080, "POST", "/orders", body,
                                    flow);
    cr_assert (eq (int, order.status, 201));
    char path [128];
    snprintf (path, sizeof path, "/orders/%s", s_text (&order, "id"));
    http_t state = {0};
    int64_t deadline = zclock_mono () + 20000;
    while (zclock_mono () < deadline) {
        json_decref (state.body);
        state = http_request_to (address, 8080, "GET", path, NULL, NULL);
        if (streq (s_text (&state, "status"), "paid"))
            break;
        zclock_sleep (100);
    }
    cr_assert (eq (str, (char *) s_text (&state, "status"), "paid"),
               "the order crossed three hosts and back");
    json_t *history = json_object_get (state.body, "history");
    size_t index;
    json_t *entry;
    json_array_foreach (history, index, entry)
        cr_assert (eq (str, (char *) json_string_value (json_object_get (
                                entry, "correlation")), (char *) flow));
    json_decref (user.body);
    json_decref (order.body);
    json_decref (state.body);
}

Test (hosts, the_demo_mesh_spread_over_hosts_takes_orders_over_http)
{
    s_need_hosts ();
    //  user and order on host 1, inventory and payment on host 2, the
    //  gateway and this test (curl) on host 3.
    const char *order_peers [] = {"user:1:5800", "inventory:2:5820",
                                  "payment:2:5830", NULL};
    const char *inventory_peers [] = {"order:1:5810", NULL};
    const char *payment_peers [] = {"inventory:2:5820", NULL};
    const char *gateway_peers [] = {"user:1:5800", "order:1:5810", NULL};
    s_service (1, "user", 5800, NULL, NULL);
    s_service (1, "order", 5810, order_peers, NULL);
    s_service (2, "inventory", 5820, inventory_peers, NULL);
    s_service (2, "payment", 5830, payment_peers, NULL);
    s_service (3, "gateway", 5840, gateway_peers,
               "service/http_host=" SUBNET "3");
    s_join (3);

    s_order_gets_paid (SUBNET "3", "0c0ffee0-0000-4000-8000-00000000ab5e");
    child_cleanup ();
    char command [128];
    snprintf (command, sizeof command, "rm -rf /tmp/%s-*", prefix);
    cr_assert (system (command) == 0);
}

//  docs/deploy.md's recipe, as written: deploy/mesh.zpl on three hosts
//  with a key per node, brought up with zmesh up on each host (which finds
//  its nodes by its own address). The file is the recipe's, with its
//  addresses (10.0.0.N) and paths (/etc, /var/lib, /run, /usr/local/bin)
//  moved into this suite's namespaces and directory.
//  Run curl for http://host:7790/health inside namespace ns; what it
//  printed (the status, or 000) and its exit code.
static int
s_health_from (const char *ns, const char *host, char *status, size_t size)
{
    char url [96];
    snprintf (url, sizeof url, "http://%s:7790/health", host);
    char *argv [] = {"/usr/sbin/ip", "netns", "exec", (char *) ns,
                     "/usr/bin/curl", "-s", "-m", "3", "-o", "/dev/null",
                     "-w", "%{http_code}\n", url, NULL};
    child_t curl = child_spawn (argv);
    *status = 0;
    child_read_line (curl.out, status, size, 10000);
    return child_reap (&curl, 10000);
}

//  service/http_host is where the gateway listens, and only there: a name
//  that does not resolve stops it at start, never leaving it on every
//  interface, and "localhost" is served on the host's loopback and not to
//  another host. (In a namespace of its own, looking a name up sends
//  nothing off the machine.)
Test (hosts, the_gateway_listens_where_http_host_says)
{
    s_need_hosts ();
    char ns [32], other [32], program [300];
    snprintf (ns, sizeof ns, "%sh1", prefix);
    snprintf (other, sizeof other, "%sh2", prefix);
    snprintf (program, sizeof program, "%s/zmesh-gateway", NODES_DIR);
    char *unresolved [] = {"/usr/sbin/ip", "netns", "exec", ns, program,
                           "--set", "node/events=tcp://127.0.0.1:7788",
                           "--set", "node/calls=tcp://127.0.0.1:7789",
                           "--set", "service/http_port=7790",
                           "--set", "service/http_host=no-such-host.invalid",
                           NULL};
    cr_assert (eq (int, child_run (unresolved, 20000), 2),
               "a host that does not resolve stops the gateway");
    char *local [] = {"/usr/sbin/ip", "netns", "exec", ns, program,
                      "--set", "node/events=tcp://127.0.0.1:7788",
                      "--set", "node/calls=tcp://127.0.0.1:7789",
                      "--set", "service/http_port=7790",
                      "--set", "service/http_host=localhost", NULL};
    child_t gateway = child_spawn (local);
    char line [600];
    cr_assert (child_read_line (gateway.out, line, sizeof line, 10000));
    cr_assert (strncmp (line, "http=7790", 9) == 0, "%s", line);
    char status [32];
    cr_assert (eq (int, s_health_from (ns, "localhost", status, sizeof status),
                   0));
    cr_assert (eq (str, status, "200\n"), "served on its loopback");
    int refused = s_health_from (other, SUBNET "1", status, sizeof status);
    cr_assert (ne (int, refused, 0), "not served to another host (%s)",
               status);
    refused = s_health_from (ns, SUBNET "1", status, sizeof status);
    cr_assert (ne (int, refused, 0), "nor on the host's own address (%s)",
               status);
    cr_assert (eq (int, child_stop (&gateway, 10000), 0));
}

Test (hosts, the_deployment_recipe_runs_on_three_hosts)
{
    s_need_hosts ();
    child_dir_make (recipe, "recipe");
    char keys [128], path [160];
    snprintf (keys, sizeof keys, "%s/keys", recipe);
    const char *names [] = {"user", "gateway", "order", "inventory",
                            "payment"};
    for (int index = 0; index < 5; index++) {
        char *argv [] = {ZMESH, "keygen", (char *) names [index], keys, NULL};
        cr_assert (eq (int, child_run (argv, 5000), 0));
    }
    //  The recipe's file, moved
    FILE *in = fopen (SOURCE_DIR "/deploy/mesh.zpl", "r");
    snprintf (path, sizeof path, "%s/mesh.zpl", recipe);
    FILE *out = fopen (path, "w");
    cr_assert (in && out);
    char line [512];
    struct {
        const char *from;
        char to [160];
    } moves [] = {{"10.0.0.", SUBNET}, {"/etc/zmesh/keys", ""},
                  {"/var/lib/zmesh", ""}, {"/usr/local/bin", NODES_DIR},
                  {"/run/zmesh", ""}};
    snprintf (moves [1].to, sizeof moves [1].to, "%s", keys);
    snprintf (moves [2].to, sizeof moves [2].to, "%s/data", recipe);
    snprintf (moves [4].to, sizeof moves [4].to, "%s/run", recipe);
    while (fgets (line, sizeof line, in)) {
        char moved [1024] = "";
        size_t used = 0;
        for (const char *at = line; *at && used + 1 < sizeof moved;) {
            size_t which = 0;
            while (which < 5 && strncmp (at, moves [which].from,
                                         strlen (moves [which].from)))
                which++;
            if (which < 5) {
                used += (size_t) snprintf (moved + used, sizeof moved - used,
                                           "%s", moves [which].to);
                at += strlen (moves [which].from);
            }
            else {
                moved [used++] = *at++;
                moved [used] = 0;
            }
        }
        fputs (moved, out);
    }
    fclose (in);
    fclose (out);

    //  zmesh up on each host: two nodes on a, one on b, two on c
    int expected [] = {2, 1, 2};
    for (int host = 1; host <= HOSTS; host++) {
        char ns [32], run [128];
        snprintf (ns, sizeof ns, "%sh%d", prefix, host);
        snprintf (run, sizeof run, "%s/run-%d", recipe, host);
        char *argv [] = {"/usr/sbin/ip", "netns", "exec", ns, ZMESH, "--run",
                         run, "up", path, NULL};
        child_t up = child_spawn (argv);
        int started = 0;
        while (child_read_line (up.out, line, sizeof line, 30000))
            started += strstr (line, "zmesh: up: ") != NULL;
        cr_assert (eq (int, child_reap (&up, 30000), 0), "up on host %d",
                   host);
        cr_assert (eq (int, started, expected [host - 1]), "host %d", host);
    }
    //  An order through the gateway on host a, from host c
    s_join (3);
    s_order_gets_paid (SUBNET "1", "0c0ffee0-0000-4000-8000-00000000ab5f");
    s_recipe_down ();
}
