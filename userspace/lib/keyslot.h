/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keyslot: a volume key (DEK) wrapped by a key-encryption key (KEK) in a
 * fixed 256-byte slot that the header embeds verbatim. Layout: docs/KEYS.md.
 */
#ifndef VXTS_KEYSLOT_H
#define VXTS_KEYSLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXTS_KEYSLOT_SIZE 256
#define VXTS_KEYSLOTS 8

enum vxts_kek_type {
	VXTS_KEK_NONE = 0,
	VXTS_KEK_KEYFILE = 1,
	VXTS_KEK_PASSPHRASE = 2,
};

/* The caller keeps @secret in vxts_secure_alloc() memory. */
struct vxts_kek {
	enum vxts_kek_type type;
	const uint8_t *secret;	/* key-file bytes (>= 1) or passphrase bytes */
	size_t len;
};

/* Argon2id costs; zeros mean the defaults (t 3, m 256 MiB, p 2). */
struct vxts_argon2_params {
	uint32_t t_cost, m_cost_kib, parallelism;
};

#define VXTS_ARGON2_T_COST 3
#define VXTS_ARGON2_M_COST_KIB 262144
#define VXTS_ARGON2_PARALLELISM 2

/*
 * key-file KEK = HKDF-SHA256(file bytes, slot salt, "vxts keyfile kek v1");
 * passphrase KEK = Argon2id(passphrase, slot salt, params stored in the slot);
 * wrap = AES-256 key wrap with padding (RFC 5649).
 * @key_id tags which volume key the slot holds (0 = current DEK, 1 = new DEK
 * during re-key). @p NULL = defaults. @key_len 1..64.
 * Returns 0, -EINVAL, -ENOMEM, -EIO.
 */
int vxts_keyslot_seal(uint8_t slot[VXTS_KEYSLOT_SIZE], const struct vxts_kek *kek,
		      const struct vxts_argon2_params *p,
		      const uint8_t *key, size_t key_len, uint32_t key_id);

/*
 * @key must hold 64 bytes (caller: secure memory); it is written only on
 * success. Returns 0, -EPERM wrong KEK (unwrap integrity check failed),
 * -ENOENT empty slot, -EINVAL malformed slot, -ENOMEM.
 */
int vxts_keyslot_open(const uint8_t slot[VXTS_KEYSLOT_SIZE], const struct vxts_kek *kek,
		      uint8_t *key, size_t *key_len, uint32_t *key_id);

/* What a slot holds, without any secret. */
struct vxts_keyslot_info {
	bool in_use;
	enum vxts_kek_type type;
	uint32_t key_id;
	struct vxts_argon2_params argon2;
};

/* 0 (also for an empty slot: in_use false) or -EINVAL malformed slot. */
int vxts_keyslot_info(const uint8_t slot[VXTS_KEYSLOT_SIZE], struct vxts_keyslot_info *info);

/* Wipes the slot to all zeroes (an empty slot). */
void vxts_keyslot_clear(uint8_t slot[VXTS_KEYSLOT_SIZE]);

#endif
