// SPDX-License-Identifier: GPL-2.0
/*
 * test_dev_psync: the IO seam on a memory-backed file (dev_uring.c's psync
 * path). A tmpfs file must be detected as memory-backed and served without
 * the ring; queued IOs complete oldest first, one per reap; rw_sync moves
 * whole transfers from any thread; reading past the end is -EIO, not a
 * silent short read. Skipped when the scratch directory is not on tmpfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <cmocka.h>

#include "dev.h"

#define P_SIZE (4u << 20)

static char p_file[512];

static struct vxts_dev *p_open(void)
{
	const char *tmp = getenv("VXTS_TEST_TMP");
	struct vxts_dev *d;
	struct statfs sf;
	int fd;

	snprintf(p_file, sizeof(p_file), "%s/psync.img", tmp ? tmp : "/dev/shm");
	fd = open(p_file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, P_SIZE), 0);
	assert_int_equal(fstatfs(fd, &sf), 0);
	close(fd);
	if (sf.f_type != 0x01021994) {	/* TMPFS_MAGIC */
		unlink(p_file);
		return NULL;
	}
	assert_int_equal(vxts_dev_uring_open(p_file, true, false, 8, &d), 0);
	return d;
}

/* Eight 4 KiB writes queued, reaped one at a time in queue order, then read back. */
static void queued_io_in_order(void **state)
{
	struct vxts_dev *d = p_open();
	uint8_t *buf = aligned_alloc(4096, 8 * 4096), *back = aligned_alloc(4096, 8 * 4096);
	struct vxts_io io[8], *out[8];

	if (!d)
		skip();
	assert_true(d->mem_backed);
	assert_non_null(d->ops->rw_sync);
	for (int i = 0; i < 8; i++) {
		memset(buf + i * 4096, 'a' + i, 4096);
		io[i] = (struct vxts_io){ .op = VXTS_IO_WRITE, .buf = buf + i * 4096, .len = 4096,
					  .off = (uint64_t)(7 - i) * 4096, .buf_index = -1 };
		assert_int_equal(d->ops->queue(d, &io[i]), 0);
	}
	assert_int_equal(d->ops->submit(d), 0);
	/* Nothing completes without a waiting reap: IO happens in the reap. */
	assert_int_equal(d->ops->reap(d, out, 8, false), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(d->ops->reap(d, out, 8, true), 1);
		assert_ptr_equal(out[0], &io[i]);
		assert_int_equal(vxts_io_finish(out[0]), 1);
	}
	assert_int_equal(vxts_dev_rw(d, VXTS_IO_READ, back, 8 * 4096, 0), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(back[(7 - i) * 4096 + 100], 'a' + i);
	vxts_dev_close(d);
	unlink(p_file);
	free(buf);
	free(back);
}

struct p_arg {
	struct vxts_dev *d;
	uint8_t *buf;
	uint64_t off;
	int r;
};

static void *p_thread(void *arg)
{
	struct p_arg *a = arg;

	a->r = a->d->ops->rw_sync(a->d, VXTS_IO_READ, a->buf, 1u << 20, a->off);
	return NULL;
}

/* Workers read whole chunks concurrently; past the end is -EIO. */
static void rw_sync_threads_and_eof(void **state)
{
	struct vxts_dev *d = p_open();
	uint8_t *src = aligned_alloc(4096, P_SIZE), *dst = aligned_alloc(4096, P_SIZE);
	struct p_arg a[4];
	pthread_t t[4];

	if (!d)
		skip();
	for (size_t i = 0; i < P_SIZE; i++)
		src[i] = (uint8_t)(i * 7 + (i >> 12));
	assert_int_equal(d->ops->rw_sync(d, VXTS_IO_WRITE, src, P_SIZE, 0), 0);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct p_arg){ .d = d, .buf = dst + ((size_t)i << 20),
				       .off = (uint64_t)i << 20 };
		assert_int_equal(pthread_create(&t[i], NULL, p_thread, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].r, 0);
	}
	assert_memory_equal(src, dst, P_SIZE);
	assert_int_equal(d->ops->rw_sync(d, VXTS_IO_READ, dst, 8192, P_SIZE - 4096), -EIO);
	vxts_dev_close(d);
	unlink(p_file);
	free(src);
	free(dst);
}

/* The ring can still be had on tmpfs (test_uring_fail relies on it). */
static void ring_on_request(void **state)
{
	struct vxts_dev *d = p_open();

	if (!d)
		skip();
	vxts_dev_close(d);
	assert_int_equal(vxts_dev_uring_open_ring(p_file, true, false, 8, &d), 0);
	assert_null(d->ops->rw_sync);
	assert_non_null(d->ops->register_buffers);
	vxts_dev_close(d);
	unlink(p_file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(queued_io_in_order),
		cmocka_unit_test(rw_sync_threads_and_eof),
		cmocka_unit_test(ring_on_request),
	};

	return cmocka_run_group_tests_name("dev_psync", tests, NULL, NULL);
}
