/*  cutreply.c - loaded with LD_PRELOAD into a node under test: the process
    kills itself (SIGKILL) as it sends its first message on a ROUTER
    socket. For a node that is its first reply, and a reply leaves only
    after the loop's turn that made it has committed: this forces the
    window in which a crash loses a reply whose writes are durable.

    libzmq is asked for the socket's type; every send goes through one of
    the three calls below (CZMQ uses the first two).

    Part of zmesh. MIT License.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stddef.h>
#include <zmq.h>

static void
s_die_on_router (void *socket)
{
    int type = 0;
    size_t size = sizeof type;
    if (zmq_getsockopt (socket, ZMQ_TYPE, &type, &size) == 0
        && type == ZMQ_ROUTER)
        raise (SIGKILL);
}

int
zmq_msg_send (zmq_msg_t *msg, void *socket, int flags)
{
    s_die_on_router (socket);
    int (*real) (zmq_msg_t *, void *, int) = dlsym (RTLD_NEXT, "zmq_msg_send");
    return real (msg, socket, flags);
}

int
zmq_sendmsg (void *socket, zmq_msg_t *msg, int flags)
{
    s_die_on_router (socket);
    int (*real) (void *, zmq_msg_t *, int) = dlsym (RTLD_NEXT, "zmq_sendmsg");
    return real (socket, msg, flags);
}

int
zmq_send (void *socket, const void *buffer, size_t size, int flags)
{
    s_die_on_router (socket);
    int (*real) (void *, const void *, size_t, int) = dlsym (RTLD_NEXT,
                                                             "zmq_send");
    return real (socket, buffer, size, flags);
}
