/*
 * mock_faults - picks the failure a request is scripted or drawn to get:
 * by model name (fail-CODE, flaky-N, slow-MS, redirect, reset-N,
 * truncate-N, hang-N), by X-Mock-Fault, or at random by the --*-rate
 * options.  flaky-N and the -N faults count requests per custom id
 * (else per body) across the whole run.  Thread-safe.
 */
#ifndef SPOOLD_MOCK_FAULTS_H
#define SPOOLD_MOCK_FAULTS_H

#include <stddef.h>

#include "mock.h"

void		faults_free(void);
/* The fault named by the len bytes at s, case-insensitive, or
 * FAULT_NONE. */
enum fault	faults_by_name(const char *s, size_t len);
/* Applies what model scripts for request r to o. */
void		faults_script_model(const char *model, const struct req *r,
		    struct out *o);
/* Draws the random errors and faults of the --*-rate options into o. */
void		faults_inject(struct out *o);

#endif
