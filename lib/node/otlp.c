/*  otlp.c - the node's flow records as OpenTelemetry spans, sent to a
    collector over OTLP/HTTP in its JSON encoding (otlp/endpoint).

    The loop never waits for the collector. Each flow record it keeps
    (tap.c) is copied into a bounded queue, under a mutex held only for
    the copy; a thread of the exporter's own takes a batch of them and
    POSTs it with libcurl. A batch goes when otlp/batch records are
    queued, and at every heartbeat whatever is queued goes: so on a fake
    clock, exports follow the node's own time. Records that find the
    queue full, and batches the collector does not take (it is away, or
    answers an error), are dropped and counted: spans_dropped; those it
    takes count as spans_exported. On destroy, what is queued gets one
    last attempt of at most a second.

    The mapping (proto/node.md, section 6): the flow is the trace and each
    message a span (envelope.md, section 3). A call made is a CLIENT span
    whose id is the request's span; a call served is a SERVER span, its
    child; an event published is a PRODUCER span, its id the event's; an
    event received is a CONSUMER span under it. A receiving node's span id
    is the message's span with the first 8 bytes of its own instance id
    mixed in, so that every receiver's is its own.

    Part of zmesh. MIT License.
*/
#include "node_private.h"
#include "zmesh.h"
#include <curl/curl.h>
#include <signal.h>
#include <stdatomic.h>

#define FINAL_TIMEOUT_MS 1000   //  The last attempt, on destroy
#define POST_TIMEOUT_MS 3000    //  Any other
#define CONNECT_TIMEOUT_MS 1000

struct _zmesh__otlp_t {
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;           //  Guards the queue and the flags
    pthread_cond_t wake;
    zmesh_trace_record_t *queue;    //  A ring of capacity records
    size_t capacity, head, count;
    size_t batch;
    bool flush;                     //  Send what is queued, however little
    bool stopping;
    atomic_uint_fast64_t exported, dropped;
    //  Fixed from the start: read by the thread without the lock
    char endpoint [ZMESH_ENDPOINT_MAX + 1];
    char node [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    char service [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    char instance [ZMESH_UUID_STR_LEN + 1];
    uint8_t mix [ZMESH_SPAN_ID_SIZE];   //  The instance id's first bytes
};

//  A span id as 16 hex digits.
static json_t *
s_span_json (const uint8_t span [ZMESH_SPAN_ID_SIZE])
{
    char text [2 * ZMESH_SPAN_ID_SIZE + 1];
    return json_string (zmesh_span_format (span, text));
}

static void
s_attribute (json_t *attributes, const char *key, json_t *value)
{
    json_array_append_new (attributes, json_pack ("{s:s, s:o}", "key", key,
                                                  "value", value));
}

static void
s_text (json_t *attributes, const char *key, const char *value)
{
    s_attribute (attributes, key, json_pack ("{s:s}", "stringValue", value));
}

//  A time in unix nanoseconds, as OTLP's JSON writes 64-bit integers.
static json_t *
s_nanos (uint64_t unix_us)
{
    char text [32];
    snprintf (text, sizeof text, "%" PRIu64 "000", unix_us);
    return json_string (text);
}

//  One record as an OTLP span.
static json_t *
s_span (const zmesh__otlp_t *self, const zmesh_trace_record_t *record)
{
    //  SPAN_KIND_SERVER 2, CLIENT 3, PRODUCER 4, CONSUMER 5
    static const int kinds [] = {4, 5, 3, 2};
    bool received = record->what == ZMESH_TRACE_RECEIVED
                 || record->what == ZMESH_TRACE_SERVED;
    const uint8_t *own = record->id.bytes + ZMESH_UUID_SIZE
                       - ZMESH_SPAN_ID_SIZE;
    uint8_t span [ZMESH_SPAN_ID_SIZE];
    memcpy (span, own, sizeof span);
    if (received)
        for (size_t index = 0; index < sizeof span; index++)
            span [index] ^= self->mix [index];
    char trace [ZMESH_TRACEPARENT_LEN + 1];
    zmesh_traceparent_format (&record->correlation, own, trace);
    trace [35] = 0;                 //  Its 32 hex digits, at 3
    json_t *attributes = json_array ();
    bool call = record->what == ZMESH_TRACE_MADE
             || record->what == ZMESH_TRACE_SERVED;
    if (call) {
        s_text (attributes, "rpc.system", "zmesh");
        s_text (attributes, "rpc.service",
                record->what == ZMESH_TRACE_MADE ? record->peer
                                                 : self->service);
        s_text (attributes, "rpc.method", record->name);
    }
    else {
        s_text (attributes, "messaging.system", "zmesh");
        s_text (attributes, "messaging.operation",
                record->what == ZMESH_TRACE_PUBLISHED ? "publish" : "receive");
        s_text (attributes, "messaging.destination.name", record->name);
        if (record->seq) {
            //  OTLP's JSON writes a 64-bit integer as text
            char seq [24];
            snprintf (seq, sizeof seq, "%" PRIu64, record->seq);
            s_attribute (attributes, "zmesh.seq",
                         json_pack ("{s:s}", "intValue", seq));
        }
    }
    if (*record->peer)
        s_text (attributes, "zmesh.peer", record->peer);
    char status [40];
    s_text (attributes, "zmesh.status",
            zmesh__trace_status (record->rc, status, sizeof status));
    char id [ZMESH_UUID_STR_LEN + 1];
    s_text (attributes, "zmesh.message_id", zmesh_uuid_unparse (&record->id,
                                                                id));
    json_t *object = json_pack (
        "{s:s, s:o, s:s, s:i, s:o, s:o, s:o}", "traceId", trace + 3,
        "spanId", s_span_json (span), "name", record->name,
        "kind", kinds [record->what], "startTimeUnixNano",
        s_nanos (record->at_us), "endTimeUnixNano",
        s_nanos (record->at_us + record->latency_us), "attributes",
        attributes);
    //  The parent: a receiver's, the message's own span; else the one the
    //  message names
    if (received)
        json_object_set_new (object, "parentSpanId", s_span_json (own));
    else if (record->has_parent)
        json_object_set_new (object, "parentSpanId",
                             s_span_json (record->parent));
    //  STATUS_CODE_ERROR 2, with what went wrong; success leaves it unset
    json_object_set_new (object, "status",
                         record->rc == ZMESH_OK
                         ? json_object ()
                         : json_pack ("{s:i, s:s}", "code", 2, "message",
                                      status));
    return object;
}

static const char *
s_version (void)
{
#define S_TEXT(x) #x
#define S_VERSION(a, b, c) S_TEXT (a) "." S_TEXT (b) "." S_TEXT (c)
    return S_VERSION (ZMESH_VERSION_MAJOR, ZMESH_VERSION_MINOR,
                      ZMESH_VERSION_PATCH);
}

//  A batch as one ExportTraceServiceRequest, in OTLP's JSON encoding.
static char *
s_request (const zmesh__otlp_t *self, const zmesh_trace_record_t *records,
           size_t count)
{
    json_t *spans = json_array ();
    for (size_t index = 0; index < count; index++)
        json_array_append_new (spans, s_span (self, &records [index]));
    json_t *resource = json_array ();
    s_text (resource, "service.name", self->service);
    s_text (resource, "service.instance.id", self->instance);
    s_text (resource, "zmesh.node", self->node);
    json_t *request = json_pack (
        "{s:[{s:{s:o}, s:[{s:{s:s, s:s}, s:o}]}]}", "resourceSpans",
        "resource", "attributes", resource, "scopeSpans", "scope", "name",
        "zmesh", "version", s_version (), "spans", spans);
    char *text = request ? json_dumps (request, JSON_COMPACT) : NULL;
    json_decref (request);
    return text;
}

static size_t
s_discard (char *data, size_t size, size_t count, void *arg)
{
    (void) data, (void) arg;
    return size * count;
}

//  POST one batch; true if the collector took it (a 2xx).
static bool
s_post (const zmesh__otlp_t *self, CURL *curl,
        const zmesh_trace_record_t *records, size_t count, long timeout_ms)
{
    char *body = s_request (self, records, count);
    if (!body)
        return false;
    curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    long status = 0;
    bool taken = curl_easy_perform (curl) == CURLE_OK
              && curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status)
                 == CURLE_OK
              && status >= 200 && status < 300;
    free (body);
    return taken;
}

static void *
s_export (void *arg)
{
    zmesh__otlp_t *self = arg;
    CURL *curl = curl_easy_init ();
    struct curl_slist *headers = curl_slist_append (
        NULL, "Content-Type: application/json");
    if (curl) {
        curl_easy_setopt (curl, CURLOPT_URL, self->endpoint);
        curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS,
                          (long) CONNECT_TIMEOUT_MS);
        curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_discard);
        curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
    }
    zmesh_trace_record_t *batch = zmesh__alloc (self->batch * sizeof *batch);
    pthread_mutex_lock (&self->lock);
    while (true) {
        while (!self->stopping && self->count < self->batch
               && !(self->flush && self->count))
            pthread_cond_wait (&self->wake, &self->lock);
        bool last = self->stopping;
        size_t count = self->count < self->batch ? self->count : self->batch;
        for (size_t index = 0; batch && index < count; index++)
            batch [index] = self->queue [(self->head + index)
                                         % self->capacity];
        self->head = (self->head + count) % self->capacity;
        self->count -= count;
        if (!self->count)
            self->flush = false;
        //  On the way out, one attempt: what is left past it is dropped
        size_t left = last ? self->count : 0;
        self->count -= left;
        pthread_mutex_unlock (&self->lock);
        bool taken = count && curl && batch
                  && s_post (self, curl, batch, count,
                             last ? FINAL_TIMEOUT_MS : POST_TIMEOUT_MS);
        if (taken)
            atomic_fetch_add (&self->exported, count);
        else
            atomic_fetch_add (&self->dropped, count);
        atomic_fetch_add (&self->dropped, left);
        pthread_mutex_lock (&self->lock);
        if (last)
            break;
    }
    pthread_mutex_unlock (&self->lock);
    zmesh__free (batch);
    curl_slist_free_all (headers);
    if (curl)
        curl_easy_cleanup (curl);
    return NULL;
}

static void
s_curl_init (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
}

zmesh_err_t
zmesh__otlp_start (zmesh_node_t *self, zmesh_detail_t *detail)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once (&once, s_curl_init);
    zmesh__otlp_t *otlp = zmesh__calloc (1, sizeof *otlp);
    if (otlp) {
        otlp->capacity = (size_t) self->config.otlp_queue;
        otlp->batch = (size_t) self->config.otlp_batch;
        otlp->queue = zmesh__alloc (otlp->capacity * sizeof *otlp->queue);
    }
    if (!otlp || !otlp->queue) {
        zmesh__free (otlp);
        zmesh__detail (detail, "out of memory");
        return ZMESH_ERR_NOMEM;
    }
    pthread_mutex_init (&otlp->lock, NULL);
    pthread_cond_init (&otlp->wake, NULL);
    snprintf (otlp->endpoint, sizeof otlp->endpoint, "%s",
              self->config.otlp_endpoint);
    snprintf (otlp->node, sizeof otlp->node, "%s", self->config.name);
    snprintf (otlp->service, sizeof otlp->service, "%s", self->config.group);
    snprintf (otlp->instance, sizeof otlp->instance, "%s",
              self->instance_text);
    memcpy (otlp->mix, self->instance.bytes, sizeof otlp->mix);
    //  Its thread takes no signal: they are the loop's
    sigset_t all, before;
    sigfillset (&all);
    pthread_sigmask (SIG_BLOCK, &all, &before);
    int rc = pthread_create (&otlp->thread, NULL, s_export, otlp);
    pthread_sigmask (SIG_SETMASK, &before, NULL);
    if (rc != 0) {
        pthread_cond_destroy (&otlp->wake);
        pthread_mutex_destroy (&otlp->lock);
        zmesh__free (otlp->queue);
        zmesh__free (otlp);
        zmesh__detail (detail, "otlp: cannot start its thread: %s",
                       strerror (rc));
        return ZMESH_ERR_NOMEM;
    }
    otlp->started = true;
    self->otlp = otlp;
    zsys_info ("node %s: spans to %s, in batches of %zu", self->config.name,
               otlp->endpoint, otlp->batch);
    return ZMESH_OK;
}

void
zmesh__otlp_record (zmesh_node_t *self, const zmesh_trace_record_t *record)
{
    zmesh__otlp_t *otlp = self->otlp;
    pthread_mutex_lock (&otlp->lock);
    if (otlp->count == otlp->capacity)
        atomic_fetch_add (&otlp->dropped, 1);
    else {
        otlp->queue [(otlp->head + otlp->count++) % otlp->capacity] = *record;
        if (otlp->count == otlp->batch)
            pthread_cond_signal (&otlp->wake);
    }
    pthread_mutex_unlock (&otlp->lock);
}

void
zmesh__otlp_flush (zmesh_node_t *self)
{
    zmesh__otlp_t *otlp = self->otlp;
    if (!otlp)
        return;
    pthread_mutex_lock (&otlp->lock);
    if (otlp->count) {
        otlp->flush = true;
        pthread_cond_signal (&otlp->wake);
    }
    pthread_mutex_unlock (&otlp->lock);
}

void
zmesh__otlp_counts (zmesh_node_t *self, uint64_t *exported,
                    uint64_t *dropped)
{
    *exported = self->otlp ? atomic_load (&self->otlp->exported) : 0;
    *dropped = self->otlp ? atomic_load (&self->otlp->dropped) : 0;
}

void
zmesh__otlp_stop (zmesh_node_t *self)
{
    zmesh__otlp_t *otlp = self->otlp;
    if (!otlp)
        return;
    pthread_mutex_lock (&otlp->lock);
    otlp->stopping = true;
    pthread_cond_signal (&otlp->wake);
    pthread_mutex_unlock (&otlp->lock);
    if (otlp->started)
        pthread_join (otlp->thread, NULL);
    pthread_cond_destroy (&otlp->wake);
    pthread_mutex_destroy (&otlp->lock);
    zmesh__free (otlp->queue);
    zmesh__free (otlp);
    self->otlp = NULL;
}
