/*  roles.c - zmesh-bench's roles: the processes a measurement is made of,
    each this program started again with --role NAME and its arguments.
    A role says what it is doing on stdout, one line at a time, and waits
    for the parent's lines on stdin.

    Part of zmesh. MIT License.
*/
#include <poll.h>
#include <stdarg.h>
#include <zmq.h>
#include "bench.h"

//  True once a line is ready on stdin (the parent's "go"), within timeout_ms.
static bool
s_stdin_line (char *line, size_t size, int timeout_ms)
{
    struct pollfd item = {STDIN_FILENO, POLLIN, 0};
    if (poll (&item, 1, timeout_ms) <= 0)
        return false;
    return fgets (line, (int) size, stdin) != NULL;
}

static void
s_say (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vprintf (format, args);
    va_end (args);
    fflush (stdout);
}

//  Events: a publisher sends warm-up messages until the parent says
//  "go N", then N messages as fast as it can, and reports "sent SECONDS".
//  Subscribers say "ready" at their first warm-up message, then count
//  the others from the first to the Nth, and report "got COUNT SECONDS"
//  (COUNT short of N if they heard nothing for 3 s).
#define IDLE_NS 3000000000LL

static int
s_raw_pub (int argc, char *argv [])
{
    if (argc < 3)
        return 2;
    size_t topic_size = strtoul (argv [0], NULL, 10);
    size_t frame_size = strtoul (argv [1], NULL, 10);
    int hwm = atoi (argv [2]);
    void *context = zmq_ctx_new ();
    void *pub = zmq_socket (context, ZMQ_PUB);
    zmq_setsockopt (pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_bind (pub, "tcp://127.0.0.1:*"))
        return 1;
    char endpoint [256];
    size_t length = sizeof endpoint;
    zmq_getsockopt (pub, ZMQ_LAST_ENDPOINT, endpoint, &length);
    s_say ("ready %s\n", endpoint);
    char *topic = malloc (topic_size), *frame = calloc (1, frame_size);
    memset (topic, 'e', topic_size);
    char line [64];
    while (!s_stdin_line (line, sizeof line, 10)) {
        zmq_send (pub, "w", 1, ZMQ_SNDMORE);
        zmq_send (pub, frame, frame_size, 0);
    }
    long count = atol (line + 3);
    int64_t start = bench_now_ns ();
    for (long index = 0; index < count; index++) {
        memcpy (frame, &index, sizeof index);
        zmq_send (pub, topic, topic_size, ZMQ_SNDMORE);
        zmq_send (pub, frame, frame_size, 0);
    }
    s_say ("sent %.6f\n", bench_seconds_since (start));
    s_stdin_line (line, sizeof line, 60000);      //  Until the parent ends it
    free (topic);
    free (frame);
    zmq_close (pub);
    zmq_ctx_term (context);
    return 0;
}

static int
s_raw_sub (int argc, char *argv [])
{
    if (argc < 3)
        return 2;
    long count = atol (argv [1]);
    int hwm = atoi (argv [2]);
    void *context = zmq_ctx_new ();
    void *sub = zmq_socket (context, ZMQ_SUB);
    zmq_setsockopt (sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "", 0);
    int timeout = 100;
    zmq_setsockopt (sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_connect (sub, argv [0]);
    char buffer [BODY_LARGE * 2];
    long got = 0;
    bool ready = false;
    int64_t start = 0, last = bench_now_ns ();
    while (got < count && bench_now_ns () - last < IDLE_NS) {
        zmq_msg_t topic;
        zmq_msg_init (&topic);
        if (zmq_msg_recv (&topic, sub, 0) < 0) {
            zmq_msg_close (&topic);
            continue;
        }
        bool warm = zmq_msg_size (&topic) == 1
                 && *(char *) zmq_msg_data (&topic) == 'w';
        zmq_msg_close (&topic);
        zmq_recv (sub, buffer, sizeof buffer, 0);
        last = bench_now_ns ();
        if (warm) {
            if (!ready)
                s_say ("ready\n");
            ready = true;
            continue;
        }
        if (got++ == 0)
            start = last;
    }
    s_say ("got %ld %.6f\n", got, got ? (double) (last - start) / 1e9 : 0.0);
    zmq_close (sub);
    zmq_ctx_term (context);
    return 0;
}

static int
s_zmesh_pub (int argc, char *argv [])
{
    if (argc < 2)
        return 2;
    size_t body_size = strtoul (argv [0], NULL, 10);
    char hwm [64], batch [64];
    zmesh_node_t *node = bench_node_new (
        "bench-pub", bench_fmt (hwm, sizeof hwm, "sockets/hwm=%s", argv [1]),
        bench_fmt (batch, sizeof batch, "events/batch=%s",
                   argc > 2 ? argv [2] : "1"),
        NULL);
    s_say ("ready %s\n", zmesh_node_events_endpoint (node));
    uint8_t body [BODY_LARGE];
    bench_fill_body (body, body_size);
    char line [64];
    while (!s_stdin_line (line, sizeof line, 0)) {
        zmesh_node_publish (node, "bench.warm", body, body_size);
        if (zmesh_node_poll (node, 10) != ZMESH_OK)
            break;
    }
    long count = atol (line + 3);
    int64_t start = bench_now_ns ();
    long failed = 0;
    for (long index = 0; index < count; index++)
        if (zmesh_node_publish (node, "bench.event", body, body_size))
            failed++;
    s_say ("sent %.6f %ld\n", bench_seconds_since (start), failed);
    while (zmesh_node_poll (node, 100) == ZMESH_OK)
        ;
    zmesh_node_destroy (&node);
    return 0;
}

typedef struct {
    long got;
    bool ready;
    int64_t start, last;
} s_counter_t;

static void
s_count_event (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg)
{
    (void) node;
    s_counter_t *counter = (s_counter_t *) arg;
    int64_t now = bench_now_ns ();
    if (streq (zmesh_envelope_type (event), "bench.warm")) {
        if (!counter->ready)
            s_say ("ready\n");
        counter->ready = true;
        counter->last = now;
        return;
    }
    counter->last = now;
    if (counter->got++ == 0)
        counter->start = counter->last;
}

static int
s_zmesh_sub (int argc, char *argv [])
{
    if (argc < 3)
        return 2;
    long count = atol (argv [1]);
    //  The peer is the publisher by its name: events from another source
    //  on its link are dropped
    const char *publisher = argc > 3 ? argv [3] : "bench-pub";
    char peer [400], hwm [64];
    zmesh_node_t *node = bench_node_new (
        "bench-sub",
        bench_fmt (peer, sizeof peer, "peers/%s/events=%s", publisher,
                   argv [0]),
        bench_fmt (hwm, sizeof hwm, "sockets/hwm=%s", argv [2]), NULL);
    s_counter_t counter = {0, false, 0, bench_now_ns ()};
    zmesh_node_subscribe (node, "bench.*", s_count_event, &counter);
    while (counter.got < count && bench_now_ns () - counter.last < IDLE_NS)
        if (zmesh_node_poll (node, 100) != ZMESH_OK)
            break;
    s_say ("got %ld %.6f\n", counter.got,
           counter.got ? (double) (counter.last - counter.start) / 1e9 : 0.0);
    zmesh_node_destroy (&node);
    return 0;
}

//  Calls: raw REP answers every request with a reply of the size zmesh's
//  would be; zmesh-echo serves bench.echo (and, with "publish", publishes
//  bench.echoed for each call, for the memory run).
static int
s_raw_rep (int argc, char *argv [])
{
    if (argc < 1)
        return 2;
    size_t reply_size = strtoul (argv [0], NULL, 10);
    void *context = zmq_ctx_new ();
    void *rep = zmq_socket (context, ZMQ_REP);
    if (zmq_bind (rep, "tcp://127.0.0.1:*"))
        return 1;
    char endpoint [256];
    size_t length = sizeof endpoint;
    zmq_getsockopt (rep, ZMQ_LAST_ENDPOINT, endpoint, &length);
    s_say ("ready %s\n", endpoint);
    char *reply = calloc (1, reply_size);
    char request [BODY_LARGE * 2];
    while (true) {
        if (zmq_recv (rep, request, sizeof request, 0) < 0)
            break;
        zmq_send (rep, reply, reply_size, 0);
    }
    free (reply);
    zmq_close (rep);
    zmq_ctx_term (context);
    return 0;
}

static void
s_echo (zmesh_node_t *node, const zmesh_envelope_t *request,
        zmesh_envelope_t *reply, void *arg)
{
    zmesh_envelope_set_body (reply, zmesh_envelope_body (request),
                             zmesh_envelope_body_size (request));
    if (arg)
        zmesh_node_publish (node, "bench.echoed", zmesh_envelope_body (request),
                            zmesh_envelope_body_size (request));
}

static int
s_zmesh_echo (int argc, char *argv [])
{
    bool publish = argc > 0 && streq (argv [0], "publish");
    const char *calls = argc > 1 ? argv [1] : "node/calls=tcp://127.0.0.1:*";
    zmesh_node_t *node = bench_node_new ("echo", calls, NULL);
    zmesh_node_serve (node, "bench.echo", s_echo, publish ? node : NULL);
    s_say ("ready %s %s\n", zmesh_node_calls_endpoint (node),
           zmesh_node_events_endpoint (node));
    zmesh_node_run (node);
    zmesh_node_destroy (&node);
    return 0;
}

//  Throughput callers: after "go", call for SECONDS and report "calls N
//  FAILED".
static int
s_raw_req (int argc, char *argv [])
{
    if (argc < 3)
        return 2;
    size_t request_size = strtoul (argv [1], NULL, 10);
    double seconds = atof (argv [2]);
    void *context = zmq_ctx_new ();
    void *req = zmq_socket (context, ZMQ_REQ);
    zmq_connect (req, argv [0]);
    char *request = calloc (1, request_size), reply [BODY_LARGE * 2];
    char line [64];
    s_say ("ready\n");
    s_stdin_line (line, sizeof line, 60000);
    long calls = 0;
    int64_t start = bench_now_ns ();
    while (bench_seconds_since (start) < seconds) {
        zmq_send (req, request, request_size, 0);
        if (zmq_recv (req, reply, sizeof reply, 0) < 0)
            break;
        calls++;
    }
    s_say ("calls %ld 0\n", calls);
    free (request);
    zmq_close (req);
    zmq_ctx_term (context);
    return 0;
}

static int
s_zmesh_caller (int argc, char *argv [])
{
    if (argc < 3)
        return 2;
    size_t body_size = strtoul (argv [1], NULL, 10);
    double seconds = atof (argv [2]);
    char peer [300];
    zmesh_node_t *node = bench_node_new (
        "bench-caller",
        bench_fmt (peer, sizeof peer, "peers/echo/calls=%s", argv [0]), NULL);
    uint8_t body [BODY_LARGE];
    bench_fill_body (body, body_size);
    char line [64];
    s_say ("ready\n");
    s_stdin_line (line, sizeof line, 60000);
    long calls = 0, failed = 0;
    int64_t start = bench_now_ns ();
    while (bench_seconds_since (start) < seconds) {
        zmesh_envelope_t *reply = NULL;
        if (zmesh_node_call (node, "echo", "bench.echo", body, body_size, 0,
                             &reply, NULL) == ZMESH_OK)
            calls++;
        else
            failed++;
        zmesh_envelope_destroy (&reply);
    }
    s_say ("calls %ld %ld\n", calls, failed);
    zmesh_node_destroy (&node);
    return 0;
}

//  Scale: node INDEX of COUNT, all on ipc endpoints under DIR, each a peer
//  of all others. Says "ready" once it hears every other; after "go",
//  publishes EVENTS events, then reports "got RECEIVED SECONDS" once it has
//  every other node's (or nothing came for 3 s).
static int
s_mesh_node (int argc, char *argv [])
{
    if (argc < 4)
        return 2;
    int index = atoi (argv [0]), count = atoi (argv [1]);
    const char *dir = argv [2];
    long events = atol (argv [3]);
    zmesh_node_config_t config;
    char name [32];
    snprintf (name, sizeof name, "n%d", index);
    zmesh_node_config_defaults (&config, name);
    zmesh_detail_t detail = {""};
    char setting [400];
    for (int peer = 0; peer < count; peer++) {
        if (peer == index)
            snprintf (setting, sizeof setting,
                      "node/events=ipc://%s/n%d-e", dir, peer);
        else
            snprintf (setting, sizeof setting,
                      "peers/n%d/events=ipc://%s/n%d-e", peer, dir, peer);
        zmesh_node_config_set (&config, setting, &detail);
        if (peer == index)
            snprintf (setting, sizeof setting,
                      "node/calls=ipc://%s/n%d-c", dir, peer);
        else
            snprintf (setting, sizeof setting,
                      "peers/n%d/calls=ipc://%s/n%d-c", peer, dir, peer);
        zmesh_node_config_set (&config, setting, &detail);
    }
    zmesh_node_config_set (&config, "timing/heartbeat=100", &detail);
    zmesh_node_config_set (&config, "sockets/hwm=1000000", &detail);
    zmesh_node_t *node = zmesh_node_config_validate (&config, &detail)
                         ? NULL : zmesh_node_new (&config, NULL, NULL, &detail);
    if (!node) {
        fprintf (stderr, "zmesh-bench: %s: %s\n", name, detail.text);
        return 1;
    }
    zmesh_node_serve (node, "bench.echo", s_echo, NULL);
    s_counter_t counter = {0, false, 0, 0};
    zmesh_node_subscribe (node, "bench.*", s_count_event, &counter);
    char line [64];
    bool ready = false;
    while (!s_stdin_line (line, sizeof line, 0)) {
        if (zmesh_node_poll (node, 20) != ZMESH_OK)
            goto done;
        size_t alive = 0;
        for (size_t peer = 0; peer < zmesh_node_peer_count (node); peer++) {
            zmesh_peer_info_t info;
            zmesh_node_peer (node, peer, &info);
            alive += info.state == ZMESH_PEER_ALIVE;
        }
        if (!ready && alive == (size_t) count - 1) {
            ready = true;
            s_say ("ready\n");
        }
    }
    uint8_t body [BODY_SMALL];
    bench_fill_body (body, sizeof body);
    int64_t start = bench_now_ns ();
    counter.last = start;
    for (long event = 0; event < events; event++) {
        zmesh_node_publish (node, "bench.event", body, sizeof body);
        if (event % 256 == 255)
            zmesh_node_poll (node, 0);
    }
    long expected = events * (count - 1);
    while (counter.got < expected && bench_now_ns () - counter.last < IDLE_NS)
        if (zmesh_node_poll (node, 100) != ZMESH_OK)
            break;
    s_say ("got %ld %.6f\n", counter.got,
           (double) (counter.last - start) / 1e9);
    while (zmesh_node_poll (node, 100) == ZMESH_OK)
        ;
done:
    zmesh_node_destroy (&node);
    return 0;
}

//  Recovery: a reliable consumer of bench.* from the publisher "source" at
//  EVENTS and CALLS, with its store in DATA. Reports "consumed N SECONDS"
//  (since it started) each time it has consumed another TARGET events.
static zmesh_err_t
s_consume (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg,
           zmesh_detail_t *detail)
{
    (void) node, (void) event, (void) detail;
    ((s_counter_t *) arg)->got++;
    return ZMESH_OK;
}

static int
s_consumer (int argc, char *argv [])
{
    if (argc < 4)
        return 2;
    int64_t start = bench_now_ns ();
    long target = atol (argv [3]);
    char events [300], calls [300], data [300];
    zmesh_node_t *node = bench_node_new (
        "bench-consumer",
        bench_fmt (events, sizeof events, "peers/source/events=%s", argv [0]),
        bench_fmt (calls, sizeof calls, "peers/source/calls=%s", argv [1]),
        bench_fmt (data, sizeof data, "node/data=%s", argv [2]),
        "events/sync=normal", "timing/heartbeat=100", NULL);
    s_counter_t counter = {0, false, 0, 0};
    zmesh_node_consume (node, "bench.*", s_consume, &counter);
    long reported = 0;
    while (zmesh_node_poll (node, 10) == ZMESH_OK)
        if (counter.got - reported >= target) {
            reported = counter.got;
            s_say ("consumed %ld %.6f\n", counter.got,
                   bench_seconds_since (start));
        }
    zmesh_node_destroy (&node);
    return 0;
}

//  Instructions: COUNT events or calls in this one process over inproc, for
//  callgrind to count (bench_instructions): raw libzmq with frames of
//  zmesh's sizes, or two zmesh nodes. Events go in batches of 100, each
//  sent and then all taken; calls one at a time.
#define IR_BATCH 100

static void
s_ir_count (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg)
{
    (void) node, (void) event;
    (*(long *) arg)++;
}

static void
s_ir_done (zmesh_node_t *node, zmesh_err_t rc, const zmesh_envelope_t *reply,
           const char *detail, void *arg)
{
    (void) node, (void) reply, (void) detail;
    *(zmesh_err_t *) arg = rc;
}

static int
s_ir_raw (bool calls, long count)
{
    void *context = zmq_ctx_new ();
    void *out = zmq_socket (context, calls ? ZMQ_REQ : ZMQ_PUB);
    void *in = zmq_socket (context, calls ? ZMQ_REP : ZMQ_SUB);
    int timeout = 60000;    //  Bounded, under valgrind's pace too
    zmq_setsockopt (in, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt (out, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_bind (in, "inproc://ir");
    zmq_connect (out, "inproc://ir");
    char buffer [BODY_LARGE];
    if (!calls) {
        zmq_setsockopt (in, ZMQ_SUBSCRIBE, "", 0);
        //  The subscription reaches the publisher a moment later
        bool up = false;
        for (int tries = 0; !up && tries < 10000; tries++) {
            zmq_send (out, "w", 1, 0);
            up = zmq_recv (in, buffer, sizeof buffer, ZMQ_DONTWAIT) >= 0;
            if (!up)
                usleep (100);
        }
        while (zmq_recv (in, buffer, sizeof buffer, ZMQ_DONTWAIT) >= 0)
            ;
    }
    size_t sizes [2] = {
        calls
            ? bench_envelope_size (ZMESH_KIND_REQUEST, "bench.echo", BODY_SMALL)
            : bench_envelope_size (ZMESH_KIND_EVENT, "bench.event", BODY_SMALL),
        bench_envelope_size (ZMESH_KIND_REPLY, "bench.echo", BODY_SMALL)};
    char topic [] = "bench.event", *frame = calloc (1, sizes [0] + sizes [1]);
    for (long done = 0; done < count;) {
        if (calls) {
            zmq_send (out, frame, sizes [0], 0);
            zmq_recv (in, buffer, sizeof buffer, 0);
            zmq_send (in, frame, sizes [1], 0);
            zmq_recv (out, buffer, sizeof buffer, 0);
            done++;
            continue;
        }
        for (int index = 0; index < IR_BATCH; index++) {
            zmq_send (out, topic, sizeof topic, ZMQ_SNDMORE);
            zmq_send (out, frame, sizes [0], 0);
        }
        for (int index = 0; index < IR_BATCH; index++)
            if (zmq_recv (in, buffer, sizeof buffer, 0) < 0
                || zmq_recv (in, buffer, sizeof buffer, 0) < 0) {
                free (frame);
                return 1;       //  Lost: no count to give
            }
        done += IR_BATCH;
    }
    free (frame);
    zmq_close (out);
    zmq_close (in);
    zmq_ctx_term (context);
    return 0;
}

static int
s_ir_zmesh (bool calls, bool batched, long count)
{
    zmesh_node_t *server = bench_node_new (
        "ir-pub", "node/events=inproc://ir-pub-e",
        "node/calls=inproc://ir-pub-c", "timing/heartbeat=600000",
        "timing/quiet=600001", "timing/gone=600002", "sockets/hwm=100000",
        batched ? "events/batch=" BENCH_BATCH : "events/batch=1", NULL);
    zmesh_node_t *client = bench_node_new (
        "ir-sub", "node/events=inproc://ir-sub-e",
        "node/calls=inproc://ir-sub-c", "peers/ir-pub/events=inproc://ir-pub-e",
        "peers/ir-pub/calls=inproc://ir-pub-c", "timing/heartbeat=600000",
        "timing/quiet=600001", "timing/gone=600002", "sockets/hwm=100000",
        NULL);
    long got = 0;
    zmesh_node_serve (server, "bench.echo", s_echo, NULL);
    zmesh_node_subscribe (client, "bench.*", s_ir_count, &got);
    uint8_t body [BODY_SMALL];
    bench_fill_body (body, sizeof body);
    //  The link is up once an event gets through
    for (int tries = 0; !got && tries < 1000; tries++) {
        zmesh_node_publish (server, "bench.warm", body, sizeof body);
        zmesh_node_poll (client, 1);
    }
    got = 0;
    //  Bounded in time too, under valgrind's pace
    int64_t give_up = bench_now_ns () + 300 * 1000000000LL;
    long done = 0;
    while (done < count && bench_now_ns () < give_up) {
        if (calls) {
            zmesh_err_t rc = ZMESH_ERR_INVALID;
            zmesh_node_call_async (client, "ir-pub", "bench.echo", body,
                                   sizeof body, NULL, s_ir_done, &rc);
            while (rc == ZMESH_ERR_INVALID && bench_now_ns () < give_up) {
                zmesh_node_poll (client, 0);
                zmesh_node_poll (server, 0);
            }
            done++;
            continue;
        }
        for (int index = 0; index < IR_BATCH; index++)
            zmesh_node_publish (server, "bench.event", body, sizeof body);
        if (batched)
            zmesh_node_flush (server);      //  The batch not yet full
        done += IR_BATCH;
        while (got < done && bench_now_ns () < give_up)
            zmesh_node_poll (client, 0);
    }
    zmesh_node_destroy (&client);
    zmesh_node_destroy (&server);
    return done < count || got < (calls ? 0 : count);
}

//  --role ir raw-event|zmesh-event|zmesh-batched-event|raw-call|zmesh-call
//  COUNT
static int
s_ir (int argc, char *argv [])
{
    if (argc < 2)
        return 2;
    bool calls = strstr (argv [0], "call") != NULL;
    long count = atol (argv [1]);
    bool batched = strstr (argv [0], "batched") != NULL;
    return strncmp (argv [0], "raw", 3) == 0
           ? s_ir_raw (calls, count) : s_ir_zmesh (calls, batched, count);
}

//  Latency: calls made one at a time and timed each. The first
//  BENCH_WARM_CALLS of them are not counted.

//  Latency samples of count raw REQ round trips to endpoint, in ns.
static bool
s_raw_latency (const char *endpoint, size_t request_size, int64_t *samples,
               size_t count)
{
    void *context = zmq_ctx_new ();
    void *req = zmq_socket (context, ZMQ_REQ);
    int timeout = 5000;
    zmq_setsockopt (req, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_connect (req, endpoint);
    char *request = calloc (1, request_size), reply [BODY_LARGE * 2];
    bool ok = true;
    for (size_t index = 0; ok && index < count + BENCH_WARM_CALLS;
         index++) {
        int64_t start = bench_now_ns ();
        zmq_send (req, request, request_size, 0);
        ok = zmq_recv (req, reply, sizeof reply, 0) >= 0;
        if (index >= BENCH_WARM_CALLS)
            samples [index - BENCH_WARM_CALLS] = bench_now_ns () - start;
    }
    free (request);
    int linger = 0;
    zmq_setsockopt (req, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close (req);
    zmq_ctx_term (context);
    return ok;
}

//  Latency samples of count zmesh calls of bench.echo to service, in ns.
bool
bench_zmesh_latency (zmesh_node_t *node, const char *service, int64_t *samples,
                     size_t count)
{
    uint8_t body [BODY_SMALL];
    bench_fill_body (body, sizeof body);
    for (size_t index = 0; index < count + BENCH_WARM_CALLS; index++) {
        zmesh_envelope_t *reply = NULL;
        int64_t start = bench_now_ns ();
        zmesh_err_t rc = zmesh_node_call (node, service, "bench.echo", body,
                                          sizeof body, 0, &reply, NULL);
        if (index >= BENCH_WARM_CALLS)
            samples [index - BENCH_WARM_CALLS] = bench_now_ns () - start;
        zmesh_envelope_destroy (&reply);
        if (rc != ZMESH_OK)
            return false;
    }
    return true;
}

//  Role: "latency raw|zmesh|nats ENDPOINT COUNT REQUEST_SIZE FILE" times COUNT
//  round trips in a process of its own, so neither side shares a process
//  with the other's context and threads, writes the samples to FILE and
//  says "done".
static int
s_latency (int argc, char *argv [])
{
    if (argc < 5)
        return 2;
    bool zmesh = streq (argv [0], "zmesh");
    size_t count = strtoul (argv [2], NULL, 10);
    int64_t *samples = calloc (count, sizeof (int64_t));
    bool ok;
    if (zmesh) {
        char peer [400];
        zmesh_node_t *node = bench_node_new (
            "bench",
            bench_fmt (peer, sizeof peer, "peers/echo/calls=%s", argv [1]),
            NULL);
        ok = bench_zmesh_latency (node, "echo", samples, count);
        zmesh_node_destroy (&node);
    }
#ifdef BENCH_NATS
    else if (streq (argv [0], "nats"))
        ok = bench_nats_latency (argv [1], strtoul (argv [3], NULL, 10),
                                 samples, count, BENCH_WARM_CALLS);
#endif
    else
        ok = s_raw_latency (argv [1], strtoul (argv [3], NULL, 10), samples,
                            count);
    FILE *file = ok ? fopen (argv [4], "wb") : NULL;
    ok = file && fwrite (samples, sizeof (int64_t), count, file) == count;
    if (file)
        ok = fclose (file) == 0 && ok;
    free (samples);
    if (ok)
        s_say ("done\n");
    return ok ? 0 : 1;
}

//  Every role, by the name that follows --role
static const struct {
    const char *name;
    int (*run) (int argc, char *argv []);
} s_roles [] = {
    {"raw-pub", s_raw_pub}, {"raw-sub", s_raw_sub},
    {"zmesh-pub", s_zmesh_pub}, {"zmesh-sub", s_zmesh_sub},
    {"raw-rep", s_raw_rep}, {"zmesh-echo", s_zmesh_echo},
    {"raw-req", s_raw_req}, {"zmesh-caller", s_zmesh_caller},
    {"mesh", s_mesh_node}, {"consumer", s_consumer},
    {"latency", s_latency}, {"ir", s_ir},
#ifdef BENCH_NATS
    {"nats-pub", bench_nats_pub}, {"nats-sub", bench_nats_sub},
    {"nats-echo", bench_nats_echo},
#endif
};

//  Run the role called name with its arguments; 2 if there is none.
int
bench_role_run (const char *name, int argc, char *argv [])
{
    for (size_t role = 0; role < sizeof s_roles / sizeof s_roles [0]; role++)
        if (streq (name, s_roles [role].name))
            return s_roles [role].run (argc, argv);
    return 2;
}
