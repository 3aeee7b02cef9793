/*  call.c - calls out: each one a run of the caller (breakers, retries,
    failover, budget, fallback) on REQ links, in flight in the node's loop
    or waited for by the code that made it.

    A call made with zmesh_node_call_async is an operation the loop drives:
    its attempt's REQ socket sits in the node's poll set, the attempt's
    deadline and the backoff between attempts are times the loop wakes
    at, and its completion runs in the loop, in the flow of the code that
    made the call. zmesh_node_call makes the same operation and waits for
    it, for code outside the loop.

    Every attempt carries the same request id and what is left of the whole
    call's deadline as its budget.

    Part of zmesh. MIT License.
*/
#include "node_private.h"
#include "caller_run.h"

struct _zmesh__call_t {
    zmesh_node_t *node;
    zmesh_envelope_t *request;
    zmesh__context_t flow;      //  Of the code that made the call
    zmesh_call_t call;          //  What the caller runs
    char service [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    const char *endpoints [ROUTE_MAX];  //  Into copies: the peers may
                                        //  change while the call is out
    zmesh_call_run_t *run;
    zmesh_link_t *link;         //  The attempt under way, or NULL
    bool ready;                 //  Its socket, as the loop's wait found it
    const char *link_endpoint;
    int64_t wake_ms;            //  Monotonic: its deadline, or the end of
                                //  the backoff (0: step at once)
    zmesh_detail_t detail;
    zmesh_call_done_fn *done;   //  NULL for a call that is waited for
    void *done_arg;
    uint64_t at_us;             //  For the trace
    int64_t start_us;
    void *handle;               //  In the node's calls
    bool own;                   //  The node's own: not waited for on drain
    char copies [];             //  The endpoints, end to end
};

//  A new REQ socket to endpoint: with security on, a CURVE client of the
//  peer whose calls endpoint it is.
zmesh_err_t
zmesh__call_prepare (zsock_t *socket, const char *endpoint, void *arg,
                     zmesh_detail_t *detail)
{
    zmesh_node_t *self = arg;
    if (!zmesh__security_on (self->security))
        return ZMESH_OK;
    for (size_t index = 0; index < zmesh__peers_count (self->peers); index++) {
        zmesh_peer_info_t *peer = zmesh__peers_at (self->peers, index);
        if (streq (peer->calls, endpoint))
            return zmesh__security_client (self->security, socket, peer->key,
                                           peer->service, detail);
    }
    zmesh__detail (detail, "no peer has calls endpoint %s, so no key",
                   endpoint);
    return ZMESH_ERR_CONFIG;
}

//  While a call made outside the loop of a shared node waits, let other
//  threads use the node: give up the lock, and keep the flow in force
//  aside, for another thread's flow may be in force meanwhile. False if
//  the node is not shared, or the call is made in the loop (a handler's).
static bool
s_let_go (zmesh_node_t *self, zmesh__context_t *saved)
{
    if (!self->shared || self->busy)
        return false;
    *saved = self->context;
    memset (&self->context, 0, sizeof self->context);
    pthread_mutex_unlock (&self->lock);
    return true;
}

static void
s_take_back (zmesh_node_t *self, const zmesh__context_t *saved)
{
    pthread_mutex_lock (&self->lock);
    self->context = *saved;
}

//  The policy for calls to service, worked out once.
static const zmesh_call_policy_t *
s_policy (zmesh_node_t *self, const char *service)
{
    zmesh_call_policy_t *policy = zhashx_lookup (self->policies, service);
    if (!policy && (policy = zmesh__alloc (sizeof *policy))) {
        zmesh_node_config_policy (&self->config, service, policy);
        zhashx_insert (self->policies, service, policy);
    }
    return policy ? policy : &self->config.policy;
}

//  A new call of method on service, in the flow in force, with its
//  deadline: the options' timeout, and never past the budget of the
//  request being handled. NULL with detail if method is not a name or the
//  body not one value, or out of memory.
static zmesh__call_t *
s_call_new (zmesh_node_t *self, const char *service, const char *endpoint,
            const char *method, const void *body, size_t body_size,
            const zmesh_call_options_t *options, zmesh_err_t *rc,
            zmesh_detail_t *detail)
{
    const char *routes [ROUTE_MAX];
    const char *key = options ? options->key : NULL;
    size_t equal = 1, count = 1;
    if (endpoint)
        routes [0] = endpoint;
    else
        count = zmesh__peers_route (self->peers, service, key, routes,
                                    ROUTE_MAX, &equal);
    size_t lengths [ROUTE_MAX], bytes = 0;
    for (size_t index = 0; index < count; index++)
        bytes += (lengths [index] = strlen (routes [index])) + 1;
    zmesh__call_t *call = zmesh__calloc (1, sizeof *call + bytes);
    if (!call) {
        *rc = ZMESH_ERR_NOMEM;
        return NULL;
    }
    char *copy = call->copies;
    for (size_t index = 0; index < count; index++) {
        memcpy (copy, routes [index], lengths [index] + 1);
        call->endpoints [index] = copy;
        copy += lengths [index] + 1;
    }
    call->node = self;
    call->flow = self->context;
    call->request = zmesh__flow_envelope_new (self, ZMESH_KIND_REQUEST,
                                              method);
    *rc = call->request ? ZMESH_OK : ZMESH_ERR_ENVELOPE_BAD_NAME;
    if (*rc)
        zmesh__detail (detail, "'%s' is not a method name", method);
    else if (body_size)
        *rc = zmesh_envelope_set_body (call->request, body, body_size);
    if (*rc) {
        zmesh_envelope_destroy (&call->request);
        zmesh__free (call);
        return NULL;
    }
    //  A copy, cut short as a name is where it must be (calloc ended it)
    memcpy (call->service, service,
            strnlen (service, sizeof call->service - 1));
    uint32_t timeout_ms = options && options->timeout_ms
                        ? options->timeout_ms
                        : (uint32_t) self->config.call_timeout_ms;
    //  One reading of each clock: the wall's was made for the request's
    //  id (flow_fill), and the monotonic one times the call and its end
    call->at_us = self->made_us;
    call->start_us = zmesh_clock_mono_us (self->clock);
    int64_t deadline = call->start_us / 1000 + timeout_ms;
    if (self->context.has_deadline && self->context.deadline_ms < deadline)
        deadline = self->context.deadline_ms;
    call->call = (zmesh_call_t) {
        .service = call->service,
        .method = zmesh_envelope_type (call->request),
        .correlation = zmesh_envelope_correlation (call->request),
        .policy = s_policy (self, service),
        .endpoints = call->endpoints,
        .endpoint_count = count,
        .spread = key ? 0 : equal,
        .deadline_ms = deadline,
        .fallback = options ? options->fallback : NULL,
        .fallback_arg = options ? options->fallback_arg : NULL};
    call->run = zmesh__caller_start (self->caller, &call->call);
    if (!call->run) {
        zmesh_envelope_destroy (&call->request);
        zmesh__free (call);
        *rc = ZMESH_ERR_NOMEM;
        return NULL;
    }
    return call;
}

//  Begin an attempt at endpoint: the request, with what is left of the
//  whole call's deadline as its budget, on a link of its own.
static zmesh_err_t
s_attempt_begin (zmesh__call_t *call, const char *endpoint, int64_t now_ms)
{
    zmesh_node_t *self = call->node;
    int64_t left = call->call.deadline_ms - now_ms;
    if (left <= 0) {
        zmesh__detail (&call->detail, "the deadline passed");
        return ZMESH_ERR_TIMEOUT;
    }
    zmesh_envelope_set_budget_ms (call->request, left > UINT32_MAX
                                                 ? UINT32_MAX : (uint32_t) left);
    zmq_msg_t frame;
    zmesh_err_t rc = zmesh_envelope_encode_msg (call->request, &frame,
                                                &call->detail);
    if (rc != ZMESH_OK)
        return rc;
    rc = zmesh__requester_take (self->requester, endpoint, &call->link,
                                &call->detail);
    if (rc == ZMESH_OK) {
        call->link_endpoint = endpoint;
        self->stats.calls_made++;
        rc = zmesh__requester_send (self->requester, call->link, &frame,
                                    &call->detail);
    }
    zmq_msg_close (&frame);
    return rc;
}

//  End the attempt under way with rc (and reply, taken), waited for or
//  polled; detail takes what the caller says of it.
static void
s_attempt_end (zmesh__call_t *call, int64_t now_ms, zmesh_err_t rc,
               zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    zmesh_node_t *self = call->node;
    if (call->link) {
        if (call->done)
            zmesh__pollset_remove (self->pollset,
                                   zmesh__requester_socket (call->link));
        zmesh__requester_give (self->requester, call->link_endpoint,
                               &call->link, rc == ZMESH_OK);
    }
    if (rc == ZMESH_ERR_TIMEOUT)
        self->stats.call_timeouts++;
    else if (rc == ZMESH_ERR_BAD_REPLY)
        self->stats.bad_replies++;
    zmesh__caller_outcome (self->caller, call->run, now_ms, rc, reply_p,
                           detail);
}

//  Free a call whose run has ended.
static void
s_call_destroy (zmesh__call_t **call_p)
{
    zmesh__call_t *call = *call_p;
    if (call) {
        zmesh__flow_envelope_done (call->node, &call->request);
        zmesh__free (call);
        *call_p = NULL;
    }
}

//  End the run, at now_us (monotonic): its result, traced as the node's
//  own call.
static zmesh_err_t
s_finish (zmesh__call_t *call, int64_t now_us, zmesh_envelope_t **reply_p,
          zmesh_detail_t *detail)
{
    zmesh_node_t *self = call->node;
    zmesh_err_t rc = zmesh__caller_end (self->caller, &call->run, reply_p,
                                        detail);
    bool replied = rc == ZMESH_OK || rc == ZMESH_ERR_APP_ERROR;
    uint64_t latency_us = now_us > call->start_us
                        ? (uint64_t) (now_us - call->start_us) : 0;
    zmesh__tap_trace (self, ZMESH_TRACE_MADE, call->request, call->service,
                      rc, call->at_us, latency_us, replied ? *reply_p : NULL);
    zmesh__admin_call (self, call->service, latency_us, rc != ZMESH_OK);
    return rc;
}

//  Take the steps of an asynchronous call that need no waiting: begin an
//  attempt (its socket joins the poll set), or wait for the backoff, or
//  complete, running its done function in the call's flow. now_us
//  (monotonic) is the turn's time, or the time the loop stopped.
static void
s_advance (zmesh__call_t *call, int64_t now_us)
{
    zmesh_node_t *self = call->node;
    if (now_us < call->start_us)
        now_us = call->start_us;    //  Made in this turn, after its reading
    int64_t now_ms = now_us / 1000;
    size_t index;
    int64_t until_ms;
    zmesh__call_step_t step;
    while ((step = zmesh__caller_next (self->caller, call->run, now_ms,
                                       &index, &until_ms, &call->detail))
           == ZMESH__CALL_ATTEMPT) {
        zmesh_err_t rc = s_attempt_begin (call, call->endpoints [index],
                                          now_ms);
        zsock_t *socket = rc == ZMESH_OK ? zmesh__requester_socket (call->link)
                                         : NULL;
        if (socket && zmesh__pollset_add (self->pollset, socket, &call->ready,
                                          false) != 0) {
            zmesh__detail (&call->detail, "out of memory");
            rc = ZMESH_ERR_NOMEM;
        }
        if (rc == ZMESH_OK) {
            //  Its reply is not there yet: the next wait need not ask
            zmesh__pollset_drained (self->pollset, socket);
            call->wake_ms = until_ms;
            return;
        }
        zmesh_envelope_t *none = NULL;
        s_attempt_end (call, now_ms, rc, &none, &call->detail);
    }
    if (step == ZMESH__CALL_WAIT) {
        call->wake_ms = until_ms;
        return;
    }
    zlistx_detach (self->calls, call->handle);
    zmesh_envelope_t *reply = NULL;
    zmesh_err_t rc = s_finish (call, now_us, &reply, &call->detail);
    //  What the completion writes commits with the loop's turn, and a
    //  reply it finishes goes after that.
    if (self->store)
        zmesh__turn_begin_unlocked (self);
    zmesh__context_t saved = self->context;
    self->context = call->flow;
    call->done (self, rc, reply, call->detail.text, call->done_arg);
    self->context = saved;
    zmesh_envelope_destroy (&reply);
    s_call_destroy (&call);
}

zmesh_err_t
zmesh_node_call_async (zmesh_node_t *self, const char *service,
                       const char *method, const void *body, size_t body_size,
                       const zmesh_call_options_t *options,
                       zmesh_call_done_fn *done, void *arg)
{
    return zmesh__call_async_at (self, service, NULL, method, body, body_size,
                                 options, done, arg, false);
}

zmesh_err_t
zmesh__call_async_at (zmesh_node_t *self, const char *service,
                      const char *endpoint, const char *method,
                      const void *body, size_t body_size,
                      const zmesh_call_options_t *options,
                      zmesh_call_done_fn *done, void *arg, bool own)
{
    assert (self && service && done);
    zmesh_err_t rc;
    zmesh__call_t *call = s_call_new (self, service, endpoint, method, body,
                                      body_size, options, &rc, NULL);
    if (!call)
        return rc;
    call->done = done;
    call->done_arg = arg;
    call->own = own;
    call->handle = zlistx_add_end (self->calls, call);
    if (!call->handle) {
        zmesh_envelope_t *none = NULL;
        zmesh__caller_end (self->caller, &call->run, &none, NULL);
        s_call_destroy (&call);
        return ZMESH_ERR_NOMEM;
    }
    //  Its first step is taken in the loop (wake_ms 0): done never runs
    //  before this returns.
    return ZMESH_OK;
}

size_t
zmesh__call_awaited (zmesh_node_t *self)
{
    size_t awaited = 0;
    for (zmesh__call_t *call = zlistx_first (self->calls); call;
         call = zlistx_next (self->calls))
        awaited += !call->own;
    return awaited;
}

int64_t
zmesh__call_due_ms (zmesh_node_t *self)
{
    int64_t due = INT64_MAX;
    for (zmesh__call_t *call = zlistx_first (self->calls); call;
         call = zlistx_next (self->calls))
        if (call->wake_ms < due)
            due = call->wake_ms;
    return due;
}

void
zmesh__call_turn (zmesh_node_t *self)
{
    //  Which calls have something to do now, first: a completion may make
    //  new calls, which take their first step in the next turn. Those
    //  over CALLS_PER_TURN wait for the next turn, which comes at once.
    zmesh__call_t *ready [CALLS_PER_TURN];
    size_t taken = 0;
    int64_t now = self->now_ms;
    for (zmesh__call_t *call = zlistx_first (self->calls);
         call && taken < CALLS_PER_TURN; call = zlistx_next (self->calls)) {
        if (call->link) {
            zmesh_envelope_t *reply = NULL;
            bool answered = false;
            //  Its reply, if the wait found one, or if the time is up (a
            //  reply may have come since)
            zmesh_err_t rc = ZMESH_OK;
            if (call->ready || now >= call->wake_ms)
                rc = zmesh__requester_receive (
                    self->requester, call->link,
                    zmesh_envelope_id (call->request), &reply, &answered,
                    &call->detail);
            if (!answered && now < call->wake_ms)
                continue;
            if (!answered) {
                zmesh__detail (&call->detail, "no reply before the deadline");
                rc = ZMESH_ERR_TIMEOUT;
            }
            s_attempt_end (call, now, rc, &reply, &call->detail);
        }
        else if (now < call->wake_ms)
            continue;
        ready [taken++] = call;
    }
    for (size_t index = 0; index < taken; index++)
        s_advance (ready [index], self->now_us);
}

void
zmesh__call_lost (zmesh_node_t *self, const char *endpoint)
{
    for (zmesh__call_t *call = zlistx_first (self->calls); call;
         call = zlistx_next (self->calls))
        if (call->link && streq (call->link_endpoint, endpoint)) {
            //  Its request went down with the instance: the link, which
            //  would wait for its reply, goes too.
            zmesh__pollset_remove (self->pollset,
                                   zmesh__requester_socket (call->link));
            zmesh__requester_give (self->requester, call->link_endpoint,
                                   &call->link, false);
            zmesh__caller_lost (self->caller, call->run);
            call->wake_ms = 0;
        }
}

void
zmesh__call_close (zmesh_node_t *self)
{
    //  Every call still in flight completes, interrupted.
    zmesh__call_t *call;
    int64_t now_us = zmesh_clock_mono_us (self->clock);
    while ((call = zlistx_first (self->calls))) {
        if (call->link) {
            zmesh_envelope_t *none = NULL;
            s_attempt_end (call, now_us / 1000, ZMESH_ERR_INTERRUPTED, &none,
                           &call->detail);
        }
        zmesh__caller_interrupt (self->caller, call->run);
        s_advance (call, now_us);
    }
}

//  One attempt of a call waited for: the request, then its reply or the
//  attempt's deadline, with a shared node's lock given up meanwhile.
static zmesh_err_t
s_attempt (zmesh__call_t *call, const char *endpoint, int64_t now_ms,
           int64_t deadline_ms, zmesh_envelope_t **reply_p,
           zmesh_detail_t *detail)
{
    zmesh_node_t *self = call->node;
    zmesh_err_t rc = s_attempt_begin (call, endpoint, now_ms);
    if (rc == ZMESH_OK) {
        zmesh__context_t saved;
        bool let_go = s_let_go (self, &saved);
        rc = zmesh__requester_wait (self->requester, call->link,
                                    zmesh_envelope_id (call->request),
                                    deadline_ms, reply_p, detail);
        if (let_go)
            s_take_back (self, &saved);
    }
    else
        zmesh__detail (detail, "%s", call->detail.text);
    return rc;
}

//  The wait between two attempts, with the lock given up as for a reply.
static bool
s_backoff (zmesh__call_t *call, int64_t delay_ms)
{
    zmesh_node_t *self = call->node;
    zmesh__context_t saved;
    bool let_go = s_let_go (self, &saved);
    bool slept = zmesh_clock_sleep (self->clock, delay_ms);
    if (let_go)
        s_take_back (self, &saved);
    return slept;
}

zmesh_err_t
zmesh_node_call_with (zmesh_node_t *self, const char *service,
                      const char *method, const void *body, size_t body_size,
                      const zmesh_call_options_t *options,
                      zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    assert (self && service && reply_p);
    zmesh_err_t rc;
    zmesh__call_t *call = s_call_new (self, service, NULL, method, body,
                                      body_size, options, &rc, detail);
    if (!call)
        return rc;
    //  The same run, driven here: attempts and backoffs are waited for,
    //  and the clock read again after each (the call's start is the
    //  first reading).
    size_t index;
    int64_t until_ms;
    zmesh__call_step_t step;
    int64_t now_us = call->start_us;
    while ((step = zmesh__caller_next (self->caller, call->run, now_us / 1000,
                                       &index, &until_ms, detail))
           != ZMESH__CALL_DONE) {
        if (step == ZMESH__CALL_ATTEMPT) {
            zmesh_envelope_t *reply = NULL;
            rc = s_attempt (call, call->endpoints [index], now_us / 1000,
                            until_ms, &reply, detail);
            now_us = zmesh_clock_mono_us (self->clock);
            s_attempt_end (call, now_us / 1000, rc, &reply, detail);
        }
        else {
            if (!s_backoff (call, until_ms - now_us / 1000))
                zmesh__caller_interrupt (self->caller, call->run);
            now_us = zmesh_clock_mono_us (self->clock);
        }
    }
    rc = s_finish (call, now_us, reply_p, detail);
    s_call_destroy (&call);
    return rc;
}

zmesh_err_t
zmesh_node_call (zmesh_node_t *self, const char *service, const char *method,
                 const void *body, size_t body_size, uint32_t timeout_ms,
                 zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    zmesh_call_options_t options = {.timeout_ms = timeout_ms};
    return zmesh_node_call_with (self, service, method, body, body_size,
                                 &options, reply_p, detail);
}

zmesh_caller_t *
zmesh_node_caller (zmesh_node_t *self)
{
    assert (self);
    return self->caller;
}
