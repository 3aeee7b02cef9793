/*  http.c - HTTP requests with curl, for the integration suites.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include <czmq.h>
#include "child.h"
#include "http.h"

http_t
http_request_to (const char *host, int port, const char *method,
                 const char *path, const char *body, const char *correlation)
{
    char header [128];
    snprintf (header, sizeof header, "X-Correlation-ID: %s",
              correlation ? correlation : "");
    return http_request_with (host, port, method, path, body,
                              correlation ? header : NULL);
}

http_t
http_request_with (const char *host, int port, const char *method,
                   const char *path, const char *body, const char *header)
{
    char url [256];
    snprintf (url, sizeof url, "http://%s:%d%s", host ? host : "127.0.0.1",
              port, path);
    char *argv [16] = {"/usr/bin/curl", "-s", "-i", "-X", (char *) method,
                       url, "-H", "Content-Type: application/json"};
    int argc = 8;
    if (header) {
        argv [argc++] = "-H";
        argv [argc++] = (char *) header;
    }
    if (body) {
        argv [argc++] = "--data-binary";
        argv [argc++] = (char *) body;
    }
    argv [argc] = NULL;
    child_t curl = child_spawn (argv);
    http_t response = {0, "", "", "", NULL};
    char line [4096];
    bool headers = true;
    while (child_read_line (curl.out, line, sizeof line, 10000)) {
        if (headers) {
            line [strcspn (line, "\r\n")] = 0;
            if (!*line)
                headers = false;
            else if (strncmp (line, "HTTP/", 5) == 0)
                sscanf (line, "%*s %d", &response.status);
            else if (strncasecmp (line, "X-Correlation-ID: ", 18) == 0)
                snprintf (response.correlation, sizeof response.correlation,
                          "%.63s", line + 18);
            else if (strncasecmp (line, "Retry-After: ", 13) == 0)
                snprintf (response.retry_after, sizeof response.retry_after,
                          "%.15s", line + 13);
            else if (strncasecmp (line, "traceparent: ", 13) == 0)
                snprintf (response.traceparent, sizeof response.traceparent,
                          "%.63s", line + 13);
        }
        else if (!response.body)
            response.body = json_loads (line, JSON_DECODE_ANY, NULL);
    }
    cr_assert (eq (int, child_reap (&curl, 10000), 0), "curl failed");
    return response;
}

http_t
http_request (int port, const char *method, const char *path,
              const char *body, const char *correlation)
{
    return http_request_to (NULL, port, method, path, body, correlation);
}
