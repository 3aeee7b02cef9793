/*  zmesh.h - the public API of libzmesh, a brokerless messaging mesh for
    microservices on ZeroMQ. Include this one header.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_H_INCLUDED
#define ZMESH_H_INCLUDED

#include <czmq.h>

#if CZMQ_VERSION < CZMQ_MAKE_VERSION (4, 2, 0)
#   error "zmesh needs CZMQ 4.2 or later"
#endif
#if ZMQ_VERSION < ZMQ_MAKE_VERSION (4, 3, 0)
#   error "zmesh needs libzmq 4.3 or later"
#endif

#define ZMESH_VERSION_MAJOR 0
#define ZMESH_VERSION_MINOR 1
#define ZMESH_VERSION_PATCH 0

#include "zmesh/error.h"
#include "zmesh/clock.h"
#include "zmesh/rand.h"
#include "zmesh/uuid.h"
#include "zmesh/envelope.h"
#include "zmesh/topic.h"
#include "zmesh/breaker.h"
#include "zmesh/retry.h"
#include "zmesh/caller.h"
#include "zmesh/config.h"
#include "zmesh/node.h"
#include "zmesh/store.h"
#include "zmesh/aggregate.h"
#include "zmesh/json.h"
#include "zmesh/security.h"

#endif
