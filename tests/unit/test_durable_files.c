// SPDX-License-Identifier: GPL-2.0
/*
 * test_durable_files: a detached header file is the only sealed DEK, a
 * header backup the way back from a damaged header. Both must survive a
 * power cut right after vxts returns: the file fsynced AND its directory
 * (else the directory entry can be lost). This binary defines fsync() itself,
 * which the statically linked library then calls, to see which descriptors
 * get synced. Neither file may be created through a symbolic link. A new
 * header file must never be visible under its name shorter than its area: a
 * kill there used to leave a 0-byte file that read as a corrupt header.
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
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/vol_fixture.h"

static char d_dir[256];
static struct stat d_synced[64];	/* what fsync() saw, in order */
static int d_nsynced;

/* Interposes libc's fsync for the whole binary (and so for libvxts.a). */
int fsync(int fd)
{
	if (d_nsynced < 64 && !fstat(fd, &d_synced[d_nsynced]))
		d_nsynced++;
	return (int)syscall(SYS_fsync, fd);
}

/* Was @path (file or directory) fsynced since the last d_watch()? */
/*
 * Interposes ftruncate: when the library sizes a file, the watched header
 * path must not already name a short file (it must appear whole, later).
 */
static const char *d_whole_path;
static int d_short_seen;

int ftruncate(int fd, off_t len)
{
	struct stat st;

	if (d_whole_path && !stat(d_whole_path, &st) && st.st_size < len)
		d_short_seen++;
	return (int)syscall(SYS_ftruncate, fd, len);
}

static bool d_was_synced(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	for (int i = 0; i < d_nsynced; i++)
		if (d_synced[i].st_dev == st.st_dev && d_synced[i].st_ino == st.st_ino)
			return true;
	return false;
}

static void d_watch(void)
{
	d_nsynced = 0;
}

static const char *d_path(char *buf, const char *name)
{
	snprintf(buf, 512, "%s/%s", d_dir, name);
	return buf;
}

static void d_make_device(const char *path)
{
	char cmd[700];

	assert_int_equal(truncate(path, 0) && errno != ENOENT, 0);
	snprintf(cmd, sizeof(cmd), "truncate -s 8M %s", path);
	assert_int_equal(system(cmd), 0);
}

static void header_file_durable(void **state)
{
	char dev[512], hdr[512];
	struct vxts_format_opts o = { .plaintext = true, .force = true,
				      .header = d_path(hdr, "d.hdr") };
	struct fx f;

	fx_init(&f, 4096, 4096, false, 51);
	d_make_device(d_path(dev, "d.img"));
	unlink(hdr);
	d_watch();
	assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	assert_true(d_was_synced(hdr));
	assert_true(d_was_synced(d_dir));
	unlink(hdr);
	unlink(dev);
	fx_free(&f);
}

static void backup_durable(void **state)
{
	char dev[512], hdr[512], bak[512];
	struct vxts_format_opts o = { .plaintext = true, .force = true,
				      .header = d_path(hdr, "b.hdr") };
	struct vxts_volume *v;
	struct fx f;

	fx_init(&f, 4096, 4096, false, 52);
	d_make_device(d_path(dev, "b.img"));
	unlink(d_path(bak, "b.bak"));
	assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	assert_int_equal(vxts_open(dev, hdr, VXTS_OPEN_READONLY, &v), 0);
	d_watch();
	assert_int_equal(vxts_header_backup(v, bak), 0);
	vxts_close(v);
	assert_true(d_was_synced(bak));
	assert_true(d_was_synced(d_dir));
	unlink(bak);
	unlink(hdr);
	unlink(dev);
	fx_free(&f);
}

/* Killed at any point of creating the header file: no short file by its name. */
static void header_file_appears_whole(void **state)
{
	char dev[512], hdr[512];
	struct vxts_format_opts o = { .plaintext = true, .force = true,
				      .header = d_path(hdr, "w.hdr") };
	struct stat st;
	struct fx f;

	fx_init(&f, 4096, 4096, false, 54);
	d_make_device(d_path(dev, "w.img"));
	unlink(hdr);
	d_whole_path = hdr;
	d_short_seen = 0;
	assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	d_whole_path = NULL;
	assert_int_equal(d_short_seen, 0);
	assert_int_equal(stat(hdr, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	unlink(hdr);
	unlink(dev);
	fx_free(&f);
}

/* A planted symlink must not redirect where the sealed key is written. */
static void header_symlink_refused(void **state)
{
	char dev[512], hdr[512], victim[512];
	struct vxts_format_opts o = { .plaintext = true, .force = true,
				      .header = d_path(hdr, "s.hdr") };
	struct stat st;
	struct fx f;
	int fd;

	fx_init(&f, 4096, 4096, false, 53);
	d_make_device(d_path(dev, "s.img"));
	fd = open(d_path(victim, "victim"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
	unlink(hdr);
	assert_int_equal(symlink(victim, hdr), 0);
	assert_int_equal(vxts_format(dev, &o, &f.kek), -ELOOP);
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_size, 0);
	unlink(hdr);
	unlink(victim);
	unlink(dev);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_file_durable),
		cmocka_unit_test(backup_durable),
		cmocka_unit_test(header_symlink_refused),
		cmocka_unit_test(header_file_appears_whole),
	};
	const char *tmp = getenv("VXTS_TEST_TMP");

	snprintf(d_dir, sizeof(d_dir), "%s", tmp ? tmp : "/tmp");
	return cmocka_run_group_tests_name("durable_files", tests, NULL, NULL);
}
