/*
 * fuzz_config - libFuzzer target for the configuration parser
 * (spoold/config.c, inih underneath): the input is an INI text loaded
 * over the defaults with config_load_string, then config_validate.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	struct err err;
	char *text;
	int i;

	/* config_load_string takes a C string. */
	text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	config_init(&c);
	memset(&err, 0, sizeof(err));
	if (config_load_string(&c, text, &err) == -1) {
		SPOOL_ASSERT(err.msg[0] != '\0');
		goto out;
	}
	/*
	 * config_validate opens an api_key_file to check it: a fuzzed
	 * path could name a FIFO or a tty and hang the run.  A path that
	 * cannot exist keeps the check (and its error path) without
	 * touching the file system.
	 */
	for (i = 0; i < c.nendpoints; i++)
		if (c.endpoints[i].api_key_file != NULL)
			config_set_str(&c.endpoints[i].api_key_file,
			    "/nonexistent/spoold-fuzz/key");
	if (config_validate(&c, &err) == 0) {
		for (i = 0; i < c.nendpoints; i++)
			SPOOL_ASSERT(config_endpoint_index(&c,
			    c.endpoints[i].name) == i);
		(void)config_route(&c, NULL, true);
		(void)config_archive_suffix(c.archive);
	}
out:
	config_release(&c);
	free(text);
	return 0;
}
