/*  peer.c - a raw peer that answers one request, or publishes an event,
    as the test says.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "peer.h"

zmesh_envelope_t *
peer_reply (zsock_t *router, const char *source, peer_fill_fn *fill,
            void *arg)
{
    zmsg_t *msg = zmsg_recv (router);
    cr_assert (msg != NULL);
    zframe_t *last = zmsg_last (msg);
    zmesh_envelope_t *request = NULL;
    cr_assert (eq (int, zmesh_envelope_decode (zframe_data (last),
                                               zframe_size (last), &request,
                                               NULL), 0));
    zmesh_envelope_t *reply = zmesh_envelope_new (ZMESH_KIND_REPLY);
    zmesh_uuid_t id = *zmesh_envelope_id (request);
    id.bytes [15] ^= 1;         //  Any id other than the request's
    zmesh_envelope_set_id (reply, &id);
    zmesh_envelope_set_correlation (reply, zmesh_envelope_correlation (request));
    zmesh_envelope_set_causation (reply, zmesh_envelope_id (request));
    zmesh_envelope_set_type (reply, zmesh_envelope_type (request));
    zmesh_envelope_set_source (reply, source);
    zmesh_envelope_set_timestamp (reply, 1764374400000);
    zmesh_envelope_set_status (reply, ZMESH_STATUS_OK, 0, NULL);
    if (fill)
        fill (request, reply, arg);
    zframe_t *frame = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (reply, &frame, NULL), 0));
    zmsg_remove (msg, last);
    zframe_destroy (&last);
    zmsg_append (msg, &frame);
    cr_assert (eq (int, zmsg_send (&msg, router), 0));
    zmesh_envelope_destroy (&reply);
    return request;
}

zframe_t *
peer_event (zmesh_rand_t *rand, const char *type, const char *source,
            uint64_t seq, const char *const *headers, const void *body,
            size_t size)
{
    zmesh_envelope_t *event = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_uuid_t id;
    zmesh_uuid_generate (rand, &id);
    zmesh_envelope_set_id (event, &id);
    zmesh_envelope_set_correlation (event, &id);
    zmesh_envelope_set_type (event, type);
    zmesh_envelope_set_source (event, source);
    zmesh_envelope_set_timestamp (event, 1764374400000);
    zmesh_envelope_set_seq (event, seq);
    for (size_t index = 0; headers && headers [index]; index += 2)
        zmesh_envelope_set_header (event, headers [index],
                                   headers [index + 1]);
    if (size)
        zmesh_envelope_set_body (event, body, size);
    zframe_t *frame = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (event, &frame, NULL), 0));
    zmesh_envelope_destroy (&event);
    return frame;
}

void
peer_publish (zsock_t *pub, zmesh_rand_t *rand, const char *type,
              const char *source, uint64_t seq, const char *const *headers,
              const void *body, size_t size)
{
    zframe_t *frame = peer_event (rand, type, source, seq, headers, body,
                                  size);
    char topic [ZMESH_TOPIC_MAX];
    size_t length = zmesh_topic_format (type, strncmp (type, "zmesh.", 6) == 0,
                                        topic);
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, topic, length);
    zmsg_append (msg, &frame);
    cr_assert (eq (int, zmsg_send (&msg, pub), 0));
}
