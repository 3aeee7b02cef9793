/*  node.c - zmesh-bench's nodes and sizes: bodies, the size of what zmesh
    puts on the wire (so that raw sends frames as large), and nodes made
    from settings.

    Part of zmesh. MIT License.
*/
#include <stdarg.h>
#include "bench.h"

void
bench_fill_body (uint8_t *body, size_t size)
{
    //  One msgpack bin value of size bytes in all
    memset (body, 'x', size);
    if (size < 256 + 2) {
        body [0] = 0xc4;
        body [1] = (uint8_t) (size - 2);
    }
    else {
        body [0] = 0xc5;
        body [1] = (uint8_t) ((size - 3) >> 8);
        body [2] = (uint8_t) (size - 3);
    }
}

size_t
bench_envelope_size (zmesh_kind_t kind, const char *type, size_t body_size)
{
    uint8_t body [BODY_LARGE];
    bench_fill_body (body, body_size);
    zmesh_envelope_t *envelope = zmesh_envelope_new (kind);
    zmesh_uuid_t id;
    zmesh_rand_t *rand = zmesh_rand_new ();
    zmesh_uuid_generate (rand, &id);
    zmesh_envelope_set_id (envelope, &id);
    zmesh_envelope_set_correlation (envelope, &id);
    if (kind != ZMESH_KIND_REQUEST)
        zmesh_envelope_set_causation (envelope, &id);
    zmesh_envelope_set_type (envelope, type);
    zmesh_envelope_set_source (envelope, "bench-0");
    zmesh_envelope_set_timestamp (envelope, 1790000000000);
    if (kind == ZMESH_KIND_EVENT)
        zmesh_envelope_set_seq (envelope, 1000000);
    if (kind == ZMESH_KIND_REQUEST)
        zmesh_envelope_set_budget_ms (envelope, 5000);
    zmesh_envelope_set_body (envelope, body, body_size);
    zframe_t *frame = NULL;
    zmesh_envelope_encode (envelope, &frame, NULL);
    size_t size = frame ? zframe_size (frame) : 0;
    zframe_destroy (&frame);
    zmesh_envelope_destroy (&envelope);
    zmesh_rand_destroy (&rand);
    return size;
}

//  A node called name with settings ("path=value" ..., NULL) over the
//  defaults; exits on a bad setting, since every setting here is ours.
zmesh_node_t *
bench_node_new (const char *name, ...)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, name);
    zmesh_detail_t detail = {""};
    va_list args;
    va_start (args, name);
    const char *setting;
    while ((setting = va_arg (args, const char *)))
        if (zmesh_node_config_set (&config, setting, &detail) != ZMESH_OK) {
            fprintf (stderr, "zmesh-bench: %s\n", detail.text);
            exit (1);
        }
    va_end (args);
    zmesh_node_t *node = NULL;
    if (zmesh_node_config_validate (&config, &detail) == ZMESH_OK)
        node = zmesh_node_new (&config, NULL, NULL, &detail);
    if (!node) {
        fprintf (stderr, "zmesh-bench: node %s: %s\n", name, detail.text);
        exit (1);
    }
    return node;
}

char *
bench_fmt (char *buffer, size_t size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (buffer, size, format, args);
    va_end (args);
    return buffer;
}
