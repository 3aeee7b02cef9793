/*  zmesh/json.h - bodies as JSON: msgpack to and from jansson values.

    Bodies travel as msgpack; people, the HTTP gateway and the tools speak
    JSON. The mapping: nil, booleans, integers, floats, strings, arrays and
    maps with string keys map one to one; a binary value becomes a string of
    its base64 text; a map key that is not a string becomes the JSON text of
    the key; an ext value becomes {"$ext": type, "base64": data}; a string
    that is not UTF-8 becomes {"$str_base64": data} (as a key, that
    object's JSON text). Whole numbers in JSON become msgpack integers, the
    rest floats.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_JSON_H_INCLUDED
#define ZMESH_JSON_H_INCLUDED

#include "zmesh/export.h"
#include <jansson.h>
#include "zmesh/envelope.h"
#include "zmesh/error.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Read one msgpack value (data, size) into a new JSON value (caller owns;
//  json_decref). Returns ZMESH_ERR_INVALID with detail if data is not
//  exactly one msgpack value, or nests more than 32 deep.
ZMESH_EXPORT zmesh_err_t
    zmesh_json_from_msgpack (const void *data, size_t size, json_t **value_p,
                             zmesh_detail_t *detail);

//  Write value as msgpack into a new buffer (caller frees with free()).
//  Returns ZMESH_ERR_INVALID if it nests more than 32 deep, or ZMESH_ERR_NOMEM.
ZMESH_EXPORT zmesh_err_t
    zmesh_json_to_msgpack (const json_t *value, void **data_p, size_t *size,
                           zmesh_detail_t *detail);

//  Every field of envelope as a JSON object (caller owns): version, kind,
//  id, correlation, causation (or null), type, source, timestamp, and
//  those it has of seq, budget_ms, status, error_code, error_text,
//  headers (an object), body (its JSON, or null). Ids in their text form.
ZMESH_EXPORT json_t *
    zmesh_json_from_envelope (const zmesh_envelope_t *envelope);

//  Parse JSON text (length bytes) into a new value; detail gives the line
//  and column of an error. ZMESH_ERR_INVALID on bad JSON.
//  The text at key in object, or fallback when object is not an object, or
//  key is missing or not a string: for reading records from the wire,
//  whose fields may be missing. Borrowed from object.
ZMESH_EXPORT const char *
    zmesh_json_text (const json_t *object, const char *key,
                     const char *fallback);

ZMESH_EXPORT zmesh_err_t
    zmesh_json_parse (const char *text, size_t length, json_t **value_p,
                      zmesh_detail_t *detail);

#ifdef __cplusplus
}
#endif

#endif
