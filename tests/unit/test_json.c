/*  test_json.c - bodies between msgpack and JSON.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"

static char *
s_text (json_t *value)
{
    return json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

Test (json, round_trips_what_json_can_say)
{
    const char *text = "{\"id\":\"o-1\",\"items\":[{\"price\":1250,"
                       "\"quantity\":2}],\"note\":null,\"paid\":false,"
                       "\"ratio\":0.5,\"total\":-3}";
    json_t *value = NULL;
    cr_assert (eq (int, zmesh_json_parse (text, strlen (text), &value, NULL), 0));
    void *data = NULL;
    size_t size = 0;
    cr_assert (eq (int, zmesh_json_to_msgpack (value, &data, &size, NULL), 0));
    json_t *back = NULL;
    cr_assert (eq (int, zmesh_json_from_msgpack (data, size, &back, NULL), 0));
    char *again = s_text (back);
    cr_assert (eq (str, again, (char *) text));
    free (again);
    free (data);
    json_decref (back);
    json_decref (value);
}

Test (json, binary_becomes_base64_and_odd_keys_become_text)
{
    //  {1: bin "hi!", "k": ext 5 "x"}
    const char msgpack [] = "\x82\x01\xc4\x03hi!\xa1k\xd4\x05x";
    json_t *value = NULL;
    cr_assert (eq (int, zmesh_json_from_msgpack (msgpack, sizeof msgpack - 1,
                                                 &value, NULL), 0));
    char *text = s_text (value);
    cr_assert (eq (str, text, "{\"1\":\"aGkh\",\"k\":{\"$ext\":5,\"base64\":\"eA==\"}}"));
    free (text);
    json_decref (value);
}

Test (json, refuses_what_is_not_one_value_or_too_deep)
{
    json_t *value = NULL;
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_json_from_msgpack ("\x01\x02", 2, &value,
                                                 &detail), ZMESH_ERR_INVALID));
    cr_assert (eq (int, zmesh_json_from_msgpack ("\xc1", 1, &value, &detail),
                   ZMESH_ERR_INVALID));
    cr_assert (eq (int, zmesh_json_from_msgpack (NULL, 0, &value, &detail),
                   ZMESH_ERR_INVALID));
    char deep [100];
    memset (deep, '[', 40);
    memset (deep + 40, ']', 40);
    deep [80] = 0;
    cr_assert (eq (int, zmesh_json_parse (deep, 80, &value, NULL), 0));
    void *data = NULL;
    size_t size;
    cr_assert (eq (int, zmesh_json_to_msgpack (value, &data, &size, &detail),
                   ZMESH_ERR_INVALID));
    cr_assert (strstr (detail.text, "32") != NULL);
    json_decref (value);
}

Test (json, bad_json_says_where)
{
    json_t *value = NULL;
    zmesh_detail_t detail = {""};
    const char *text = "{\"id\": \n 12,, }";
    cr_assert (eq (int, zmesh_json_parse (text, strlen (text), &value, &detail),
                   ZMESH_ERR_INVALID));
    cr_assert (strstr (detail.text, "line 2") != NULL, "%s", detail.text);
    cr_assert (value == NULL);
}

Test (json, text_reads_a_field_that_may_be_missing)
{
    json_t *record = json_pack ("{s:s, s:i}", "name", "user.get", "seq", 7);
    cr_assert (eq (str, (char *) zmesh_json_text (record, "name", "-"),
                   "user.get"));
    cr_assert (eq (str, (char *) zmesh_json_text (record, "seq", "-"), "-"),
               "not a string");
    cr_assert (eq (str, (char *) zmesh_json_text (record, "peer", "-"), "-"),
               "missing");
    cr_assert (eq (str, (char *) zmesh_json_text (NULL, "peer", ""), ""),
               "no object");
    json_decref (record);
}
