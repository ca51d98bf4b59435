// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: LUKS interop (docs/LUKS.md).
 *
 * `vxts open [--luks] NAME DEVICE` on a LUKS1/LUKS2 aes-xts-plain64 volume
 * (cli_luks_open, called by cli_cmd_open): the volume key comes from
 * libcryptsetup into locked memory and goes to the kernel keyring as a
 * logon key, and the dm-vxts table is built from the header's segment.
 * Nothing is written to the LUKS header or device.
 *
 * `vxts luks export DEVICE FILE`: a new detached LUKS2 header FILE holding
 * the DEK of a fully encrypted vxts volume under a new passphrase.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dm.h"
#include "keyslot.h"
#include "luks.h"
#include "online.h"
#include "secmem.h"
#include "vxts.h"

/* ---- open ----------------------------------------------------------------------- */

/* Exit codes for what the library refuses (vxts_luks_check()). */
static int cli_luks_code(int r)
{
	switch (r) {
	case -ENOTSUP: return CLI_EXIT_UNSUITABLE;
	case -ESTALE: return CLI_EXIT_STATE;
	case -EPERM: return CLI_EXIT_WRONG_KEY;
	case -ENODATA: return CLI_EXIT_NO_VOLUME;
	case -ENOSPC: return CLI_EXIT_UNSUITABLE;
	case -EBUSY: return CLI_EXIT_BUSY;
	case -EBADMSG: return CLI_EXIT_HEADER;
	default: return 0;
	}
}

/* Size of block device or regular file @dev in 512-byte sectors (rounded down). */
static int cli_luks_dev_sectors(const char *dev, uint64_t *sectors)
{
	uint64_t bytes = 0;
	struct stat st;
	int fd = open(dev, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st))
		r = -errno;
	else if (S_ISREG(st.st_mode))
		bytes = (uint64_t)st.st_size;
	else if (ioctl(fd, BLKGETSIZE64, &bytes))
		r = -errno;
	close(fd);
	*sectors = bytes / 512;
	return r;
}

/* The passphrase into locked memory, then the volume key into logon key @desc. */
static int cli_luks_key(const struct cli_opts *o, struct vxts_luks *l, const char *desc)
{
	struct cli_key k;
	uint8_t *key;
	int r;

	r = cli_key_get(&k, o, CLI_KEY_UNLOCK, false);
	if (r)
		return r;
	if (k.type != VXTS_KEK_PASSPHRASE && k.type != VXTS_KEK_KEYFILE) {
		cli_key_put(&k);
		cli_detail("a LUKS volume unlocks with a passphrase: use --key-file, "
			   "--passphrase-file or a TTY prompt");
		return -EINVAL;
	}
	key = vxts_secure_alloc(VXTS_KEY_BYTES);
	if (!key) {
		cli_key_put(&k);
		cli_detail("cannot lock memory for the volume key (RLIMIT_MEMLOCK?)");
		return -ENOMEM;
	}
	r = vxts_luks_volume_key(l, k.secret, k.len, key, VXTS_KEY_BYTES);
	cli_key_put(&k);
	if (!r)
		r = vxts_keyring_add(desc, key, VXTS_KEY_BYTES);
	vxts_secure_free(key, VXTS_KEY_BYTES);
	return r;
}

/*
 * Everything that needs no device-mapper, in this order: the pin, the
 * header (loaded once, its copies compared first), what dm-vxts can serve.
 * @l stays loaded for the unlock, so the table and the key come from the
 * same read of the header.
 */
struct cli_luks {
	struct vxts_luks *l;
	struct vxts_luks_info li;
};

int cli_luks_prepare(const struct cli_opts *o, const char *dev, struct cli_luks **out)
{
	struct cli_luks *lk;
	int r;

	*out = NULL;
	if (o->expect_key_check) {
		/* the pin is a vxts key check value: a LUKS header has none to compare */
		cli_detail("%s is a LUKS volume, but --expect-key-check pins a vxts volume's "
			   "key: refusing it (a LUKS disk may have been put in the pinned "
			   "volume's place); drop --expect-key-check (and add `luks` to the "
			   "vxtstab entry) if this LUKS volume is the one to open",
			   o->header ? o->header : dev);
		return -EBADMSG;
	}
	lk = calloc(1, sizeof(*lk));
	if (!lk)
		return -ENOMEM;
	r = vxts_luks_load(dev, o->header, &lk->l);
	if (!r)
		r = vxts_luks_probe(lk->l, &lk->li);
	if (!r)
		r = vxts_luks_check(&lk->li);
	if (r)
		cli_luks_release(lk);
	else
		*out = lk;
	return r;
}

void cli_luks_release(struct cli_luks *lk)
{
	if (!lk)
		return;
	vxts_luks_free(lk->l);
	free(lk);
}

int cli_luks_fail(const struct cli_opts *o, const char *name, const char *dev, int r)
{
	if (r == -ENODATA && o->luks)
		cli_detail("no LUKS header on %s: drop --luks for a vxts volume, or give "
			   "the detached LUKS header with --header", o->header ? o->header : dev);
	return cli_fail(o, "open", name, r, cli_luks_code(r));
}

static int cli_luks_describe(const struct cli_opts *o, const char *name, const char *dev,
			     struct cli_luks *lk, struct vxts_online_map *m)
{
	char devno[32], desc[96];
	uint64_t sectors = 0;
	struct vxts_dm_info di;
	int r;

	r = vxts_dm_info(name, &di);
	if (r)
		return r;
	if (di.exists) {
		cli_detail("%s is a device-mapper device already: choose another NAME", name);
		return -EBUSY;
	}
	r = vxts_dm_devno(dev, devno, sizeof(devno));
	if (r == -ENOTBLK)
		cli_detail("%s is not a block device: `vxts open` needs one", dev);
	if (!r && (r = cli_luks_dev_sectors(dev, &sectors)))
		cli_detail("cannot read the size of %s", dev);
	if (r)
		return r;
	vxts_luks_key_desc(desc, sizeof(desc), lk->li.uuid, devno);
	r = vxts_luks_map(&lk->li, devno, sectors, desc, m);
	return r ? r : cli_luks_key(o, lk->l, desc);
}

/*
 * Is DEVICE (or --header) a LUKS volume this open should serve? --luks says
 * so; otherwise only when there is no vxts header there (a vxts volume whose
 * plaintext holds a LUKS volume stays a vxts volume) and the caller did not
 * turn detection off (a vxtstab entry without `luks`).
 */
bool cli_luks_wanted(const struct cli_opts *o, const char *dev)
{
	struct vxts_volume *v = NULL;
	int r;

	if (o->luks)
		return true;
	if (o->no_luks_detect)
		return false;
	r = vxts_open(dev, o->header, VXTS_OPEN_READONLY, &v);
	vxts_close(v);
	(void)cli_detail_take();
	if (r != -ENODATA && r != -ENOENT)
		return false;
	return vxts_luks_detect(dev, o->header);
}

/* After cli_luks_prepare(); releases @lk. */
int cli_luks_open(const struct cli_opts *o, const char *name, const char *dev,
		  struct cli_luks *lk)
{
	struct vxts_luks_info li;
	struct vxts_online_map m;
	struct cli_json j;
	int r;

	r = cli_luks_describe(o, name, dev, lk, &m);
	li = lk->li;
	cli_luks_release(lk);
	if (!r)
		r = vxts_online_create(name, &m, dev, o->header);
	if (r)
		return cli_luks_fail(o, name, dev, r);
	if (o->json) {
		/* docs/schema/open.json: the same object as for a vxts volume */
		cli_json_result(&j, o, "open");
		cli_json_str(&j, "name", name);
		cli_json_bool(&j, "converting", false);
		cli_json_u64(&j, "boundary_sectors", 0);
		cli_json_end(&j);
	} else {
		printf("%s: open (%s volume %s, served by dm-vxts: %u-byte sectors, data at "
		       "sector %" PRIu64 ", %" PRIu64 " sectors)\n", name, li.type, li.uuid,
		       li.sector_size, li.data_offset, m.len);
	}
	return CLI_EXIT_OK;
}

/* ---- export --------------------------------------------------------------------- */

#define CLI_LUKS_ARGON2_MIN_T	4

/* What LUKS2 cannot describe, or a volume not (yet) plain ciphertext. */
static int cli_luks_exportable(const struct vxts_info *in, const char *dev)
{
	uint64_t sectors = 0;
	int r;

	if (in->state != VXTS_STATE_ENCRYPTED || in->direction != VXTS_DIR_NONE ||
	    in->window_size || in->boundary != in->data_size) {
		cli_detail("the volume is %s, not fully encrypted: finish the conversion "
			   "(`vxts encrypt` / `vxts resume`) before exporting a LUKS2 header",
			   vxts_state_name(in->state));
		return -ESTALE;
	}
	if (in->iv_offset) {
		cli_detail("the volume's IV offset is %" PRIu64 " sectors: a LUKS2 header made "
			   "through libcryptsetup always has iv_tweak 0, so it cannot describe "
			   "this volume; use the cryptsetup plain mapping (docs/FORMAT.md)",
			   in->iv_offset);
		return -ENOTSUP;
	}
	if (in->header_at_end) {
		cli_detail("the vxts header is at the end of the device: a LUKS2 segment "
			   "made through libcryptsetup covers the whole device, header area "
			   "included, so writes through it could destroy the vxts header; "
			   "use the cryptsetup plain mapping with --size (docs/FORMAT.md)");
		return -ENOTSUP;
	}
	if (in->unit_size != 512 && in->unit_size != 4096) {
		cli_detail("data unit %u: LUKS2 export needs 512 or 4096", in->unit_size);
		return -ENOTSUP;
	}
	r = cli_luks_dev_sectors(dev, &sectors);
	if (r) {
		cli_detail("cannot read the size of %s: %s", dev, strerror(-r));
		return r;
	}
	/* the exported segment is "dynamic": from the data offset to the device's end */
	if (sectors < in->data_offset / 512 ||
	    (sectors - in->data_offset / 512) * 512 != in->data_size) {
		cli_detail("the vxts data area (%" PRIu64 " bytes at byte %" PRIu64 ") is not "
			   "the rest of %s (%" PRIu64 " bytes): a LUKS2 header made through "
			   "libcryptsetup maps to the end of the device, so cryptsetup would "
			   "serve a different size; use the cryptsetup plain mapping with "
			   "--size (docs/FORMAT.md)", in->data_size, in->data_offset, dev,
			   sectors * 512);
		return -ENOTSUP;
	}
	return 0;
}

static int cli_luks_new_pass(const struct cli_opts *o, struct cli_key *nk)
{
	int r = cli_key_get(nk, o, CLI_KEY_NEW, true);

	if (!r && nk->type != VXTS_KEK_PASSPHRASE && nk->type != VXTS_KEK_KEYFILE) {
		cli_key_put(nk);
		cli_detail("the LUKS2 keyslot needs a passphrase: use --new-key-file or "
			   "--new-passphrase-file");
		r = -EINVAL;
	}
	return r;
}

static void cli_luks_export_print(const struct cli_opts *o, const struct vxts_info *in)
{
	struct cli_json j;

	if (o->json) {
		cli_json_result(&j, o, "luks export");
		cli_json_str(&j, "file", o->pos[1]);
		cli_json_str(&j, "uuid", in->uuid_str);
		cli_json_u64(&j, "sector_size", in->unit_size);
		cli_json_u64(&j, "data_offset_sectors", in->data_offset / 512);
		cli_json_end(&j);
		return;
	}
	printf("%s: LUKS2 header written to %s (same volume key; keep it like a key backup)\n"
	       "  cryptsetup open --header %s %s NAME\n", o->pos[0], o->pos[1], o->pos[1],
	       o->pos[0]);
}

int cli_cmd_luks_export(const struct cli_opts *o)
{
	struct vxts_argon2_params a2;
	struct vxts_luks_export e;
	struct vxts_volume *v = NULL;
	struct cli_key nk = { 0 };
	struct vxts_info in;
	uint8_t *key = NULL;
	int r, code = 0;

	if (!access(o->pos[1], F_OK) || errno != ENOENT) {
		cli_detail("%s exists: choose a new file name (export never overwrites)",
			   o->pos[1]);
		return cli_fail(o, "luks export", o->pos[0], -EEXIST, CLI_EXIT_USAGE);
	}
	r = cli_open(o, "luks export", false, &v);
	if (!r)
		r = cli_unlock(o, v);
	if (!r)
		r = vxts_info(v, &in);
	if (!r && (r = cli_luks_exportable(&in, o->pos[0])))
		code = r == -ESTALE ? CLI_EXIT_STATE : r == -ENOTSUP ? CLI_EXIT_UNSUITABLE : 0;
	if (!r && !(key = vxts_secure_alloc(VXTS_KEY_BYTES))) {
		cli_detail("cannot lock memory for the volume key (RLIMIT_MEMLOCK?)");
		r = -ENOMEM;
	}
	if (!r)
		r = vxts_volume_key(v, VXTS_KEY_CURRENT, key);
	vxts_close(v);
	if (!r)
		r = cli_luks_new_pass(o, &nk);
	if (!r) {
		cli_argon2(o, &a2);
		memset(&e, 0, sizeof(e));
		e.file = o->pos[1];
		e.device = o->pos[0];
		e.sector_size = in.unit_size;
		e.data_offset = in.data_offset / 512;
		e.uuid = in.uuid_str;
		e.label = in.label[0] ? in.label : NULL;
		/* libcryptsetup refuses argon2 with fewer than 4 passes */
		e.argon2_time = a2.t_cost > CLI_LUKS_ARGON2_MIN_T ? a2.t_cost : CLI_LUKS_ARGON2_MIN_T;
		e.argon2_memory_kib = a2.m_cost_kib ? a2.m_cost_kib : VXTS_ARGON2_M_COST_KIB;
		e.argon2_parallel = a2.parallelism ? a2.parallelism : VXTS_ARGON2_PARALLELISM;
		r = vxts_luks_export(&e, key, VXTS_KEY_BYTES, nk.secret, nk.len);
		if (r == -EEXIST)
			code = CLI_EXIT_USAGE;
	}
	cli_key_put(&nk);
	if (key)
		vxts_secure_free(key, VXTS_KEY_BYTES);
	if (r)
		return cli_fail(o, "luks export", o->pos[0], r, code);
	cli_luks_export_print(o, &in);
	return CLI_EXIT_OK;
}
