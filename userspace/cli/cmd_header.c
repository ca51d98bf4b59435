// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: header backup and restore.
 *
 * A backup holds the keyslots as they are on disk (keys wrapped), so it is
 * as sensitive as the header itself but never holds a plain key. Restore is
 * the fix the "header corrupt" message points to; the library refuses a
 * backup of another volume, or one older than a conversion made since.
 */
#include <errno.h>
#include <stdio.h>

#include "cli.h"
#include "vxts.h"

static void cli_header_print(const struct cli_opts *o, const char *verb,
			     const char *what)
{
	struct cli_json j;

	if (!o->json) {
		printf("%s: header %s %s\n", o->pos[0], what, o->pos[1]);
		return;
	}
	cli_json_result(&j, o, verb);
	cli_json_str(&j, "file", o->pos[1]);
	cli_json_end(&j);
}

int cli_cmd_header_backup(const struct cli_opts *o)
{
	struct vxts_volume *v;
	int r;

	r = cli_open(o, "header backup", false, &v);
	if (!r)
		r = vxts_header_backup(v, o->pos[1]);
	vxts_close(v);
	/* FILE there is a usage error: -EEXIST alone would read "vxts header present" */
	if (r == -EEXIST)
		cli_detail("%s exists: choose another name (a backup never "
			   "overwrites a file)", o->pos[1]);
	if (r)
		return cli_fail(o, "header backup", o->pos[0], r,
				r == -EEXIST ? CLI_EXIT_USAGE : 0);
	cli_header_print(o, "header backup", "saved to");
	return CLI_EXIT_OK;
}

int cli_cmd_header_restore(const struct cli_opts *o)
{
	char what[300];
	int r;

	snprintf(what, sizeof(what), "restore the header of %s from %s",
		 o->pos[0], o->pos[1]);
	if (!cli_confirm(o, what)) {
		cli_detail("not confirmed: add --yes to restore the header");
		return cli_fail(o, "header restore", o->pos[0], -ECANCELED,
				CLI_EXIT_USAGE);
	}
	r = vxts_header_restore_flags(o->pos[0], o->header, o->pos[1],
				      o->force ? VXTS_RESTORE_FORCE : 0);
	if (r)
		return cli_fail(o, "header restore", o->pos[0], r,
				r == -EINVAL ? CLI_EXIT_FAIL : 0);
	cli_header_print(o, "header restore", "restored from");
	return CLI_EXIT_OK;
}
