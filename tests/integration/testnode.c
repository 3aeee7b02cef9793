/*  testnode.c - a zmesh node process with a role, for the integration
    suites.

        zmesh_testnode --role echo|relay|stuck|seed|pub|consumer [--name N]
                       [--set path=value]... [--count N] [--body BYTES]
                       [--slow-us US] [--keys N] [--type T] [--tell]

    Prints "events=<endpoint> calls=<endpoint>" once it is up, then serves
    until SIGINT or SIGTERM, and exits 0; SIGHUP reads security/keys again.

    echo    serves echo.say: replies with the request's body, and headers
            request-id and request-causation; publishes echo.said; takes
            every event its peers publish, and ignores it.
    relay   serves relay.start: publishes relay.started, calls echo.say on
            service echo, and replies with the echo reply's body and headers.
    stuck   serves stuck.sleep, which blocks for 1500 ms, and stuck.ping.
    seed    serves nothing of its own: a gossip directory for the others.
    pub     publishes --count tick.happened events (bodies of --body
            bytes, --slow-us apart), printing "published SEQ" as each
            publish returns, then serves (replays) until stopped; with
            --keys N, the nth in stream tick-(n mod N), so that its events
            carry keys; with --type T, events of type T instead. Needs
            node/data.
    consumer  consumes tick.happened reliably: for each, appends the event's
            sequence number to stream "seen" in its own store, in the same
            transaction, under an id of the publisher, the sequence and
            its own name (so that two members of a group that both
            handled one event would leave two); --slow-us makes each take
            that long; with
            --fail-every N it refuses every Nth sequence until the file
            given with --heal exists; it always refuses an event whose
            body is the msgpack string "poison"; with --tell it prints
            "handling SEQ" as each handler begins. Needs node/data.

    Part of zmesh. MIT License.
*/
#include <getopt.h>
#include <signal.h>
#include "zmesh.h"

static volatile sig_atomic_t s_hangup;

static void
s_on_hangup (int signal_number)
{
    (void) signal_number;
    s_hangup = 1;
}

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

static int s_slow_us;
static long s_keys;             //  Publisher: streams its ticks go in
static const char *s_type = "tick.happened";    //  ... and their type
static long s_fail_every;      //  Consumer: refuse sequences divisible by it
static const char *s_heal;      //  ... until this file exists
static bool s_tell;             //  ... printing each sequence it begins

static zmesh_err_t
s_record_tick (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg,
               zmesh_detail_t *detail)
{
    (void) arg;
    uint64_t seq = zmesh_envelope_seq (event);
    if (s_tell) {
        printf ("handling %" PRIu64 "\n", seq);
        fflush (stdout);
    }
    if (s_slow_us)
        usleep ((useconds_t) s_slow_us);
    uint8_t body [9] = {0xcf};  //  The sequence, as uint64
    if (zmesh_envelope_body_size (event) == 7
        && memcmp (zmesh_envelope_body (event), "\xa6poison", 7) == 0) {
        snprintf (detail->text, sizeof detail->text, "poison");
        return ZMESH_ERR_INVALID;
    }
    if (s_fail_every && seq % (uint64_t) s_fail_every == 0
        && !(s_heal && zsys_file_exists (s_heal))) {
        snprintf (detail->text, sizeof detail->text, "refusing seq %" PRIu64,
                  seq);
        return ZMESH_ERR_INVALID;
    }
    for (int index = 0; index < 8; index++)
        body [1 + index] = (uint8_t) (seq >> (56 - 8 * index));
    zmesh_new_event_t seen = {.type = "tick.seen", .body = body,
                              .body_size = sizeof body};
    //  Its id, the same each time this event is handled: of its source
    //  and sequence
    uint64_t seed = seq;
    for (const char *byte = zmesh_envelope_source (event); *byte; byte++)
        seed = seed * 31 + (uint8_t) *byte;
    for (const char *byte = zmesh_node_name (node); *byte; byte++)
        seed = seed * 31 + (uint8_t) *byte;
    zmesh_uuid_t id;
    zmesh_rand_t *rand = zmesh_rand_seeded_new (seed);
    zmesh_uuid_generate (rand, &id);
    zmesh_rand_destroy (&rand);
    seen.id = id;
    seen.correlation = *zmesh_envelope_correlation (event);
    seen.timestamp = zmesh_envelope_timestamp (event);
    zmesh_append_result_t result;
    return zmesh_store_append (zmesh_node_store (node), "seen",
                               ZMESH_VERSION_ANY, &seen, 1, &result, detail);
}

//  Publish count ticks with bodies of size bytes (a msgpack bin).
static int
s_publish_ticks (zmesh_node_t *node, long count, long size)
{
    uint8_t *body = calloc (1, (size_t) size + 5);
    body [0] = 0xc6;
    body [1] = (uint8_t) (size >> 24);
    body [2] = (uint8_t) (size >> 16);
    body [3] = (uint8_t) (size >> 8);
    body [4] = (uint8_t) size;
    int rc = 0;
    for (long tick = 0; tick < count && !zsys_interrupted; tick++) {
        char stream [32];
        snprintf (stream, sizeof stream, "tick-%ld", s_keys ? tick % s_keys
                                                            : 0);
        zmesh_new_event_t event = {.type = s_type, .body = body,
                                   .body_size = (size_t) size + 5};
        zmesh_append_result_t result;
        if ((s_keys ? zmesh_node_append (node, stream, ZMESH_VERSION_ANY,
                                         &event, 1, &result, NULL)
                    : zmesh_node_publish (node, s_type, body,
                                          (size_t) size + 5)) != ZMESH_OK) {
            rc = 1;
            break;
        }
        uint64_t head = 0;
        zmesh_store_head (zmesh_node_store (node), &head);
        printf ("published %" PRIu64 "\n", head);
        fflush (stdout);        //  A pipe's buffer would hold 64 KiB back
        if (s_slow_us)
            usleep ((useconds_t) s_slow_us);
        //  Keep heartbeats and replays going while publishing.
        if (tick % 100 == 0)
            zmesh_node_poll (node, 0);
    }
    fflush (stdout);
    free (body);
    return rc;
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
        {"count", required_argument, NULL, 'c'},
        {"body", required_argument, NULL, 'b'},
        {"slow-us", required_argument, NULL, 'w'},
        {"fail-every", required_argument, NULL, 'F'},
        {"heal", required_argument, NULL, 'H'},
        {"keys", required_argument, NULL, 'k'},
        {"tell", no_argument, NULL, 't'},
        {"type", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0}};
    const char *role = NULL, *name = NULL;
    long count = 0, body_size = 8;
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, NULL);
    zmesh_detail_t detail = {""};
    int option;
    while ((option = getopt_long (argc, argv, "r:n:s:c:b:w:F:H:k:tT:", longs,
                                  NULL)) != -1) {
        if (option == 't')
            s_tell = true;
        else if (option == 'T')
            s_type = optarg;
        else if (option == 'k')
            s_keys = strtol (optarg, NULL, 10);
        else if (option == 'H')
            s_heal = optarg;
        else if (option == 'F')
            s_fail_every = strtol (optarg, NULL, 10);
        else if (option == 'c')
            count = strtol (optarg, NULL, 10);
        else if (option == 'b')
            body_size = strtol (optarg, NULL, 10);
        else if (option == 'w')
            s_slow_us = (int) strtol (optarg, NULL, 10);
        else if (option == 'r')
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
    else if (streq (role, "consumer")) {
        if (zmesh_node_consume (node, "tick.happened", s_record_tick, NULL)
            != ZMESH_OK) {
            fprintf (stderr, "testnode: a consumer needs node/data (and, "
                     "in a group, one the group shares)\n");
            zmesh_node_destroy (&node);
            return 2;
        }
    }
    else if (!streq (role, "seed") && !streq (role, "pub")) {
        fprintf (stderr, "testnode: unknown role %s\n", role);
        zmesh_node_destroy (&node);
        return 2;
    }
    printf ("events=%s calls=%s\n", zmesh_node_events_endpoint (node),
            zmesh_node_calls_endpoint (node));
    fflush (stdout);
    if (streq (role, "pub") && s_publish_ticks (node, count, body_size) != 0) {
        zmesh_node_destroy (&node);
        return 1;
    }
    //  As the demo services do: SIGHUP reads the keys again
    signal (SIGXFSZ, SIG_IGN);      //  A file-size limit: EFBIG, as a full disk
    struct sigaction hangup = {.sa_handler = s_on_hangup};
    sigemptyset (&hangup.sa_mask);
    sigaction (SIGHUP, &hangup, NULL);
    zmesh_err_t rc;
    while ((rc = zmesh_node_poll (node, 1000)) == ZMESH_OK)
        if (s_hangup) {
            s_hangup = 0;
            zmesh_node_reload_keys (node, NULL);
        }
    zmesh_node_destroy (&node);
    return rc == ZMESH_OK || rc == ZMESH_ERR_INTERRUPTED ? 0 : 1;
}
