// SPDX-License-Identifier: GPL-2.0
/*
 * keyslot: one volume key wrapped by one KEK in a 256-byte slot (local
 * KEKs), or in up to four consecutive entries (KEKs in a token or a KMS).
 *
 * The KEK material (64 bytes, from HKDF for key files, Argon2id for
 * passphrases) splits into a wrapping key and a MAC key. The wrapping key
 * seals the volume key with RFC 5649 AES key wrap; the MAC key authenticates
 * the slot's plain fields (type, key_id, salt, costs), which key wrap alone
 * would leave open to a swap of key_id 0 and 1 during a re-key. A plain
 * SHA-256 over the slot lets us tell a damaged slot (-EINVAL) from a wrong
 * KEK (-EPERM) without running Argon2 first. Byte layout: docs/KEYS.md.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <openssl/evp.h>

#include "error.h"
#include "kdf.h"
#include "keyslot.h"
#include "kms.h"
#include "p11.h"
#include "secmem.h"

#define VXTS_KS_MAGIC		"VXKS"
#define VXTS_KS_VERSION		1
#define VXTS_KS_SALT		32
#define VXTS_KS_MAX_KEY		64
#define VXTS_KS_MAX_WRAPPED	72	/* 64 bytes + the 8-byte RFC 5649 block */
#define VXTS_KS_KEYFILE_INFO	"vxts keyfile kek v1"
#define VXTS_KS_RECOVERY_INFO	"vxts recovery kek v1"
#define VXTS_KS_EXT_MAC_INFO	"vxts external slot mac v1"
#define VXTS_KS_CONT_MAGIC	"VXKC"

/* Byte offsets of the slot fields; every integer is little-endian. */
enum {
	VXTS_KS_OFF_MAGIC = 0,		/* 4: "VXKS" */
	VXTS_KS_OFF_VERSION = 4,	/* 2 */
	VXTS_KS_OFF_TYPE = 6,		/* 2: enum vxts_kek_type */
	VXTS_KS_OFF_KEY_ID = 8,		/* 4 */
	VXTS_KS_OFF_KEY_LEN = 12,	/* 4: unwrapped key bytes, 1..64 */
	VXTS_KS_OFF_SALT = 16,		/* 32 */
	VXTS_KS_OFF_T_COST = 48,	/* 4 */
	VXTS_KS_OFF_M_COST = 52,	/* 4: KiB */
	VXTS_KS_OFF_PARALLEL = 56,	/* 4 */
	VXTS_KS_OFF_WRAPPED_LEN = 60,	/* 4 */
	VXTS_KS_OFF_WRAPPED = 64,	/* 72, zero padded */
	VXTS_KS_OFF_MAC = 136,		/* 32: HMAC-SHA256(mac key, 0..135) */
	VXTS_KS_OFF_RESERVED = 168,	/* 56: zero */
	VXTS_KS_OFF_CSUM = 224,		/* 32: SHA-256(0..223) */
};

/* External slots (PKCS#11, KMS): the head entry after the common 0..47. */
enum {
	VXTS_KS_OFF_MECH = 48,		/* 2: enum vxts_ks_mech */
	VXTS_KS_OFF_ENTRIES = 50,	/* 1: entries the slot spans, 1..4 */
	VXTS_KS_OFF_XRES = 51,		/* 1: zero */
	VXTS_KS_OFF_REF_LEN = 52,	/* 2: reference bytes, 1..160 */
	VXTS_KS_OFF_BLOB_LEN = 54,	/* 2: wrapped blob bytes */
	VXTS_KS_OFF_STREAM = 56,	/* 168: start of ref || blob || mac || zeroes */
};

/* A continuation entry: magic, version, its index in the slot, entries. */
enum {
	VXTS_KS_OFF_CINDEX = 6,		/* 1: 1..entries-1 */
	VXTS_KS_OFF_CENTRIES = 7,	/* 1: = the head's entries */
	VXTS_KS_OFF_CSTREAM = 8,	/* 216: the stream continues */
};

#define VXTS_KS_HEAD_STREAM	(VXTS_KS_OFF_CSUM - VXTS_KS_OFF_STREAM)		/* 168 */
#define VXTS_KS_CONT_STREAM	(VXTS_KS_OFF_CSUM - VXTS_KS_OFF_CSTREAM)	/* 216 */
#define VXTS_KS_STREAM_MAX	(VXTS_KS_HEAD_STREAM + \
				 (VXTS_KS_MAX_ENTRIES - 1) * VXTS_KS_CONT_STREAM)
#define VXTS_KS_BLOB_MAX	(VXTS_KS_STREAM_MAX - 32 - 1)

/* Limits on stored Argon2 costs: keyslot.h, shared with the CLI. */
#define VXTS_KS_T_MAX		VXTS_ARGON2_T_MAX
#define VXTS_KS_M_MAX_KIB	VXTS_ARGON2_M_MAX_KIB
#define VXTS_KS_P_MAX		VXTS_ARGON2_P_MAX

/* Everything secret that a seal or open handles, in one locked page. */
struct vxts_ks_secrets {
	uint8_t kek[64];	/* [0, 32) wrapping key, [32, 64) MAC key */
	uint8_t key[VXTS_KS_MAX_WRAPPED + 8];
};

struct vxts_ks_fields {
	uint16_t version, type;
	uint32_t key_id, key_len, wrapped_len;
	struct vxts_argon2_params argon2;
};

static void vxts_ks_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void vxts_ks_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t vxts_ks_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t vxts_ks_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static bool vxts_ks_is_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

/* RFC 5649 output: the key padded to 8 bytes plus one 8-byte block. */
static uint32_t vxts_ks_wrapped_len(uint32_t key_len)
{
	return ((key_len + 7) & ~7u) + 8;
}

static bool vxts_ks_argon2_valid(const struct vxts_argon2_params *a)
{
	return a->t_cost >= 1 && a->t_cost <= VXTS_KS_T_MAX &&
	       a->parallelism >= 1 && a->parallelism <= VXTS_KS_P_MAX &&
	       a->m_cost_kib >= 8 * a->parallelism && a->m_cost_kib <= VXTS_KS_M_MAX_KIB;
}

static void vxts_ks_argon2_resolve(struct vxts_argon2_params *a,
				   const struct vxts_argon2_params *p)
{
	a->t_cost = p && p->t_cost ? p->t_cost : VXTS_ARGON2_T_COST;
	a->m_cost_kib = p && p->m_cost_kib ? p->m_cost_kib : VXTS_ARGON2_M_COST_KIB;
	a->parallelism = p && p->parallelism ? p->parallelism : VXTS_ARGON2_PARALLELISM;
}

static bool vxts_ks_external(unsigned int type)
{
	return type == VXTS_KEK_PKCS11 || type == VXTS_KEK_KMS;
}

/* Local KEKs: key material in hand. External ones: a token or a helper. */
static bool vxts_ks_kek_valid(const struct vxts_kek *kek)
{
	if (!kek)
		return false;
	switch (kek->type) {
	case VXTS_KEK_KEYFILE:
	case VXTS_KEK_PASSPHRASE:
		return kek->secret && kek->len;
	case VXTS_KEK_RECOVERY:
		return kek->secret && kek->len == VXTS_RECOVERY_KEY_BYTES;
	case VXTS_KEK_PKCS11:
		return !kek->len || kek->secret;
	case VXTS_KEK_KMS:
		return kek->command && *kek->command;
	default:
		return false;
	}
}

static int vxts_ks_argon2(uint8_t out[64], const struct vxts_kek *kek, const uint8_t *salt,
			  const struct vxts_argon2_params *a)
{
	int r;

	/* libargon2 takes a 32-bit password length. */
	if (kek->len > ARGON2_MAX_PWD_LENGTH)
		return -EINVAL;
	r = argon2id_hash_raw(a->t_cost, a->m_cost_kib, a->parallelism, kek->secret,
			      (uint32_t)kek->len, salt, VXTS_KS_SALT, out, 64);
	if (r == ARGON2_OK)
		return 0;
	return r == ARGON2_MEMORY_ALLOCATION_ERROR ? -ENOMEM : -EINVAL;
}

static int vxts_ks_derive(uint8_t out[64], const struct vxts_kek *kek, const uint8_t *salt,
			  const struct vxts_argon2_params *a)
{
	if (kek->type == VXTS_KEK_PASSPHRASE)
		return vxts_ks_argon2(out, kek, salt, a);
	return vxts_hkdf_sha256(out, 64, kek->secret, kek->len, salt, VXTS_KS_SALT,
				kek->type == VXTS_KEK_RECOVERY ? VXTS_KS_RECOVERY_INFO :
				VXTS_KS_KEYFILE_INFO);
}

/* AES-256 key wrap with padding, either way; 0, -EPERM (unwrap check), -ENOMEM. */
static int vxts_ks_wrap(int enc, const uint8_t wrap_key[32], uint8_t *out, int *outl,
			const uint8_t *in, int inl)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int r = 0;

	if (!ctx)
		return -ENOMEM;
	/* OpenSSL hides wrap modes from EVP unless asked for explicitly. */
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex2(ctx, EVP_aes_256_wrap_pad(), wrap_key, NULL, enc, NULL) != 1)
		r = -ENOMEM;
	else if (EVP_CipherUpdate(ctx, out, outl, in, inl) != 1 || *outl <= 0)
		r = enc ? -EIO : -EPERM;
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

static void vxts_ks_put_fields(uint8_t *s, const struct vxts_ks_fields *f)
{
	memcpy(s + VXTS_KS_OFF_MAGIC, VXTS_KS_MAGIC, 4);
	vxts_ks_put16(s + VXTS_KS_OFF_VERSION, f->version);
	vxts_ks_put16(s + VXTS_KS_OFF_TYPE, f->type);
	vxts_ks_put32(s + VXTS_KS_OFF_KEY_ID, f->key_id);
	vxts_ks_put32(s + VXTS_KS_OFF_KEY_LEN, f->key_len);
	vxts_ks_put32(s + VXTS_KS_OFF_T_COST, f->argon2.t_cost);
	vxts_ks_put32(s + VXTS_KS_OFF_M_COST, f->argon2.m_cost_kib);
	vxts_ks_put32(s + VXTS_KS_OFF_PARALLEL, f->argon2.parallelism);
	vxts_ks_put32(s + VXTS_KS_OFF_WRAPPED_LEN, f->wrapped_len);
}

static void vxts_ks_get_fields(const uint8_t *s, struct vxts_ks_fields *f)
{
	f->version = vxts_ks_get16(s + VXTS_KS_OFF_VERSION);
	f->type = vxts_ks_get16(s + VXTS_KS_OFF_TYPE);
	f->key_id = vxts_ks_get32(s + VXTS_KS_OFF_KEY_ID);
	f->key_len = vxts_ks_get32(s + VXTS_KS_OFF_KEY_LEN);
	f->argon2.t_cost = vxts_ks_get32(s + VXTS_KS_OFF_T_COST);
	f->argon2.m_cost_kib = vxts_ks_get32(s + VXTS_KS_OFF_M_COST);
	f->argon2.parallelism = vxts_ks_get32(s + VXTS_KS_OFF_PARALLEL);
	f->wrapped_len = vxts_ks_get32(s + VXTS_KS_OFF_WRAPPED_LEN);
}

/*
 * Structural checks, no secrets involved: 0, -ENOENT (all zero), -EINVAL.
 * Everything a reader relies on is checked, so that a slot that passes can
 * only fail later because of the KEK or a deliberate forgery.
 */
static int vxts_ks_parse(const uint8_t *s, struct vxts_ks_fields *f)
{
	uint8_t csum[32];

	if (vxts_ks_is_zero(s, VXTS_KEYSLOT_SIZE))
		return -ENOENT;
	if (vxts_sha256(csum, s, VXTS_KS_OFF_CSUM) ||
	    !vxts_ct_equal(csum, s + VXTS_KS_OFF_CSUM, 32))
		return -EINVAL;
	vxts_ks_get_fields(s, f);
	if (memcmp(s + VXTS_KS_OFF_MAGIC, VXTS_KS_MAGIC, 4) || f->version != VXTS_KS_VERSION)
		return -EINVAL;
	if (f->key_len < 1 || f->key_len > VXTS_KS_MAX_KEY ||
	    f->wrapped_len != vxts_ks_wrapped_len(f->key_len))
		return -EINVAL;
	if (!vxts_ks_is_zero(s + VXTS_KS_OFF_WRAPPED + f->wrapped_len,
			     VXTS_KS_MAX_WRAPPED - f->wrapped_len) ||
	    !vxts_ks_is_zero(s + VXTS_KS_OFF_RESERVED, VXTS_KS_OFF_CSUM - VXTS_KS_OFF_RESERVED))
		return -EINVAL;
	if (f->type == VXTS_KEK_PASSPHRASE)
		return vxts_ks_argon2_valid(&f->argon2) ? 0 : -EINVAL;
	if (f->type == VXTS_KEK_KEYFILE || f->type == VXTS_KEK_RECOVERY)
		return vxts_ks_is_zero(s + VXTS_KS_OFF_T_COST, 12) ? 0 : -EINVAL;
	return -EINVAL;
}

/* MAC over the fields and wrapped key, then the checksum over everything. */
static int vxts_ks_finish(uint8_t *s, const uint8_t mac_key[32])
{
	int r = vxts_hmac_sha256(s + VXTS_KS_OFF_MAC, mac_key, 32, s, VXTS_KS_OFF_MAC);

	return r ? r : vxts_sha256(s + VXTS_KS_OFF_CSUM, s, VXTS_KS_OFF_CSUM);
}

static int vxts_ks_seal_into(uint8_t *s, struct vxts_ks_secrets *sec,
			     const struct vxts_kek *kek, const struct vxts_ks_fields *f,
			     const uint8_t *key)
{
	int outl = 0;
	int r;

	vxts_ks_put_fields(s, f);
	r = vxts_random(s + VXTS_KS_OFF_SALT, VXTS_KS_SALT);
	if (!r)
		r = vxts_ks_derive(sec->kek, kek, s + VXTS_KS_OFF_SALT, &f->argon2);
	if (!r)
		r = vxts_ks_wrap(1, sec->kek, s + VXTS_KS_OFF_WRAPPED, &outl, key,
				 (int)f->key_len);
	if (!r && (uint32_t)outl != f->wrapped_len)
		r = -EIO;
	return r ? r : vxts_ks_finish(s, sec->kek + 32);
}

static int vxts_ks_seal_local(uint8_t slot[VXTS_KEYSLOT_SIZE], const struct vxts_kek *kek,
			      const struct vxts_argon2_params *p,
			      const uint8_t *key, size_t key_len, uint32_t key_id)
{
	struct vxts_ks_fields f = { .version = VXTS_KS_VERSION, .key_id = key_id };
	uint8_t s[VXTS_KEYSLOT_SIZE] = { 0 };
	struct vxts_ks_secrets *sec;
	int r;

	if (!slot || !vxts_ks_kek_valid(kek) || !key || !key_len || key_len > VXTS_KS_MAX_KEY)
		return -EINVAL;
	f.type = (uint16_t)kek->type;
	f.key_len = (uint32_t)key_len;
	f.wrapped_len = vxts_ks_wrapped_len(f.key_len);
	if (kek->type == VXTS_KEK_PASSPHRASE) {
		vxts_ks_argon2_resolve(&f.argon2, p);
		if (!vxts_ks_argon2_valid(&f.argon2))
			return -EINVAL;
	}
	sec = vxts_secure_alloc(sizeof(*sec));
	if (!sec)
		return -ENOMEM;
	r = vxts_ks_seal_into(s, sec, kek, &f, key);
	vxts_secure_free(sec, sizeof(*sec));
	/* The slot is written only whole: a failed seal leaves it as it was. */
	if (!r)
		memcpy(slot, s, VXTS_KEYSLOT_SIZE);
	return r;
}

/* Derive, authenticate the plain fields, then unwrap into locked memory. */
static int vxts_ks_open_into(const uint8_t *s, struct vxts_ks_secrets *sec,
			     const struct vxts_kek *kek, const struct vxts_ks_fields *f)
{
	uint8_t mac[32];
	int outl = 0;
	int r;

	r = vxts_ks_derive(sec->kek, kek, s + VXTS_KS_OFF_SALT, &f->argon2);
	if (!r)
		r = vxts_hmac_sha256(mac, sec->kek + 32, 32, s, VXTS_KS_OFF_MAC);
	if (r)
		return r;
	if (!vxts_ct_equal(mac, s + VXTS_KS_OFF_MAC, 32))
		return -EPERM;
	r = vxts_ks_wrap(0, sec->kek, sec->key, &outl, s + VXTS_KS_OFF_WRAPPED,
			 (int)f->wrapped_len);
	if (!r && (uint32_t)outl != f->key_len)
		r = -EINVAL;
	return r;
}

static int vxts_ks_open_local(const uint8_t slot[VXTS_KEYSLOT_SIZE],
			      const struct vxts_kek *kek,
			      uint8_t *key, size_t *key_len, uint32_t *key_id)
{
	struct vxts_ks_secrets *sec;
	struct vxts_ks_fields f;
	int r;

	if (!slot || !vxts_ks_kek_valid(kek) || !key || !key_len)
		return -EINVAL;
	r = vxts_ks_parse(slot, &f);
	if (r)
		return r;
	/* A KEK of the other kind cannot open this slot: that is a wrong KEK. */
	if (f.type != kek->type)
		return -EPERM;
	sec = vxts_secure_alloc(sizeof(*sec));
	if (!sec)
		return -ENOMEM;
	r = vxts_ks_open_into(slot, sec, kek, &f);
	if (!r) {
		memcpy(key, sec->key, f.key_len);
		*key_len = f.key_len;
		if (key_id)
			*key_id = f.key_id;
	}
	vxts_secure_free(sec, sizeof(*sec));
	return r;
}

static int vxts_ks_info_local(const uint8_t slot[VXTS_KEYSLOT_SIZE],
			      struct vxts_keyslot_info *info)
{
	struct vxts_ks_fields f;
	int r;

	r = vxts_ks_parse(slot, &f);
	if (r == -ENOENT)
		return 0;
	if (r)
		return r;
	info->in_use = true;
	info->type = (enum vxts_kek_type)f.type;
	info->key_id = f.key_id;
	info->argon2 = f.argon2;
	info->entries = 1;
	return 0;
}

void vxts_keyslot_clear(uint8_t slot[VXTS_KEYSLOT_SIZE])
{
	vxts_wipe(slot, VXTS_KEYSLOT_SIZE);
}

/* ---- external slots (PKCS#11 token, KMS helper) ---------------------------- */

static const char *const vxts_ks_mech_names[] = {
	[VXTS_MECH_AES_KWP] = "AES-KWP",
	[VXTS_MECH_RSA_OAEP_256] = "RSA-OAEP-256",
	[VXTS_MECH_RSA_OAEP] = "RSA-OAEP",
	[VXTS_MECH_A256KW] = "A256KW",
	[VXTS_MECH_A256KWP] = "A256KWP",
};

#define VXTS_KS_NMECH (sizeof(vxts_ks_mech_names) / sizeof(vxts_ks_mech_names[0]))

const char *vxts_ks_mech_name(unsigned int mech)
{
	return mech < VXTS_KS_NMECH ? vxts_ks_mech_names[mech] : NULL;
}

unsigned int vxts_ks_mech_code(const char *name)
{
	for (unsigned int i = 1; name && i < VXTS_KS_NMECH; i++)
		if (!strcmp(name, vxts_ks_mech_names[i]))
			return i;
	return VXTS_MECH_NONE;
}

/* Which mechanisms a slot type may record. */
static bool vxts_ks_mech_ok(unsigned int type, unsigned int mech)
{
	if (type == VXTS_KEK_PKCS11)
		return mech == VXTS_MECH_AES_KWP || mech == VXTS_MECH_RSA_OAEP_256 ||
		       mech == VXTS_MECH_RSA_OAEP;
	return mech >= VXTS_MECH_RSA_OAEP_256 && mech < VXTS_KS_NMECH;
}

/* An external slot, decoded: plain data only (the blob is wrapped). */
struct vxts_ks_ext {
	uint16_t type, mech;
	uint32_t key_id, key_len;
	unsigned int entries, ref_len, blob_len;
	uint8_t head[VXTS_KS_OFF_STREAM];	/* the MAC covers these bytes ... */
	uint8_t stream[VXTS_KS_STREAM_MAX];	/* ... and ref || blob of this */
	char ref[VXTS_KS_REF_MAX + 1];
};

static size_t vxts_ks_stream_cap(unsigned int entries)
{
	return VXTS_KS_HEAD_STREAM + (entries - 1) * VXTS_KS_CONT_STREAM;
}

static bool vxts_ks_csum_ok(const uint8_t *s)
{
	uint8_t csum[32];

	return !vxts_sha256(csum, s, VXTS_KS_OFF_CSUM) &&
	       vxts_ct_equal(csum, s + VXTS_KS_OFF_CSUM, 32);
}

/* A reference is printable ASCII without NUL: it is shown to people. */
static bool vxts_ks_ref_ok(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return false;
	return len >= 1 && len <= VXTS_KS_REF_MAX;
}

/* The head entry alone: 0, -EINVAL. Continuations are checked by the caller. */
static int vxts_ks_ext_head(const uint8_t *s, struct vxts_ks_ext *x)
{
	if (!vxts_ks_csum_ok(s) || memcmp(s, VXTS_KS_MAGIC, 4) ||
	    vxts_ks_get16(s + VXTS_KS_OFF_VERSION) != VXTS_KS_VERSION)
		return -EINVAL;
	x->type = vxts_ks_get16(s + VXTS_KS_OFF_TYPE);
	x->key_id = vxts_ks_get32(s + VXTS_KS_OFF_KEY_ID);
	x->key_len = vxts_ks_get32(s + VXTS_KS_OFF_KEY_LEN);
	x->mech = vxts_ks_get16(s + VXTS_KS_OFF_MECH);
	x->entries = s[VXTS_KS_OFF_ENTRIES];
	x->ref_len = vxts_ks_get16(s + VXTS_KS_OFF_REF_LEN);
	x->blob_len = vxts_ks_get16(s + VXTS_KS_OFF_BLOB_LEN);
	if (!vxts_ks_external(x->type) || !vxts_ks_mech_ok(x->type, x->mech) ||
	    x->key_len < 1 || x->key_len > VXTS_KS_MAX_KEY || s[VXTS_KS_OFF_XRES] ||
	    x->entries < 1 || x->entries > VXTS_KS_MAX_ENTRIES || !x->blob_len ||
	    x->ref_len > VXTS_KS_HEAD_STREAM ||
	    !vxts_ks_ref_ok(s + VXTS_KS_OFF_STREAM, x->ref_len) ||
	    x->ref_len + x->blob_len + 32 > vxts_ks_stream_cap(x->entries))
		return -EINVAL;
	/* The smallest span that holds the stream: no hidden room for junk. */
	if (x->entries > 1 &&
	    x->ref_len + x->blob_len + 32 <= vxts_ks_stream_cap(x->entries - 1))
		return -EINVAL;
	memcpy(x->head, s, VXTS_KS_OFF_STREAM);
	memcpy(x->stream, s + VXTS_KS_OFF_STREAM, VXTS_KS_HEAD_STREAM);
	memcpy(x->ref, s + VXTS_KS_OFF_STREAM, x->ref_len);
	x->ref[x->ref_len] = '\0';
	return 0;
}

/* A continuation entry alone: its index (1..3) and span, or -EINVAL. */
static int vxts_ks_cont(const uint8_t *s, unsigned int *entries)
{
	unsigned int idx = s[VXTS_KS_OFF_CINDEX];

	if (!vxts_ks_csum_ok(s) || memcmp(s, VXTS_KS_CONT_MAGIC, 4) ||
	    vxts_ks_get16(s + VXTS_KS_OFF_VERSION) != VXTS_KS_VERSION)
		return -EINVAL;
	*entries = s[VXTS_KS_OFF_CENTRIES];
	if (*entries < 2 || *entries > VXTS_KS_MAX_ENTRIES || idx < 1 || idx >= *entries)
		return -EINVAL;
	return (int)idx;
}

/*
 * The whole slot headed at entry @i of a table of @n entries: head,
 * continuations in order, zero padding after the MAC. 0, -ENOENT, -EINVAL.
 */
static int vxts_ks_ext_parse(const uint8_t (*t)[VXTS_KEYSLOT_SIZE], int n, int i,
			     struct vxts_ks_ext *x)
{
	size_t used;
	unsigned int e;

	if (vxts_ks_is_zero(t[i], VXTS_KEYSLOT_SIZE))
		return -ENOENT;
	if (vxts_ks_ext_head(t[i], x))
		return -EINVAL;
	if (i + (int)x->entries > n)
		return -EINVAL;
	for (unsigned int k = 1; k < x->entries; k++) {
		if (vxts_ks_cont(t[i + k], &e) != (int)k || e != x->entries)
			return -EINVAL;
		memcpy(x->stream + vxts_ks_stream_cap(k), t[i + k] + VXTS_KS_OFF_CSTREAM,
		       VXTS_KS_CONT_STREAM);
	}
	used = x->ref_len + x->blob_len + 32;
	return vxts_ks_is_zero(x->stream + used, vxts_ks_stream_cap(x->entries) - used) ?
	       0 : -EINVAL;
}

/* MAC key = HKDF(DEK, slot salt, label); MAC over head fields || ref || blob. */
static int vxts_ks_ext_mac(uint8_t mac[32], const struct vxts_ks_ext *x, const uint8_t *key)
{
	uint8_t *k = vxts_secure_alloc(32);
	uint8_t *msg;
	size_t len = VXTS_KS_OFF_STREAM + x->ref_len + x->blob_len;
	int r;

	if (!k)
		return -ENOMEM;
	msg = malloc(len);
	r = msg ? 0 : -ENOMEM;
	if (!r) {
		memcpy(msg, x->head, VXTS_KS_OFF_STREAM);
		memcpy(msg + VXTS_KS_OFF_STREAM, x->stream, x->ref_len + x->blob_len);
		r = vxts_hkdf_sha256(k, 32, key, x->key_len, x->head + VXTS_KS_OFF_SALT,
				     VXTS_KS_SALT, VXTS_KS_EXT_MAC_INFO);
	}
	if (!r)
		r = vxts_hmac_sha256(mac, k, 32, msg, len);
	free(msg);
	vxts_secure_free(k, 32);
	return r;
}

/* Lays the slot out in @out (entries x 256 bytes), checksums included. */
static void vxts_ks_ext_emit(uint8_t (*out)[VXTS_KEYSLOT_SIZE], const struct vxts_ks_ext *x)
{
	memset(out, 0, x->entries * VXTS_KEYSLOT_SIZE);
	memcpy(out[0], x->head, VXTS_KS_OFF_STREAM);
	memcpy(out[0] + VXTS_KS_OFF_STREAM, x->stream, VXTS_KS_HEAD_STREAM);
	vxts_sha256(out[0] + VXTS_KS_OFF_CSUM, out[0], VXTS_KS_OFF_CSUM);
	for (unsigned int k = 1; k < x->entries; k++) {
		memcpy(out[k], VXTS_KS_CONT_MAGIC, 4);
		vxts_ks_put16(out[k] + VXTS_KS_OFF_VERSION, VXTS_KS_VERSION);
		out[k][VXTS_KS_OFF_CINDEX] = (uint8_t)k;
		out[k][VXTS_KS_OFF_CENTRIES] = (uint8_t)x->entries;
		memcpy(out[k] + VXTS_KS_OFF_CSTREAM, x->stream + vxts_ks_stream_cap(k),
		       VXTS_KS_CONT_STREAM);
		vxts_sha256(out[k] + VXTS_KS_OFF_CSUM, out[k], VXTS_KS_OFF_CSUM);
	}
}

/* Asks the token or the helper to wrap @key; fills ref, mech and blob of @x. */
static int vxts_ks_ext_wrap(struct vxts_ks_ext *x, const struct vxts_kek *kek,
			    const uint8_t *key, size_t key_len)
{
	uint8_t *blob = x->stream + VXTS_KS_REF_MAX;
	unsigned int mech = VXTS_MECH_NONE;
	size_t blob_len = 0;
	int r;

	if (kek->type == VXTS_KEK_PKCS11) {
		r = vxts_p11_wrap(kek, key, key_len, &mech, blob, VXTS_KS_BLOB_MAX - VXTS_KS_REF_MAX,
				  &blob_len, x->ref, sizeof(x->ref));
	} else {
		mech = vxts_ks_mech_code(kek->alg ? kek->alg : "RSA-OAEP-256");
		if (!kek->uri || !vxts_ks_mech_ok(VXTS_KEK_KMS, mech))
			return -EINVAL;
		if (strlen(kek->uri) > VXTS_KS_REF_MAX)
			return -ENAMETOOLONG;
		strcpy(x->ref, kek->uri);
		r = vxts_kms_wrap(kek, x->ref, vxts_ks_mech_name(mech), key, key_len, blob,
				  VXTS_KS_BLOB_MAX - VXTS_KS_REF_MAX, &blob_len);
	}
	if (r)
		return r;
	x->ref_len = (unsigned int)strlen(x->ref);
	if (!vxts_ks_ref_ok((const uint8_t *)x->ref, x->ref_len))
		return -EINVAL;
	x->mech = (uint16_t)mech;
	x->blob_len = (unsigned int)blob_len;
	memmove(x->stream + x->ref_len, blob, blob_len);
	memcpy(x->stream, x->ref, x->ref_len);
	/* what is left of the blob's first copy must not become padding */
	memset(x->stream + x->ref_len + blob_len, 0,
	       VXTS_KS_STREAM_MAX - x->ref_len - blob_len);
	return 0;
}

/* Seals into @out (up to VXTS_KS_MAX_ENTRIES entries); *entries says how many. */
static int vxts_ks_ext_seal(uint8_t (*out)[VXTS_KEYSLOT_SIZE], unsigned int *entries,
			    const struct vxts_kek *kek, const uint8_t *key, size_t key_len,
			    uint32_t key_id)
{
	struct vxts_ks_ext *x = calloc(1, sizeof(*x));
	size_t used;
	int r;

	if (!x)
		return -ENOMEM;
	r = vxts_ks_ext_wrap(x, kek, key, key_len);
	used = x->ref_len + x->blob_len + 32;
	if (!r && used > VXTS_KS_STREAM_MAX)
		r = -EMSGSIZE;
	for (x->entries = 1; !r && used > vxts_ks_stream_cap(x->entries); x->entries++)
		;
	if (!r) {
		memcpy(x->head + VXTS_KS_OFF_MAGIC, VXTS_KS_MAGIC, 4);
		vxts_ks_put16(x->head + VXTS_KS_OFF_VERSION, VXTS_KS_VERSION);
		vxts_ks_put16(x->head + VXTS_KS_OFF_TYPE, (uint16_t)kek->type);
		vxts_ks_put32(x->head + VXTS_KS_OFF_KEY_ID, key_id);
		vxts_ks_put32(x->head + VXTS_KS_OFF_KEY_LEN, (uint32_t)key_len);
		vxts_ks_put16(x->head + VXTS_KS_OFF_MECH, x->mech);
		x->head[VXTS_KS_OFF_ENTRIES] = (uint8_t)x->entries;
		vxts_ks_put16(x->head + VXTS_KS_OFF_REF_LEN, (uint16_t)x->ref_len);
		vxts_ks_put16(x->head + VXTS_KS_OFF_BLOB_LEN, (uint16_t)x->blob_len);
		x->key_len = (uint32_t)key_len;
		r = vxts_random(x->head + VXTS_KS_OFF_SALT, VXTS_KS_SALT);
	}
	if (!r)
		r = vxts_ks_ext_mac(x->stream + x->ref_len + x->blob_len, x, key);
	if (!r) {
		vxts_ks_ext_emit(out, x);
		*entries = x->entries;
	}
	free(x);
	return r;
}

static int vxts_ks_ext_open(const uint8_t (*t)[VXTS_KEYSLOT_SIZE], int n, int i,
			    const struct vxts_kek *kek, uint8_t *key, size_t *key_len,
			    uint32_t *key_id);

/*
 * A slot is only handed out once it opened: a token or helper that wraps
 * with a key it cannot unwrap (a public key without its private half, a
 * vault role without unwrapKey, a buggy helper) must not leave the volume
 * with a slot that looks fine and opens nothing. Costs one more unwrap.
 */
static int vxts_ks_ext_verify(const uint8_t (*out)[VXTS_KEYSLOT_SIZE], unsigned int entries,
			      const struct vxts_kek *kek, const uint8_t *key, size_t key_len)
{
	uint8_t *back = vxts_secure_alloc(VXTS_KS_MAX_KEY);
	size_t len = 0;
	int r = back ? 0 : -ENOMEM;

	if (!r)
		r = vxts_ks_ext_open(out, (int)entries, 0, kek, back, &len, NULL);
	if (!r && (len != key_len || !vxts_ct_equal(back, key, key_len)))
		r = -EPERM;
	if (r == -EPERM)
		r = vxts_err(-ECOMM, "the new %s slot does not open again (the %s cannot "
			     "unwrap what it wrapped: a missing private key, PIN or "
			     "unwrap permission?): not added",
			     kek->type == VXTS_KEK_PKCS11 ? "PKCS#11" : "KMS",
			     kek->type == VXTS_KEK_PKCS11 ? "token" : "helper");
	vxts_secure_free(back, VXTS_KS_MAX_KEY);
	return r;
}

static int vxts_ks_ext_unwrap(const struct vxts_ks_ext *x, const struct vxts_kek *kek,
			      uint8_t *key, size_t cap, size_t *len)
{
	const uint8_t *blob = x->stream + x->ref_len;

	if (x->type == VXTS_KEK_PKCS11)
		return vxts_p11_unwrap(kek, x->ref, x->mech, blob, x->blob_len, key, cap, len);
	return vxts_kms_unwrap(kek, x->ref, vxts_ks_mech_name(x->mech), blob, x->blob_len,
			       key, cap, len);
}

/*
 * Unwrap through the provider, then the MAC under the unwrapped key: a
 * provider that returns the wrong bytes (or a slot edited to point at
 * another key) gives -EPERM, and the caller's buffers stay untouched.
 */
static int vxts_ks_ext_open(const uint8_t (*t)[VXTS_KEYSLOT_SIZE], int n, int i,
			    const struct vxts_kek *kek, uint8_t *key, size_t *key_len,
			    uint32_t *key_id)
{
	struct vxts_ks_ext *x = calloc(1, sizeof(*x));
	uint8_t *tmp = vxts_secure_alloc(VXTS_KS_BLOB_MAX);
	uint8_t mac[32];
	size_t len = 0;
	int r = x && tmp ? 0 : -ENOMEM;

	if (!r)
		r = vxts_ks_ext_parse(t, n, i, x);
	if (!r && x->type != kek->type)
		r = -EPERM;
	if (!r)
		r = vxts_ks_ext_unwrap(x, kek, tmp, VXTS_KS_BLOB_MAX, &len);
	if (!r && len != x->key_len)
		r = -EPERM;
	if (!r)
		r = vxts_ks_ext_mac(mac, x, tmp);
	if (!r && !vxts_ct_equal(mac, x->stream + x->ref_len + x->blob_len, 32))
		r = -EPERM;
	if (!r) {
		memcpy(key, tmp, len);
		*key_len = len;
		if (key_id)
			*key_id = x->key_id;
	}
	vxts_secure_free(tmp, VXTS_KS_BLOB_MAX);
	free(x);
	return r;
}

/* ---- one entry, and the table ---------------------------------------------- */

/* What entry @s is: 1 local head, 2 external head, 3 continuation, -ENOENT, -EINVAL. */
static int vxts_ks_kind(const uint8_t *s)
{
	if (vxts_ks_is_zero(s, VXTS_KEYSLOT_SIZE))
		return -ENOENT;
	if (!memcmp(s, VXTS_KS_CONT_MAGIC, 4))
		return 3;
	if (memcmp(s, VXTS_KS_MAGIC, 4))
		return -EINVAL;
	return vxts_ks_external(vxts_ks_get16(s + VXTS_KS_OFF_TYPE)) ? 2 : 1;
}

static int vxts_ks_seal_at(uint8_t (*t)[VXTS_KEYSLOT_SIZE], int n, int slot,
			   const struct vxts_kek *kek, const struct vxts_argon2_params *p,
			   const uint8_t *key, size_t key_len, uint32_t key_id);

int vxts_keyslot_seal(uint8_t slot[VXTS_KEYSLOT_SIZE], const struct vxts_kek *kek,
		      const struct vxts_argon2_params *p,
		      const uint8_t *key, size_t key_len, uint32_t key_id)
{
	if (!slot || !vxts_ks_kek_valid(kek))
		return -EINVAL;
	if (!vxts_ks_external(kek->type))
		return vxts_ks_seal_local(slot, kek, p, key, key_len, key_id);
	/* One entry only: a table of one, whatever it held before. */
	return vxts_ks_seal_at((uint8_t (*)[VXTS_KEYSLOT_SIZE])slot, 1, -2, kek, p, key,
			       key_len, key_id);
}

int vxts_keyslot_open(const uint8_t slot[VXTS_KEYSLOT_SIZE], const struct vxts_kek *kek,
		      uint8_t *key, size_t *key_len, uint32_t *key_id)
{
	int kind;

	if (!slot || !vxts_ks_kek_valid(kek) || !key || !key_len)
		return -EINVAL;
	kind = vxts_ks_kind(slot);
	if (kind == 1)
		return vxts_ks_open_local(slot, kek, key, key_len, key_id);
	if (kind == 2)
		return vxts_ks_ext_open((const uint8_t (*)[VXTS_KEYSLOT_SIZE])slot, 1, 0, kek,
					key, key_len, key_id);
	return kind == -ENOENT ? -ENOENT : -EINVAL;
}

static int vxts_ks_info_at(const uint8_t (*t)[VXTS_KEYSLOT_SIZE], int n, int i,
			   struct vxts_keyslot_info *info);

/*
 * A continuation in a table is only what its head says it is: the head
 * @idx entries before must parse as a whole slot that spans this entry.
 * Otherwise it is an orphan (its head removed or damaged, or forged) and
 * damaged, so that `keyslot remove --slot N` may clear it.
 */
static int vxts_ks_cont_at(const uint8_t (*t)[VXTS_KEYSLOT_SIZE], int n, int i,
			   struct vxts_keyslot_info *info)
{
	struct vxts_keyslot_info hi;
	unsigned int e;
	int idx = vxts_ks_cont(t[i], &e);

	if (idx < 0)
		return idx;
	if (n > 1 && (i - idx < 0 || vxts_ks_kind(t[i - idx]) != 2 ||
		      vxts_ks_info_at(t, n, i - idx, &hi) || hi.entries != e))
		return -EINVAL;
	*info = (struct vxts_keyslot_info){ .in_use = true, .type = VXTS_KEK_CONT,
					    .key_id = UINT32_MAX, .entries = e,
					    .head = i - idx };
	return 0;
}

static int vxts_ks_info_at(const uint8_t (*t)[VXTS_KEYSLOT_SIZE], int n, int i,
			   struct vxts_keyslot_info *info)
{
	struct vxts_ks_ext *x;
	int kind = vxts_ks_kind(t[i]), r;

	memset(info, 0, sizeof(*info));
	info->head = i;
	info->key_id = UINT32_MAX;
	if (kind == -ENOENT) {
		info->key_id = 0;
		return 0;
	}
	/* not empty: damaged until it parses (then the fields say what it is) */
	info->damaged = true;
	if (kind == 1)
		r = vxts_ks_info_local(t[i], info);
	else if (kind == 3)
		r = vxts_ks_cont_at(t, n, i, info);
	else
		r = kind;
	if (kind != 2) {
		info->damaged = r != 0;
		if (r) {
			info->in_use = false;
			info->key_id = UINT32_MAX;
		}
		return r;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	/* A single entry is judged by its head; a table by the whole slot. */
	r = n == 1 ? vxts_ks_ext_head(t[i], x) : vxts_ks_ext_parse(t, n, i, x);
	if (!r) {
		info->damaged = false;
		info->in_use = true;
		info->type = (enum vxts_kek_type)x->type;
		info->key_id = x->key_id;
		info->entries = x->entries;
		info->mech = x->mech;
		memcpy(info->ref, x->ref, sizeof(info->ref));
	}
	free(x);
	return r;
}

int vxts_keyslot_info(const uint8_t slot[VXTS_KEYSLOT_SIZE], struct vxts_keyslot_info *info)
{
	if (!slot || !info)
		return -EINVAL;
	return vxts_ks_info_at((const uint8_t (*)[VXTS_KEYSLOT_SIZE])slot, 1, 0, info);
}

int vxts_keyslot_table_info(const vxts_slot_table t, int slot,
			    struct vxts_keyslot_info *info)
{
	if (!t || !info || slot < 0 || slot >= VXTS_KEYSLOTS)
		return -EINVAL;
	return vxts_ks_info_at(t, VXTS_KEYSLOTS, slot, info);
}

/* Entries [i, i + n) all empty? */
static bool vxts_ks_free_run(const uint8_t (*t)[VXTS_KEYSLOT_SIZE], int n, int i,
			     unsigned int want)
{
	if (i < 0 || i + (int)want > n)
		return false;
	for (unsigned int k = 0; k < want; k++)
		if (!vxts_ks_is_zero(t[i + k], VXTS_KEYSLOT_SIZE))
			return false;
	return true;
}

/*
 * Seals into a scratch table first, then copies it into place: the table
 * changes only when everything (including the token or helper) succeeded.
 * @slot -2: write at 0 whatever is there (the single-entry API).
 */
static int vxts_ks_seal_at(uint8_t (*t)[VXTS_KEYSLOT_SIZE], int n, int slot,
			   const struct vxts_kek *kek, const struct vxts_argon2_params *p,
			   const uint8_t *key, size_t key_len, uint32_t key_id)
{
	uint8_t out[VXTS_KS_MAX_ENTRIES][VXTS_KEYSLOT_SIZE];
	unsigned int entries = 1;
	int r, at = slot;

	if (!key || !key_len || key_len > VXTS_KS_MAX_KEY)
		return -EINVAL;
	if (vxts_ks_external(kek->type)) {
		r = vxts_ks_ext_seal(out, &entries, kek, key, key_len, key_id);
		if (!r)
			r = vxts_ks_ext_verify((const uint8_t (*)[VXTS_KEYSLOT_SIZE])out, entries,
					       kek, key, key_len);
	} else
		r = vxts_ks_seal_local(out[0], kek, p, key, key_len, key_id);
	if (r)
		return r;
	if (slot == -2) {
		at = 0;
		if ((int)entries > n)
			r = -ENOSPC;
	} else if (slot == -1) {
		for (at = 0; at < n && !vxts_ks_free_run(t, n, at, entries); at++)
			;
		if (at == n)
			r = -ENOSPC;
	} else if (!vxts_ks_free_run(t, n, slot, entries)) {
		r = slot + (int)entries > n ? -ENOSPC : -EEXIST;
	}
	if (!r)
		memcpy(t[at], out, entries * VXTS_KEYSLOT_SIZE);
	vxts_wipe(out, sizeof(out));
	return r ? r : at;
}

int vxts_keyslot_table_seal(vxts_slot_table t, int slot, const struct vxts_kek *kek,
			    const struct vxts_argon2_params *p, const uint8_t *key,
			    size_t key_len, uint32_t key_id)
{
	if (!t || !vxts_ks_kek_valid(kek) || slot < -1 || slot >= VXTS_KEYSLOTS)
		return -EINVAL;
	return vxts_ks_seal_at(t, VXTS_KEYSLOTS, slot, kek, p, key, key_len, key_id);
}

int vxts_keyslot_table_open(const vxts_slot_table t, int slot, const struct vxts_kek *kek,
			    uint8_t *key, size_t *key_len, uint32_t *key_id)
{
	int kind;

	if (!t || slot < 0 || slot >= VXTS_KEYSLOTS || !vxts_ks_kek_valid(kek) || !key ||
	    !key_len)
		return -EINVAL;
	kind = vxts_ks_kind(t[slot]);
	if (kind == 1)
		return vxts_ks_open_local(t[slot], kek, key, key_len, key_id);
	if (kind == 2)
		return vxts_ks_ext_open(t, VXTS_KEYSLOTS, slot, kek, key, key_len, key_id);
	return kind == -ENOENT ? -ENOENT : -EINVAL;
}

int vxts_keyslot_table_clear(vxts_slot_table t, int slot)
{
	struct vxts_keyslot_info ki;
	unsigned int n = 1;

	if (!t || slot < 0 || slot >= VXTS_KEYSLOTS)
		return -EINVAL;
	if (!vxts_keyslot_table_info(t, slot, &ki)) {
		if (ki.type == VXTS_KEK_CONT)
			return -EINVAL;
		n = ki.in_use ? ki.entries : 1;
	}
	/* A damaged head clears only itself: its span cannot be trusted. */
	for (unsigned int k = 0; k < n && slot + (int)k < VXTS_KEYSLOTS; k++)
		vxts_keyslot_clear(t[slot + k]);
	return 0;
}

int vxts_key_check_value(const uint8_t *key, size_t key_len, const uint8_t *uuid,
			 size_t uuid_len, uint8_t out[VXTS_KEY_CHECK_BYTES])
{
	return vxts_hkdf_sha256(out, VXTS_KEY_CHECK_BYTES, key, key_len, uuid, uuid_len,
				"vxts key check v1");
}

bool vxts_keyslot_provider_error(int r)
{
	return r == -ETIMEDOUT || r == -EPROTO || r == -ECOMM || r == -EKEYREJECTED;
}
