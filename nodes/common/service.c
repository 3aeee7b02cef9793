/*  service.c - JSON bodies, refusals and main for the demo services.

    Part of zmesh. MIT License.
*/
#include <getopt.h>
#include <signal.h>
#include <uuid/uuid.h>
#include "service.h"

json_t *
service_body (const zmesh_envelope_t *envelope, zmesh_detail_t *detail)
{
    json_t *value = NULL;
    if (zmesh_json_from_msgpack (zmesh_envelope_body (envelope),
                                 zmesh_envelope_body_size (envelope), &value,
                                 detail) != ZMESH_OK)
        return NULL;
    if (!json_is_object (value)) {
        if (detail)
            snprintf (detail->text, sizeof detail->text,
                      "the body must be a JSON object");
        json_decref (value);
        return NULL;
    }
    return value;
}

zmesh_err_t
service_set_body (zmesh_envelope_t *envelope, json_t *value)
{
    void *data = NULL;
    size_t size = 0;
    zmesh_err_t rc = zmesh_json_to_msgpack (value, &data, &size, NULL);
    if (rc == ZMESH_OK)
        rc = zmesh_envelope_set_body (envelope, data, size);
    free (data);
    json_decref (value);
    return rc;
}

void
service_refuse (zmesh_envelope_t *reply, int code, const char *format, ...)
{
    char text [ZMESH_ENVELOPE_TEXT_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    zmesh_envelope_set_body (reply, NULL, 0);
    zmesh_envelope_set_status (reply, ZMESH_STATUS_APP_ERROR, code, text);
}

const char *
service_string (json_t *object, const char *key, size_t max)
{
    json_t *value = json_object_get (object, key);
    const char *text = json_string_value (value);
    size_t length = text ? json_string_length (value) : 0;
    return length >= 1 && length <= max && strlen (text) == length ? text
                                                                   : NULL;
}

void
service_keyed_id (const char *scope, const char *key, char *text)
{
    //  A name-based UUID (RFC 9562, version 5) in a namespace of zmesh's
    static const uuid_t space = {0x6f, 0x2b, 0x8e, 0x51, 0x3c, 0x0d, 0x4e,
                                 0x2a, 0x9b, 0x71, 0x5d, 0x08, 0xc4, 0x3e,
                                 0x12, 0xa7};
    char name [2 * SERVICE_KEY_MAX + 2];
    int length = snprintf (name, sizeof name, "%s\n%s", scope, key);
    uuid_t id;
    uuid_generate_sha1 (id, space, name,
                        length < (int) sizeof name ? (size_t) length
                                                   : sizeof name - 1);
    uuid_unparse_lower (id, text);
}

zmesh_err_t
service_append (zmesh_node_t *node, const char *stream, int64_t expected,
                const char *key, const char *type, json_t *body,
                zmesh_stored_event_fn *fold, void *arg, zmesh_detail_t *detail)
{
    void *data = NULL;
    size_t size = 0;
    zmesh_err_t rc = zmesh_json_to_msgpack (body, &data, &size, detail);
    json_decref (body);
    if (rc)
        return rc;
    zmesh_new_event_t event = {.type = type, .body = data, .body_size = size,
                               .key = key};
    zmesh_append_result_t result;
    rc = zmesh_node_append (node, stream, expected, &event, 1, &result, detail);
    if (rc == ZMESH_OK && fold && !result.duplicate) {
        zmesh_stored_event_t stored = {
            .position = result.first_position, .stream = stream,
            .version = result.version, .type = type, .body = data,
            .body_size = size, .seq = result.first_seq,
            .key = key ? key : ""};
        fold (&stored, arg);
    }
    free (data);
    return rc;
}

static void
s_usage (const service_t *service, FILE *out)
{
    fprintf (out,
             "usage: zmesh-%s [--config FILE] [--set PATH=VALUE]... "
             "[--name NAME]\n\n"
             "%s\n\n"
             "  -c, --config FILE     settings in ZPL (proto/node.md, "
             "section 5)\n"
             "  -s, --set PATH=VALUE  one setting, over the file's; "
             "repeatable\n"
             "  -n, --name NAME       the node's name (default %s)\n"
             "  -v, --verbose         log every event and call (node/verbose)\n"
             "  -h, --help            this text\n"
             "  -V, --version         the zmesh version\n\n"
             "Prints \"events=<endpoint> calls=<endpoint>\" once it is up, "
             "and runs until\nSIGINT or SIGTERM; SIGHUP reads security/keys "
             "again. With --set admin/port=PORT\nit serves /healthz, /readyz "
             "and /metrics over HTTP there (proto/node.md,\nsection 6).\n",
             service->name, service->summary, service->name);
}

static volatile sig_atomic_t s_hangup;

static void
s_on_hangup (int signal_number)
{
    (void) signal_number;
    s_hangup = 1;
}

int
service_main (const service_t *service, int argc, char *argv [])
{
    static const struct option longs [] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, service->name);
    zmesh_detail_t detail = {""};
    //  The file first, wherever --config stands: the command line wins.
    for (int index = 1; index + 1 < argc; index++)
        if (streq (argv [index], "--config") || streq (argv [index], "-c"))
            if (zmesh_node_config_load (&config, argv [index + 1], &detail)) {
                fprintf (stderr, "zmesh-%s: %s\n", service->name, detail.text);
                return 2;
            }
    int option;
    while ((option = getopt_long (argc, argv, "c:s:n:vhV", longs, NULL)) != -1) {
        switch (option) {
            case 'c':
                break;
            case 's':
                if (zmesh_node_config_set (&config, optarg, &detail)) {
                    fprintf (stderr, "zmesh-%s: %s\ntry --help\n",
                             service->name, detail.text);
                    return 2;
                }
                break;
            case 'v':
                config.verbose = true;
                break;
            case 'n':
                snprintf (config.name, sizeof config.name, "%s", optarg);
                break;
            case 'h':
                s_usage (service, stdout);
                return 0;
            case 'V':
                printf ("zmesh %d.%d.%d\n", ZMESH_VERSION_MAJOR,
                        ZMESH_VERSION_MINOR, ZMESH_VERSION_PATCH);
                return 0;
            default:
                fprintf (stderr, "zmesh-%s: try --help\n", service->name);
                return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "zmesh-%s: unexpected '%s'; try --help\n",
                 service->name, argv [optind]);
        return 2;
    }
    zsys_set_logident (config.name);
    zsys_set_logstream (stderr);
    zsys_set_max_sockets (0);
    //  A file-size limit reached is a write that fails (EFBIG), as a full
    //  disk is, and not the end of the process.
    signal (SIGXFSZ, SIG_IGN);
    zmesh_node_t *node = zmesh_node_new (&config, NULL, NULL, &detail);
    if (!node) {
        fprintf (stderr, "zmesh-%s: %s\n", service->name, detail.text);
        return 1;
    }
    void *state = NULL;
    bool stored = zmesh_node_store (node) != NULL;
    if (!stored)
        zsys_error ("%s: set node/data: %s", service->name, service->stored);
    if (!stored || service->attach (node, &config, &state) != ZMESH_OK) {
        fprintf (stderr, "zmesh-%s: cannot start the service\n",
                 service->name);
        zmesh_node_destroy (&node);
        return 1;
    }
    printf ("events=%s calls=%s\n", zmesh_node_events_endpoint (node),
            zmesh_node_calls_endpoint (node));
    fflush (stdout);
    //  SIGHUP reads the keys again (a key taken out is revoked)
    struct sigaction hangup = {.sa_handler = s_on_hangup};
    sigemptyset (&hangup.sa_mask);
    sigaction (SIGHUP, &hangup, NULL);
    zmesh_err_t rc;
    while ((rc = zmesh_node_poll (node, config.heartbeat_ms)) == ZMESH_OK)
        if (s_hangup) {
            s_hangup = 0;
            zmesh_node_reload_keys (node, NULL);
        }
    zmesh_node_drain (node);
    zmesh_node_destroy (&node);
    service->detach (&state);
    return rc == ZMESH_OK || rc == ZMESH_ERR_INTERRUPTED ? 0 : 1;
}
