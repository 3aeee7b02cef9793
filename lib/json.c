/*  json.c - msgpack bodies to and from JSON values.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include <msgpack.h>

#define DEPTH_MAX 32

static const char s_base64 [] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *
s_base64_string (const char *data, size_t size)
{
    size_t length = 4 * ((size + 2) / 3);
    char *text = zmesh__alloc (length + 1);
    if (!text)
        return NULL;
    const uint8_t *bytes = (const uint8_t *) data;
    size_t out = 0;
    for (size_t index = 0; index < size; index += 3) {
        uint32_t triple = (uint32_t) bytes [index] << 16;
        if (index + 1 < size)
            triple |= (uint32_t) bytes [index + 1] << 8;
        if (index + 2 < size)
            triple |= bytes [index + 2];
        text [out++] = s_base64 [(triple >> 18) & 63];
        text [out++] = s_base64 [(triple >> 12) & 63];
        text [out++] = index + 1 < size ? s_base64 [(triple >> 6) & 63] : '=';
        text [out++] = index + 2 < size ? s_base64 [triple & 63] : '=';
    }
    text [out] = 0;
    json_t *string = json_stringn (text, out);
    zmesh__free (text);
    return string;
}

//  The longest text a key that is not a string becomes
#define KEY_TEXT_MAX    256

static json_t *
s_to_json (const msgpack_object *object)
{
    switch (object->type) {
        case MSGPACK_OBJECT_NIL:
            return json_null ();
        case MSGPACK_OBJECT_BOOLEAN:
            return json_boolean (object->via.boolean);
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            //  JSON integers here are int64: larger ones become reals.
            return object->via.u64 > INT64_MAX
                   ? json_real ((double) object->via.u64)
                   : json_integer ((json_int_t) object->via.u64);
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return json_integer (object->via.i64);
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            return json_real (object->via.f64);
        case MSGPACK_OBJECT_STR: {
            //  An empty string may have no pointer; text that is not UTF-8
            //  cannot be a JSON string: it is shown by its bytes
            json_t *text = json_stringn (object->via.str.size
                                         ? object->via.str.ptr : "",
                                         object->via.str.size);
            return text ? text
                        : json_pack ("{s:o}", "$str_base64",
                                     s_base64_string (object->via.str.ptr,
                                                      object->via.str.size));
        }
        case MSGPACK_OBJECT_BIN:
            return s_base64_string (object->via.bin.ptr, object->via.bin.size);
        case MSGPACK_OBJECT_EXT: {
            json_t *ext = json_object ();
            json_object_set_new (ext, "$ext", json_integer (object->via.ext.type));
            json_object_set_new (ext, "base64",
                                 s_base64_string (object->via.ext.ptr,
                                                  object->via.ext.size));
            return ext;
        }
        case MSGPACK_OBJECT_ARRAY: {
            json_t *array = json_array ();
            for (uint32_t index = 0; array && index < object->via.array.size;
                 index++)
                json_array_append_new (array,
                                       s_to_json (&object->via.array.ptr [index]));
            return array;
        }
        case MSGPACK_OBJECT_MAP: {
            json_t *map = json_object ();
            for (uint32_t index = 0; map && index < object->via.map.size;
                 index++) {
                //  A key is a JSON string if it is UTF-8 text, else its
                //  rendering as JSON text ("12", "{\"$str_base64\":...}")
                json_t *name = s_to_json (&object->via.map.ptr [index].key);
                json_t *value = s_to_json (&object->via.map.ptr [index].val);
                if (json_is_string (name))
                    json_object_setn_new (map, json_string_value (name),
                                          json_string_length (name), value);
                else {
                    //  Cut short: keys that are maps with keys that are
                    //  maps... would double their escapes at each level
                    char *text = json_dumps (name, JSON_ENCODE_ANY
                                                   | JSON_COMPACT
                                                   | JSON_ENSURE_ASCII);
                    if (text && strlen (text) > KEY_TEXT_MAX)
                        strcpy (text + KEY_TEXT_MAX - 3, "...");
                    json_object_set_new (map, text ? text : "?", value);
                    free (text);
                }
                json_decref (name);
            }
            return map;
        }
    }
    return json_null ();
}

zmesh_err_t
zmesh_json_from_msgpack (const void *data, size_t size, json_t **value_p,
                         zmesh_detail_t *detail)
{
    assert (value_p);
    size_t end = 0;
    if (!data || !size
        || zmesh__msgpack_check (data, size, &end, NULL) != ZMESH_OK
        || end != size) {
        zmesh__detail (detail, "%zu bytes that are not one msgpack value", size);
        return ZMESH_ERR_INVALID;
    }
    msgpack_zone zone;
    msgpack_zone_init (&zone, 2048);
    msgpack_object root;
    zmesh_err_t rc = ZMESH_ERR_NOMEM;
    if (msgpack_unpack (data, size, NULL, &zone, &root)
        == MSGPACK_UNPACK_SUCCESS) {
        *value_p = s_to_json (&root);
        rc = *value_p ? ZMESH_OK : ZMESH_ERR_NOMEM;
    }
    msgpack_zone_destroy (&zone);
    return rc;
}

static bool
s_pack (msgpack_packer *packer, const json_t *value, int depth)
{
    if (depth > DEPTH_MAX)
        return false;
    switch (json_typeof (value)) {
        case JSON_NULL:
            return msgpack_pack_nil (packer) == 0;
        case JSON_TRUE:
            return msgpack_pack_true (packer) == 0;
        case JSON_FALSE:
            return msgpack_pack_false (packer) == 0;
        case JSON_INTEGER:
            return msgpack_pack_int64 (packer, json_integer_value (value)) == 0;
        case JSON_REAL:
            return msgpack_pack_double (packer, json_real_value (value)) == 0;
        case JSON_STRING:
            return msgpack_pack_str_with_body (packer, json_string_value (value),
                                               json_string_length (value)) == 0;
        case JSON_ARRAY: {
            size_t index;
            json_t *item;
            if (msgpack_pack_array (packer, json_array_size (value)))
                return false;
            json_array_foreach (value, index, item)
                if (!s_pack (packer, item, depth + 1))
                    return false;
            return true;
        }
        case JSON_OBJECT: {
            const char *key;
            size_t key_size;
            json_t *item;
            if (msgpack_pack_map (packer, json_object_size (value)))
                return false;
            //  A key may hold NUL (msgpack keys can): keep all of it
            json_object_keylen_foreach ((json_t *) value, key, key_size, item)
                if (msgpack_pack_str_with_body (packer, key, key_size)
                    || !s_pack (packer, item, depth + 1))
                    return false;
            return true;
        }
    }
    return false;
}

zmesh_err_t
zmesh_json_to_msgpack (const json_t *value, void **data_p, size_t *size,
                       zmesh_detail_t *detail)
{
    assert (value && data_p && size);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    bool ok = s_pack (&packer, value, 1);
    if (!ok) {
        msgpack_sbuffer_destroy (&buffer);
        zmesh__detail (detail, "JSON nested more than %d deep", DEPTH_MAX);
        return ZMESH_ERR_INVALID;
    }
    *size = buffer.size;
    *data_p = msgpack_sbuffer_release (&buffer);
    msgpack_sbuffer_destroy (&buffer);
    return *data_p ? ZMESH_OK : ZMESH_ERR_NOMEM;
}

const char *
zmesh_json_text (const json_t *object, const char *key, const char *fallback)
{
    assert (key);
    const char *text = json_string_value (json_object_get (object, key));
    return text ? text : fallback;
}

zmesh_err_t
zmesh_json_parse (const char *text, size_t length, json_t **value_p,
                  zmesh_detail_t *detail)
{
    assert (value_p);
    json_error_t error;
    json_t *value = text ? json_loadb (text, length, JSON_DECODE_ANY, &error)
                         : NULL;
    if (!value) {
        zmesh__detail (detail, "JSON, line %d column %d: %s",
                       text ? error.line : 0, text ? error.column : 0,
                       text ? error.text : "no text");
        return ZMESH_ERR_INVALID;
    }
    *value_p = value;
    return ZMESH_OK;
}

static json_t *
s_uuid (const zmesh_uuid_t *uuid)
{
    if (!uuid)
        return json_null ();
    char text [ZMESH_UUID_STR_LEN + 1];
    return json_string (zmesh_uuid_unparse (uuid, text));
}

json_t *
zmesh_json_from_envelope (const zmesh_envelope_t *envelope)
{
    assert (envelope);
    json_t *object = json_object ();
    if (!object)
        return NULL;
    json_object_set_new (object, "version", json_integer (ZMESH_ENVELOPE_VERSION));
    json_object_set_new (object, "kind", json_string (zmesh_kind_name (
                                              zmesh_envelope_kind (envelope))));
    json_object_set_new (object, "id", s_uuid (zmesh_envelope_id (envelope)));
    json_object_set_new (object, "correlation",
                         s_uuid (zmesh_envelope_correlation (envelope)));
    json_object_set_new (object, "causation",
                         s_uuid (zmesh_envelope_causation (envelope)));
    json_object_set_new (object, "type", json_string (zmesh_envelope_type (
                                              envelope)));
    json_object_set_new (object, "source", json_string (zmesh_envelope_source (
                                                envelope)));
    json_object_set_new (object, "timestamp", json_integer ((json_int_t)
                                   zmesh_envelope_timestamp (envelope)));
    if (zmesh_envelope_seq (envelope))
        json_object_set_new (object, "seq", json_integer ((json_int_t)
                                   zmesh_envelope_seq (envelope)));
    if (zmesh_envelope_has_budget (envelope))
        json_object_set_new (object, "budget_ms", json_integer (
                                 zmesh_envelope_budget_ms (envelope)));
    if (zmesh_envelope_has_status (envelope))
        json_object_set_new (object, "status", json_integer (
                                 zmesh_envelope_status (envelope)));
    if (zmesh_envelope_has_status (envelope)
        && zmesh_envelope_status (envelope) != ZMESH_STATUS_OK)
        json_object_set_new (object, "error_code", json_integer (
                                 zmesh_envelope_error_code (envelope)));
    if (zmesh_envelope_error_text (envelope))
        json_object_set_new (object, "error_text", json_string (
                                 zmesh_envelope_error_text (envelope)));
    if (zmesh_envelope_header_count (envelope)) {
        json_t *headers = json_object ();
        for (size_t index = 0; index < zmesh_envelope_header_count (envelope);
             index++)
            json_object_set_new (headers,
                                 zmesh_envelope_header_name (envelope, index),
                                 json_string (zmesh_envelope_header_value (
                                     envelope, index)));
        json_object_set_new (object, "headers", headers);
    }
    json_t *body = NULL;
    if (zmesh_envelope_body_size (envelope))
        zmesh_json_from_msgpack (zmesh_envelope_body (envelope),
                                 zmesh_envelope_body_size (envelope), &body,
                                 NULL);
    json_object_set_new (object, "body", body ? body : json_null ());
    return object;
}
