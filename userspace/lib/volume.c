// SPDX-License-Identifier: GPL-2.0
/*
 * volume: the public API of vxts.h over the header, the devices and the
 * conversion state machine. Every entry point clears the error detail, checks
 * its preconditions, and touches the disk only after they all hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert.h"
#include "error.h"
#include "kdf.h"
#include "newfile.h"
#include "placement.h"
#include "secmem.h"
#include "volume.h"

#define VOL_QUEUE_DEPTH 64

/* ---- names ------------------------------------------------------------------- */

const char *vxts_state_name(enum vxts_state s)
{
	static const char *const n[] = { "?", "encrypted", "plaintext", "encrypting",
					 "decrypting", "reencrypting" };

	return (unsigned int)s < 6 ? n[s] : "?";
}

const char *vxts_direction_name(enum vxts_direction d)
{
	static const char *const n[] = { "none", "encrypt", "decrypt", "reencrypt" };

	return (unsigned int)d < 4 ? n[d] : "?";
}

const char *vxts_resilience_name(enum vxts_resilience r)
{
	static const char *const n[] = { "none", "checksum", "journal" };

	return (unsigned int)r < 3 ? n[r] : "?";
}

/* ---- keys -------------------------------------------------------------------- */

static int vol_keys_alloc(struct vxts_volume *v)
{
	if (!v->keys)
		v->keys = vxts_secure_alloc(sizeof(*v->keys));
	return v->keys ? 0 : vxts_err(-ENOMEM, "cannot lock memory for keys (RLIMIT_MEMLOCK?)");
}

static void vol_keys_drop(struct vxts_volume *v)
{
	vxts_secure_free(v->keys, sizeof(*v->keys));
	v->keys = NULL;
	v->have_cur = false;
	v->have_new = false;
}

/* ---- attach / open / close ----------------------------------------------------- */

static int vol_load_error(struct vxts_volume *v, int r)
{
	const struct vxts_hdr_load *l = &v->load;

	if (r == -ENODATA)
		return vxts_err(r, "no vxts header on %s", v->hdr->name);
	if (r == -EBADMSG)
		return vxts_err(r, "vxts header on %s is damaged (copy 1: %s; copy 2: %s): "
				"restore it with `vxts header restore`", v->hdr->name,
				l->why[0], l->why[1]);
	return vxts_err(r, "cannot read the vxts header on %s (%d)", v->hdr->name, r);
}

/*
 * The header must be where it says it lives, its area whole (a backup file
 * passed as --header has no resilience slots), and the data area must lie
 * inside the data device (and before an end header).
 */
static int vol_check_fit(struct vxts_volume *v)
{
	uint64_t end = v->h.data_offset + v->h.data_size;
	uint64_t limit = v->hdr == v->data ? v->hdr_base : v->data->size;
	bool at_end = v->h.flags & VXTS_HDR_F_AT_END;

	if (at_end != (v->hdr == v->data))
		return vxts_err(-EINVAL, at_end ?
				"this header belongs at the end of %s: open without a header file" :
				"this volume has a detached header: give its file", v->data->name);
	if (v->hdr->size - v->hdr_base < v->h.area_size)
		return vxts_err(-EINVAL, "header area on %s is truncated (%llu of %llu bytes): "
				"a header backup must be restored, not used directly",
				v->hdr->name, (unsigned long long)(v->hdr->size - v->hdr_base),
				(unsigned long long)v->h.area_size);

	if (end > limit)
		return vxts_err(-EINVAL, "%s is smaller (%llu bytes) than the volume's data area "
				"(%llu bytes): wrong device or header?", v->data->name,
				(unsigned long long)limit, (unsigned long long)end);
	return 0;
}

int vxts_volume_attach(struct vxts_dev *data, struct vxts_dev *hdr, uint64_t hdr_base,
		       bool readonly, struct vxts_volume **out)
{
	struct vxts_volume *v = calloc(1, sizeof(*v));
	int r;

	if (!v) {
		vxts_dev_close(data);
		if (hdr != data)
			vxts_dev_close(hdr);
		return -ENOMEM;
	}
	v->data = data;
	v->hdr = hdr;
	v->hdr_base = hdr_base;
	v->readonly = readonly;
	r = vxts_hdr_load(hdr, hdr_base, &v->h, &v->load);
	if (r)
		r = vol_load_error(v, r);
	if (!r)
		r = vol_check_fit(v);
	if (r) {
		vxts_close(v);
		return r;
	}
	*out = v;
	return 0;
}

void vxts_close(struct vxts_volume *v)
{
	if (!v)
		return;
	vol_keys_drop(v);
	if (v->hdr != v->data)
		vxts_dev_close(v->hdr);
	vxts_dev_close(v->data);
	vxts_wipe(&v->h, sizeof(v->h));
	free(v);
}

static int vol_lock(struct vxts_dev *d)
{
	if (flock(d->fd, LOCK_EX | LOCK_NB))
		return errno == EWOULDBLOCK ?
			vxts_err(-EBUSY, "%s is locked by another vxts process", d->name) :
			vxts_err(-errno, "cannot lock %s", d->name);
	return 0;
}

/* @excl: O_EXCL on a block device (off only for VXTS_OPEN_SHARED). */
static int vol_open_dev_excl(const char *path, bool rw, bool excl, struct vxts_dev **out)
{
	int r;

	*out = NULL;
	r = vxts_dev_uring_open(path, rw, excl, VOL_QUEUE_DEPTH, out);
	if (r)
		*out = NULL;
	if (r == -EBUSY)
		return vxts_err(r, "%s is in use (mounted, or held by another process)", path);
	if (r)
		return vxts_err(r, "cannot open %s (%d)", path, r);
	r = rw ? vol_lock(*out) : 0;
	if (r) {
		vxts_dev_close(*out);
		*out = NULL;
	}
	return r;
}

static int vol_open_dev(const char *path, bool rw, struct vxts_dev **out)
{
	return vol_open_dev_excl(path, rw, rw, out);
}

/* The header device of an open data device: itself for an end header. */
static int vol_open_hdr(struct vxts_dev *data, const char *header, bool rw,
			struct vxts_dev **hdr, uint64_t *base)
{
	if (!header) {
		*hdr = data;
		if (data->size < VXTS_HEADER_AREA_SIZE + 4096)
			return vxts_err(-EINVAL, "%s is too small for a header at its end",
					data->name);
		*base = data->size - VXTS_HEADER_AREA_SIZE;
		return 0;
	}
	*base = 0;
	return vol_open_dev(header, rw, hdr);
}

/* Data device + header device (same device for an end header). */
static int vol_open_pair(const char *device, const char *header, bool rw, bool excl,
			 struct vxts_dev **data, struct vxts_dev **hdr, uint64_t *base)
{
	int r = vol_open_dev_excl(device, rw, rw && excl, data);

	if (!r)
		r = vol_open_hdr(*data, header, rw, hdr, base);
	if (r && *data) {
		vxts_dev_close(*data);
		*data = NULL;
	}
	return r;
}

int vxts_open(const char *device, const char *header, unsigned int flags,
	      struct vxts_volume **out)
{
	bool ro = flags & VXTS_OPEN_READONLY;
	struct vxts_dev *data, *hdr;
	uint64_t base;
	int r;

	vxts_err_clear();
	r = vol_open_pair(device, header, !ro, !(flags & VXTS_OPEN_SHARED), &data, &hdr, &base);
	return r ? r : vxts_volume_attach(data, hdr, base, ro, out);
}

/* ---- format -------------------------------------------------------------------- */

static int vol_format_geometry(struct vxts_header *h, struct vxts_dev *data, bool at_end,
			       uint64_t hdr_base, const struct vxts_format_opts *o)
{
	uint64_t avail = at_end ? hdr_base : data->size;

	h->unit_size = o->unit_size ? o->unit_size : 4096;
	if (h->unit_size != 512 && h->unit_size != 4096)
		return vxts_err(-EINVAL, "data unit size %u: must be 512 or 4096", h->unit_size);
	/* Direct IO cannot write less than a logical block. */
	if (data->direct && data->logical_block > h->unit_size)
		return vxts_err(-EINVAL, "%s has %u-byte logical sectors: use a %u-byte data unit",
				data->name, data->logical_block, data->logical_block);
	if (!o->data_size && avail % h->unit_size)
		return vxts_err(-EINVAL, "%s: %llu bytes%s is not a multiple of the %u-byte data "
				"unit", data->name, (unsigned long long)avail,
				at_end ? " (before the header area)" : "", h->unit_size);
	h->data_size = o->data_size ? o->data_size : avail;
	if (h->data_size > avail)
		return vxts_err(-ENOSPC, "data size %llu exceeds the %llu bytes available on %s",
				(unsigned long long)h->data_size, (unsigned long long)avail,
				data->name);
	if (h->data_size < h->unit_size || h->data_size % h->unit_size)
		return vxts_err(-EINVAL, "data size %llu: must be a non-zero multiple of %u",
				(unsigned long long)h->data_size, h->unit_size);
	/* dm-crypt (and so the kernel target) refuses such an offset: every data
	 * unit's tweak must be a whole number of units away from sector 0. */
	if (o->iv_offset % (h->unit_size / 512))
		return vxts_err(-EINVAL, "IV offset %llu: must be a multiple of %u sectors "
				"(one %u-byte data unit)", (unsigned long long)o->iv_offset,
				h->unit_size / 512, h->unit_size);
	h->iv_offset = o->iv_offset;
	h->flags = at_end ? VXTS_HDR_F_AT_END : 0;
	return 0;
}

static int vol_format_fill(struct vxts_header *h, const struct vxts_format_opts *o)
{
	int r;

	if (o->label && strlen(o->label) > VXTS_LABEL_MAX)
		return vxts_err(-EINVAL, "label longer than %d bytes", VXTS_LABEL_MAX);
	snprintf(h->label, sizeof(h->label), "%s", o->label ? o->label : "");
	r = vxts_random(h->uuid, sizeof(h->uuid));
	if (!r)
		r = vxts_random(h->mac_salt, sizeof(h->mac_salt));
	if (r)
		return vxts_err(r, "no randomness (%d)", r);
	h->uuid[6] = (h->uuid[6] & 0x0f) | 0x40;	/* RFC 4122 version 4 */
	h->uuid[8] = (h->uuid[8] & 0x3f) | 0x80;
	h->state = o->plaintext ? VXTS_STATE_PLAINTEXT : VXTS_STATE_ENCRYPTED;
	h->direction = VXTS_DIR_NONE;
	return 0;
}

int vxts_format_devs(struct vxts_dev *data, struct vxts_dev *hdr, uint64_t hdr_base,
		     uint64_t area_size, const struct vxts_format_opts *o,
		     const struct vxts_kek *kek)
{
	struct vxts_header h = { .area_size = area_size }, old;
	struct vxts_vol_keys *k = vxts_secure_alloc(sizeof(*k));
	struct vxts_hdr_load l;
	int r;

	if (!k)
		return vxts_err(-ENOMEM, "cannot lock memory for keys (RLIMIT_MEMLOCK?)");
	if (hdr_base > hdr->size || hdr->size - hdr_base < area_size)
		r = vxts_err(-ENOSPC, "header area of %llu bytes does not fit %s",
			     (unsigned long long)area_size, hdr->name);
	else
		r = vol_format_geometry(&h, data, hdr == data, hdr_base, o);
	if (!r)
		r = vol_format_fill(&h, o);
	if (!r && o->volume_key)
		memcpy(k->cur, o->volume_key, VXTS_KEY_BYTES);
	else if (!r)
		r = vxts_random(k->cur, VXTS_KEY_BYTES);
	if (!r) {
		r = vxts_keyslot_table_seal(h.slots, 0, kek, o->argon2, k->cur, VXTS_KEY_BYTES, 0);
		r = r < 0 ? r : 0;
	}
	if (r && !vxts_error_detail()[0])
		vxts_err(r, "cannot seal the volume key (%d)", r);
	if (!r)
		r = vxts_hdr_mac_key(&h, k->cur, k->mac_cur);
	/*
	 * Continue the sequence of a header being replaced: if this commit
	 * tears, the old copy must not outrank the new one by seq alone.
	 */
	if (!r && !vxts_hdr_load(hdr, hdr_base, &old, &l))
		h.seq = old.seq;
	if (!r && vxts_hdr_commit(hdr, hdr_base, &h, k->mac_cur))
		r = vxts_err(-EIO, "writing the header to %s failed", hdr->name);
	vxts_secure_free(k, sizeof(*k));
	vxts_wipe(&h, sizeof(h));
	vxts_wipe(&old, sizeof(old));
	return r;
}

/*
 * Never format over a conversion in progress: its data would be lost. Nor
 * record as plaintext a volume whose header says it is not: that encrypts
 * ciphertext a second time. Returns 1 if a (finished) vxts header is there:
 * its area is ours to reuse.
 */
static int vol_format_guard(struct vxts_dev *hdr, uint64_t base, bool plaintext)
{
	struct vxts_header h;
	struct vxts_hdr_load l;
	int r = vxts_hdr_load(hdr, base, &h, &l);

	if (!r && h.direction != VXTS_DIR_NONE)
		r = vxts_err(-EBUSY, "%s holds a vxts volume in the middle of %s: resume or "
			     "finish it first", hdr->name, vxts_direction_name(h.direction));
	else if (!r && plaintext && h.state != VXTS_STATE_PLAINTEXT)
		r = vxts_err(-EEXIST, "%s already holds the header of an %s vxts volume: "
			     "encrypting again would encrypt it twice", hdr->name,
			     vxts_state_name(h.state));
	else
		r = r ? 0 : 1;
	vxts_wipe(&h, sizeof(h));
	return r;
}

/*
 * A vxts header at the end of the device, or a stray one in the 16 MiB below
 * that (the device grew after an at-end volume was made), means the data is
 * (partly) ciphertext already: refuse, whatever force says. An at-end format
 * leaves its own fixed area to vol_format_guard().
 */
static int vol_end_header_check(struct vxts_dev *d, bool at_end)
{
	uint64_t fixed, from, at;
	int r;

	if (d->size < VXTS_HEADER_AREA_SIZE + 4096)
		return 0;
	fixed = d->size - VXTS_HEADER_AREA_SIZE;
	from = fixed > VXTS_HEADER_AREA_SIZE ? fixed - VXTS_HEADER_AREA_SIZE : 0;
	r = vxts_place_find_magic(d, from, at_end ? fixed : d->size, &at);
	if (r < 0)
		return vxts_err(r, "cannot read the end of %s (%d)", d->name, r);
	if (r)
		return 0;
	if (at == fixed || at == fixed + VXTS_HDR_COPY_SIZE)
		return vxts_err(-EEXIST, "%s already has a vxts header at its end: use "
				"--header-at-end", d->name);
	return vxts_err(-EEXIST, "%s has a vxts header at byte %llu, below its end: the "
			"device grew since it was encrypted with its header at the end; "
			"shrink it back to %llu bytes and resume", d->name,
			(unsigned long long)at,
			(unsigned long long)(at + VXTS_HEADER_AREA_SIZE));
}

/*
 * Encrypting in place needs positive evidence that the data area is
 * plaintext: a signature libblkid knows, and not an encryption layer.
 * Ciphertext and random bytes look alike, so "nothing found" is refused.
 */
static int vol_plain_evidence(struct vxts_dev *d, const struct vxts_format_opts *o)
{
	uint64_t size = o->data_size ? o->data_size : d->size;
	char what[64];
	int r;

	if (o->header_at_end && !o->data_size && d->size >= VXTS_HEADER_AREA_SIZE)
		size = d->size - VXTS_HEADER_AREA_SIZE;
	r = vxts_place_probe_plain(d, size, what, sizeof(what));
	if (r == -EMEDIUMTYPE && what[0])
		return vxts_err(r, "%s holds a %s signature: it is already encrypted; if it "
				"really holds plaintext, use --force", d->name, what);
	if (r == -EMEDIUMTYPE)
		return vxts_err(r, "no filesystem, partition table or volume signature on %s: "
				"it may already be encrypted (check the --header path); if it "
				"really holds plaintext, use --force", d->name);
	return r ? vxts_err(r, "cannot probe %s (%d)", d->name, r) : 0;
}

/* The checks an in-place encrypt needs before anything is written. */
static int vol_format_plain_checks(struct vxts_dev *d, const struct vxts_format_opts *o)
{
	int r = vol_end_header_check(d, o->header_at_end);

	if (!r && !o->force)
		r = vol_plain_evidence(d, o);
	return r;
}

/*
 * The detached header holds the only sealed DEK: its directory entry must be
 * durable before any data is converted under it. O_NOFOLLOW: never write the
 * key through a symlink someone planted.
 */
int vxts_sync_dir_of(const char *path)
{
	char *dir = vxts_dir_of(path);
	int fd, r = 0;

	if (!dir)
		return -ENOMEM;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(dir);
	return r;
}

/*
 * A new header file appears under its name already at its full size and
 * durable (newfile.h): a kill leaves either no file or a zero-filled one
 * ("no vxts volume", re-run the command), never a short file that reads as
 * a corrupt header. An existing file (a resumed run) is opened as it is.
 */
static int vol_create_header_file(const char *path)
{
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	struct vxts_newfile nf;
	struct stat st;
	int r = 0;

	if (fd < 0 && errno == ENOENT) {
		r = vxts_newfile_open(&nf, path, VXTS_HEADER_AREA_SIZE);
		if (!r)
			r = vxts_newfile_link(&nf, path);
		vxts_newfile_close(&nf);
		if (r != -EEXIST)	/* else another run made it meanwhile: use it */
			return r ? vxts_err(r, "cannot create header file %s", path) : 0;
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0 && errno == ELOOP)
		return vxts_err(-ELOOP, "header file %s is a symbolic link: give the real path",
				path);
	if (fd < 0)
		return vxts_err(-errno, "cannot create header file %s", path);
	if (fstat(fd, &st))
		st.st_mode = 0;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < VXTS_HEADER_AREA_SIZE &&
	    ftruncate(fd, VXTS_HEADER_AREA_SIZE))
		r = vxts_err(-errno, "cannot size header file %s", path);
	/* A regular file is the only sealed DEK: data and directory entry durable. */
	if (!r && S_ISREG(st.st_mode) && (fsync(fd) || vxts_sync_dir_of(path)))
		r = vxts_err(-EIO, "cannot make header file %s durable (fsync)", path);
	close(fd);
	return r;
}

/* Data device first: the plaintext checks run before a header file exists. */
static int vol_format_open(const char *device, const struct vxts_format_opts *o,
			   struct vxts_dev **data, struct vxts_dev **hdr, uint64_t *base)
{
	int r = vol_open_dev(device, true, data);

	if (!r && o->plaintext)
		r = vol_format_plain_checks(*data, o);
	if (!r && o->header)
		r = vol_create_header_file(o->header);
	if (!r)
		r = vol_open_hdr(*data, o->header, true, hdr, base);
	if (r && *data)
		vxts_dev_close(*data);
	return r;
}

int vxts_format(const char *device, const struct vxts_format_opts *o,
		const struct vxts_kek *kek)
{
	struct vxts_dev *data = NULL, *hdr;
	uint64_t base;
	int r;

	vxts_err_clear();
	if (!!o->header == !!o->header_at_end)
		return vxts_err(-EINVAL, "give exactly one of a detached header file or "
				"header_at_end");
	r = vol_format_open(device, o, &data, &hdr, &base);
	if (r)
		return r;
	r = vol_format_guard(hdr, base, o->plaintext);
	if (!r && o->header_at_end)
		r = vxts_place_check_end(data, base);
	if (r == 1)
		r = 0;
	if (!r)
		r = vxts_format_devs(data, hdr, base, VXTS_HEADER_AREA_SIZE, o, kek);
	if (hdr != data)
		vxts_dev_close(hdr);
	vxts_dev_close(data);
	return r;
}

/* ---- unlock ------------------------------------------------------------------- */

/* Tries every slot of the KEK's type; keeps what opens (current and/or new DEK). */
static int vol_try_slots(struct vxts_volume *v, const struct vxts_kek *kek, int *opened)
{
	struct vxts_header *h = &v->h;
	uint8_t *key = vxts_secure_alloc(VXTS_KEY_BYTES);
	struct vxts_keyslot_info ki;
	size_t len;
	uint32_t id;
	int r = 0, provider_r = 0;

	if (!key)
		return vxts_err(-ENOMEM, "cannot lock memory for keys");
	for (int i = 0; i < VXTS_KEYSLOTS && r != -ENOMEM; i++) {
		if (vxts_keyslot_info(h->slots[i], &ki) || !ki.in_use || ki.type != kek->type)
			continue;
		r = vxts_keyslot_table_open(h->slots, i, kek, key, &len, &id);
		/* A token or KMS helper failure says more than "wrong key". */
		if (vxts_keyslot_provider_error(r))
			provider_r = r;
		if (r == -EKEYREJECTED || r == -EINTR)
			break;		/* wrong PIN: another try could lock the token */
		if (r || len != VXTS_KEY_BYTES)
			continue;
		(*opened)++;
		if (id == h->key_id && !v->have_cur) {
			memcpy(v->keys->cur, key, VXTS_KEY_BYTES);
			v->have_cur = true;
		} else if (id != h->key_id && h->direction == VXTS_DIR_REENCRYPT && !v->have_new) {
			memcpy(v->keys->new, key, VXTS_KEY_BYTES);
			v->have_new = true;
		}
	}
	vxts_secure_free(key, VXTS_KEY_BYTES);
	if (r == -ENOMEM || r == -EINTR)	/* -EINTR: stopped by a signal */
		return r;
	return !*opened && provider_r ? provider_r : 0;
}

/* The MAC guards everything recovery acts on: check it before any write. */
static int vol_verify(struct vxts_volume *v)
{
	int r = vxts_hdr_mac_key(&v->h, v->keys->cur, v->keys->mac_cur);

	if (!r && v->have_new)
		r = vxts_hdr_mac_key(&v->h, v->keys->new, v->keys->mac_new);
	if (r)
		return vxts_err(r, "key derivation failed (%d)", r);
	if (vxts_hdr_verify_mac(&v->h, v->keys->mac_cur))
		return vxts_err(-EBADMSG, "vxts header on %s fails authentication (edited or "
				"forged): refusing to use it; restore it with `vxts header "
				"restore`", v->hdr->name);
	return 0;
}

int vxts_unlock(struct vxts_volume *v, const struct vxts_kek *kek)
{
	bool had_cur = v->have_cur;
	int opened = 0, r;

	vxts_err_clear();
	r = vol_keys_alloc(v);
	if (!r)
		r = vol_try_slots(v, kek, &opened);
	if (r)
		return r;
	if (!v->have_cur) {
		vol_keys_drop(v);
		return vxts_err(-EPERM, opened ?
				"this key opens only the new volume key of the re-key in "
				"progress: give a key of the current one first" :
				"no keyslot of %s opens with this key", v->hdr->name);
	}
	if (had_cur && !opened)
		return vxts_err(-EPERM, "no keyslot of %s opens with this key", v->hdr->name);
	/* Also on a second unlock: it may have added the re-key's new DEK. */
	r = vol_verify(v);
	if (r)
		vol_keys_drop(v);
	return r;
}

static int vol_need_unlocked(struct vxts_volume *v, bool write)
{
	if (write && v->readonly)
		return vxts_err(-EINVAL, "volume opened read-only");
	if (!v->have_cur)
		return vxts_err(-EPERM, "volume is locked: unlock it with a key first");
	return 0;
}

/* ---- info --------------------------------------------------------------------- */

static void vol_uuid_str(const uint8_t *u, char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < VXTS_UUID_SIZE; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*s++ = '-';
		*s++ = hex[u[i] >> 4];
		*s++ = hex[u[i] & 15];
	}
	*s = '\0';
}

int vxts_info(struct vxts_volume *v, struct vxts_info *in)
{
	const struct vxts_header *h = &v->h;

	vxts_err_clear();
	memset(in, 0, sizeof(*in));
	memcpy(in->uuid, h->uuid, VXTS_UUID_SIZE);
	vol_uuid_str(h->uuid, in->uuid_str);
	snprintf(in->label, sizeof(in->label), "%s", h->label);
	snprintf(in->cipher, sizeof(in->cipher), "%s", VXTS_CIPHER_NAME);
	in->version = VXTS_HDR_VERSION;
	in->unit_size = h->unit_size;
	in->data_offset = h->data_offset;
	in->data_size = h->data_size;
	in->iv_offset = h->iv_offset;
	in->header_at_end = h->flags & VXTS_HDR_F_AT_END;
	in->header_offset = v->hdr_base;
	in->state = h->state;
	in->direction = h->direction;
	in->resilience = h->resilience;
	in->boundary = h->direction == VXTS_DIR_NONE ? h->data_size : h->boundary;
	in->window_offset = h->win_off;
	in->window_size = h->win_len;
	in->seq = h->seq;
	in->valid_copies = v->load.valid;
	in->unlocked = v->have_cur;
	in->direct_io = v->data->direct;
	in->current_key_id = h->key_id;
	if (v->have_cur) {
		uint8_t kc[VXTS_KEY_CHECK_BYTES];

		if (!vxts_key_check_value(v->keys->cur, VXTS_KEY_BYTES, h->uuid, VXTS_UUID_SIZE,
					  kc))
			for (int i = 0; i < VXTS_KEY_CHECK_BYTES; i++)
				sprintf(in->key_check + 2 * i, "%02x", kc[i]);
	}
	for (int i = 0; i < VXTS_KEYSLOTS; i++)
		vxts_keyslot_table_info(h->slots, i, &in->slots[i]);
	return 0;
}

/* ---- conversion ---------------------------------------------------------------- */

static int vol_commit(struct vxts_volume *v)
{
	int r = vxts_hdr_commit(v->hdr, v->hdr_base, &v->h, v->keys->mac_cur);

	return r ? vxts_err(r, "writing the header to %s failed (%d)", v->hdr->name, r) : 0;
}

/* Which state a direction may start from, and which it runs in. */
static int vol_start_state(struct vxts_volume *v, enum vxts_direction dir, uint32_t *state)
{
	static const uint32_t from[] = { 0, VXTS_STATE_PLAINTEXT, VXTS_STATE_ENCRYPTED,
					 VXTS_STATE_ENCRYPTED };
	static const uint32_t during[] = { 0, VXTS_STATE_ENCRYPTING, VXTS_STATE_DECRYPTING,
					   VXTS_STATE_REENCRYPTING };

	if (dir < VXTS_DIR_ENCRYPT || dir > VXTS_DIR_REENCRYPT)
		return vxts_err(-EINVAL, "unknown conversion direction %d", dir);
	if (v->h.direction == dir)
		return 1;	/* already started: vxts_convert() resumes it */
	if (v->h.direction != VXTS_DIR_NONE)
		return vxts_err(-EBUSY, "a %s is in progress on %s: resume it first",
				vxts_direction_name(v->h.direction), v->data->name);
	if ((dir == VXTS_DIR_ENCRYPT && v->h.state == VXTS_STATE_ENCRYPTED) ||
	    (dir == VXTS_DIR_DECRYPT && v->h.state == VXTS_STATE_PLAINTEXT))
		return vxts_err(-EALREADY, "volume is already %s", vxts_state_name(v->h.state));
	if (v->h.state != from[dir])
		return vxts_err(-EINVAL, "cannot %s a volume that is %s", vxts_direction_name(dir),
				vxts_state_name(v->h.state));
	*state = during[dir];
	return 0;
}

/* Re-key: a fresh DEK sealed under every new KEK, in slots of the other key id. */
static int vol_seal_new(struct vxts_volume *v, const struct vxts_kek *keks, size_t n,
			const struct vxts_argon2_params *p)
{
	struct vxts_keyslot_info ki;
	uint32_t id = v->h.key_id ^ 1;
	size_t done = 0;
	int r;

	if (!n)
		return vxts_err(-EINVAL, "a re-key needs at least one KEK for the new volume key");
	/* Slots of the other id are leftovers of an abandoned re-key. */
	for (int i = 0; i < VXTS_KEYSLOTS; i++)
		if (!vxts_keyslot_info(v->h.slots[i], &ki) && ki.in_use && ki.key_id == id)
			vxts_keyslot_table_clear(v->h.slots, i);
	r = vxts_random(v->keys->new, VXTS_KEY_BYTES);
	for (; !r && done < n; done++) {
		r = vxts_keyslot_table_seal(v->h.slots, -1, &keks[done], p, v->keys->new,
					    VXTS_KEY_BYTES, id);
		r = r < 0 ? r : 0;
	}
	if (r == -ENOSPC)
		r = vxts_err(-ENOSPC, "not enough free keyslots for %zu new keys", n);
	if (!r)
		r = vxts_hdr_mac_key(&v->h, v->keys->new, v->keys->mac_new);
	v->have_new = !r;
	return r;
}

int vxts_convert_start(struct vxts_volume *v, enum vxts_direction dir,
		       const struct vxts_convert_opts *o,
		       const struct vxts_kek *new_keks, size_t n_new_keks)
{
	struct vxts_header saved = v->h;
	uint32_t state = 0;
	int r;

	vxts_err_clear();
	r = vol_need_unlocked(v, true);
	if (!r)
		r = vol_start_state(v, dir, &state);
	if (r)
		return r == 1 ? 0 : r;
	if (dir == VXTS_DIR_REENCRYPT)
		r = vol_seal_new(v, new_keks, n_new_keks, o ? o->argon2 : NULL);
	if (r)
		goto fail;
	v->h.state = state;
	v->h.direction = dir;
	v->h.resilience = o && o->resilience ? o->resilience : VXTS_RESILIENCE_CHECKSUM;
	v->h.boundary = 0;
	v->h.win_len = 0;
	r = vol_commit(v);
	if (!r)
		return 0;
fail:
	v->h = saved;
	v->have_new = false;
	return r;
}

int vxts_convert_held(struct vxts_volume *v, const struct vxts_convert_opts *o,
		      const struct vxts_conv_hold *hold)
{
	struct vxts_conv_ctx x = {
		.data = v->data, .hdr = v->hdr, .hdr_base = v->hdr_base, .h = &v->h,
		.hold = hold,
	};
	bool rekey = v->h.direction == VXTS_DIR_REENCRYPT;
	uint32_t key_id = v->h.key_id;
	int r;

	vxts_err_clear();
	r = vol_need_unlocked(v, true);
	if (r)
		return r;
	if (v->h.direction == VXTS_DIR_NONE)
		return vxts_err(-EALREADY, "nothing to convert: volume is %s",
				vxts_state_name(v->h.state));
	x.key_cur = v->keys->cur;
	x.mac_cur = v->keys->mac_cur;
	x.key_new = v->have_new ? v->keys->new : NULL;
	x.mac_new = v->have_new ? v->keys->mac_new : NULL;
	r = vxts_conv_run(&x, o);
	if (rekey && v->h.key_id != key_id) {
		/* The final commit landed: the header names the new DEK as current. */
		memcpy(v->keys->cur, v->keys->new, VXTS_KEY_BYTES);
		memcpy(v->keys->mac_cur, v->keys->mac_new, 32);
		vxts_wipe(v->keys->new, VXTS_KEY_BYTES);
		vxts_wipe(v->keys->mac_new, 32);
		v->have_new = false;
	}
	return r;
}

int vxts_convert(struct vxts_volume *v, const struct vxts_convert_opts *o)
{
	return vxts_convert_held(v, o, NULL);
}

static int vol_stop_now(uint64_t done, uint64_t total, void *ctx)
{
	return 1;
}

/*
 * The engine recovers the window in flight first and then asks its progress
 * callback whether to go on: "no" commits "boundary past the window, no
 * window" and returns -EINTR, which is exactly a recovery and nothing more.
 */
int vxts_recover(struct vxts_volume *v)
{
	const struct vxts_convert_opts o = { .progress = vol_stop_now };
	int r;

	vxts_err_clear();
	r = vol_need_unlocked(v, true);
	if (r || !v->h.win_len || v->h.direction == VXTS_DIR_NONE)
		return r;
	r = vxts_convert_held(v, &o, NULL);
	return r == -EINTR ? 0 : r;
}

/* ---- keyslots ------------------------------------------------------------------- */

/*
 * The commit of a keyslot change. Copy 1 written and synced (or read back
 * holding the new state after an error) IS the commit: the loader picks it
 * over copy 2 by seq, so only the new slots open from then on. Reporting a
 * failure then, and restoring the old slots in memory, would tell the user
 * the old KEK still works when it does not (and make the CLI delete the key
 * file of a committed recovery slot). So:
 *   - nothing landed: -errno, and @saved (the header before the change) is
 *     put back in memory; the old state is live on disk;
 *   - copy 1 landed, copy 2 failed: 0; v->load.valid says copy 2 is stale
 *     (vxts_info() valid_copies == 1), the CLI warns; copy 2 still holds the
 *     previous header, authentic but outranked, until the next header update
 *     rewrites both copies. A crash at any step leaves one of the two states
 *     whole (see vxts_hdr_commit).
 */
/* The header before a keyslot change, in locked memory (it holds wrapped DEKs). */
static struct vxts_header *vol_save_header(struct vxts_volume *v)
{
	struct vxts_header *saved = vxts_secure_alloc(sizeof(*saved));

	if (saved)
		*saved = v->h;
	return saved;
}

static int vol_commit_slots(struct vxts_volume *v, const struct vxts_header *saved)
{
	unsigned int landed = 0;
	int r = vxts_hdr_commit_ex(v->hdr, v->hdr_base, &v->h, v->keys->mac_cur, &landed);

	if (landed) {
		v->load.valid = landed == 2 ? 3 : 1;
		return 0;
	}
	v->h = *saved;
	return vxts_err(r, "writing the header to %s failed (%d): nothing changed, the "
			"keys that opened the volume before still do", v->hdr->name, r);
}


int vxts_keyslot_add(struct vxts_volume *v, const struct vxts_kek *kek,
		     const struct vxts_argon2_params *p, int slot)
{
	struct vxts_header *saved;
	int r;

	vxts_err_clear();
	r = vol_need_unlocked(v, true);
	if (r)
		return r;
	if (v->h.direction == VXTS_DIR_REENCRYPT)
		return vxts_err(-EBUSY, "a re-key is in progress: add keys after it completes");
	if (slot >= VXTS_KEYSLOTS || slot < -1)
		return vxts_err(-EINVAL, "keyslot %d: slots are 0..%d", slot, VXTS_KEYSLOTS - 1);
	saved = vol_save_header(v);
	if (!saved)
		return -ENOMEM;
	r = vxts_keyslot_table_seal(v->h.slots, slot, kek, p, v->keys->cur, VXTS_KEY_BYTES,
				    v->h.key_id);
	if (r == -ENOSPC)
		vxts_err(r, "not enough free keyslots (a PKCS#11 RSA or KMS slot takes 2-4 "
			 "entries): remove one first");
	else if (r == -EEXIST)
		vxts_err(r, "keyslot %d (or an entry after it that the new slot needs) is in "
			 "use", slot);
	else if (r < 0 && !vxts_error_detail()[0])
		vxts_err(r, "cannot seal keyslot %d (%d)", slot, r);
	slot = r;
	if (r >= 0)
		r = vol_commit_slots(v, saved);
	else
		v->h = *saved;
	vxts_secure_free(saved, sizeof(*saved));
	return r < 0 ? r : slot;
}

int vxts_keyslot_remove(struct vxts_volume *v, int slot)
{
	struct vxts_keyslot_info ki, kj;
	struct vxts_header *saved;
	int same = 0, r;

	vxts_err_clear();
	r = vol_need_unlocked(v, true);
	if (r)
		return r;
	if (slot < 0 || slot >= VXTS_KEYSLOTS)
		return vxts_err(-ENOENT, "keyslot %d is not in use", slot);
	vxts_keyslot_table_info(v->h.slots, slot, &ki);
	/*
	 * A damaged entry (bad checksum, a head whose continuations do not
	 * match, a continuation without its head) opens nothing: it may go
	 * whatever else holds the key, and only that entry is cleared.
	 */
	if (!ki.in_use && !ki.damaged)
		return vxts_err(-ENOENT, "keyslot %d is not in use", slot);
	if (ki.in_use && ki.type == VXTS_KEK_CONT)
		return vxts_err(-EINVAL, "entry %d is part of keyslot %d: remove slot %d",
				slot, ki.head, ki.head);
	/* whole slots of the table only: a damaged one holds no key */
	for (int i = 0; ki.in_use && i < VXTS_KEYSLOTS; i++)
		if (!vxts_keyslot_table_info(v->h.slots, i, &kj) && kj.in_use &&
		    kj.type != VXTS_KEK_CONT && kj.key_id == ki.key_id)
			same++;
	if (ki.in_use && same == 1)
		return vxts_err(-EPERM, "keyslot %d is the last one holding its volume key: "
				"add another key first (key lost = data lost)", slot);
	saved = vol_save_header(v);
	if (!saved)
		return -ENOMEM;
	vxts_keyslot_table_clear(v->h.slots, slot);
	r = vol_commit_slots(v, saved);
	vxts_secure_free(saved, sizeof(*saved));
	return r;
}

/*
 * Replaces the KEK of slot @slot: the DEK is sealed under @kek (a new key
 * file, a new vault key version, ...) and the old slot is cleared in the
 * same header update. A crash before copy 1 of the commit is synced leaves
 * the old header (old KEK opens, new does not); after it, the new one (new
 * KEK opens, old does not); the loader never sees both half-applied, and
 * either way exactly one of the two KEKs opens the volume. Data untouched.
 */
int vxts_keyslot_rotate(struct vxts_volume *v, int slot, const struct vxts_kek *kek,
			const struct vxts_argon2_params *p)
{
	struct vxts_header *saved;
	struct vxts_keyslot_info ki;
	int r;

	vxts_err_clear();
	r = vol_need_unlocked(v, true);
	if (r)
		return r;
	if (v->h.direction == VXTS_DIR_REENCRYPT)
		return vxts_err(-EBUSY, "a re-key is in progress: rotate keys after it completes");
	if (slot < 0 || slot >= VXTS_KEYSLOTS ||
	    vxts_keyslot_table_info(v->h.slots, slot, &ki) || !ki.in_use ||
	    ki.type == VXTS_KEK_CONT)
		return vxts_err(-ENOENT, "keyslot %d is not in use (see `vxts keyslot list`)",
				slot);
	if (ki.key_id != v->h.key_id)
		return vxts_err(-EINVAL, "keyslot %d does not hold the current volume key", slot);
	saved = vol_save_header(v);
	if (!saved)
		return -ENOMEM;
	vxts_keyslot_table_clear(v->h.slots, slot);
	r = vxts_keyslot_table_seal(v->h.slots, -1, kek, p, v->keys->cur, VXTS_KEY_BYTES,
				    v->h.key_id);
	if (r == -ENOSPC)
		vxts_err(r, "no room for the new slot even after freeing slot %d: remove "
			 "another slot first", slot);
	else if (r < 0 && !vxts_error_detail()[0])
		vxts_err(r, "cannot seal the new keyslot (%d)", r);
	slot = r;
	if (r >= 0)
		r = vol_commit_slots(v, saved);
	else
		v->h = *saved;
	vxts_secure_free(saved, sizeof(*saved));
	return r < 0 ? r : slot;
}

/* ---- header backup / restore ------------------------------------------------------ */

#define VOL_BACKUP_SIZE (2 * VXTS_HDR_COPY_SIZE)

int vxts_header_backup(struct vxts_volume *v, const char *path)
{
	uint8_t buf[VOL_BACKUP_SIZE];
	ssize_t n;
	int fd, r;

	vxts_err_clear();
	r = vxts_hdr_encode(&v->h, NULL, buf);
	if (r)
		return r;
	memcpy(buf + VXTS_HDR_COPY_SIZE, buf, VXTS_HDR_COPY_SIZE);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return vxts_err(-errno, "cannot create %s (it must not exist yet)", path);
	n = write(fd, buf, sizeof(buf));
	/* The file and its directory entry: a backup lost to a power cut is no backup. */
	r = n == (ssize_t)sizeof(buf) && !fsync(fd) && !vxts_sync_dir_of(path) ? 0 : -EIO;
	close(fd);
	if (r) {
		unlink(path);
		return vxts_err(r, "cannot write %s", path);
	}
	return 0;
}

/* A backup file: either copy that decodes. */
static int vol_read_backup(const char *path, uint8_t *buf, struct vxts_header *h)
{
	char why[96];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return vxts_err(-errno, "cannot open backup %s", path);
	n = read(fd, buf, VOL_BACKUP_SIZE);
	close(fd);
	for (int i = 0; i < 2; i++) {
		if (n >= (ssize_t)((i + 1) * VXTS_HDR_COPY_SIZE) &&
		    !vxts_hdr_decode(buf + i * VXTS_HDR_COPY_SIZE, h, why, sizeof(why))) {
			memmove(buf, buf + i * VXTS_HDR_COPY_SIZE, VXTS_HDR_COPY_SIZE);
			return 0;
		}
	}
	return vxts_err(-EBADMSG, "%s is not a valid vxts header backup", path);
}

/*
 * Refuse a backup of another volume, one older than the live conversion
 * state, or one from before a re-key (its slots open a DEK the data no
 * longer uses). A backup taken mid-conversion is refused unless forced: its
 * boundary is right only if nothing was converted since.
 */
static int vol_restore_guard(struct vxts_dev *hdr, uint64_t base, const struct vxts_header *b,
			     unsigned int flags)
{
	struct vxts_header cur;
	struct vxts_hdr_load l;
	int r = 0;

	if (b->direction != VXTS_DIR_NONE && !(flags & VXTS_RESTORE_FORCE))
		return vxts_err(-ESTALE, "backup was taken in the middle of %s (boundary %llu): "
				"restoring it is safe only if nothing was converted since; "
				"add --force if you are sure", vxts_direction_name(b->direction),
				(unsigned long long)b->boundary);
	if (vxts_hdr_load(hdr, base, &cur, &l))
		return 0;	/* nothing valid there: the case restore exists for */
	if (memcmp(cur.uuid, b->uuid, VXTS_UUID_SIZE))
		r = vxts_err(-EINVAL, "backup belongs to another volume (UUID differs)");
	else if (cur.key_gen != b->key_gen)
		r = vxts_err(-ESTALE, "backup is stale: the volume was re-keyed since (key "
			     "generation %llu, backup %llu); its keyslots open a key the data "
			     "no longer uses (--force does not override this): use a backup "
			     "taken after the re-key, and take a new one with `vxts header "
			     "backup`", (unsigned long long)cur.key_gen,
			     (unsigned long long)b->key_gen);
	else if (cur.state != b->state || cur.direction != b->direction ||
		 cur.boundary != b->boundary || cur.win_len != b->win_len)
		r = vxts_err(-ESTALE, "backup is stale: the volume's conversion state moved on "
			     "since (restoring it would lose data; --force does not override "
			     "this): the live header is intact, take a new backup with `vxts "
			     "header backup`");
	vxts_wipe(&cur, sizeof(cur));
	return r;
}

/*
 * Copy 2, sync, then copy 1, sync: a cut during either write leaves the other
 * copy whole (the old header, or the restored one).
 */
static int vol_restore_write(struct vxts_dev *hdr, uint64_t base, uint8_t *copy)
{
	int r = vxts_dev_rw(hdr, VXTS_IO_WRITE, copy, VXTS_HDR_COPY_SIZE,
			    base + VXTS_HDR_COPY_SIZE);

	if (!r)
		r = vxts_dev_sync(hdr);
	if (!r)
		r = vxts_dev_rw(hdr, VXTS_IO_WRITE, copy, VXTS_HDR_COPY_SIZE, base);
	if (!r)
		r = vxts_dev_sync(hdr);
	return r;
}

int vxts_header_restore_flags(const char *device, const char *header, const char *backup,
			      unsigned int flags)
{
	struct vxts_header b;
	struct vxts_dev *data, *hdr;
	uint8_t *buf = aligned_alloc(4096, VOL_BACKUP_SIZE);
	uint64_t base;
	int r;

	vxts_err_clear();
	if (!buf)
		return -ENOMEM;
	r = vol_read_backup(backup, buf, &b);
	if (!r)
		r = vol_open_pair(device, header, true, true, &data, &hdr, &base);
	if (r) {
		free(buf);
		return r;
	}
	r = vol_restore_guard(hdr, base, &b, flags);
	if (!r)
		r = vol_restore_write(hdr, base, buf);
	if (r && !vxts_error_detail()[0])
		vxts_err(r, "writing the header to %s failed (%d)", hdr->name, r);
	if (hdr != data)
		vxts_dev_close(hdr);
	vxts_dev_close(data);
	vxts_wipe(&b, sizeof(b));
	free(buf);
	return r;
}

int vxts_header_restore(const char *device, const char *header, const char *backup)
{
	return vxts_header_restore_flags(device, header, backup, 0);
}

/* ---- keys for dm-vxts ------------------------------------------------------------- */

int vxts_volume_key(struct vxts_volume *v, enum vxts_key_which which,
		    uint8_t key[VXTS_KEY_BYTES])
{
	vxts_err_clear();
	if (!v->have_cur)
		return vxts_err(-EPERM, "volume is locked: unlock it with a key first");
	if (which == VXTS_KEY_NEW && !v->have_new)
		return vxts_err(-ENOENT, "no re-key in progress (or its key is not unlocked)");
	memcpy(key, which == VXTS_KEY_NEW ? v->keys->new : v->keys->cur, VXTS_KEY_BYTES);
	return 0;
}
