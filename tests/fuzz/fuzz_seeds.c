/*  fuzz_seeds.c - write the seed corpora of the fuzz targets: every test
    vector of proto/vectors/envelope.zpl as a binary file, and an event
    with a key header (the envelope target), each one's body (the msgpack target), and a few JSON bodies
    of the demo's HTTP routes (the HTTP target), and requests of them
    (the gateway's route target: see fuzz_gateway_route.c).

        fuzz_seeds VECTORS_FILE OUT_DIR

    Part of zmesh. MIT License.
*/
#include "zmesh.h"

static void
s_write (const char *dir, const char *name, const void *data, size_t size)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "wb");
    if (!file || fwrite (data, 1, size, file) != size) {
        fprintf (stderr, "fuzz_seeds: cannot write %s\n", path);
        exit (1);
    }
    fclose (file);
}

int
main (int argc, char *argv [])
{
    if (argc != 3) {
        fprintf (stderr, "usage: fuzz_seeds VECTORS_FILE OUT_DIR\n");
        return 2;
    }
    zconfig_t *root = zconfig_load (argv [1]);
    if (!root) {
        fprintf (stderr, "fuzz_seeds: cannot read %s\n", argv [1]);
        return 1;
    }
    char dirs [4][400];
    const char *targets [] = {"envelope", "msgpack_json", "http_json",
                              "gateway_route"};
    for (int index = 0; index < 4; index++) {
        snprintf (dirs [index], sizeof dirs [index], "%s/%s", argv [2],
                  targets [index]);
        zsys_dir_create ("%s", dirs [index]);
    }
    const char *sections [] = {"valid", "invalid"};
    for (int section = 0; section < 2; section++) {
        zconfig_t *group = zconfig_locate (root, sections [section]);
        for (zconfig_t *vector = group ? zconfig_child (group) : NULL; vector;
             vector = zconfig_next (vector)) {
            const char *hex = zconfig_get (vector, "hex", "");
            size_t size = strlen (hex) / 2;
            uint8_t *bytes = malloc (size + 1);
            for (size_t at = 0; at < size; at++) {
                unsigned value = 0;
                sscanf (hex + 2 * at, "%2x", &value);
                bytes [at] = (uint8_t) value;
            }
            char name [256];
            snprintf (name, sizeof name, "%s-%s", sections [section],
                      zconfig_name (vector));
            s_write (dirs [0], name, bytes, size);
            zmesh_envelope_t *envelope = NULL;
            if (zmesh_envelope_decode (bytes, size, &envelope, NULL)
                    == ZMESH_OK
                && zmesh_envelope_body_size (envelope))
                s_write (dirs [1], name, zmesh_envelope_body (envelope),
                         zmesh_envelope_body_size (envelope));
            zmesh_envelope_destroy (&envelope);
            free (bytes);
        }
    }
    //  An event as a node with a store sends it: with its key header
    zmesh_envelope_t *keyed = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_uuid_t id;
    memset (id.bytes, 0x17, sizeof id.bytes);
    zmesh_envelope_set_id (keyed, &id);
    zmesh_envelope_set_correlation (keyed, &id);
    zmesh_envelope_set_type (keyed, "order.placed");
    zmesh_envelope_set_source (keyed, "order-a");
    zmesh_envelope_set_timestamp (keyed, 1764374400000);
    zmesh_envelope_set_seq (keyed, 300);
    zmesh_envelope_set_header (keyed, "key", "order-17");
    zmesh_envelope_set_body (keyed, "\x81\xa1k\x2a", 4);
    zframe_t *frame = NULL;
    if (zmesh_envelope_encode (keyed, &frame, NULL) != ZMESH_OK) {
        fprintf (stderr, "fuzz_seeds: cannot encode the keyed event\n");
        return 1;
    }
    s_write (dirs [0], "event-keyed", zframe_data (frame), zframe_size (frame));
    zframe_destroy (&frame);
    zmesh_envelope_destroy (&keyed);
    const char *bodies [] = {
        "{\"name\": \"Ada\", \"email\": \"ada@example.org\"}",
        ("{\"userId\": \"0f8fad5b-d9cb-469f-a165-70867728950e\", \"items\": "
         "[{\"productId\": \"p-book\", \"quantity\": 2, \"price\": 1250}]}"),
        "{\"a\": [1, -2.5e3, true, false, null, \"\\u00e9\\n\", {}]}",
        "[1, 2, 3]", "\"text\"", "{\"deep\": [[[[[[[[[[1]]]]]]]]]]}"};
    for (size_t index = 0; index < sizeof bodies / sizeof bodies [0]; index++) {
        char name [32];
        snprintf (name, sizeof name, "body-%zu", index);
        s_write (dirs [2], name, bodies [index], strlen (bodies [index]));
        json_t *value = NULL;
        void *packed = NULL;
        size_t size = 0;
        if (zmesh_json_parse (bodies [index], strlen (bodies [index]), &value,
                              NULL) == ZMESH_OK
            && zmesh_json_to_msgpack (value, &packed, &size, NULL) == ZMESH_OK)
            s_write (dirs [1], name, packed, size);
        free (packed);
        json_decref (value);
    }
    //  Requests: a choice byte (method GET 0 or POST 1; 16: a Host header;
    //  32: an Idempotency-Key), then path, version and key, each ended by
    //  a NUL, then the body
    static const struct {
        uint8_t choice;
        const char *path, *key, *body;
    } requests [] = {
        {16, "/health", "", ""},
        {16, "/metrics", "", ""},
        {16, "/users/0f8fad5b-d9cb-469f-a165-70867728950e", "", ""},
        {16, "/orders/0F8FAD5B-D9CB-469F-A165-70867728950E", "", ""},
        {16, "/users/\xff", "", ""},
        {17, "/users", "", "{\"name\": \"Ada\", \"email\": \"a@x.org\"}"},
        {49, "/orders", "order-1",
         "{\"userId\": \"0f8fad5b-d9cb-469f-a165-70867728950e\", \"items\": "
         "[{\"productId\": \"p\", \"quantity\": 1, \"price\": 1}]}"},
        {1, "/orders", "", "{}"}};
    for (size_t index = 0; index < sizeof requests / sizeof requests [0];
         index++) {
        char request [1024], name [32];
        int length = snprintf (request, sizeof request, "%c%s%cHTTP/1.1%c%s%c%s",
                               requests [index].choice, requests [index].path,
                               0, 0, requests [index].key, 0,
                               requests [index].body);
        snprintf (name, sizeof name, "request-%zu", index);
        s_write (dirs [3], name, request, (size_t) length);
    }
    zconfig_destroy (&root);
    return 0;
}
