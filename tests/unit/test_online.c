// SPDX-License-Identifier: GPL-2.0
/*
 * test_online: the pure logic of online conversion (lib/online.c) without a
 * kernel: dm-vxts status parsing, the kernel-vs-header reconcile decisions
 * of docs/ONLINE.md, window sizing to a hold-time target, table lines, and
 * the runtime files (pause flag, converter lock) under VXTS_RUN_DIR.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmocka.h>

#include "online.h"

/* ---- status ------------------------------------------------------------------ */

static void status_fields(void **state)
{
	struct vxts_online_kstate k;

	assert_int_equal(vxts_online_parse_status("xts-aes-aesni-avx 4096 1 2 3 4 5 6 "
		"convert:reencrypt boundary:4096 window:4096-4352 held:3 held_total:17 "
		"hold_max_us:1200 wait_max_us:900 drain_max_us:350", &k), 0);
	assert_int_equal(k.dir, VXTS_DIR_REENCRYPT);
	assert_int_equal(k.boundary, 4096);
	assert_true(k.held);
	assert_int_equal(k.lo, 4096);
	assert_int_equal(k.hi, 4352);
	assert_int_equal(k.held_now, 3);
	assert_int_equal(k.held_total, 17);
	assert_int_equal(k.hold_max_us, 1200);
	assert_int_equal(k.wait_max_us, 900);
	assert_int_equal(k.drain_max_us, 350);

	assert_int_equal(vxts_online_parse_status("drv 4096 0 0 0 0 0 0 convert:encrypt "
		"boundary:0 window:- held:0 held_total:0 hold_max_us:0 wait_max_us:0 "
		"future:7", &k), 0);
	assert_int_equal(k.dir, VXTS_DIR_ENCRYPT);
	assert_false(k.held);

	/* a plain vxts table: the eight fields only */
	assert_int_equal(vxts_online_parse_status("drv 512 9 9 9 0 0 0", &k), 0);
	assert_int_equal(k.dir, VXTS_DIR_NONE);
	assert_true(k.is_vxts);
}

static void status_malformed(void **state)
{
	static const char *const bad[] = {
		"d 4096 0 0 0 0 0 0 convert:sideways boundary:0 window:-",
		"d 4096 0 0 0 0 0 0 convert:encrypt boundary:12x window:-",
		"d 4096 0 0 0 0 0 0 convert:encrypt boundary:8 window:16-8",
		"d 4096 0 0 0 0 0 0 convert:encrypt boundary:8 window:16-24",	/* not at boundary */
		"d 4096 0 0 0 0 0 0 convert:encrypt boundary:8 window:8",
		"d 4096 0 0 0 0 0 0 convert:encrypt boundary:-1 window:-",
	};
	struct vxts_online_kstate k;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vxts_online_parse_status(bad[i], &k), -EINVAL);
}

/* ---- reconcile: the ONLINE.md crash table ------------------------------------- */

struct rc_case {
	const char *what;
	/* kernel */
	enum vxts_direction kdir;
	uint64_t kb;
	bool held;
	uint64_t lo, hi;
	/* header */
	enum vxts_direction hdir;
	uint64_t hb, wlo, whi;
	/* expected */
	int r;
	enum vxts_online_action act;
	uint64_t arg;
};

#define E VXTS_DIR_ENCRYPT
#define D VXTS_DIR_DECRYPT
#define N VXTS_DIR_NONE

static const struct rc_case rc_cases[] = {
	{ "consistent, nothing held", E, 800, false, 0, 0, E, 800, 0, 0, 0, VXTS_ONL_NOTHING, 0 },
	{ "fresh start", E, 0, false, 0, 0, E, 0, 0, 0, 0, VXTS_ONL_NOTHING, 0 },
	{ "crash after step 1: held, header never saw it", E, 800, true, 800, 1056,
	  E, 800, 0, 0, 0, VXTS_ONL_REHOLD, 256 },
	{ "crash after steps 2-4: header names the held window", D, 800, true, 800, 1056,
	  D, 800, 800, 1056, 0, VXTS_ONL_RECOVER, 0 },
	{ "crash after step 5: header past the held window", E, 800, true, 800, 1056,
	  E, 1056, 0, 0, 0, VXTS_ONL_ADVANCE, 1056 },
	{ "crash after the final commit, last window held", E, 900, true, 900, 1000,
	  N, 1000, 0, 0, 0, VXTS_ONL_ADVANCE, 1000 },
	{ "kernel ahead of the header", E, 1056, false, 0, 0, E, 800, 0, 0, -EUCLEAN, 0, 0 },
	{ "kernel behind, nothing held", E, 800, false, 0, 0, E, 1056, 0, 0, -EUCLEAN, 0, 0 },
	{ "directions differ", E, 800, false, 0, 0, D, 800, 0, 0, -EUCLEAN, 0, 0 },
	{ "mapping not converting", N, 0, false, 0, 0, E, 0, 0, 0, -EUCLEAN, 0, 0 },
	{ "header names a window the kernel released (hand-sent release)", E, 800, false, 0, 0,
	  E, 800, 800, 1056, -EUCLEAN, 0, 0 },
	{ "header window is another one", E, 800, true, 800, 1056, E, 800, 800, 900,
	  -EUCLEAN, 0, 0 },
	{ "header boundary beyond the held window", E, 800, true, 800, 1056, E, 2048, 0, 0,
	  -EUCLEAN, 0, 0 },
	{ "held window not at the kernel boundary", E, 800, true, 1056, 2048, E, 800, 0, 0,
	  -EUCLEAN, 0, 0 },
	{ "finished header, held window ends before the end", E, 900, true, 900, 950,
	  N, 1000, 0, 0, -EUCLEAN, 0, 0 },
};

static void reconcile_table(void **state)
{
	for (size_t i = 0; i < sizeof(rc_cases) / sizeof(rc_cases[0]); i++) {
		const struct rc_case *c = &rc_cases[i];
		struct vxts_online_kstate k = {
			.is_vxts = true, .dir = c->kdir, .boundary = c->kb, .held = c->held,
			.lo = c->lo, .hi = c->hi,
		};
		struct vxts_online_hstate h = {
			.dir = c->hdir, .boundary = c->hb, .win_lo = c->wlo, .win_hi = c->whi,
			.len = 1000,
		};
		enum vxts_online_action act = 99;
		uint64_t arg = 99;
		int r = vxts_online_reconcile(&k, &h, &act, &arg);

		if (r != c->r || (!r && (act != c->act || arg != c->arg)))
			fail_msg("%s: got r=%d act=%d arg=%llu, want r=%d act=%d arg=%llu",
				 c->what, r, act, (unsigned long long)arg, c->r, c->act,
				 (unsigned long long)c->arg);
	}
}

/* ---- window sizing -------------------------------------------------------------- */

static void window_steps(void **state)
{
	struct vxts_online_win w;

	vxts_online_win_init(&w, 4096, 16 << 20, 10);
	assert_int_equal(w.cur, 256 << 10);		/* starts small */
	assert_int_equal(w.min, 64 << 10);
	vxts_online_win_update(&w, w.cur, 100);	/* 10x over: at most /4 per step */
	assert_int_equal(w.cur, 64 << 10);
	vxts_online_win_update(&w, w.cur, 1000);	/* never below the minimum */
	assert_int_equal(w.cur, 64 << 10);
	vxts_online_win_update(&w, w.cur, 0.01);	/* far under: at most x2 */
	assert_int_equal(w.cur, 128 << 10);
	for (int i = 0; i < 20; i++)
		vxts_online_win_update(&w, w.cur, 0.01);
	assert_int_equal(w.cur, 16 << 20);		/* never above the maximum */
	assert_int_equal(w.cur % 4096, 0);
	/* a short (last) window that was quick says nothing about growing */
	vxts_online_win_init(&w, 4096, 16 << 20, 10);
	vxts_online_win_update(&w, 8192, 0.1);
	assert_int_equal(w.cur, 256 << 10);
	/* odd unit and tiny maximum */
	vxts_online_win_init(&w, 4096, 10000, 10);
	assert_int_equal(w.max, 8192);
	assert_int_equal(w.cur, 8192);
	assert_int_equal(w.min, 8192);
}

/*
 * A disk model: a hold costs a fixed part (drain, two header commits) plus
 * time per byte. Where the target is reachable the size settles with holds
 * under it; where the fixed part alone exceeds it, at the minimum.
 */
static void window_converges(void **state)
{
	static const struct { double fixed_ms, mb_per_s, target; } m[] = {
		{ 1.0, 200, 10 }, { 0.2, 2000, 10 }, { 3.0, 50, 5 }, { 12.0, 100, 10 },
		{ 0.5, 400, 50 },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		struct vxts_online_win w;
		double ms = 0, worst = 0;

		vxts_online_win_init(&w, 4096, 16 << 20, m[i].target);
		for (int n = 0; n < 60; n++) {
			uint64_t len = w.cur;

			ms = m[i].fixed_ms + len / (m[i].mb_per_s * 1e3);
			if (n >= 30 && ms > worst)
				worst = ms;
			vxts_online_win_update(&w, len, ms);
		}
		if (m[i].fixed_ms + (64 << 10) / (m[i].mb_per_s * 1e3) < m[i].target) {
			if (worst > m[i].target)
				fail_msg("model %zu: settled holds %.2f ms over the %.0f ms target",
					 i, worst, m[i].target);
			/* and not needlessly small: above half the target */
			if (worst < m[i].target / 2 && w.cur < w.max)
				fail_msg("model %zu: holds %.2f ms, window %llu: too timid", i,
					 worst, (unsigned long long)w.cur);
		} else {
			assert_int_equal(w.cur, w.min);
		}
	}
}

static void percentile(void **state)
{
	double v[100];

	for (int i = 0; i < 100; i++)
		v[i] = 100 - i;			/* 100 .. 1, unsorted */
	assert_true(vxts_online_percentile(v, 100, 99) == 99);
	assert_true(vxts_online_percentile(v, 100, 100) == 100);
	assert_true(vxts_online_percentile(v, 100, 50) == 50);
	assert_true(vxts_online_percentile(v, 1, 99) == 1);
	assert_true(vxts_online_percentile(v, 0, 99) == 0);
}

/* ---- table lines ----------------------------------------------------------------- */

static void tables(void **state)
{
	struct vxts_online_map m = {
		.devno = "1:0", .data_offset = 0, .len = 98304, .iv_offset = 8, .unit = 4096,
		.state = VXTS_STATE_ENCRYPTING, .dir = VXTS_DIR_ENCRYPT, .boundary = 4096,
		.key_desc = "vxts:u:0",
	};
	char devno[32], key[96], old[96];
	struct vxts_dm_table t;

	assert_int_equal(vxts_online_table(&m, &t), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.t[0].len, 98304);
	assert_string_equal(t.t[0].type, "vxts");
	assert_string_equal(t.t[0].params, "aes-xts-plain64 :64:logon:vxts:u:0 8 1:0 0 2 "
			    "sector_size:4096 convert:encrypt:4096");

	m.dir = VXTS_DIR_REENCRYPT;
	m.state = VXTS_STATE_REENCRYPTING;
	assert_int_equal(vxts_online_table(&m, &t), -EINVAL);	/* no old key */
	strcpy(m.key_desc, "vxts:u:1");
	strcpy(m.old_desc, "vxts:u:0");
	assert_int_equal(vxts_online_table(&m, &t), 0);
	assert_string_equal(t.t[0].params, "aes-xts-plain64 :64:logon:vxts:u:1 8 1:0 0 3 "
			    "sector_size:4096 convert:reencrypt:4096 old_key::64:logon:vxts:u:0");
	assert_int_equal(vxts_online_parse_table(t.t[0].params, devno, sizeof(devno), key, old,
						 sizeof(key)), 0);
	assert_string_equal(devno, "1:0");
	assert_string_equal(key, "vxts:u:1");
	assert_string_equal(old, "vxts:u:0");

	m.dir = VXTS_DIR_NONE;
	m.state = VXTS_STATE_ENCRYPTED;
	assert_int_equal(vxts_online_table(&m, &t), 0);
	assert_string_equal(t.t[0].params, "aes-xts-plain64 :64:logon:vxts:u:1 8 1:0 0 1 "
			    "sector_size:4096");

	m.state = VXTS_STATE_PLAINTEXT;
	m.data_offset = 2048;
	assert_int_equal(vxts_online_table(&m, &t), 0);
	assert_string_equal(t.t[0].type, "linear");
	assert_string_equal(t.t[0].params, "1:0 2048");

	m.state = VXTS_STATE_DECRYPTING;		/* a state without its direction */
	assert_int_equal(vxts_online_table(&m, &t), -EINVAL);

	/* a hex key reads back as no keyring reference */
	assert_int_equal(vxts_online_parse_table("aes-xts-plain64 - 0 8:16 0", devno,
						 sizeof(devno), key, old, sizeof(key)), 0);
	assert_string_equal(key, "");
	assert_string_equal(devno, "8:16");
}

/* ---- runtime files ----------------------------------------------------------------- */

static void runtime_files(void **state)
{
	const char *tmp = getenv("VXTS_TEST_TMP");
	char dir[512], path[600];
	struct vxts_online_rt rt;
	int fd;

	snprintf(dir, sizeof(dir), "%s/run-vxts", tmp ? tmp : "/tmp");
	setenv("VXTS_RUN_DIR", dir, 1);
	vxts_online_runtime("t0", &rt);
	assert_false(rt.known);
	assert_false(rt.converter);
	assert_false(rt.paused);

	assert_int_equal(vxts_online_pause("t0", true), 0);
	vxts_online_runtime("t0", &rt);
	assert_true(rt.paused);
	assert_int_equal(vxts_online_pause("t0", false), 0);
	assert_int_equal(vxts_online_pause("t0", false), 0);	/* idempotent */
	vxts_online_runtime("t0", &rt);
	assert_false(rt.paused);

	/* a converter is whoever holds the lock; a stale file is no converter */
	snprintf(path, sizeof(path), "%s/t0.lock", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "4242\n", 5), 5);
	vxts_online_runtime("t0", &rt);
	assert_false(rt.converter);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	vxts_online_runtime("t0", &rt);
	assert_true(rt.converter);
	assert_int_equal(rt.pid, 4242);
	close(fd);
	vxts_online_runtime("t0", &rt);
	assert_false(rt.converter);
	unsetenv("VXTS_RUN_DIR");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(status_fields),
		cmocka_unit_test(status_malformed),
		cmocka_unit_test(reconcile_table),
		cmocka_unit_test(window_steps),
		cmocka_unit_test(window_converges),
		cmocka_unit_test(percentile),
		cmocka_unit_test(tables),
		cmocka_unit_test(runtime_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
