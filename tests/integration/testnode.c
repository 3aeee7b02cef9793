/*  testnode.c - a zmesh node process with a role, for the integration
    suites.

        zmesh_testnode --role echo|relay|stuck|seed [--name N]
                       [--set path=value]...

    Prints "events=<endpoint> calls=<endpoint>" once it is up, then serves
    until SIGINT or SIGTERM, and exits 0.

    echo    serves echo.say: replies with the request's body, and headers
            request-id and request-causation; publishes echo.said; takes
            every event its peers publish, and ignores it.
    relay   serves relay.start: publishes relay.started, calls echo.say on
            service echo, and replies with the echo reply's body and headers.
    stuck   serves stuck.sleep, which blocks for 1500 ms, and stuck.ping.
    seed    serves nothing of its own: a gossip directory for the others.

    Part of zmesh. MIT License.
*/
#include <getopt.h>
#include "zmesh.h"

static void
s_echo_say (zmesh_node_t *node, const zmesh_envelope_t *request,
            zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    char text [ZMESH_UUID_STR_LEN + 1];
    zmesh_envelope_set_header (reply, "request-id",
                               zmesh_uuid_unparse (zmesh_envelope_id (request),
                                                   text));
    const zmesh_uuid_t *cause = zmesh_envelope_causation (request);
    zmesh_envelope_set_header (reply, "request-causation",
                               cause ? zmesh_uuid_unparse (cause, text) : "");
    zmesh_envelope_set_body (reply, zmesh_envelope_body (request),
                             zmesh_envelope_body_size (request));
    zmesh_node_publish (node, "echo.said", zmesh_envelope_body (request),
                        zmesh_envelope_body_size (request));
}

static void
s_ignore (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg)
{
    (void) node, (void) event, (void) arg;
}

static void
s_relay_start (zmesh_node_t *node, const zmesh_envelope_t *request,
               zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    zmesh_node_publish (node, "relay.started", zmesh_envelope_body (request),
                        zmesh_envelope_body_size (request));
    zmesh_envelope_t *echoed = NULL;
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_node_call (node, "echo", "echo.say",
                                      zmesh_envelope_body (request),
                                      zmesh_envelope_body_size (request), 0,
                                      &echoed, &detail);
    if (rc != ZMESH_OK) {
        zmesh_envelope_set_status (reply, ZMESH_STATUS_APP_ERROR, rc,
                                   detail.text);
        zmesh_envelope_destroy (&echoed);
        return;
    }
    for (size_t index = 0; index < zmesh_envelope_header_count (echoed);
         index++)
        zmesh_envelope_set_header (reply,
                                   zmesh_envelope_header_name (echoed, index),
                                   zmesh_envelope_header_value (echoed, index));
    zmesh_envelope_set_body (reply, zmesh_envelope_body (echoed),
                             zmesh_envelope_body_size (echoed));
    zmesh_envelope_destroy (&echoed);
}

static void
s_stuck_sleep (zmesh_node_t *node, const zmesh_envelope_t *request,
               zmesh_envelope_t *reply, void *arg)
{
    (void) node, (void) request, (void) reply, (void) arg;
    zclock_sleep (1500);
}

static void
s_stuck_ping (zmesh_node_t *node, const zmesh_envelope_t *request,
              zmesh_envelope_t *reply, void *arg)
{
    (void) node, (void) request, (void) reply, (void) arg;
}

int
main (int argc, char *argv [])
{
    static const struct option longs [] = {
        {"role", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'n'},
        {"set", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0}};
    const char *role = NULL, *name = NULL;
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, NULL);
    zmesh_detail_t detail = {""};
    int option;
    while ((option = getopt_long (argc, argv, "r:n:s:", longs, NULL)) != -1) {
        if (option == 'r')
            role = optarg;
        else if (option == 'n')
            name = optarg;
        else if (option == 's') {
            if (zmesh_node_config_set (&config, optarg, &detail) != ZMESH_OK) {
                fprintf (stderr, "testnode: %s\n", detail.text);
                return 2;
            }
        }
        else
            return 2;
    }
    if (!role) {
        fprintf (stderr, "testnode: --role is required\n");
        return 2;
    }
    snprintf (config.name, sizeof config.name, "%s", name ? name : role);
    zsys_set_logstream (stderr);
    zsys_set_max_sockets (0);
    zmesh_node_t *node = zmesh_node_new (&config, NULL, NULL, &detail);
    if (!node) {
        fprintf (stderr, "testnode: %s\n", detail.text);
        return 1;
    }
    if (streq (role, "echo")) {
        zmesh_node_serve (node, "echo.say", s_echo_say, NULL);
        zmesh_node_subscribe (node, "*", s_ignore, NULL);
    }
    else if (streq (role, "relay"))
        zmesh_node_serve (node, "relay.start", s_relay_start, NULL);
    else if (streq (role, "stuck")) {
        zmesh_node_serve (node, "stuck.sleep", s_stuck_sleep, NULL);
        zmesh_node_serve (node, "stuck.ping", s_stuck_ping, NULL);
    }
    else if (!streq (role, "seed")) {
        fprintf (stderr, "testnode: unknown role %s\n", role);
        zmesh_node_destroy (&node);
        return 2;
    }
    printf ("events=%s calls=%s\n", zmesh_node_events_endpoint (node),
            zmesh_node_calls_endpoint (node));
    fflush (stdout);
    zmesh_err_t rc = zmesh_node_run (node);
    zmesh_node_destroy (&node);
    return rc == ZMESH_OK || rc == ZMESH_ERR_INTERRUPTED ? 0 : 1;
}
