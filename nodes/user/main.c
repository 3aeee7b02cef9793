/*  main.c - zmesh-user, the user node of the demo mesh.

    Part of zmesh. MIT License.
*/
#include "user.h"

int
main (int argc, char *argv [])
{
    return service_main (&user_service, argc, argv);
}
