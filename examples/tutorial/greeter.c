/*  greeter.c - the tutorial's first service (docs/tutorial.md).

    Serves greeter.greet {"name": ...}: replies {"greeting": "hello, NAME"}
    and publishes greeter.greeted with the same body. Settings come from
    --config FILE and --set PATH=VALUE (proto/node.md); it prints its
    endpoints, then serves until Ctrl-C.

        greeter --set node/calls=tcp://127.0.0.1:5601 \
                --set node/events=tcp://127.0.0.1:5600

    Part of zmesh. MIT License.
*/
#include "zmesh.h"

//  A call's handler: read the request's body, set the reply's, publish.
static void
s_greet (zmesh_node_t *node, const zmesh_envelope_t *request,
         zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    json_t *body = NULL;
    zmesh_json_from_msgpack (zmesh_envelope_body (request),
                             zmesh_envelope_body_size (request), &body, NULL);
    const char *name = json_string_value (json_object_get (body, "name"));
    if (!name) {
        //  An application error: the caller gets it, with this text
        zmesh_envelope_set_status (reply, ZMESH_STATUS_APP_ERROR, 400,
                                   "greeter.greet wants {\"name\": ...}");
        json_decref (body);
        return;
    }
    char text [200];
    snprintf (text, sizeof text, "hello, %s", name);
    json_t *answer = json_pack ("{s:s}", "greeting", text);
    void *packed = NULL;
    size_t size = 0;
    zmesh_json_to_msgpack (answer, &packed, &size, NULL);
    zmesh_envelope_set_body (reply, packed, size);
    //  Carries the caller's correlation id, and the request as its cause
    zmesh_node_publish (node, "greeter.greeted", packed, size);
    free (packed);
    json_decref (answer);
    json_decref (body);
}

int
main (int argc, char *argv [])
{
    //  Logs (CZMQ's zsys) to stderr: stdout is for what we print
    zsys_set_logstream (stderr);
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "greeter");
    zmesh_detail_t detail = {""};
    for (int index = 1; index + 1 < argc; index += 2) {
        zmesh_err_t rc = streq (argv [index], "--config")
            ? zmesh_node_config_load (&config, argv [index + 1], &detail)
            : streq (argv [index], "--set")
            ? zmesh_node_config_set (&config, argv [index + 1], &detail)
            : ZMESH_ERR_INVALID;
        if (rc != ZMESH_OK) {
            fprintf (stderr, "greeter: %s\nusage: greeter [--config FILE] "
                     "[--set PATH=VALUE]...\n", *detail.text ? detail.text
                     : "unknown option");
            return 2;
        }
    }
    zmesh_node_t *node = zmesh_node_new (&config, NULL, NULL, &detail);
    if (!node) {
        fprintf (stderr, "greeter: %s\n", detail.text);
        return 1;
    }
    zmesh_node_serve (node, "greeter.greet", s_greet, NULL);
    printf ("events=%s calls=%s\n", zmesh_node_events_endpoint (node),
            zmesh_node_calls_endpoint (node));
    fflush (stdout);
    zmesh_node_run (node);          //  Until Ctrl-C or SIGTERM
    zmesh_node_destroy (&node);
    return 0;
}
