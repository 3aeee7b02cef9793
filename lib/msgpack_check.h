/*  msgpack_check.h - bounds check of untrusted msgpack before unpacking
    (private).

    msgpack-c allocates a container's element array from the count in its
    header before it reads the elements, so six hostile bytes announcing an
    array of 2^28 elements cost gigabytes. This walk rejects any container
    that announces more elements than bytes remain, before msgpack-c sees
    the input. It allocates nothing. The reading of one value's head that
    it walks with is here too, for the envelope decoder, which reads the
    same heads on its own.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_MSGPACK_CHECK_H_INCLUDED
#define ZMESH_MSGPACK_CHECK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zmesh/error.h"

//  Containers nested deeper than this are refused; it is msgpack-c's limit.
#define ZMESH__MSGPACK_DEPTH_MAX 32

//  What one msgpack value is, by msgpack-c's names for its types.
typedef enum {
    ZMESH__MSGPACK_NIL, ZMESH__MSGPACK_BOOL, ZMESH__MSGPACK_UINT,
    ZMESH__MSGPACK_NEGATIVE, ZMESH__MSGPACK_FLOAT32, ZMESH__MSGPACK_FLOAT64,
    ZMESH__MSGPACK_STR, ZMESH__MSGPACK_BIN, ZMESH__MSGPACK_ARRAY,
    ZMESH__MSGPACK_MAP, ZMESH__MSGPACK_EXT
} zmesh__msgpack_type_t;

//  What the head of one value says.
typedef struct {
    zmesh__msgpack_type_t type;
    uint64_t number;            //  A uint; a negative int's bits; the bytes
                                //  of a str, bin or ext (with its type
                                //  byte); the entries of an array or map
    size_t size;                //  Bytes of the head: lead, length, number
    uint64_t payload;           //  Bytes of data after it (str, bin, ext,
                                //  float); an array's or map's entries
                                //  are values of their own, not payload
} zmesh__msgpack_head_t;

//  The width-byte big-endian number after data's lead byte, if it is
//  there.
static inline bool
zmesh__msgpack_take (const uint8_t *data, size_t size, int width,
                     uint64_t *value)
{
    if (size - 1 < (size_t) width)
        return false;
    *value = 0;
    for (int index = 1; index <= width; index++)
        *value = (*value << 8) | data [index];
    return true;
}

//  Read the head of the value at the start of data. Returns ZMESH_OK;
//  ZMESH_ERR_ENVELOPE_TRUNCATED if the head, or the payload it announces,
//  runs past size; ZMESH_ERR_ENVELOPE_MALFORMED for the byte 0xc1. Inline:
//  both the check below and the envelope decoder read every value with it.
//  msgpack-c, and so this, calls a signed int that is not negative a uint.
static inline zmesh_err_t
zmesh__msgpack_head (const uint8_t *data, size_t size,
                     zmesh__msgpack_head_t *head)
{
    if (size == 0)
        return ZMESH_ERR_ENVELOPE_TRUNCATED;
    uint8_t lead = data [0];
    int width = 0;              //  Bytes of the length or number after lead
    head->number = 0;
    head->payload = 0;
    if (lead <= 0x7f) {
        head->type = ZMESH__MSGPACK_UINT;
        head->number = lead;
    }
    else if (lead >= 0xe0) {
        head->type = ZMESH__MSGPACK_NEGATIVE;
        head->number = (uint64_t) (int64_t) (int8_t) lead;
    }
    else if (lead <= 0x9f) {
        head->type = lead <= 0x8f ? ZMESH__MSGPACK_MAP : ZMESH__MSGPACK_ARRAY;
        head->number = lead & 0x0f;
    }
    else if (lead <= 0xbf) {
        head->type = ZMESH__MSGPACK_STR;
        head->number = head->payload = lead & 0x1f;
    }
    else switch (lead) {
        case 0xc0: head->type = ZMESH__MSGPACK_NIL; break;
        case 0xc2: case 0xc3: head->type = ZMESH__MSGPACK_BOOL; break;
        case 0xc4: case 0xc5: case 0xc6:                //  bin 8, 16, 32
        case 0xd9: case 0xda: case 0xdb:                //  str 8, 16, 32
            head->type = lead <= 0xc6 ? ZMESH__MSGPACK_BIN
                                      : ZMESH__MSGPACK_STR;
            width = 1 << (lead <= 0xc6 ? lead - 0xc4 : lead - 0xd9);
            if (!zmesh__msgpack_take (data, size, width, &head->number))
                return ZMESH_ERR_ENVELOPE_TRUNCATED;
            head->payload = head->number;
            break;
        case 0xc7: case 0xc8: case 0xc9:                //  ext 8, 16, 32
            head->type = ZMESH__MSGPACK_EXT;
            width = 1 << (lead - 0xc7);
            if (!zmesh__msgpack_take (data, size, width, &head->number))
                return ZMESH_ERR_ENVELOPE_TRUNCATED;
            head->payload = ++head->number;             //  And its type byte
            break;
        case 0xca: case 0xcb:
            head->type = lead == 0xca ? ZMESH__MSGPACK_FLOAT32
                                      : ZMESH__MSGPACK_FLOAT64;
            head->payload = lead == 0xca ? 4 : 8;
            break;
        case 0xcc: case 0xcd: case 0xce: case 0xcf:    //  uint 8 .. 64
            head->type = ZMESH__MSGPACK_UINT;
            width = 1 << (lead - 0xcc);
            if (!zmesh__msgpack_take (data, size, width, &head->number))
                return ZMESH_ERR_ENVELOPE_TRUNCATED;
            break;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3: {  //  int 8 .. 64
            width = 1 << (lead - 0xd0);
            uint64_t bits;
            if (!zmesh__msgpack_take (data, size, width, &bits))
                return ZMESH_ERR_ENVELOPE_TRUNCATED;
            int shift = 64 - 8 * width;
            int64_t number = (int64_t) (bits << shift) >> shift;
            head->type = number < 0 ? ZMESH__MSGPACK_NEGATIVE
                                    : ZMESH__MSGPACK_UINT;
            head->number = (uint64_t) number;
            break;
        }
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
            head->type = ZMESH__MSGPACK_EXT;            //  fixext 1 .. 16
            head->number = head->payload = (1u << (lead - 0xd4)) + 1;
            break;
        case 0xdc: case 0xdd: case 0xde: case 0xdf:    //  array, map 16, 32
            head->type = lead <= 0xdd ? ZMESH__MSGPACK_ARRAY
                                      : ZMESH__MSGPACK_MAP;
            width = lead == 0xdc || lead == 0xde ? 2 : 4;
            if (!zmesh__msgpack_take (data, size, width, &head->number))
                return ZMESH_ERR_ENVELOPE_TRUNCATED;
            break;
        default:                                        //  0xc1
            return ZMESH_ERR_ENVELOPE_MALFORMED;
    }
    head->size = 1 + (size_t) width;
    if (size - head->size < head->payload)
        return ZMESH_ERR_ENVELOPE_TRUNCATED;
    return ZMESH_OK;
}

//  Walk one msgpack value at the start of data. Returns ZMESH_OK and sets
//  *end_p to the offset just past it; ZMESH_ERR_ENVELOPE_TRUNCATED if the
//  input ends inside the value or a container announces more elements than
//  bytes remain; ZMESH_ERR_ENVELOPE_MALFORMED for the never-used byte 0xc1;
//  ZMESH_ERR_ENVELOPE_TOO_DEEP for containers nested deeper than the limit.
//  *offset_p, if not NULL, gets the offset where a failure was found.
zmesh_err_t
    zmesh__msgpack_check (const uint8_t *data, size_t size, size_t *end_p,
                          size_t *offset_p);

//  The same, for a value that may hold containers at most depth_max deep
//  (0 to ZMESH__MSGPACK_DEPTH_MAX): one already inside others.
zmesh_err_t
    zmesh__msgpack_check_depth (const uint8_t *data, size_t size,
                                int depth_max, size_t *end_p,
                                size_t *offset_p);

#endif
