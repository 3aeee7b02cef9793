/*  msgpack_check.h - bounds check of untrusted msgpack before unpacking
    (private).

    msgpack-c allocates a container's element array from the count in its
    header before it reads the elements, so six hostile bytes announcing an
    array of 2^28 elements cost gigabytes. This walk rejects any container
    that announces more elements than bytes remain, before msgpack-c sees
    the input. It allocates nothing.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_MSGPACK_CHECK_H_INCLUDED
#define ZMESH_MSGPACK_CHECK_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "zmesh/error.h"

//  Containers nested deeper than this are refused; it is msgpack-c's limit.
#define ZMESH__MSGPACK_DEPTH_MAX 32

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
