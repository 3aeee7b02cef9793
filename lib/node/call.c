/*  call.c - calls out, through the caller, on REQ links.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

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

//  The request of a call in progress, for its attempts.
typedef struct {
    zmesh_node_t *node;
    zmesh_envelope_t *request;
} s_call_t;

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

//  One attempt: the same request, with the time that is left.
static zmesh_err_t
s_attempt (void *arg, const char *endpoint, int64_t deadline_ms,
           zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    s_call_t *call = arg;
    zmesh_node_t *self = call->node;
    int64_t left = deadline_ms - zmesh_clock_mono_ms (self->clock);
    if (left <= 0) {
        zmesh__detail (detail, "the deadline passed");
        return ZMESH_ERR_TIMEOUT;
    }
    zmesh_envelope_set_budget_ms (
        call->request, left > UINT32_MAX ? UINT32_MAX : (uint32_t) left);
    zframe_t *frame = NULL;
    zmesh_link_t *link = NULL;
    zmesh_err_t rc = zmesh_envelope_encode (call->request, &frame, detail);
    if (rc == ZMESH_OK)
        rc = zmesh__requester_take (self->requester, endpoint, &link, detail);
    if (rc == ZMESH_OK) {
        self->stats.calls_made++;
        zmesh__context_t saved;
        bool let_go = s_let_go (self, &saved);
        rc = zmesh__requester_exchange (self->requester, link, frame,
                                        zmesh_envelope_id (call->request),
                                        deadline_ms, reply_p, detail);
        if (let_go)
            s_take_back (self, &saved);
        zmesh__requester_give (self->requester, endpoint, &link,
                               rc == ZMESH_OK);
    }
    zframe_destroy (&frame);
    if (rc == ZMESH_ERR_TIMEOUT)
        self->stats.call_timeouts++;
    else if (rc == ZMESH_ERR_BAD_REPLY)
        self->stats.bad_replies++;
    return rc;
}

//  The wait between two attempts, with the lock given up as for a reply.
static bool
s_backoff (void *arg, int64_t delay_ms)
{
    zmesh_node_t *self = ((s_call_t *) arg)->node;
    zmesh__context_t saved;
    bool let_go = s_let_go (self, &saved);
    bool slept = zmesh_clock_sleep (self->clock, delay_ms);
    if (let_go)
        s_take_back (self, &saved);
    return slept;
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

zmesh_err_t
zmesh_node_call_with (zmesh_node_t *self, const char *service,
                      const char *method, const void *body, size_t body_size,
                      const zmesh_call_options_t *options,
                      zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    assert (self && service && reply_p);
    uint32_t timeout_ms = options && options->timeout_ms
                        ? options->timeout_ms
                        : (uint32_t) self->config.call_timeout_ms;
    int64_t deadline = zmesh_clock_mono_ms (self->clock) + timeout_ms;
    if (self->context.has_deadline && self->context.deadline_ms < deadline)
        deadline = self->context.deadline_ms;
    zmesh_envelope_t *request
        = zmesh__flow_envelope_new (self, ZMESH_KIND_REQUEST, method);
    if (!request) {
        zmesh__detail (detail, "'%s' is not a method name", method);
        return ZMESH_ERR_ENVELOPE_BAD_NAME;
    }
    zmesh_err_t rc = body_size ? zmesh_envelope_set_body (request, body,
                                                          body_size)
                               : ZMESH_OK;
    if (rc == ZMESH_OK) {
        //  Copies: the peer table may change while the call waits.
        const char *routes [ROUTE_MAX];
        size_t count = zmesh__peers_route (self->peers, service, routes,
                                           ROUTE_MAX);
        char copies [ROUTE_MAX][ZMESH_ENDPOINT_MAX + 1];
        const char *endpoints [ROUTE_MAX];
        for (size_t index = 0; index < count; index++) {
            snprintf (copies [index], sizeof copies [index], "%s",
                      routes [index]);
            endpoints [index] = copies [index];
        }
        s_call_t attempt_arg = {self, request};
        zmesh_call_t call = {
            .attempt = s_attempt,
            .attempt_arg = &attempt_arg,
            .backoff = s_backoff,
            .service = service,
            .method = method,
            .correlation = zmesh_envelope_correlation (request),
            .policy = s_policy (self, service),
            .endpoints = endpoints,
            .endpoint_count = count,
            .deadline_ms = deadline,
            .fallback = options ? options->fallback : NULL,
            .fallback_arg = options ? options->fallback_arg : NULL};
        uint64_t at_us = (uint64_t) zmesh_clock_unix_us (self->clock);
        int64_t start_us = zmesh_clock_mono_us (self->clock);
        rc = zmesh_caller_call (self->caller, &call, reply_p, detail);
        bool replied = rc == ZMESH_OK || rc == ZMESH_ERR_APP_ERROR;
        zmesh__tap_trace (
            self, ZMESH_TRACE_MADE, request, service, rc, at_us,
            (uint64_t) (zmesh_clock_mono_us (self->clock) - start_us),
            replied ? *reply_p : NULL);
    }
    zmesh_envelope_destroy (&request);
    return rc;
}

zmesh_err_t
zmesh_node_call (zmesh_node_t *self, const char *service, const char *method,
                 const void *body, size_t body_size, uint32_t timeout_ms,
                 zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    zmesh_call_options_t options = {timeout_ms, NULL, NULL};
    return zmesh_node_call_with (self, service, method, body, body_size,
                                 &options, reply_p, detail);
}

zmesh_caller_t *
zmesh_node_caller (zmesh_node_t *self)
{
    assert (self);
    return self->caller;
}
