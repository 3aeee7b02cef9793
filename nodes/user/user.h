/*  user.h - the user service of the demo mesh.

    Part of zmesh. MIT License.
*/
#ifndef USER_H_INCLUDED
#define USER_H_INCLUDED

#include "service.h"

extern const service_t user_service;

#endif
