// SPDX-License-Identifier: GPL-2.0
/*
 * luks: LUKS1/LUKS2 interop over libcryptsetup's public API (docs/LUKS.md).
 *
 * libcryptsetup logs to stderr by default; the library never prints, so its
 * log is captured into the error detail. The segment layout (count, type,
 * size) has no getter in the public API: it is read from crypt_dump_json()
 * with a small JSON reader (json_*) that only skims what it needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcryptsetup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "luks.h"
#include "secmem.h"
#include "vxts.h"

/* ---- a JSON skimmer: just enough to read "segments" ------------------------ */

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* Past the string starting at @p (a '"'), or NULL. */
static const char *json_str_end(const char *p)
{
	if (*p != '"')
		return NULL;
	for (p++; *p && *p != '"'; p++)
		if (*p == '\\' && !*++p)
			return NULL;
	return *p ? p + 1 : NULL;
}

/* Past the value at @p, or NULL. Depth-bounded: headers nest a few levels. */
static const char *json_skip(const char *p, int depth)
{
	char close;

	p = json_ws(p);
	if (*p == '"')
		return json_str_end(p);
	if (*p != '{' && *p != '[') {
		while (*p && !strchr(",}] \t\r\n", *p))
			p++;
		return p;
	}
	if (depth > 16)
		return NULL;
	close = *p == '{' ? '}' : ']';
	p = json_ws(p + 1);
	while (p && *p != close) {
		if (close == '}') {
			p = json_str_end(json_ws(p));
			p = p ? json_ws(p) : NULL;
			if (!p || *p != ':')
				return NULL;
			p++;
		}
		p = json_skip(p, depth + 1);
		p = p ? json_ws(p) : NULL;
		if (p && *p == ',')
			p = json_ws(p + 1);
		else if (p && *p != close)
			return NULL;
	}
	return p ? p + 1 : NULL;
}

/*
 * Calls @fn for each member of the object at @p (key without quotes, its
 * value's start and end). Returns 0, or -EINVAL if @p is not an object.
 */
static int json_members(const char *p, void (*fn)(const char *k, size_t kl, const char *v,
						   const char *ve, void *ctx), void *ctx)
{
	const char *k, *ke, *v;

	p = json_ws(p);
	if (*p++ != '{')
		return -EINVAL;
	for (p = json_ws(p); *p != '}'; ) {
		k = p;
		ke = json_str_end(k);
		if (!ke)
			return -EINVAL;
		p = json_ws(ke);
		if (*p++ != ':')
			return -EINVAL;
		v = json_ws(p);
		p = json_skip(v, 0);
		if (!p)
			return -EINVAL;
		fn(k + 1, (size_t)(ke - k - 2), v, p, ctx);
		p = json_ws(p);
		if (*p == ',')
			p = json_ws(p + 1);
		else if (*p != '}')
			return -EINVAL;
	}
	return 0;
}

struct json_find {
	const char *key;
	const char *v, *ve;
};

static void json_find_fn(const char *k, size_t kl, const char *v, const char *ve, void *ctx)
{
	struct json_find *f = ctx;

	if (!f->v && kl == strlen(f->key) && !memcmp(k, f->key, kl)) {
		f->v = v;
		f->ve = ve;
	}
}

/* The value of member @key of the object at @p, or NULL. */
static const char *json_get(const char *p, const char *key, const char **end)
{
	struct json_find f = { .key = key };

	if (!p || json_members(p, json_find_fn, &f))
		return NULL;
	if (end)
		*end = f.ve;
	return f.v;
}

/* A string value into @buf (no escapes expected in these fields). */
static int json_strval(const char *v, const char *ve, char *buf, size_t len)
{
	size_t n;

	if (!v || *v != '"' || ve - v < 2)
		return -EINVAL;
	n = (size_t)(ve - v - 2);
	if (n >= len)
		return -EINVAL;
	memcpy(buf, v + 1, n);
	buf[n] = 0;
	return 0;
}

struct json_segs {
	unsigned int count;
};

static void json_count_fn(const char *k, size_t kl, const char *v, const char *ve, void *ctx)
{
	struct json_segs *s = ctx;
	const char *f, *fe;

	/* backup segments (reencryption) carry a "backup-*" flag */
	f = json_get(v, "flags", &fe);
	if (f && memmem(f, (size_t)(fe - f), "\"backup-", 8))
		return;
	s->count++;
}

int vxts_luks_json_segments(const char *json, unsigned int *count, char *type, size_t type_len,
			    uint64_t *size_bytes, bool *dynamic, bool *flagged)
{
	struct json_segs s = { 0 };
	const char *segs, *seg, *v, *ve;
	char num[32], *end;

	segs = json_get(json, "segments", NULL);
	if (!segs || json_members(segs, json_count_fn, &s))
		return -EINVAL;
	*count = s.count;
	seg = json_get(segs, "0", NULL);
	if (!seg)
		return -EINVAL;
	v = json_get(seg, "type", &ve);
	if (json_strval(v, ve, type, type_len))
		return -EINVAL;
	*flagged = json_get(seg, "flags", NULL) != NULL;
	v = json_get(seg, "size", &ve);
	if (json_strval(v, ve, num, sizeof(num)))
		return -EINVAL;
	*dynamic = !strcmp(num, "dynamic");
	*size_bytes = 0;
	if (*dynamic)
		return 0;
	errno = 0;
	*size_bytes = strtoull(num, &end, 10);
	return errno || *end || end == num || !*size_bytes ? -EINVAL : 0;
}

/* ---- libcryptsetup plumbing --------------------------------------------------- */

static __thread char luks_last_log[256];

static void luks_log(int level, const char *msg, void *usrptr)
{
	if (level != CRYPT_LOG_ERROR)
		return;
	snprintf(luks_last_log, sizeof(luks_last_log), "%s", msg);
	luks_last_log[strcspn(luks_last_log, "\n")] = 0;
}

static void luks_setup(void)
{
	luks_last_log[0] = 0;
	crypt_set_log_callback(NULL, luks_log, NULL);
}

/* A handle on @header (or @device) with the header loaded: 0 or -errno. */
static int luks_load(const char *device, const char *header, struct crypt_device **cd)
{
	int r;

	luks_setup();
	r = header ? crypt_init_data_device(cd, header, device) : crypt_init(cd, device);
	if (r < 0)
		return r;
	crypt_set_log_callback(*cd, luks_log, NULL);
	r = crypt_load(*cd, CRYPT_LUKS, NULL);
	if (r < 0) {
		crypt_free(*cd);
		*cd = NULL;
	}
	return r;
}

bool vxts_luks_detect(const char *device, const char *header)
{
	struct crypt_device *cd;

	if (luks_load(device, header, &cd))
		return false;
	crypt_free(cd);
	return true;
}

static int luks_segments(struct crypt_device *cd, struct vxts_luks_info *li)
{
	const char *json = NULL;
	uint64_t bytes;
	bool dynamic, flagged;
	int r;

	if (strcmp(li->type, "LUKS2")) {	/* LUKS1: one dynamic crypt segment */
		li->segments = 1;
		snprintf(li->segment_type, sizeof(li->segment_type), "crypt");
		return 0;
	}
	r = crypt_dump_json(cd, &json, 0);
	if (r < 0 || !json)
		return vxts_err(r < 0 ? r : -EINVAL, "cannot read the LUKS2 metadata");
	r = vxts_luks_json_segments(json, &li->segments, li->segment_type,
				    sizeof(li->segment_type), &bytes, &dynamic, &flagged);
	if (r)
		return vxts_err(r, "cannot read the LUKS2 segments");
	li->size = dynamic ? 0 : bytes / 512;
	if (flagged)
		li->reencrypt = true;		/* "in-reencryption" and friends */
	return 0;
}

int vxts_luks_probe(const char *device, const char *header, struct vxts_luks_info *li)
{
	struct crypt_params_integrity ip;
	struct crypt_device *cd;
	const char *s;
	int r, i;

	vxts_err_clear();
	memset(li, 0, sizeof(*li));
	r = luks_load(device, header, &cd);
	if (r)
		return vxts_err(-ENODATA, "no LUKS header on %s%s%s", header ? header : device,
				luks_last_log[0] ? ": " : "", luks_last_log);
	snprintf(li->type, sizeof(li->type), "%s", crypt_get_type(cd) ?: "");
	snprintf(li->uuid, sizeof(li->uuid), "%s", crypt_get_uuid(cd) ?: "");
	snprintf(li->cipher, sizeof(li->cipher), "%s", (s = crypt_get_cipher(cd)) ? s : "");
	snprintf(li->mode, sizeof(li->mode), "%s", (s = crypt_get_cipher_mode(cd)) ? s : "");
	li->key_bytes = (uint32_t)crypt_get_volume_key_size(cd);
	li->sector_size = (uint32_t)crypt_get_sector_size(cd);
	li->data_offset = crypt_get_data_offset(cd);
	li->iv_offset = crypt_get_iv_offset(cd);
	memset(&ip, 0, sizeof(ip));
	li->integrity = !crypt_get_integrity_info(cd, &ip) && ip.integrity;
	if (!strcmp(li->type, "LUKS2")) {
		li->reencrypt = crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_NONE;
		if (crypt_persistent_flags_get(cd, CRYPT_FLAGS_REQUIREMENTS, &li->requirements))
			li->requirements = CRYPT_REQUIREMENT_UNKNOWN;
	}
	for (i = 0; i < crypt_keyslot_max(li->type); i++) {
		crypt_keyslot_info ks = crypt_keyslot_status(cd, i);

		if (ks == CRYPT_SLOT_ACTIVE || ks == CRYPT_SLOT_ACTIVE_LAST)
			li->active_slots++;
	}
	r = luks_segments(cd, li);
	crypt_free(cd);
	return r;
}

int vxts_luks_check(const struct vxts_luks_info *li)
{
	if (li->reencrypt || (li->requirements & (CRYPT_REQUIREMENT_OFFLINE_REENCRYPT |
						  CRYPT_REQUIREMENT_ONLINE_REENCRYPT)))
		return vxts_err(-ESTALE, "%s reencryption is in progress or was left unfinished: "
				"finish it with `cryptsetup reencrypt --resume-only` first", li->type);
	if (li->requirements)
		return vxts_err(-ESTALE, "the %s header has requirement flags 0x%" PRIx32
				" this build does not know: open it with cryptsetup", li->type,
				li->requirements);
	if (li->integrity)
		return vxts_err(-ENOTSUP, "the volume uses authenticated encryption (dm-integrity): "
				"dm-vxts serves only aes-xts-plain64 without integrity; open it "
				"with cryptsetup");
	if (strcmp(li->cipher, "aes") || strcmp(li->mode, "xts-plain64"))
		return vxts_err(-ENOTSUP, "the volume's cipher is %s-%s: dm-vxts serves only "
				"aes-xts-plain64; open it with cryptsetup", li->cipher, li->mode);
	if (li->key_bytes != 64)
		return vxts_err(-ENOTSUP, "the volume key has %u bits: dm-vxts serves only "
				"512-bit aes-xts-plain64 keys (AES-256); open it with cryptsetup",
				li->key_bytes * 8);
	if (li->sector_size != 512 && li->sector_size != 4096)
		return vxts_err(-ENOTSUP, "the volume's encryption sector size is %u: dm-vxts "
				"serves 512 or 4096; open it with cryptsetup", li->sector_size);
	if (li->segments != 1 || strcmp(li->segment_type, "crypt"))
		return vxts_err(-ENOTSUP, "the %s header has %u data segments (first: %s): dm-vxts "
				"serves one crypt segment; open it with cryptsetup", li->type,
				li->segments, li->segment_type);
	if (li->iv_offset % (li->sector_size / 512) || li->data_offset % (li->sector_size / 512))
		return vxts_err(-ENOTSUP, "the segment's offset or IV tweak is not a whole "
				"number of %u-byte sectors", li->sector_size);
	return 0;
}

void vxts_luks_key_desc(char *buf, size_t len, const char *uuid)
{
	snprintf(buf, len, "vxts:luks-%s:0", uuid);
}

int vxts_luks_map(const struct vxts_luks_info *li, const char *devno, uint64_t dev_sectors,
		  const char *key_desc, struct vxts_online_map *m)
{
	uint64_t per = li->sector_size / 512, len;

	memset(m, 0, sizeof(*m));
	if (li->data_offset >= dev_sectors)
		return vxts_err(-ENOSPC, "the LUKS data offset (%" PRIu64 " sectors) is beyond the "
				"end of the device (%" PRIu64 " sectors)", li->data_offset,
				dev_sectors);
	len = li->size ? li->size : dev_sectors - li->data_offset;
	if (li->size && li->size > dev_sectors - li->data_offset)
		return vxts_err(-ENOSPC, "the LUKS segment (%" PRIu64 " sectors at %" PRIu64
				") does not fit the device (%" PRIu64 " sectors)", li->size,
				li->data_offset, dev_sectors);
	if (len % per)
		return vxts_err(-ENOSPC, "the LUKS data area (%" PRIu64 " sectors) is not a whole "
				"number of %u-byte sectors (cryptsetup refuses it too)", len,
				li->sector_size);
	snprintf(m->devno, sizeof(m->devno), "%s", devno);
	snprintf(m->key_desc, sizeof(m->key_desc), "%s", key_desc);
	m->data_offset = li->data_offset;
	m->len = len;
	m->iv_offset = li->iv_offset;
	m->unit = li->sector_size;
	m->state = VXTS_STATE_ENCRYPTED;
	m->dir = VXTS_DIR_NONE;
	return 0;
}

int vxts_luks_volume_key(const char *device, const char *header, const uint8_t *pass,
			 size_t len, uint8_t *key, size_t key_len)
{
	struct crypt_device *cd;
	size_t got = key_len;
	int r;

	vxts_err_clear();
	r = luks_load(device, header, &cd);
	if (r)
		return vxts_err(-ENODATA, "no LUKS header on %s", header ? header : device);
	r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, (char *)key, &got, (const char *)pass, len);
	crypt_free(cd);
	if (r == -EPERM)
		return vxts_err(-EPERM, "no LUKS keyslot opens with this passphrase");
	if (r < 0)
		return vxts_err(r, "cannot unlock the LUKS volume%s%s",
				luks_last_log[0] ? ": " : "", luks_last_log);
	if (got != key_len) {
		vxts_wipe(key, key_len);
		return vxts_err(-ENOTSUP, "the LUKS volume key has %zu bytes, want %zu", got,
				key_len);
	}
	return 0;
}

/* ---- export ------------------------------------------------------------------------ */

/* The new file: created exclusively (never through a link), 4 KiB to start with. */
static int luks_create_file(const char *file)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return errno == EEXIST ? vxts_err(-EEXIST, "%s exists: choose a new file name "
						  "(export never overwrites)", file)
				       : vxts_err(-errno, "cannot create %s", file);
	if (ftruncate(fd, 4096)) {
		int r = -errno;

		close(fd);
		unlink(file);
		return vxts_err(r, "cannot size %s", file);
	}
	close(fd);
	return 0;
}

static int luks_format(struct crypt_device *cd, const struct vxts_luks_export *e,
		       const uint8_t *key, size_t key_len, const uint8_t *pass, size_t pass_len)
{
	struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_ARGON2ID,
		.hash = "sha256",
		.iterations = e->argon2_time,
		.max_memory_kb = e->argon2_memory_kib,
		.parallel_threads = e->argon2_parallel,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	struct crypt_params_luks2 p = {
		.pbkdf = &pbkdf,
		.data_device = e->device,
		.sector_size = e->sector_size,
		.label = e->label,
	};
	int r;

	r = crypt_set_data_offset(cd, e->data_offset);
	if (!r)
		r = crypt_set_pbkdf_type(cd, &pbkdf);
	if (!r)
		r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", e->uuid, (const char *)key,
				 key_len, &p);
	if (!r)
		r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, (const char *)key, key_len,
						    (const char *)pass, pass_len);
	return r < 0 ? r : 0;
}

/* The header holds the only LUKS slot of this DEK: durable before we say done. */
static int luks_sync(const char *file)
{
	int fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), r = 0;

	if (fd < 0 || fsync(fd))
		r = -errno;
	if (fd >= 0)
		close(fd);
	return r ? r : vxts_sync_dir_of(file);
}

int vxts_luks_export(const struct vxts_luks_export *e, const uint8_t *key, size_t key_len,
		     const uint8_t *pass, size_t pass_len)
{
	struct crypt_device *cd = NULL;
	int r;

	vxts_err_clear();
	r = luks_create_file(e->file);
	if (r)
		return r;
	luks_setup();
	r = crypt_init(&cd, e->file);
	if (!r) {
		crypt_set_log_callback(cd, luks_log, NULL);
		r = luks_format(cd, e, key, key_len, pass, pass_len);
	}
	crypt_free(cd);
	if (!r)
		r = luks_sync(e->file);
	if (r) {
		unlink(e->file);
		return vxts_err(r, "cannot write the LUKS2 header %s%s%s", e->file,
				luks_last_log[0] ? ": " : "", luks_last_log);
	}
	return 0;
}
