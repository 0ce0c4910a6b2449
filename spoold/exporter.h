/*
 * exporter - serves the metrics text over HTTP (libmicrohttpd, driven
 * by the caller's event loop: no thread) and writes it to a
 * node_exporter textfile.  It knows nothing of what it exports: the
 * caller's render callback produces the text on demand.
 */
#ifndef SPOOLD_EXPORTER_H
#define SPOOLD_EXPORTER_H

#include <stdint.h>

#include "buf.h"
#include "loop.h"

struct exporter;

/* Appends the exposition text to out. */
typedef void exporter_render_cb(struct buf *out, void *arg);

/*
 * Starts serving GET /metrics on listen (see config_listen_addr; NULL:
 * not served) and writing textfile (an absolute path; NULL: none) every
 * interval_ms.  Returns owned, or NULL with errno when the address
 * cannot be bound or the textfile's directory opened (logged).
 */
struct exporter	*exporter_new(struct loop *l, const char *listen,
		    const char *textfile, uint64_t interval_ms,
		    exporter_render_cb *render, void *arg);
/* Writes the textfile now (at exit, for the last figures).  0 or -1
 * with errno; nothing to do is 0. */
int		 exporter_write(struct exporter *e);
void		 exporter_free(struct exporter *e);

#endif
