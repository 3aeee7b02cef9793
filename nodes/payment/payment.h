/*  payment.h - the payment service of the demo mesh.

    Part of zmesh. MIT License.
*/
#ifndef PAYMENT_H_INCLUDED
#define PAYMENT_H_INCLUDED

#include "service.h"

extern const service_t payment_service;

#endif
