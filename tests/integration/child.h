/*  child.h - run a program under test as a real child process, read what
    it prints with deadlines, and give it a directory to work in
    (integration suites only).

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_TEST_CHILD_H_INCLUDED
#define ZMESH_TEST_CHILD_H_INCLUDED

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    FILE *out;                  //  The child's stdout, unbuffered
    FILE *err;                  //  Its stderr, or NULL when it is shared
} child_t;

//  Start argv [0] with argv (NULL-terminated), reading its stdout; its
//  stderr goes where the test's goes, so its logs (and sanitizer reports)
//  reach ctest and can never fill a pipe nobody reads. Asserts on failure.
child_t
    child_spawn (char *const argv []);

//  The same, also reading its stderr: the test must then keep reading it.
child_t
    child_spawn_piped (char *const argv []);

//  Read one line within timeout_ms; false at end of file or timeout.
bool
    child_read_line (FILE *file, char *line, size_t size, int timeout_ms);

//  Wait at most timeout_ms for the child to exit and return its exit code
//  (-1 if a signal ended it); kills it and fails the test if it does not.
int
    child_reap (child_t *child, int timeout_ms);

//  Run argv to its end, its output read and dropped; its exit code.
//  Fatal if it takes over timeout_ms to finish.
int
    child_run (char *const argv [], int timeout_ms);

//  Send SIGTERM and reap, as child_reap.
int
    child_stop (child_t *child, int timeout_ms);

//  Kill every child this process started and has not reaped: a suite's
//  .fini, so that a failed assertion leaves no process behind.
void
    child_cleanup (void);

//  Send SIGKILL and reap: a crash, with no goodbye.
void
    child_kill (child_t *child);

//  A zmesh_testnode process and the endpoints it printed.
typedef struct {
    child_t child;
    char events [256];
    char calls [256];
} testnode_t;

//  Start program (zmesh_testnode) with role and the NULL-terminated
//  settings (path=value), and wait for its endpoints; asserts on failure.
testnode_t
    testnode_start (const char *program, const char *role,
                    const char *const *settings);

//  The same with options: the NULL-terminated arguments to give before the
//  settings (--role ROLE, --count N, ...).
testnode_t
    testnode_start_with (const char *program, const char *const *options,
                         const char *const *settings);

//  Make a new directory /tmp/zmesh-<name>-XXXXXX; dir holds 64 bytes.
void
    child_dir_make (char *dir, const char *name);

//  Remove dir and everything in it.
void
    child_dir_remove (const char *dir);

//  The head of the log of the node called name whose node/data is
//  dir/name, as another connection to its file sees it: what is
//  committed. UINT64_MAX if the file cannot be read.
uint64_t
    child_committed (const char *dir, const char *name);

//  Start the demo node zmesh-<service> from nodes_dir, with its store and
//  ipc endpoints under dir, its peers' endpoints under dir too, and the
//  settings in extra, separated by spaces (or NULL); waits until it is up,
//  and gives the line it said so with in line (size bytes) if line is not
//  NULL.
child_t
    child_start_service (const char *nodes_dir, const char *dir,
                         const char *service, const char *const *peers,
                         const char *extra, char *line, size_t size);

//  The same, handing the node listener (>= 0) as systemd's socket
//  activation does: descriptor 3, LISTEN_FDS=1 and LISTEN_PID.
child_t
    child_start_service_on (const char *nodes_dir, const char *dir,
                            const char *service, const char *const *peers,
                            const char *extra, int listener, char *line,
                            size_t size);

#endif
