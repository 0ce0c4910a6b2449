/*
 * build - `spoolctl build`: a batch from documents and a request template
 * (SPEC §6, spoolctl(1)).  A text document is one request per chunk, a
 * CSV row or a JSONL record one request each, and every request's
 * custom_id names its document and chunk (docid.h), so that `spoolctl
 * collect` can join the results back.
 */
#ifndef SPOOLD_BUILD_H
#define SPOOLD_BUILD_H

/*
 * Runs the command (argv[0] is "build"); spool_dir is the spool for
 * --submit.  Returns a sysexits(3) code.
 */
int	build_main(int argc, char **argv, const char *spool_dir);

#endif
