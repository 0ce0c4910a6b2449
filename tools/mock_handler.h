/*
 * mock_handler - the libmicrohttpd callbacks of spool-mockllm, which
 * answer one request each: read the body, decide the answer from the
 * options, headers and body, then send it at once, after a delay (by
 * mock_timer), or with a fault (reset, truncated body, hang).
 */
#ifndef SPOOLD_MOCK_HANDLER_H
#define SPOOLD_MOCK_HANDLER_H

#include <stddef.h>

#include <microhttpd.h>

/* MHD's access handler (MHD_AccessHandlerCallback); cls unused. */
enum MHD_Result	handler_request(void *cls, struct MHD_Connection *c,
		    const char *url, const char *method, const char *version,
		    const char *upload, size_t *upsz, void **rcls);
/* MHD_OPTION_NOTIFY_COMPLETED: accounts for a request the client left,
 * and frees the request's state. */
void		handler_completed(void *cls, struct MHD_Connection *c,
		    void **rcls, enum MHD_RequestTerminationCode toe);

#endif
