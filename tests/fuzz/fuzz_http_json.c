/*  fuzz_http_json.c - libFuzzer target: what the gateway does with an
    HTTP body: parse it as JSON (zmesh_json_parse, with its limits) and,
    if it is an object, turn it into the msgpack body of a call.

    Any bytes: never a crash, leak or hang; an accepted body survives the
    trip to msgpack and back unchanged.

    Part of zmesh. MIT License.
*/
#include "zmesh.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    json_t *body = NULL;
    if (zmesh_json_parse ((const char *) data, size, &body, NULL) != ZMESH_OK)
        return 0;
    void *packed = NULL;
    size_t packed_size = 0;
    json_t *again = NULL;
    if (json_is_object (body)
        && zmesh_json_to_msgpack (body, &packed, &packed_size, NULL)
               == ZMESH_OK
        && (zmesh_json_from_msgpack (packed, packed_size, &again, NULL)
                != ZMESH_OK
            || !json_equal (body, again)))
        __builtin_trap ();      //  What the gateway forwards is what it read
    free (packed);
    json_decref (again);
    json_decref (body);
    return 0;
}
