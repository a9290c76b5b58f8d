/*
 * The deepseek-ai/EPLB README example (example.py), shared by the placement
 * tests: 2 layers of 12 experts, 4 groups, 2 nodes, 8 GPUs, 16 replicas,
 * and the phy2log it prints.
 */
#ifndef MOESIM_TESTS_EPLB_README_H
#define MOESIM_TESTS_EPLB_README_H

#include <stdint.h>

static const double readme_load[2 * 12] = {
    90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86,
    20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27};

static const uint32_t readme_phy2log[2][16] = {
    {5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1},
    {7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1}};

#endif
