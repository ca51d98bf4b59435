// SPDX-License-Identifier: GPL-2.0
/*
 * test_record_wipe: a journal record is a copy of an old window. Once the
 * header names no window (conversion finished, or stopped between windows)
 * no old data may be left in the header area: no 512-byte sector of the
 * original plaintext (encrypt) or of the old ciphertext (re-key) anywhere in
 * it, and the resilience slots all zero.
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

#define W_DATA (512u << 10)
#define W_AREA (256u << 10)

static const struct vxts_convert_opts w_opts = {
	.resilience = VXTS_RESILIENCE_JOURNAL, .window_size = 64 << 10,
	.chunk_size = 16 << 10, .queue_depth = 4, .threads = 2,
};

static int w_stop_after_two(uint64_t done, uint64_t total, void *ctx)
{
	return ++*(int *)ctx >= 2;
}

static int w_run(struct fx *f, enum vxts_direction dir, bool stop)
{
	struct vxts_convert_opts o = w_opts;
	struct vxts_volume *v;
	int calls = 0, r;

	if (stop) {
		o.progress = w_stop_after_two;
		o.progress_ctx = &calls;
	}
	r = fx_attach(f, &v);
	if (!r)
		r = vxts_unlock(v, &f->kek);
	if (!r)
		r = vxts_convert_start(v, dir, &o, &f->kek, 1);
	if (!r)
		r = vxts_convert(v, &o);
	vxts_close(v);
	return r;
}

/* No sector of @old (the data area as it was) in the header area; slots zero. */
static void w_check_area(struct fx *f, const uint8_t *old)
{
	const uint8_t *a = fx_area(f);
	size_t found = 0;

	for (size_t s = 0; s < W_DATA; s += 512)
		found += memmem(a, W_AREA, old + s, 512) != NULL;
	assert_int_equal(found, 0);
	for (size_t i = VXTS_HDR_RES_BASE; i < W_AREA; i++)
		if (a[i])
			fail_msg("header area byte %zu is not zero after the run", i);
}

static void w_case(bool at_end, enum vxts_direction dir, bool stop)
{
	struct vxts_format_opts o = { .plaintext = true };
	uint8_t *old = malloc(W_DATA);
	struct fx f;

	fx_init(&f, W_DATA, W_AREA, at_end, 41 + at_end);
	assert_int_equal(fx_format(&f, &o), 0);
	if (dir == VXTS_DIR_REENCRYPT)
		assert_int_equal(w_run(&f, VXTS_DIR_ENCRYPT, false), 0);
	memcpy(old, f.data, W_DATA);
	assert_int_equal(w_run(&f, dir, stop), stop ? -EINTR : 0);
	w_check_area(&f, old);
	free(old);
	fx_free(&f);
}

static void encrypt_leaves_no_plaintext(void **state)
{
	w_case(false, VXTS_DIR_ENCRYPT, false);
	w_case(true, VXTS_DIR_ENCRYPT, false);
}

static void stop_leaves_no_plaintext(void **state)
{
	w_case(false, VXTS_DIR_ENCRYPT, true);
	w_case(true, VXTS_DIR_ENCRYPT, true);
}

static void rekey_leaves_no_old_ciphertext(void **state)
{
	w_case(false, VXTS_DIR_REENCRYPT, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encrypt_leaves_no_plaintext),
		cmocka_unit_test(stop_leaves_no_plaintext),
		cmocka_unit_test(rekey_leaves_no_old_ciphertext),
	};

	return cmocka_run_group_tests_name("record_wipe", tests, NULL, NULL);
}
