/*  msgpack_check.c - bounds check of untrusted msgpack before unpacking.

    Every value takes at least one byte, so when the values still to read
    outnumber the bytes left, the input is a lie or a truncation. Nesting
    is capped at msgpack-c's own depth limit, which msgpack-c reports as
    out-of-memory and so could not be told apart from the real thing.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"

//  Read a big-endian unsigned integer of width bytes at data.
static uint64_t
s_read_be (const uint8_t *data, size_t width)
{
    uint64_t value = 0;
    for (size_t index = 0; index < width; index++)
        value = (value << 8) | data [index];
    return value;
}

zmesh_err_t
zmesh__msgpack_check (const uint8_t *data, size_t size, size_t *end_p,
                      size_t *offset_p)
{
    return zmesh__msgpack_check_depth (data, size, ZMESH__MSGPACK_DEPTH_MAX,
                                       end_p, offset_p);
}

zmesh_err_t
zmesh__msgpack_check_depth (const uint8_t *data, size_t size, int depth_max,
                            size_t *end_p, size_t *offset_p)
{
    assert (depth_max >= 0 && depth_max <= ZMESH__MSGPACK_DEPTH_MAX);
    size_t pos = 0;
    uint64_t pending = 1;       //  Values still to read, at all depths
    uint64_t left [ZMESH__MSGPACK_DEPTH_MAX + 1];   //  Values left per depth
    int depth = 0;
    left [0] = 1;
    while (pending > 0) {
        while (left [depth] == 0)
            depth--;
        left [depth]--;
        pending--;
        if (pos >= size)
            goto truncated;
        uint8_t lead = data [pos];
        size_t head = 1;        //  Bytes of type and length
        uint64_t payload = 0;   //  Bytes of data after the head
        uint64_t children = 0;  //  Values inside a container

        if (lead <= 0x7f || lead >= 0xe0 || lead == 0xc0 || lead == 0xc2
            || lead == 0xc3)
            ;                                   //  fixint, nil, bool
        else if (lead >= 0x80 && lead <= 0x8f)
            children = 2 * (uint64_t) (lead & 0x0f);    //  fixmap
        else if (lead >= 0x90 && lead <= 0x9f)
            children = lead & 0x0f;                     //  fixarray
        else if (lead >= 0xa0 && lead <= 0xbf)
            payload = lead & 0x1f;                      //  fixstr
        else {
            size_t width = 0;   //  Bytes of the length or value field
            switch (lead) {
                case 0xc4: case 0xd9: width = 1; break; //  bin8, str8
                case 0xc5: case 0xda: width = 2; break; //  bin16, str16
                case 0xc6: case 0xdb: width = 4; break; //  bin32, str32
                case 0xc7: width = 1; break;            //  ext8
                case 0xc8: width = 2; break;            //  ext16
                case 0xc9: width = 4; break;            //  ext32
                case 0xcc: case 0xd0: payload = 1; break;
                case 0xcd: case 0xd1: payload = 2; break;
                case 0xca: case 0xce: case 0xd2: payload = 4; break;
                case 0xcb: case 0xcf: case 0xd3: payload = 8; break;
                case 0xd4: payload = 2; break;          //  fixext 1
                case 0xd5: payload = 3; break;          //  fixext 2
                case 0xd6: payload = 5; break;          //  fixext 4
                case 0xd7: payload = 9; break;          //  fixext 8
                case 0xd8: payload = 17; break;         //  fixext 16
                case 0xdc: case 0xde: width = 2; break; //  array16, map16
                case 0xdd: case 0xdf: width = 4; break; //  array32, map32
                default:                                //  0xc1
                    if (offset_p)
                        *offset_p = pos;
                    return ZMESH_ERR_ENVELOPE_MALFORMED;
            }
            if (width) {
                if (size - pos - 1 < width)
                    goto truncated;
                uint64_t length = s_read_be (data + pos + 1, width);
                head += width;
                if (lead == 0xdc || lead == 0xdd)
                    children = length;
                else if (lead == 0xde || lead == 0xdf)
                    children = 2 * length;
                else if (lead >= 0xc7 && lead <= 0xc9)
                    payload = length + 1;               //  type byte + data
                else
                    payload = length;
            }
        }
        if (size - pos < head || size - pos - head < payload)
            goto truncated;
        pos += head + (size_t) payload;
        pending += children;
        if (pending > size - pos)
            goto truncated;
        if (children > 0) {
            if (depth == depth_max) {
                if (offset_p)
                    *offset_p = pos - head;
                return ZMESH_ERR_ENVELOPE_TOO_DEEP;
            }
            left [++depth] = children;
        }
    }
    *end_p = pos;
    return ZMESH_OK;

truncated:
    if (offset_p)
        *offset_p = pos;
    return ZMESH_ERR_ENVELOPE_TRUNCATED;
}
