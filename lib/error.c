/*  error.c - messages and names for zmesh_err_t.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"

const char *
zmesh_strerror (int err)
{
    switch (err) {
#define ZMESH_ERR_TEXT_(name, text) \
    case ZMESH_##name:              \
        return text;
        ZMESH_ERRNO_MAP (ZMESH_ERR_TEXT_)
#undef ZMESH_ERR_TEXT_
    }
    return "unknown error";
}

const char *
zmesh_errname (int err)
{
    switch (err) {
#define ZMESH_ERR_NAME_(name, text) \
    case ZMESH_##name:              \
        return #name;
        ZMESH_ERRNO_MAP (ZMESH_ERR_NAME_)
#undef ZMESH_ERR_NAME_
    }
    return "ERR_UNKNOWN";
}

void
zmesh__detail (zmesh_detail_t *detail, const char *format, ...)
{
    if (!detail)
        return;
    va_list args;
    va_start (args, format);
    vsnprintf (detail->text, sizeof detail->text, format, args);
    va_end (args);
}
