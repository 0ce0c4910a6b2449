/*
 * fuzz_unpack - libFuzzer target for the archive intake (spoold/unpack.c,
 * libarchive underneath): the input is an archive (.tar, .tar.gz,
 * .tar.zst, .zip: libarchive sniffs the format) in a memfd, the JSONL
 * goes to another memfd.  Nothing touches the file system.  Besides the
 * sanitizers, it checks that a success writes whole lines only.
 * unpack_dir reads a directory, not bytes, and is not fuzzed.
 */
#include <sys/mman.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unpack.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int in_fd = -1, out_fd = -1;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unpack_limits lim;
	struct unpack_report rep;
	struct err err;
	char last;
	off_t end;
	int r;

	if (in_fd == -1) {
		in_fd = memfd_create("fuzz-in", MFD_CLOEXEC);
		out_fd = memfd_create("fuzz-out", MFD_CLOEXEC);
		SPOOL_ASSERT(in_fd != -1 && out_fd != -1);
	}
	SPOOL_ASSERT(ftruncate(in_fd, 0) == 0 && ftruncate(out_fd, 0) == 0);
	SPOOL_ASSERT(write_full(in_fd, data, size) == 0);
	SPOOL_ASSERT(lseek(in_fd, 0, SEEK_SET) == 0 &&
	    lseek(out_fd, 0, SEEK_SET) == 0);

	unpack_limits_default(&lim);
	/* A smaller cap keeps a bomb from spending the run on writes;
	 * the ratio bound is the default's. */
	lim.max_bytes = 16 << 20;
	memset(&err, 0, sizeof(err));
	r = unpack_archive(in_fd, out_fd, &lim, &rep, &err);
	if (r == -1) {
		SPOOL_ASSERT(err.code[0] != '\0');
	} else {
		SPOOL_ASSERT(r == 0);
		end = lseek(out_fd, 0, SEEK_CUR);
		SPOOL_ASSERT(end >= 0 && (uint64_t)end <= lim.max_bytes);
		if (end > 0) {
			SPOOL_ASSERT(pread_full(out_fd, &last, 1, end - 1) ==
			    1);
			SPOOL_ASSERT(last == '\n');
		}
	}
	unpack_report_release(&rep);
	return 0;
}
