/*  http.h - HTTP requests with curl, for the integration suites.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_TEST_HTTP_H_INCLUDED
#define ZMESH_TEST_HTTP_H_INCLUDED

#include <jansson.h>

typedef struct {
    int status;
    char correlation [64];      //  X-Correlation-ID
    char retry_after [16];      //  Retry-After
    char traceparent [64];      //  traceparent
    json_t *body;               //  Owned, or NULL
} http_t;

//  One request to 127.0.0.1:port (or host:port, when host is not NULL)
//  with curl, run as a child process; body and correlation may be NULL.
http_t
    http_request_to (const char *host, int port, const char *method,
                     const char *path, const char *body,
                     const char *correlation);

//  The same with one more header ("Name: value", or NULL) in place of the
//  correlation.
http_t
    http_request_with (const char *host, int port, const char *method,
                       const char *path, const char *body,
                       const char *header);

//  The same to 127.0.0.1.
http_t
    http_request (int port, const char *method, const char *path,
                  const char *body, const char *correlation);

#endif
