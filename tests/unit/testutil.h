/*
 * Helpers shared by the cmocka tests. Include after <cmocka.h>.
 * cmocka 1.1's assert_float_equal compares in float (24-bit mantissa), too
 * coarse for byte counts and times; assert_near compares doubles and prints
 * both values and the tolerance when it fails.
 */
#ifndef MOESIM_TESTS_TESTUTIL_H
#define MOESIM_TESTS_TESTUTIL_H

#include <math.h>
#include <stdio.h>

#define assert_near(got, want, tol)                                          \
    do {                                                                     \
        double got_ = (double)(got), want_ = (double)(want);                 \
        double tol_ = (double)(tol);                                         \
        if (!(fabs(got_ - want_) <= tol_)) {                                 \
            fprintf(stderr, "%s:%d: %s = %.17g, expected %.17g +- %g\n",     \
                    __FILE__, __LINE__, #got, got_, want_, tol_);            \
            fail();                                                          \
        }                                                                    \
    } while (0)

#endif
