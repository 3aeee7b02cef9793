/*  main.c - zmesh-payment, the payment node of the demo mesh.

    Part of zmesh. MIT License.
*/
#include "payment.h"

int
main (int argc, char *argv [])
{
    return service_main (&payment_service, argc, argv);
}
