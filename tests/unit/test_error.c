/*  test_error.c - every error code has a name and a message.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"

Test (error, every_code_has_its_own_name_and_message)
{
    for (int code = ZMESH_OK; code < ZMESH_ERR_COUNT_; code++) {
        const char *name = zmesh_errname (code);
        cr_assert (strcmp (name, "ERR_UNKNOWN") != 0, "code %d", code);
        cr_assert (strlen (zmesh_strerror (code)) > 0);
        for (int other = 0; other < code; other++) {
            cr_assert (strcmp (name, zmesh_errname (other)) != 0);
            cr_assert (strcmp (zmesh_strerror (code),
                               zmesh_strerror (other)) != 0);
        }
    }
    cr_assert (eq (str, (char *) zmesh_errname (ZMESH_ERR_ENVELOPE_TRUNCATED),
                   "ERR_ENVELOPE_TRUNCATED"));
}

Test (error, unknown_codes_still_get_a_static_string)
{
    cr_assert (eq (str, (char *) zmesh_strerror (-1), "unknown error"));
    cr_assert (eq (str, (char *) zmesh_strerror (ZMESH_ERR_COUNT_),
                   "unknown error"));
    cr_assert (eq (str, (char *) zmesh_errname (100000), "ERR_UNKNOWN"));
}
