/* SPDX-License-Identifier: GPL-2.0 */
/*
 * keyslot: a volume key (DEK) wrapped by a key-encryption key (KEK) in
 * 256-byte entries that the header embeds verbatim. Local KEKs (key file,
 * passphrase, recovery key) fit one entry; KEKs held elsewhere (a PKCS#11
 * token, an external KMS) store a reference and a wrapped blob that may span
 * up to VXTS_KS_MAX_ENTRIES consecutive entries (an RSA-2048 OAEP blob alone
 * is 256 bytes). Layout: docs/KEYS.md.
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
	VXTS_KEK_PKCS11 = 3,	/* DEK wrapped inside a PKCS#11 token (HSM) */
	VXTS_KEK_KMS = 4,	/* DEK wrapped by an external KMS through a helper */
	VXTS_KEK_RECOVERY = 5,	/* 32-byte recovery key shown to a human once */
	VXTS_KEK_CONT = 15,	/* info only: continuation entry of a longer slot */
};

#define VXTS_KS_MAX_ENTRIES	4	/* entries one slot may span */
#define VXTS_KS_REF_MAX		160	/* bytes of a stored URI / KMS key id */
#define VXTS_RECOVERY_KEY_BYTES	32

/* How an external KEK wraps the DEK (stored in the slot as a code). */
enum vxts_ks_mech {
	VXTS_MECH_NONE = 0,
	VXTS_MECH_AES_KWP = 1,		/* PKCS#11 CKM_AES_KEY_WRAP_PAD (RFC 5649) */
	VXTS_MECH_RSA_OAEP_256 = 2,	/* RSA-OAEP, SHA-256 + MGF1-SHA-256 */
	VXTS_MECH_RSA_OAEP = 3,		/* RSA-OAEP, SHA-1 (tokens without SHA-256 OAEP) */
	VXTS_MECH_A256KW = 4,		/* KMS: AES-256 key wrap (RFC 3394) */
	VXTS_MECH_A256KWP = 5,		/* KMS: AES-256 key wrap with padding (RFC 5649) */
};

/* "AES-KWP", "RSA-OAEP-256", ...; NULL for an unknown code. */
const char *vxts_ks_mech_name(unsigned int mech);
/* The code for a name (case-sensitive), or VXTS_MECH_NONE. */
unsigned int vxts_ks_mech_code(const char *name);

/*
 * A KEK. The caller keeps @secret in vxts_secure_alloc() memory.
 *   KEYFILE     secret = key-file bytes (>= 1)
 *   PASSPHRASE  secret = passphrase bytes
 *   RECOVERY    secret = the VXTS_RECOVERY_KEY_BYTES decoded recovery key
 *   PKCS11      secret = the user PIN (NULL: no login); uri = the key object
 *               (seal; open uses the URI stored in the slot); module = the
 *               PKCS#11 module to load (NULL: p11-kit's registered modules).
 *               A module path is never taken from a slot: the header is
 *               unauthenticated until a slot opened.
 *   KMS         command = the helper program (never stored in the slot, for
 *               the same reason); uri = the KMS key id (seal); alg = the
 *               mechanism name (seal; NULL = "RSA-OAEP-256"); timeout_ms
 *               (0 = 30 s).
 */
struct vxts_kek {
	enum vxts_kek_type type;
	const uint8_t *secret;
	size_t len;
	const char *uri;
	const char *module;
	const char *command;
	const char *alg;
	unsigned int timeout_ms;
};

/* Argon2id costs; zeros mean the defaults (t 3, m 256 MiB, p 2). */
struct vxts_argon2_params {
	uint32_t t_cost, m_cost_kib, parallelism;
};

#define VXTS_ARGON2_T_COST 3
#define VXTS_ARGON2_M_COST_KIB 262144
#define VXTS_ARGON2_PARALLELISM 2

/* The costs a slot may store and the CLI accepts (a forged slot must not make
 * us eat RAM or time; one set of limits for both so a slot vxts writes is
 * always one it reads back). m_cost_kib must also be >= 8 * parallelism. */
#define VXTS_ARGON2_T_MAX	64
#define VXTS_ARGON2_M_MIN_KIB	8
#define VXTS_ARGON2_M_MAX_KIB	(4u << 20)	/* 4 GiB */
#define VXTS_ARGON2_P_MAX	16

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
 * -ENOENT empty slot, -EINVAL malformed slot, -ENOMEM. A slot that needs
 * more than one entry gets -EINVAL here: use vxts_keyslot_table_open().
 */
int vxts_keyslot_open(const uint8_t slot[VXTS_KEYSLOT_SIZE], const struct vxts_kek *kek,
		      uint8_t *key, size_t *key_len, uint32_t *key_id);

/* What a slot holds, without any secret. */
struct vxts_keyslot_info {
	bool in_use;
	bool damaged;			/* not empty, but not a valid entry (in_use
					 * false): a bad checksum or field, an external
					 * head whose continuations do not match, a
					 * continuation without its head (table only) */
	enum vxts_kek_type type;	/* VXTS_KEK_CONT: part of the slot @head */
	uint32_t key_id;		/* UINT32_MAX for a continuation entry */
	struct vxts_argon2_params argon2;
	unsigned int entries;		/* 1.., entries the slot spans */
	int head;			/* continuation: index of its first entry */
	unsigned int mech;		/* enum vxts_ks_mech (PKCS#11, KMS) */
	char ref[VXTS_KS_REF_MAX + 1];	/* PKCS#11 URI or KMS key id, "" otherwise */
};

/* 0 (also for an empty slot: in_use false) or -EINVAL malformed slot (damaged). */
int vxts_keyslot_info(const uint8_t slot[VXTS_KEYSLOT_SIZE], struct vxts_keyslot_info *info);

/* Wipes the slot to all zeroes (an empty slot). */
void vxts_keyslot_clear(uint8_t slot[VXTS_KEYSLOT_SIZE]);

/*
 * The table of VXTS_KEYSLOTS entries in a header, where a slot may span
 * several consecutive entries (the first one, the head, says how many).
 */
typedef uint8_t vxts_slot_table[VXTS_KEYSLOTS][VXTS_KEYSLOT_SIZE];

/*
 * Seals @key under @kek at entry @slot (-1: the first run of free entries
 * long enough). Returns the head index (>= 0), -ENOSPC no room, -EEXIST
 * @slot (or an entry it needs) in use, or what the seal returns. External
 * KEKs talk to their token/helper here; on failure the table is unchanged.
 */
int vxts_keyslot_table_seal(vxts_slot_table t, int slot, const struct vxts_kek *kek,
			    const struct vxts_argon2_params *p, const uint8_t *key,
			    size_t key_len, uint32_t key_id);

/*
 * vxts_keyslot_open() for the slot whose head is entry @slot. Besides its
 * errors: -ETIMEDOUT (KMS helper too slow), -EPROTO (helper spoke no
 * protocol), -ECOMM (helper or token failed; the detail says why).
 */
int vxts_keyslot_table_open(const vxts_slot_table t, int slot, const struct vxts_kek *kek,
			    uint8_t *key, size_t *key_len, uint32_t *key_id);

/* Info for entry @slot, continuations and the slot's reference included. */
int vxts_keyslot_table_info(const vxts_slot_table t, int slot,
			    struct vxts_keyslot_info *info);

/*
 * Clears the slot headed at @slot and its continuations; -EINVAL on a valid
 * continuation (remove its head). A damaged entry (a damaged head, an orphan
 * continuation) clears only itself: a damaged span cannot be trusted.
 */
int vxts_keyslot_table_clear(vxts_slot_table t, int slot);

/*
 * Key check value of a volume key: HKDF-SHA256(@key, salt = the volume UUID,
 * "vxts key check v1"), 16 bytes. Not secret (a one-way function of the key,
 * 128 bits: it tells nothing about the key and cannot be matched by a key of
 * one's choice). An orchestrator records it once (dump/encrypt --json
 * "key_check") and pins it at unlock (--expect-key-check): a header forged
 * with another volume key (possible with public-key KEKs, docs/KEYS.md) is
 * then refused. It changes only with the volume key (re-key).
 */
#define VXTS_KEY_CHECK_BYTES 16
int vxts_key_check_value(const uint8_t *key, size_t key_len, const uint8_t *uuid,
			 size_t uuid_len, uint8_t out[VXTS_KEY_CHECK_BYTES]);

/* True for the errors of an external key provider (KMS helper, PKCS#11 token;
 * -EKEYREJECTED: the token refused the PIN). */
bool vxts_keyslot_provider_error(int r);

#endif
