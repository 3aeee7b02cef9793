/*  bench.c - zmesh-bench: zmesh against raw libzmq, side by side in one run.

    Every figure that has a raw counterpart is measured next to it, in the
    same run on the same machine, and reported as a ratio: absolute figures
    drift on shared machines, ratios much less. Each side of a measurement
    runs in processes of its own (this program, started again with --role),
    over tcp loopback unless the section says otherwise.

    Part of zmesh. MIT License.
*/
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include "zmesh.h"

#define BENCH_VERSION "0.1.0"
#define BODY_SMALL 64
#define BODY_LARGE 1024

static int64_t
s_now_ns (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
}

static double
s_seconds_since (int64_t start_ns)
{
    return (double) (s_now_ns () - start_ns) / 1e9;
}

//  --------------------------------------------------------------------------
//  Children: this program again, with --role, its stdin and stdout on pipes

typedef struct {
    pid_t pid;
    int to;                     //  Its stdin
    int from;                   //  Its stdout
    char buffer [1024];
    size_t held;
} s_child_t;

static char s_self [PATH_MAX];
static char s_log [PATH_MAX] = "/dev/null";    //  Children's stderr

//  Start argv (NULL-terminated; argv [0] the program) with pipes.
static bool
s_spawn (s_child_t *child, char *const argv [])
{
    int in [2], out [2];
    if (pipe2 (in, O_CLOEXEC) || pipe2 (out, O_CLOEXEC))
        return false;
    memset (child, 0, sizeof *child);
    child->pid = fork ();
    if (child->pid < 0)
        return false;
    if (child->pid == 0) {
        dup2 (in [0], STDIN_FILENO);
        dup2 (out [1], STDOUT_FILENO);
        //  What children log goes to one file, named if a run fails
        int log = open (s_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                        0600);
        if (log >= 0)
            dup2 (log, STDERR_FILENO);
        execv (argv [0], argv);
        _exit (127);
    }
    close (in [0]);
    close (out [1]);
    child->to = in [1];
    child->from = out [0];
    return true;
}

//  Start this program in a role: s_role (&child, "raw-sub", arg, ..., NULL).
static bool
s_role (s_child_t *child, const char *role, ...)
{
    char *argv [16] = {s_self, "--role", (char *) role};
    int count = 3;
    va_list args;
    va_start (args, role);
    char *arg;
    while (count < 15 && (arg = va_arg (args, char *)))
        argv [count++] = arg;
    va_end (args);
    argv [count] = NULL;
    return s_spawn (child, argv);
}

//  Read one line from the child, waiting at most timeout_ms. False on
//  timeout or end of output.
static bool
s_child_line (s_child_t *child, char *line, size_t size, int timeout_ms)
{
    int64_t deadline = s_now_ns () + (int64_t) timeout_ms * 1000000;
    while (true) {
        char *end = memchr (child->buffer, '\n', child->held);
        if (end) {
            size_t length = (size_t) (end - child->buffer);
            snprintf (line, size, "%.*s", (int) length, child->buffer);
            child->held -= length + 1;
            memmove (child->buffer, end + 1, child->held);
            return true;
        }
        int left = (int) ((deadline - s_now_ns ()) / 1000000);
        if (child->held == sizeof child->buffer)
            return false;
        struct pollfd item = {child->from, POLLIN, 0};
        if (poll (&item, 1, left > 0 ? left : 0) <= 0) {
            if (left <= 0)
                return false;
            continue;
        }
        ssize_t got = read (child->from, child->buffer + child->held,
                            sizeof child->buffer - child->held);
        if (got <= 0)
            return false;
        child->held += (size_t) got;
    }
}

static void
s_child_say (s_child_t *child, const char *text)
{
    size_t length = strlen (text);
    if (write (child->to, text, length) != (ssize_t) length)
        fprintf (stderr, "zmesh-bench: a child went away early\n");
}

//  Stop the child (SIGTERM, then SIGKILL after 5 s) and reap it.
static void
s_child_stop (s_child_t *child)
{
    if (child->pid <= 0)
        return;
    kill (child->pid, SIGTERM);
    for (int tick = 0; tick < 500; tick++) {
        if (waitpid (child->pid, NULL, WNOHANG) == child->pid) {
            child->pid = 0;
            break;
        }
        usleep (10000);
    }
    if (child->pid > 0) {
        kill (child->pid, SIGKILL);
        waitpid (child->pid, NULL, 0);
        child->pid = 0;
    }
    close (child->to);
    close (child->from);
}

//  Resident size of a process, in KiB, or -1.
static long
s_rss_kib (pid_t pid)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    long kib = -1;
    while (file && fgets (line, sizeof line, file))
        if (sscanf (line, "VmRSS: %ld", &kib) == 1)
            break;
    if (file)
        fclose (file);
    return kib;
}

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

//  --------------------------------------------------------------------------
//  Sizes: what zmesh puts on the wire, so raw sends frames as large

static void
s_fill_body (uint8_t *body, size_t size)
{
    //  One msgpack bin value of size bytes in all
    memset (body, 'x', size);
    if (size < 256 + 2) {
        body [0] = 0xc4;
        body [1] = (uint8_t) (size - 2);
    }
    else {
        body [0] = 0xc5;
        body [1] = (uint8_t) ((size - 3) >> 8);
        body [2] = (uint8_t) (size - 3);
    }
}

static size_t
s_envelope_size (zmesh_kind_t kind, const char *type, size_t body_size)
{
    uint8_t body [BODY_LARGE];
    s_fill_body (body, body_size);
    zmesh_envelope_t *envelope = zmesh_envelope_new (kind);
    zmesh_uuid_t id;
    zmesh_rand_t *rand = zmesh_rand_new ();
    zmesh_uuid_generate (rand, &id);
    zmesh_envelope_set_id (envelope, &id);
    zmesh_envelope_set_correlation (envelope, &id);
    if (kind != ZMESH_KIND_REQUEST)
        zmesh_envelope_set_causation (envelope, &id);
    zmesh_envelope_set_type (envelope, type);
    zmesh_envelope_set_source (envelope, "bench-0");
    zmesh_envelope_set_timestamp (envelope, 1790000000000);
    if (kind == ZMESH_KIND_EVENT)
        zmesh_envelope_set_seq (envelope, 1000000);
    if (kind == ZMESH_KIND_REQUEST)
        zmesh_envelope_set_budget_ms (envelope, 5000);
    zmesh_envelope_set_body (envelope, body, body_size);
    zframe_t *frame = NULL;
    zmesh_envelope_encode (envelope, &frame, NULL);
    size_t size = frame ? zframe_size (frame) : 0;
    zframe_destroy (&frame);
    zmesh_envelope_destroy (&envelope);
    zmesh_rand_destroy (&rand);
    return size;
}

//  A node called name with settings ("path=value" ..., NULL) over the
//  defaults; exits on a bad setting, since every setting here is ours.
static zmesh_node_t *
s_node_new (const char *name, ...)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, name);
    zmesh_detail_t detail = {""};
    va_list args;
    va_start (args, name);
    const char *setting;
    while ((setting = va_arg (args, const char *)))
        if (zmesh_node_config_set (&config, setting, &detail) != ZMESH_OK) {
            fprintf (stderr, "zmesh-bench: %s\n", detail.text);
            exit (1);
        }
    va_end (args);
    zmesh_node_t *node = NULL;
    if (zmesh_node_config_validate (&config, &detail) == ZMESH_OK)
        node = zmesh_node_new (&config, NULL, NULL, &detail);
    if (!node) {
        fprintf (stderr, "zmesh-bench: node %s: %s\n", name, detail.text);
        exit (1);
    }
    return node;
}

static char *
s_fmt (char *buffer, size_t size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (buffer, size, format, args);
    va_end (args);
    return buffer;
}

//  --------------------------------------------------------------------------
//  Roles: the processes a measurement is made of

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
    int64_t start = s_now_ns ();
    for (long index = 0; index < count; index++) {
        memcpy (frame, &index, sizeof index);
        zmq_send (pub, topic, topic_size, ZMQ_SNDMORE);
        zmq_send (pub, frame, frame_size, 0);
    }
    s_say ("sent %.6f\n", s_seconds_since (start));
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
    int64_t start = 0, last = s_now_ns ();
    while (got < count && s_now_ns () - last < IDLE_NS) {
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
        last = s_now_ns ();
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
    char hwm [64];
    zmesh_node_t *node = s_node_new ("bench-pub",
                                     s_fmt (hwm, sizeof hwm, "sockets/hwm=%s",
                                            argv [1]), NULL);
    s_say ("ready %s\n", zmesh_node_events_endpoint (node));
    uint8_t body [BODY_LARGE];
    s_fill_body (body, body_size);
    char line [64];
    while (!s_stdin_line (line, sizeof line, 0)) {
        zmesh_node_publish (node, "bench.warm", body, body_size);
        if (zmesh_node_poll (node, 10) != ZMESH_OK)
            break;
    }
    long count = atol (line + 3);
    int64_t start = s_now_ns ();
    long failed = 0;
    for (long index = 0; index < count; index++)
        if (zmesh_node_publish (node, "bench.event", body, body_size))
            failed++;
    s_say ("sent %.6f %ld\n", s_seconds_since (start), failed);
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
    int64_t now = s_now_ns ();
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
    zmesh_node_t *node = s_node_new (
        "bench-sub", s_fmt (peer, sizeof peer, "peers/%s/events=%s", publisher,
                            argv [0]),
        s_fmt (hwm, sizeof hwm, "sockets/hwm=%s", argv [2]), NULL);
    s_counter_t counter = {0, false, 0, s_now_ns ()};
    zmesh_node_subscribe (node, "bench.*", s_count_event, &counter);
    while (counter.got < count && s_now_ns () - counter.last < IDLE_NS)
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
    zmesh_node_t *node = s_node_new ("echo", calls, NULL);
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
    int64_t start = s_now_ns ();
    while (s_seconds_since (start) < seconds) {
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
    zmesh_node_t *node = s_node_new (
        "bench-caller", s_fmt (peer, sizeof peer, "peers/echo/calls=%s", argv [0]),
        NULL);
    uint8_t body [BODY_LARGE];
    s_fill_body (body, body_size);
    char line [64];
    s_say ("ready\n");
    s_stdin_line (line, sizeof line, 60000);
    long calls = 0, failed = 0;
    int64_t start = s_now_ns ();
    while (s_seconds_since (start) < seconds) {
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
    s_fill_body (body, sizeof body);
    int64_t start = s_now_ns ();
    counter.last = start;
    for (long event = 0; event < events; event++) {
        zmesh_node_publish (node, "bench.event", body, sizeof body);
        if (event % 256 == 255)
            zmesh_node_poll (node, 0);
    }
    long expected = events * (count - 1);
    while (counter.got < expected && s_now_ns () - counter.last < IDLE_NS)
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
//  EVENTS and CALLS, with its store in DATA. Reports "consumed N SECONDS" (since
//  it started) each time it has consumed another TARGET events.
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
    int64_t start = s_now_ns ();
    long target = atol (argv [3]);
    char events [300], calls [300], data [300];
    zmesh_node_t *node = s_node_new (
        "bench-consumer",
        s_fmt (events, sizeof events, "peers/source/events=%s", argv [0]),
        s_fmt (calls, sizeof calls, "peers/source/calls=%s", argv [1]),
        s_fmt (data, sizeof data, "node/data=%s", argv [2]),
        "events/sync=normal", "timing/heartbeat=100", NULL);
    s_counter_t counter = {0, false, 0, 0};
    zmesh_node_consume (node, "bench.*", s_consume, &counter);
    long reported = 0;
    while (zmesh_node_poll (node, 10) == ZMESH_OK)
        if (counter.got - reported >= target) {
            reported = counter.got;
            s_say ("consumed %ld %.6f\n", counter.got, s_seconds_since (start));
        }
    zmesh_node_destroy (&node);
    return 0;
}

//  Instructions: COUNT events or calls in this one process over inproc, for
//  callgrind to count (s_bench_instructions): raw libzmq with frames of
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
        calls ? s_envelope_size (ZMESH_KIND_REQUEST, "bench.echo", BODY_SMALL)
              : s_envelope_size (ZMESH_KIND_EVENT, "bench.event", BODY_SMALL),
        s_envelope_size (ZMESH_KIND_REPLY, "bench.echo", BODY_SMALL)};
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
s_ir_zmesh (bool calls, long count)
{
    zmesh_node_t *server = s_node_new (
        "ir-pub", "node/events=inproc://ir-pub-e", "node/calls=inproc://ir-pub-c",
        "timing/heartbeat=600000", "timing/quiet=600001", "timing/gone=600002",
        "sockets/hwm=100000", NULL);
    zmesh_node_t *client = s_node_new (
        "ir-sub", "node/events=inproc://ir-sub-e", "node/calls=inproc://ir-sub-c",
        "peers/ir-pub/events=inproc://ir-pub-e",
        "peers/ir-pub/calls=inproc://ir-pub-c", "timing/heartbeat=600000",
        "timing/quiet=600001", "timing/gone=600002", "sockets/hwm=100000",
        NULL);
    long got = 0;
    zmesh_node_serve (server, "bench.echo", s_echo, NULL);
    zmesh_node_subscribe (client, "bench.*", s_ir_count, &got);
    uint8_t body [BODY_SMALL];
    s_fill_body (body, sizeof body);
    //  The link is up once an event gets through
    for (int tries = 0; !got && tries < 1000; tries++) {
        zmesh_node_publish (server, "bench.warm", body, sizeof body);
        zmesh_node_poll (client, 1);
    }
    got = 0;
    //  Bounded in time too, under valgrind's pace
    int64_t give_up = s_now_ns () + 300 * 1000000000LL;
    long done = 0;
    while (done < count && s_now_ns () < give_up) {
        if (calls) {
            zmesh_err_t rc = ZMESH_ERR_INVALID;
            zmesh_node_call_async (client, "ir-pub", "bench.echo", body,
                                   sizeof body, NULL, s_ir_done, &rc);
            while (rc == ZMESH_ERR_INVALID && s_now_ns () < give_up) {
                zmesh_node_poll (client, 0);
                zmesh_node_poll (server, 0);
            }
            done++;
            continue;
        }
        for (int index = 0; index < IR_BATCH; index++)
            zmesh_node_publish (server, "bench.event", body, sizeof body);
        done += IR_BATCH;
        while (got < done && s_now_ns () < give_up)
            zmesh_node_poll (client, 0);
    }
    zmesh_node_destroy (&client);
    zmesh_node_destroy (&server);
    return done < count || got < (calls ? 0 : count);
}

//  --role ir raw-event|zmesh-event|raw-call|zmesh-call COUNT
static int
s_ir (int argc, char *argv [])
{
    if (argc < 2)
        return 2;
    bool calls = strstr (argv [0], "call") != NULL;
    long count = atol (argv [1]);
    return strncmp (argv [0], "raw", 3) == 0 ? s_ir_raw (calls, count)
                                             : s_ir_zmesh (calls, count);
}

static int s_latency (int argc, char *argv []);

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
};

//  --------------------------------------------------------------------------
//  The report: one row per figure, with its raw counterpart and the ratio

typedef struct {
    char section [24];
    char what [96];
    char zmesh [48];
    char raw [48];
    char ratio [24];
    char target [40];
    char verdict [16];
} s_row_t;

#define ROWS_MAX 64
static s_row_t s_rows [ROWS_MAX];
static size_t s_row_count;

static struct {
    bool quick;
    const char *report;
    const char *only;
    const char *nodes;
    const char *express;
    const char *postgresql;         //  A server's URI, for the store rows
    double rabbitmq_rate;
    double express_rate;
    char tmp [256];                 //  Our directory under /tmp
    char script [320];              //  wrk's script for POST /orders
} s_options = {.rabbitmq_rate = 9000};

//  Add a row. ratio < 0: none. target: "≥ 0.8" / "≤ 1.15" compares ratio,
//  "< 1 µs"-style targets pass verdict in (NULL: no target).
static void
s_row (const char *section, const char *what, const char *zmesh,
       const char *raw, double ratio, const char *target, const char *verdict)
{
    if (s_row_count == ROWS_MAX)
        return;
    s_row_t *row = &s_rows [s_row_count++];
    snprintf (row->section, sizeof row->section, "%s", section);
    snprintf (row->what, sizeof row->what, "%s", what);
    snprintf (row->zmesh, sizeof row->zmesh, "%s", zmesh);
    snprintf (row->raw, sizeof row->raw, "%s", raw ? raw : "");
    if (ratio >= 0)
        snprintf (row->ratio, sizeof row->ratio, "%.2f", ratio);
    snprintf (row->target, sizeof row->target, "%s", target ? target : "");
    if (!verdict && target && ratio >= 0) {
        double bound = atof (target + strlen ("≥ "));
        bool ok = strncmp (target, "≥", strlen ("≥")) == 0 ? ratio >= bound
                                                           : ratio <= bound;
        verdict = ok ? "met" : "MISSED";
    }
    snprintf (row->verdict, sizeof row->verdict, "%s", verdict ? verdict : "");
    printf ("  %-9s %-46s %14s %14s %6s %-10s %s\n", section, what, zmesh,
            row->raw, row->ratio, row->target, row->verdict);
    fflush (stdout);
}

static bool
s_section (const char *name)
{
    if (!s_options.only)
        return true;
    const char *at = strstr (s_options.only, name);
    size_t length = strlen (name);
    return at && (at == s_options.only || at [-1] == ',')
        && (at [length] == ',' || at [length] == 0);
}

static const char *
s_rate_text (char *text, double rate)
{
    if (rate >= 1e6)
        snprintf (text, 48, "%.2f M/s", rate / 1e6);
    else if (rate >= 1e3)
        snprintf (text, 48, "%.1f k/s", rate / 1e3);
    else
        snprintf (text, 48, "%.0f /s", rate);
    return text;
}

static const char *
s_us_text (char *text, double ns)
{
    snprintf (text, 48, "%.1f µs", ns / 1e3);
    return text;
}

static int
s_compare_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

//  The p-th percentile (0..100) of sorted samples.
static double
s_percentile (const int64_t *sorted, size_t count, double p)
{
    size_t index = (size_t) ceil (p / 100.0 * (double) count);
    return (double) sorted [index ? index - 1 : 0];
}

//  --------------------------------------------------------------------------
//  Events: one publisher, 1/4/16 subscribers

typedef struct {
    double rate;                //  Events/s per subscriber, mean
    double delivered;           //  Fraction of events that arrived
} s_events_result_t;

static bool
s_run_events (bool zmesh, size_t body_size, size_t topic_size,
              size_t frame_size, int subscribers, long count,
              s_events_result_t *result)
{
    char hwm [32], body [32], topic [32], frame [32], number [32], line [300];
    snprintf (hwm, sizeof hwm, "%ld", count + 10000 > 10000000 ? 10000000
                                                                : count + 10000);
    snprintf (body, sizeof body, "%zu", body_size);
    snprintf (topic, sizeof topic, "%zu", topic_size);
    snprintf (frame, sizeof frame, "%zu", frame_size);
    snprintf (number, sizeof number, "%ld", count);
    s_child_t pub, subs [16];
    bool ok = zmesh ? s_role (&pub, "zmesh-pub", body, hwm, NULL)
                    : s_role (&pub, "raw-pub", topic, frame, hwm, NULL);
    char endpoint [300] = "";
    if (!ok || !s_child_line (&pub, line, sizeof line, 10000)
        || sscanf (line, "ready %299s", endpoint) != 1) {
        fprintf (stderr, "zmesh-bench: the publisher did not start\n");
        s_child_stop (&pub);
        return false;
    }
    int started = 0;
    for (; started < subscribers; started++)
        if (!s_role (&subs [started], zmesh ? "zmesh-sub" : "raw-sub",
                     endpoint, number, hwm, NULL))
            break;
    int ready = 0;
    for (int index = 0; index < started; index++)
        ready += s_child_line (&subs [index], line, sizeof line, 20000)
              && streq (line, "ready");
    memset (result, 0, sizeof *result);
    if (ready == subscribers) {
        snprintf (line, sizeof line, "go %ld\n", count);
        s_child_say (&pub, line);
        long received = 0;
        for (int index = 0; index < started; index++) {
            long got = 0;
            double seconds = 0;
            if (s_child_line (&subs [index], line, sizeof line, 300000)
                && sscanf (line, "got %ld %lf", &got, &seconds) == 2
                && seconds > 0)
                result->rate += (double) got / seconds / subscribers;
            received += got;
        }
        result->delivered = (double) received / ((double) count * subscribers);
    }
    else
        fprintf (stderr, "zmesh-bench: %d of %d subscribers ready\n", ready,
                 subscribers);
    for (int index = 0; index < started; index++)
        s_child_stop (&subs [index]);
    s_child_stop (&pub);
    return ready == subscribers;
}

#define EVENT_ROUNDS 3          //  Turns each side takes, in full mode

static int
s_compare_rate (const void *a, const void *b)
{
    double x = ((const s_events_result_t *) a)->rate;
    double y = ((const s_events_result_t *) b)->rate;
    return x < y ? -1 : x > y;
}

//  The round with the median rate; delivery is the worst of them all.
static s_events_result_t
s_median_run (s_events_result_t *runs, int count)
{
    double delivered = 1;
    for (int index = 0; index < count; index++)
        if (runs [index].delivered < delivered)
            delivered = runs [index].delivered;
    qsort (runs, (size_t) count, sizeof *runs, s_compare_rate);
    s_events_result_t median = runs [count / 2];
    median.delivered = delivered;
    return median;
}

static void
s_bench_events (void)
{
    char topic_frame [ZMESH_TOPIC_MAX];
    size_t topic_size = zmesh_topic_format ("bench.event", false, topic_frame);
    struct {
        size_t body;
        int subscribers;
        long count, quick_count;
    } runs [] = {{BODY_SMALL, 1, 2000000, 200000},
                 {BODY_LARGE, 1, 500000, 50000},
                 {BODY_SMALL, 4, 500000, 50000},
                 {BODY_SMALL, 16, 200000, 0}};
    for (size_t run = 0; run < sizeof runs / sizeof runs [0]; run++) {
        long count = s_options.quick ? runs [run].quick_count
                                     : runs [run].count;
        if (count == 0)
            continue;
        size_t frame_size = s_envelope_size (ZMESH_KIND_EVENT, "bench.event",
                                             runs [run].body);
        //  Raw and zmesh take turns, and each keeps its median round:
        //  one slow round on a shared machine does not make the ratio.
        int rounds = s_options.quick ? 1 : EVENT_ROUNDS;
        s_events_result_t raw_runs [EVENT_ROUNDS], zmesh_runs [EVENT_ROUNDS];
        bool ok = true;
        for (int round = 0; ok && round < rounds; round++)
            ok = s_run_events (false, runs [run].body, topic_size, frame_size,
                               runs [run].subscribers, count,
                               &raw_runs [round])
              && s_run_events (true, runs [run].body, topic_size, frame_size,
                               runs [run].subscribers, count,
                               &zmesh_runs [round]);
        if (!ok)
            continue;
        s_events_result_t raw = s_median_run (raw_runs, rounds),
                          zmesh = s_median_run (zmesh_runs, rounds);
        size_t wire = topic_size + frame_size;
        char what [96], zt [48], rt [48], verdict [48];
        snprintf (what, sizeof what, "%zu B body (%zu B on the wire), %d sub%s",
                  runs [run].body, wire, runs [run].subscribers,
                  runs [run].subscribers > 1 ? "s, per sub" : "");
        double ratio = zmesh.rate / raw.rate;
        bool all = zmesh.delivered >= 1.0 && raw.delivered >= 1.0;
        snprintf (verdict, sizeof verdict, "%s%s",
                  ratio >= 0.8 ? "met" : "MISSED", all ? "" : " (lost some)");
        s_row ("events", what, s_rate_text (zt, zmesh.rate),
               s_rate_text (rt, raw.rate), ratio, "≥ 0.8", verdict);
        snprintf (what, sizeof what, "  same, MB/s; delivered %.4f / %.4f",
                  zmesh.delivered, raw.delivered);
        snprintf (zt, sizeof zt, "%.1f MB/s", zmesh.rate * (double) wire / 1e6);
        snprintf (rt, sizeof rt, "%.1f MB/s", raw.rate * (double) wire / 1e6);
        s_row ("events", what, zt, rt, ratio, NULL, NULL);
    }
}

//  --------------------------------------------------------------------------
//  Calls: latency of one caller, throughput of four

#define WARM_CALLS 500
#define LATENCY_BLOCKS 10     //  Raw and zmesh take turns this many times

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
    for (size_t index = 0; ok && index < count + WARM_CALLS; index++) {
        int64_t start = s_now_ns ();
        zmq_send (req, request, request_size, 0);
        ok = zmq_recv (req, reply, sizeof reply, 0) >= 0;
        if (index >= WARM_CALLS)
            samples [index - WARM_CALLS] = s_now_ns () - start;
    }
    free (request);
    int linger = 0;
    zmq_setsockopt (req, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close (req);
    zmq_ctx_term (context);
    return ok;
}

static bool
s_zmesh_latency (zmesh_node_t *node, const char *service, int64_t *samples,
                 size_t count)
{
    uint8_t body [BODY_SMALL];
    s_fill_body (body, sizeof body);
    for (size_t index = 0; index < count + WARM_CALLS; index++) {
        zmesh_envelope_t *reply = NULL;
        int64_t start = s_now_ns ();
        zmesh_err_t rc = zmesh_node_call (node, service, "bench.echo", body,
                                          sizeof body, 0, &reply, NULL);
        if (index >= WARM_CALLS)
            samples [index - WARM_CALLS] = s_now_ns () - start;
        zmesh_envelope_destroy (&reply);
        if (rc != ZMESH_OK)
            return false;
    }
    return true;
}

//  Role: "latency raw|zmesh ENDPOINT COUNT REQUEST_SIZE FILE" times COUNT
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
        zmesh_node_t *node = s_node_new (
            "bench", s_fmt (peer, sizeof peer, "peers/echo/calls=%s", argv [1]),
            NULL);
        ok = s_zmesh_latency (node, "echo", samples, count);
        zmesh_node_destroy (&node);
    }
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

//  COUNT samples of one side's latency, from a child, into samples.
static bool
s_latency_block (bool zmesh, const char *endpoint, size_t request_size,
                 int64_t *samples, size_t count)
{
    char number [32], size [32], path [PATH_MAX], line [64];
    snprintf (number, sizeof number, "%zu", count);
    snprintf (size, sizeof size, "%zu", request_size);
    snprintf (path, sizeof path, "%s/latency", s_options.tmp);
    s_child_t child;
    bool ok = s_role (&child, "latency", zmesh ? "zmesh" : "raw", endpoint,
                      number, size, path, NULL)
           && s_child_line (&child, line, sizeof line, 120000)
           && streq (line, "done");
    s_child_stop (&child);
    FILE *file = ok ? fopen (path, "rb") : NULL;
    ok = file && fread (samples, sizeof (int64_t), count, file) == count;
    if (file)
        fclose (file);
    unlink (path);
    return ok;
}

static void
s_latency_rows (const char *section, const char *label, int64_t *zmesh,
                int64_t *raw, size_t count, bool targets)
{
    qsort (zmesh, count, sizeof *zmesh, s_compare_i64);
    if (raw)
        qsort (raw, count, sizeof *raw, s_compare_i64);
    const struct {
        double p;
        const char *name, *target;
    } points [] = {{50, "p50", "≤ 1.15"}, {99, "p99", "≤ 1.5"},
                   {99.9, "p99.9", NULL}};
    for (size_t point = 0; point < 3; point++) {
        char what [96], zt [48], rt [48];
        double z = s_percentile (zmesh, count, points [point].p);
        snprintf (what, sizeof what, "%s, %s of %zu", label,
                  points [point].name, count);
        if (raw) {
            double r = s_percentile (raw, count, points [point].p);
            s_row (section, what, s_us_text (zt, z), s_us_text (rt, r), z / r,
                   targets ? points [point].target : NULL, NULL);
        }
        else
            s_row (section, what, s_us_text (zt, z), NULL, -1, NULL, NULL);
    }
}

//  Calls per second of callers processes for seconds, all at once.
static double
s_throughput (bool zmesh, const char *endpoint, size_t size, int callers,
              double seconds)
{
    s_child_t children [8];
    char size_text [32], seconds_text [32], line [128];
    snprintf (size_text, sizeof size_text, "%zu", size);
    snprintf (seconds_text, sizeof seconds_text, "%g", seconds);
    int started = 0;
    for (; started < callers; started++)
        if (!s_role (&children [started], zmesh ? "zmesh-caller" : "raw-req",
                     endpoint, size_text, seconds_text, NULL)
            || !s_child_line (&children [started], line, sizeof line, 10000))
            break;
    for (int index = 0; index < started; index++)
        s_child_say (&children [index], "go\n");
    double rate = 0;
    for (int index = 0; index < started; index++) {
        long calls = 0, failed = 0;
        if (s_child_line (&children [index], line, sizeof line,
                          (int) (seconds * 1000) + 20000))
            sscanf (line, "calls %ld %ld", &calls, &failed);
        if (failed)
            fprintf (stderr, "zmesh-bench: %ld calls failed\n", failed);
        rate += (double) calls / seconds;
    }
    for (int index = 0; index < started; index++)
        s_child_stop (&children [index]);
    return started == callers ? rate : 0;
}

static void
s_bench_calls (void)
{
    size_t count = s_options.quick ? 2000 : 20000;
    size_t request_size = s_envelope_size (ZMESH_KIND_REQUEST, "bench.echo",
                                           BODY_SMALL);
    size_t reply_size = s_envelope_size (ZMESH_KIND_REPLY, "bench.echo",
                                         BODY_SMALL);
    char text [32], line [600], raw_endpoint [300], calls [300], events [300];
    snprintf (text, sizeof text, "%zu", reply_size);
    s_child_t raw, echo;
    if (!s_role (&raw, "raw-rep", text, NULL)
        || !s_child_line (&raw, line, sizeof line, 10000)
        || sscanf (line, "ready %299s", raw_endpoint) != 1
        || !s_role (&echo, "zmesh-echo", "-", NULL)
        || !s_child_line (&echo, line, sizeof line, 10000)
        || sscanf (line, "ready %299s %299s", calls, events) != 2) {
        fprintf (stderr, "zmesh-bench: the call servers did not start\n");
        return;
    }
    int64_t *raw_samples = calloc (count, sizeof (int64_t));
    int64_t *zmesh_samples = calloc (count, sizeof (int64_t));
    //  Alternate blocks, so that drift and bursts of noise hit both sides
    bool ok = true;
    size_t block = count / LATENCY_BLOCKS;
    for (size_t at = 0; ok && at < count; at += block) {
        size_t size = count - at < block ? count - at : block;
        ok = s_latency_block (false, raw_endpoint, request_size,
                              raw_samples + at, size)
          && s_latency_block (true, calls, request_size, zmesh_samples + at,
                              size);
    }
    char label [64];
    snprintf (label, sizeof label, "round trip, %d B body (%zu/%zu B)",
              BODY_SMALL, request_size, reply_size);
    if (ok)
        s_latency_rows ("calls", label, zmesh_samples, raw_samples, count, true);
    else
        fprintf (stderr, "zmesh-bench: a latency run failed\n");
    free (raw_samples);
    free (zmesh_samples);

    double seconds = s_options.quick ? 1 : 4;
    double raw_rate = s_throughput (false, raw_endpoint, request_size, 4,
                                    seconds);
    double zmesh_rate = s_throughput (true, calls, BODY_SMALL, 4, seconds);
    char zt [48], rt [48];
    if (raw_rate > 0 && zmesh_rate > 0)
        s_row ("calls", "throughput, 4 callers, 1 server", s_rate_text (zt, zmesh_rate),
               s_rate_text (rt, raw_rate), zmesh_rate / raw_rate, NULL, NULL);
    s_child_stop (&raw);
    s_child_stop (&echo);
}

//  --------------------------------------------------------------------------
//  Failure paths: calls refused by an open breaker, and how long after a
//  server dies callers start failing fast

static void
s_bench_failure (void)
{
    char dead [PATH_MAX + 64], text [48], what [96];
    snprintf (dead, sizeof dead, "peers/dead/calls=ipc://%s/dead",
              s_options.tmp);
    zmesh_node_t *node = s_node_new ("bench", dead, "timing/call_timeout=20",
                                     NULL);
    uint8_t body [BODY_SMALL];
    s_fill_body (body, sizeof body);
    zmesh_err_t rc = ZMESH_OK;
    for (int attempt = 0; attempt < 100 && rc != ZMESH_ERR_CIRCUIT_OPEN;
         attempt++) {
        zmesh_envelope_t *reply = NULL;
        rc = zmesh_node_call (node, "dead", "bench.echo", body, sizeof body, 0,
                              &reply, NULL);
        zmesh_envelope_destroy (&reply);
    }
    if (rc == ZMESH_ERR_CIRCUIT_OPEN) {
        long count = s_options.quick ? 100000 : 1000000, refused = 0;
        int64_t start = s_now_ns ();
        for (long index = 0; index < count; index++) {
            zmesh_envelope_t *reply = NULL;
            refused += zmesh_node_call (node, "dead", "bench.echo", body,
                                        sizeof body, 0, &reply, NULL)
                       == ZMESH_ERR_CIRCUIT_OPEN;
            zmesh_envelope_destroy (&reply);
        }
        double ns = (double) (s_now_ns () - start) / (double) count;
        snprintf (what, sizeof what, "call refused by an open breaker "
                  "(%ld of %ld refused)", refused, count);
        snprintf (text, sizeof text, "%.2f µs", ns / 1e3);
        s_row ("failure", what, text, NULL, -1, "< 1 µs",
               ns < 1000 && refused == count ? "met" : "MISSED");
    }
    else
        fprintf (stderr, "zmesh-bench: the breaker never opened\n");
    zmesh_node_destroy (&node);

    //  A server killed with SIGKILL: the time until calls fail fast, with
    //  timing/call_timeout = 100 ms and the default breaker
    char calls [PATH_MAX + 64], line [600], endpoint [300], events [300];
    snprintf (calls, sizeof calls, "node/calls=ipc://%s/echo", s_options.tmp);
    s_child_t echo;
    if (!s_role (&echo, "zmesh-echo", "-", calls, NULL)
        || !s_child_line (&echo, line, sizeof line, 10000)
        || sscanf (line, "ready %299s %299s", endpoint, events) != 2)
        return;
    char peer [400];
    node = s_node_new ("bench", s_fmt (peer, sizeof peer,
                                       "peers/echo/calls=%s", endpoint),
                       "timing/call_timeout=100", NULL);
    for (int index = 0; index < 100; index++) {
        zmesh_envelope_t *reply = NULL;
        zmesh_node_call (node, "echo", "bench.echo", body, sizeof body, 0,
                         &reply, NULL);
        zmesh_envelope_destroy (&reply);
    }
    kill (echo.pid, SIGKILL);
    int64_t start = s_now_ns ();
    long failed_slow = 0;
    double fast_at = -1;
    while (s_seconds_since (start) < 30) {
        zmesh_envelope_t *reply = NULL;
        int64_t call_start = s_now_ns ();
        rc = zmesh_node_call (node, "echo", "bench.echo", body, sizeof body, 0,
                              &reply, NULL);
        zmesh_envelope_destroy (&reply);
        if (rc != ZMESH_OK && s_now_ns () - call_start < 1000000) {
            fast_at = s_seconds_since (start);
            break;
        }
        failed_slow += rc != ZMESH_OK;
    }
    s_child_stop (&echo);
    zmesh_node_destroy (&node);
    snprintf (what, sizeof what, "server killed → calls fail fast "
              "(%ld calls timed out first)", failed_slow);
    snprintf (text, sizeof text, fast_at < 0 ? "never" : "%.0f ms",
              fast_at * 1000);
    s_row ("failure", what, text, NULL, -1, NULL, NULL);
}

//  --------------------------------------------------------------------------
//  Instructions per message, counted by callgrind: deterministic, and the
//  same on every CPU, so that a change's cost shows through the noise

//  The instructions callgrind counts in "--role ir kind count", or -1.
static double
s_callgrind (const char *kind, long count)
{
    char log [PATH_MAX + 32], number [24];
    snprintf (log, sizeof log, "%s/callgrind-%s-%ld.log", s_options.tmp, kind,
              count);
    snprintf (number, sizeof number, "%ld", count);
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open (log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2 (fd, STDERR_FILENO);
            dup2 (fd, STDOUT_FILENO);
        }
        execlp ("valgrind", "valgrind", "--tool=callgrind",
                "--callgrind-out-file=/dev/null", s_self, "--role", "ir", kind,
                number, (char *) NULL);
        _exit (127);
    }
    int status = 0;
    if (waitpid (pid, &status, 0) != pid || !WIFEXITED (status)
        || WEXITSTATUS (status) != 0)
        return -1;
    FILE *file = fopen (log, "r");
    double collected = -1;
    char line [512];
    while (file && fgets (line, sizeof line, file)) {
        char *at = strstr (line, "Collected : ");
        if (at)
            collected = strtod (at + 12, NULL);
    }
    if (file)
        fclose (file);
    return collected;
}

//  Instructions per message of kind: the difference between two runs,
//  of count and of 3 × count, so that start-up and shutdown cancel out.
static double
s_per_message (const char *kind, long count)
{
    double small = s_callgrind (kind, count);
    double large = s_callgrind (kind, 3 * count);
    return small > 0 && large > small ? (large - small) / (2.0 * count) : -1;
}

static void
s_bench_instructions (void)
{
    long count = s_options.quick ? 300 : 1000;
    const struct {
        const char *what, *zmesh, *raw;
    } pairs [] = {
        {"instructions per event, 64 B body, published and received",
         "zmesh-event", "raw-event"},
        {"instructions per call, 64 B body, made and served",
         "zmesh-call", "raw-call"},
    };
    for (size_t index = 0; index < 2; index++) {
        double zmesh = s_per_message (pairs [index].zmesh, count);
        double raw = s_per_message (pairs [index].raw, count);
        char zt [48], rt [48];
        snprintf (zt, sizeof zt, zmesh > 0 ? "%.0f" : "failed", zmesh);
        snprintf (rt, sizeof rt, raw > 0 ? "%.0f" : "failed", raw);
        s_row ("instructions", pairs [index].what, zt, rt,
               zmesh > 0 && raw > 0 ? zmesh / raw : -1, NULL, NULL);
    }
}

//  --------------------------------------------------------------------------
//  Durable events: publish with the store, under three commit policies,
//  and a subscriber's recovery after missing many

static double
s_durable_rate (const char *label, const char *sync, const char *group,
                long count, long flush_every)
{
    char data [PATH_MAX + 64];
    snprintf (data, sizeof data, "node/data=%s/%s", s_options.tmp, label);
    zmesh_node_t *node = s_node_new (label, data, sync, group, NULL);
    uint8_t body [BODY_SMALL];
    s_fill_body (body, sizeof body);
    int64_t start = s_now_ns ();
    long failed = 0;
    for (long index = 0; index < count; index++) {
        failed += zmesh_node_publish (node, "bench.event", body, sizeof body)
                  != ZMESH_OK;
        //  The confirm of a batch: all of it is durable once this returns
        if (flush_every && (index + 1) % flush_every == 0
            && zmesh_node_flush (node) != ZMESH_OK)
            failed += flush_every;
    }
    if (flush_every && zmesh_node_flush (node) != ZMESH_OK)
        failed += count % flush_every;
    double seconds = s_seconds_since (start);
    zmesh_node_destroy (&node);
    if (failed)
        fprintf (stderr, "zmesh-bench: %ld publishes failed\n", failed);
    return (double) (count - failed) / seconds;
}

//  Appends per second to the store at path, each commit fsynced: count
//  events, per events in one transaction. -1 if the store cannot be used.
static double
s_append_rate (const char *path, long count, long per)
{
    zmesh_detail_t detail = {""};
    zmesh_store_t *store = zmesh_store_open (path, true, &detail);
    if (!store) {
        fprintf (stderr, "zmesh-bench: %s\n", detail.text);
        return -1;
    }
    zmesh_rand_t *rand = zmesh_rand_seeded_new (7);
    uint8_t body [BODY_SMALL];
    s_fill_body (body, sizeof body);
    body [0] = 0xc4;                    //  A msgpack bin of the rest
    body [1] = (uint8_t) (sizeof body - 2);
    int64_t start = s_now_ns ();
    long failed = 0;
    for (long index = 0; index < count; index += per) {
        bool grouped = per > 1 && zmesh_store_begin (store, NULL) == ZMESH_OK;
        for (long event = 0; event < per; event++) {
            zmesh_new_event_t new_event = {.type = "bench.event",
                                           .body = body,
                                           .body_size = sizeof body,
                                           .timestamp = 1};
            zmesh_uuid_generate (rand, &new_event.id);
            new_event.correlation = new_event.id;
            zmesh_append_result_t result;
            failed += zmesh_store_append (store, "bench-1", ZMESH_VERSION_ANY,
                                          &new_event, 1, &result, NULL)
                      != ZMESH_OK;
        }
        if (grouped && zmesh_store_commit (store, NULL) != ZMESH_OK)
            failed += per;
    }
    double seconds = s_seconds_since (start);
    zmesh_rand_destroy (&rand);
    zmesh_store_close (&store);
    if (failed)
        fprintf (stderr, "zmesh-bench: %ld appends failed\n", failed);
    return failed < count ? (double) (count - failed) / seconds : -1;
}

//  The store's appends on PostgreSQL beside SQLite, one event and 100 per
//  fsynced commit.
static void
s_bench_store (void)
{
    bool quick = s_options.quick;
    const long per [] = {1, 100};
    for (size_t index = 0; index < 2; index++) {
        long count = per [index] == 1 ? (quick ? 300 : 2000)
                                      : (quick ? 5000 : 50000);
        char file [PATH_MAX], what [128], zt [48], rt [48];
        snprintf (file, sizeof file, "%s/append-%ld.db", s_options.tmp,
                  per [index]);
        double lite = s_append_rate (file, count, per [index]);
        double pg = s_options.postgresql
                  ? s_append_rate (s_options.postgresql, count, per [index])
                  : -1;
        snprintf (what, sizeof what, "store append, %ld event%s per fsynced "
                  "commit: PostgreSQL vs SQLite", per [index],
                  per [index] == 1 ? "" : "s");
        s_rate_text (rt, lite);
        if (pg > 0 && lite > 0)
            s_row ("durable", what, s_rate_text (zt, pg), rt, pg / lite, NULL,
                   NULL);
        else
            s_row ("durable", what, s_options.postgresql ? "failed"
                                                         : "no server",
                   lite > 0 ? rt : "failed", -1, NULL, NULL);
    }
}

static void
s_bench_durable (void)
{
    bool quick = s_options.quick;
    char zt [48], rt [48];
    s_rate_text (rt, s_options.rabbitmq_rate);
    double rate = s_durable_rate ("full", "events/sync=full", "events/group=1",
                                  quick ? 300 : 3000, 0);
    s_row ("durable", "publish, committed + fsynced first (default)",
           s_rate_text (zt, rate), rt, rate / s_options.rabbitmq_rate, "≥ 5",
           NULL);
    rate = s_durable_rate ("normal", "events/sync=normal", "events/group=1",
                           quick ? 5000 : 50000, 0);
    s_row ("durable", "publish, committed first, events/sync=normal",
           s_rate_text (zt, rate), rt, rate / s_options.rabbitmq_rate, NULL,
           NULL);
    rate = s_durable_rate ("group", "events/sync=full", "events/group=100",
                           quick ? 20000 : 200000, 100);
    s_row ("durable", "publish, fsynced in groups of 100, each confirmed by "
           "zmesh_node_flush",
           s_rate_text (zt, rate), rt, rate / s_options.rabbitmq_rate, NULL,
           NULL);

    //  Recovery: a consumer stopped, count events published, restarted
    long count = quick ? 10000 : 100000;
    char data [PATH_MAX + 64], line [300], consumer_data [PATH_MAX + 16];
    snprintf (data, sizeof data, "node/data=%s/source", s_options.tmp);
    snprintf (consumer_data, sizeof consumer_data, "%s/consumer",
              s_options.tmp);
    zmesh_node_t *node = s_node_new ("source", data, "events/sync=normal",
                                     "events/group=1000", "timing/heartbeat=100",
                                     "sockets/hwm=1000000", NULL);
    char events [300], calls [300], target [32];
    snprintf (events, sizeof events, "%s", zmesh_node_events_endpoint (node));
    snprintf (calls, sizeof calls, "%s", zmesh_node_calls_endpoint (node));
    s_child_t consumer;
    bool ok = s_role (&consumer, "consumer", events, calls, consumer_data, "1",
                      NULL);
    uint8_t body [BODY_SMALL];
    s_fill_body (body, sizeof body);
    for (int index = 0; index < 1000; index++)
        zmesh_node_publish (node, "bench.warm", body, sizeof body);
    int64_t start = s_now_ns ();
    bool heard = false;
    while (ok && !heard && s_seconds_since (start) < 20) {
        zmesh_node_poll (node, 5);
        heard = s_child_line (&consumer, line, sizeof line, 0);
    }
    s_child_stop (&consumer);
    if (heard) {
        for (long index = 0; index < count; index++) {
            zmesh_node_publish (node, "bench.event", body, sizeof body);
            if (index % 1000 == 999)
                zmesh_node_poll (node, 0);
        }
        zmesh_node_poll (node, 50);
        snprintf (target, sizeof target, "%ld", count);
        ok = s_role (&consumer, "consumer", events, calls, consumer_data,
                     target, NULL);
        start = s_now_ns ();
        double seconds = -1;
        while (ok && seconds < 0 && s_seconds_since (start) < 300) {
            zmesh_node_poll (node, 5);
            if (s_child_line (&consumer, line, sizeof line, 0))
                sscanf (line, "consumed %*d %lf", &seconds);
        }
        s_child_stop (&consumer);
        char what [96];
        snprintf (what, sizeof what, "restarted consumer catches up on %ld "
                  "missed events", count);
        snprintf (zt, sizeof zt, seconds < 0 ? "did not" : "%.2f s", seconds);
        s_row ("durable", what, zt, NULL, -1, NULL, NULL);
        if (seconds > 0)
            s_row ("durable", "  same, as a rate", s_rate_text (zt, (double) count / seconds),
                   NULL, -1, NULL, NULL);
    }
    else
        fprintf (stderr, "zmesh-bench: the consumer never consumed\n");
    zmesh_node_destroy (&node);
    s_bench_store ();
}

//  --------------------------------------------------------------------------
//  Memory: an idle node, and a node serving and publishing for a while

//  Bytes that are not ZMTP, written to a tcp://127.0.0.1:port endpoint on
//  a connection of their own.
static void
s_raw_junk (const char *endpoint, const uint8_t *bytes, size_t size)
{
    const char *port = strrchr (endpoint, ':');
    if (!port || strncmp (endpoint, "tcp://", 6))
        return;
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_port = htons ((uint16_t) strtol (port + 1, NULL, 10));
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect (fd, (struct sockaddr *) &address,
                            sizeof address) == 0) {
        ssize_t sent = send (fd, bytes, size, MSG_NOSIGNAL);
        (void) sent;            //  The node may hang up on us mid-way
    }
    if (fd >= 0)
        close (fd);
}

//  Garbage at a node's calls and events sockets, rounds times: raw bytes
//  to both, and on the calls socket requests without a delimiter, bytes
//  that are not msgpack, and frames of 256 KiB that are not envelopes;
//  nonsense upstream into its publisher. The node's answers are read and
//  dropped as they come.
static void
s_garbage (const char *calls, const char *events, int rounds)
{
    enum { BIG = 256 * 1024 };
    zsock_t *dealer = zsock_new_dealer (calls);
    zsock_t *xsub = zsock_new_xsub (events);
    uint8_t *big = malloc (BIG), junk [2048];
    if (!dealer || !xsub || !big) {
        zsock_destroy (&dealer);
        zsock_destroy (&xsub);
        free (big);
        return;
    }
    memset (big, 0xc1, BIG);
    for (size_t index = 0; index < sizeof junk; index++)
        junk [index] = (uint8_t) (index * 131 + 7);
    for (int round = 0; round < rounds; round++) {
        if (round % 10 == 0) {
            s_raw_junk (calls, junk, sizeof junk);
            s_raw_junk (events, junk, sizeof junk);
        }
        zsock_send (dealer, "s", "no delimiter");
        zsock_send (dealer, "bb", "", (size_t) 0, "\xc1", (size_t) 1);
        zsock_send (dealer, "bb", "", (size_t) 0, big, (size_t) BIG);
        zsock_send (xsub, "s", "\x07not a subscription");
        while (zsock_events (dealer) & ZMQ_POLLIN) {
            zmsg_t *answer = zmsg_recv (dealer);
            zmsg_destroy (&answer);
        }
    }
    int64_t start = s_now_ns ();
    while (s_seconds_since (start) < 1) {
        if (zsock_events (dealer) & ZMQ_POLLIN) {
            zmsg_t *answer = zmsg_recv (dealer);
            zmsg_destroy (&answer);
        }
        else
            usleep (10000);
    }
    free (big);
    zsock_destroy (&xsub);
    zsock_destroy (&dealer);
}

static void
s_bench_memory (void)
{
    char line [600], calls [300], events [300], text [48], raw_text [48];
    s_child_t echo, raw, sub;
    if (!s_role (&raw, "raw-rep", "100", NULL)
        || !s_child_line (&raw, line, sizeof line, 10000)
        || !s_role (&echo, "zmesh-echo", "publish", NULL)
        || !s_child_line (&echo, line, sizeof line, 10000)
        || sscanf (line, "ready %299s %299s", calls, events) != 2)
        return;
    usleep (1000000);
    long idle = s_rss_kib (echo.pid), raw_idle = s_rss_kib (raw.pid);
    snprintf (text, sizeof text, "%.1f MB", (double) idle / 1024);
    snprintf (raw_text, sizeof raw_text, "%.1f MB", (double) raw_idle / 1024);
    s_row ("memory", "resident, idle node (raw: a REP process)", text, raw_text,
           -1, "< 10 MB", idle < 10 * 1024 ? "met" : "MISSED");

    //  After garbage, and two idle seconds, the node is back near its idle
    //  size: what the garbage took was given back.
    int rounds = s_options.quick ? 500 : 2000;
    s_garbage (calls, events, rounds);
    long hit = s_rss_kib (echo.pid);
    usleep (2000000);
    long after = s_rss_kib (echo.pid);
    char what [96];
    snprintf (what, sizeof what, "resident after %d rounds of garbage: at "
              "once → 2 s later", rounds);
    snprintf (text, sizeof text, "%.1f → %.1f MB", (double) hit / 1024,
              (double) after / 1024);
    s_row ("memory", what, text, NULL, -1, "≤ 1.2 × idle",
           after <= idle * 12 / 10 ? "met" : "MISSED");

    s_role (&sub, "zmesh-sub", events, "1000000000", "10000", "echo", NULL);
    s_child_line (&sub, line, sizeof line, 0);
    char peer [400];
    zmesh_node_t *node = s_node_new (
        "bench", s_fmt (peer, sizeof peer, "peers/echo/calls=%s", calls), NULL);
    double seconds = s_options.quick ? 4 : 30;
    long samples [10] = {0}, calls_made = 0;
    uint8_t body [BODY_SMALL];
    s_fill_body (body, sizeof body);
    int64_t start = s_now_ns ();
    for (int sample = 0; sample < 10; sample++) {
        while (s_seconds_since (start) < seconds * (sample + 1) / 10) {
            zmesh_envelope_t *reply = NULL;
            zmesh_node_call (node, "echo", "bench.echo", body, sizeof body, 0,
                             &reply, NULL);
            zmesh_envelope_destroy (&reply);
            calls_made++;
        }
        samples [sample] = s_rss_kib (echo.pid);
    }
    zmesh_node_destroy (&node);
    long peak = 0;
    for (int sample = 0; sample < 10; sample++)
        peak = samples [sample] > peak ? samples [sample] : peak;
    snprintf (what, sizeof what, "resident under load: %ld calls + events in "
              "%.0f s, at 30%% → end", calls_made, seconds);
    snprintf (text, sizeof text, "%.1f → %.1f MB", (double) samples [2] / 1024,
              (double) samples [9] / 1024);
    long growth = samples [9] - samples [2];
    s_row ("memory", what, text, NULL, -1, "flat",
           growth <= 256 ? "met" : "MISSED");
    snprintf (text, sizeof text, "%.1f MB", (double) peak / 1024);
    s_row ("memory", "  same, peak", text, NULL, -1, NULL, NULL);
    s_child_stop (&sub);
    s_child_stop (&echo);
    s_child_stop (&raw);
}

//  --------------------------------------------------------------------------
//  Scale: meshes of 2, 8 and 32 nodes on this host, every node a peer of
//  every other: events/s each node receives while all publish, then call
//  latency into the mesh

static void
s_bench_scale (void)
{
    int sizes [] = {2, 8, 32};
    size_t count = s_options.quick ? 2 : 3;
    double first_rate = 0, first_p50 = 0;
    for (size_t run = 0; run < count; run++) {
        int nodes = sizes [run];
        long events = (s_options.quick ? 40000 : 200000) / (nodes - 1);
        char dir [PATH_MAX], index_text [16], nodes_text [16], events_text [32];
        snprintf (dir, sizeof dir, "%s/mesh%d", s_options.tmp, nodes);
        mkdir (dir, 0700);
        snprintf (nodes_text, sizeof nodes_text, "%d", nodes);
        snprintf (events_text, sizeof events_text, "%ld", events);
        s_child_t children [32];
        int started = 0, ready = 0;
        for (; started < nodes; started++) {
            snprintf (index_text, sizeof index_text, "%d", started);
            if (!s_role (&children [started], "mesh", index_text, nodes_text,
                         dir, events_text, NULL))
                break;
        }
        char line [300];
        for (int index = 0; index < started; index++)
            ready += s_child_line (&children [index], line, sizeof line, 30000);
        double rate = 0;
        long received = 0;
        if (ready == nodes) {
            for (int index = 0; index < started; index++)
                s_child_say (&children [index], "go\n");
            for (int index = 0; index < started; index++) {
                long got = 0;
                double seconds = 0;
                if (s_child_line (&children [index], line, sizeof line, 300000)
                    && sscanf (line, "got %ld %lf", &got, &seconds) == 2
                    && seconds > 0)
                    rate += (double) got / seconds / nodes;
                received += got;
            }
            //  Calls from outside into node 0, the mesh otherwise idle
            size_t calls = s_options.quick ? 1000 : 5000;
            int64_t *samples = calloc (calls, sizeof (int64_t));
            char peer [PATH_MAX + 64];
            zmesh_node_t *node = s_node_new (
                "bench", s_fmt (peer, sizeof peer, "peers/n0/calls=ipc://%s/n0-c",
                                dir), NULL);
            if (s_zmesh_latency (node, "n0", samples, calls)) {
                qsort (samples, calls, sizeof *samples, s_compare_i64);
                double p50 = s_percentile (samples, calls, 50);
                double p99 = s_percentile (samples, calls, 99);
                if (run == 0) {
                    first_rate = rate;
                    first_p50 = p50;
                }
                char what [96], zt [48], rt [48];
                snprintf (what, sizeof what, "%d nodes: events/s in per node "
                          "(%.4f delivered); vs 2 nodes", nodes,
                          (double) received / ((double) events * (nodes - 1)
                                               * nodes));
                s_row ("scale", what, s_rate_text (zt, rate),
                       s_rate_text (rt, first_rate), rate / first_rate, NULL,
                       NULL);
                snprintf (what, sizeof what, "%d nodes: call p50 (p99 %.0f µs)"
                          "; vs 2 nodes", nodes, p99 / 1e3);
                s_row ("scale", what, s_us_text (zt, p50),
                       s_us_text (rt, first_p50), p50 / first_p50, NULL, NULL);
            }
            zmesh_node_destroy (&node);
            free (samples);
        }
        else
            fprintf (stderr, "zmesh-bench: %d of %d mesh nodes ready\n", ready,
                     nodes);
        for (int index = 0; index < started; index++)
            s_child_stop (&children [index]);
    }
}

//  --------------------------------------------------------------------------
//  The edge: POST /orders through the gateway under wrk, against the
//  tutorial's express mini-project under the same load

//  One HTTP request to 127.0.0.1:port; the response (head and body) into
//  response. Returns false if it could not be sent or read.
static bool
s_http (int port, const char *method, const char *path, const char *body,
        char *response, size_t size)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons ((uint16_t) port)};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (connect (fd, (struct sockaddr *) &address, sizeof address)) {
        close (fd);
        return false;
    }
    char request [1024];
    int length = snprintf (request, sizeof request,
                           "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                           method, path, strlen (body), body);
    bool ok = write (fd, request, (size_t) length) == length;
    size_t held = 0;
    ssize_t got;
    while (ok && held + 1 < size
           && (got = read (fd, response + held, size - 1 - held)) > 0)
        held += (size_t) got;
    response [held] = 0;
    close (fd);
    return ok && held > 0;
}

typedef struct {
    double rate, p50_ms, p99_ms;
    long requests;              //  Answered
    long errors;                //  Answered, but not 2xx or 3xx
    long failed;                //  Not answered: socket errors, timeouts
} s_wrk_t;

//  Parse wrk's duration ("1.23ms", "456.00us", "1.10s") into ms.
static double
s_wrk_ms (const char *text)
{
    char *end;
    double value = strtod (text, &end);
    if (*end == 'u')
        return value / 1000;
    if (*end == 's')
        return value * 1000;
    if (*end == 'm' && end [1] == 's')
        return value;
    if (*end == 'm')
        return value * 60000;
    return value;
}

static bool
s_run_wrk (int port, const char *script, double seconds, s_wrk_t *result)
{
    char url [64], duration [32], output [8192];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/orders", port);
    snprintf (duration, sizeof duration, "%.0fs", seconds);
    char *argv [] = {"/usr/bin/wrk", "-t", "2", "-c", "50", "-d", duration,
                     "--latency", "-s", (char *) script, url, NULL};
    s_child_t wrk;
    if (!s_spawn (&wrk, argv))
        return false;
    size_t held = 0;
    while (held + 1 < sizeof output
           && s_child_line (&wrk, output + held, sizeof output - held,
                            (int) seconds * 1000 + 30000)) {
        held += strlen (output + held);
        output [held++] = '\n';
    }
    output [held] = 0;
    waitpid (wrk.pid, NULL, 0);
    close (wrk.to);
    close (wrk.from);
    memset (result, 0, sizeof *result);
    char *at;
    if ((at = strstr (output, "Requests/sec:")))
        result->rate = atof (at + strlen ("Requests/sec:"));
    if ((at = strstr (output, " 50% ")))
        result->p50_ms = s_wrk_ms (at + strspn (at + 5, " ") + 5);
    if ((at = strstr (output, " 99% ")))
        result->p99_ms = s_wrk_ms (at + strspn (at + 5, " ") + 5);
    if ((at = strstr (output, " requests in ")))
        while (at > output && at [-1] != '\n' && at [-1] != ' ')
            at--;
    if (at)
        result->requests = atol (at);
    if ((at = strstr (output, "Non-2xx or 3xx responses:")))
        result->errors = atol (at + strlen ("Non-2xx or 3xx responses:"));
    long connect = 0, read = 0, write = 0, timeout = 0;
    if ((at = strstr (output, "Socket errors:"))
        && sscanf (at, "Socket errors: connect %ld, read %ld, write %ld, "
                   "timeout %ld", &connect, &read, &write, &timeout) == 4)
        result->failed = connect + read + write + timeout;
    //  Only the answers that placed an order count: errors come back fast,
    //  and a service refusing everything must not look quick.
    if (result->requests > 0)
        result->rate *= (double) (result->requests - result->errors)
                      / (double) result->requests;
    if (result->rate <= 0)
        fprintf (stderr, "zmesh-bench: wrk said:\n%s", output);
    return result->rate > 0;
}

//  A free tcp port on loopback (a small race with others, acceptable here).
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    int port = 0;
    if (bind (fd, (struct sockaddr *) &address, sizeof address) == 0
        && getsockname (fd, (struct sockaddr *) &address, &length) == 0)
        port = ntohs (address.sin_port);
    close (fd);
    return port;
}

//  Orders in the order node's store: streams order-<id>.
static long
s_orders_stored (const char *path)
{
    sqlite3 *db = NULL;
    long count = -1;
    sqlite3_stmt *statement = NULL;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
        && sqlite3_prepare_v2 (db, "SELECT count (*) FROM events WHERE type ="
                               " 'order.placed'", -1, &statement, NULL)
               == SQLITE_OK
        && sqlite3_step (statement) == SQLITE_ROW)
        count = sqlite3_column_int64 (statement, 0);
    sqlite3_finalize (statement);
    sqlite3_close (db);
    return count;
}

//  Through the gateway at port: create a user, then put wrk's 50
//  connections on POST /orders for seconds, and wait for what they placed
//  to settle.
static bool
s_edge_load (int port, double seconds, s_wrk_t *result)
{
    char response [4096], user [40] = "";
    const char *id = NULL;
    if (port > 0
        && s_http (port, "POST", "/users",
                   "{\"name\": \"Bench\", \"email\": \"bench@example.org\"}",
                   response, sizeof response))
        id = strstr (response, "\"id\"");
    if (!id || sscanf (id, "\"id\": \"%36[^\"]\"", user) != 1) {
        fprintf (stderr, "zmesh-bench: edge: the mesh did not create a user\n");
        return false;
    }
    snprintf (s_options.script, sizeof s_options.script, "%s/orders.lua",
              s_options.tmp);
    FILE *file = fopen (s_options.script, "w");
    if (!file)
        return false;
    fprintf (file,
             "wrk.method = \"POST\"\n"
             "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
             "wrk.body = '{\"userId\": \"%s\", \"items\": [{\"productId\": "
             "\"p-book\", \"quantity\": 1, \"price\": 1250}]}'\n", user);
    fclose (file);
    bool ok = s_run_wrk (port, s_options.script, seconds, result);
    usleep (500000);
    return ok;
}

//  Start the demo mesh (stores under <tmp>/<label>-<node>, with sync, an
//  events/sync setting), create a user, and put wrk's 50 connections on
//  POST /orders for seconds. *stored: orders placed in the order store.
static bool
s_edge_run (const char *label, const char *sync, double seconds,
            s_wrk_t *result, long *stored)
{
    const char *names [] = {"user", "order", "inventory", "payment", "gateway"};
    const char *peers [] = {"", "user inventory payment", "order", "inventory",
                            "user order"};
    const char *extra [] = {NULL, NULL, "service/stock=1000000000",
                            "service/latency_ms=0", "service/http_port=0"};
    s_child_t children [5];
    int started = 0, port = 0;
    char line [600];
    for (; started < 5; started++) {
        char *argv [32];
        char settings [16][PATH_MAX + 64], program [PATH_MAX];
        int argc = 0, used = 0;
        snprintf (program, sizeof program, "%s/zmesh-%s", s_options.nodes,
                  names [started]);
        argv [argc++] = program;
#define SET(...) (snprintf (settings [used], sizeof settings [used], __VA_ARGS__), \
                  argv [argc++] = "--set", argv [argc++] = settings [used++])
        SET ("node/events=ipc://%s/%s-%s-e", s_options.tmp, label,
             names [started]);
        SET ("node/calls=ipc://%s/%s-%s-c", s_options.tmp, label,
             names [started]);
        SET ("node/data=%s/%s-%s", s_options.tmp, label, names [started]);
        SET ("%s", sync);
        char list [64];
        snprintf (list, sizeof list, "%s", peers [started]);
        for (char *peer = strtok (list, " "); peer; peer = strtok (NULL, " ")) {
            SET ("peers/%s/events=ipc://%s/%s-%s-e", peer, s_options.tmp,
                 label, peer);
            SET ("peers/%s/calls=ipc://%s/%s-%s-c", peer, s_options.tmp,
                 label, peer);
        }
        if (extra [started])
            SET ("%s", extra [started]);
#undef SET
        argv [argc] = NULL;
        if (!s_spawn (&children [started], argv)
            || !s_child_line (&children [started], line, sizeof line, 10000))
            break;
        if (started == 4)
            sscanf (line, "http=%d", &port);
    }
    bool ok = started == 5 && s_edge_load (port, seconds, result);
    for (int index = started - 1; index >= 0; index--)
        s_child_stop (&children [index]);
    char path [PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/%s-order/order.db", s_options.tmp, label);
    *stored = ok ? s_orders_stored (path) : -1;
    return ok;
}

//  CPU time the process has used, user and system, in ms (-1 if unknown).
static double
s_cpu_ms (pid_t pid)
{
    char path [64], text [1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    size_t size = file ? fread (text, 1, sizeof text - 1, file) : 0;
    if (file)
        fclose (file);
    text [size] = 0;
    //  After the command's ")": state is field 3, utime 14, stime 15
    char *at = strrchr (text, ')');
    unsigned long user = 0, system = 0;
    if (!at || sscanf (at + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                       "%lu %lu", &user, &system) != 2)
        return -1;
    return (double) (user + system) * 1000 / (double) sysconf (_SC_CLK_TCK);
}

static void
s_pg_quiet (void *arg, const char *message)
{
    (void) arg, (void) message;     //  "does not exist, skipping"
}

//  Run sql on the --postgresql server at uri; the first column of its first
//  row as a number, or -1.
static long
s_pg_query (const char *uri, const char *sql)
{
    PGconn *conn = PQconnectdb (uri);
    long value = -1;
    PQsetNoticeProcessor (conn, s_pg_quiet, NULL);
    if (PQstatus (conn) == CONNECTION_OK) {
        PGresult *result = PQexec (conn, sql);
        if (PQresultStatus (result) == PGRES_TUPLES_OK && PQntuples (result))
            value = atol (PQgetvalue (result, 0, 0));
        else if (PQresultStatus (result) == PGRES_COMMAND_OK)
            value = 0;
        PQclear (result);
    }
    PQfinish (conn);
    return value;
}

typedef struct {
    s_wrk_t wrk;
    long orders;                //  order.placed in the order store
    long events;                //  Events stored, every service's
    double busy_s;              //  Until the last was stored
    double cpu_ms;              //  Of every node, the gateway's too
} s_replicated_t;

//  The demo mesh on PostgreSQL with replicas (1 or 2) of each service,
//  the two of a service sharing a schema of the --postgresql server,
//  under the edge's load for seconds.
static bool
s_edge_replicas_run (int replicas, double seconds, s_replicated_t *run)
{
    static const char *services [] = {"user", "order", "inventory",
                                      "payment"};
    enum { SERVICES = 4, NODES = 2 * SERVICES + 1 };
    char uris [SERVICES][PATH_MAX + 64];
    const char *base = s_options.postgresql;
    for (int service = 0; service < SERVICES; service++) {
        char sql [160], schema [32];
        snprintf (schema, sizeof schema, "bench_r%d_%s", replicas,
                  services [service]);
        snprintf (sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; "
                  "CREATE SCHEMA %s", schema, schema);
        if (s_pg_query (base, sql) < 0)
            return false;
        snprintf (uris [service], sizeof uris [service],
                  "%s%soptions=-csearch_path%%3D%s", base,
                  strchr (base, '?') ? "&" : "?", schema);
    }
    //  Instances: <service>-a (and -b), then the gateway
    char names [NODES][32];
    int count = 0;
    for (int service = 0; service < SERVICES; service++)
        for (int replica = 0; replica < replicas; replica++)
            snprintf (names [count++], sizeof names [0], "%s-%c",
                      services [service], 'a' + replica);
    int instances = count;
    snprintf (names [count++], sizeof names [0], "gateway");
    s_child_t children [NODES];
    int started = 0, port = 0;
    char line [600];
    static char settings [64][PATH_MAX + 128];
    for (; started < count; started++) {
        char *argv [140], program [PATH_MAX];
        int argc = 0, used = 0;
        const char *name = names [started];
        char service [32];
        snprintf (service, sizeof service, "%s", name);
        if (strchr (service, '-'))
            *strchr (service, '-') = 0;
        snprintf (program, sizeof program, "%s/zmesh-%s", s_options.nodes,
                  service);
        argv [argc++] = program;
#define SET(...) (snprintf (settings [used], sizeof settings [used], __VA_ARGS__), \
                  argv [argc++] = "--set", argv [argc++] = settings [used++])
        SET ("node/name=%s", name);
        SET ("node/service=%s", service);
        SET ("node/events=ipc://%s/r%d-%s-e", s_options.tmp, replicas, name);
        SET ("node/calls=ipc://%s/r%d-%s-c", s_options.tmp, replicas, name);
        int index = 0;
        while (index < SERVICES && !streq (services [index], service))
            index++;
        if (index < SERVICES)
            SET ("node/data=%s", uris [index]);
        else
            SET ("node/data=%s/r%d-gateway", s_options.tmp, replicas);
        SET ("events/sync=normal");
        SET ("service/stock=1000000000");
        SET ("service/http_port=0");
        for (int peer = 0; peer < instances; peer++) {
            if (peer == started)
                continue;
            char of [32];
            snprintf (of, sizeof of, "%s", names [peer]);
            *strchr (of, '-') = 0;
            SET ("peers/%s/service=%s", names [peer], of);
            SET ("peers/%s/events=ipc://%s/r%d-%s-e", names [peer],
                 s_options.tmp, replicas, names [peer]);
            SET ("peers/%s/calls=ipc://%s/r%d-%s-c", names [peer],
                 s_options.tmp, replicas, names [peer]);
        }
#undef SET
        argv [argc] = NULL;
        if (!s_spawn (&children [started], argv)
            || !s_child_line (&children [started], line, sizeof line, 10000))
            break;
        if (started == count - 1)
            sscanf (line, "http=%d", &port);
    }
    usleep (1000000);           //  The members hear each other
    double before = 0;
    for (int index = 0; index < started; index++)
        before += s_cpu_ms (children [index].pid);
    bool ok = started == count && s_edge_load (port, seconds, &run->wrk);
    //  The CPU of what was placed, all of it: until the services are
    //  through with it (no event stored for a second), at most 60 s
    run->events = -1;
    int waited = 0;
    for (int still = 0; still < 4 && waited < 240; waited++) {
        usleep (250000);
        long events = 0;
        for (int service = 0; service < SERVICES; service++)
            events += s_pg_query (uris [service],
                                  "SELECT count (*) FROM events");
        still = events == run->events ? still + 1 : 0;
        run->events = events;
    }
    run->busy_s = seconds + (waited - 4) / 4.0;
    run->cpu_ms = -before;
    for (int index = 0; index < started; index++)
        run->cpu_ms += s_cpu_ms (children [index].pid);
    for (int index = started - 1; index >= 0; index--)
        s_child_stop (&children [index]);
    run->orders = s_pg_query (uris [1], "SELECT count (*) FROM events WHERE "
                                        "type = 'order.placed'");
    return ok && run->orders > 0;
}

static int
s_compare_double (const void *one, const void *two)
{
    double a = *(const double *) one, b = *(const double *) two;
    return (a > b) - (a < b);
}

static double
s_median_of (double *values, int count)
{
    qsort (values, (size_t) count, sizeof *values, s_compare_double);
    return values [count / 2];
}

//  POST /orders through a mesh of one and of two replicas of each service
//  on PostgreSQL: two replicas on two cores must lose no throughput, and
//  spend no more CPU per order. The server shares the cores, and a run
//  varies with what it is doing: the two meshes take turns (three each,
//  one in quick mode), and the medians count.
static void
s_bench_replicas (double seconds)
{
    enum { TURNS_MAX = 3 };
    int turns = s_options.quick ? 1 : TURNS_MAX;
    double rate [2][TURNS_MAX], cpu [2][TURNS_MAX], events [2][TURNS_MAX];
    bool ok = s_options.postgresql != NULL;
    for (int turn = 0; ok && turn < turns; turn++)
        for (int mesh = 0; ok && mesh < 2; mesh++) {
            s_replicated_t run;
            memset (&run, 0, sizeof run);
            ok = s_edge_replicas_run (mesh + 1, seconds, &run);
            rate [mesh][turn] = run.wrk.rate;
            cpu [mesh][turn] = run.cpu_ms / (double) run.orders;
            events [mesh][turn] = (double) run.events / run.busy_s;
        }
    if (!ok) {
        s_row ("edge", "POST /orders on PostgreSQL, 1 and 2 replicas of "
               "each service", s_options.postgresql ? "failed"
                                                    : "no --postgresql",
               NULL, -1, NULL, NULL);
        return;
    }
    double median [3][2];
    for (int mesh = 0; mesh < 2; mesh++) {
        median [0][mesh] = s_median_of (rate [mesh], turns);
        median [1][mesh] = s_median_of (cpu [mesh], turns);
        median [2][mesh] = s_median_of (events [mesh], turns);
    }
    char one [48], two [48], what [160];
    snprintf (what, sizeof what, "POST /orders on PostgreSQL, 2 replicas of "
              "each service vs 1, median of %d", turns);
    s_row ("edge", what, s_rate_text (two, median [0][1]),
           s_rate_text (one, median [0][0]), median [0][1] / median [0][0],
           "≥ 0.9", NULL);
    snprintf (two, sizeof two, "%.2f ms", median [1][1]);
    snprintf (one, sizeof one, "%.2f ms", median [1][0]);
    s_row ("edge", "  same, CPU of every node per order placed", two, one,
           median [1][1] / median [1][0], "≤ 1.15", NULL);
    snprintf (two, sizeof two, "%.0f/s", median [2][1]);
    snprintf (one, sizeof one, "%.0f/s", median [2][0]);
    s_row ("edge", "  same, events stored by every service, until the "
           "last", two, one, median [2][1] / median [2][0], NULL, NULL);
}

static void
s_bench_edge (void)
{
    if (access ("/usr/bin/wrk", X_OK) || !s_options.nodes) {
        fprintf (stderr, "zmesh-bench: edge skipped: needs /usr/bin/wrk and "
                 "the demo nodes (--nodes)\n");
        return;
    }
    double seconds = s_options.quick ? 3 : 15;
    s_wrk_t zmesh = {0}, normal = {0}, express = {0};
    long stored = 0, normal_stored = 0;
    bool ok = s_edge_run ("full", "events/sync=full", seconds, &zmesh, &stored);
    bool normal_ok = !s_options.quick
                  && s_edge_run ("normal", "events/sync=normal", seconds,
                                 &normal, &normal_stored);

    //  The express mini-project, when the bench was given it
    double express_rate = s_options.express_rate;
    const char *express_from = express_rate > 0 ? "given" : "not run";
    char line [300];
    if (s_options.express && ok) {
        int express_port = s_free_port ();
        char port_text [16];
        snprintf (port_text, sizeof port_text, "%d", express_port);
        char *argv [] = {"/usr/bin/env", "node", (char *) s_options.express,
                         port_text, NULL};
        s_child_t node;
        if (s_spawn (&node, argv)
            && s_child_line (&node, line, sizeof line, 10000)
            && s_run_wrk (express_port, s_options.script, seconds, &express)) {
            express_rate = express.rate;
            express_from = "measured";
        }
        s_child_stop (&node);
    }
    char what [96], zt [48], rt [48];
    const struct {
        bool ok;
        s_wrk_t *wrk;
        long stored;
        const char *name;
    } runs [] = {{ok, &zmesh, stored, "events/sync=full (default)"},
                 {normal_ok, &normal, normal_stored, "events/sync=normal"}};
    for (size_t run = 0; run < 2; run++) {
        if (!runs [run].ok)
            continue;
        s_wrk_t *wrk = runs [run].wrk;
        snprintf (what, sizeof what, "POST /orders, 50 conns, %s, vs express "
                  "(%s)", runs [run].name, express_from);
        s_row ("edge", what, s_rate_text (zt, wrk->rate),
               express_rate > 0 ? s_rate_text (rt, express_rate) : "",
               express_rate > 0 ? wrk->rate / express_rate : -1,
               express_rate > 0 ? "≥ 2" : NULL, NULL);
        snprintf (zt, sizeof zt, "%.1f / %.1f ms", wrk->p50_ms, wrk->p99_ms);
        snprintf (rt, sizeof rt, express.rate > 0 ? "%.1f / %.1f ms" : "",
                  express.p50_ms, express.p99_ms);
        s_row ("edge", "  same, latency p50 / p99", zt, rt, -1, NULL, NULL);
        snprintf (what, sizeof what, "  orders placed in the store, of %ld "
                  "answered (%ld not 2xx; %ld unanswered)", wrk->requests,
                  wrk->errors, wrk->failed);
        snprintf (zt, sizeof zt, "%ld", runs [run].stored);
        s_row ("edge", what, zt, NULL, -1, NULL,
               runs [run].stored >= wrk->requests - wrk->errors ? "all"
                                                                : "MISSING");
    }
    s_bench_replicas (seconds);
}

//  --------------------------------------------------------------------------
//  The report, and main

static void
s_machine (char *text, size_t size)
{
    char model [256] = "unknown CPU", line [512];
    FILE *file = fopen ("/proc/cpuinfo", "r");
    while (file && fgets (line, sizeof line, file))
        if (sscanf (line, "model name : %255[^\n]", model) == 1)
            break;
    if (file)
        fclose (file);
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    snprintf (text, size, "%ld cores (%s), libzmq %d.%d.%d, czmq %d.%d.%d",
              sysconf (_SC_NPROCESSORS_ONLN), model, major, minor, patch,
              CZMQ_VERSION_MAJOR, CZMQ_VERSION_MINOR, CZMQ_VERSION_PATCH);
}

static bool
s_write_report (const char *path, const char *started, double seconds)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return false;
    char machine [512];
    s_machine (machine, sizeof machine);
    fprintf (file,
             "# zmesh-bench report\n\n"
             "- Run: %s UTC, %s mode, %.0f s in all\n"
             "- Machine: %s\n"
             "- Each zmesh figure was measured in the same run as its "
             "counterpart; the ratio is zmesh / counterpart.\n"
             "- Counterparts: raw libzmq sending frames of the same sizes as "
             "zmesh's (events: topic + envelope; calls: request and reply "
             "envelopes); for durable events, a RabbitMQ durable queue with "
             "publisher confirms (%.0f/s, given, not measured); for the edge, "
             "the tutorial's express mini-project.\n\n"
             "| section | measurement | zmesh | counterpart | ratio | target "
             "| verdict |\n|---|---|---:|---:|---:|---|---|\n",
             started, s_options.quick ? "quick" : "full", seconds, machine,
             s_options.rabbitmq_rate);
    for (size_t index = 0; index < s_row_count; index++) {
        s_row_t *row = &s_rows [index];
        fprintf (file, "| %s | %s | %s | %s | %s | %s | %s |\n", row->section,
                 row->what, row->zmesh, row->raw, row->ratio, row->target,
                 row->verdict);
    }
    fclose (file);
    return true;
}

static void
s_remove_tree (const char *path)
{
    char command [PATH_MAX + 16];
    if (strncmp (path, "/tmp/zmesh-bench.", 17) == 0) {
        snprintf (command, sizeof command, "rm -rf '%s'", path);
        if (system (command) != 0)
            fprintf (stderr, "zmesh-bench: could not remove %s\n", path);
    }
}

static void
s_usage (FILE *out)
{
    fprintf (out,
"Usage: zmesh-bench [OPTION]...\n"
"Measure zmesh against raw libzmq, side by side in one run, and print a\n"
"table of figures and ratios (zmesh / counterpart).\n"
"\n"
"Sections, in order:\n"
"  events   publish/subscribe over tcp loopback, 64 B and 1 KiB bodies,\n"
"           1, 4 and 16 subscribers; raw sends frames of zmesh's sizes;\n"
"           raw and zmesh take three turns each, and the medians count\n"
"  calls    round-trip latency (p50, p99, p99.9) of one caller, and the\n"
"           throughput of four, against raw REQ/REP; each side calls\n"
"           from processes of its own, ten turns each\n"
"  failure  the cost of a call refused by an open breaker, and the time\n"
"           from a server's SIGKILL until calls fail fast\n"
"  instructions  per event and per call, zmesh and raw side by side,\n"
"           counted by valgrind's callgrind in one process over inproc:\n"
"           the same on every CPU\n"
"  durable  publish with the store: fsynced (default), events/sync=normal,\n"
"           group commit; a restarted consumer catching up; the store's\n"
"           own appends, fsynced, on PostgreSQL beside SQLite\n"
"  memory   resident size of an idle node, after garbage at every socket,\n"
"           and under sustained load\n"
"  scale    meshes of 2, 8 and 32 nodes: events/s per node, call latency\n"
"  edge     POST /orders through the demo gateway under wrk (50\n"
"           connections), against the tutorial's express mini-project;\n"
"           the rates count 2xx answers only; then, with --postgresql,\n"
"           the same on PostgreSQL with 1 and with 2 replicas of each\n"
"           service, three turns each (medians): rate, CPU of every\n"
"           node per order until the services are through, events\n"
"           stored per second\n"
"\n"
"Options:\n"
"  -q, --quick             small counts and short runs (under 30 s; the\n"
"                          16-subscriber and 32-node runs are left out)\n"
"  -o, --report FILE       also write the table as Markdown to FILE\n"
"      --only LIST         run only these sections (comma-separated)\n"
"      --nodes DIR         the demo node programs, for the edge (default:\n"
"                          ../nodes beside this program, if there)\n"
"      --express SCRIPT    the express mini-project to run with node(1),\n"
"                          for the edge's counterpart\n"
"      --postgresql URI    a PostgreSQL server (libpq URI) for the durable\n"
"                          section's store rows, beside SQLite (bench.sh\n"
"                          starts one with tools/pg.sh)\n"
"      --express-rate N    requests/s to compare the edge with when\n"
"                          --express is not given (default: none)\n"
"      --rabbitmq-rate N   messages/s of a RabbitMQ durable queue with\n"
"                          publisher confirms on this machine (default 9000)\n"
"  -h, --help              show this help and exit\n"
"  -V, --version           show the version and exit\n"
"\n"
"Targets (ratios in one run): events >= 0.8 x raw; call p50 <= 1.15 x raw,\n"
"p99 <= 1.5 x; open-breaker refusal < 1 us; durable events >= 5 x\n"
"RabbitMQ; POST /orders >= 2 x express; an idle node < 10 MB, flat under\n"
"load. A verdict column says which were met; the exit status does not.\n"
"\n"
"Every load is bounded in count and time; traffic stays on loopback and\n"
"ipc. What the processes of a run log goes to /tmp/zmesh-bench.log.\n"
"Exit status: 0 done, 1 nothing could be measured, 2 usage error.\n");
}

int
main (int argc, char *argv [])
{
    ssize_t length = readlink ("/proc/self/exe", s_self, sizeof s_self - 1);
    if (length <= 0)
        return 1;
    s_self [length] = 0;
    zsys_set_logstream (stderr);        //  stdout carries our own lines
    if (argc >= 3 && streq (argv [1], "--role")) {
        for (size_t role = 0; role < sizeof s_roles / sizeof s_roles [0]; role++)
            if (streq (argv [2], s_roles [role].name))
                return s_roles [role].run (argc - 3, argv + 3);
        return 2;
    }
    static const struct option options [] = {
        {"quick", no_argument, NULL, 'q'},
        {"report", required_argument, NULL, 'o'},
        {"only", required_argument, NULL, 'O'},
        {"nodes", required_argument, NULL, 'N'},
        {"express", required_argument, NULL, 'E'},
        {"postgresql", required_argument, NULL, 'P'},
        {"express-rate", required_argument, NULL, 'e'},
        {"rabbitmq-rate", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    int option;
    while ((option = getopt_long (argc, argv, "qo:hV", options, NULL)) != -1) {
        char *end = NULL;
        switch (option) {
            case 'q': s_options.quick = true; break;
            case 'o': s_options.report = optarg; break;
            case 'O': s_options.only = optarg; break;
            case 'N': s_options.nodes = optarg; break;
            case 'E': s_options.express = optarg; break;
            case 'P': s_options.postgresql = optarg; break;
            case 'e':
            case 'r': {
                double value = strtod (optarg, &end);
                if (*end || value <= 0) {
                    fprintf (stderr, "zmesh-bench: --%s takes a positive "
                             "number; try --help\n", option == 'e'
                             ? "express-rate" : "rabbitmq-rate");
                    return 2;
                }
                *(option == 'e' ? &s_options.express_rate
                                : &s_options.rabbitmq_rate) = value;
                break;
            }
            case 'h': s_usage (stdout); return 0;
            case 'V': printf ("zmesh-bench %s\n", BENCH_VERSION); return 0;
            default:
                fprintf (stderr, "zmesh-bench: try --help\n");
                return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "zmesh-bench: unexpected '%s'; try --help\n",
                 argv [optind]);
        return 2;
    }
    const char *sections [] = {"events", "calls", "failure", "instructions",
                               "durable", "memory", "scale", "edge"};
    if (s_options.only)
        for (char *copy = strdup (s_options.only), *name = strtok (copy, ",");
             name || (free (copy), false); name = strtok (NULL, ",")) {
            bool known = false;
            for (size_t index = 0; index < 8; index++)
                known |= streq (name, sections [index]);
            if (!known) {
                fprintf (stderr, "zmesh-bench: no section '%s'; try --help\n",
                         name);
                free (copy);
                return 2;
            }
        }
    static char nodes [PATH_MAX];
    if (!s_options.nodes) {
        snprintf (nodes, sizeof nodes, "%s", s_self);
        char *slash = strrchr (nodes, '/');
        if (slash) {
            *slash = 0;
            slash = strrchr (nodes, '/');
            if (slash)
                snprintf (slash, sizeof nodes - (size_t) (slash - nodes),
                          "/nodes");
            if (access (nodes, X_OK) == 0)
                s_options.nodes = nodes;
        }
    }
    zsys_set_max_sockets (0);
    signal (SIGPIPE, SIG_IGN);
    snprintf (s_options.tmp, sizeof s_options.tmp, "/tmp/zmesh-bench.XXXXXX");
    if (!mkdtemp (s_options.tmp)) {
        fprintf (stderr, "zmesh-bench: cannot make a directory in /tmp\n");
        return 1;
    }
    snprintf (s_log, sizeof s_log, "/tmp/zmesh-bench.log");
    int log = open (s_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log >= 0)
        close (log);
    char started [32];
    time_t now = time (NULL);
    strftime (started, sizeof started, "%Y-%m-%d %H:%M", gmtime (&now));
    int64_t start = s_now_ns ();
    printf ("zmesh-bench %s, %s mode\n  %-9s %-46s %14s %14s %6s %-10s %s\n",
            BENCH_VERSION, s_options.quick ? "quick" : "full", "section",
            "measurement", "zmesh", "counterpart", "ratio", "target",
            "verdict");
    void (*runs []) (void) = {s_bench_events, s_bench_failure, s_bench_calls,
                              s_bench_instructions, s_bench_durable,
                              s_bench_memory, s_bench_scale, s_bench_edge};
    const char *order [] = {"events", "failure", "calls", "instructions",
                            "durable", "memory", "scale", "edge"};
    for (size_t index = 0; index < 8; index++)
        if (s_section (order [index]))
            runs [index] ();
    s_remove_tree (s_options.tmp);
    if (s_options.report
        && !s_write_report (s_options.report, started, s_seconds_since (start))) {
        fprintf (stderr, "zmesh-bench: cannot write %s\n", s_options.report);
        return 1;
    }
    return s_row_count > 0 ? 0 : 1;
}
