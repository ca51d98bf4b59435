// SPDX-License-Identifier: GPL-2.0
/*
 * test_uring_fail: io_uring_submit() failing. The engine frees the buffers
 * of everything it queued once submit reports failure, so the device must
 * (a) wait out IOs the kernel already took before it returns, and (b) never
 * hand the queued-but-unsubmitted SQEs (pointing at freed memory) to the
 * kernel later. This binary defines io_uring_submit() itself, which the
 * statically linked library then calls, to fail it on demand.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dev.h"

#define F_SIZE (1u << 20)

enum f_mode { F_PASS, F_FAIL_AFTER, F_FAIL_BEFORE };

static enum f_mode f_mode;
static char f_file[512];

/* Interposes liburing's submit: after (kernel has the IOs) or before it. */
int io_uring_submit(struct io_uring *ring)
{
	static int (*real)(struct io_uring *);
	enum f_mode m = f_mode;
	int r;

	if (!real)
		real = (int (*)(struct io_uring *))dlsym(RTLD_NEXT, "io_uring_submit");
	f_mode = F_PASS;
	if (m == F_FAIL_BEFORE)
		return -EBUSY;
	r = real(ring);
	return m == F_FAIL_AFTER ? -EIO : r;
}

static struct vxts_dev *f_open(void)
{
	const char *tmp = getenv("VXTS_TEST_TMP");
	struct vxts_dev *d;
	int fd;

	snprintf(f_file, sizeof(f_file), "%s/uring.img", tmp ? tmp : "/tmp");
	fd = open(f_file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, F_SIZE), 0);
	close(fd);
	assert_int_equal(vxts_dev_uring_open_ring(f_file, true, false, 8, &d), 0);
	return d;
}

/* Queues four 4 KiB IOs of @op at 0, 4K, 8K, 12K over @buf. */
static void f_queue4(struct vxts_dev *d, struct vxts_io *io, enum vxts_io_op op, uint8_t *buf)
{
	for (int i = 0; i < 4; i++) {
		io[i] = (struct vxts_io){ .op = op, .buf = buf + i * 4096, .len = 4096,
					  .off = (uint64_t)i * 4096, .buf_index = -1 };
		assert_int_equal(d->ops->queue(d, &io[i]), 0);
	}
}

/* The kernel took the IOs, then submit failed: they are waited out inside. */
static void submitted_ios_drained(void **state)
{
	struct vxts_dev *d = f_open();
	uint8_t *buf = aligned_alloc(4096, 4 * 4096);
	struct vxts_io io[4], *out[8];

	f_queue4(d, io, VXTS_IO_READ, buf);
	f_mode = F_FAIL_AFTER;
	assert_int_equal(d->ops->submit(d), -EIO);
	/* Nothing may complete after the failure was reported. */
	assert_true(d->ops->reap(d, out, 8, false) <= 0);
	vxts_dev_close(d);
	free(buf);
	unlink(f_file);
}

/* Submit failed before the kernel saw them: they must never reach it. */
static void queued_ios_never_submitted(void **state)
{
	struct vxts_dev *d = f_open();
	uint8_t *buf = aligned_alloc(4096, 4 * 4096), *back = aligned_alloc(4096, 4096);
	struct vxts_io io[4];
	int fd;

	memset(buf, 'A', 4 * 4096);
	f_queue4(d, io, VXTS_IO_WRITE, buf);
	f_mode = F_FAIL_BEFORE;
	assert_int_equal(d->ops->submit(d), -EBUSY);
	/* The next user of the device (a header read, say) submits again. */
	assert_int_equal(vxts_dev_rw(d, VXTS_IO_READ, back, 4096, F_SIZE - 4096), -EIO);
	vxts_dev_close(d);
	fd = open(f_file, O_RDONLY);
	assert_int_equal(pread(fd, back, 4096, 0), 4096);
	close(fd);
	for (int i = 0; i < 4096; i++)
		if (back[i])
			fail_msg("a write queued before the failed submit reached the file");
	free(buf);
	free(back);
	unlink(f_file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(submitted_ios_drained),
		cmocka_unit_test(queued_ios_never_submitted),
	};

	return cmocka_run_group_tests_name("uring_fail", tests, NULL, NULL);
}
