/*  msgpack_check.c - bounds check of untrusted msgpack before unpacking.

    Every value takes at least one byte, so when the values still to read
    outnumber the bytes left, the input is a lie or a truncation. Nesting
    is capped at msgpack-c's own depth limit, which msgpack-c reports as
    out-of-memory and so could not be told apart from the real thing.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"

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
        zmesh__msgpack_head_t head;
        zmesh_err_t rc = zmesh__msgpack_head (data + pos, size - pos, &head);
        if (rc) {
            if (offset_p)
                *offset_p = pos;
            return rc;
        }
        uint64_t children = head.type == ZMESH__MSGPACK_ARRAY ? head.number
                          : head.type == ZMESH__MSGPACK_MAP ? 2 * head.number
                                                            : 0;
        pos += head.size + (size_t) head.payload;
        pending += children;
        if (pending > size - pos)
            goto truncated;
        if (children > 0) {
            if (depth == depth_max) {
                if (offset_p)
                    *offset_p = pos - head.size;
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
