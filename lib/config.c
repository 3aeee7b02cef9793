/*  config.c - node settings from defaults, a ZPL file and the command line.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include <arpa/inet.h>

typedef enum {
    KEY_NAME, KEY_ENDPOINT, KEY_HOST, KEY_ADDRESS, KEY_URL, KEY_PATH, KEY_INT,
    KEY_BOOL, KEY_CHOICE
} s_kind_t;

//  Every scalar key, its default and its range: the one place they live.
typedef struct {
    const char *path;           //  As in the ZPL file
    s_kind_t kind;
    size_t offset;              //  In zmesh_node_config_t
    const char *fallback;       //  Built-in default, as text
    long min, max;              //  KEY_INT only
} s_key_t;

//  The two words a KEY_CHOICE key takes: the first sets it true.
static const struct {
    const char *path, *yes, *no;
} s_choices [] = {{"events/sync", "full", "normal"},
                  {"events/start", "now", "beginning"}};

#define FIELD(name) offsetof (zmesh_node_config_t, name)
static const s_key_t s_keys [] = {
    {"node/name", KEY_NAME, FIELD (name), "", 0, 0},
    {"node/service", KEY_NAME, FIELD (group), "", 0, 0},
    {"node/events", KEY_ENDPOINT, FIELD (events), "tcp://127.0.0.1:*", 0, 0},
    {"node/calls", KEY_ENDPOINT, FIELD (calls), "tcp://127.0.0.1:*", 0, 0},
    {"node/advertise", KEY_HOST, FIELD (advertise), "", 0, 0},
    {"node/verbose", KEY_BOOL, FIELD (verbose), "0", 0, 0},
    {"gossip/bind", KEY_ENDPOINT, FIELD (gossip_bind), "", 0, 0},
    {"timing/heartbeat", KEY_INT, FIELD (heartbeat_ms), "1000", 10, 600000},
    {"timing/quiet", KEY_INT, FIELD (quiet_ms), "3000", 20, 3600000},
    {"timing/gone", KEY_INT, FIELD (gone_ms), "10000", 30, 3600000},
    {"timing/call_timeout", KEY_INT, FIELD (call_timeout_ms), "5000", 1,
     3600000},
    {"timing/drain", KEY_INT, FIELD (drain_ms), "5000", 0, 3600000},
    {"sockets/hwm", KEY_INT, FIELD (hwm), "10000", 1, 10000000},
    {"sockets/linger", KEY_INT, FIELD (linger_ms), "500", 0, 60000},
    {"sockets/reconnect", KEY_INT, FIELD (reconnect_ms), "100", 1, 60000},
    {"sockets/reconnect_max", KEY_INT, FIELD (reconnect_max_ms), "1000", 0,
     600000},
    {"sockets/zmtp_heartbeat", KEY_INT, FIELD (zmtp_heartbeat_ms), "1000", 0,
     600000},
    {"sockets/zmtp_timeout", KEY_INT, FIELD (zmtp_timeout_ms), "5000", 0,
     600000},
    {"node/data", KEY_PATH, FIELD (data), "", 0, 0},
    {"events/sync", KEY_CHOICE, FIELD (events_synced), "full", 0, 0},
    {"events/start", KEY_CHOICE, FIELD (start_now), "beginning", 0, 0},
    {"events/group", KEY_INT, FIELD (group_events), "1", 1, 100000},
    {"events/group_ms", KEY_INT, FIELD (group_ms), "10", 1, 60000},
    {"events/batch", KEY_INT, FIELD (batch_events), "1", 1, 1024},
    {"events/attempts", KEY_INT, FIELD (handler_attempts), "3", 1, 100},
    {"events/retry_delay", KEY_INT, FIELD (handler_retry_ms), "100", 0, 60000},
    {"events/retain", KEY_INT, FIELD (retain_events), "0", 0, 2000000000},
    {"events/retain_ms", KEY_INT, FIELD (retain_ms), "0", 0, 2000000000},
    {"events/remember_ms", KEY_INT, FIELD (remember_ms), "86400000", 1000,
     2000000000},
    {"calls/dedupe", KEY_INT, FIELD (dedupe_entries), "1024", 0, 1000000},
    {"calls/remember_ms", KEY_INT, FIELD (replies_kept_ms), "600000", 1000,
     2000000000},
    {"calls/dedupe_bytes", KEY_INT, FIELD (dedupe_bytes), "16777216", 0,
     1073741824},
    {"trace/keep", KEY_INT, FIELD (trace_keep), "2048", 0, 1000000},
    {"tap/bind", KEY_ENDPOINT, FIELD (tap_bind), "tcp://127.0.0.1:*", 0, 0},
    {"tap/on", KEY_BOOL, FIELD (tap_on), "0", 0, 0},
    {"admin/host", KEY_ADDRESS, FIELD (admin_host), "127.0.0.1", 0, 0},
    {"admin/port", KEY_INT, FIELD (admin_port), "-1", -1, 65535},
    {"otlp/endpoint", KEY_URL, FIELD (otlp_endpoint), "", 0, 0},
    {"otlp/batch", KEY_INT, FIELD (otlp_batch), "512", 1, 10000},
    {"otlp/queue", KEY_INT, FIELD (otlp_queue), "4096", 1, 1000000},
    {"security/cert", KEY_PATH, FIELD (security_cert), "", 0, 0},
    {"security/keys", KEY_PATH, FIELD (security_keys), "", 0, 0},
};
#undef FIELD
#define KEY_COUNT (sizeof s_keys / sizeof s_keys [0])

//  The keys of a call policy: under the node for every service, and under
//  services/<name>/ for one. Defaults are zmesh_call_policy_defaults'.
typedef enum { POLICY_INT, POLICY_WINDOW, POLICY_MODE, POLICY_JITTER } s_policy_kind_t;
typedef struct {
    const char *path;
    s_policy_kind_t kind;
    size_t offset;              //  In zmesh_call_policy_t
    long min, max;
} s_policy_key_t;

#define POLICY(name) offsetof (zmesh_call_policy_t, name)
static const s_policy_key_t s_policy_keys [] = {
    {"breaker/window", POLICY_WINDOW, POLICY (breaker.time_window), 0, 0},
    {"breaker/window_size", POLICY_INT, POLICY (breaker.window_size), 1,
     ZMESH_BREAKER_WINDOW_MAX},
    {"breaker/window_ms", POLICY_INT, POLICY (breaker.window_ms), 10, 3600000},
    {"breaker/min_calls", POLICY_INT, POLICY (breaker.min_calls), 1, 1000000},
    {"breaker/failure_rate", POLICY_INT, POLICY (breaker.failure_rate), 1, 100},
    {"breaker/slow_call", POLICY_INT, POLICY (breaker.slow_call_ms), 0, 3600000},
    {"breaker/reset_timeout", POLICY_INT, POLICY (breaker.reset_timeout_ms), 1,
     3600000},
    {"breaker/reset_max", POLICY_INT, POLICY (breaker.reset_max_ms), 0,
     3600000},
    {"breaker/probes", POLICY_INT, POLICY (breaker.probes), 1,
     ZMESH_BREAKER_PROBES_MAX},
    {"breaker/mode", POLICY_MODE, POLICY (breaker.mode), 0, 0},
    {"retry/retries", POLICY_INT, POLICY (retry.retries), 0, 100},
    {"retry/attempt_timeout", POLICY_INT, POLICY (retry.attempt_timeout_ms), 0,
     3600000},
    {"retry/base_delay", POLICY_INT, POLICY (retry.base_delay_ms), 0, 600000},
    {"retry/max_delay", POLICY_INT, POLICY (retry.max_delay_ms), 0, 600000},
    {"retry/jitter", POLICY_JITTER, POLICY (retry.full_jitter), 0, 0},
    {"retry/budget", POLICY_INT, POLICY (retry.budget), 0, 100},
    {"retry/budget_max", POLICY_INT, POLICY (retry.budget_max), 0, 1000000},
    {"calls/max_in_flight", POLICY_INT, POLICY (max_in_flight), 1, 1000000},
};
#undef POLICY
#define POLICY_KEY_COUNT (sizeof s_policy_keys / sizeof s_policy_keys [0])

#define CONFIG_ERROR(detail, ...)               \
    do {                                        \
        zmesh__detail (detail, __VA_ARGS__);    \
        return ZMESH_ERR_CONFIG;                \
    } while (0)

//  value as an int from min to max, into field; shown names the key.
static zmesh_err_t
s_parse_int (const char *shown, const char *value, long min, long max,
             int *field, zmesh_detail_t *detail)
{
    char *end;
    errno = 0;
    long number = strtol (value, &end, 10);
    if (errno || end == value || *end || number < min || number > max)
        CONFIG_ERROR (detail, "%s: '%s' is not a whole number from %ld to %ld",
                      shown, value, min, max);
    *field = (int) number;
    return ZMESH_OK;
}

static bool
s_endpoint_valid (const char *value)
{
    size_t length = strlen (value);
    return length > 0 && length <= ZMESH_ENDPOINT_MAX
        && (strncmp (value, "tcp://", 6) == 0
            || strncmp (value, "ipc://", 6) == 0
            || strncmp (value, "inproc://", 9) == 0);
}

static zmesh_err_t
s_copy_endpoint (char *target, const char *path, const char *value,
                 bool may_be_empty, zmesh_detail_t *detail)
{
    if (!(may_be_empty && !*value) && !s_endpoint_valid (value))
        CONFIG_ERROR (detail, "%s: '%s' is not a tcp://, ipc:// or "
                      "inproc:// endpoint of at most %d characters", path,
                      value, ZMESH_ENDPOINT_MAX);
    snprintf (target, ZMESH_ENDPOINT_MAX + 1, "%s", value);
    return ZMESH_OK;
}

static zmesh_err_t
s_apply_scalar (zmesh_node_config_t *config, const s_key_t *key,
                const char *value, zmesh_detail_t *detail)
{
    char *field = (char *) config + key->offset;
    switch (key->kind) {
        case KEY_NAME:
            if (*value
                && !zmesh_envelope_name_valid (value,
                                               ZMESH_ENVELOPE_SOURCE_MAX))
                CONFIG_ERROR (detail, "%s: '%s' is not 1 to %d characters "
                              "of [A-Za-z0-9._-]", key->path, value,
                              ZMESH_ENVELOPE_SOURCE_MAX);
            snprintf (field, ZMESH_ENVELOPE_SOURCE_MAX + 1, "%s", value);
            return ZMESH_OK;
        case KEY_ENDPOINT:
            return s_copy_endpoint (field, key->path, value, true, detail);
        case KEY_HOST:
            if (strlen (value) > ZMESH_ENDPOINT_MAX - 16
                || strpbrk (value, "/: \t"))
                CONFIG_ERROR (detail, "%s: '%s' is not a host name or "
                              "address", key->path, value);
            snprintf (field, ZMESH_ENDPOINT_MAX + 1, "%s", value);
            return ZMESH_OK;
        case KEY_ADDRESS: {
            //  An address, never a name to look up
            unsigned char address [sizeof (struct in6_addr)];
            if (inet_pton (AF_INET, value, address) != 1
                && inet_pton (AF_INET6, value, address) != 1)
                CONFIG_ERROR (detail, "%s: '%s' is not an IPv4 or IPv6 "
                              "address", key->path, value);
            snprintf (field, ZMESH_ENDPOINT_MAX + 1, "%s", value);
            return ZMESH_OK;
        }
        case KEY_URL:
            if (*value
                && ((strncmp (value, "http://", 7) != 0
                     && strncmp (value, "https://", 8) != 0)
                    || strlen (value) > ZMESH_ENDPOINT_MAX
                    || strpbrk (value, " \t\r\n")))
                CONFIG_ERROR (detail, "%s: '%s' is not an http:// or "
                              "https:// URL of at most %d characters",
                              key->path, value, ZMESH_ENDPOINT_MAX);
            snprintf (field, ZMESH_ENDPOINT_MAX + 1, "%s", value);
            return ZMESH_OK;
        case KEY_PATH:
            if (strlen (value) > ZMESH_ENDPOINT_MAX - 64)
                CONFIG_ERROR (detail, "%s: a path of at most %d characters",
                              key->path, ZMESH_ENDPOINT_MAX - 64);
            snprintf (field, ZMESH_ENDPOINT_MAX + 1, "%s", value);
            return ZMESH_OK;
        case KEY_CHOICE:
            for (size_t index = 0;
                 index < sizeof s_choices / sizeof s_choices [0]; index++) {
                if (!streq (s_choices [index].path, key->path))
                    continue;
                if (!streq (value, s_choices [index].yes)
                    && !streq (value, s_choices [index].no))
                    CONFIG_ERROR (detail, "%s: '%s' is not %s or %s",
                                  key->path, value, s_choices [index].yes,
                                  s_choices [index].no);
                *(bool *) field = streq (value, s_choices [index].yes);
                return ZMESH_OK;
            }
            return ZMESH_ERR_INVALID;
        case KEY_INT:
            return s_parse_int (key->path, value, key->min, key->max,
                                (int *) field, detail);
        case KEY_BOOL:
            if (streq (value, "1") || streq (value, "true"))
                *(bool *) field = true;
            else if (streq (value, "0") || streq (value, "false"))
                *(bool *) field = false;
            else
                CONFIG_ERROR (detail, "%s: '%s' is not 0, 1, true or false",
                              key->path, value);
            return ZMESH_OK;
    }
    return ZMESH_ERR_INVALID;
}

static const s_policy_key_t *
s_policy_key (const char *path)
{
    for (size_t index = 0; index < POLICY_KEY_COUNT; index++)
        if (streq (s_policy_keys [index].path, path))
            return &s_policy_keys [index];
    return NULL;
}

//  Set one policy value; shown is the path to name in errors.
static zmesh_err_t
s_apply_policy (zmesh_call_policy_t *policy, const s_policy_key_t *key,
                const char *shown, const char *value, zmesh_detail_t *detail)
{
    char *field = (char *) policy + key->offset;
    switch (key->kind) {
        case POLICY_INT:
            return s_parse_int (shown, value, key->min, key->max,
                                (int *) field, detail);
        case POLICY_WINDOW:
            if (!streq (value, "count") && !streq (value, "time"))
                CONFIG_ERROR (detail, "%s: '%s' is not count or time", shown,
                              value);
            *(bool *) field = streq (value, "time");
            return ZMESH_OK;
        case POLICY_JITTER:
            if (!streq (value, "full") && !streq (value, "none"))
                CONFIG_ERROR (detail, "%s: '%s' is not full or none", shown,
                              value);
            *(bool *) field = streq (value, "full");
            return ZMESH_OK;
        case POLICY_MODE:
            if (streq (value, "normal"))
                *(zmesh_breaker_mode_t *) field = ZMESH_BREAKER_NORMAL;
            else if (streq (value, "forced-open"))
                *(zmesh_breaker_mode_t *) field = ZMESH_BREAKER_FORCED_OPEN;
            else if (streq (value, "disabled"))
                *(zmesh_breaker_mode_t *) field = ZMESH_BREAKER_DISABLED;
            else
                CONFIG_ERROR (detail, "%s: '%s' is not normal, forced-open "
                              "or disabled", shown, value);
            return ZMESH_OK;
    }
    return ZMESH_ERR_INVALID;
}

//  services/<service>/<policy key> = value: checked now on a scratch
//  policy, kept as text, applied when the node asks for that service.
static zmesh_err_t
s_apply_override (zmesh_node_config_t *config, const char *path,
                  const char *value, zmesh_detail_t *detail)
{
    const char *service = path + strlen ("services/");
    const char *slash = strchr (service, '/');
    char name [ZMESH_ENVELOPE_SOURCE_MAX + 1] = "";
    if (slash && slash - service <= ZMESH_ENVELOPE_SOURCE_MAX)
        snprintf (name, sizeof name, "%.*s", (int) (slash - service), service);
    if (!zmesh_envelope_name_valid (name, ZMESH_ENVELOPE_SOURCE_MAX))
        CONFIG_ERROR (detail, "%s: say services/<service>/<key> with a "
                      "service name", path);
    const s_policy_key_t *key = s_policy_key (slash + 1);
    if (!key)
        CONFIG_ERROR (detail, "%s: unknown key; a service takes breaker/*, "
                      "retry/* and calls/max_in_flight", path);
    zmesh_call_policy_t scratch;
    zmesh_call_policy_defaults (&scratch);
    zmesh_err_t rc = s_apply_policy (&scratch, key, path, value, detail);
    if (rc)
        return rc;
    if (strlen (value) >= sizeof config->overrides [0].value)
        CONFIG_ERROR (detail, "%s: value too long", path);
    if (config->override_count == ZMESH_CONFIG_OVERRIDES_MAX)
        CONFIG_ERROR (detail, "%s: more than %d services/ settings", path,
                      ZMESH_CONFIG_OVERRIDES_MAX);
    zmesh_policy_override_t *override =
        &config->overrides [config->override_count++];
    memcpy (override->service, name, strlen (name) + 1);
    snprintf (override->key, sizeof override->key, "%s", key->path);
    snprintf (override->value, sizeof override->value, "%s", value);
    return ZMESH_OK;
}

const char *
zmesh_node_config_service (const zmesh_node_config_t *config, const char *key,
                           const char *fallback)
{
    assert (config && key);
    for (size_t index = 0; index < config->service_count; index++)
        if (streq (config->service [index].key, key))
            return config->service [index].value;
    return fallback;
}

void
zmesh_node_config_policy (const zmesh_node_config_t *config,
                          const char *service, zmesh_call_policy_t *policy)
{
    assert (config && service && policy);
    *policy = config->policy;
    for (size_t index = 0; index < config->override_count; index++) {
        const zmesh_policy_override_t *override = &config->overrides [index];
        if (streq (override->service, service))
            s_apply_policy (policy, s_policy_key (override->key), override->key,
                            override->value, NULL);
    }
}

//  The peer with this label, made if it is new.
static zmesh_peer_config_t *
s_peer (zmesh_node_config_t *config, const char *label, size_t length,
        zmesh_detail_t *detail)
{
    char copy [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    if (length > ZMESH_ENVELOPE_SOURCE_MAX)
        length = ZMESH_ENVELOPE_SOURCE_MAX + 1;     //  Fails the check below
    snprintf (copy, sizeof copy, "%.*s", (int) length, label);
    if (length > ZMESH_ENVELOPE_SOURCE_MAX
        || !zmesh_envelope_name_valid (copy, ZMESH_ENVELOPE_SOURCE_MAX)) {
        zmesh__detail (detail, "peers/%.*s: a peer's label is 1 to %d "
                       "characters of [A-Za-z0-9._-]", (int) length, label,
                       ZMESH_ENVELOPE_SOURCE_MAX);
        return NULL;
    }
    for (size_t index = 0; index < config->peer_count; index++)
        if (streq (config->peers [index].label, copy))
            return &config->peers [index];
    if (config->peer_count == ZMESH_CONFIG_PEERS_MAX) {
        zmesh__detail (detail, "peers/%s: more than %d peers", copy,
                       ZMESH_CONFIG_PEERS_MAX);
        return NULL;
    }
    zmesh_peer_config_t *peer = &config->peers [config->peer_count++];
    memset (peer, 0, sizeof *peer);
    memcpy (peer->label, copy, strlen (copy) + 1);
    memcpy (peer->service, copy, strlen (copy) + 1);
    return peer;
}

static zmesh_err_t
s_apply_peer (zmesh_node_config_t *config, const char *path,
              const char *value, zmesh_detail_t *detail)
{
    const char *label = path + strlen ("peers/");
    const char *slash = strchr (label, '/');
    if (!slash)
        CONFIG_ERROR (detail, "%s: say peers/<label>/events, calls or "
                      "service", path);
    zmesh_peer_config_t *peer = s_peer (config, label,
                                        (size_t) (slash - label), detail);
    if (!peer)
        return ZMESH_ERR_CONFIG;
    const char *field = slash + 1;
    if (streq (field, "events"))
        return s_copy_endpoint (peer->events, path, value, false, detail);
    if (streq (field, "calls"))
        return s_copy_endpoint (peer->calls, path, value, false, detail);
    if (streq (field, "service")) {
        if (!zmesh_envelope_name_valid (value, ZMESH_ENVELOPE_SOURCE_MAX))
            CONFIG_ERROR (detail, "%s: '%s' is not a service name", path,
                          value);
        snprintf (peer->service, sizeof peer->service, "%s", value);
        return ZMESH_OK;
    }
    CONFIG_ERROR (detail, "%s: unknown key; a peer has events, calls and "
                  "service", path);
}

//  access/calls/<identity> = the methods it may call, or
//  access/publish/<service> = the event types it may publish: names, and
//  prefixes ending in ".*", separated by spaces or commas; into rules.
static zmesh_err_t
s_apply_access (zmesh_access_rule_t *rules, size_t *count, const char *path,
                const char *who, const char *value, zmesh_detail_t *detail)
{
    if (!zmesh_envelope_name_valid (who, ZMESH_ENVELOPE_SOURCE_MAX))
        CONFIG_ERROR (detail, "%s: '%s' is not an identity (a certificate's "
                      "name) or a service", path, who);
    if (strlen (value) > ZMESH_ENDPOINT_MAX)
        CONFIG_ERROR (detail, "%s: too long", path);
    char copy [ZMESH_ENDPOINT_MAX + 1];
    snprintf (copy, sizeof copy, "%s", value);
    char *rest = NULL;
    for (char *name = strtok_r (copy, " ,", &rest); name;
         name = strtok_r (NULL, " ,", &rest)) {
        size_t length = strlen (name);
        if (length > 2 && streq (name + length - 2, ".*"))
            name [length - 2] = 0;
        if (!zmesh_envelope_name_valid (name, ZMESH_ENVELOPE_TYPE_MAX))
            CONFIG_ERROR (detail, "%s: '%s' is not a name or a prefix such "
                          "as order.*", path, name);
    }
    size_t index = 0;
    while (index < *count && !streq (rules [index].identity, who))
        index++;
    if (index == ZMESH_CONFIG_ACCESS_MAX)
        CONFIG_ERROR (detail, "%s: more than %d such rules", path,
                      ZMESH_CONFIG_ACCESS_MAX);
    if (index == *count)
        (*count)++;
    snprintf (rules [index].identity, sizeof rules [index].identity, "%s",
              who);
    snprintf (rules [index].methods, sizeof rules [index].methods, "%s",
              value);
    return ZMESH_OK;
}

static zmesh_err_t
s_apply (zmesh_node_config_t *config, const char *path, const char *value,
         zmesh_detail_t *detail)
{
    for (size_t index = 0; index < KEY_COUNT; index++)
        if (streq (s_keys [index].path, path))
            return s_apply_scalar (config, &s_keys [index], value, detail);
    const s_policy_key_t *policy_key = s_policy_key (path);
    if (policy_key)
        return s_apply_policy (&config->policy, policy_key, path, value, detail);
    if (strncmp (path, "peers/", 6) == 0)
        return s_apply_peer (config, path, value, detail);
    if (streq (path, "access/admins")) {
        if (strlen (value) > ZMESH_ENDPOINT_MAX)
            CONFIG_ERROR (detail, "%s: too long", path);
        snprintf (config->access_admins, sizeof config->access_admins, "%s",
                  value);
        return ZMESH_OK;
    }
    if (strncmp (path, "access/calls/", 13) == 0)
        return s_apply_access (config->access, &config->access_count, path,
                               path + 13, value, detail);
    if (strncmp (path, "access/publish/", 15) == 0)
        return s_apply_access (config->publish, &config->publish_count, path,
                               path + 15, value, detail);
    if (strncmp (path, "services/", 9) == 0)
        return s_apply_override (config, path, value, detail);
    if (strncmp (path, "service/", 8) == 0) {
        const char *key = path + 8;
        size_t index = 0;
        while (index < config->service_count
               && !streq (config->service [index].key, key))
            index++;
        if (!*key || strlen (key) >= sizeof config->service [0].key
            || strlen (value) > ZMESH_ENDPOINT_MAX)
            CONFIG_ERROR (detail, "%s: key or value too long", path);
        if (index == ZMESH_CONFIG_SERVICE_MAX)
            CONFIG_ERROR (detail, "%s: more than %d service/ settings", path,
                          ZMESH_CONFIG_SERVICE_MAX);
        if (index == config->service_count)
            config->service_count++;
        snprintf (config->service [index].key, sizeof config->service [0].key,
                  "%s", key);
        snprintf (config->service [index].value,
                  sizeof config->service [0].value, "%s", value);
        return ZMESH_OK;
    }
    if (streq (path, "gossip/seed")) {
        if (config->seed_count == ZMESH_CONFIG_SEEDS_MAX)
            CONFIG_ERROR (detail, "gossip/seed: more than %d seeds",
                          ZMESH_CONFIG_SEEDS_MAX);
        zmesh_err_t rc = s_copy_endpoint (config->seeds [config->seed_count],
                                          path, value, false, detail);
        config->seed_count += rc == ZMESH_OK;
        return rc;
    }
    CONFIG_ERROR (detail, "%s: unknown key", path);
}

void
zmesh_node_config_defaults (zmesh_node_config_t *config, const char *name)
{
    assert (config);
    memset (config, 0, sizeof *config);
    for (size_t index = 0; index < KEY_COUNT; index++) {
        zmesh_err_t rc = s_apply_scalar (config, &s_keys [index],
                                         s_keys [index].fallback, NULL);
        assert (rc == ZMESH_OK);
    }
    zmesh_call_policy_defaults (&config->policy);
    if (name)
        snprintf (config->name, sizeof config->name, "%s", name);
}

//  Apply every leaf under item, whose path so far is prefix.
static zmesh_err_t
s_load_tree (zmesh_node_config_t *config, zconfig_t *item, const char *prefix,
             const char *file, zmesh_detail_t *detail)
{
    for (; item; item = zconfig_next (item)) {
        char path [256];
        snprintf (path, sizeof path, "%s%s%s", prefix, *prefix ? "/" : "",
                  zconfig_name (item));
        zmesh_err_t rc;
        if (zconfig_child (item))
            rc = s_load_tree (config, zconfig_child (item), path, file,
                              detail);
        else {
            const char *value = zconfig_value (item);
            rc = s_apply (config, path, value ? value : "", detail);
            if (rc && detail) {
                char first [sizeof detail->text];
                snprintf (first, sizeof first, "%s", detail->text);
                zmesh__detail (detail, "%s: %s", file, first);
            }
        }
        if (rc)
            return rc;
    }
    return ZMESH_OK;
}

zmesh_err_t
zmesh_node_config_load (zmesh_node_config_t *config, const char *path,
                        zmesh_detail_t *detail)
{
    assert (config && path);
    if (!zsys_file_exists (path))
        CONFIG_ERROR (detail, "%s: no such file", path);
    zconfig_t *root = zconfig_load (path);
    if (!root)
        CONFIG_ERROR (detail, "%s: not valid ZPL (ZeroMQ RFC 4)", path);
    zmesh_err_t rc = s_load_tree (config, zconfig_child (root), "", path,
                                  detail);
    zconfig_destroy (&root);
    return rc;
}

zmesh_err_t
zmesh_node_config_set (zmesh_node_config_t *config, const char *setting,
                       zmesh_detail_t *detail)
{
    assert (config && setting);
    const char *equals = strchr (setting, '=');
    if (!equals || equals == setting || equals - setting > 200)
        CONFIG_ERROR (detail, "'%s' is not path=value", setting);
    char path [256];
    snprintf (path, sizeof path, "%.*s", (int) (equals - setting), setting);
    return s_apply (config, path, equals + 1, detail);
}

zmesh_err_t
zmesh_node_config_validate (const zmesh_node_config_t *config,
                            zmesh_detail_t *detail)
{
    assert (config);
    if (!*config->name)
        CONFIG_ERROR (detail, "node/name: a node needs a name");
    if (!zmesh_envelope_name_valid (config->name, ZMESH_ENVELOPE_SOURCE_MAX))
        CONFIG_ERROR (detail, "node/name: '%s' is not 1 to %d characters of "
                      "[A-Za-z0-9._-]", config->name,
                      ZMESH_ENVELOPE_SOURCE_MAX);
    if (!*config->events || !*config->calls)
        CONFIG_ERROR (detail, "node/events and node/calls: a node binds "
                      "both");
    if (config->heartbeat_ms >= config->quiet_ms
        || config->quiet_ms >= config->gone_ms)
        CONFIG_ERROR (detail, "timing: need heartbeat (%d) < quiet (%d) < "
                      "gone (%d)", config->heartbeat_ms, config->quiet_ms,
                      config->gone_ms);
    if (config->reconnect_max_ms && config->reconnect_max_ms
                                        < config->reconnect_ms)
        CONFIG_ERROR (detail, "sockets/reconnect_max (%d) is below "
                      "sockets/reconnect (%d)", config->reconnect_max_ms,
                      config->reconnect_ms);
    for (size_t index = 0; index < config->peer_count; index++) {
        const zmesh_peer_config_t *peer = &config->peers [index];
        if (!*peer->events && !*peer->calls)
            CONFIG_ERROR (detail, "peers/%s: give events, calls or both",
                          peer->label);
    }
    if (config->access_count && !*config->security_cert)
        CONFIG_ERROR (detail, "access/calls/%s: rules name callers by their "
                      "keys, so they need security/cert and security/keys",
                      config->access [0].identity);
    if (zmesh_call_policy_validate (&config->policy, detail) != ZMESH_OK)
        return ZMESH_ERR_CONFIG;
    for (size_t index = 0; index < config->override_count; index++) {
        zmesh_call_policy_t policy;
        const char *service = config->overrides [index].service;
        zmesh_node_config_policy (config, service, &policy);
        if (zmesh_call_policy_validate (&policy, detail) != ZMESH_OK) {
            char first [sizeof detail->text];
            snprintf (first, sizeof first, "%s", detail ? detail->text : "");
            CONFIG_ERROR (detail, "services/%s: %s", service, first);
        }
    }
    return ZMESH_OK;
}
