/*  uuid.c - generating, parsing and formatting zmesh ids.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include <uuid/uuid.h>

void
zmesh_uuid_generate (zmesh_rand_t *rand, zmesh_uuid_t *uuid)
{
    assert (rand && uuid);
    zmesh_rand_fill (rand, uuid->bytes, ZMESH_UUID_SIZE);
    //  RFC 4122 section 4.4: version 4 in the high nibble of byte 6, the
    //  variant bits 10 at the top of byte 8.
    uuid->bytes [6] = (uint8_t) ((uuid->bytes [6] & 0x0f) | 0x40);
    uuid->bytes [8] = (uint8_t) ((uuid->bytes [8] & 0x3f) | 0x80);
}

void
zmesh_uuid_generate_v7 (zmesh_rand_t *rand, uint64_t unix_ms,
                        zmesh_uuid_t *uuid)
{
    assert (rand && uuid);
    zmesh_rand_fill (rand, uuid->bytes + 6, ZMESH_UUID_SIZE - 6);
    //  RFC 9562 section 5.7: the time in milliseconds, big-endian, in the
    //  first 48 bits; version 7; the variant; random bits in the rest.
    for (int index = 5; index >= 0; index--, unix_ms >>= 8)
        uuid->bytes [index] = (uint8_t) unix_ms;
    uuid->bytes [6] = (uint8_t) ((uuid->bytes [6] & 0x0f) | 0x70);
    uuid->bytes [8] = (uint8_t) ((uuid->bytes [8] & 0x3f) | 0x80);
}

zmesh_err_t
zmesh_uuid_parse (const char *text, zmesh_uuid_t *uuid)
{
    assert (uuid);
    uuid_t parsed;
    if (!text || strnlen (text, ZMESH_UUID_STR_LEN + 1) != ZMESH_UUID_STR_LEN
        || uuid_parse (text, parsed) != 0)
        return ZMESH_ERR_UUID_PARSE;
    memcpy (uuid->bytes, parsed, ZMESH_UUID_SIZE);
    return ZMESH_OK;
}

char *
zmesh_uuid_unparse (const zmesh_uuid_t *uuid, char *text)
{
    assert (uuid && text);
    uuid_unparse_lower (uuid->bytes, text);
    return text;
}

int
zmesh_uuid_compare (const zmesh_uuid_t *a, const zmesh_uuid_t *b)
{
    assert (a && b);
    return uuid_compare (a->bytes, b->bytes);
}

bool
zmesh_uuid_eq (const zmesh_uuid_t *a, const zmesh_uuid_t *b)
{
    assert (a && b);
    return memcmp (a->bytes, b->bytes, ZMESH_UUID_SIZE) == 0;
}

bool
zmesh_uuid_is_nil (const zmesh_uuid_t *uuid)
{
    assert (uuid);
    static const zmesh_uuid_t nil;
    return memcmp (uuid->bytes, nil.bytes, ZMESH_UUID_SIZE) == 0;
}
