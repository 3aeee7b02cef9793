/*  child.c - zmesh-bench's children: this program again, with --role, its
    stdin and stdout on pipes, and what they log in one file.

    Part of zmesh. MIT License.
*/
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include "bench.h"

static char s_self [PATH_MAX];
static char s_log [PATH_MAX] = "/dev/null";    //  Children's stderr

//  Learn this program's path, for the children. False if it cannot.
bool
bench_self_init (void)
{
    ssize_t length = readlink ("/proc/self/exe", s_self, sizeof s_self - 1);
    if (length <= 0)
        return false;
    s_self [length] = 0;
    return true;
}

//  This program's path (empty before bench_self_init).
const char *
bench_self (void)
{
    return s_self;
}

//  Send what children log to the file at path, emptied first.
void
bench_log_start (const char *path)
{
    snprintf (s_log, sizeof s_log, "%s", path);
    int log = open (s_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log >= 0)
        close (log);
}

//  Start argv (NULL-terminated; argv [0] the program) with pipes.
bool
bench_spawn (bench_child_t *child, char *const argv [])
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

//  Start this program in a role: bench_role (&child, "raw-sub", arg, ...,
//  NULL).
bool
bench_role (bench_child_t *child, const char *role, ...)
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
    return bench_spawn (child, argv);
}

//  Read one line from the child, waiting at most timeout_ms. False on
//  timeout or end of output.
bool
bench_child_line (bench_child_t *child, char *line, size_t size, int timeout_ms)
{
    int64_t deadline = bench_now_ns () + (int64_t) timeout_ms * 1000000;
    while (true) {
        char *end = memchr (child->buffer, '\n', child->held);
        if (end) {
            size_t length = (size_t) (end - child->buffer);
            snprintf (line, size, "%.*s", (int) length, child->buffer);
            child->held -= length + 1;
            memmove (child->buffer, end + 1, child->held);
            return true;
        }
        int left = (int) ((deadline - bench_now_ns ()) / 1000000);
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

void
bench_child_say (bench_child_t *child, const char *text)
{
    size_t length = strlen (text);
    if (write (child->to, text, length) != (ssize_t) length)
        fprintf (stderr, "zmesh-bench: a child went away early\n");
}

//  Stop the child (SIGTERM, then SIGKILL after 5 s) and reap it.
void
bench_child_stop (bench_child_t *child)
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

//  CPU time the process has used, user and system, in ms (-1 if unknown).
double
bench_cpu_ms (pid_t pid)
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

//  The CPU time of count children, together, in ms.
double
bench_children_cpu_ms (const bench_child_t *children, int count)
{
    double total = 0;
    for (int index = 0; index < count; index++)
        total += bench_cpu_ms (children [index].pid);
    return total;
}
