/*  zmesh_classes.h - private umbrella header that every lib/ file includes
    first.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_CLASSES_H_INCLUDED
#define ZMESH_CLASSES_H_INCLUDED

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zmesh.h"
#include "alloc.h"
#include "msgpack_check.h"

//  Fill detail->text, if detail is not NULL, printf-style.
void
    zmesh__detail (zmesh_detail_t *detail, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  zmesh_topic_format of a type known to be a valid name, such as an
//  envelope's (topic.c): the publishing path checks no name twice.
size_t
    zmesh__topic_frame (const char *type, bool control, char *buffer);

#endif
