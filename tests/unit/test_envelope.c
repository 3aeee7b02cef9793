/*  test_envelope.c - the envelope codec against proto/vectors and its limits.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include <criterion/parameterized.h>
#include "zmesh.h"
#include "alloc.h"
#include "envelope_private.h"
#include "zmesh_classes.h"

#define VECTORS ZMESH_VECTORS_DIR "/envelope.zpl"

//  ---------------------------------------------------------------------
//  Reading the vectors

static zconfig_t *
s_vectors (void)
{
    zconfig_t *root = zconfig_load (VECTORS);
    cr_assert (root != NULL, "cannot load %s", VECTORS);
    return root;
}

static size_t
s_count (const char *section)
{
    zconfig_t *root = s_vectors ();
    size_t count = 0;
    for (zconfig_t *v = zconfig_child (zconfig_locate (root, section)); v;
         v = zconfig_next (v))
        count++;
    zconfig_destroy (&root);
    return count;
}

//  The index-th vector of section; the caller destroys *root_p.
static zconfig_t *
s_vector (const char *section, size_t index, zconfig_t **root_p)
{
    *root_p = s_vectors ();
    zconfig_t *vector = zconfig_child (zconfig_locate (*root_p, section));
    while (vector && index--)
        vector = zconfig_next (vector);
    cr_assert (vector != NULL);
    return vector;
}

//  Hex text to bytes; caller frees.
static uint8_t *
s_unhex (const char *hex, size_t *size_p)
{
    size_t size = strlen (hex) / 2;
    uint8_t *bytes = malloc (size + 1);
    for (size_t index = 0; index < size; index++) {
        unsigned int byte;
        cr_assert (sscanf (hex + 2 * index, "%2x", &byte) == 1);
        bytes [index] = (uint8_t) byte;
    }
    *size_p = size;
    return bytes;
}

static char *
s_hex (const void *data, size_t size)
{
    char *hex = malloc (2 * size + 1);
    for (size_t index = 0; index < size; index++)
        snprintf (hex + 2 * index, 3, "%02x", ((const uint8_t *) data) [index]);
    hex [2 * size] = 0;
    return hex;
}

static struct criterion_test_params
s_indices (const char *section)
{
    size_t count = s_count (section);
    size_t *indices = cr_malloc (sizeof (size_t) * count);
    for (size_t index = 0; index < count; index++)
        indices [index] = index;
    return cr_make_param_array (size_t, indices, count, NULL);
}

static void
s_assert_uuid (const zmesh_uuid_t *uuid, const char *expected)
{
    if (!*expected) {
        cr_assert (uuid == NULL, "expected no id");
        return;
    }
    cr_assert (uuid != NULL);
    char text [ZMESH_UUID_STR_LEN + 1];
    cr_assert (eq (str, zmesh_uuid_unparse (uuid, text), (char *) expected));
}

static void
s_assert_fields (zmesh_envelope_t *envelope, zconfig_t *vector)
{
    const char *name = zconfig_name (vector);
    cr_assert (eq (str, (char *) zmesh_kind_name (zmesh_envelope_kind (envelope)),
                   zconfig_get (vector, "kind", "?")), "%s: kind", name);
    s_assert_uuid (zmesh_envelope_id (envelope), zconfig_get (vector, "id", ""));
    s_assert_uuid (zmesh_envelope_correlation (envelope),
                   zconfig_get (vector, "correlation", ""));
    s_assert_uuid (zmesh_envelope_causation (envelope),
                   zconfig_get (vector, "causation", ""));
    cr_assert (eq (str, (char *) zmesh_envelope_type (envelope),
                   zconfig_get (vector, "type", "?")), "%s: type", name);
    cr_assert (eq (str, (char *) zmesh_envelope_source (envelope),
                   zconfig_get (vector, "source", "?")), "%s: source", name);
    cr_assert (eq (u64, zmesh_envelope_timestamp (envelope),
                   strtoull (zconfig_get (vector, "timestamp", "x"), NULL, 10)));
    cr_assert (eq (u64, zmesh_envelope_seq (envelope),
                   strtoull (zconfig_get (vector, "seq", "0"), NULL, 10)));

    const char *budget = zconfig_get (vector, "budget_ms", NULL);
    cr_assert (eq (int, zmesh_envelope_has_budget (envelope), budget != NULL));
    if (budget)
        cr_assert (eq (u32, zmesh_envelope_budget_ms (envelope),
                       (uint32_t) strtoul (budget, NULL, 10)));
    const char *status = zconfig_get (vector, "status", NULL);
    cr_assert (eq (int, zmesh_envelope_has_status (envelope), status != NULL));
    if (status)
        cr_assert (eq (int, zmesh_envelope_status (envelope), atoi (status)));
    const char *code = zconfig_get (vector, "error_code", NULL);
    if (code)
        cr_assert (eq (i64, zmesh_envelope_error_code (envelope),
                       strtoll (code, NULL, 10)));
    const char *text = zconfig_get (vector, "error_text", NULL);
    if (text)
        cr_assert (eq (str, (char *) zmesh_envelope_error_text (envelope),
                       (char *) text));
    else
        cr_assert (zmesh_envelope_error_text (envelope) == NULL);

    zconfig_t *headers = zconfig_locate (vector, "headers");
    size_t header_count = 0;
    for (zconfig_t *h = headers ? zconfig_child (headers) : NULL; h;
         h = zconfig_next (h)) {
        const char *value = zmesh_envelope_header (envelope, zconfig_name (h));
        cr_assert (value != NULL, "%s: header %s missing", name, zconfig_name (h));
        cr_assert (eq (str, (char *) value, zconfig_value (h)));
        cr_assert (eq (str, (char *) zmesh_envelope_header_name (envelope,
                                                                 header_count),
                       zconfig_name (h)), "headers keep their order");
        header_count++;
    }
    cr_assert (eq (sz, zmesh_envelope_header_count (envelope), header_count));

    const char *body = zconfig_get (vector, "body", "");
    char *body_hex = s_hex (zmesh_envelope_body (envelope),
                            zmesh_envelope_body_size (envelope));
    cr_assert (eq (str, body_hex, (char *) body), "%s: body", name);
    free (body_hex);
}


//  A reply with every field set, headers, an error and a body of 300 bytes.
static zmesh_envelope_t *
s_full_reply (void)
{
    zmesh_envelope_t *reply = zmesh_envelope_new (ZMESH_KIND_REPLY);
    zmesh_uuid_t id;
    zmesh_uuid_parse ("6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b", &id);
    zmesh_envelope_set_id (reply, &id);
    zmesh_envelope_set_correlation (reply, &id);
    zmesh_envelope_set_causation (reply, &id);
    zmesh_envelope_set_type (reply, "payment.charge");
    zmesh_envelope_set_source (reply, "payment-2");
    zmesh_envelope_set_timestamp (reply, 1764374400123);
    zmesh_envelope_set_seq (reply, 77);
    zmesh_envelope_set_budget_ms (reply, 250);
    zmesh_envelope_set_status (reply, ZMESH_STATUS_APP_ERROR, -42, "expired");
    zmesh_envelope_set_header (reply, "tenant", "acme");
    uint8_t body [300];
    memset (body, 'x', sizeof body);
    body [0] = 0xc5;            //  bin 16 of 297 bytes
    body [1] = 0x01;
    body [2] = 0x29;
    cr_assert (eq (int, zmesh_envelope_set_body (reply, body, sizeof body), 0));
    return reply;
}

//  ---------------------------------------------------------------------
//  The vectors

ParameterizedTestParameters (envelope, decodes_valid_vector)
{
    return s_indices ("valid");
}

ParameterizedTest (size_t *index, envelope, decodes_valid_vector)
{
    zconfig_t *root;
    zconfig_t *vector = s_vector ("valid", *index, &root);
    size_t size;
    uint8_t *bytes = s_unhex (zconfig_get (vector, "hex", ""), &size);

    zmesh_envelope_t *envelope = NULL;
    zmesh_detail_t detail = {""};
    int rc = zmesh_envelope_decode (bytes, size, &envelope, &detail);
    cr_assert (eq (int, rc, ZMESH_OK), "%s: %s (%s)", zconfig_name (vector),
               zmesh_errname (rc), detail.text);
    s_assert_fields (envelope, vector);

    //  Canonical vectors come back byte for byte; the others at least
    //  survive a round trip with every field intact.
    zframe_t *frame = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (envelope, &frame, NULL), 0));
    char *hex = s_hex (zframe_data (frame), zframe_size (frame));
    if (streq (zconfig_get (vector, "canonical", "0"), "1"))
        cr_assert (eq (str, hex, zconfig_get (vector, "hex", "")),
                   "%s re-encodes differently", zconfig_name (vector));
    zmesh_envelope_t *again = NULL;
    cr_assert (eq (int, zmesh_envelope_decode (zframe_data (frame),
                                               zframe_size (frame), &again,
                                               NULL), 0));
    s_assert_fields (again, vector);

    //  Decoded into an envelope that held every field of another message,
    //  nothing of that one shows through; encoded into a zmq_msg_t, the
    //  bytes are those of the frame.
    zmesh_envelope_t *reused = s_full_reply ();
    rc = zmesh_envelope_decode_into (bytes, size, reused, &detail);
    cr_assert (eq (int, rc, ZMESH_OK), "%s: %s", zconfig_name (vector),
               detail.text);
    s_assert_fields (reused, vector);
    zmq_msg_t msg;
    cr_assert (eq (int, zmesh_envelope_encode_msg (reused, &msg, NULL), 0));
    char *msg_hex = s_hex (zmq_msg_data (&msg), zmq_msg_size (&msg));
    cr_assert (eq (str, msg_hex, hex));
    zmq_msg_close (&msg);
    free (msg_hex);
    zmesh_envelope_destroy (&reused);

    free (hex);
    zframe_destroy (&frame);
    zmesh_envelope_destroy (&again);
    zmesh_envelope_destroy (&envelope);
    free (bytes);
    zconfig_destroy (&root);
}

ParameterizedTestParameters (envelope, rejects_invalid_vector)
{
    return s_indices ("invalid");
}

ParameterizedTest (size_t *index, envelope, rejects_invalid_vector)
{
    zconfig_t *root;
    zconfig_t *vector = s_vector ("invalid", *index, &root);
    size_t size;
    uint8_t *bytes = s_unhex (zconfig_get (vector, "hex", ""), &size);

    zmesh_envelope_t *envelope = NULL;
    zmesh_detail_t detail = {""};
    int rc = zmesh_envelope_decode (bytes, size, &envelope, &detail);
    cr_assert (eq (str, (char *) zmesh_errname (rc),
                   zconfig_get (vector, "error", "?")),
               "%s: got %s (%s)", zconfig_name (vector), zmesh_errname (rc),
               detail.text);
    cr_assert (envelope == NULL, "a failed decode hands out nothing");
    cr_assert (strlen (detail.text) > 0, "a failed decode says why");

    free (bytes);
    zconfig_destroy (&root);
}

ParameterizedTestParameters (envelope, rejects_every_prefix_as_truncated)
{
    return s_indices ("valid");
}

ParameterizedTest (size_t *index, envelope, rejects_every_prefix_as_truncated)
{
    zconfig_t *root;
    zconfig_t *vector = s_vector ("valid", *index, &root);
    size_t size;
    uint8_t *bytes = s_unhex (zconfig_get (vector, "hex", ""), &size);
    for (size_t cut = 1; cut < size; cut++) {
        zmesh_envelope_t *envelope = NULL;
        int rc = zmesh_envelope_decode (bytes, cut, &envelope, NULL);
        cr_assert (eq (str, (char *) zmesh_errname (rc),
                       "ERR_ENVELOPE_TRUNCATED"), "%s cut at %zu",
                   zconfig_name (vector), cut);
    }
    free (bytes);
    zconfig_destroy (&root);
}

//  The codes that only C can reach: frames too big to ship as hex.
static const char *s_codes_tested_in_c [] = {
    "ERR_ENVELOPE_EMPTY", "ERR_ENVELOPE_TOO_LARGE",
    "ERR_ENVELOPE_BODY_TOO_LARGE"
};

Test (envelope, every_error_code_has_a_test)
{
    zconfig_t *root = s_vectors ();
    for (int code = ZMESH_ERR_ENVELOPE_EMPTY;
         code <= ZMESH_ERR_ENVELOPE_BAD_BODY; code++) {
        const char *name = zmesh_errname (code);
        bool covered = false;
        for (size_t index = 0; index < 3; index++)
            covered |= streq (s_codes_tested_in_c [index], name);
        for (zconfig_t *v = zconfig_child (zconfig_locate (root, "invalid"));
             v && !covered; v = zconfig_next (v))
            covered = streq (zconfig_get (v, "error", ""), name);
        cr_assert (covered, "no test shows %s", name);
    }
    zconfig_destroy (&root);
}


//  ---------------------------------------------------------------------
//  Limits and errors that the vectors cannot carry

Test (envelope, rejects_empty_frame)
{
    zmesh_envelope_t *envelope = NULL;
    cr_assert (eq (int, zmesh_envelope_decode ("", 0, &envelope, NULL),
                   ZMESH_ERR_ENVELOPE_EMPTY));
}

Test (envelope, rejects_oversize_frame_before_reading_it)
{
    //  Only the first byte is meaningful: the size alone must decide.
    size_t size = ZMESH_ENVELOPE_FRAME_MAX + 1;
    uint8_t *bytes = calloc (1, size);
    bytes [0] = 0x80;
    zmesh_envelope_t *envelope = NULL;
    cr_assert (eq (int, zmesh_envelope_decode (bytes, size, &envelope, NULL),
                   ZMESH_ERR_ENVELOPE_TOO_LARGE));
    free (bytes);
}

//  An event whose body is a bin holding a bin of payload bytes, so that the
//  body is one valid msgpack value of exactly body_size bytes.
static zmesh_envelope_t *
s_event (zmesh_rand_t *rand)
{
    zmesh_envelope_t *envelope = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_uuid_t id;
    zmesh_uuid_generate (rand, &id);
    zmesh_envelope_set_id (envelope, &id);
    zmesh_uuid_generate (rand, &id);
    zmesh_envelope_set_correlation (envelope, &id);
    cr_assert (eq (int, zmesh_envelope_set_type (envelope, "order.created"), 0));
    cr_assert (eq (int, zmesh_envelope_set_source (envelope, "order"), 0));
    zmesh_envelope_set_seq (envelope, 1);
    return envelope;
}

static uint8_t *
s_bin_body (size_t body_size)
{
    uint8_t *body = calloc (1, body_size);
    size_t payload = body_size - 5;
    body [0] = 0xc6;
    body [1] = (uint8_t) (payload >> 24);
    body [2] = (uint8_t) (payload >> 16);
    body [3] = (uint8_t) (payload >> 8);
    body [4] = (uint8_t) payload;
    return body;
}

Test (envelope, carries_a_body_of_exactly_the_limit)
{
    zmesh_rand_t *rand = zmesh_rand_seeded_new (1);
    zmesh_envelope_t *envelope = s_event (rand);
    uint8_t *body = s_bin_body (ZMESH_ENVELOPE_BODY_MAX);
    cr_assert (eq (int, zmesh_envelope_set_body (envelope, body,
                                                 ZMESH_ENVELOPE_BODY_MAX), 0));
    zframe_t *frame = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (envelope, &frame, NULL), 0));
    cr_assert (zframe_size (frame) <= ZMESH_ENVELOPE_FRAME_MAX);
    zmesh_envelope_t *decoded = NULL;
    cr_assert (eq (int, zmesh_envelope_decode (zframe_data (frame),
                                               zframe_size (frame), &decoded,
                                               NULL), 0));
    cr_assert (eq (sz, zmesh_envelope_body_size (decoded),
                   ZMESH_ENVELOPE_BODY_MAX));
    cr_assert (memcmp (zmesh_envelope_body (decoded), body,
                       ZMESH_ENVELOPE_BODY_MAX) == 0);
    zmesh_envelope_destroy (&decoded);
    zframe_destroy (&frame);
    free (body);
    zmesh_envelope_destroy (&envelope);
    zmesh_rand_destroy (&rand);
}

//  An envelope is packed on the stack where it fits (1 KiB) and again into
//  its frame where it does not: frames of every size across that line
//  come out whole, by either encoder, the same bytes.
Test (envelope, encodes_the_same_on_either_side_of_the_stack_buffer)
{
    zmesh_rand_t *rand = zmesh_rand_seeded_new (3);
    zmesh_envelope_t *envelope = s_event (rand);
    for (size_t body_size = 850; body_size < 1100; body_size++) {
        uint8_t *body = s_bin_body (body_size);
        body [body_size - 1] = (uint8_t) body_size;
        cr_assert (eq (int, zmesh_envelope_set_body (envelope, body,
                                                     body_size), 0));
        zframe_t *frame = NULL;
        cr_assert (eq (int, zmesh_envelope_encode (envelope, &frame, NULL), 0));
        zmq_msg_t msg;
        cr_assert (eq (int, zmesh_envelope_encode_msg (envelope, &msg, NULL),
                       0));
        cr_assert (eq (sz, zmq_msg_size (&msg), zframe_size (frame)));
        cr_assert (memcmp (zmq_msg_data (&msg), zframe_data (frame),
                           zframe_size (frame)) == 0);
        zmesh_envelope_t *decoded = NULL;
        cr_assert (eq (int, zmesh_envelope_decode (zframe_data (frame),
                                                   zframe_size (frame),
                                                   &decoded, NULL), 0),
                   "a frame of %zu bytes", zframe_size (frame));
        cr_assert (eq (sz, zmesh_envelope_body_size (decoded), body_size));
        cr_assert (memcmp (zmesh_envelope_body (decoded), body, body_size)
                   == 0);
        zmesh_envelope_destroy (&decoded);
        zmq_msg_close (&msg);
        zframe_destroy (&frame);
        free (body);
    }
    zmesh_envelope_destroy (&envelope);
    zmesh_rand_destroy (&rand);
}

Test (envelope, refuses_a_body_over_the_limit)
{
    zmesh_rand_t *rand = zmesh_rand_seeded_new (2);
    zmesh_envelope_t *envelope = s_event (rand);
    size_t size = ZMESH_ENVELOPE_BODY_MAX + 1;
    uint8_t *body = s_bin_body (size);
    cr_assert (eq (int, zmesh_envelope_set_body (envelope, body, size),
                   ZMESH_ERR_ENVELOPE_BODY_TOO_LARGE));
    cr_assert (eq (sz, zmesh_envelope_body_size (envelope), 0));

    //  The same body from the wire: take a valid frame with a small body
    //  and splice the oversize one in.
    cr_assert (eq (int, zmesh_envelope_set_body (envelope, "\xc0", 1), 0));
    zframe_t *frame = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (envelope, &frame, NULL), 0));
    size_t head = zframe_size (frame) - 4;      //  Less 0x0e 0xc4 0x01 0xc0
    size_t wire_size = head + 1 + 5 + size;
    uint8_t *wire = malloc (wire_size);
    memcpy (wire, zframe_data (frame), head);
    wire [head] = 0x0e;
    memcpy (wire + head + 1, "\xc6\x00\x10\x00\x01", 5);
    memcpy (wire + head + 6, body, size);
    zmesh_envelope_t *decoded = NULL;
    zmesh_detail_t detail;
    cr_assert (eq (int, zmesh_envelope_decode (wire, wire_size, &decoded,
                                               &detail),
                   ZMESH_ERR_ENVELOPE_BODY_TOO_LARGE), "%s", detail.text);
    cr_assert (strstr (detail.text, "'body'") != NULL);
    free (wire);
    zframe_destroy (&frame);
    free (body);
    zmesh_envelope_destroy (&envelope);
    zmesh_rand_destroy (&rand);
}


//  ---------------------------------------------------------------------
//  Building envelopes

Test (envelope, round_trips_every_field)
{
    zmesh_rand_t *rand = zmesh_rand_seeded_new (3);
    zmesh_envelope_t *reply = zmesh_envelope_new (ZMESH_KIND_REPLY);
    zmesh_uuid_t id, correlation, causation;
    zmesh_uuid_generate (rand, &id);
    zmesh_uuid_generate (rand, &correlation);
    zmesh_uuid_generate (rand, &causation);
    zmesh_envelope_set_id (reply, &id);
    zmesh_envelope_set_correlation (reply, &correlation);
    zmesh_envelope_set_causation (reply, &causation);
    zmesh_envelope_set_type (reply, "payment.charge");
    zmesh_envelope_set_source (reply, "payment-2");
    zmesh_envelope_set_timestamp (reply, 1764374400123);
    zmesh_envelope_set_seq (reply, 77);
    zmesh_envelope_set_budget_ms (reply, 250);
    cr_assert (eq (int, zmesh_envelope_set_status (reply,
                                                   ZMESH_STATUS_APP_ERROR,
                                                   -42, "card expired"), 0));
    cr_assert (eq (int, zmesh_envelope_set_header (reply, "tenant", "acme"), 0));
    cr_assert (eq (int, zmesh_envelope_set_header (reply, "x-try", "2"), 0));
    cr_assert (eq (int, zmesh_envelope_set_body (reply, "\x91\x2a", 2), 0));

    zframe_t *frame = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (reply, &frame, NULL), 0));
    zmesh_envelope_t *copy = NULL;
    cr_assert (eq (int, zmesh_envelope_decode (zframe_data (frame),
                                               zframe_size (frame), &copy,
                                               NULL), 0));
    cr_assert (eq (int, zmesh_envelope_kind (copy), ZMESH_KIND_REPLY));
    cr_assert (zmesh_uuid_eq (zmesh_envelope_id (copy), &id));
    cr_assert (zmesh_uuid_eq (zmesh_envelope_correlation (copy), &correlation));
    cr_assert (zmesh_uuid_eq (zmesh_envelope_causation (copy), &causation));
    cr_assert (eq (str, (char *) zmesh_envelope_type (copy), "payment.charge"));
    cr_assert (eq (str, (char *) zmesh_envelope_source (copy), "payment-2"));
    cr_assert (eq (u64, zmesh_envelope_timestamp (copy), 1764374400123));
    cr_assert (eq (u64, zmesh_envelope_seq (copy), 77));
    cr_assert (eq (u32, zmesh_envelope_budget_ms (copy), 250));
    cr_assert (eq (int, zmesh_envelope_status (copy), ZMESH_STATUS_APP_ERROR));
    cr_assert (eq (i64, zmesh_envelope_error_code (copy), -42));
    cr_assert (eq (str, (char *) zmesh_envelope_error_text (copy),
                   "card expired"));
    cr_assert (eq (str, (char *) zmesh_envelope_header (copy, "x-try"), "2"));
    cr_assert (eq (sz, zmesh_envelope_body_size (copy), 2));
    cr_assert (memcmp (zmesh_envelope_body (copy), "\x91\x2a", 2) == 0);

    zmesh_envelope_destroy (&copy);
    zframe_destroy (&frame);
    zmesh_envelope_destroy (&reply);
    zmesh_rand_destroy (&rand);
}

Test (envelope, setters_refuse_bad_values_and_keep_the_old_ones)
{
    zmesh_envelope_t *envelope = zmesh_envelope_new (ZMESH_KIND_EVENT);
    cr_assert (eq (int, zmesh_envelope_set_type (envelope, "user.created"), 0));
    cr_assert (eq (int, zmesh_envelope_set_type (envelope, "user created"),
                   ZMESH_ERR_ENVELOPE_BAD_NAME));
    cr_assert (eq (int, zmesh_envelope_set_type (envelope, ""),
                   ZMESH_ERR_ENVELOPE_BAD_NAME));
    cr_assert (eq (int, zmesh_envelope_set_type (envelope, NULL),
                   ZMESH_ERR_ENVELOPE_BAD_NAME));
    cr_assert (eq (str, (char *) zmesh_envelope_type (envelope),
                   "user.created"));
    char long_source [ZMESH_ENVELOPE_SOURCE_MAX + 2];
    memset (long_source, 's', sizeof long_source - 1);
    long_source [sizeof long_source - 1] = 0;
    cr_assert (eq (int, zmesh_envelope_set_source (envelope, long_source),
                   ZMESH_ERR_ENVELOPE_BAD_NAME));
    long_source [ZMESH_ENVELOPE_SOURCE_MAX] = 0;
    cr_assert (eq (int, zmesh_envelope_set_source (envelope, long_source), 0));

    cr_assert (eq (int, zmesh_envelope_set_status (envelope, 7, 0, NULL),
                   ZMESH_ERR_ENVELOPE_BAD_VALUE));
    char long_text [ZMESH_ENVELOPE_TEXT_MAX + 2];
    memset (long_text, 't', sizeof long_text - 1);
    long_text [sizeof long_text - 1] = 0;
    cr_assert (eq (int, zmesh_envelope_set_status (envelope, 1, 5, long_text),
                   ZMESH_ERR_ENVELOPE_BAD_TEXT));
    cr_assert (eq (int, zmesh_envelope_set_header (envelope, "a b", "v"),
                   ZMESH_ERR_ENVELOPE_BAD_HEADER));
    cr_assert (eq (int, zmesh_envelope_set_header (envelope, "note", long_text),
                   ZMESH_ERR_ENVELOPE_BAD_HEADER));
    cr_assert (eq (int, zmesh_envelope_set_body (envelope, "\x01\x02", 2),
                   ZMESH_ERR_ENVELOPE_BAD_BODY));
    cr_assert (eq (int, zmesh_envelope_set_body (envelope, "\xc1", 1),
                   ZMESH_ERR_ENVELOPE_BAD_BODY));
    cr_assert (eq (sz, zmesh_envelope_header_count (envelope), 0));
    cr_assert (zmesh_envelope_body (envelope) == NULL);
    cr_assert (zmesh_envelope_new (0) == NULL);
    cr_assert (zmesh_envelope_new (4) == NULL);
    zmesh_envelope_destroy (&envelope);
    zmesh_envelope_destroy (&envelope);
}

Test (envelope, reset_leaves_a_new_envelope_that_reuses_its_body)
{
    zmesh_envelope_t *envelope = s_full_reply ();
    const void *buffer = zmesh_envelope_body (envelope);
    zmesh_envelope_reset (envelope, ZMESH_KIND_EVENT);
    cr_assert (eq (int, zmesh_envelope_kind (envelope), ZMESH_KIND_EVENT));
    cr_assert (zmesh_uuid_is_nil (zmesh_envelope_id (envelope)));
    cr_assert (zmesh_envelope_causation (envelope) == NULL);
    cr_assert (eq (str, (char *) zmesh_envelope_type (envelope), ""));
    cr_assert (eq (u64, zmesh_envelope_seq (envelope), 0));
    cr_assert (zmesh_envelope_has_budget (envelope) == false);
    cr_assert (zmesh_envelope_has_status (envelope) == false);
    cr_assert (zmesh_envelope_error_text (envelope) == NULL);
    cr_assert (eq (sz, zmesh_envelope_header_count (envelope), 0));
    cr_assert (zmesh_envelope_body (envelope) == NULL);
    cr_assert (eq (sz, zmesh_envelope_body_size (envelope), 0));
    //  A smaller body goes into the buffer the old one left
    cr_assert (eq (int, zmesh_envelope_set_body (envelope, "\x2a", 1), 0));
    cr_assert (zmesh_envelope_body (envelope) == buffer);
    cr_assert (eq (sz, zmesh_envelope_body_size (envelope), 1));
    zmesh_envelope_reset (envelope, ZMESH_KIND_REPLY);
    cr_assert (zmesh_envelope_has_status (envelope));
    cr_assert (eq (int, zmesh_envelope_status (envelope), ZMESH_STATUS_OK));
    zmesh_envelope_destroy (&envelope);
}

Test (envelope, replaces_a_header_with_the_same_name)
{
    zmesh_envelope_t *envelope = zmesh_envelope_new (ZMESH_KIND_EVENT);
    char name [8];
    for (int index = 0; index < ZMESH_ENVELOPE_HEADERS_MAX; index++) {
        snprintf (name, sizeof name, "h%d", index);
        cr_assert (eq (int, zmesh_envelope_set_header (envelope, name, "1"), 0));
    }
    cr_assert (eq (int, zmesh_envelope_set_header (envelope, "one-more", "1"),
                   ZMESH_ERR_ENVELOPE_TOO_MANY_HEADERS));
    cr_assert (eq (int, zmesh_envelope_set_header (envelope, "h7", "seven"), 0));
    cr_assert (eq (str, (char *) zmesh_envelope_header (envelope, "h7"),
                   "seven"));
    cr_assert (eq (str, (char *) zmesh_envelope_header_name (envelope, 7),
                   "h7"), "a replaced header keeps its place");
    cr_assert (eq (sz, zmesh_envelope_header_count (envelope),
                   ZMESH_ENVELOPE_HEADERS_MAX));
    cr_assert (zmesh_envelope_header (envelope, "h99") == NULL);
    zmesh_envelope_destroy (&envelope);
}

Test (envelope, status_ok_clears_the_error)
{
    zmesh_envelope_t *reply = zmesh_envelope_new (ZMESH_KIND_REPLY);
    cr_assert (zmesh_envelope_has_status (reply), "a new reply says ok");
    zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                               ZMESH_MESH_UNKNOWN_METHOD, "no such method");
    zmesh_envelope_set_status (reply, ZMESH_STATUS_OK, 99, "ignored");
    cr_assert (eq (int, zmesh_envelope_status (reply), ZMESH_STATUS_OK));
    cr_assert (eq (i64, zmesh_envelope_error_code (reply), 0));
    cr_assert (zmesh_envelope_error_text (reply) == NULL);
    zmesh_envelope_destroy (&reply);
}

static void
s_assert_missing (zmesh_envelope_t *envelope, const char *field)
{
    zframe_t *frame = NULL;
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_envelope_encode (envelope, &frame, &detail),
                   ZMESH_ERR_ENVELOPE_MISSING_FIELD));
    cr_assert (frame == NULL);
    cr_assert (strstr (detail.text, field) != NULL, "'%s' not in '%s'", field,
               detail.text);
}

Test (envelope, encode_names_the_missing_field)
{
    zmesh_rand_t *rand = zmesh_rand_seeded_new (4);
    zmesh_uuid_t id;
    zmesh_uuid_generate (rand, &id);

    zmesh_envelope_t *event = zmesh_envelope_new (ZMESH_KIND_EVENT);
    s_assert_missing (event, "'id'");
    zmesh_envelope_set_id (event, &id);
    s_assert_missing (event, "'correlation'");
    zmesh_envelope_set_correlation (event, &id);
    s_assert_missing (event, "'type'");
    zmesh_envelope_set_type (event, "user.created");
    s_assert_missing (event, "'source'");
    zmesh_envelope_set_source (event, "user");
    s_assert_missing (event, "'seq'");
    zmesh_envelope_set_seq (event, 1);
    zframe_t *frame = NULL;
    cr_assert (eq (int, zmesh_envelope_encode (event, &frame, NULL), 0));
    zframe_destroy (&frame);

    zmesh_envelope_t *request = zmesh_envelope_new (ZMESH_KIND_REQUEST);
    zmesh_envelope_set_id (request, &id);
    zmesh_envelope_set_correlation (request, &id);
    zmesh_envelope_set_type (request, "user.get");
    zmesh_envelope_set_source (request, "order");
    s_assert_missing (request, "'budget_ms'");
    zmesh_envelope_set_budget_ms (request, 0);
    cr_assert (eq (int, zmesh_envelope_encode (request, &frame, NULL), 0));
    zframe_destroy (&frame);

    zmesh_envelope_destroy (&request);
    zmesh_envelope_destroy (&event);
    zmesh_rand_destroy (&rand);
}


//  ---------------------------------------------------------------------
//  Failure and hostile input

static uint8_t *
s_full_vector (size_t *size_p)
{
    zconfig_t *root = s_vectors ();
    uint8_t *bytes = s_unhex (zconfig_get (root, "valid/event_full/hex", ""),
                              size_p);
    zconfig_destroy (&root);
    return bytes;
}

Test (envelope, unwinds_cleanly_when_any_allocation_fails)
{
    size_t size;
    uint8_t *bytes = s_full_vector (&size);
    int failures = 0;
    for (long nth = 1;; nth++) {
        zmesh_envelope_t *envelope = NULL;
        zmesh__alloc_fail_at (nth);
        int rc = zmesh_envelope_decode (bytes, size, &envelope, NULL);
        zframe_t *frame = NULL;
        if (rc == ZMESH_OK)
            rc = zmesh_envelope_encode (envelope, &frame, NULL);
        long made = zmesh__alloc_fail_at (0);
        zframe_destroy (&frame);
        zmesh_envelope_destroy (&envelope);
        if (made < nth) {
            cr_assert (eq (int, rc, ZMESH_OK), "no failure injected");
            break;
        }
        cr_assert (eq (int, rc, ZMESH_ERR_NOMEM), "allocation %ld", nth);
        failures++;
    }
    cr_assert (failures >= 4, "decode makes envelope, 2 headers, body");
    free (bytes);
}

Test (envelope, survives_random_corruption)
{
    //  Bounded: a fixed seed and count, so a failure always reproduces.
    size_t size;
    uint8_t *pristine = s_full_vector (&size);
    uint8_t *bytes = malloc (size);
    zmesh_rand_t *rand = zmesh_rand_seeded_new (5);
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy (bytes, pristine, size);
        int flips = 1 + (int) zmesh_rand_below (rand, 4);
        for (int flip = 0; flip < flips; flip++)
            bytes [zmesh_rand_below (rand, size)] =
                (uint8_t) zmesh_rand_u64 (rand);
        size_t length = size - zmesh_rand_below (rand, 3);
        zmesh_envelope_t *envelope = NULL;
        int rc = zmesh_envelope_decode (bytes, length, &envelope, NULL);
        cr_assert (rc >= ZMESH_OK && rc < ZMESH_ERR_COUNT_);
        cr_assert (eq (int, rc == ZMESH_OK, envelope != NULL));
        accepted += rc == ZMESH_OK;
        zmesh_envelope_destroy (&envelope);
    }
    cr_assert (accepted < 20000, "corruption must be noticed sometimes");
    zmesh_rand_destroy (&rand);
    free (bytes);
    free (pristine);
}

//  The decoder reads the encoder's own form straight through; anything
//  else, from its first entry in another form, the long way. The two
//  must agree on everything: the answer, the detail, the envelope.
static void
s_assert_read_alike (const uint8_t *bytes, size_t size, const char *what)
{
    zmesh_envelope_t *fast = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_envelope_t *slow = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_detail_t fast_detail = {""}, slow_detail = {""};
    int fast_rc = zmesh_envelope_decode_into (bytes, size, fast, &fast_detail);
    int slow_rc = zmesh__envelope_decode_long (bytes, size, slow,
                                               &slow_detail);
    cr_assert (eq (int, fast_rc, slow_rc), "%s", what);
    cr_assert (eq (str, fast_detail.text, slow_detail.text), "%s", what);
    if (fast_rc == ZMESH_OK) {
        zframe_t *one = NULL, *two = NULL;
        cr_assert (eq (int, zmesh_envelope_encode (fast, &one, NULL), 0));
        cr_assert (eq (int, zmesh_envelope_encode (slow, &two, NULL), 0));
        cr_assert (zframe_eq (one, two), "%s: read otherwise", what);
        zframe_destroy (&one);
        zframe_destroy (&two);
    }
    zmesh_envelope_destroy (&fast);
    zmesh_envelope_destroy (&slow);
}

Test (envelope, the_encoders_form_and_any_other_are_read_alike)
{
    zconfig_t *root = s_vectors ();
    const char *sections [] = {"valid", "invalid"};
    for (int section = 0; section < 2; section++)
        for (zconfig_t *v = zconfig_child (zconfig_locate (root,
                                                           sections [section]));
             v; v = zconfig_next (v)) {
            size_t size;
            uint8_t *bytes = s_unhex (zconfig_get (v, "hex", ""), &size);
            s_assert_read_alike (bytes, size, zconfig_name (v));
            free (bytes);
        }
    zconfig_destroy (&root);
    //  An event as nodes send them (the form read straight through), with
    //  a cause and without, and the full vector: each corrupted at random
    zmesh_rand_t *rand = zmesh_rand_seeded_new (7);
    uint8_t *frames [3];
    size_t sizes [3];
    for (int which = 0; which < 2; which++) {
        zmesh_envelope_t *event = zmesh_envelope_new (ZMESH_KIND_EVENT);
        zmesh_uuid_t id;
        zmesh_uuid_generate_v7 (rand, 1764374400000, &id);
        zmesh_envelope_set_id (event, &id);
        zmesh_envelope_set_correlation (event, &id);
        if (which)
            zmesh_envelope_set_causation (event, &id);
        zmesh_envelope_set_type (event, "order.placed");
        zmesh_envelope_set_source (event, "order-a");
        zmesh_envelope_set_timestamp (event, 1764374400000);
        zmesh_envelope_set_seq (event, 300);
        cr_assert (eq (int, zmesh_envelope_set_body (event, "\x81\xa1k\x2a",
                                                     4), 0));
        zframe_t *frame = NULL;
        cr_assert (eq (int, zmesh_envelope_encode (event, &frame, NULL), 0));
        sizes [which] = zframe_size (frame);
        frames [which] = malloc (sizes [which]);
        memcpy (frames [which], zframe_data (frame), sizes [which]);
        zframe_destroy (&frame);
        zmesh_envelope_destroy (&event);
    }
    frames [2] = s_full_vector (&sizes [2]);
    for (int which = 0; which < 3; which++) {
        s_assert_read_alike (frames [which], sizes [which], "pristine");
        uint8_t *bytes = malloc (sizes [which]);
        for (int round = 0; round < 20000; round++) {
            memcpy (bytes, frames [which], sizes [which]);
            int flips = 1 + (int) zmesh_rand_below (rand, 3);
            for (int flip = 0; flip < flips; flip++)
                bytes [zmesh_rand_below (rand, sizes [which])] =
                    (uint8_t) zmesh_rand_u64 (rand);
            size_t length = sizes [which] - zmesh_rand_below (rand, 3);
            char what [64];
            snprintf (what, sizeof what, "frame %d, round %d", which, round);
            s_assert_read_alike (bytes, length, what);
        }
        free (bytes);
        free (frames [which]);
    }
    zmesh_rand_destroy (&rand);
}

//  W3C trace context: a message's traceparent is its correlation and the
//  last 8 bytes of its id; its parent span its causation's, or a valid
//  traceparent header's of the same trace.
Test (envelope, trace_context_comes_from_the_ids)
{
    zmesh_envelope_t *envelope = zmesh_envelope_new (ZMESH_KIND_REQUEST);
    zmesh_uuid_t id, correlation, cause;
    cr_assert (eq (int, zmesh_uuid_parse ("0192f1c4-8b2a-7cde-9f01-23456789abcd",
                                          &id), 0));
    cr_assert (eq (int, zmesh_uuid_parse ("4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
                                          &correlation), 0));
    cr_assert (eq (int, zmesh_uuid_parse ("0192f1c4-8b2a-7cde-8123-00f067aa0ba9",
                                          &cause), 0));
    zmesh_envelope_set_id (envelope, &id);
    zmesh_envelope_set_correlation (envelope, &correlation);
    char text [ZMESH_TRACEPARENT_LEN + 1], span_text [17];
    cr_assert (eq (str, zmesh_envelope_traceparent (envelope, text),
                   "00-4bf92f3577b34da6a3ce929d0e0e4736-9f0123456789abcd-01"));
    uint8_t span [ZMESH_SPAN_ID_SIZE];
    cr_assert (not (zmesh_envelope_parent_span (envelope, span)), "a root");
    //  A header of another trace is passed over; one of this trace is the
    //  parent; a causation wins over it
    zmesh_envelope_set_header (envelope, "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    cr_assert (not (zmesh_envelope_parent_span (envelope, span)));
    zmesh_envelope_set_header (envelope, "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01");
    cr_assert (zmesh_envelope_parent_span (envelope, span));
    cr_assert (eq (str, zmesh_span_format (span, span_text),
                   "b7ad6b7169203331"));
    zmesh_envelope_set_causation (envelope, &cause);
    cr_assert (zmesh_envelope_parent_span (envelope, span));
    cr_assert (eq (str, zmesh_span_format (span, span_text),
                   "812300f067aa0ba9"));
    zmesh_envelope_destroy (&envelope);
}

Test (envelope, traceparent_is_read_as_w3c_says)
{
    zmesh_uuid_t trace;
    uint8_t parent [ZMESH_SPAN_ID_SIZE], flags = 0;
    char span [17];
    cr_assert (eq (int, zmesh_traceparent_parse (
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &trace,
        parent, &flags), 0));
    char cid [ZMESH_UUID_STR_LEN + 1];
    cr_assert (eq (str, zmesh_uuid_unparse (&trace, cid),
                   "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"));
    cr_assert (eq (str, zmesh_span_format (parent, span), "00f067aa0ba902b7"));
    cr_assert (eq (u8, flags, 1));
    //  A later version may go on after its flags; version 00 may not
    cr_assert (eq (int, zmesh_traceparent_parse (
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-next",
        NULL, NULL, &flags), 0));
    cr_assert (eq (u8, flags, 0));
    const char *bad [] = {
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.",
        "", NULL};
    for (size_t index = 0; index < sizeof bad / sizeof bad [0]; index++)
        cr_assert (eq (int, zmesh_traceparent_parse (bad [index], &trace,
                                                     parent, &flags),
                       ZMESH_ERR_INVALID), "%s", bad [index]);
}

//  The publish path writes events from their fields: byte for byte what
//  the encoder makes of the envelope with those fields (and one header,
//  or none), at every edge of every field's forms.
Test (envelope, the_event_writer_writes_what_the_encoder_does)
{
    const uint64_t numbers [] = {1, 127, 128, 255, 256, 65535, 65536,
                                 UINT32_MAX, (uint64_t) UINT32_MAX + 1,
                                 1764374400000, INT64_MAX, UINT64_MAX};
    //  Body sizes (s_bin_body's, 5 bytes at least), 0 for none
    const size_t bodies [] = {0, 5, 200, 255, 256, 65535, 65536};
    const size_t lengths [] = {1, 31, 32, 64, 128};
    char name [ZMESH_ENVELOPE_TYPE_MAX + 1];
    memset (name, 'n', sizeof name);
    zmesh_rand_t *rand = zmesh_rand_seeded_new (11);
    size_t capacity = ZMESH_ENVELOPE_BODY_MAX + 1024;
    uint8_t *out = malloc (capacity);
    int checked = 0;
    for (size_t n = 0; n < sizeof numbers / sizeof numbers [0]; n++)
    for (size_t p = 0; p < sizeof bodies / sizeof bodies [0]; p++)
    for (size_t l = 0; l < sizeof lengths / sizeof lengths [0]; l++)
    for (int caused = 0; caused < 2; caused++)
    for (int headed = 0; headed < 4; headed++) {
        zmesh_uuid_t id, correlation, cause;
        zmesh_uuid_generate_v7 (rand, 1764374400000, &id);
        zmesh_uuid_generate (rand, &correlation);
        zmesh_uuid_generate (rand, &cause);
        size_t type_length = lengths [l];
        size_t source_length = lengths [l] < 64 ? lengths [l] : 64;
        char type [ZMESH_ENVELOPE_TYPE_MAX + 1], source [65];
        memcpy (type, name, type_length);
        type [type_length] = 0;
        memcpy (source, name, source_length);
        source [source_length] = 0;
        size_t body_size = bodies [p];
        uint8_t *body = body_size ? s_bin_body (body_size) : NULL;
        //  The seq is never 0; the timestamp runs through the same edges
        uint64_t seq = numbers [n];
        uint64_t timestamp = numbers [(n + p) % (sizeof numbers
                                                 / sizeof numbers [0])];
        //  No header; a key of a fixstr, one of a str 8; a traceparent
        const char *header = headed == 0 ? NULL
                           : headed < 3 ? "key" : "traceparent";
        const char *value = headed == 1 ? "order-17"
                          : headed == 2
                          ? "order-0123456789abcdef0123456789abcdef"
                          : "00-4bf92f3577b34da6a3ce929d0e0e4736-"
                            "00f067aa0ba902b7-01";
        zmesh__event_fields_t fields = {
            .id = &id, .correlation = &correlation,
            .causation = caused ? &cause : NULL, .type = type,
            .type_length = type_length, .source = source,
            .source_length = source_length, .timestamp = timestamp,
            .seq = seq, .header = header, .header_value = value,
            .header_value_length = header ? strlen (value) : 0,
            .body = body, .body_size = body_size};
        size_t size = zmesh__envelope_pack_event (&fields, out, capacity);
        zmesh_envelope_t *event = zmesh_envelope_new (ZMESH_KIND_EVENT);
        zmesh_envelope_set_id (event, &id);
        zmesh_envelope_set_correlation (event, &correlation);
        if (caused)
            zmesh_envelope_set_causation (event, &cause);
        cr_assert (eq (int, zmesh_envelope_set_type (event, type), 0));
        cr_assert (eq (int, zmesh_envelope_set_source (event, source), 0));
        zmesh_envelope_set_timestamp (event, timestamp);
        zmesh_envelope_set_seq (event, seq);
        if (header)
            cr_assert (eq (int, zmesh_envelope_set_header (event, header,
                                                           value), 0));
        cr_assert (eq (int, zmesh_envelope_set_body (event, body, body_size),
                       0));
        zframe_t *frame = NULL;
        cr_assert (eq (int, zmesh_envelope_encode (event, &frame, NULL), 0));
        cr_assert (eq (sz, size, zframe_size (frame)),
                   "seq %" PRIu64 ", body %zu, names %zu", seq, body_size,
                   type_length);
        cr_assert (eq (int, memcmp (out, zframe_data (frame), size), 0),
                   "seq %" PRIu64 ", body %zu, names %zu", seq, body_size,
                   type_length);
        //  Too little room: the size all the same, nothing past the room
        uint8_t small [8];
        memset (small, 0xee, sizeof small);
        cr_assert (eq (sz, zmesh__envelope_pack_event (&fields, small, 4),
                       size));
        cr_assert (eq (u8, small [4], 0xee));
        zframe_destroy (&frame);
        zmesh_envelope_destroy (&event);
        free (body);
        checked++;
    }
    cr_assert (eq (int, checked, 12 * 7 * 5 * 2 * 4));
    free (out);
    zmesh_rand_destroy (&rand);
}
