/*  child.c - child processes for the integration suites.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include <czmq.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include "zmesh.h"
#include "child.h"

extern char **environ;

#define LIVE_MAX 32
static pid_t s_live [LIVE_MAX];  //  Started, not yet reaped

static void
s_forget (pid_t pid)
{
    for (int index = 0; index < LIVE_MAX; index++)
        if (s_live [index] == pid)
            s_live [index] = 0;
}

void
child_cleanup (void)
{
    for (int index = 0; index < LIVE_MAX; index++)
        if (s_live [index] > 0) {
            kill (s_live [index], SIGKILL);
            waitpid (s_live [index], NULL, 0);
            s_live [index] = 0;
        }
}

//  Start argv [0]: posix_spawn, or, to hand it listener (>= 0) by the
//  socket-activation protocol, fork and exec, since LISTEN_PID must be the
//  child's own pid (written into the environment, after the fork, with
//  async-signal-safe calls only).
static pid_t
s_exec (char *const argv [], int out, int err, int listener)
{
    if (listener < 0) {
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init (&actions);
        posix_spawn_file_actions_adddup2 (&actions, out, 1);
        if (err >= 0)
            posix_spawn_file_actions_adddup2 (&actions, err, 2);
        pid_t pid;
        cr_assert (posix_spawn (&pid, argv [0], &actions, NULL, argv,
                                environ) == 0, "cannot start %s", argv [0]);
        posix_spawn_file_actions_destroy (&actions);
        return pid;
    }
    size_t count = 0;
    while (environ [count])
        count++;
    char **envp = calloc (count + 3, sizeof (char *));
    cr_assert (envp != NULL);
    memcpy (envp, environ, count * sizeof (char *));
    static char listen_pid [32] = "LISTEN_PID=";
    envp [count] = listen_pid;
    envp [count + 1] = "LISTEN_FDS=1";
    pid_t pid = fork ();
    cr_assert (pid >= 0);
    if (pid == 0) {
        char digits [16];
        int used = 0;
        for (pid_t self = getpid (); self > 0; self /= 10)
            digits [used++] = (char) ('0' + self % 10);
        char *at = listen_pid + strlen ("LISTEN_PID=");
        while (used > 0)
            *at++ = digits [--used];
        *at = 0;
        if (dup2 (out, 1) < 0 || (err >= 0 && dup2 (err, 2) < 0)
            || (listener != 3 && dup2 (listener, 3) < 0)
            || fcntl (3, F_SETFD, 0) < 0)
            _exit (127);
        execve (argv [0], argv, envp);
        _exit (127);
    }
    free (envp);
    return pid;
}

static child_t
s_spawn (char *const argv [], bool pipe_err, int listener)
{
    int out [2], err [2] = {-1, -1};
    //  Close-on-exec, so that the child keeps only the ends it is given:
    //  a stray copy would keep the pipe open in whatever it starts
    cr_assert (pipe2 (out, O_CLOEXEC) == 0
               && (!pipe_err || pipe2 (err, O_CLOEXEC) == 0));
    child_t child;
    child.pid = s_exec (argv, out [1], err [1], listener);
    for (int index = 0; index < LIVE_MAX; index++)
        if (s_live [index] == 0) {
            s_live [index] = child.pid;
            break;
        }
    close (out [1]);
    child.out = fdopen (out [0], "r");
    child.err = NULL;
    //  Unbuffered, so poll() on the descriptor sees every line stdio has
    //  not yet handed out.
    setvbuf (child.out, NULL, _IONBF, 0);
    if (pipe_err) {
        close (err [1]);
        child.err = fdopen (err [0], "r");
        setvbuf (child.err, NULL, _IONBF, 0);
    }
    return child;
}

child_t
child_spawn (char *const argv [])
{
    return s_spawn (argv, false, -1);
}

child_t
child_spawn_piped (char *const argv [])
{
    return s_spawn (argv, true, -1);
}

bool
child_read_line (FILE *file, char *line, size_t size, int timeout_ms)
{
    struct pollfd pollfd = {fileno (file), POLLIN, 0};
    if (poll (&pollfd, 1, timeout_ms) <= 0)
        return false;
    return fgets (line, (int) size, file) != NULL;
}

int
child_reap (child_t *child, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 5) {
        int status;
        if (waitpid (child->pid, &status, WNOHANG) == child->pid) {
            s_forget (child->pid);
            fclose (child->out);
            if (child->err)
                fclose (child->err);
            return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
        }
        zclock_sleep (5);
    }
    kill (child->pid, SIGKILL);
    waitpid (child->pid, NULL, 0);
    s_forget (child->pid);
    fclose (child->out);
    if (child->err)
        fclose (child->err);
    cr_fatal ("child %d did not exit within %d ms", child->pid, timeout_ms);
    return -1;
}

int
child_run (char *const argv [], int timeout_ms)
{
    child_t child = child_spawn (argv);
    char line [256];
    while (child_read_line (child.out, line, sizeof line, timeout_ms))
        ;
    return child_reap (&child, timeout_ms);
}

int
child_stop (child_t *child, int timeout_ms)
{
    kill (child->pid, SIGTERM);
    return child_reap (child, timeout_ms);
}

void
child_kill (child_t *child)
{
    kill (child->pid, SIGKILL);
    waitpid (child->pid, NULL, 0);
    s_forget (child->pid);
    fclose (child->out);
    if (child->err)
        fclose (child->err);
}

testnode_t
testnode_start (const char *program, const char *role,
                const char *const *settings)
{
    const char *options [] = {"--role", role, NULL};
    return testnode_start_with (program, options, settings);
}

testnode_t
testnode_start_with (const char *program, const char *const *options,
                     const char *const *settings)
{
    char *argv [40] = {(char *) program};
    int argc = 1;
    for (int index = 0; options [index]; index++) {
        cr_assert (argc < 20, "too many options");
        argv [argc++] = (char *) options [index];
    }
    for (int index = 0; settings && settings [index]; index++) {
        cr_assert (argc < 37, "too many settings");
        argv [argc++] = "--set";
        argv [argc++] = (char *) settings [index];
    }
    argv [argc] = NULL;
    testnode_t node;
    node.child = child_spawn (argv);
    char line [600];
    cr_assert (child_read_line (node.child.out, line, sizeof line, 5000),
               "%s printed no endpoints", program);
    cr_assert (sscanf (line, "events=%255s calls=%255s", node.events,
                       node.calls) == 2, "%s", line);
    return node;
}

void
child_dir_make (char *dir, const char *name)
{
    snprintf (dir, 64, "/tmp/zmesh-%s-XXXXXX", name);
    cr_assert (mkdtemp (dir) != NULL);
}

void
child_dir_remove (const char *dir)
{
    char command [200];
    snprintf (command, sizeof command, "rm -rf %s", dir);
    if (system (command) != 0)
        fprintf (stderr, "could not remove %s\n", dir);
}

child_t
child_start_service (const char *nodes_dir, const char *dir,
                     const char *service, const char *const *peers,
                     const char *extra, char *line, size_t size)
{
    return child_start_service_on (nodes_dir, dir, service, peers, extra, -1,
                                   line, size);
}

child_t
child_start_service_on (const char *nodes_dir, const char *dir,
                        const char *service, const char *const *peers,
                        const char *extra, int listener, char *line,
                        size_t size)
{
    char program [300], settings [16][200];
    snprintf (program, sizeof program, "%s/zmesh-%s", nodes_dir, service);
    int count = 0;
    snprintf (settings [count++], 200, "node/data=%s/%s", dir, service);
    snprintf (settings [count++], 200, "node/events=ipc://%s/%s-events", dir,
              service);
    snprintf (settings [count++], 200, "node/calls=ipc://%s/%s-calls", dir,
              service);
    snprintf (settings [count++], 200, "timing/heartbeat=100");
    for (int index = 0; peers && peers [index] && count < 14; index++) {
        snprintf (settings [count++], 200, "peers/%s/events=ipc://%s/%s-events",
                  peers [index], dir, peers [index]);
        snprintf (settings [count++], 200, "peers/%s/calls=ipc://%s/%s-calls",
                  peers [index], dir, peers [index]);
    }
    char more [400];
    snprintf (more, sizeof more, "%s", extra ? extra : "");
    char *rest = NULL;
    for (char *setting = strtok_r (more, " ", &rest); setting && count < 16;
         setting = strtok_r (NULL, " ", &rest))
        snprintf (settings [count++], 200, "%s", setting);
    char *argv [40] = {program};
    int argc = 1;
    for (int index = 0; index < count; index++) {
        argv [argc++] = "--set";
        argv [argc++] = settings [index];
    }
    argv [argc] = NULL;
    child_t child = s_spawn (argv, false, listener);
    char first [600];
    cr_assert (child_read_line (child.out, line ? line : first,
                                line ? size : sizeof first, 5000),
               "%s did not start", service);
    return child;
}

uint64_t
child_committed (const char *dir, const char *name)
{
    char path [160];
    snprintf (path, sizeof path, "%s/%s/%s.db", dir, name, name);
    zmesh_store_t *store = zmesh_store_open (path, false, NULL);
    uint64_t head = UINT64_MAX;
    if (store)
        zmesh_store_head (store, &head);
    zmesh_store_close (&store);
    return head;
}
