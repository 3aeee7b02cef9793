/*  test_hello_events.c - the hello_events example, run as two real processes
    over tcp loopback.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include "zmesh.h"

extern char **environ;

typedef struct {
    pid_t pid;
    FILE *out;                  //  The child's stdout
    FILE *err;                  //  The child's stderr
} s_child_t;

static s_child_t
s_spawn (const char *command, const char *endpoint, const char *count)
{
    int out [2], err [2];
    cr_assert (pipe (out) == 0 && pipe (err) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, out [1], 1);
    posix_spawn_file_actions_adddup2 (&actions, err [1], 2);
    posix_spawn_file_actions_addclose (&actions, out [0]);
    posix_spawn_file_actions_addclose (&actions, err [0]);
    char *argv [] = {HELLO_EVENTS, (char *) command, "--count", (char *) count,
                     endpoint ? "--endpoint" : NULL, (char *) endpoint, NULL};
    s_child_t child;
    cr_assert (posix_spawn (&child.pid, HELLO_EVENTS, &actions, NULL, argv,
                            environ) == 0);
    posix_spawn_file_actions_destroy (&actions);
    close (out [1]);
    close (err [1]);
    child.out = fdopen (out [0], "r");
    child.err = fdopen (err [0], "r");
    //  Unbuffered, so poll() on the descriptor sees every line stdio has
    //  not yet handed out.
    setvbuf (child.out, NULL, _IONBF, 0);
    setvbuf (child.err, NULL, _IONBF, 0);
    return child;
}

//  Read one line within timeout_ms; false at end of file or timeout.
static bool
s_read_line (FILE *file, char *line, size_t size, int timeout_ms)
{
    struct pollfd pollfd = {fileno (file), POLLIN, 0};
    if (poll (&pollfd, 1, timeout_ms) <= 0)
        return false;
    return fgets (line, (int) size, file) != NULL;
}

//  Wait for the child to exit, at most 10 s; returns its exit code.
static int
s_reap (s_child_t *child)
{
    for (int tick = 0; tick < 1000; tick++) {
        int status;
        if (waitpid (child->pid, &status, WNOHANG) == child->pid) {
            fclose (child->out);
            fclose (child->err);
            return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
        }
        zclock_sleep (10);
    }
    kill (child->pid, SIGKILL);
    waitpid (child->pid, NULL, 0);
    cr_fatal ("child %d did not exit", child->pid);
    return -1;
}

static void
s_endpoint (s_child_t *listener, char *endpoint, size_t size)
{
    cr_assert (s_read_line (listener->out, endpoint, size, 5000),
               "listener printed no endpoint");
    endpoint [strcspn (endpoint, "\n")] = 0;
    cr_assert (strncmp (endpoint, "tcp://127.0.0.1:", 16) == 0, "%s",
               endpoint);
}

Test (hello_events, carries_one_flow_between_two_processes)
{
    s_child_t listener = s_spawn ("listen", NULL, "3");
    char endpoint [256];
    s_endpoint (&listener, endpoint, sizeof endpoint);

    s_child_t publisher = s_spawn ("publish", endpoint, "3");
    char said [256], correlation [64] = "";
    while (s_read_line (publisher.err, said, sizeof said, 5000)) {
        char *found = strstr (said, "correlation ");
        if (found)
            snprintf (correlation, sizeof correlation, "correlation=%.36s",
                      found + 12);
    }
    cr_assert (eq (int, s_reap (&publisher), 0));
    cr_assert (strlen (correlation) == 12 + 36, "publisher named no flow");

    char ids [3][64];
    for (int seq = 1; seq <= 3; seq++) {
        char line [512], expected [32];
        cr_assert (s_read_line (listener.out, line, sizeof line, 5000),
                   "event %d never arrived", seq);
        snprintf (expected, sizeof expected, "order.created seq=%d ", seq);
        cr_assert (strncmp (line, expected, strlen (expected)) == 0, "%s",
                   line);
        cr_assert (strstr (line, correlation) != NULL,
                   "event %d left the flow: %s", seq, line);
        char *id = strstr (line, " id=");
        cr_assert (id != NULL);
        snprintf (ids [seq - 1], sizeof ids [0], "%.36s", id + 4);
        zmesh_uuid_t parsed;
        cr_assert (eq (int, zmesh_uuid_parse (ids [seq - 1], &parsed), 0));
        for (int before = 0; before < seq - 1; before++)
            cr_assert (strcmp (ids [before], ids [seq - 1]) != 0);
    }
    cr_assert (eq (int, s_reap (&listener), 0));
}

Test (hello_events, listener_drops_bad_messages_and_keeps_going)
{
    s_child_t listener = s_spawn ("listen", NULL, "1");
    char endpoint [256];
    s_endpoint (&listener, endpoint, sizeof endpoint);

    //  A hostile publisher: waits to be subscribed, then sends a topic with
    //  garbage for an envelope, a lone topic, and a valid envelope under a
    //  topic that does not match its type.
    zsock_t *rogue = zsock_new (ZMQ_XPUB);
    cr_assert (zsock_connect (rogue, "%s", endpoint) == 0);
    zpoller_t *poller = zpoller_new (rogue, NULL);
    cr_assert (zpoller_wait (poller, 5000) == rogue, "no subscription");
    zframe_t *subscription = zframe_recv (rogue);
    zframe_destroy (&subscription);
    zpoller_destroy (&poller);
    zsock_send (rogue, "bb", "order.created", (size_t) 14, "garbage", (size_t) 7);
    zsock_send (rogue, "b", "order.created", (size_t) 14);

    zmesh_rand_t *rand = zmesh_rand_seeded_new (1);
    zmesh_envelope_t *event = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_uuid_t id;
    zmesh_uuid_generate (rand, &id);
    zmesh_envelope_set_id (event, &id);
    zmesh_envelope_set_correlation (event, &id);
    zmesh_envelope_set_type (event, "user.created");
    zmesh_envelope_set_source (event, "rogue");
    zmesh_envelope_set_seq (event, 1);
    zframe_t *frame = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (event, &frame, NULL), 0));
    zsock_send (rogue, "bf", "order.created", (size_t) 14, frame);
    zframe_destroy (&frame);
    zmesh_envelope_destroy (&event);
    zmesh_rand_destroy (&rand);

    //  All three are refused before the real publisher starts.
    char line [512];
    for (int bad = 1; bad <= 3; bad++) {
        cr_assert (s_read_line (listener.err, line, sizeof line, 5000),
                   "bad message %d went unreported", bad);
        cr_assert (strstr (line, "dropped bad message") != NULL, "%s", line);
    }
    s_child_t publisher = s_spawn ("publish", endpoint, "1");
    cr_assert (eq (int, s_reap (&publisher), 0));
    cr_assert (s_read_line (listener.out, line, sizeof line, 5000),
               "the valid event never arrived");
    cr_assert (strncmp (line, "order.created seq=1 from=hello-publisher", 40)
               == 0, "%s", line);
    cr_assert (eq (int, s_reap (&listener), 0));
    zsock_destroy (&rogue);
}
