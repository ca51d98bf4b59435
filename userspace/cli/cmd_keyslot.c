// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: keyslot add, remove and rotate (KEK rotation), and the
 * recovery key that format/encrypt/keyslot add can create.
 *
 * All of them unlock with an existing key first; none touches the data
 * area. remove and rotate need --slot: a KEK cannot be matched to its slot
 * without the library telling which slot it opened, and guessing would be
 * worse.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "secmem.h"
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

/*
 * A keyslot change whose copy 1 landed but copy 2 did not is committed (the
 * library returns success: only the new keys open); say so, loudly.
 */
static void cli_keyslot_stale_warn(const struct cli_opts *o, struct vxts_volume *v)
{
	struct vxts_info in;

	if (!vxts_info(v, &in) && in.valid_copies != 3)
		cli_warn("%s: the change IS in effect (header copy 1), but header copy 2 "
			 "could not be written and still holds the previous header; the next "
			 "header update rewrites it: check the device (dmesg)", o->pos[0]);
}

/*
 * A slot wrapped under a public key (RSA-OAEP through a token or a KMS
 * helper): whoever holds that public key can wrap a volume key of their own
 * and forge a header that opens with it (docs/KEYS.md, threat model). No
 * signature scheme protects such slots; say so once, when one is made.
 */
static void cli_keyslot_pubkey_warn(const struct cli_opts *o, struct vxts_volume *v, int slot)
{
	struct vxts_info in;
	unsigned int m;

	if (slot < 0 || slot >= VXTS_KEYSLOTS || vxts_info(v, &in) || !in.slots[slot].in_use)
		return;
	m = in.slots[slot].mech;
	if (m != VXTS_MECH_RSA_OAEP_256 && m != VXTS_MECH_RSA_OAEP)
		return;
	cli_warn("keyslot %d is wrapped with a public key (%s): anyone holding that public "
		 "key can forge a header that opens with a volume key of their choice. "
		 "Prefer a symmetric KEK (PKCS#11 AES-KWP, a vault-side AES key wrap), or "
		 "pin the volume key with --expect-key-check at every unlock (docs/KEYS.md)",
		 slot, vxts_ks_mech_name(m));
}

static void cli_keyslot_print(const struct cli_opts *o, const char *verb,
			      int slot, const char *what, struct vxts_volume *v)
{
	struct vxts_info in;
	struct cli_json j;

	cli_keyslot_stale_warn(o, v);
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

/*
 * After the volume is open and unlocked, -EBUSY is the library refusing a
 * change during a re-key (state, 11); from the open itself it is the lock
 * of another vxts (busy, 4: retry later), so @opened says which.
 */
static int cli_keyslot_errcode(int r, bool opened)
{
	if (!opened)
		return 0;
	return r == -ENOSPC || r == -EEXIST || r == -EBUSY ? CLI_EXIT_STATE : 0;
}

/* --recovery-key-file OUT must not exist: checked before anything is opened. */
int cli_recovery_out_check(const struct cli_opts *o, const char *verb)
{
	const char *out = o->recovery_key_file;

	if (!out || !strcmp(out, "-") || access(out, F_OK))
		return 0;
	cli_detail("%s exists: a recovery key is never written over a file; choose "
		   "another name for --recovery-key-file", out);
	return cli_fail(o, verb, o->pos[0], -EEXIST, CLI_EXIT_USAGE);
}

/* ---- recovery key ---------------------------------------------------------------- */

/* @text into a new 0600 file @path (never through a symlink), synced. */
static int cli_recovery_write(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0) {
		r = -errno;
		cli_detail("cannot create %s: %s", path, strerror(-r));
		return r;
	}
	if (write(fd, text, len) != (ssize_t)len || fsync(fd))
		r = -EIO;
	close(fd);
	if (r)
		cli_detail("cannot write %s", path);
	return r;
}

/*
 * The key is written to OUT.partial (synced) before its slot is committed
 * and linked to OUT (synced) after, so no crash loses a key whose slot is
 * on disk:
 *   - crash before the slot commit: OUT.partial opens nothing; OUT absent;
 *   - crash after the commit, before the link: OUT.partial holds the key of
 *     a committed slot (the message of a failed run names it);
 *   - after the link: OUT holds it, OUT.partial is removed.
 * With OUT "-" the key is printed once on stdout after the commit: a crash
 * in between leaves a recovery slot nobody knows (remove it and add again).
 */
static int cli_recovery_add(const struct cli_opts *o, struct vxts_volume *v, int *slot)
{
	const char *out = o->recovery_key_file;
	bool to_stdout = !strcmp(out, "-");
	char *text = vxts_secure_alloc(CLI_RECOVERY_TEXT_MAX);
	char partial[4096];
	struct cli_key rk = { 0 };
	struct vxts_kek kek;
	int r = text ? 0 : -ENOMEM;

	snprintf(partial, sizeof(partial), "%s.partial", out);
	if (!r && !to_stdout && !access(out, F_OK)) {
		cli_detail("%s exists: a recovery key is never written over a file", out);
		r = -EEXIST;
	}
	if (!r)
		r = cli_recovery_new(&rk, text);
	if (!r && !to_stdout)
		r = cli_recovery_write(partial, text);
	if (!r) {
		cli_key_kek(&rk, &kek);
		/*
		 * The library reports failure only when the slot is not on disk
		 * (a commit whose copy 1 landed is a success), so OUT.partial
		 * can go: it holds the key of a slot that does not exist.
		 */
		r = vxts_keyslot_add(v, &kek, NULL, -1);
		*slot = r;
		r = r < 0 ? r : 0;
		if (r && !to_stdout)
			unlink(partial);
	}
	if (!r && to_stdout) {
		fputs(text, stdout);
		fflush(stdout);
	} else if (!r && (link(partial, out) || unlink(partial) || vxts_sync_dir_of(out))) {
		r = -errno;
		cli_detail("recovery keyslot %d is committed but %s could not be made (%s): "
			   "its key is in %s", *slot, out, strerror(-r), partial);
	}
	cli_key_put(&rk);
	vxts_secure_free(text, CLI_RECOVERY_TEXT_MAX);
	return r;
}

int cli_recovery_setup(const struct cli_opts *o, const char *verb,
		       const struct cli_key *unlock)
{
	struct vxts_volume *v = NULL;
	int slot = -1, r;

	bool opened = false;

	r = cli_open(o, verb, true, &v);
	if (!r)
		r = cli_unlock_with(v, unlock);
	if (!r) {
		opened = true;
		r = cli_recovery_add(o, v, &slot);
	}
	if (!r)
		cli_keyslot_stale_warn(o, v);
	vxts_close(v);
	if (r == -EEXIST && opened && !access(o->recovery_key_file, F_OK))
		return cli_fail(o, verb, o->pos[0], r, CLI_EXIT_USAGE);
	if (r)
		return cli_fail(o, verb, o->pos[0], r, cli_keyslot_errcode(r, opened));
	if (strcmp(o->recovery_key_file, "-"))
		cli_info(o, "%s: recovery key (keyslot %d) written to %s: store it offline, "
			 "apart from the disk", o->pos[0], slot, o->recovery_key_file);
	return 0;
}

/* ---- add / remove / rotate ------------------------------------------------------- */

/* The new slot's KEK (--new-*), sealed by @fn into the unlocked volume. */
static int cli_keyslot_with_new(const struct cli_opts *o, struct vxts_volume *v,
				int (*fn)(struct vxts_volume *, const struct vxts_kek *,
					  const struct vxts_argon2_params *, int),
				int slot)
{
	struct vxts_argon2_params a;
	struct vxts_kek kek;
	struct cli_key k = { 0 };
	int r;

	r = cli_key_get(&k, o, CLI_KEY_NEW, true);
	if (!r) {
		cli_key_kek(&k, &kek);
		r = fn(v, &kek, cli_argon2(o, &a) ? &a : NULL, slot);
	}
	cli_key_put(&k);
	return r;
}

static int cli_keyslot_add_fn(struct vxts_volume *v, const struct vxts_kek *kek,
			      const struct vxts_argon2_params *p, int slot)
{
	return vxts_keyslot_add(v, kek, p, slot);
}

static int cli_keyslot_rotate_fn(struct vxts_volume *v, const struct vxts_kek *kek,
				 const struct vxts_argon2_params *p, int slot)
{
	return vxts_keyslot_rotate(v, slot, kek, p);
}

int cli_cmd_keyslot_add(const struct cli_opts *o)
{
	struct vxts_volume *v = NULL;
	struct vxts_info in;
	bool opened;
	int slot = -1, r;

	r = cli_recovery_out_check(o, "keyslot add");
	if (r)
		return r;
	r = cli_keyslot_open(o, "keyslot add", &v, &in);
	opened = !r;
	if (!r && o->recovery_key_file)
		r = cli_recovery_add(o, v, &slot);
	else if (!r)
		r = slot = cli_keyslot_with_new(o, v, cli_keyslot_add_fn, o->slot);
	if (r < 0) {
		r = cli_fail(o, "keyslot add", o->pos[0], r, cli_keyslot_errcode(r, opened));
	} else {
		r = 0;
		cli_keyslot_pubkey_warn(o, v, slot);
		cli_keyslot_print(o, "keyslot add", slot,
				  o->recovery_key_file ? "added (recovery)" : "added", v);
	}
	vxts_close(v);
	return r;
}

int cli_cmd_keyslot_rotate(const struct cli_opts *o)
{
	struct vxts_volume *v = NULL;
	struct vxts_info in;
	char what[64];
	bool opened;
	int r;

	if (o->slot < 0) {
		cli_err("keyslot rotate: give --slot N (see `vxts keyslot list %s`)", o->pos[0]);
		return CLI_EXIT_USAGE;
	}
	r = cli_keyslot_open(o, "keyslot rotate", &v, &in);
	opened = !r;
	if (!r)
		r = cli_keyslot_with_new(o, v, cli_keyslot_rotate_fn, o->slot);
	if (r < 0) {
		r = cli_fail(o, "keyslot rotate", o->pos[0], r,
			     opened && (r == -ENOENT || r == -EINVAL) ? CLI_EXIT_STATE :
			     cli_keyslot_errcode(r, opened));
	} else {
		cli_keyslot_pubkey_warn(o, v, r);
		snprintf(what, sizeof(what), "replaced by keyslot %d", r);
		cli_keyslot_print(o, "keyslot rotate", o->slot, what, v);
		r = 0;
	}
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
	if (!in.slots[o->slot].in_use && !in.slots[o->slot].damaged) {
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
			     r == -EPERM || r == -EINVAL ? CLI_EXIT_STATE :
			     cli_keyslot_errcode(r, true));
	else
		cli_keyslot_print(o, "keyslot remove", o->slot, "removed", v);
out:
	vxts_close(v);
	return r;
}
