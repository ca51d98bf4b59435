// SPDX-License-Identifier: GPL-2.0
/*
 * test_double_crash: two crashes in a row. Crash 1 lands where the header
 * copies disagree (copy 1 names window W, copy 2 still W-1); crash 2 tears
 * a write during the resume. The second resume must finish and give back
 * the original plaintext: a stale copy must never be the fallback once the
 * record slot it names has been reused, nor name a window already redone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "header.h"
#include "helpers/vol_fixture.h"
#include "kdf.h"

#define D_DATA (512u << 10)
#define D_AREA (256u << 10)
#define D_MAX_OPS 400		/* more than one whole run takes */

static const struct vxts_convert_opts d_opts = {
	.resilience = VXTS_RESILIENCE_JOURNAL, .window_size = 64 << 10,
	.chunk_size = 16 << 10, .queue_depth = 4, .threads = 2,
};

static int d_run(struct fx *f)
{
	return fx_run(f, VXTS_DIR_ENCRYPT, &d_opts, true);
}

/* Power cut at op @op (a torn write with @tear); false if the run ended first. */
static bool d_crash_at(struct fx *f, long op, bool tear)
{
	bool crashed;

	fault_ctl_reset(&f->ctl);
	f->ctl.fail_at = op;
	f->ctl.tear = tear;
	f->ctl.tear_align = 1;
	d_run(f);
	crashed = f->ctl.crashed;
	fault_ctl_reset(&f->ctl);
	f->ctl.fail_at = 0;
	f->ctl.tear = false;
	return crashed;
}

/* Both copies decode but name different windows. */
/* Two nested snapshots of the whole image (data, then header area). */
static void d_save(const struct fx *f, uint8_t *snap)
{
	memcpy(snap, f->data, D_DATA);
	memcpy(snap + D_DATA, f->hdr, D_AREA);
}

static void d_load(struct fx *f, const uint8_t *snap)
{
	memcpy(f->data, snap, D_DATA);
	memcpy(f->hdr, snap + D_DATA, D_AREA);
}

static bool d_copies_disagree(struct fx *f)
{
	struct vxts_header h[2];
	char why[96];

	for (int i = 0; i < 2; i++)
		if (vxts_hdr_decode(fx_area(f) + i * VXTS_HDR_COPY_SIZE, &h[i], why, sizeof(why)))
			return false;
	return h[0].seq != h[1].seq && h[0].win_off != h[1].win_off;
}

/* Finished, encrypted, and decrypts to the original. */
static bool d_intact(struct fx *f, char *why, size_t len)
{
	uint8_t key[VXTS_KEY_BYTES], sha[32];
	struct vxts_volume *v;
	struct vxts_info in;
	int r = d_run(f);

	if (r) {
		snprintf(why, len, "resume: %d %s", r, vxts_error_detail());
		return false;
	}
	r = fx_attach(f, &v);
	if (!r)
		r = vxts_unlock(v, &f->kek);
	if (!r)
		r = vxts_volume_key(v, VXTS_KEY_CURRENT, key);
	if (!r)
		vxts_info(v, &in);
	vxts_close(v);
	if (r || in.state != VXTS_STATE_ENCRYPTED) {
		snprintf(why, len, "reopen %d / state %d", r, r ? 0 : in.state);
		return false;
	}
	fx_plain_sha(f, true, key, in.unit_size, in.iv_offset, sha);
	snprintf(why, len, "plaintext SHA-256 differs from the original");
	return !memcmp(sha, f->plain_digest, 32);
}

/*
 * Crash 1 at every op where the copies end up disagreeing; crash 2 (a tear)
 * at every op of the resume. Tens of thousands of ops in all: ~5 s.
 */
static void journal_double_crash(void **state)
{
	struct vxts_format_opts o = { .plaintext = true };
	uint8_t *s0 = malloc(2 * (D_DATA + D_AREA)), *s1 = s0 + D_DATA + D_AREA;
	int tried = 0, bad = 0, disagree = 0;
	char why[256];
	struct fx f;

	fx_init(&f, D_DATA, D_AREA, false, 11);
	assert_int_equal(fx_format(&f, &o), 0);
	d_save(&f, s0);
	for (long n1 = 1; n1 < D_MAX_OPS; n1++) {
		d_load(&f, s0);
		if (!d_crash_at(&f, n1, false))
			break;
		if (!d_copies_disagree(&f))
			continue;
		disagree++;
		d_save(&f, s1);
		for (long n2 = 1; n2 < D_MAX_OPS; n2++) {
			d_load(&f, s1);
			if (!d_crash_at(&f, n2, true))
				break;
			tried++;
			if (!d_intact(&f, why, sizeof(why)) && ++bad <= 3)
				print_message("# crash 1 at op %ld, tear at op %ld: %s\n", n1, n2, why);
		}
	}
	print_message("# %d first crashes left the copies disagreeing; %d double crashes, "
		      "%d lost\n", disagree, tried, bad);
	assert_true(disagree > 0);
	assert_true(tried > 100);
	assert_int_equal(bad, 0);
	free(s0);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(journal_double_crash),
	};

	return cmocka_run_group_tests_name("double_crash", tests, NULL, NULL);
}
