// SPDX-License-Identifier: GPL-2.0
/*
 * test_convert_api: the volume API around the state machine: wrong keys and
 * forged records write nothing, stop/resume, keyslot rotation, re-key slot
 * handling, torn units detected, and the real io_uring path on files.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cipher.h"
#include "helpers/vol_fixture.h"
#include "kdf.h"
#include "placement.h"

#define T_DATA (512u << 10)
#define T_AREA (256u << 10)

static struct vxts_convert_opts t_co(enum vxts_resilience res)
{
	return (struct vxts_convert_opts){
		.resilience = res, .window_size = 64 << 10, .chunk_size = 16 << 10,
		.queue_depth = 4, .threads = 2,
	};
}

static struct vxts_volume *t_open(struct fx *f, const struct vxts_kek *kek)
{
	struct vxts_volume *v = NULL;

	int r = fx_attach(f, &v);

	if (!r && kek)
		r = vxts_unlock(v, kek);
	if (r)
		fail_msg("open/unlock: %d %s", r, vxts_error_detail());
	return v;
}

static void t_setup(struct fx *f, uint32_t seed)
{
	struct vxts_format_opts o = { .plaintext = true, .force = true };

	fx_init(f, T_DATA, T_AREA, false, seed);
	assert_int_equal(fx_format(f, &o), 0);
}

/* Data area decrypts (or reads) to the original under @kek's current key. */
static void t_check_plain(struct fx *f, const struct vxts_kek *kek, bool encrypted)
{
	struct vxts_volume *v = t_open(f, kek);
	uint8_t key[VXTS_KEY_BYTES], sha[32];
	struct vxts_info in;

	assert_int_equal(vxts_volume_key(v, VXTS_KEY_CURRENT, key), 0);
	vxts_info(v, &in);
	vxts_close(v);
	assert_int_equal(in.direction, VXTS_DIR_NONE);
	fx_plain_sha(f, encrypted, key, in.unit_size, in.iv_offset, sha);
	assert_memory_equal(sha, f->plain_digest, 32);
}

static void wrong_key_writes_nothing(void **state)
{
	struct vxts_convert_opts co = t_co(VXTS_RESILIENCE_CHECKSUM);
	struct vxts_volume *v;
	struct fx f;

	t_setup(&f, 11);
	fault_ctl_reset(&f.ctl);
	v = t_open(&f, NULL);
	assert_int_equal(vxts_unlock(v, &f.kek2), -EPERM);
	assert_non_null(strstr(vxts_error_detail(), "no keyslot"));
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), -EPERM);
	assert_int_equal(vxts_convert(v, &co), -EPERM);
	assert_int_equal(vxts_keyslot_add(v, &f.kek2, NULL, -1), -EPERM);
	vxts_close(v);
	assert_int_equal(f.ctl.writes, 0);
	fx_free(&f);
}

/* Crash inside a window (the header names it), then tamper with its record. */
static void t_crash_in_window(struct fx *f, enum vxts_resilience res, struct vxts_info *in)
{
	struct vxts_convert_opts co = t_co(res);
	struct vxts_volume *v;

	for (long n = 8;; n++) {
		fx_restore(f);
		fault_ctl_reset(&f->ctl);
		f->ctl.fail_at = n;
		v = t_open(f, &f->kek);
		assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
		assert_int_not_equal(vxts_convert(v, &co), 0);
		vxts_close(v);
		fault_ctl_reset(&f->ctl);
		f->ctl.fail_at = 0;
		v = t_open(f, NULL);
		vxts_info(v, in);
		vxts_close(v);
		if (in->window_size && in->window_offset > 0)
			return;
		assert_true(n < 200);
	}
}

static void t_forged_record(enum vxts_resilience res)
{
	struct vxts_convert_opts co = t_co(res);
	struct vxts_volume *v;
	struct vxts_info in;
	struct fx f;

	t_setup(&f, 12);
	fx_snapshot(&f);
	t_crash_in_window(&f, res, &in);
	/* One byte of the record, in whichever slot the header names. */
	{
		struct vxts_header h;
		struct vxts_hdr_load st;
		struct vxts_dev *d = fault_dev_new(f.hdr, f.area, "hdr", &f.ctl);

		assert_int_equal(vxts_hdr_load(d, 0, &h, &st), 0);
		vxts_dev_close(d);
		f.hdr[h.res_off + 17] ^= 0x80;
	}
	fault_ctl_reset(&f.ctl);
	v = t_open(&f, &f.kek);
	assert_int_equal(vxts_convert(v, &co), -EUCLEAN);
	assert_non_null(strstr(vxts_error_detail(), "does not match the header"));
	vxts_close(v);
	assert_int_equal(f.ctl.writes, 0);
	fx_free(&f);
}

static void forged_checksum_record(void **state)
{
	t_forged_record(VXTS_RESILIENCE_CHECKSUM);
}

static void forged_journal_record(void **state)
{
	t_forged_record(VXTS_RESILIENCE_JOURNAL);
}

static int t_stop_after_two(uint64_t done, uint64_t total, void *ctx)
{
	int *calls = ctx;

	return ++*calls == 2;
}

static void stop_and_resume(void **state)
{
	struct vxts_convert_opts co = t_co(VXTS_RESILIENCE_JOURNAL);
	struct vxts_volume *v;
	struct vxts_info in;
	int calls = 0;
	struct fx f;

	t_setup(&f, 13);
	co.progress = t_stop_after_two;
	co.progress_ctx = &calls;
	v = t_open(&f, &f.kek);
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
	assert_int_equal(vxts_convert(v, &co), -EINTR);
	vxts_info(v, &in);
	assert_int_equal(in.state, VXTS_STATE_ENCRYPTING);
	assert_int_equal(in.boundary, 128 << 10);
	assert_int_equal(in.window_size, 0);
	/* The signal path: a stop requested before the run stops at once. */
	vxts_request_stop();
	assert_int_equal(vxts_convert(v, &co), -EINTR);
	vxts_info(v, &in);
	assert_int_equal(in.boundary, 128 << 10);
	vxts_clear_stop();
	co.progress = NULL;
	assert_int_equal(vxts_convert(v, &co), 0);
	assert_int_equal(vxts_convert(v, &co), -EALREADY);
	vxts_close(v);
	t_check_plain(&f, &f.kek, true);
	fx_free(&f);
}

static void keyslot_rotation(void **state)
{
	struct vxts_volume *v;
	struct vxts_info in;
	struct fx f;

	t_setup(&f, 14);
	v = t_open(&f, &f.kek);
	assert_int_equal(vxts_keyslot_remove(v, 0), -EPERM);	/* last key */
	assert_int_equal(vxts_keyslot_add(v, &f.kek2, NULL, 0), -EEXIST);
	assert_int_equal(vxts_keyslot_add(v, &f.kek2, NULL, -1), 1);
	assert_int_equal(vxts_keyslot_remove(v, 0), 0);
	vxts_info(v, &in);
	assert_false(in.slots[0].in_use);
	assert_true(in.slots[1].in_use);
	vxts_close(v);
	v = t_open(&f, NULL);
	assert_int_equal(vxts_unlock(v, &f.kek), -EPERM);
	assert_int_equal(vxts_unlock(v, &f.kek2), 0);
	vxts_close(v);
	fx_free(&f);
}

/* Re-key with only kek2 for the new DEK: kek stops opening the volume. */
static void rekey_drops_unlisted_keys(void **state)
{
	struct vxts_convert_opts co = t_co(VXTS_RESILIENCE_CHECKSUM);
	struct vxts_volume *v;
	uint8_t old[VXTS_KEY_BYTES], now[VXTS_KEY_BYTES];
	int calls = 0;
	struct fx f;

	t_setup(&f, 15);
	v = t_open(&f, &f.kek);
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
	assert_int_equal(vxts_convert(v, &co), 0);
	assert_int_equal(vxts_volume_key(v, VXTS_KEY_CURRENT, old), 0);
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_REENCRYPT, &co, &f.kek2, 1), 0);
	co.progress = t_stop_after_two;
	co.progress_ctx = &calls;
	assert_int_equal(vxts_convert(v, &co), -EINTR);
	vxts_close(v);
	/* Resume needs both keys: the old one alone cannot write the new. */
	co.progress = NULL;
	v = t_open(&f, &f.kek);
	assert_int_equal(vxts_convert(v, &co), -EPERM);
	assert_int_equal(vxts_unlock(v, &f.kek2), 0);
	assert_int_equal(vxts_convert(v, &co), 0);
	assert_int_equal(vxts_volume_key(v, VXTS_KEY_CURRENT, now), 0);
	assert_memory_not_equal(old, now, VXTS_KEY_BYTES);
	vxts_close(v);
	v = t_open(&f, NULL);
	assert_int_equal(vxts_unlock(v, &f.kek), -EPERM);
	vxts_close(v);
	t_check_plain(&f, &f.kek2, true);
	fx_free(&f);
}

/*
 * Checksum mode assumes atomic data-unit writes. Tear mid-unit anyway: every
 * resume must either restore the plaintext or name the torn unit - never
 * finish with silently wrong data.
 */
static void checksum_mid_unit_tear(void **state)
{
	struct vxts_convert_opts co = t_co(VXTS_RESILIENCE_CHECKSUM);
	struct vxts_volume *v;
	uint8_t key[VXTS_KEY_BYTES], sha[32];
	int detected = 0, recovered = 0, r;
	struct fx f;

	t_setup(&f, 16);
	fx_snapshot(&f);
	for (long n = 1;; n++) {
		fx_restore(&f);
		fault_ctl_reset(&f.ctl);
		v = t_open(&f, &f.kek);
		f.ctl.fail_at = f.ctl.ops + n;
		f.ctl.tear = true;
		f.ctl.tear_align = 1;
		vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0);
		r = vxts_convert(v, &co);
		vxts_close(v);
		if (!f.ctl.crashed)
			break;
		fault_ctl_reset(&f.ctl);
		f.ctl.fail_at = 0;
		v = t_open(&f, &f.kek);
		r = vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0);
		if (!r)
			r = vxts_convert(v, &co);
		if (r == -ENOTRECOVERABLE) {
			assert_non_null(strstr(vxts_error_detail(), "torn write"));
			detected++;
			vxts_close(v);
			continue;
		}
		assert_true(r == 0 || r == -EALREADY);
		vxts_volume_key(v, VXTS_KEY_CURRENT, key);
		vxts_close(v);
		fx_plain_sha(&f, true, key, 4096, 0, sha);
		assert_memory_equal(sha, f.plain_digest, 32);
		recovered++;
	}
	print_message("# %d crashes recovered, %d torn units named\n", recovered, detected);
	assert_true(detected > 0);
	fx_free(&f);
}

static void short_transfers(void **state)
{
	struct vxts_convert_opts co = t_co(VXTS_RESILIENCE_JOURNAL);
	struct vxts_volume *v;
	struct fx f;

	t_setup(&f, 17);
	f.ctl.short_io = true;
	v = t_open(&f, &f.kek);
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
	assert_int_equal(vxts_convert(v, &co), 0);
	vxts_close(v);
	f.ctl.short_io = false;
	t_check_plain(&f, &f.kek, true);
	fx_free(&f);
}

static void geometry_refused(void **state)
{
	struct vxts_format_opts o = { .plaintext = true, .force = true };
	struct fx f;

	fx_init(&f, T_DATA, T_AREA, false, 18);
	o.unit_size = 1024;
	assert_int_equal(fx_format(&f, &o), -EINVAL);
	o.unit_size = 4096;
	o.data_size = T_DATA + 4096;
	assert_int_equal(fx_format(&f, &o), -ENOSPC);
	o.data_size = 6000;
	assert_int_equal(fx_format(&f, &o), -EINVAL);
	assert_int_equal(f.ctl.writes, 0);
	fx_free(&f);
	fx_init(&f, T_DATA + 512, T_AREA, false, 18);	/* not a multiple of 4096 */
	o.data_size = 0;
	assert_int_equal(fx_format(&f, &o), -EINVAL);
	assert_non_null(strstr(vxts_error_detail(), "not a multiple"));
	fx_free(&f);
}

static void fs_size_parsers(void **state)
{
	uint8_t sb[4096] = { 0 };

	/* ext4: 5000 blocks of 4 KiB (log 2), 64bit with hi word 1. */
	sb[1024 + 0x04] = 0x88;
	sb[1024 + 0x05] = 0x13;
	sb[1024 + 0x18] = 2;
	assert_int_equal(vxts_place_fs_size("ext4", sb, sizeof(sb)), 5000ULL * 4096);
	sb[1024 + 0x60] = 0x80;
	sb[1024 + 0x150] = 1;
	assert_true(vxts_place_fs_size("ext4", sb, sizeof(sb)) == (5000ULL + (1ULL << 32)) * 4096);
	memset(sb, 0, sizeof(sb));
	memcpy(sb, "XFSB", 4);
	sb[6] = 0x10;		/* blocksize 4096, big-endian */
	sb[15] = 100;		/* 100 blocks */
	assert_int_equal(vxts_place_fs_size("xfs", sb, sizeof(sb)), 409600);
	assert_int_equal(vxts_place_fs_size("btrfs", sb, sizeof(sb)), 0);
}

/* ---- real files through io_uring --------------------------------------------------- */

static char t_dir[256];

static const char *t_path(char *buf, const char *name)
{
	snprintf(buf, 512, "%s/%s", t_dir, name);
	return buf;
}

static void t_write_file(const char *path, const uint8_t *p, size_t n, size_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static void t_read_file(const char *path, uint8_t *p, size_t n)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, p, n), (ssize_t)n);
	close(fd);
}

static void t_file_cycle(const char *dev, const char *hdr, const struct vxts_kek *kek,
			 const uint8_t *plain, size_t n)
{
	struct vxts_convert_opts co = {
		.window_size = 1 << 20, .chunk_size = 128 << 10, .queue_depth = 8, .threads = 2,
	};
	struct vxts_volume *v, *v2;
	struct vxts_cipher *c;
	uint8_t key[VXTS_KEY_BYTES], *buf = malloc(n);

	assert_int_equal(vxts_open(dev, hdr, 0, &v), 0);
	assert_int_equal(vxts_open(dev, hdr, 0, &v2), -EBUSY);	/* flock */
	assert_int_equal(vxts_unlock(v, kek), 0);
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
	assert_int_equal(vxts_convert(v, &co), 0);
	assert_int_equal(vxts_volume_key(v, VXTS_KEY_CURRENT, key), 0);
	/* What dm-crypt plain with this key would read. */
	t_read_file(dev, buf, n);
	assert_memory_not_equal(buf, plain, 4096);
	assert_int_equal(vxts_cipher_new(&c, key, 4096, 0, false), 0);
	vxts_cipher_decrypt(c, buf, buf, n, 0);
	vxts_cipher_free(c);
	assert_memory_equal(buf, plain, n);
	co.resilience = VXTS_RESILIENCE_JOURNAL;
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_DECRYPT, &co, NULL, 0), 0);
	assert_int_equal(vxts_convert(v, &co), 0);
	vxts_close(v);
	t_read_file(dev, buf, n);
	assert_memory_equal(buf, plain, n);
	free(buf);
}

static void uring_detached_header(void **state)
{
	char dev[512], hdr[512];
	size_t n = 8 << 20;
	uint8_t *plain = malloc(n);
	struct fx f;

	fx_init(&f, 4096, T_AREA, false, 19);	/* just for its keys */
	for (size_t i = 0; i < n; i++)
		plain[i] = (uint8_t)(i * 2654435761u >> 13);
	t_write_file(t_path(dev, "data.img"), plain, n, n);
	struct vxts_format_opts o = { .plaintext = true, .force = true,
				      .header = t_path(hdr, "hdr.img") };
	assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	t_file_cycle(dev, hdr, &f.kek, plain, n);
	unlink(dev);
	unlink(hdr);
	free(plain);
	fx_free(&f);
}

static bool t_have(const char *tool)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

static void uring_header_at_end(void **state)
{
	char dev[512], cmd[1200];
	size_t n = 8 << 20, size = n + VXTS_HEADER_AREA_SIZE;
	uint8_t *plain = malloc(n), one = 1;
	struct vxts_format_opts o = { .plaintext = true, .force = true, .header_at_end = true };
	struct fx f;
	int fd;

	fx_init(&f, 4096, T_AREA, false, 20);
	for (size_t i = 0; i < n; i++)
		plain[i] = (uint8_t)(i * 40503u >> 7);
	/* Non-zero byte in the tail and no filesystem: refused. */
	t_write_file(t_path(dev, "end.img"), plain, n, size);
	fd = open(dev, O_WRONLY);
	assert_int_equal(pwrite(fd, &one, 1, (off_t)size - 100), 1);
	close(fd);
	assert_int_equal(vxts_format(dev, &o, &f.kek), -ENOSPC);
	assert_non_null(strstr(vxts_error_detail(), "detached header"));
	/* Zero tail: accepted, and the data never moves. */
	t_write_file(dev, plain, n, size);
	assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	t_file_cycle(dev, NULL, &f.kek, plain, n);
	if (!t_have("mkfs.ext4"))
		print_message("# mkfs.ext4 not found: ext4 placement cases not run\n");
	else {
		/* ext4 over the whole device reaches the tail: refused. */
		t_write_file(dev, plain, 0, size);
		snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s >/dev/null 2>&1", dev);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(vxts_format(dev, &o, &f.kek), -ENOSPC);
		assert_non_null(strstr(vxts_error_detail(), "ext4 filesystem"));
		/* ext4 of 8 MiB, with junk after it: its size proves the tail free. */
		t_write_file(dev, plain, 0, size);
		fd = open(dev, O_WRONLY);
		assert_int_equal(pwrite(fd, &one, 1, (off_t)size - 100), 1);
		close(fd);
		snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F %s 8M >/dev/null 2>&1", dev);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	}
	unlink(dev);
	free(plain);
	fx_free(&f);
}

static void header_backup_restore(void **state)
{
	char dev[512], hdr[512], bak[512], bak2[512];
	size_t n = 1 << 20;
	uint8_t *plain = calloc(1, n), junk[8192];
	struct vxts_format_opts o = { .plaintext = true, .force = true,
				      .header = t_path(hdr, "bh.img") };
	struct vxts_convert_opts co = { .window_size = 256 << 10, .threads = 1 };
	struct vxts_volume *v;
	int fd, calls = 0;
	struct fx f;

	fx_init(&f, 4096, T_AREA, false, 21);
	t_write_file(t_path(dev, "bd.img"), plain, n, n);
	unlink(t_path(bak, "backup.hdr"));
	unlink(t_path(bak2, "backup2.hdr"));
	assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	assert_int_equal(vxts_open(dev, hdr, VXTS_OPEN_READONLY, &v), 0);
	assert_int_equal(vxts_header_backup(v, bak), 0);
	assert_int_equal(vxts_header_backup(v, bak), -EEXIST);
	vxts_close(v);
	/* A backup is not a header area: refused as --header. */
	assert_int_equal(vxts_open(dev, bak, 0, &v), -EINVAL);
	assert_non_null(strstr(vxts_error_detail(), "truncated"));
	assert_int_equal(vxts_open(dev, NULL, 0, &v), -EINVAL);	/* 1 MiB: too small */
	memset(junk, 0x6b, sizeof(junk));
	fd = open(hdr, O_WRONLY);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	close(fd);
	assert_int_equal(vxts_open(dev, hdr, 0, &v), -ENODATA);
	assert_int_equal(vxts_header_restore(dev, hdr, bak), 0);
	assert_int_equal(vxts_open(dev, hdr, 0, &v), 0);
	assert_int_equal(vxts_unlock(v, &f.kek), 0);
	/* Move the conversion on: the old backup is now stale. */
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
	co.progress = t_stop_after_two;
	co.progress_ctx = &calls;
	assert_int_equal(vxts_convert(v, &co), -EINTR);
	vxts_close(v);
	assert_int_equal(vxts_header_restore(dev, hdr, bak), -ESTALE);	/* stale: waiting does not help */
	unlink(dev);
	unlink(hdr);
	unlink(bak);
	free(plain);
	fx_free(&f);
}

static int t_count(uint64_t done, uint64_t total, void *ctx)
{
	++*(int *)ctx;
	return 0;
}

/* 512 KiB at 2 MiB/s cannot take less than 0.25 s; progress sees every window. */
static void rate_limit_and_progress(void **state)
{
	struct vxts_convert_opts co = t_co(VXTS_RESILIENCE_CHECKSUM);
	struct vxts_volume *v;
	struct timespec a, b;
	int calls = 0;
	struct fx f;

	t_setup(&f, 22);
	co.rate_limit = 2 << 20;
	co.progress = t_count;
	co.progress_ctx = &calls;
	v = t_open(&f, &f.kek);
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(vxts_convert(v, &co), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	vxts_close(v);
	assert_true((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9 >= 0.24);
	assert_int_equal(calls, T_DATA / (64 << 10));
	t_check_plain(&f, &f.kek, true);
	fx_free(&f);
}

/* A real block device (loop): O_EXCL keeps vxts off a device someone holds. */
static void blockdev_loop(void **state)
{
	char img[512], cmd[700], dev[64] = "";
	size_t n = 16 << 20;
	uint8_t *plain = malloc(n), *buf = malloc(n), key[VXTS_KEY_BYTES];
	struct vxts_format_opts o = { .plaintext = true, .force = true, .header_at_end = true };
	struct vxts_convert_opts co = { .window_size = 4 << 20, .threads = 2 };
	struct vxts_volume *v;
	struct vxts_cipher *c;
	struct vxts_info in;
	struct fx f;
	FILE *p;
	int fd;

	for (size_t i = 0; i < n; i++)
		plain[i] = (uint8_t)(i * 2246822519u >> 11);
	t_write_file(t_path(img, "loop.img"), plain, n / 2, n + VXTS_HEADER_AREA_SIZE);
	snprintf(cmd, sizeof(cmd), "losetup -f --show %s 2>/dev/null", img);
	p = popen(cmd, "r");
	if (!p || !fgets(dev, sizeof(dev), p) || strncmp(dev, "/dev/loop", 9)) {
		if (p)
			pclose(p);
		unlink(img);
		free(plain);
		free(buf);
		skip();
	}
	pclose(p);
	dev[strcspn(dev, "\n")] = '\0';
	fx_init(&f, 4096, T_AREA, false, 23);
	assert_int_equal(vxts_format(dev, &o, &f.kek), 0);
	fd = open(dev, O_RDONLY | O_EXCL);
	assert_true(fd >= 0);
	assert_int_equal(vxts_open(dev, NULL, 0, &v), -EBUSY);
	assert_non_null(strstr(vxts_error_detail(), "in use"));
	close(fd);
	assert_int_equal(vxts_open(dev, NULL, 0, &v), 0);
	assert_int_equal(vxts_unlock(v, &f.kek), 0);
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
	assert_int_equal(vxts_convert(v, &co), 0);
	vxts_info(v, &in);
	assert_int_equal(vxts_volume_key(v, VXTS_KEY_CURRENT, key), 0);
	vxts_close(v);
	assert_int_equal(in.data_size, n);
	t_read_file(dev, buf, n);
	assert_int_equal(vxts_cipher_new(&c, key, 4096, 0, false), 0);
	vxts_cipher_decrypt(c, buf, buf, n, 0);
	vxts_cipher_free(c);
	memset(plain + n / 2, 0, n / 2);	/* the file was zero beyond n/2 */
	assert_memory_equal(buf, plain, n);
	snprintf(cmd, sizeof(cmd), "losetup -d %s", dev);
	assert_int_equal(system(cmd), 0);
	unlink(img);
	free(plain);
	free(buf);
	fx_free(&f);
}

/* ---- online shape: the engine only touches the window it holds ------------------ */

struct hold_log {
	uint64_t off, len, expect, data_size;
	bool held;
	int holds, releases, violations, early;
	struct fx *f;
};

/*
 * At release the target starts serving the window as converted (new writes
 * land there): the header on disk must already name no window at or before
 * it, or a crash would make recovery rebuild the window over those writes.
 */
static bool t_header_past(struct fx *f, uint64_t end)
{
	struct vxts_header h[2];
	char why[96];
	int best = -1;

	for (int i = 0; i < 2; i++)
		if (!vxts_hdr_decode(fx_area(f) + i * VXTS_HDR_COPY_SIZE, &h[i], why, sizeof(why)) &&
		    (best < 0 || h[i].seq > h[best].seq))
			best = i;
	return best >= 0 && h[best].boundary >= end && (!h[best].win_len || h[best].win_off >= end);
}

static int t_hold(void *ctx, uint64_t off, uint64_t len)
{
	struct hold_log *l = ctx;

	if (l->held || off != l->expect)
		l->violations++;
	l->held = true;
	l->off = off;
	l->len = len;
	l->holds++;
	return 0;
}

static int t_release(void *ctx, uint64_t off, uint64_t len, uint64_t boundary)
{
	struct hold_log *l = ctx;

	if (!l->held || off != l->off || len != l->len || boundary != off + len)
		l->violations++;
	if (!t_header_past(l->f, off + len))
		l->early++;
	l->held = false;
	l->expect = off + len;
	l->releases++;
	return 0;
}

/* Every data-area IO must fall inside the held window. */
static void t_observe(void *ctx, struct vxts_dev *d, enum vxts_io_op op, uint64_t off,
		      size_t len)
{
	struct hold_log *l = ctx;

	if (strcmp(d->name, "data.img") || off >= l->data_size)
		return;
	if (!l->held || off < l->off || off + len > l->off + l->len)
		l->violations++;
}

static void held_windows(void **state)
{
	struct vxts_convert_opts co = t_co(VXTS_RESILIENCE_JOURNAL);
	struct fx f;
	struct hold_log log = { .data_size = T_DATA, .f = &f };
	struct vxts_conv_hold hold = { .hold = t_hold, .release = t_release, .ctx = &log };
	struct vxts_volume *v;
	struct vxts_info in;

	t_setup(&f, 24);
	v = t_open(&f, &f.kek);
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
	/* Crash mid-way (a held run), then resume held: recovery holds first. */
	f.ctl.observe = t_observe;
	f.ctl.observe_ctx = &log;
	f.ctl.fail_at = f.ctl.ops + 60;
	assert_int_not_equal(vxts_convert_held(v, &co, &hold), 0);
	vxts_close(v);
	assert_int_equal(log.violations, 0);
	assert_int_equal(log.early, 0);
	fault_ctl_reset(&f.ctl);
	f.ctl.fail_at = 0;
	v = t_open(&f, &f.kek);
	vxts_info(v, &in);
	assert_true(in.window_size > 0);
	log = (struct hold_log){ .data_size = T_DATA, .expect = in.window_offset, .f = &f };
	assert_int_equal(vxts_convert_held(v, &co, &hold), 0);
	vxts_close(v);
	f.ctl.observe = NULL;
	assert_int_equal(log.violations, 0);
	assert_int_equal(log.early, 0);
	assert_int_equal(log.holds, log.releases);
	assert_int_equal(log.expect, T_DATA);
	assert_int_equal(log.holds, (T_DATA - in.window_offset) / (64 << 10));
	t_check_plain(&f, &f.kek, true);
	fx_free(&f);
}

static int t_group_setup(void **state)
{
	const char *d = getenv("VXTS_TEST_TMP");

	snprintf(t_dir, sizeof(t_dir), "%s", d && *d ? d : "/dev/shm");
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wrong_key_writes_nothing),
		cmocka_unit_test(forged_checksum_record),
		cmocka_unit_test(forged_journal_record),
		cmocka_unit_test(stop_and_resume),
		cmocka_unit_test(keyslot_rotation),
		cmocka_unit_test(rekey_drops_unlisted_keys),
		cmocka_unit_test(checksum_mid_unit_tear),
		cmocka_unit_test(short_transfers),
		cmocka_unit_test(geometry_refused),
		cmocka_unit_test(fs_size_parsers),
		cmocka_unit_test(uring_detached_header),
		cmocka_unit_test(uring_header_at_end),
		cmocka_unit_test(header_backup_restore),
		cmocka_unit_test(rate_limit_and_progress),
		cmocka_unit_test(blockdev_loop),
		cmocka_unit_test(held_windows),
	};

	return cmocka_run_group_tests_name("convert_api", tests, t_group_setup, NULL);
}
