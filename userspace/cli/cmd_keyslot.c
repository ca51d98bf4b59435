// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: keyslot add and remove (KEK rotation).
 *
 * Both unlock with an existing key first; neither touches the data area.
 * remove needs --slot: a KEK cannot be matched to its slot without the
 * library telling which slot it opened, and guessing would be worse.
 */
#include <errno.h>
#include <stdio.h>

#include "cli.h"
#include "vxts.h"

static int cli_keyslot_open(const struct cli_opts *o, const char *verb,
			    struct vxts_volume **v, struct vxts_info *in)
{
	int r;

	r = cli_open(o, verb, true, v);
	if (!r)
		r = cli_unlock(o, *v);
	if (!r)
		r = vxts_info(*v, in);
	return r;
}

static void cli_keyslot_print(const struct cli_opts *o, const char *verb,
			      int slot, const char *what, struct vxts_volume *v)
{
	struct vxts_info in;
	struct cli_json j;

	if (!o->json) {
		printf("%s: keyslot %d %s\n", o->pos[0], slot, what);
		return;
	}
	cli_json_result(&j, o, verb);
	cli_json_i64(&j, "slot", slot);
	cli_json_str(&j, "result", what);
	if (!vxts_info(v, &in))
		cli_json_slots(&j, &in);
	cli_json_end(&j);
}

/* The slot that is in use now and was not before: the one just added. */
static int cli_keyslot_new(const struct vxts_info *before, const struct vxts_info *after)
{
	int i;

	for (i = 0; i < VXTS_KEYSLOTS; i++)
		if (after->slots[i].in_use && !before->slots[i].in_use)
			return i;
	return -1;
}

static int cli_keyslot_errcode(int r)
{
	return r == -ENOSPC || r == -EEXIST || r == -EBUSY ? CLI_EXIT_STATE : 0;
}

int cli_cmd_keyslot_add(const struct cli_opts *o)
{
	struct vxts_argon2_params a;
	struct vxts_info before, after;
	struct vxts_volume *v = NULL;
	struct vxts_kek kek;
	struct cli_key k = { 0 };
	int r;

	r = cli_keyslot_open(o, "keyslot add", &v, &before);
	if (!r)
		r = cli_key_get(&k, o, CLI_KEY_NEW, true);
	if (!r) {
		kek = (struct vxts_kek){ .type = k.type, .secret = k.secret, .len = k.len };
		r = vxts_keyslot_add(v, &kek, cli_argon2(o, &a) ? &a : NULL, o->slot);
		/* the library may return the slot it used: any r >= 0 is success */
		if (r < 0)
			r = cli_fail(o, "keyslot add", o->pos[0], r,
				     cli_keyslot_errcode(r));
		else
			r = 0;
	} else {
		r = cli_fail(o, "keyslot add", o->pos[0], r, 0);
	}
	cli_key_put(&k);
	if (!r && !vxts_info(v, &after))
		cli_keyslot_print(o, "keyslot add", cli_keyslot_new(&before, &after),
				  "added", v);
	vxts_close(v);
	return r;
}

int cli_cmd_keyslot_remove(const struct cli_opts *o)
{
	struct vxts_volume *v = NULL;
	struct vxts_info in;
	char what[128];
	int r;

	if (o->slot < 0) {
		cli_err("keyslot remove: give --slot N (see `vxts keyslot list %s`)",
			o->pos[0]);
		return CLI_EXIT_USAGE;
	}
	r = cli_keyslot_open(o, "keyslot remove", &v, &in);
	if (r) {
		r = cli_fail(o, "keyslot remove", o->pos[0], r, 0);
		goto out;
	}
	if (!in.slots[o->slot].in_use) {
		cli_keyslot_print(o, "keyslot remove", o->slot, "already empty", v);
		goto out;
	}
	snprintf(what, sizeof(what), "remove keyslot %d of %s", o->slot, o->pos[0]);
	if (!cli_confirm(o, what)) {
		cli_detail("not confirmed: add --yes to remove keyslot %d", o->slot);
		r = cli_fail(o, "keyslot remove", o->pos[0], -ECANCELED, CLI_EXIT_USAGE);
		goto out;
	}
	r = vxts_keyslot_remove(v, o->slot);
	/* -EPERM here is the library refusing to drop the last key, not a wrong key */
	if (r)
		r = cli_fail(o, "keyslot remove", o->pos[0], r,
			     r == -EPERM ? CLI_EXIT_STATE : cli_keyslot_errcode(r));
	else
		cli_keyslot_print(o, "keyslot remove", o->slot, "removed", v);
out:
	vxts_close(v);
	return r;
}
