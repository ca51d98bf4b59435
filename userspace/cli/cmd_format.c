// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: format a new, empty volume.
 *
 * Only the header is written; whatever the data area held becomes
 * unreadable noise under the new random volume key, so this asks first
 * (--yes, or YES typed on a TTY).
 */
#include <errno.h>
#include <stdio.h>

#include "cli.h"
#include "vxts.h"

static int cli_format_print(const struct cli_opts *o)
{
	struct vxts_volume *v;
	struct vxts_info in;
	struct cli_json j;
	int r;

	r = cli_open(o, "format", false, &v);
	if (!r)
		r = vxts_info(v, &in);
	vxts_close(v);
	if (r)
		return cli_fail(o, "format", o->pos[0], r, 0);
	if (o->json) {
		cli_json_result(&j, o, "format");
		cli_json_info(&j, &in);
		cli_json_end(&j);
	} else {
		printf("%s: formatted, uuid %s, sector size %u, %llu bytes of data\n",
		       o->pos[0], in.uuid_str, in.unit_size,
		       (unsigned long long)in.data_size);
	}
	return CLI_EXIT_OK;
}

int cli_cmd_format(const struct cli_opts *o)
{
	struct vxts_argon2_params a;
	struct vxts_format_opts fo = {
		.header = o->header,
		.header_at_end = !o->header,
		.label = o->label,
		.unit_size = o->sector_size,
		.iv_offset = o->iv_offset,
	};
	struct vxts_kek kek;
	struct cli_key k;
	char what[300];
	int r;

	if (o->header && o->header_at_end) {
		cli_err("format: --header and --header-at-end exclude each other");
		return CLI_EXIT_USAGE;
	}
	snprintf(what, sizeof(what),
		 "format %s: its present contents become unreadable", o->pos[0]);
	if (!cli_confirm(o, what)) {
		cli_detail("not confirmed: add --yes to format %s", o->pos[0]);
		return cli_fail(o, "format", o->pos[0], -ECANCELED, CLI_EXIT_USAGE);
	}
	r = cli_recovery_out_check(o, "format");
	if (r)
		return r;
	if (cli_argon2(o, &a))
		fo.argon2 = &a;
	r = cli_key_get(&k, o, CLI_KEY_UNLOCK, true);
	if (r) {
		cli_key_put(&k);
		return cli_fail(o, "format", o->pos[0], r, 0);
	}
	cli_key_kek(&k, &kek);
	r = vxts_format(o->pos[0], &fo, &kek);
	/* arguments are checked here: -EINVAL is the device's geometry */
	if (r) {
		cli_key_put(&k);
		return cli_fail(o, "format", o->pos[0], r,
				r == -EINVAL || r == -ENOSPC ? CLI_EXIT_UNSUITABLE : 0);
	}
	r = o->recovery_key_file ? cli_recovery_setup(o, "format", &k) : 0;
	cli_key_put(&k);
	return r ? r : cli_format_print(o);
}
