// SPDX-License-Identifier: GPL-2.0
/*
 * test_header_restore: `header restore` must not make things worse. It
 * writes copy 2 and syncs before touching copy 1 (a cut leaves one whole
 * copy); it refuses a backup from before a re-key (its slots open a DEK the
 * data no longer uses) and a backup taken mid-conversion unless forced.
 * This binary defines fdatasync() itself, which the statically linked
 * library then calls, to look at the header file at each sync.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "header.h"
#include "helpers/vol_fixture.h"

#define R_DEV_SIZE (1u << 20)

static char r_dir[256];
static const char *r_watch;		/* header file to look at on each sync */
static uint8_t r_backup[VXTS_HDR_COPY_SIZE];
static char r_seen[8];			/* per sync: which copies equal the backup */
static int r_nseen;

/* Interposes libc's fdatasync for the whole binary (and so for libvxts.a). */
int fdatasync(int fd)
{
	uint8_t b[2 * VXTS_HDR_COPY_SIZE];
	int r = (int)syscall(SYS_fdatasync, fd);
	int hfd;

	if (!r_watch || r_nseen >= (int)sizeof(r_seen))
		return r;
	hfd = open(r_watch, O_RDONLY);
	if (hfd >= 0 && pread(hfd, b, sizeof(b), 0) == (ssize_t)sizeof(b))
		r_seen[r_nseen++] = (char)((memcmp(b, r_backup, sizeof(r_backup)) ? 0 : 1) |
					   (memcmp(b + VXTS_HDR_COPY_SIZE, r_backup,
						   sizeof(r_backup)) ? 0 : 2));
	if (hfd >= 0)
		close(hfd);
	return r;
}

static const char *r_path(char *buf, const char *name)
{
	snprintf(buf, 512, "%s/%s", r_dir, name);
	return buf;
}

/* A 1 MiB device with a detached header, unlocked. */
static struct vxts_volume *r_volume(struct fx *f, const char *dev, const char *hdr)
{
	struct vxts_format_opts o = { .plaintext = true, .force = true, .header = hdr };
	struct vxts_volume *v;

	unlink(hdr);
	assert_int_equal(close(open(dev, O_WRONLY | O_CREAT | O_TRUNC, 0600)), 0);
	assert_int_equal(truncate(dev, R_DEV_SIZE), 0);
	assert_int_equal(vxts_format(dev, &o, &f->kek), 0);
	assert_int_equal(vxts_open(dev, hdr, 0, &v), 0);
	assert_int_equal(vxts_unlock(v, &f->kek), 0);
	return v;
}

static void r_backup_of(struct vxts_volume *v, const char *bak)
{
	int fd;

	unlink(bak);
	assert_int_equal(vxts_header_backup(v, bak), 0);
	fd = open(bak, O_RDONLY);
	assert_int_equal(read(fd, r_backup, sizeof(r_backup)), (ssize_t)sizeof(r_backup));
	close(fd);
}

static void restore_writes_copy2_first(void **state)
{
	char dev[512], hdr[512], bak[512];
	struct vxts_volume *v;
	struct fx f;

	fx_init(&f, 4096, 4096, false, 71);
	v = r_volume(&f, r_path(dev, "w.img"), r_path(hdr, "w.hdr"));
	r_backup_of(v, r_path(bak, "w.bak"));
	assert_true(vxts_keyslot_add(v, &f.kek2, NULL, -1) > 0);	/* header moves on */
	vxts_close(v);
	r_watch = hdr;
	r_nseen = 0;
	assert_int_equal(vxts_header_restore(dev, hdr, bak), 0);
	r_watch = NULL;
	assert_int_equal(r_nseen, 2);
	assert_int_equal(r_seen[0], 2);		/* first sync: only copy 2 restored */
	assert_int_equal(r_seen[1], 3);		/* then both */
	unlink(dev);
	unlink(hdr);
	unlink(bak);
	fx_free(&f);
}

static void prerekey_backup_refused(void **state)
{
	struct vxts_convert_opts co = { .window_size = 256 << 10, .threads = 1 };
	char dev[512], hdr[512], bak[512];
	struct vxts_volume *v;
	struct fx f;

	fx_init(&f, 4096, 4096, false, 72);
	v = r_volume(&f, r_path(dev, "k.img"), r_path(hdr, "k.hdr"));
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
	assert_int_equal(vxts_convert(v, &co), 0);
	r_backup_of(v, r_path(bak, "k.bak"));
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_REENCRYPT, &co, &f.kek, 1), 0);
	assert_int_equal(vxts_convert(v, &co), 0);
	vxts_close(v);
	assert_int_equal(vxts_header_restore(dev, hdr, bak), -ESTALE);
	assert_non_null(strstr(vxts_error_detail(), "re-keyed"));
	assert_int_equal(vxts_header_restore_flags(dev, hdr, bak, VXTS_RESTORE_FORCE), -ESTALE);
	unlink(dev);
	unlink(hdr);
	unlink(bak);
	fx_free(&f);
}

/* The live header is gone: a mid-conversion backup only when forced. */
static void inprogress_backup_needs_force(void **state)
{
	struct vxts_convert_opts co = { .window_size = 256 << 10, .threads = 1 };
	char dev[512], hdr[512], bak[512];
	uint8_t zero[2 * VXTS_HDR_COPY_SIZE] = { 0 };
	struct vxts_volume *v;
	struct fx f;
	int fd;

	fx_init(&f, 4096, 4096, false, 73);
	v = r_volume(&f, r_path(dev, "p.img"), r_path(hdr, "p.hdr"));
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
	r_backup_of(v, r_path(bak, "p.bak"));
	vxts_close(v);
	fd = open(hdr, O_WRONLY);
	assert_int_equal(pwrite(fd, zero, sizeof(zero), 0), (ssize_t)sizeof(zero));
	close(fd);
	assert_int_equal(vxts_header_restore(dev, hdr, bak), -ESTALE);
	assert_non_null(strstr(vxts_error_detail(), "middle of encrypt"));
	assert_int_equal(vxts_header_restore_flags(dev, hdr, bak, VXTS_RESTORE_FORCE), 0);
	assert_int_equal(vxts_open(dev, hdr, VXTS_OPEN_READONLY, &v), 0);
	vxts_close(v);
	unlink(dev);
	unlink(hdr);
	unlink(bak);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(restore_writes_copy2_first),
		cmocka_unit_test(prerekey_backup_refused),
		cmocka_unit_test(inprogress_backup_needs_force),
	};
	const char *tmp = getenv("VXTS_TEST_TMP");

	snprintf(r_dir, sizeof(r_dir), "%s", tmp ? tmp : "/tmp");
	return cmocka_run_group_tests_name("header_restore", tests, NULL, NULL);
}
