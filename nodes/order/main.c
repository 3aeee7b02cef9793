/*  main.c - zmesh-order, the order node of the demo mesh.

    Part of zmesh. MIT License.
*/
#include "order_service.h"

int
main (int argc, char *argv [])
{
    return service_main (&order_service, argc, argv);
}
