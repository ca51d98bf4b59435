// SPDX-License-Identifier: GPL-2.0
/*
 * header: encode/decode of one 4096-byte header copy, the MAC over the
 * metadata that steers recovery, and the two-copy load/commit protocol.
 * Byte layout: docs/FORMAT.md and enum vxts_hdr_off in header.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "kdf.h"
#include "secmem.h"

static void hdr_put32(uint8_t *b, size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[off + i] = (uint8_t)(v >> (8 * i));
}

static void hdr_put64(uint8_t *b, size_t off, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[off + i] = (uint8_t)(v >> (8 * i));
}

static uint32_t hdr_get32(const uint8_t *b, size_t off)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | b[off + i];
	return v;
}

static uint64_t hdr_get64(const uint8_t *b, size_t off)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | b[off + i];
	return v;
}

static bool hdr_all_zero(const uint8_t *b, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (b[i])
			return false;
	return true;
}

/* Everything except magic/version/mac/checksum. */
static void hdr_put_fields(const struct vxts_header *h, uint8_t *b)
{
	hdr_put64(b, HO_SEQ, h->seq);
	memcpy(b + HO_UUID, h->uuid, VXTS_UUID_SIZE);
	memcpy(b + HO_LABEL, h->label, strnlen(h->label, VXTS_LABEL_MAX));
	memcpy(b + HO_CIPHER, VXTS_CIPHER_NAME, sizeof(VXTS_CIPHER_NAME));
	hdr_put32(b, HO_UNIT, h->unit_size);
	hdr_put32(b, HO_FLAGS, h->flags);
	hdr_put64(b, HO_DATA_OFF, h->data_offset);
	hdr_put64(b, HO_DATA_SIZE, h->data_size);
	hdr_put64(b, HO_IV_OFF, h->iv_offset);
	hdr_put64(b, HO_AREA_SIZE, h->area_size);
	hdr_put32(b, HO_STATE, h->state);
	hdr_put32(b, HO_DIRECTION, h->direction);
	hdr_put32(b, HO_RESILIENCE, h->resilience);
	hdr_put32(b, HO_KEY_ID, h->key_id);
	hdr_put64(b, HO_KEY_GEN, h->key_gen);
	hdr_put64(b, HO_BOUNDARY, h->boundary);
	hdr_put64(b, HO_WIN_OFF, h->win_off);
	hdr_put64(b, HO_WIN_LEN, h->win_len);
	hdr_put64(b, HO_WIN_SEQ, h->win_seq);
	hdr_put64(b, HO_RES_OFF, h->res_off);
	hdr_put64(b, HO_RES_LEN, h->res_len);
	memcpy(b + HO_RES_DIGEST, h->res_digest, 32);
	memcpy(b + HO_MAC_SALT, h->mac_salt, 32);
	memcpy(b + HO_RES_NONCE, h->res_nonce, sizeof(h->res_nonce));
	memcpy(b + HO_SLOTS, h->slots, sizeof(h->slots));
}

/* HMAC over the whole copy except the MAC itself and the checksum. */
static int hdr_mac_of(const uint8_t *b, const uint8_t mac_key[32], uint8_t mac[32])
{
	uint8_t tmp[HO_CHECKSUM];

	memcpy(tmp, b, sizeof(tmp));
	memset(tmp + HO_MAC, 0, VXTS_MAC_SIZE);
	return vxts_hmac_sha256(mac, mac_key, 32, tmp, sizeof(tmp));
}

int vxts_hdr_encode(const struct vxts_header *h, const uint8_t *mac_key,
		    uint8_t out[VXTS_HDR_COPY_SIZE])
{
	uint8_t mac[32];
	int r;

	memset(out, 0, VXTS_HDR_COPY_SIZE);
	memcpy(out + HO_MAGIC, VXTS_HDR_MAGIC, 8);
	hdr_put32(out, HO_VERSION, VXTS_HDR_VERSION);
	hdr_put32(out, HO_COPY_SIZE, VXTS_HDR_COPY_SIZE);
	hdr_put_fields(h, out);
	if (mac_key) {
		r = hdr_mac_of(out, mac_key, mac);
		if (r)
			return r;
		memcpy(out + HO_MAC, mac, 32);
	} else {
		memcpy(out + HO_MAC, h->mac, 32);
	}
	return vxts_sha256(out + HO_CHECKSUM, out, HO_CHECKSUM);
}

static void hdr_get_fields(const uint8_t *b, struct vxts_header *h)
{
	memset(h, 0, sizeof(*h));
	h->seq = hdr_get64(b, HO_SEQ);
	memcpy(h->uuid, b + HO_UUID, VXTS_UUID_SIZE);
	memcpy(h->label, b + HO_LABEL, VXTS_LABEL_MAX);
	h->unit_size = hdr_get32(b, HO_UNIT);
	h->flags = hdr_get32(b, HO_FLAGS);
	h->data_offset = hdr_get64(b, HO_DATA_OFF);
	h->data_size = hdr_get64(b, HO_DATA_SIZE);
	h->iv_offset = hdr_get64(b, HO_IV_OFF);
	h->area_size = hdr_get64(b, HO_AREA_SIZE);
	h->state = hdr_get32(b, HO_STATE);
	h->direction = hdr_get32(b, HO_DIRECTION);
	h->resilience = hdr_get32(b, HO_RESILIENCE);
	h->key_id = hdr_get32(b, HO_KEY_ID);
	h->key_gen = hdr_get64(b, HO_KEY_GEN);
	h->boundary = hdr_get64(b, HO_BOUNDARY);
	h->win_off = hdr_get64(b, HO_WIN_OFF);
	h->win_len = hdr_get64(b, HO_WIN_LEN);
	h->win_seq = hdr_get64(b, HO_WIN_SEQ);
	h->res_off = hdr_get64(b, HO_RES_OFF);
	h->res_len = hdr_get64(b, HO_RES_LEN);
	memcpy(h->res_digest, b + HO_RES_DIGEST, 32);
	memcpy(h->mac_salt, b + HO_MAC_SALT, 32);
	memcpy(h->res_nonce, b + HO_RES_NONCE, sizeof(h->res_nonce));
	memcpy(h->mac, b + HO_MAC, 32);
	memcpy(h->slots, b + HO_SLOTS, sizeof(h->slots));
}

/* Which direction each state implies; a header where they disagree is bad. */
static bool hdr_state_ok(uint32_t state, uint32_t dir)
{
	switch (state) {
	case VXTS_STATE_ENCRYPTED:
	case VXTS_STATE_PLAINTEXT:
		return dir == VXTS_DIR_NONE;
	case VXTS_STATE_ENCRYPTING:
		return dir == VXTS_DIR_ENCRYPT;
	case VXTS_STATE_DECRYPTING:
		return dir == VXTS_DIR_DECRYPT;
	case VXTS_STATE_REENCRYPTING:
		return dir == VXTS_DIR_REENCRYPT;
	}
	return false;
}

static const char *hdr_check_geometry(const struct vxts_header *h)
{
	if (h->unit_size != 512 && h->unit_size != 4096)
		return "data unit size not 512 or 4096";
	if (!h->data_size || h->data_size % h->unit_size || h->data_offset % h->unit_size)
		return "data area not a whole number of data units";
	if (h->iv_offset % (h->unit_size / 512))
		return "IV offset not a whole number of data units";
	if (h->data_offset + h->data_size < h->data_offset)
		return "data area overflows";
	if (h->area_size < VXTS_HDR_MIN_AREA || h->area_size % 4096)
		return "header area size invalid";
	if (h->flags & ~VXTS_HDR_F_AT_END)
		return "unknown flags";
	return NULL;
}

static const char *hdr_check_state(const struct vxts_header *h)
{
	uint64_t slot_size, slot;

	if (!hdr_state_ok(h->state, h->direction))
		return "conversion state and direction disagree";
	if (h->resilience > VXTS_RESILIENCE_JOURNAL || h->key_id > 1)
		return "resilience mode or key id out of range";
	if (h->boundary > h->data_size || h->boundary % h->unit_size)
		return "boundary outside the data area";
	if (!h->win_len)
		return NULL;
	if (h->direction == VXTS_DIR_NONE || h->win_off != h->boundary ||
	    h->win_len % h->unit_size || h->win_len > h->data_size - h->win_off)
		return "window in flight outside the data area";
	slot = vxts_hdr_res_slot(h, h->win_seq, &slot_size);
	if (h->res_off != slot || !h->res_len || h->res_len > slot_size)
		return "resilience record outside its slot";
	return NULL;
}

int vxts_hdr_decode(const uint8_t in[VXTS_HDR_COPY_SIZE], struct vxts_header *h,
		    char *why, size_t why_len)
{
	uint8_t sum[32];
	const char *bad;
	uint32_t v;

	if (memcmp(in + HO_MAGIC, VXTS_HDR_MAGIC, 8)) {
		snprintf(why, why_len, "no vxts magic");
		return -ENODATA;
	}
	if (vxts_sha256(sum, in, HO_CHECKSUM))
		return -ENOMEM;
	if (memcmp(sum, in + HO_CHECKSUM, 32)) {
		snprintf(why, why_len, "checksum mismatch");
		return -EBADMSG;
	}
	v = hdr_get32(in, HO_VERSION);
	if (v != VXTS_HDR_VERSION) {
		snprintf(why, why_len, "unsupported format version %u", v);
		return -EBADMSG;
	}
	hdr_get_fields(in, h);
	bad = hdr_get32(in, HO_COPY_SIZE) != VXTS_HDR_COPY_SIZE ? "copy size not 4096" : NULL;
	if (!bad && memcmp(in + HO_CIPHER, VXTS_CIPHER_NAME, sizeof(VXTS_CIPHER_NAME)))
		bad = "cipher not aes-xts-plain64";
	if (!bad && (!hdr_all_zero(in, HO_LABEL + strnlen(h->label, VXTS_LABEL_MAX), HO_CIPHER) ||
		     !hdr_all_zero(in, HO_CIPHER + sizeof(VXTS_CIPHER_NAME), HO_UNIT)))
		bad = "label or cipher not NUL padded";
	if (!bad && (!hdr_all_zero(in, HO_KEY_GEN + 8, HO_MAC) ||
		     !hdr_all_zero(in, HO_MAC + 32, HO_SLOTS) ||
		     !hdr_all_zero(in, HO_SLOTS + sizeof(h->slots), HO_CHECKSUM)))
		bad = "reserved bytes not zero";
	if (!bad)
		bad = hdr_check_geometry(h);
	if (!bad)
		bad = hdr_check_state(h);
	if (bad) {
		snprintf(why, why_len, "%s", bad);
		return -EBADMSG;
	}
	return 0;
}

int vxts_hdr_mac_key(const struct vxts_header *h, const uint8_t dek[VXTS_KEY_BYTES],
		     uint8_t mac_key[32])
{
	return vxts_hkdf_sha256(mac_key, 32, dek, VXTS_KEY_BYTES, h->mac_salt,
				sizeof(h->mac_salt), "vxts header mac v1");
}

int vxts_hdr_verify_mac(const struct vxts_header *h, const uint8_t mac_key[32])
{
	uint8_t buf[VXTS_HDR_COPY_SIZE], mac[32];
	int r;

	r = vxts_hdr_encode(h, NULL, buf);
	if (!r)
		r = hdr_mac_of(buf, mac_key, mac);
	if (r)
		return r;
	return vxts_ct_equal(mac, h->mac, 32) ? 0 : -EBADMSG;
}

uint64_t vxts_hdr_res_slot(const struct vxts_header *h, uint64_t win_seq, uint64_t *size)
{
	uint64_t slot_size = ((h->area_size - VXTS_HDR_RES_BASE) / 2) & ~4095ULL;

	if (size)
		*size = slot_size;
	return VXTS_HDR_RES_BASE + (win_seq % 2) * slot_size;
}

static int hdr_load_copy(struct vxts_dev *d, uint64_t off, uint8_t *buf,
			 struct vxts_header *h, char *why, size_t why_len)
{
	int r;

	if (off > d->size || d->size - off < VXTS_HDR_COPY_SIZE) {
		snprintf(why, why_len, "truncated (%llu bytes there)",
			 (unsigned long long)d->size);
		return -EBADMSG;
	}
	r = vxts_dev_rw(d, VXTS_IO_READ, buf, VXTS_HDR_COPY_SIZE, off);
	if (r) {
		snprintf(why, why_len, "read error %d", r);
		return -EIO;
	}
	return vxts_hdr_decode(buf, h, why, why_len);
}

int vxts_hdr_load(struct vxts_dev *d, uint64_t base, struct vxts_header *h,
		  struct vxts_hdr_load *st)
{
	struct vxts_header c[2];
	uint8_t *buf = aligned_alloc(4096, VXTS_HDR_COPY_SIZE);
	int best = -1;

	if (!buf)
		return -ENOMEM;
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < 2; i++) {
		st->copy_r[i] = hdr_load_copy(d, base + (uint64_t)i * VXTS_HDR_COPY_SIZE, buf,
					      &c[i], st->why[i], sizeof(st->why[i]));
		if (st->copy_r[i])
			continue;
		st->valid |= 1u << i;
		if (best < 0 || c[i].seq > c[best].seq)
			best = i;
	}
	free(buf);
	if (best >= 0) {
		*h = c[best];
		vxts_wipe(c, sizeof(c));
		return 0;
	}
	if (st->copy_r[0] == -EIO || st->copy_r[1] == -EIO)
		return -EIO;
	if (st->copy_r[0] == -ENODATA && st->copy_r[1] == -ENODATA)
		return -ENODATA;
	return -EBADMSG;
}

/*
 * Copy 1 after its write or sync reported an error: does it hold @buf? A
 * write can land and still report EIO, and a sync error says nothing about
 * what the next read (and the loader) sees. Unreadable counts as "no": the
 * caller reports failure and the loader decides at the next open.
 */
static bool hdr_copy1_is(struct vxts_dev *d, uint64_t base, const uint8_t *buf)
{
	uint8_t *rd = aligned_alloc(4096, VXTS_HDR_COPY_SIZE);
	bool same;

	if (!rd)
		return false;
	same = !vxts_dev_rw(d, VXTS_IO_READ, rd, VXTS_HDR_COPY_SIZE, base) &&
	       !memcmp(rd, buf, VXTS_HDR_COPY_SIZE);
	free(rd);
	return same;
}

int vxts_hdr_commit_ex(struct vxts_dev *d, uint64_t base, struct vxts_header *h,
		       const uint8_t mac_key[32], unsigned int *landed)
{
	uint8_t *buf = aligned_alloc(4096, VXTS_HDR_COPY_SIZE);
	unsigned int n = 0;
	int r;

	if (landed)
		*landed = 0;
	if (!buf)
		return -ENOMEM;
	h->seq++;
	r = vxts_hdr_encode(h, mac_key, buf);
	if (!r)
		memcpy(h->mac, buf + HO_MAC, 32);
	for (int i = 0; !r && i < 2; i++) {
		r = vxts_dev_rw(d, VXTS_IO_WRITE, buf, VXTS_HDR_COPY_SIZE,
				base + (uint64_t)i * VXTS_HDR_COPY_SIZE);
		if (!r)
			r = vxts_dev_sync(d);
		if (!r)
			n = i + 1;
	}
	/*
	 * Copy 1 failed: it may still hold the new state (the write landed,
	 * the error came after). What the loader would pick decides; copy 2
	 * was not touched, so "not landed" means the old state is live.
	 */
	if (r && n == 0 && landed && hdr_copy1_is(d, base, buf))
		n = 1;
	free(buf);
	if (landed)
		*landed = n;
	return r;
}

int vxts_hdr_commit(struct vxts_dev *d, uint64_t base, struct vxts_header *h,
		    const uint8_t mac_key[32])
{
	return vxts_hdr_commit_ex(d, base, h, mac_key, NULL);
}

/* Highest seq of a valid copy in @buf (both copies), 0 if none. */
static uint64_t hdr_max_seq(const uint8_t *buf)
{
	struct vxts_header c;
	uint64_t seq = 0;
	char why[96];

	for (int i = 0; i < 2; i++)
		if (!vxts_hdr_decode(buf + i * VXTS_HDR_COPY_SIZE, &c, why, sizeof(why)) &&
		    c.seq > seq)
			seq = c.seq;
	vxts_wipe(&c, sizeof(c));
	return seq;
}

int vxts_hdr_reconcile(struct vxts_dev *d, uint64_t base, struct vxts_header *h,
		       const uint8_t mac_key[32])
{
	uint8_t *buf = aligned_alloc(4096, 3 * VXTS_HDR_COPY_SIZE);
	uint8_t *mine = buf + 2 * VXTS_HDR_COPY_SIZE;
	uint64_t seq;
	int r;

	if (!buf)
		return -ENOMEM;
	r = vxts_dev_rw(d, VXTS_IO_READ, buf, 2 * VXTS_HDR_COPY_SIZE, base);
	if (!r)
		r = vxts_hdr_encode(h, NULL, mine);
	if (r || (!memcmp(buf, mine, VXTS_HDR_COPY_SIZE) &&
		  !memcmp(buf + VXTS_HDR_COPY_SIZE, mine, VXTS_HDR_COPY_SIZE)))
		goto out;
	/* Outrank every copy on disk, whatever state it names. */
	seq = hdr_max_seq(buf);
	h->seq = (h->seq > seq ? h->seq : seq) + 1;
	r = vxts_hdr_encode(h, mac_key, mine);
	if (!r)
		memcpy(h->mac, mine + HO_MAC, 32);
	for (int i = 1; !r && i >= 0; i--) {
		r = vxts_dev_rw(d, VXTS_IO_WRITE, mine, VXTS_HDR_COPY_SIZE,
				base + (uint64_t)i * VXTS_HDR_COPY_SIZE);
		if (!r)
			r = vxts_dev_sync(d);
	}
out:
	free(buf);
	return r;
}
