/*
 * ops - spoolctl's operator commands over the spool's files (SPEC §6):
 * ls, show, watch, hold, release, purge.  They need no running daemon;
 * hold and release leave or remove new/BATCH.hold, which the daemon
 * owning BATCH acts on.  Each prints its own diagnostics and returns a
 * sysexits(3) code.
 */
#ifndef SPOOLD_OPS_H
#define SPOOLD_OPS_H

struct spool;

int	ops_status(struct spool *sp, int argc, char **argv);
int	ops_ls(struct spool *sp, int argc, char **argv);
int	ops_show(struct spool *sp, int argc, char **argv);
int	ops_watch(struct spool *sp, int argc, char **argv);
int	ops_hold(struct spool *sp, int argc, char **argv);
int	ops_release(struct spool *sp, int argc, char **argv);
int	ops_purge(struct spool *sp, int argc, char **argv);

#endif
