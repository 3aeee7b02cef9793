/*  fuzz_msgpack_json.c - libFuzzer target: the msgpack -> JSON renderer
    that zsniff and the gateway show bodies with.

    Any bytes: rendering never crashes, leaks or hangs; what renders goes
    back to msgpack and comes round to the same bytes.

    Part of zmesh. MIT License.
*/
#include "zmesh.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    json_t *value = NULL;
    if (zmesh_json_from_msgpack (data, size, &value, NULL) != ZMESH_OK)
        return 0;
    //  Rendered once, it is stable: to msgpack, back, and to msgpack again
    //  gives the same bytes (json_equal would not do: it reads keys as C
    //  strings, and a msgpack key may hold NUL)
    void *packed = NULL, *repacked = NULL;
    size_t packed_size = 0, repacked_size = 0;
    json_t *again = NULL;
    if (zmesh_json_to_msgpack (value, &packed, &packed_size, NULL) == ZMESH_OK
        && (zmesh_json_from_msgpack (packed, packed_size, &again, NULL)
                != ZMESH_OK
            || zmesh_json_to_msgpack (again, &repacked, &repacked_size, NULL)
                   != ZMESH_OK
            || repacked_size != packed_size
            || memcmp (packed, repacked, packed_size) != 0))
        __builtin_trap ();
    free (packed);
    free (repacked);
    json_decref (again);
    json_decref (value);
    return 0;
}
