/*  zmesh/uuid.h - message, correlation and causation ids.

    Ids are RFC 9562 UUIDs: 16 bytes on the wire, the canonical
    36-character lowercase text wherever a person reads them. Message ids
    are version 7 (time-ordered), others version 4 (random). Parsing and
    formatting go through libuuid; generation draws from a zmesh_rand_t.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_UUID_H_INCLUDED
#define ZMESH_UUID_H_INCLUDED

#include "zmesh/export.h"
#include <stdbool.h>
#include <stdint.h>
#include "zmesh/error.h"
#include "zmesh/rand.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZMESH_UUID_SIZE     16      //  Bytes on the wire
#define ZMESH_UUID_STR_LEN  36      //  Characters in the text form

typedef struct {
    uint8_t bytes [ZMESH_UUID_SIZE];
} zmesh_uuid_t;

//  Fill uuid with a new random (version 4) UUID drawn from rand.
ZMESH_EXPORT void
    zmesh_uuid_generate (zmesh_rand_t *rand, zmesh_uuid_t *uuid);

//  Fill uuid with a new time-ordered (version 7, RFC 9562) UUID: unix_ms
//  in its first 48 bits, 74 bits drawn from rand in the rest. Ids made
//  one after another sort in time order, which keeps a store's index of
//  them compact: new ids land on the same few index pages.
ZMESH_EXPORT void
    zmesh_uuid_generate_v7 (zmesh_rand_t *rand, uint64_t unix_ms,
                            zmesh_uuid_t *uuid);

//  Parse the canonical text form (36 characters, hex in either case). Returns
//  ZMESH_OK, or ZMESH_ERR_UUID_PARSE and leaves uuid untouched.
ZMESH_EXPORT zmesh_err_t
    zmesh_uuid_parse (const char *text, zmesh_uuid_t *uuid);

//  Write the lowercase canonical text of uuid into text, which must hold
//  ZMESH_UUID_STR_LEN + 1 characters. Returns text.
ZMESH_EXPORT char *
    zmesh_uuid_unparse (const zmesh_uuid_t *uuid, char *text);

//  Compare two ids as byte strings: <0, 0 or >0.
ZMESH_EXPORT int
    zmesh_uuid_compare (const zmesh_uuid_t *a, const zmesh_uuid_t *b);

//  Return true if a and b are the same id.
ZMESH_EXPORT bool
    zmesh_uuid_eq (const zmesh_uuid_t *a, const zmesh_uuid_t *b);

//  Return true if uuid is the nil UUID (all zero bytes), which zmesh uses
//  for "no id".
ZMESH_EXPORT bool
    zmesh_uuid_is_nil (const zmesh_uuid_t *uuid);

#ifdef __cplusplus
}
#endif

#endif
