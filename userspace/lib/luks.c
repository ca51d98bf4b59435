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
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "luks.h"
#include "newfile.h"
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

/* ---- the binary headers, read before libcryptsetup sees them ------------------ */

/*
 * crypt_load() repairs a LUKS2 header whose two copies disagree (a damaged
 * checksum, an older seqid): it writes the good copy over the other. vxts
 * never writes a LUKS header, so the copies are compared here first and a
 * disagreement is refused. The layout is the LUKS2 on-disk format: a 4096-
 * byte binary header (magic, version, hdr_size, seqid, checksum algorithm,
 * salt, uuid, hdr_offset, checksum) then the JSON area, twice; each copy's
 * checksum covers the whole copy with the checksum field zeroed.
 */
#define LUKS_BIN		4096
#define LUKS_OFF_VERSION	6
#define LUKS_OFF_HDR_SIZE	8
#define LUKS_OFF_SEQID		16
#define LUKS_OFF_CSUM_ALG	72
#define LUKS_OFF_SALT		104
#define LUKS_OFF_HDR_OFFSET	256
#define LUKS_OFF_CSUM		448
#define LUKS_CSUM_LEN		64
#define LUKS2_HDR_MAX		(4u << 20)

static const uint8_t luks_magic1[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };
static const uint8_t luks_magic2[6] = { 'S', 'K', 'U', 'L', 0xba, 0xbe };

static uint64_t luks_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

/* Where libcryptsetup looks for the secondary header when the primary is gone. */
static const uint64_t luks2_hdr2_offsets[] = {
	0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000,
};

static bool luks2_size_ok(uint64_t size)
{
	for (size_t i = 0; i < sizeof(luks2_hdr2_offsets) / sizeof(luks2_hdr2_offsets[0]); i++)
		if (size == luks2_hdr2_offsets[i])
			return true;
	return false;
}

/* Does the copy @h (@len bytes) carry the checksum of its contents? */
static bool luks2_csum_ok(const uint8_t *h, size_t len)
{
	uint8_t want[LUKS_CSUM_LEN], got[EVP_MAX_MD_SIZE], *copy;
	char alg[33];
	unsigned int n = 0;
	const EVP_MD *md;
	bool ok;

	memcpy(alg, h + LUKS_OFF_CSUM_ALG, 32);
	alg[32] = 0;
	md = EVP_get_digestbyname(alg);
	if (!md || (size_t)EVP_MD_size(md) > LUKS_CSUM_LEN)
		return false;
	copy = malloc(len);
	if (!copy)
		return false;
	memcpy(copy, h, len);
	memcpy(want, h + LUKS_OFF_CSUM, LUKS_CSUM_LEN);
	memset(copy + LUKS_OFF_CSUM, 0, LUKS_CSUM_LEN);
	ok = EVP_Digest(copy, len, got, &n, md, NULL) == 1 && !memcmp(got, want, n);
	free(copy);
	return ok;
}

/* Reads @len bytes at @off; false on a short read. */
static bool luks_pread(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	ssize_t n;

	while (len) {
		n = pread(fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return true;
}

int vxts_luks2_copies_agree(const uint8_t *h1, const uint8_t *h2, size_t len)
{
	static const struct { size_t off, len; } own[] = {	/* per copy by design */
		{ 0, sizeof(luks_magic1) }, { LUKS_OFF_SALT, 64 }, { LUKS_OFF_HDR_OFFSET, 8 },
		{ LUKS_OFF_CSUM, LUKS_CSUM_LEN },
	};
	uint64_t size;

	if (len < LUKS_BIN || memcmp(h1, luks_magic1, 6) || luks_be(h1 + LUKS_OFF_VERSION, 2) != 2)
		return -EINVAL;
	size = luks_be(h1 + LUKS_OFF_HDR_SIZE, 8);
	if (size != len || !luks2_size_ok(size) || !luks2_csum_ok(h1, len))
		return -EBADMSG;
	if (memcmp(h2, luks_magic2, 6) || luks_be(h2 + LUKS_OFF_HDR_OFFSET, 8) != size ||
	    luks_be(h1 + LUKS_OFF_HDR_OFFSET, 8) != 0 || !luks2_csum_ok(h2, len))
		return -EBADMSG;
	/* the same seqid, metadata and JSON: nothing for libcryptsetup to "repair" */
	for (size_t i = 0, at = 0; i <= sizeof(own) / sizeof(own[0]); i++) {
		size_t end = i < sizeof(own) / sizeof(own[0]) ? own[i].off : len;

		if (memcmp(h1 + at, h2 + at, end - at))
			return -EBADMSG;
		if (i < sizeof(own) / sizeof(own[0]))
			at = own[i].off + own[i].len;
	}
	return 0;
}

static int luks_damaged(const char *path, const char *what)
{
	return vxts_err(-EBADMSG, "the LUKS2 header on %s is damaged or its two copies disagree "
			"(%s): libcryptsetup would rewrite it on load, and vxts never writes a "
			"LUKS header; check the disk, run `cryptsetup repair %s`, then re-run "
			"the open", path, what, path);
}

/*
 * 0: a LUKS1 header, or a LUKS2 header whose copies agree; -ENODATA: no
 * LUKS magic at all; -EBADMSG: a LUKS2 header libcryptsetup would repair;
 * another -errno if @path cannot be read. @magic: a LUKS magic was seen.
 */
static int luks_hdr_verify(const char *path, bool *magic)
{
	uint8_t bin[LUKS_BIN], *h1 = NULL, *h2 = NULL;
	uint64_t size;
	int fd, r;

	*magic = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vxts_err(-errno, "cannot read %s", path);
	if (!luks_pread(fd, bin, sizeof(bin), 0) || memcmp(bin, luks_magic1, 6)) {
		/* no primary: libcryptsetup would restore it from a secondary copy */
		r = vxts_err(-ENODATA, "no LUKS header on %s", path);
		for (size_t i = 0; i < sizeof(luks2_hdr2_offsets) / sizeof(luks2_hdr2_offsets[0]); i++)
			if (luks_pread(fd, bin, 8, luks2_hdr2_offsets[i]) &&
			    !memcmp(bin, luks_magic2, 6) && luks_be(bin + LUKS_OFF_VERSION, 2) == 2) {
				*magic = true;
				r = vxts_err(-EBADMSG, "the primary LUKS2 header on %s is missing "
					     "or damaged (a secondary copy is at byte %" PRIu64 "): "
					     "libcryptsetup would rewrite it on load, and vxts never "
					     "writes a LUKS header; check the disk, run "
					     "`cryptsetup repair %s`, then re-run the open", path,
					     luks2_hdr2_offsets[i], path);
				break;
			}
		close(fd);
		return r;
	}
	*magic = true;
	if (luks_be(bin + LUKS_OFF_VERSION, 2) != 2) {	/* LUKS1: one copy, never repaired on load */
		close(fd);
		return 0;
	}
	size = luks_be(bin + LUKS_OFF_HDR_SIZE, 8);
	r = luks2_size_ok(size) ? 0 : luks_damaged(path, "bad header size");
	if (!r && (!(h1 = malloc(size)) || !(h2 = malloc(size))))
		r = vxts_err(-ENOMEM, "no memory for the LUKS2 header");
	if (!r && (!luks_pread(fd, h1, size, 0) || !luks_pread(fd, h2, size, size)))
		r = luks_damaged(path, "the header area is cut short");
	if (!r && vxts_luks2_copies_agree(h1, h2, size))
		r = luks_damaged(path, "checksum, seqid or contents differ");
	free(h1);
	free(h2);
	close(fd);
	return r;
}

bool vxts_luks_detect(const char *device, const char *header)
{
	bool magic;

	(void)luks_hdr_verify(header ? header : device, &magic);
	vxts_err_clear();		/* only the answer matters here */
	return magic;
}

struct vxts_luks {
	struct crypt_device *cd;
	const char *path;		/* the header's, for messages */
};

int vxts_luks_load(const char *device, const char *header, struct vxts_luks **out)
{
	const char *path = header ? header : device;
	struct vxts_luks *l;
	bool magic;
	int r;

	vxts_err_clear();
	*out = NULL;
	r = luks_hdr_verify(path, &magic);
	if (r)
		return r;
	l = calloc(1, sizeof(*l));
	if (!l)
		return vxts_err(-ENOMEM, "no memory");
	l->path = path;
	luks_setup();
	r = header ? crypt_init_data_device(&l->cd, header, device) : crypt_init(&l->cd, device);
	if (r < 0) {
		free(l);
		return vxts_err(r, "cannot open %s for LUKS: %s", path, strerror(-r));
	}
	crypt_set_log_callback(l->cd, luks_log, NULL);
	r = crypt_load(l->cd, CRYPT_LUKS, NULL);
	if (r < 0) {
		vxts_luks_free(l);
		/* a LUKS magic is there (checked above): the header itself is bad */
		return vxts_err(r == -EACCES || r == -ENOMEM ? r : -EBADMSG,
				"cannot load the LUKS header on %s%s%s: check it with `cryptsetup "
				"luksDump %s`, fix it with `cryptsetup repair`, then re-run the open", path,
				luks_last_log[0] ? ": " : "", luks_last_log, path);
	}
	*out = l;
	return 0;
}

void vxts_luks_free(struct vxts_luks *l)
{
	if (!l)
		return;
	crypt_free(l->cd);
	free(l);
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

int vxts_luks_probe(struct vxts_luks *l, struct vxts_luks_info *li)
{
	struct crypt_params_integrity ip;
	struct crypt_device *cd = l->cd;
	const char *s;
	int i;

	vxts_err_clear();
	memset(li, 0, sizeof(*li));
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
	return luks_segments(cd, li);
}

/* 8-4-4-4-12 hex digits, as libcryptsetup writes them (and nothing else). */
bool vxts_luks_uuid_ok(const char *u)
{
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? u[i] != '-' : !((u[i] >= '0' && u[i] <= '9') ||
					  (u[i] >= 'a' && u[i] <= 'f') ||
					  (u[i] >= 'A' && u[i] <= 'F')))
			return false;
	}
	return u[36] == 0;
}

int vxts_luks_check(const struct vxts_luks_info *li)
{
	/* it names the logon key, the dm table's key and the output: nothing else fits */
	if (!vxts_luks_uuid_ok(li->uuid))
		return vxts_err(-ENOTSUP, "the %s header's UUID is not a canonical UUID (36 "
				"characters, 8-4-4-4-12 hex digits): refusing it; check the header "
				"with `cryptsetup luksDump`, give it a new UUID with `cryptsetup "
				"luksUUID --uuid`, or open it with cryptsetup", li->type);
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

void vxts_luks_key_desc(char *buf, size_t len, const char *uuid, const char *devno)
{
	snprintf(buf, len, "vxts:luks-%s:%s", uuid, devno);
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

int vxts_luks_volume_key(struct vxts_luks *l, const uint8_t *pass, size_t len, uint8_t *key,
			 size_t key_len)
{
	size_t got = key_len;
	int r;

	vxts_err_clear();
	luks_last_log[0] = 0;
	r = crypt_volume_key_get(l->cd, CRYPT_ANY_SLOT, (char *)key, &got, (const char *)pass,
				 len);
	/*
	 * -ENOENT: no keyslot bound to the data segment opened (an unbound
	 * keyslot was tried and did not open either): a wrong passphrase too.
	 */
	if (r == -EPERM || r == -ENOENT)
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

/*
 * The header is written into a file no one else can reach (newfile.h):
 * libcryptsetup writes it through /proc/self/fd/N, so a link planted at
 * FILE's name is never followed, and FILE appears only once it is whole.
 */
int vxts_luks_export(const struct vxts_luks_export *e, const uint8_t *key, size_t key_len,
		     const uint8_t *pass, size_t pass_len)
{
	struct crypt_device *cd = NULL;
	struct vxts_newfile nf;
	int r;

	vxts_err_clear();
	r = vxts_newfile_open(&nf, e->file, 4096);
	if (r)
		return vxts_err(r, "cannot create a file beside %s: %s", e->file, strerror(-r));
	luks_setup();
	r = crypt_init(&cd, nf.proc);
	if (!r) {
		crypt_set_log_callback(cd, luks_log, NULL);
		r = luks_format(cd, e, key, key_len, pass, pass_len);
	}
	crypt_free(cd);
	if (r) {
		r = vxts_err(r, "cannot write the LUKS2 header %s%s%s", e->file,
			     luks_last_log[0] ? ": " : "", luks_last_log);
	} else {
		r = vxts_newfile_link(&nf, e->file);
		if (r == -EEXIST)
			r = vxts_err(r, "%s exists: choose a new file name (export never "
				     "overwrites)", e->file);
		else if (r)
			r = vxts_err(r, "cannot create %s: %s", e->file, strerror(-r));
	}
	vxts_newfile_close(&nf);
	return r;
}
