/*  main.c - zmesh-inventory, the inventory node of the demo mesh.

    Part of zmesh. MIT License.
*/
#include "inventory.h"

int
main (int argc, char *argv [])
{
    return service_main (&inventory_service, argc, argv);
}
