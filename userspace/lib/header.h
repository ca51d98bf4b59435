/* SPDX-License-Identifier: GPL-2.0 */
/*
 * header: the on-disk vxts header (docs/FORMAT.md) and its two-copy commit.
 *
 * The header area (detached file, or the last area_size bytes of the device):
 *   [0, 4K)        copy 1
 *   [4K, 8K)       copy 2 (byte-identical to copy 1 once an update completes)
 *   [64K, ...)     two resilience slots, used alternately per window
 * Each copy carries a SHA-256 checksum (catches torn/bit-rotted copies without
 * any key) and an HMAC-SHA256 under a key derived from the current DEK (catches
 * deliberate edits; checked at unlock, before any data is touched).
 */
#ifndef VXTS_HEADER_H
#define VXTS_HEADER_H

#include <stdbool.h>
#include <stdint.h>

#include "dev.h"
#include "keyslot.h"
#include "vxts.h"

#define VXTS_HDR_MAGIC "VXTS\0HDR"
#define VXTS_HDR_VERSION 1
#define VXTS_HDR_COPY_SIZE 4096
#define VXTS_HDR_RES_BASE (64u << 10)	/* resilience slots start here */
#define VXTS_HDR_MIN_AREA (256u << 10)
#define VXTS_CIPHER_NAME "aes-xts-plain64"
#define VXTS_MAC_SIZE 32

#define VXTS_HDR_F_AT_END (1u << 0)	/* header area is the end of the data device */

/* Field offsets inside one 4096-byte copy (all integers little-endian). */
enum vxts_hdr_off {
	HO_MAGIC = 0,		/* 8 */
	HO_VERSION = 8,		/* 4 */
	HO_COPY_SIZE = 12,	/* 4 */
	HO_SEQ = 16,		/* 8 */
	HO_UUID = 24,		/* 16 */
	HO_LABEL = 40,		/* 48 */
	HO_CIPHER = 88,		/* 32 */
	HO_UNIT = 120,		/* 4 */
	HO_FLAGS = 124,		/* 4 */
	HO_DATA_OFF = 128,	/* 8 */
	HO_DATA_SIZE = 136,	/* 8 */
	HO_IV_OFF = 144,	/* 8 */
	HO_AREA_SIZE = 152,	/* 8 */
	HO_STATE = 160,		/* 4 */
	HO_DIRECTION = 164,	/* 4 */
	HO_RESILIENCE = 168,	/* 4 */
	HO_KEY_ID = 172,	/* 4 */
	HO_BOUNDARY = 176,	/* 8 */
	HO_WIN_OFF = 184,	/* 8 */
	HO_WIN_LEN = 192,	/* 8 */
	HO_WIN_SEQ = 200,	/* 8 */
	HO_RES_OFF = 208,	/* 8 */
	HO_RES_LEN = 216,	/* 8 */
	HO_RES_DIGEST = 224,	/* 32 */
	HO_MAC_SALT = 256,	/* 32 */
	HO_RES_NONCE = 288,	/* 8 */
	HO_KEY_GEN = 296,	/* 8 */
	HO_MAC = 448,		/* 32 */
	HO_SLOTS = 512,		/* 8 * 256 */
	HO_CHECKSUM = 4064,	/* 32 */
};

struct vxts_header {
	uint64_t seq;
	uint8_t uuid[VXTS_UUID_SIZE];
	char label[VXTS_LABEL_MAX + 1];
	uint32_t unit_size;
	uint32_t flags;
	uint64_t data_offset, data_size, iv_offset;
	uint64_t area_size;
	uint32_t state;			/* enum vxts_state */
	uint32_t direction;		/* enum vxts_direction */
	uint32_t resilience;		/* enum vxts_resilience */
	uint32_t key_id;		/* key_id of the current DEK's slots */
	uint64_t key_gen;		/* completed re-keys since format */
	uint64_t boundary;		/* bytes converted, data-relative */
	uint64_t win_off, win_len;	/* window in flight (len 0: none) */
	uint64_t win_seq;		/* windows started; slot = win_seq % 2 */
	uint64_t res_off, res_len;	/* resilience record, header-area relative */
	uint8_t res_digest[32];		/* SHA-256 of the record's tag list */
	uint8_t res_nonce[8];		/* GMAC nonce of the record's tags (rectag.h) */
	uint8_t mac_salt[32];
	uint8_t mac[VXTS_MAC_SIZE];
	uint8_t slots[VXTS_KEYSLOTS][VXTS_KEYSLOT_SIZE];
};

/* Per-copy load result, for messages and info. */
struct vxts_hdr_load {
	unsigned int valid;		/* bit 0 copy 1, bit 1 copy 2 */
	int copy_r[2];			/* 0, -ENODATA (no magic), -EBADMSG */
	char why[2][96];		/* reason a copy is bad */
};

/* Pure codec (no IO): encode sets magic/version/checksum; @mac_key NULL keeps h->mac. */
int vxts_hdr_encode(const struct vxts_header *h, const uint8_t *mac_key,
		    uint8_t out[VXTS_HDR_COPY_SIZE]);
/* 0, -ENODATA (not a vxts header), -EBADMSG (damaged; @why says what). */
int vxts_hdr_decode(const uint8_t in[VXTS_HDR_COPY_SIZE], struct vxts_header *h,
		    char *why, size_t why_len);

/* Derives the header MAC key from the current DEK. */
int vxts_hdr_mac_key(const struct vxts_header *h, const uint8_t dek[VXTS_KEY_BYTES],
		     uint8_t mac_key[32]);
/* 0 if the MAC of @h verifies under @mac_key, else -EBADMSG. */
int vxts_hdr_verify_mac(const struct vxts_header *h, const uint8_t mac_key[32]);

/* Resilience slot (header-area relative offset and size) for window @win_seq. */
uint64_t vxts_hdr_res_slot(const struct vxts_header *h, uint64_t win_seq, uint64_t *size);

/*
 * Reads both copies at @base of @d and returns the newest valid one.
 * -ENODATA neither copy has the magic; -EBADMSG both damaged; -EIO.
 */
int vxts_hdr_load(struct vxts_dev *d, uint64_t base, struct vxts_header *h,
		  struct vxts_hdr_load *st);

/*
 * The commit: seq++, then copy 1 written+synced, then copy 2 written+synced.
 * A crash while copy 1 is written leaves copy 2 (old state) valid; a crash
 * while copy 2 is written leaves copy 1 (new state) valid. Either way the
 * loader finds one valid copy; the update is durable once copy 1 is synced.
 */
int vxts_hdr_commit(struct vxts_dev *d, uint64_t base, struct vxts_header *h,
		    const uint8_t mac_key[32]);

/*
 * vxts_hdr_commit() that also says how far it got: *@landed = copies that
 * hold the new state, 0, 1 or 2 (after an error, copy 1 is read back). With
 * 1 or 2 the new state is the one the loader picks (it outranks copy 2 by
 * seq), whatever the return value: the caller must treat it as committed.
 */
int vxts_hdr_commit_ex(struct vxts_dev *d, uint64_t base, struct vxts_header *h,
		       const uint8_t mac_key[32], unsigned int *landed);

/*
 * Makes both copies hold @h (the state the caller runs from: the newest
 * valid copy when it was just loaded) unless they already do. A crash can
 * leave the copies naming different windows; the next window's record then
 * reuses the slot the stale copy names, and a later torn commit would fall
 * back to a copy whose record is gone. Written copy 2 first, then copy 1,
 * with a seq above every copy on disk: a cut in copy 2 leaves copy 1 as it
 * was, a cut in copy 1 leaves copy 2 holding @h. Conversion runs call this
 * before their first write.
 */
int vxts_hdr_reconcile(struct vxts_dev *d, uint64_t base, struct vxts_header *h,
		       const uint8_t mac_key[32]);

#endif
