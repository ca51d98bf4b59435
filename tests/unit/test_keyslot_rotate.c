// SPDX-License-Identifier: GPL-2.0
/*
 * test_keyslot_rotate: KEK rotation and multi-entry slots.
 *
 *   - rotate under crash injection: the Nth IO of `keyslot rotate` fails
 *     (torn at 512 bytes, unsynced writes dropped) for every N until a run
 *     completes; after each "power cut" exactly one of the old and new KEK
 *     opens the volume, it yields the same DEK, and a rotate that reported
 *     success is never undone;
 *   - the last slot of the current DEK cannot be removed; rotate refuses a
 *     slot that is empty or a continuation;
 *   - multi-entry slots: a continuation entry is in use, cannot be removed
 *     or opened on its own, and a damaged continuation makes its head
 *     unusable (-EINVAL), never a wrong-key answer;
 *   - base64 codec of the KMS protocol against RFC 4648 vectors and bad input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kdf.h"
#include "keyslot.h"
#include "kms.h"
#include "helpers/vol_fixture.h"

#define R_DATA (64u << 10)
#define R_AREA (256u << 10)

/* Unlocks a fresh handle with @kek; 0 and the DEK, or the error. */
static int r_try(struct fx *f, const struct vxts_kek *kek, uint8_t key[VXTS_KEY_BYTES])
{
	struct vxts_volume *v = NULL;
	int r = fx_attach(f, &v);

	if (!r)
		r = vxts_unlock(v, kek);
	if (!r)
		r = vxts_volume_key(v, VXTS_KEY_CURRENT, key);
	vxts_close(v);
	return r;
}

static void rotate_crash_every_op(void **state)
{
	uint8_t dek[VXTS_KEY_BYTES], k1[VXTS_KEY_BYTES], k2[VXTS_KEY_BYTES];
	struct vxts_format_opts o = { 0 };
	struct vxts_volume *v;
	int tried = 0, r, r1, r2;
	struct fx f;

	fx_init(&f, R_DATA, R_AREA, false, 71);
	assert_int_equal(fx_format(&f, &o), 0);
	assert_int_equal(r_try(&f, &f.kek, dek), 0);
	fx_snapshot(&f);
	for (long n = 1;; n++) {
		fx_restore(&f);
		fault_ctl_reset(&f.ctl);
		f.ctl.fail_at = n;
		f.ctl.tear = true;
		f.ctl.tear_align = 512;
		f.ctl.drop_unsynced = true;
		v = NULL;
		r = fx_attach(&f, &v);
		if (!r)
			r = vxts_unlock(v, &f.kek);
		if (!r)
			r = vxts_keyslot_rotate(v, 0, &f.kek2, NULL);
		vxts_close(v);
		if (!f.ctl.crashed) {
			assert_true(r >= 0);
			break;
		}
		tried++;
		fault_ctl_reset(&f.ctl);	/* power back */
		f.ctl.fail_at = 0;
		f.ctl.tear = false;
		f.ctl.drop_unsynced = false;
		r1 = r_try(&f, &f.kek, k1);
		r2 = r_try(&f, &f.kek2, k2);
		if (!!r1 == !!r2)
			fail_msg("op %ld: old KEK %d, new KEK %d: want exactly one", n, r1, r2);
		assert_memory_equal(r1 ? k2 : k1, dek, VXTS_KEY_BYTES);
		if (r >= 0)
			assert_int_equal(r2, 0);	/* reported done: must stay done */
	}
	fault_ctl_reset(&f.ctl);
	f.ctl.fail_at = 0;
	assert_true(tried >= 4);	/* open, unlock, two copies written and synced */
	assert_int_not_equal(r_try(&f, &f.kek, k1), 0);
	assert_int_equal(r_try(&f, &f.kek2, k2), 0);
	assert_memory_equal(k2, dek, VXTS_KEY_BYTES);
	print_message("# rotate: %d crash points, each left exactly one KEK\n", tried);
	fx_free(&f);
}

/*
 * One EIO on one header operation, the device working again after it (not a
 * power cut): header writes and syncs are counted; at number @at a write
 * fails without moving data (@land false) or a sync fails after the write
 * before it landed (a sync error says nothing about what was written).
 */
static struct {
	const struct vxts_dev_ops *orig;
	struct vxts_dev_ops ops;
	int n, at;
} eio;

static int eio_queue(struct vxts_dev *d, struct vxts_io *io)
{
	if (io->op == VXTS_IO_WRITE && ++eio.n == eio.at)
		return -EIO;
	return eio.orig->queue(d, io);
}

static int eio_sync(struct vxts_dev *d)
{
	int r = eio.orig->sync(d);

	return ++eio.n == eio.at ? -EIO : r;
}

static void eio_install(struct vxts_volume *v, int at)
{
	eio.orig = v->hdr->ops;
	eio.ops = *eio.orig;
	eio.ops.queue = eio_queue;
	eio.ops.sync = eio_sync;
	eio.ops.rw_sync = NULL;
	eio.n = 0;
	eio.at = at;
	v->hdr->ops = &eio.ops;
}

static void eio_remove(struct vxts_volume *v)
{
	v->hdr->ops = eio.orig;
}

/*
 * An EIO on each header write and sync of a keyslot rotate, add and remove
 * (copy 1 write, copy 1 sync, copy 2 write, copy 2 sync): "reported failed"
 * must mean the old keys still open and the new do not; "reported done"
 * must mean the new state is live. Once copy 1 holds the new state the
 * change is committed and must be reported done, with copy 2 stale in
 * valid_copies. A failed change leaves the handle usable: the same call
 * again, without the fault, succeeds.
 */
static void keyslot_commit_eio(void **state)
{
	uint8_t dek[VXTS_KEY_BYTES], k[VXTS_KEY_BYTES];
	struct vxts_format_opts o = { 0 };
	struct vxts_volume *v;
	struct vxts_info in;
	struct fx f;
	int r, fails = 0, stale = 0;

	fx_init(&f, R_DATA, R_AREA, false, 73);
	assert_int_equal(fx_format(&f, &o), 0);
	assert_int_equal(r_try(&f, &f.kek, dek), 0);
	fx_snapshot(&f);
	for (int op = 0; op < 3; op++) {
		for (int at = 1; at <= 4; at++) {
			fx_restore(&f);
			fault_ctl_reset(&f.ctl);
			if (op == 2) {	/* remove needs two slots: add kek2 first */
				assert_int_equal(fx_attach(&f, &v), 0);
				assert_int_equal(vxts_unlock(v, &f.kek), 0);
				assert_int_equal(vxts_keyslot_add(v, &f.kek2, NULL, 1), 1);
				vxts_close(v);
			}
			assert_int_equal(fx_attach(&f, &v), 0);
			assert_int_equal(vxts_unlock(v, &f.kek), 0);
			eio_install(v, at);
			r = op == 0 ? vxts_keyslot_rotate(v, 0, &f.kek2, NULL) :
			    op == 1 ? vxts_keyslot_add(v, &f.kek2, NULL, -1) :
				      vxts_keyslot_remove(v, 0);
			eio_remove(v);
			assert_int_equal(vxts_info(v, &in), 0);
			if (r >= 0 && in.valid_copies != 3)
				stale++;
			if (r < 0) {
				fails++;
				assert_int_equal(in.valid_copies, 3);
				/* reported failed: the old keys open, the new do not */
				assert_int_equal(r_try(&f, &f.kek, k), 0);
				assert_memory_equal(k, dek, VXTS_KEY_BYTES);
				if (op != 2)
					assert_int_not_equal(r_try(&f, &f.kek2, k), 0);
				/* the handle still holds the old state: retrying works */
				r = op == 0 ? vxts_keyslot_rotate(v, 0, &f.kek2, NULL) :
				    op == 1 ? vxts_keyslot_add(v, &f.kek2, NULL, -1) :
					      vxts_keyslot_remove(v, 0);
				vxts_close(v);
				assert_true(r >= 0);
			} else {
				vxts_close(v);
			}
			/* reported done (now, either way): the new state is live */
			if (op != 2)
				assert_int_equal(r_try(&f, &f.kek2, k), 0);
			if (op == 0 || op == 2)
				assert_int_not_equal(r_try(&f, &f.kek, k), 0);
			if (op == 1)
				assert_int_equal(r_try(&f, &f.kek, k), 0);
			if (op == 2)
				assert_int_equal(r_try(&f, &f.kek2, k), 0);
			assert_memory_equal(k, dek, VXTS_KEY_BYTES);
		}
	}
	print_message("# keyslot commit EIO: 12 runs, %d reported failed, %d done with a "
		      "stale copy 2\n", fails, stale);
	assert_int_equal(fails, 3);	/* copy 1's write failing, for each verb */
	assert_int_equal(stale, 9);	/* copy 1 landed: done, copy 2 stale */
	fault_ctl_reset(&f.ctl);
	fx_free(&f);
}

static void rotate_and_remove_guards(void **state)
{
	struct vxts_format_opts o = { 0 };
	struct vxts_volume *v;
	struct fx f;

	fx_init(&f, R_DATA, R_AREA, false, 72);
	assert_int_equal(fx_format(&f, &o), 0);
	assert_int_equal(fx_attach(&f, &v), 0);
	assert_int_equal(vxts_unlock(v, &f.kek), 0);
	assert_int_equal(vxts_keyslot_remove(v, 0), -EPERM);	/* the last key */
	assert_int_equal(vxts_keyslot_rotate(v, 3, &f.kek2, NULL), -ENOENT);
	assert_int_equal(vxts_keyslot_rotate(v, 0, &f.kek2, NULL), 0);	/* reuses slot 0 */
	assert_int_equal(vxts_keyslot_remove(v, 0), -EPERM);
	vxts_close(v);
	fx_free(&f);
}

/* A fake two-entry slot: a head whose span says 2, built by hand. */
static void r_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }

static void r_fix(uint8_t *e)
{
	assert_int_equal(vxts_sha256(e + 224, e, 224), 0);
}

static bool vxts_ks_zero(const uint8_t *e)
{
	for (int i = 0; i < VXTS_KEYSLOT_SIZE; i++)
		if (e[i])
			return false;
	return true;
}

static void r_two_entry(vxts_slot_table t)
{
	memset(t, 0, sizeof(vxts_slot_table));
	memcpy(t[2], "VXKS", 4);
	r_put16(t[2] + 4, 1);
	r_put16(t[2] + 6, VXTS_KEK_KMS);
	t[2][12] = 64;				/* key_len */
	r_put16(t[2] + 48, VXTS_MECH_RSA_OAEP_256);
	t[2][50] = 2;				/* entries */
	r_put16(t[2] + 52, 4);			/* ref "kek1" */
	r_put16(t[2] + 54, 256);		/* an RSA-2048 blob */
	memcpy(t[2] + 56, "kek1", 4);
	memset(t[2] + 60, 0xa5, 164);
	r_fix(t[2]);
	memcpy(t[3], "VXKC", 4);
	r_put16(t[3] + 4, 1);
	t[3][6] = 1;
	t[3][7] = 2;
	memset(t[3] + 8, 0xa5, 256 + 4 + 32 - 168);	/* rest of blob + MAC */
	r_fix(t[3]);
}

static void multi_entry_slots(void **state)
{
	static uint8_t one = 1;
	struct vxts_kek kms = { .type = VXTS_KEK_KMS, .command = "/bin/false" };
	struct vxts_kek kf = { .type = VXTS_KEK_KEYFILE, .secret = &one, .len = 1 };
	uint8_t key[64] = { 1 };
	struct vxts_keyslot_info ki;
	vxts_slot_table t;
	size_t len;

	r_two_entry(t);
	assert_int_equal(vxts_keyslot_table_info(t, 2, &ki), 0);
	assert_true(ki.in_use);
	assert_int_equal(ki.type, VXTS_KEK_KMS);
	assert_int_equal(ki.entries, 2);
	assert_string_equal(ki.ref, "kek1");
	assert_int_equal(vxts_keyslot_table_info(t, 3, &ki), 0);
	assert_int_equal(ki.type, VXTS_KEK_CONT);
	assert_int_equal(ki.head, 2);
	assert_int_equal(vxts_keyslot_table_open(t, 3, &kms, key, &len, NULL), -EINVAL);
	assert_int_equal(vxts_keyslot_table_clear(t, 3), -EINVAL);
	/* a first-fit seal must skip both entries: 0, 1 free; 2, 3 taken */
	assert_int_equal(vxts_keyslot_table_seal(t, 2, &kf, NULL, key, 64, 0), -EEXIST);
	assert_int_equal(vxts_keyslot_table_seal(t, 3, &kf, NULL, key, 64, 0), -EEXIST);
	/* damaged continuation: the head is unusable, structurally */
	t[3][100] ^= 1;
	r_fix(t[3]);
	t[3][100] ^= 1;		/* now its checksum is wrong */
	assert_int_equal(vxts_keyslot_table_info(t, 2, &ki), -EINVAL);
	assert_int_equal(vxts_keyslot_table_open(t, 2, &kms, key, &len, NULL), -EINVAL);
	/* a head whose span runs off the table */
	r_two_entry(t);
	memcpy(t[7], t[2], 256);
	memset(t[2], 0, 512);
	assert_int_equal(vxts_keyslot_table_info(t, 7, &ki), -EINVAL);
	/* clearing the head clears its continuation */
	r_two_entry(t);
	assert_int_equal(vxts_keyslot_table_clear(t, 2), 0);
	for (int i = 0; i < VXTS_KEYSLOTS; i++) {
		assert_int_equal(vxts_keyslot_table_info(t, i, &ki), 0);
		assert_false(ki.in_use);
	}
}

/*
 * Continuations are judged through their head: an orphan (head cleared,
 * damaged, of another kind, or of another span) is damaged, not "part of a
 * slot", and clears alone. On a volume: a damaged entry can be removed and
 * never counts as a holder of the key (the last good slot stays).
 */
static void orphan_and_damaged_entries(void **state)
{
	struct vxts_format_opts o = { 0 };
	struct vxts_keyslot_info ki;
	struct vxts_volume *v;
	vxts_slot_table t;
	struct fx f;

	/* head cleared: the continuation is an orphan */
	r_two_entry(t);
	memset(t[2], 0, 256);
	assert_int_equal(vxts_keyslot_table_info(t, 3, &ki), -EINVAL);
	assert_true(ki.damaged);
	assert_false(ki.in_use);
	assert_int_equal(vxts_keyslot_table_clear(t, 3), 0);
	assert_false(vxts_keyslot_table_info(t, 3, &ki) || ki.in_use || ki.damaged);
	/* the head's span disagrees with the continuation's */
	r_two_entry(t);
	t[3][7] = 3;
	r_fix(t[3]);
	assert_int_equal(vxts_keyslot_table_info(t, 3, &ki), -EINVAL);
	assert_true(ki.damaged);
	assert_int_equal(vxts_keyslot_table_info(t, 2, &ki), -EINVAL);
	assert_true(ki.damaged);
	/* a continuation pointing at a local slot */
	r_two_entry(t);
	memset(t[2], 0, 256);
	memcpy(t[2], "VXKS", 4);
	r_put16(t[2] + 4, 1);
	r_put16(t[2] + 6, VXTS_KEK_KEYFILE);
	r_fix(t[2]);
	assert_int_equal(vxts_keyslot_table_info(t, 3, &ki), -EINVAL);
	assert_true(ki.damaged);
	/* a damaged head clears alone; its continuation is then an orphan */
	r_two_entry(t);
	t[3][100] ^= 1;		/* continuation checksum now wrong */
	assert_int_equal(vxts_keyslot_table_info(t, 2, &ki), -EINVAL);
	assert_true(ki.damaged);
	assert_int_equal(vxts_keyslot_table_clear(t, 2), 0);
	assert_true(vxts_ks_zero(t[2]));
	assert_false(vxts_ks_zero(t[3]));
	t[3][100] ^= 1;		/* a good continuation again, but headless */
	assert_int_equal(vxts_keyslot_table_info(t, 3, &ki), -EINVAL);
	assert_true(ki.damaged);
	/* a valid continuation is still refused as a slot of its own */
	r_two_entry(t);
	assert_int_equal(vxts_keyslot_table_info(t, 3, &ki), 0);
	assert_false(ki.damaged);
	assert_int_equal(vxts_keyslot_table_clear(t, 3), -EINVAL);

	/* on a volume: slot 0 the only good key, 2-3 a damaged KMS slot, 6 an orphan */
	fx_init(&f, R_DATA, R_AREA, false, 74);
	assert_int_equal(fx_format(&f, &o), 0);
	assert_int_equal(fx_attach(&f, &v), 0);
	assert_int_equal(vxts_unlock(v, &f.kek), 0);
	r_two_entry(t);
	t[3][100] ^= 1;
	memcpy(v->h.slots[2], t[2], 512);
	r_two_entry(t);
	memcpy(v->h.slots[6], t[3], 256);
	t[3][100] ^= 1;
	assert_int_equal(vxts_keyslot_remove(v, 0), -EPERM);	/* 2 holds no key */
	assert_int_equal(vxts_keyslot_remove(v, 6), 0);	/* the orphan */
	assert_true(vxts_ks_zero(v->h.slots[6]));
	assert_int_equal(vxts_keyslot_remove(v, 2), 0);	/* the damaged head */
	assert_true(vxts_ks_zero(v->h.slots[2]));
	assert_int_equal(vxts_keyslot_remove(v, 3), 0);	/* now an orphan */
	assert_true(vxts_ks_zero(v->h.slots[3]));
	assert_int_equal(vxts_keyslot_remove(v, 3), -ENOENT);
	assert_int_equal(vxts_keyslot_remove(v, 0), -EPERM);
	vxts_close(v);
	assert_int_equal(fx_attach(&f, &v), 0);	/* committed, and authentic */
	assert_int_equal(vxts_unlock(v, &f.kek), 0);
	vxts_close(v);
	fx_free(&f);
}

static void base64_codec(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	static const char *const bad[] = { "Zg=", "Z===", "Zg=a", "Zm9v!A==", "=Zm9",
					   "Zm9vY===", "Zg==Zg==" };
	char enc[64];
	uint8_t dec[64];
	size_t n;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		vxts_b64_encode(enc, (const uint8_t *)v[i].in, strlen(v[i].in));
		assert_string_equal(enc, v[i].out);
		assert_int_equal(vxts_b64_decode(dec, sizeof(dec), &n, v[i].out,
						 strlen(v[i].out)), 0);
		assert_int_equal(n, strlen(v[i].in));
		assert_memory_equal(dec, v[i].in, n);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vxts_b64_decode(dec, sizeof(dec), &n, bad[i], strlen(bad[i])),
				 -EINVAL);
	assert_int_equal(vxts_b64_decode(dec, 2, &n, "Zm9v", 4), -EMSGSIZE);
}

/* The KMS helper's reply: what is accepted and what is "garbage". */
static void kms_reply_parser(void **state)
{
	static const struct { const char *in; int r, is_err; const char *val; } v[] = {
		{ "{\"data\":\"Zm9v\"}\n", 0, 0, "Zm9v" },
		{ " { \"kid\" : \"x\" , \"data\":\"QQ==\" } ", 0, 0, "QQ==" },
		{ "{\"data\":\"a\\/b\"}", 0, 0, "a/b" },
		{ "{\"error\":\"key disabled\"}", 0, 1, "key disabled" },
		{ "{\"error\":\"bad\\nline \\u00e9\"}", 0, 1, "bad?line ?" },
		{ "", -EPROTO, 0, NULL },
		{ "hello", -EPROTO, 0, NULL },
		{ "{}", -EPROTO, 0, NULL },
		{ "{\"data\":\"QQ==\",\"error\":\"x\"}", -EPROTO, 0, NULL },
		{ "{\"data\":\"QQ==\"} trailing", -EPROTO, 0, NULL },
		{ "{\"data\":42}", -EPROTO, 0, NULL },
		{ "{\"data\":\"QQ==\"", -EPROTO, 0, NULL },
		{ "{\"data\":\"QQ==\",}", -EPROTO, 0, NULL },
		{ "{\"data\":\"a\nb\"}", -EPROTO, 0, NULL },
		{ "{\"data\":\"\\x\"}", -EPROTO, 0, NULL },
	};
	char data[256], scratch[256], err[160];
	size_t n;
	int is_err;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int r = vxts_kms_parse_reply(v[i].in, strlen(v[i].in), data, &n, &is_err, err,
					     scratch);

		if (r != v[i].r)
			fail_msg("reply %zu '%s': %d, want %d", i, v[i].in, r, v[i].r);
		if (r)
			continue;
		assert_int_equal(is_err, v[i].is_err);
		assert_string_equal(is_err ? err : data, v[i].val);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rotate_crash_every_op),
		cmocka_unit_test(rotate_and_remove_guards),
		cmocka_unit_test(keyslot_commit_eio),
		cmocka_unit_test(multi_entry_slots),
		cmocka_unit_test(orphan_and_damaged_entries),
		cmocka_unit_test(base64_codec),
		cmocka_unit_test(kms_reply_parser),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
