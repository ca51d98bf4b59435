// SPDX-License-Identifier: GPL-2.0
/*
 * test_secmem: key memory is zeroed, locked (VmLck, smaps "lo"), kept out of
 * core dumps (smaps "dd"), wiped before it is unmapped, and refused rather
 * than handed out unlocked when the memlock limit is hit.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#include "secmem.h"

/*
 * The library is linked statically into this binary, so this definition
 * takes the place of libc's munmap for it: it records whether the pages
 * were all zero at the moment they were given back, then unmaps for real.
 */
static void *ts_watch;
static int ts_unmapped_clean = -1;

int munmap(void *addr, size_t len)
{
	if (addr == ts_watch) {
		const uint8_t *p = addr;
		uint8_t acc = 0;

		for (size_t i = 0; i < len; i++)
			acc |= p[i];
		ts_unmapped_clean = acc == 0;
	}
	return (int)syscall(SYS_munmap, addr, len);
}

/* kB of locked memory of this process, from /proc/self/status. */
static long ts_vmlck_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	assert_true(kb >= 0);
	return kb;
}

/* The VmFlags line of the smaps entry that contains @p. */
static void ts_vmflags(const void *p, char *out, size_t len)
{
	uintptr_t a = (uintptr_t)p, lo, hi;
	char line[512];
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	assert_non_null(f);
	out[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = a >= lo && a < hi;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(out, len, "%s", line + 8);
			break;
		}
	}
	fclose(f);
	assert_true(out[0]);
}

static bool ts_has_flag(const char *flags, const char *flag)
{
	char padded[8];

	snprintf(padded, sizeof(padded), " %s ", flag);
	return strstr(flags, padded) != NULL;
}

static void test_zeroed(void **state)
{
	static const size_t sizes[] = { 1, 64, 4095, 4096, 4097, 100000 };

	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		uint8_t *p = vxts_secure_alloc(sizes[s]);

		assert_non_null(p);
		for (size_t i = 0; i < sizes[s]; i++)
			assert_int_equal(p[i], 0);
		memset(p, 0xa5, sizes[s]);
		vxts_secure_free(p, sizes[s]);
	}
}

static void test_locked_and_undumpable(void **state)
{
	const size_t len = 256 << 10;
	long before = ts_vmlck_kb(), during, after;
	char flags[512];
	void *p = vxts_secure_alloc(len);

	assert_non_null(p);
	during = ts_vmlck_kb();
	assert_true(during - before >= (long)(len >> 10));
	ts_vmflags(p, flags, sizeof(flags));
	print_message("# VmLck %ld -> %ld kB, VmFlags:%s", before, during, flags);
	assert_true(ts_has_flag(flags, "lo"));
	assert_true(ts_has_flag(flags, "dd"));
	vxts_secure_free(p, len);
	after = ts_vmlck_kb();
	assert_int_equal(after, before);
}

static void test_wiped_before_unmap(void **state)
{
	const size_t len = 10000;	/* not a page multiple: the slack is wiped too */
	uint8_t *p = vxts_secure_alloc(len);

	assert_non_null(p);
	memset(p, 0x77, 3 * 4096);	/* a caller scribbling into the slack */
	ts_watch = p;
	ts_unmapped_clean = -1;
	vxts_secure_free(p, len);
	ts_watch = NULL;
	assert_int_equal(ts_unmapped_clean, 1);
}

static void test_wipe_and_edges(void **state)
{
	uint8_t buf[100];

	memset(buf, 0xff, sizeof(buf));
	vxts_wipe(buf, 50);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], i < 50 ? 0 : 0xff);
	vxts_wipe(NULL, 10);
	vxts_secure_free(NULL, 10);
	errno = 0;
	assert_null(vxts_secure_alloc(0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(vxts_secure_alloc(SIZE_MAX));
	assert_int_not_equal(errno, 0);
}

/* Child: drop CAP_IPC_LOCK and the memlock limit, then try to allocate. */
static int ts_child_without_memlock(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	struct rlimit rl = { 0, 0 };
	void *p;

	if (syscall(SYS_capget, &hdr, data))
		return 10;
	data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	if (syscall(SYS_capset, &hdr, data) || setrlimit(RLIMIT_MEMLOCK, &rl))
		return 11;
	errno = 0;
	p = vxts_secure_alloc(4096);
	if (p)
		return 1;	/* handed out memory it could not lock */
	return errno == ENOMEM ? 0 : 2;
}

static void test_refuses_when_unlockable(void **state)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(ts_child_without_memlock());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zeroed),
		cmocka_unit_test(test_locked_and_undumpable),
		cmocka_unit_test(test_wiped_before_unmap),
		cmocka_unit_test(test_wipe_and_edges),
		cmocka_unit_test(test_refuses_when_unlockable),
	};

	return cmocka_run_group_tests_name("secmem", tests, NULL, NULL);
}
