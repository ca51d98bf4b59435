// SPDX-License-Identifier: GPL-2.0
/*
 * test_convert: the conversion state machine under injected faults.
 *
 * The crash campaign loops N over every IO operation of a small conversion
 * (1 MiB, 64 KiB windows, 16 KiB chunks: a few hundred ops), cuts power at op
 * N (plain failure, torn write, torn write + lost unsynced writes), resumes
 * on a healthy device and proves the plaintext survived: SHA-256 of the data
 * read back (decrypted with the volume key) equals the original. Encrypt,
 * decrypt and re-key, checksum and journal resilience.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kdf.h"
#include "helpers/vol_fixture.h"

#define T_DATA (512u << 10)
#define T_AREA (256u << 10)

enum crash_variant {
	CV_FAIL,		/* op N fails, nothing of it lands */
	CV_TEAR,		/* op N (a write) lands partly */
	CV_TEAR_DROP,		/* ... and every unsynced write is lost */
	CV_COUNT,
};

struct crash_case {
	enum vxts_direction dir;
	enum vxts_resilience res;
	uint32_t unit;
	uint32_t tear_align;	/* checksum mode assumes atomic unit writes */
	bool at_end;
};

static const struct vxts_convert_opts *t_opts(enum vxts_resilience res)
{
	static struct vxts_convert_opts o;

	o = (struct vxts_convert_opts){
		.resilience = res, .window_size = 64 << 10, .chunk_size = 16 << 10,
		.queue_depth = 4, .threads = 2,
	};
	return &o;
}

/* One `vxts <verb>` run; a resumed one may find the job already done. */
static int t_run(struct fx *f, enum vxts_direction dir, enum vxts_resilience res,
		 bool resume)
{
	return fx_run(f, dir, t_opts(res), resume);
}

/* The volume is finished for @dir and holds the original plaintext. */
static int t_verify(struct fx *f, enum vxts_direction dir, const uint8_t *old_key, char *why,
		    size_t len)
{
	struct vxts_volume *v;
	struct vxts_info in;
	uint8_t key[VXTS_KEY_BYTES], sha[32];
	bool enc = dir != VXTS_DIR_DECRYPT;
	int r = fx_attach(f, &v);

	if (!r)
		r = vxts_unlock(v, &f->kek);
	if (!r)
		r = vxts_volume_key(v, VXTS_KEY_CURRENT, key);
	if (r) {
		snprintf(why, len, "reopen: %d %s", r, vxts_error_detail());
		vxts_close(v);
		return r;
	}
	vxts_info(v, &in);
	vxts_close(v);
	if (in.state != (enc ? VXTS_STATE_ENCRYPTED : VXTS_STATE_PLAINTEXT) ||
	    in.direction != VXTS_DIR_NONE) {
		snprintf(why, len, "state %s, direction %s", vxts_state_name(in.state),
			 vxts_direction_name(in.direction));
		return -1;
	}
	if (dir == VXTS_DIR_REENCRYPT && !memcmp(key, old_key, VXTS_KEY_BYTES)) {
		snprintf(why, len, "re-key finished but the old key is still current");
		return -1;
	}
	fx_plain_sha(f, enc, key, in.unit_size, in.iv_offset, sha);
	if (memcmp(sha, f->plain_digest, 32)) {
		snprintf(why, len, "plaintext SHA-256 differs from the original");
		return -1;
	}
	return 0;
}

/* Formats, and for decrypt/re-key encrypts first (healthy), so the campaign starts there. */
static void t_prepare(struct fx *f, const struct crash_case *cc, uint8_t *dek)
{
	struct vxts_format_opts o = { .plaintext = true, .unit_size = cc->unit, .iv_offset = 8 };
	struct vxts_volume *v;

	fx_init(f, T_DATA, T_AREA, cc->at_end, 7 + cc->dir * 3 + cc->res);
	assert_int_equal(fx_format(f, &o), 0);
	if (cc->dir != VXTS_DIR_ENCRYPT)
		assert_int_equal(t_run(f, VXTS_DIR_ENCRYPT, cc->res, false), 0);
	assert_int_equal(fx_attach(f, &v), 0);
	assert_int_equal(vxts_unlock(v, &f->kek), 0);
	assert_int_equal(vxts_volume_key(v, VXTS_KEY_CURRENT, dek), 0);
	vxts_close(v);
	fx_snapshot(f);
}

/* One crash at op @n; returns false once the run finished before op n. */
static bool t_crash_at(struct fx *f, const struct crash_case *cc, enum crash_variant cv,
		       long n, const uint8_t *dek)
{
	char why[256];
	bool hit;
	int r;

	fx_restore(f);
	fault_ctl_reset(&f->ctl);
	f->ctl.fail_at = n;
	f->ctl.tear = cv != CV_FAIL;
	f->ctl.tear_align = cc->tear_align;
	f->ctl.drop_unsynced = cv == CV_TEAR_DROP;
	r = t_run(f, cc->dir, cc->res, false);
	hit = f->ctl.crashed;
	if (hit && !r)
		fail_msg("op %ld failed but the run reported success", n);
	if (!hit && r)
		fail_msg("healthy run failed: %d %s", r, vxts_error_detail());
	fault_ctl_reset(&f->ctl);
	f->ctl.fail_at = 0;
	f->ctl.drop_unsynced = false;
	if (hit) {
		r = t_run(f, cc->dir, cc->res, true);
		if (r)
			fail_msg("variant %d, crash at op %ld: resume failed %d: %s", cv, n, r,
				 vxts_error_detail());
	}
	if (t_verify(f, cc->dir, dek, why, sizeof(why)))
		fail_msg("variant %d, crash at op %ld: %s", cv, n, why);
	return hit;
}

static void t_campaign(const struct crash_case *cc)
{
	uint8_t dek[VXTS_KEY_BYTES];
	struct fx f;
	long n;

	t_prepare(&f, cc, dek);
	for (int cv = 0; cv < CV_COUNT; cv++) {
		for (n = 1; t_crash_at(&f, cc, cv, n, dek); n++)
			;
		/* 16 windows: anything much smaller means ops were not counted. */
		assert_true(n > 100);
		if (cv == 0)
			print_message("# %s/%s unit %u%s: %ld ops, each crashed x%d variants\n",
				      vxts_direction_name(cc->dir), vxts_resilience_name(cc->res),
				      cc->unit, cc->at_end ? " header-at-end" : "", n - 1,
				      CV_COUNT);
	}
	fx_free(&f);
}

#define CRASH_TEST(name, ...)						\
	static void name(void **state)					\
	{								\
		static const struct crash_case cc = { __VA_ARGS__ };	\
		t_campaign(&cc);					\
	}

CRASH_TEST(crash_encrypt_checksum, VXTS_DIR_ENCRYPT, VXTS_RESILIENCE_CHECKSUM, 4096, 4096, false)
CRASH_TEST(crash_encrypt_journal, VXTS_DIR_ENCRYPT, VXTS_RESILIENCE_JOURNAL, 4096, 1, false)
CRASH_TEST(crash_decrypt_checksum, VXTS_DIR_DECRYPT, VXTS_RESILIENCE_CHECKSUM, 4096, 4096, false)
CRASH_TEST(crash_decrypt_journal, VXTS_DIR_DECRYPT, VXTS_RESILIENCE_JOURNAL, 4096, 1, false)
CRASH_TEST(crash_reencrypt_checksum, VXTS_DIR_REENCRYPT, VXTS_RESILIENCE_CHECKSUM, 4096, 4096, false)
CRASH_TEST(crash_reencrypt_journal, VXTS_DIR_REENCRYPT, VXTS_RESILIENCE_JOURNAL, 4096, 1, false)
CRASH_TEST(crash_encrypt_checksum_512, VXTS_DIR_ENCRYPT, VXTS_RESILIENCE_CHECKSUM, 512, 512, false)
CRASH_TEST(crash_encrypt_journal_at_end, VXTS_DIR_ENCRYPT, VXTS_RESILIENCE_JOURNAL, 4096, 1, true)
CRASH_TEST(crash_reencrypt_checksum_at_end, VXTS_DIR_REENCRYPT, VXTS_RESILIENCE_CHECKSUM, 512, 512, true)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crash_encrypt_checksum),
		cmocka_unit_test(crash_encrypt_journal),
		cmocka_unit_test(crash_decrypt_checksum),
		cmocka_unit_test(crash_decrypt_journal),
		cmocka_unit_test(crash_reencrypt_checksum),
		cmocka_unit_test(crash_reencrypt_journal),
		cmocka_unit_test(crash_encrypt_checksum_512),
		cmocka_unit_test(crash_encrypt_journal_at_end),
		cmocka_unit_test(crash_reencrypt_checksum_at_end),
	};

	return cmocka_run_group_tests_name("convert_crash", tests, NULL, NULL);
}
