/*  inventory.h - the inventory service of the demo mesh.

    Part of zmesh. MIT License.
*/
#ifndef INVENTORY_H_INCLUDED
#define INVENTORY_H_INCLUDED

#include "service.h"

extern const service_t inventory_service;

#endif
