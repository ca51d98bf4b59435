// SPDX-License-Identifier: GPL-2.0
/*
 * test_torn_sectors: checksum mode with 4096-byte data units on a device
 * whose atomic write is one 512-byte sector. A power cut at every op of the
 * run, tearing the write in flight on a sector boundary; the resume must
 * rebuild each torn unit from its sectors and give back the plaintext, in
 * every direction.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers/vol_fixture.h"
#include "kdf.h"

#define S_DATA (512u << 10)
#define S_AREA (256u << 10)

static const struct vxts_convert_opts s_opts = {
	.resilience = VXTS_RESILIENCE_CHECKSUM, .window_size = 64 << 10,
	.chunk_size = 16 << 10, .queue_depth = 4, .threads = 2,
};

static int s_run(struct fx *f, enum vxts_direction dir)
{
	return fx_run(f, dir, &s_opts, true);
}

static bool s_plain_ok(struct fx *f, bool encrypted)
{
	uint8_t key[VXTS_KEY_BYTES], sha[32];
	struct vxts_volume *v;

	assert_int_equal(fx_attach(f, &v), 0);
	assert_int_equal(vxts_unlock(v, &f->kek), 0);
	assert_int_equal(vxts_volume_key(v, VXTS_KEY_CURRENT, key), 0);
	vxts_close(v);
	fx_plain_sha(f, encrypted, key, 4096, 0, sha);
	return !memcmp(sha, f->plain_digest, 32);
}

static void s_campaign(enum vxts_direction dir)
{
	struct vxts_format_opts o = { .plaintext = true };
	int tried = 0, bad = 0, r;
	struct fx f;

	fx_init(&f, S_DATA, S_AREA, false, 31 + dir);
	assert_int_equal(fx_format(&f, &o), 0);
	if (dir != VXTS_DIR_ENCRYPT)
		assert_int_equal(s_run(&f, VXTS_DIR_ENCRYPT), 0);
	fx_snapshot(&f);
	for (long n = 1;; n++) {
		fx_restore(&f);
		fault_ctl_reset(&f.ctl);
		f.ctl.fail_at = n;
		f.ctl.tear = true;
		f.ctl.tear_align = 512;
		s_run(&f, dir);
		if (!f.ctl.crashed)
			break;
		fault_ctl_reset(&f.ctl);
		f.ctl.fail_at = 0;
		f.ctl.tear = false;
		tried++;
		r = s_run(&f, dir);
		if (r && ++bad <= 3)
			print_message("# cut at op %ld: resume %d: %s\n", n, r, vxts_error_detail());
		else if (!r && !s_plain_ok(&f, dir != VXTS_DIR_DECRYPT) && ++bad <= 3)
			print_message("# cut at op %ld: plaintext differs\n", n);
	}
	print_message("# %s: %d cuts, %d not recovered\n", vxts_direction_name(dir), tried, bad);
	assert_true(tried > 50);
	assert_int_equal(bad, 0);
	fx_free(&f);
}

static void encrypt_sector_tears(void **state)
{
	s_campaign(VXTS_DIR_ENCRYPT);
}

static void decrypt_sector_tears(void **state)
{
	s_campaign(VXTS_DIR_DECRYPT);
}

static void reencrypt_sector_tears(void **state)
{
	s_campaign(VXTS_DIR_REENCRYPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encrypt_sector_tears),
		cmocka_unit_test(decrypt_sector_tears),
		cmocka_unit_test(reencrypt_sector_tears),
	};

	return cmocka_run_group_tests_name("torn_sectors", tests, NULL, NULL);
}
