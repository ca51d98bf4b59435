// SPDX-License-Identifier: GPL-2.0
/*
 * test_online_flush: held (online) conversion under power cuts at every
 * device operation, with an application write to a window that completed
 * (but was not flushed) before the window was held. The engine reads and
 * tags that write; the volume must stay recoverable at every cut, with the
 * header detached (its own device: its syncs do not flush the data disk)
 * and at the end of the data device, for checksum and journal records.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "convert.h"
#include "dev.h"
#include "helpers/vol_fixture.h"

#define T_DATA (512u << 10)
#define T_AREA (256u << 10)
#define T_APP_OFF (128u << 10)	/* the window the application writes to */

struct t_app {
	struct vxts_volume *v;
	int wrote;
};

/* Hold callback: the write to the window lands (volatile) just before the hold. */
static int t_hold(void *ctx, uint64_t off, uint64_t len)
{
	static uint8_t buf[4096] __attribute__((aligned(4096)));
	struct t_app *a = ctx;

	if (off != T_APP_OFF || a->wrote)
		return 0;
	a->wrote = 1;
	memset(buf, 0x5C, sizeof(buf));
	return vxts_dev_rw(a->v->data, VXTS_IO_WRITE, buf, sizeof(buf), off + 8192);
}

static int t_release(void *ctx, uint64_t off, uint64_t len, uint64_t boundary)
{
	return 0;
}

static void t_campaign(enum vxts_resilience res, bool at_end)
{
	struct vxts_convert_opts co = {
		.resilience = res, .window_size = 64 << 10, .chunk_size = 16 << 10,
		.queue_depth = 4, .threads = 2,
	};
	struct vxts_format_opts fo = { .plaintext = true, .force = true };
	int bad = 0, cuts = 0, r;
	struct fx f;

	fx_init(&f, T_DATA, T_AREA, at_end, 11);
	assert_int_equal(fx_format(&f, &fo), 0);
	fx_snapshot(&f);
	for (long n = 1; n < 1000; n++) {
		struct t_app a = { 0 };
		struct vxts_conv_hold hold = { .hold = t_hold, .release = t_release, .ctx = &a };
		struct vxts_volume *v;

		fx_restore(&f);
		fault_ctl_reset(&f.ctl);
		f.ctl.fail_at = 0;
		f.ctl.drop_unsynced = true;
		assert_int_equal(fx_attach(&f, &v), 0);
		assert_int_equal(vxts_unlock(v, &f.kek), 0);
		assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, &f.kek, 1), 0);
		a.v = v;
		f.ctl.fail_at = f.ctl.ops + n;
		r = vxts_convert_held(v, &co, &hold);
		vxts_close(v);
		if (!f.ctl.crashed) {
			assert_int_equal(r, 0);
			break;
		}
		cuts++;
		/* power back: `vxts open` recovers, then the conversion finishes */
		fault_ctl_reset(&f.ctl);
		f.ctl.fail_at = 0;
		f.ctl.drop_unsynced = false;
		assert_int_equal(fx_attach(&f, &v), 0);
		assert_int_equal(vxts_unlock(v, &f.kek), 0);
		r = vxts_recover(v);
		if (!r)
			r = vxts_convert(v, &co);
		if (r == -EALREADY)	/* the cut came after the final commit */
			r = 0;
		if (r) {
			bad++;
			print_message("# cut at op +%ld: %d %s\n", n, r, vxts_error_detail());
		}
		vxts_close(v);
	}
	fx_free(&f);
	print_message("# %d cut points, %d left the volume unrecoverable\n", cuts, bad);
	assert_true(cuts > 20);
	assert_int_equal(bad, 0);
}

static void detached_checksum(void **state)
{
	t_campaign(VXTS_RESILIENCE_CHECKSUM, false);
}

static void detached_journal(void **state)
{
	t_campaign(VXTS_RESILIENCE_JOURNAL, false);
}

static void at_end_checksum(void **state)
{
	t_campaign(VXTS_RESILIENCE_CHECKSUM, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(detached_checksum),
		cmocka_unit_test(detached_journal),
		cmocka_unit_test(at_end_checksum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
