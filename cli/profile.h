/* profile.h — `--profile FILE.csv`: a sampler thread writes one CSV row every
 * 250 ms and one at the end of each pass (what dask's Profiler and
 * ResourceProfiler give). Columns:
 *
 *   time_s   seconds since the verb started (monotonic clock)
 *   verb     fit, predict, …
 *   pass     the running pass ("stage 2/2 sgd_classifier pass 3" for fit/update,
 *            "pass 1" for one-pass verbs; empty before the first pass)
 *   event    sample (every 250 ms), pass_end (a pass has ended), end (the verb has)
 *   rows     rows read so far, over all passes; empty while not known (predict and
 *            score report their rows at the end of their pass)
 *   mb_read  source MB (1e6 bytes) read so far, over all passes; empty as rows
 *   cpu_pct  user + system CPU time of the process since the previous row, as a
 *            percentage of the wall time since then (200 = two busy cores)
 *   rss_mib  resident set size (/proc/self/statm), MiB
 *
 * One process-wide profiler (the CLI runs one verb); every function is a no-op
 * while it is not started, and thread-safe. Only cli/ uses it: the library does
 * not know about it. */
#ifndef SF_CLI_PROFILE_H
#define SF_CLI_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "streamfit/sf_pipeline.h"

/* Opens path (header row written), starts the sampler. Returns 0, or prints an
 * error and returns EXIT_IO. */
int cli_profile_start(const char *path, const char *verb);
/* Writes the "end" row, stops the sampler, closes the file. */
void cli_profile_stop(void);
/* True between start and stop. */
bool cli_profile_on(void);

/* A pass begins: label (copied); counted = its rows and bytes are added as they
 * are read (cli_profile_add), else they stay unknown until its end. */
void cli_profile_pass_begin(const char *label, bool counted);
/* Rows and bytes read in the current pass (any thread). */
void cli_profile_add(uint64_t rows, uint64_t bytes);
/* The current pass has ended: writes its pass_end row. */
void cli_profile_pass_end(void);
/* fit / update: a progress report of the library (rows and bytes so far in its
 * pass; a new stage or pass begins a new profile pass; done ends it). */
void cli_profile_fit_progress(const sf_progress *p);

#endif
