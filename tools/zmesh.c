/*  zmesh.c - the zmesh command line: call, publish, status, dead letters.

    Part of zmesh. MIT License.
*/
#include <getopt.h>
#include "zmesh.h"

static int
s_misuse (const char *message)
{
    fprintf (stderr, "zmesh: %s\ntry 'zmesh --help'\n", message);
    return 2;
}

static void
s_usage (void)
{
    printf (
        "usage: zmesh [OPTION]... COMMAND [ARGUMENT]...\n"
        "\n"
        "Commands:\n"
        "  call TARGET METHOD [JSON]  call METHOD on TARGET with a JSON body;\n"
        "                             prints the reply's body as JSON\n"
        "  publish TARGET TYPE [JSON] have TARGET publish an event of TYPE\n"
        "                             (stored in its log when it keeps one)\n"
        "  status                     every peer of --config: its endpoint,\n"
        "                             and its counters\n"
        "  dlq list TARGET            TARGET's dead letters, as JSON\n"
        "  dlq show TARGET ID         one of them, with the whole event\n"
        "  dlq replay TARGET          run TARGET's consumers on them again\n"
        "\n"
        "TARGET is a service named in --config or with --set peers/..., or\n"
        "a calls endpoint (tcp://host:port, ipc://path).\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE       a node's settings (ZPL), for its peers\n"
        "  -s, --set PATH=VALUE    one setting; repeatable\n"
        "  -t, --timeout MS        how long a call may take (default 5000)\n"
        "  -h, --help              this text\n"
        "  -V, --version           the zmesh version\n"
        "\n"
        "Calls go through the breaker and retry policy of the settings.\n"
        "Exit status: 0 when the call succeeded, 1 when it failed (the reason\n"
        "on stderr), 2 on a usage error.\n");
}

//  The service to call for target: target itself, or "target" for an
//  endpoint, made a peer of config.
static const char *
s_service (zmesh_node_config_t *config, const char *target)
{
    if (!strstr (target, "://"))
        return target;
    char setting [ZMESH_ENDPOINT_MAX + 32];
    snprintf (setting, sizeof setting, "peers/target/calls=%s", target);
    zmesh_node_config_set (config, setting, NULL);
    return "target";
}

//  Call and print; returns the exit code.
static int
s_call (zmesh_node_t *node, const char *service, const char *method,
        json_t *body, uint32_t timeout_ms, bool quiet)
{
    void *data = NULL;
    size_t size = 0;
    if (body && zmesh_json_to_msgpack (body, &data, &size, NULL) != ZMESH_OK)
        return s_misuse ("the JSON nests too deep");
    zmesh_envelope_t *reply = NULL;
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_node_call (node, service, method, data, size,
                                      timeout_ms, &reply, &detail);
    free (data);
    if (reply && zmesh_envelope_body_size (reply) && !quiet) {
        json_t *answer = NULL;
        zmesh_json_from_msgpack (zmesh_envelope_body (reply),
                                 zmesh_envelope_body_size (reply), &answer,
                                 NULL);
        char *text = json_dumps (answer, JSON_COMPACT | JSON_ENCODE_ANY);
        printf ("%s\n", text ? text : "null");
        free (text);
        json_decref (answer);
    }
    if (rc == ZMESH_ERR_APP_ERROR)
        fprintf (stderr, "zmesh: %s: error %" PRId64 ": %s\n", method,
                 zmesh_envelope_error_code (reply), detail.text);
    else if (rc != ZMESH_OK)
        fprintf (stderr, "zmesh: %s: %s%s%s\n", method, zmesh_strerror (rc),
                 *detail.text ? ": " : "", detail.text);
    zmesh_envelope_destroy (&reply);
    return rc == ZMESH_OK ? 0 : 1;
}

//  One line per peer: where it is, and what its zmesh.stats says.
static int
s_status (zmesh_node_t *node, const zmesh_node_config_t *config,
          uint32_t timeout_ms)
{
    int failed = 0;
    printf ("%-12s %-32s %9s %9s %9s %9s %9s\n", "SERVICE", "CALLS",
            "PUBLISHED", "CONSUMED", "REPLAYED", "DEAD", "BAD");
    for (size_t index = 0; index < config->peer_count; index++) {
        const zmesh_peer_config_t *peer = &config->peers [index];
        if (!*peer->calls)
            continue;
        zmesh_envelope_t *reply = NULL;
        zmesh_call_options_t options = {timeout_ms, NULL, NULL};
        zmesh_err_t rc = zmesh_node_call_with (node, peer->service,
                                               "zmesh.stats", NULL, 0,
                                               &options, &reply, NULL);
        if (rc != ZMESH_OK) {
            printf ("%-12s %-32s %s\n", peer->service, peer->calls,
                    zmesh_strerror (rc));
            failed = 1;
        }
        else
            printf ("%-12s %-32s %9s %9s %9s %9s %9s\n", peer->service,
                    peer->calls,
                    zmesh_envelope_header (reply, "events_published"),
                    zmesh_envelope_header (reply, "events_consumed"),
                    zmesh_envelope_header (reply, "events_replayed"),
                    zmesh_envelope_header (reply, "dead_letters"),
                    zmesh_envelope_header (reply, "bad_frames"));
        zmesh_envelope_destroy (&reply);
    }
    return failed;
}

static json_t *
s_json_argument (int argc, char *argv [], int index, int *rc)
{
    if (index >= argc)
        return NULL;
    json_t *value = NULL;
    zmesh_detail_t detail = {""};
    if (zmesh_json_parse (argv [index], strlen (argv [index]), &value, &detail)
        != ZMESH_OK) {
        fprintf (stderr, "zmesh: %s\ntry 'zmesh --help'\n", detail.text);
        *rc = 2;
    }
    return value;
}

int
main (int argc, char *argv [])
{
    static const struct option longs [] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "zmesh-cli");
    zmesh_detail_t detail = {""};
    uint32_t timeout_ms = 5000;
    int option;
    char *end;
    //  "+": options end at the command, whose arguments may start with '-'.
    while ((option = getopt_long (argc, argv, "+c:s:t:hV", longs, NULL)) != -1) {
        switch (option) {
            case 'c':
                if (zmesh_node_config_load (&config, optarg, &detail)) {
                    fprintf (stderr, "zmesh: %s\n", detail.text);
                    return 2;
                }
                break;
            case 's':
                if (zmesh_node_config_set (&config, optarg, &detail))
                    return s_misuse (detail.text);
                break;
            case 't':
                timeout_ms = (uint32_t) strtoul (optarg, &end, 10);
                if (*end || timeout_ms < 1 || timeout_ms > 3600000)
                    return s_misuse ("--timeout wants 1 to 3600000 ms");
                break;
            case 'h': s_usage (); return 0;
            case 'V':
                printf ("zmesh %d.%d.%d\n", ZMESH_VERSION_MAJOR,
                        ZMESH_VERSION_MINOR, ZMESH_VERSION_PATCH);
                return 0;
            default: return s_misuse ("unknown option");
        }
    }
    if (optind >= argc)
        return s_misuse ("say what to do: call, publish, status or dlq");
    const char *command = argv [optind];
    int rest = argc - optind - 1;
    char **args = argv + optind + 1;
    const char *service = NULL, *method = NULL;
    json_t *body = NULL;
    int rc = 0;
    if (streq (command, "call") && (rest == 2 || rest == 3)) {
        service = s_service (&config, args [0]);
        method = args [1];
        body = s_json_argument (rest, args, 2, &rc);
    }
    else if (streq (command, "publish") && (rest == 2 || rest == 3)) {
        service = s_service (&config, args [0]);
        method = "zmesh.publish";
        json_t *payload = s_json_argument (rest, args, 2, &rc);
        body = json_pack ("{s:s, s:o}", "type", args [1],
                          "body", payload ? payload : json_null ());
    }
    else if (streq (command, "dlq") && rest == 2
             && (streq (args [0], "list") || streq (args [0], "replay"))) {
        service = s_service (&config, args [1]);
        method = streq (args [0], "list") ? "zmesh.dlq.list"
                                          : "zmesh.dlq.replay";
    }
    else if (streq (command, "dlq") && rest == 3
             && streq (args [0], "show")) {
        service = s_service (&config, args [1]);
        method = "zmesh.dlq.show";
        body = json_pack ("{s:s}", "id", args [2]);
    }
    else if (!streq (command, "status") || rest != 0)
        return s_misuse ("unknown command or wrong arguments");
    if (rc) {
        json_decref (body);
        return rc;
    }
    //  Diagnostics to stderr: stdout is for the answers.
    zsys_set_logstream (stderr);
    zmesh_node_t *node = zmesh_node_new (&config, NULL, NULL, &detail);
    if (!node) {
        fprintf (stderr, "zmesh: %s\n", detail.text);
        json_decref (body);
        return 1;
    }
    rc = service ? s_call (node, service, method, body, timeout_ms, false)
                 : s_status (node, &config, timeout_ms);
    json_decref (body);
    zmesh_node_destroy (&node);
    return rc;
}
