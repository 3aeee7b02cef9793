/*  new_assert.h - criterion's new assertions, with gt mended.

    In C, criterion 2.4.1 (Debian 12's) makes gt (Tag, a, b) the test
    !(a < b), that is a >= b (internal/assert/op.h, CRI_BINOP_T_GT): so
    "gt (int, count, 0)" passes with a count of 0. Every suite includes
    this header in place of <criterion/new/assert.h>, and gt here is what
    it says: not a <= b. The other comparisons are right as they are.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_TESTS_NEW_ASSERT_H_INCLUDED
#define ZMESH_TESTS_NEW_ASSERT_H_INCLUDED

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#undef gt
#define gt(Tag, Actual, Reference) not (le (Tag, Actual, Reference))

#endif
