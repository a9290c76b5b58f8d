/*
 * plan_impl: what the files of the planner share, not part of its
 * interface (sim/plan.h): the helpers one file calls in another.
 *
 *   plan.c             plan_run, plan_result_free; the status and limit
 *                      names
 *   plan_candidates.c  plan_enumerate; the scenario a candidate stands for
 *   plan_eval.c        plan_evaluate (memory, the largest batch, replicas)
 *                      and plan_largest_batch
 *   plan_rank.c        plan_cost, plan_latency, plan_rank (the ranking and
 *                      the Pareto front)
 *   plan_workers.c     evaluating every candidate, in this process or in
 *                      forked workers
 *   plan_report.c      the printed report: the ranked table, the infeasible
 *                      candidates, the recommendation
 *   plan_db.c          the SQLite tables plan_meta and plan_candidate
 *
 * Comments on the functions are at their definitions.
 */
#ifndef MOESIM_SIM_PLAN_IMPL_H
#define MOESIM_SIM_PLAN_IMPL_H

#include <stdio.h>

#include "common/err.h"
#include "scenarios/plan.h"
#include "scenarios/scen.h"
#include "sim/plan.h"

/* ---- plan_candidates.c ------------------------------------------------- */

void plan_candidate_scenario(const scenario *base, const planspec *spec,
                             const plan_candidate *c, scenario *s);

/* ---- plan_workers.c: evaluating every candidate ------------------------ */

/* In this process, one after the other. */
int plan_eval_inline(const scenario *base, const planspec *spec,
                     plan_candidate *c, int n, const plan_opts *o, err_t *e);
int plan_eval_forked(const scenario *base, const planspec *spec,
                     plan_candidate *c, int n, int workers,
                     const plan_opts *o, err_t *e);

/* ---- plan_report.c ----------------------------------------------------- */

/* The target, the ranked table (rows: 0 = all), the infeasible candidates
 * and the recommendation, to out. */
void plan_print_report(FILE *out, const scenario *base,
                       const planspec *spec, const plan_result *r,
                       int rows);

/* ---- plan_db.c --------------------------------------------------------- */

int plan_write_db(const char *path, const scenario *base,
                  const planspec *spec, const plan_result *r,
                  const plan_opts *o, err_t *e);

#endif
