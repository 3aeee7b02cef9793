/*  fuzz_envelope.c - libFuzzer target: the envelope decoder.

    Any bytes: decoding never crashes, leaks or hangs; what decodes
    encodes again, and the encoding decodes to the same encoding (the
    canonical form is a fixed point); zsniff's JSON view of it renders.

    Part of zmesh. MIT License.
*/
#include "zmesh.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zmesh_envelope_t *envelope = NULL;
    if (zmesh_envelope_decode (data, size, &envelope, NULL) != ZMESH_OK)
        return 0;
    zframe_t *first = NULL, *second = NULL;
    zmesh_envelope_t *again = NULL;
    if (zmesh_envelope_encode (envelope, &first, NULL) != ZMESH_OK
        || zmesh_envelope_decode (zframe_data (first), zframe_size (first),
                                  &again, NULL) != ZMESH_OK
        || zmesh_envelope_encode (again, &second, NULL) != ZMESH_OK
        || !zframe_eq (first, second))
        __builtin_trap ();      //  A decoded envelope must round-trip
    json_t *view = zmesh_json_from_envelope (envelope);
    if (!view)
        __builtin_trap ();
    json_decref (view);
    zframe_destroy (&first);
    zframe_destroy (&second);
    zmesh_envelope_destroy (&again);
    zmesh_envelope_destroy (&envelope);
    return 0;
}
