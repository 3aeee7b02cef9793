/*  order_service.h - the order service of the demo mesh.

    Part of zmesh. MIT License.
*/
#ifndef ORDER_SERVICE_H_INCLUDED
#define ORDER_SERVICE_H_INCLUDED

#include "service.h"

extern const service_t order_service;

#endif
