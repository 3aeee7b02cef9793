/*  hello_events.c - one node publishes enveloped events, another receives
    and prints them, over tcp loopback.

    The smallest real use of the envelope: every event carries a message id,
    the correlation id of its flow and a per-publisher sequence number, and
    travels as two frames, the topic (the event type and a NUL byte) and
    the msgpack envelope (proto/envelope.md).

        hello_events listen  [--endpoint E] [--count N] [--type PREFIX]
        hello_events publish  --endpoint E  [--count N]

    The listener binds (default tcp://127.0.0.1:*), prints the endpoint it
    got as its first line, then one line per event. The publisher connects,
    waits until the subscription has reached it, and publishes.

    Part of zmesh. MIT License.
*/
#include <getopt.h>
#include <msgpack.h>
#include "zmesh.h"

#define SUBSCRIPTION_WAIT_MS 5000

typedef struct {
    const char *command;        //  "listen" or "publish"
    const char *endpoint;       //  Where to bind or connect
    const char *prefix;         //  Listener's subscription
    long count;                 //  Events to send or to wait for
} s_options_t;

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: hello_events listen  [--endpoint E] [--count N] "
             "[--type PREFIX]\n"
             "       hello_events publish  --endpoint E  [--count N]\n"
             "\n"
             "  -e, --endpoint E   listen: where to bind "
             "(default tcp://127.0.0.1:*);\n"
             "                     publish: the endpoint listen printed\n"
             "  -n, --count N      events to publish or receive "
             "(default 5, 1..1000000)\n"
             "  -t, --type PREFIX  listen: event type prefix to subscribe to "
             "(default order.)\n"
             "  -h, --help         this text\n");
}

static int
s_misuse (const char *message)
{
    fprintf (stderr, "hello_events: %s\ntry 'hello_events --help'\n", message);
    return 2;
}

//  Parse argv; returns -1 to go on, or the exit code.
static int
s_parse (int argc, char *argv [], s_options_t *options)
{
    static const struct option longs [] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"count", required_argument, NULL, 'n'},
        {"type", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int option;
    while ((option = getopt_long (argc, argv, "e:n:t:h", longs, NULL)) != -1) {
        char *end;
        switch (option) {
            case 'e':
                options->endpoint = optarg;
                break;
            case 'n':
                errno = 0;
                options->count = strtol (optarg, &end, 10);
                if (errno || *end || options->count < 1
                    || options->count > 1000000)
                    return s_misuse ("--count wants a number from 1 to 1000000");
                break;
            case 't':
                options->prefix = optarg;
                break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                return s_misuse ("unknown option");
        }
    }
    if (optind != argc - 1)
        return s_misuse ("say 'listen' or 'publish'");
    options->command = argv [optind];
    if (streq (options->command, "publish") && !options->endpoint)
        return s_misuse ("publish needs --endpoint");
    if (!streq (options->command, "publish")
        && !streq (options->command, "listen"))
        return s_misuse ("say 'listen' or 'publish'");
    return -1;
}

//  Print one received event: the fields a person follows a flow by.
static void
s_print_event (zmesh_envelope_t *event)
{
    char id [ZMESH_UUID_STR_LEN + 1], correlation [ZMESH_UUID_STR_LEN + 1];
    char body [256] = "-";
    msgpack_zone zone;
    msgpack_zone_init (&zone, 256);
    msgpack_object object;
    if (zmesh_envelope_body_size (event)
        && msgpack_unpack (zmesh_envelope_body (event),
                           zmesh_envelope_body_size (event), NULL, &zone,
                           &object) == MSGPACK_UNPACK_SUCCESS)
        msgpack_object_print_buffer (body, sizeof body, object);
    msgpack_zone_destroy (&zone);
    printf ("%s seq=%" PRIu64 " from=%s id=%s correlation=%s body=%s\n",
            zmesh_envelope_type (event), zmesh_envelope_seq (event),
            zmesh_envelope_source (event),
            zmesh_uuid_unparse (zmesh_envelope_id (event), id),
            zmesh_uuid_unparse (zmesh_envelope_correlation (event),
                                correlation),
            body);
    fflush (stdout);
}

static int
s_listen (const s_options_t *options)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    const char *endpoint = options->endpoint ? options->endpoint
                                             : "tcp://127.0.0.1:*";
    if (!sub || zsock_bind (sub, "%s", endpoint) < 0) {
        fprintf (stderr, "hello_events: cannot bind %s: %s\n", endpoint,
                 zmq_strerror (zmq_errno ()));
        zsock_destroy (&sub);
        return 1;
    }
    zsock_set_subscribe (sub, options->prefix);
    char *bound = zsock_last_endpoint (sub);
    printf ("%s\n", bound);
    fflush (stdout);
    zstr_free (&bound);

    long received = 0, rejected = 0;
    zpoller_t *poller = zpoller_new (sub, NULL);
    while (received < options->count) {
        if (!zpoller_wait (poller, 10000)) {
            if (!zpoller_terminated (poller))
                fprintf (stderr, "hello_events: no event for 10 s, giving "
                                 "up after %ld\n", received);
            break;
        }
        zmsg_t *msg = zmsg_recv (sub);
        zframe_t *topic = zmsg_first (msg);
        zframe_t *frame = zmsg_next (msg);
        zmesh_envelope_t *event = NULL;
        zmesh_detail_t detail = {""};
        int rc = zmsg_size (msg) == 2
                 ? zmesh_envelope_decode (zframe_data (frame),
                                          zframe_size (frame), &event, &detail)
                 : ZMESH_ERR_INVALID;
        //  The topic must say what the envelope says, NUL included.
        if (rc == ZMESH_OK
            && (zframe_size (topic) != strlen (zmesh_envelope_type (event)) + 1
                || memcmp (zframe_data (topic), zmesh_envelope_type (event),
                           zframe_size (topic)) != 0))
            rc = ZMESH_ERR_INVALID;
        if (rc == ZMESH_OK) {
            s_print_event (event);
            received++;
        }
        else
            fprintf (stderr, "hello_events: dropped bad message #%ld: %s %s\n",
                     ++rejected, zmesh_strerror (rc), detail.text);
        zmesh_envelope_destroy (&event);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    return received == options->count ? 0 : 1;
}

//  Build and send event number seq of the flow.
static int
s_publish_one (zsock_t *pub, zmesh_rand_t *rand, zmesh_clock_t *clock,
               const zmesh_uuid_t *correlation, uint64_t seq)
{
    const char *type = "order.created";
    zmesh_envelope_t *event = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_uuid_t id;
    zmesh_uuid_generate (rand, &id);
    zmesh_envelope_set_id (event, &id);
    zmesh_envelope_set_correlation (event, correlation);
    zmesh_envelope_set_type (event, type);
    zmesh_envelope_set_source (event, "hello-publisher");
    zmesh_envelope_set_timestamp (event, (uint64_t) zmesh_clock_unix_ms (clock));
    zmesh_envelope_set_seq (event, seq);

    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 2);
    msgpack_pack_str_with_body (&packer, "orderId", 7);
    char order_id [32];
    snprintf (order_id, sizeof order_id, "o-%" PRIu64, seq);
    msgpack_pack_str_with_body (&packer, order_id, strlen (order_id));
    msgpack_pack_str_with_body (&packer, "total", 5);
    msgpack_pack_uint64 (&packer, 1000 * seq);
    int rc = zmesh_envelope_set_body (event, buffer.data, buffer.size);
    msgpack_sbuffer_destroy (&buffer);

    zframe_t *frame = NULL;
    if (rc == ZMESH_OK)
        rc = zmesh_envelope_encode (event, &frame, NULL);
    if (rc == ZMESH_OK) {
        zmsg_t *msg = zmsg_new ();
        zmsg_addmem (msg, type, strlen (type) + 1);
        zmsg_append (msg, &frame);
        rc = zmsg_send (&msg, pub) == 0 ? ZMESH_OK : ZMESH_ERR_INVALID;
        zmsg_destroy (&msg);
    }
    zmesh_envelope_destroy (&event);
    return rc;
}

static int
s_publish (const s_options_t *options)
{
    //  XPUB, so the publisher sees the subscription arrive and sends
    //  nothing into the void before it has.
    zsock_t *pub = zsock_new (ZMQ_XPUB);
    if (!pub || zsock_connect (pub, "%s", options->endpoint) < 0) {
        fprintf (stderr, "hello_events: cannot connect to %s\n",
                 options->endpoint);
        zsock_destroy (&pub);
        return 1;
    }
    zpoller_t *poller = zpoller_new (pub, NULL);
    bool subscribed = zpoller_wait (poller, SUBSCRIPTION_WAIT_MS) != NULL;
    zpoller_destroy (&poller);
    if (!subscribed) {
        fprintf (stderr, "hello_events: no subscriber at %s after %d ms\n",
                 options->endpoint, SUBSCRIPTION_WAIT_MS);
        zsock_destroy (&pub);
        return 1;
    }
    zframe_t *subscription = zframe_recv (pub);
    zframe_destroy (&subscription);

    zmesh_rand_t *rand = zmesh_rand_new ();
    if (!rand) {
        fprintf (stderr, "hello_events: no random source\n");
        zsock_destroy (&pub);
        return 1;
    }
    zmesh_clock_t *clock = zmesh_clock_real ();
    zmesh_uuid_t correlation;
    zmesh_uuid_generate (rand, &correlation);
    char text [ZMESH_UUID_STR_LEN + 1];
    fprintf (stderr, "hello_events: publishing %ld events, correlation %s\n",
             options->count, zmesh_uuid_unparse (&correlation, text));
    int rc = ZMESH_OK;
    for (long seq = 1; seq <= options->count && rc == ZMESH_OK; seq++)
        rc = s_publish_one (pub, rand, clock, &correlation, (uint64_t) seq);
    if (rc)
        fprintf (stderr, "hello_events: %s\n", zmesh_strerror (rc));
    zmesh_rand_destroy (&rand);
    //  Linger lets queued events leave before the socket goes.
    zsock_set_linger (pub, 2000);
    zsock_destroy (&pub);
    return rc ? 1 : 0;
}

int
main (int argc, char *argv [])
{
    s_options_t options = {NULL, NULL, "order.", 5};
    int rc = s_parse (argc, argv, &options);
    if (rc >= 0)
        return rc;
    zsys_set_logstream (stderr);
    zsys_set_logident ("hello_events");
    rc = streq (options.command, "listen") ? s_listen (&options)
                                           : s_publish (&options);
    zsys_shutdown ();
    return rc;
}
