/*  zmesh/config.h - a node's settings: defaults, ZPL file, command line.

    A node reads its ZPL file once into this plain struct and validates it;
    the modules get values, never a zconfig_t. Precedence runs: built-in
    default, then the file, then the command line (zmesh_node_config_set).
    Every key and its default is listed once, in lib/config.c, and in
    proto/node.md (section 5) for people.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_CONFIG_H_INCLUDED
#define ZMESH_CONFIG_H_INCLUDED

#include "zmesh/export.h"
#include <stdbool.h>
#include <stddef.h>
#include "zmesh/caller.h"
#include "zmesh/error.h"
#include "zmesh/envelope.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZMESH_ENDPOINT_MAX      255     //  Characters of a ZeroMQ endpoint
#define ZMESH_CONFIG_PEERS_MAX  32      //  Static peer instances
#define ZMESH_CONFIG_SEEDS_MAX  8       //  Gossip seeds
#define ZMESH_CONFIG_OVERRIDES_MAX 64   //  services/<name>/... settings
#define ZMESH_CONFIG_SERVICE_MAX 32     //  service/<key> settings
#define ZMESH_CONFIG_ACCESS_MAX 32      //  access/calls/<identity> rules

//  One access rule: who (an identity, or a service) and the names it is
//  allowed, separated by spaces or commas, each a name or a prefix "x.*".
typedef struct {
    char identity [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    char methods [ZMESH_ENDPOINT_MAX + 1];
} zmesh_access_rule_t;

typedef struct {
    char label [ZMESH_ENVELOPE_SOURCE_MAX + 1];     //  e.g. "user-2"
    char service [ZMESH_ENVELOPE_SOURCE_MAX + 1];   //  e.g. "user"
    char events [ZMESH_ENDPOINT_MAX + 1];   //  Its PUB endpoint, or ""
    char calls [ZMESH_ENDPOINT_MAX + 1];    //  Its call endpoint, or ""
} zmesh_peer_config_t;

//  One services/<service>/<key> = <value> setting, applied over the
//  node's policy for calls to that service.
typedef struct {
    char service [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    char key [32];              //  e.g. "breaker/failure_rate"
    char value [32];
} zmesh_policy_override_t;

typedef struct {
    char name [ZMESH_ENVELOPE_SOURCE_MAX + 1];      //  node/name: the
                                                    //  instance, and the
                                                    //  source of its events
    char group [ZMESH_ENVELOPE_SOURCE_MAX + 1];     //  node/service: the
                                                    //  service it is an
                                                    //  instance of ("": its
                                                    //  name)
    char events [ZMESH_ENDPOINT_MAX + 1];   //  node/events: PUB bind
    char calls [ZMESH_ENDPOINT_MAX + 1];    //  node/calls: ROUTER bind
    char advertise [ZMESH_ENDPOINT_MAX + 1];    //  node/advertise: host
                                                //  others reach us at
    char gossip_bind [ZMESH_ENDPOINT_MAX + 1];  //  gossip/bind, or ""
    size_t seed_count;
    char seeds [ZMESH_CONFIG_SEEDS_MAX][ZMESH_ENDPOINT_MAX + 1];
    size_t peer_count;
    zmesh_peer_config_t peers [ZMESH_CONFIG_PEERS_MAX];
    int heartbeat_ms;           //  timing/heartbeat: node heartbeat period
    int quiet_ms;               //  timing/quiet: silence before "quiet"
    int gone_ms;                //  timing/gone: silence before "gone"
    int call_timeout_ms;        //  timing/call_timeout: default call budget
    int drain_ms;               //  timing/drain: longest graceful stop
    int hwm;                    //  sockets/hwm: messages queued per peer
    int linger_ms;              //  sockets/linger
    int reconnect_ms;           //  sockets/reconnect: first retry
    int reconnect_max_ms;       //  sockets/reconnect_max: backoff ceiling
    int zmtp_heartbeat_ms;      //  sockets/zmtp_heartbeat: ZMTP PING period
    int zmtp_timeout_ms;        //  sockets/zmtp_timeout: dead link after
    bool verbose;               //  node/verbose
    char data [ZMESH_ENDPOINT_MAX + 1];     //  node/data: store directory
    bool events_synced;         //  events/sync: full (true) or normal
    int group_events;           //  events/group: events per commit
    int group_ms;               //  events/group_ms: longest a commit waits
    int batch_events;           //  events/batch: events per message, at most
    bool start_now;             //  events/start: now (true) or beginning
    int handler_attempts;       //  events/attempts: before a dead letter
    int handler_retry_ms;       //  events/retry_delay: backoff base
    int retain_events;          //  events/retain: events kept; 0: all
    int retain_ms;              //  events/retain_ms: age kept; 0: all
    int remember_ms;            //  events/remember_ms: processed ids kept
    int dedupe_entries;         //  calls/dedupe: replies kept for retries
    int replies_kept_ms;        //  calls/remember_ms: stored replies kept
    int dedupe_bytes;           //  calls/dedupe_bytes: their size, at most
    int trace_keep;             //  trace/keep: flow records remembered
    char tap_bind [ZMESH_ENDPOINT_MAX + 1];     //  tap/bind: the tap's PUB
    bool tap_on;                //  tap/on: tap switched on from the start
    char admin_host [ZMESH_ENDPOINT_MAX + 1];   //  admin/host: where the
                                                //  HTTP endpoint listens
    int admin_port;             //  admin/port: its port; -1: off, 0: any
    char otlp_endpoint [ZMESH_ENDPOINT_MAX + 1];    //  otlp/endpoint: the
                                                    //  collector's URL
    int otlp_batch;             //  otlp/batch: spans per export, at most
    int otlp_queue;             //  otlp/queue: spans waiting, at most
    char security_cert [ZMESH_ENDPOINT_MAX + 1];    //  security/cert: our
                                                    //  key pair's file
    char security_keys [ZMESH_ENDPOINT_MAX + 1];    //  security/keys: the
                                                    //  allowed public keys
    //  access/admins: the identities that may call the administrative
    //  built-ins, separated by spaces or commas; "*" for every caller.
    char access_admins [ZMESH_ENDPOINT_MAX + 1];
    size_t access_count;        //  access/calls/<identity> = methods
    zmesh_access_rule_t access [ZMESH_CONFIG_ACCESS_MAX];
    size_t publish_count;       //  access/publish/<service> = event types
    zmesh_access_rule_t publish [ZMESH_CONFIG_ACCESS_MAX];
    zmesh_call_policy_t policy;     //  breaker/*, retry/*, calls/max_in_flight
    size_t override_count;
    zmesh_policy_override_t overrides [ZMESH_CONFIG_OVERRIDES_MAX];
    size_t service_count;       //  service/<key>: the program's own settings
    struct {
        char key [48];
        char value [ZMESH_ENDPOINT_MAX + 1];
    } service [ZMESH_CONFIG_SERVICE_MAX];
} zmesh_node_config_t;

//  Fill config with the built-in defaults, for a node called name (may be
//  NULL: then node/name must come from the file or command line).
ZMESH_EXPORT void
    zmesh_node_config_defaults (zmesh_node_config_t *config, const char *name);

//  Apply the ZPL file at path over config. Returns ZMESH_OK, or
//  ZMESH_ERR_CONFIG with detail naming the file, key and problem; config
//  may then be half-applied and should be thrown away.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_config_load (zmesh_node_config_t *config, const char *path,
                            zmesh_detail_t *detail);

//  Apply one "path=value" setting, as from the command line, e.g.
//  "timing/heartbeat=500" or "peers/user/calls=tcp://127.0.0.1:5602".
//  Returns ZMESH_OK or ZMESH_ERR_CONFIG with detail.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_config_set (zmesh_node_config_t *config, const char *setting,
                           zmesh_detail_t *detail);

//  The policy for calls to service: the node's policy with that service's
//  overrides applied in the order they were given.
ZMESH_EXPORT void
    zmesh_node_config_policy (const zmesh_node_config_t *config,
                              const char *service,
                              zmesh_call_policy_t *policy);

//  The value of service/<key>, a setting of the program's own (zmesh does
//  not check these), or fallback if it is not set.
ZMESH_EXPORT const char *
    zmesh_node_config_service (const zmesh_node_config_t *config,
                               const char *key, const char *fallback);

//  Check the whole config for consistency (a name, bind endpoints, timing
//  that makes sense). Returns ZMESH_OK or ZMESH_ERR_CONFIG with detail.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_config_validate (const zmesh_node_config_t *config,
                                zmesh_detail_t *detail);

#ifdef __cplusplus
}
#endif

#endif
