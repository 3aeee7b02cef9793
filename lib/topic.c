/*  topic.c - topic frames and subscription patterns.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"

size_t
zmesh__topic_frame (const char *type, bool control, char *buffer)
{
    size_t size = 0;
    if (control)
        buffer [size++] = '$';
    size_t length = strlen (type);
    memcpy (buffer + size, type, length + 1);
    return size + length + 1;
}

size_t
zmesh_topic_format (const char *type, bool control, char *buffer)
{
    assert (buffer);
    if (!zmesh_envelope_name_valid (type, ZMESH_ENVELOPE_TYPE_MAX))
        return 0;
    return zmesh__topic_frame (type, control, buffer);
}

//  Length of pattern's prefix when it ends in '*', or -1 if it is exact.
static int
s_prefix_length (const char *pattern)
{
    size_t length = strlen (pattern);
    return length && pattern [length - 1] == '*' ? (int) length - 1 : -1;
}

int
zmesh_topic_subscription (const char *pattern, char *buffer)
{
    assert (buffer);
    if (!pattern)
        return -1;
    int prefix = s_prefix_length (pattern);
    if (prefix < 0) {
        size_t size = zmesh_topic_format (pattern, false, buffer);
        return size ? (int) size : -1;
    }
    if (prefix == 0)
        return 0;
    char copy [ZMESH_ENVELOPE_TYPE_MAX + 1];
    if (prefix > ZMESH_ENVELOPE_TYPE_MAX)
        return -1;
    memcpy (copy, pattern, (size_t) prefix);
    copy [prefix] = 0;
    if (!zmesh_envelope_name_valid (copy, ZMESH_ENVELOPE_TYPE_MAX))
        return -1;
    memcpy (buffer, copy, (size_t) prefix);
    return prefix;
}

bool
zmesh_topic_matches (const char *pattern, const char *type)
{
    assert (pattern && type);
    int prefix = s_prefix_length (pattern);
    if (prefix < 0)
        return streq (pattern, type);
    return strncmp (pattern, type, (size_t) prefix) == 0;
}

zmesh_err_t
zmesh_topic_check (const void *topic, size_t size,
                   const zmesh_envelope_t *event, bool *control_p)
{
    assert (event && control_p);
    const char *bytes = topic;
    bool control = size > 0 && bytes [0] == '$';
    const char *type = zmesh_envelope_type (event);
    size_t length = strlen (type);
    size_t offset = control ? 1 : 0;
    if (size != offset + length + 1 || bytes [size - 1] != 0
        || memcmp (bytes + offset, type, length) != 0)
        return ZMESH_ERR_BAD_TOPIC;
    *control_p = control;
    return ZMESH_OK;
}
