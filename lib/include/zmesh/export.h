/*  zmesh/export.h - marks the functions of the public API.

    libzmesh is built with hidden visibility: only what is declared with
    ZMESH_EXPORT in these headers is exported from the shared library;
    everything else in it stays internal.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_EXPORT_H_INCLUDED
#define ZMESH_EXPORT_H_INCLUDED

#if defined (__GNUC__) || defined (__clang__)
#   define ZMESH_EXPORT __attribute__ ((visibility ("default")))
#else
#   define ZMESH_EXPORT
#endif

#endif
