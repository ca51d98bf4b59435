// SPDX-License-Identifier: GPL-2.0
/*
 * test_encrypt_guard: vxts_format() for an in-place encrypt must never
 * record ciphertext as plaintext (it would be encrypted twice and lost).
 * Random bytes look like ciphertext, so they are refused without force; a
 * real filesystem is accepted; a vxts header at the device end, or one left
 * below the end by a resize, is refused even with force.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/vol_fixture.h"

#define G_DATA (8u << 20)

static char g_dir[256];

static const char *g_path(char *buf, const char *name)
{
	snprintf(buf, 512, "%s/%s", g_dir, name);
	return buf;
}

/* @n pseudo-random bytes (ciphertext-like), then zeroes up to @size. */
static void g_random_file(const char *path, size_t n, size_t size, uint32_t seed)
{
	uint8_t *b = malloc(n);
	uint64_t x = 0x2545f4914f6cdd1dULL ^ seed;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_non_null(b);
	assert_true(fd >= 0);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)x;
	}
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	free(b);
}

static void g_resize(const char *path, size_t size)
{
	assert_int_equal(truncate(path, (off_t)size), 0);
}

static bool g_mkfs_ext4(const char *path, const char *size)
{
	char cmd[1200];

	if (system("command -v mkfs.ext4 >/dev/null 2>&1"))
		return false;
	snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s %s >/dev/null 2>&1", path, size);
	assert_int_equal(system(cmd), 0);
	return true;
}

static void g_encrypt(const char *dev, const char *hdr, const struct vxts_kek *kek)
{
	struct vxts_convert_opts co = { .window_size = 1 << 20, .threads = 1 };
	struct vxts_volume *v;

	assert_int_equal(vxts_open(dev, hdr, 0, &v), 0);
	assert_int_equal(vxts_unlock(v, kek), 0);
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
	assert_int_equal(vxts_convert(v, &co), 0);
	vxts_close(v);
}

/* Random data, no force: refused, and no header file left behind. */
static void random_refused_without_force(void **state)
{
	char dev[512], hdr[512];
	struct vxts_format_opts o = { .plaintext = true, .header = g_path(hdr, "r.hdr") };
	struct stat st;
	struct fx f;

	fx_init(&f, 4096, 4096, false, 1);
	g_random_file(g_path(dev, "r.img"), G_DATA, G_DATA, 1);
	unlink(hdr);
	assert_int_equal(vxts_format(dev, &o, &f.kek), -EMEDIUMTYPE);
	assert_non_null(strstr(vxts_error_detail(), "no filesystem, partition table"));
	assert_non_null(strstr(vxts_error_detail(), "--force"));
	assert_int_equal(stat(hdr, &st), -1);
	o.force = true;
	assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	assert_int_equal(stat(hdr, &st), 0);
	unlink(dev);
	unlink(hdr);
	fx_free(&f);
}

/* A LUKS signature is evidence of ciphertext, not of plaintext. */
static void luks_signature_refused(void **state)
{
	static const uint8_t luks1[8] = { 'L', 'U', 'K', 'S', 0xba, 0xbe, 0, 1 };
	char dev[512], hdr[512];
	struct vxts_format_opts o = { .plaintext = true, .header = g_path(hdr, "l.hdr") };
	struct fx f;
	int fd;

	fx_init(&f, 4096, 4096, false, 2);
	g_random_file(g_path(dev, "l.img"), G_DATA, G_DATA, 2);
	fd = open(dev, O_WRONLY);
	assert_int_equal(pwrite(fd, luks1, sizeof(luks1), 0), (ssize_t)sizeof(luks1));
	close(fd);
	assert_int_equal(vxts_format(dev, &o, &f.kek), -EMEDIUMTYPE);
	assert_non_null(strstr(vxts_error_detail(), "crypto_LUKS"));
	unlink(dev);
	unlink(hdr);
	fx_free(&f);
}

/* A filesystem is the evidence: accepted without force, both layouts. */
static void ext4_accepted(void **state)
{
	char dev[512], hdr[512];
	struct vxts_format_opts o = { .plaintext = true, .header = g_path(hdr, "e.hdr") };
	struct fx f;

	fx_init(&f, 4096, 4096, false, 3);
	g_random_file(g_path(dev, "e.img"), 0, G_DATA + VXTS_HEADER_AREA_SIZE, 3);
	if (!g_mkfs_ext4(dev, "8M")) {
		fx_free(&f);
		skip();
	}
	assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	unlink(hdr);
	o.header = NULL;
	o.header_at_end = true;
	g_random_file(dev, 0, G_DATA + VXTS_HEADER_AREA_SIZE, 3);
	g_mkfs_ext4(dev, "8M");
	assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	g_encrypt(dev, NULL, &f.kek);
	/* Re-run of the encrypt's first step: the header says encrypted. */
	o.force = true;
	assert_int_equal(vxts_format(dev, &o, &f.kek), -EEXIST);
	assert_non_null(strstr(vxts_error_detail(), "encrypt it twice"));
	unlink(dev);
	fx_free(&f);
}

/* A hand-made MBR with one Linux partition over random data. */
static void g_write_mbr(const char *path)
{
	uint8_t mbr[512] = { 0 };
	uint8_t *e = mbr + 446;
	int fd = open(path, O_WRONLY);

	e[4] = 0x83;				/* Linux */
	e[8] = 0x00, e[9] = 0x08;		/* first LBA 2048 */
	e[12] = 0x00, e[13] = 0x20;		/* 8192 sectors */
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, mbr, sizeof(mbr), 0), (ssize_t)sizeof(mbr));
	close(fd);
}

/* Other evidence than a filesystem: a partition table, a swap signature. */
static void other_signatures_accepted(void **state)
{
	char dev[512], hdr[512], cmd[1200];
	struct vxts_format_opts o = { .plaintext = true, .header = g_path(hdr, "o.hdr") };
	struct fx f;

	fx_init(&f, 4096, 4096, false, 6);
	g_random_file(g_path(dev, "o.img"), G_DATA, G_DATA, 6);
	g_write_mbr(dev);
	assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	unlink(hdr);
	g_random_file(dev, G_DATA, G_DATA, 6);
	snprintf(cmd, sizeof(cmd), "mkswap %s >/dev/null 2>&1", dev);
	if (!system("command -v mkswap >/dev/null 2>&1")) {
		assert_int_equal(system(cmd), 0);
		assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	}
	unlink(hdr);
	unlink(dev);
	fx_free(&f);
}

/* An at-end volume encrypted again with --header: refused even forced. */
static void end_header_refused_with_force(void **state)
{
	char dev[512], hdr[512];
	struct vxts_format_opts at_end = { .plaintext = true, .force = true,
					   .header_at_end = true };
	struct vxts_format_opts o = { .plaintext = true, .force = true,
				      .header = g_path(hdr, "x.hdr") };
	struct stat st;
	struct fx f;

	fx_init(&f, 4096, 4096, false, 4);
	g_random_file(g_path(dev, "x.img"), G_DATA, G_DATA + VXTS_HEADER_AREA_SIZE, 4);
	unlink(hdr);
	assert_int_equal(vxts_format(dev, &at_end, &f.kek), 0);
	g_encrypt(dev, NULL, &f.kek);
	assert_int_equal(vxts_format(dev, &o, &f.kek), -EEXIST);
	assert_non_null(strstr(vxts_error_detail(), "use --header-at-end"));
	assert_int_equal(stat(hdr, &st), -1);
	unlink(dev);
	fx_free(&f);
}

/*
 * The device grew after an at-end encrypt: the old header now sits below
 * the new end area. Refused for either layout, even forced, however the
 * growth is aligned.
 */
static void grown_device_refused(void **state)
{
	static const size_t grow[] = { 4096, 4 << 20, VXTS_HEADER_AREA_SIZE };
	size_t size = G_DATA + VXTS_HEADER_AREA_SIZE;
	char dev[512], hdr[512];
	struct vxts_format_opts at_end = { .plaintext = true, .force = true,
					   .header_at_end = true };
	struct vxts_format_opts o = { .plaintext = true, .force = true,
				      .header = g_path(hdr, "g.hdr") };
	struct fx f;

	fx_init(&f, 4096, 4096, false, 5);
	for (size_t i = 0; i < sizeof(grow) / sizeof(grow[0]); i++) {
		g_random_file(g_path(dev, "g.img"), G_DATA, size, 5);
		assert_int_equal(vxts_format(dev, &at_end, &f.kek), 0);
		g_encrypt(dev, NULL, &f.kek);
		g_resize(dev, size + grow[i]);
		assert_int_equal(vxts_format(dev, &at_end, &f.kek), -EEXIST);
		assert_non_null(strstr(vxts_error_detail(), "grew"));
		assert_int_equal(vxts_format(dev, &o, &f.kek), -EEXIST);
		unlink(hdr);
	}
	/* Grown beyond the scan: no evidence of plaintext, so not without force. */
	g_resize(dev, size + 3 * VXTS_HEADER_AREA_SIZE);
	o.force = false;
	assert_int_equal(vxts_format(dev, &o, &f.kek), -EMEDIUMTYPE);
	unlink(dev);
	unlink(hdr);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_refused_without_force),
		cmocka_unit_test(luks_signature_refused),
		cmocka_unit_test(ext4_accepted),
		cmocka_unit_test(other_signatures_accepted),
		cmocka_unit_test(end_header_refused_with_force),
		cmocka_unit_test(grown_device_refused),
	};
	const char *tmp = getenv("VXTS_TEST_TMP");

	snprintf(g_dir, sizeof(g_dir), "%s", tmp ? tmp : "/tmp");
	return cmocka_run_group_tests_name("encrypt_guard", tests, NULL, NULL);
}
