// SPDX-License-Identifier: GPL-2.0
/*
 * keyslot: one volume key wrapped by one KEK in a 256-byte slot.
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
#include <string.h>

#include <argon2.h>
#include <openssl/evp.h>

#include "kdf.h"
#include "keyslot.h"
#include "secmem.h"

#define VXTS_KS_MAGIC		"VXKS"
#define VXTS_KS_VERSION		1
#define VXTS_KS_SALT		32
#define VXTS_KS_MAX_KEY		64
#define VXTS_KS_MAX_WRAPPED	72	/* 64 bytes + the 8-byte RFC 5649 block */
#define VXTS_KS_KEYFILE_INFO	"vxts keyfile kek v1"

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

/* Limits on stored Argon2 costs: a forged slot must not make us eat RAM. */
#define VXTS_KS_T_MAX		64
#define VXTS_KS_M_MAX_KIB	(4u << 20)	/* 4 GiB */
#define VXTS_KS_P_MAX		16

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

static bool vxts_ks_kek_valid(const struct vxts_kek *kek)
{
	return kek && kek->secret && kek->len &&
	       (kek->type == VXTS_KEK_KEYFILE || kek->type == VXTS_KEK_PASSPHRASE);
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
	if (f->type == VXTS_KEK_KEYFILE)
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

int vxts_keyslot_seal(uint8_t slot[VXTS_KEYSLOT_SIZE], const struct vxts_kek *kek,
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

int vxts_keyslot_open(const uint8_t slot[VXTS_KEYSLOT_SIZE], const struct vxts_kek *kek,
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

int vxts_keyslot_info(const uint8_t slot[VXTS_KEYSLOT_SIZE], struct vxts_keyslot_info *info)
{
	struct vxts_ks_fields f;
	int r;

	if (!slot || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	r = vxts_ks_parse(slot, &f);
	if (r == -ENOENT)
		return 0;
	if (r)
		return r;
	info->in_use = true;
	info->type = (enum vxts_kek_type)f.type;
	info->key_id = f.key_id;
	info->argon2 = f.argon2;
	return 0;
}

void vxts_keyslot_clear(uint8_t slot[VXTS_KEYSLOT_SIZE])
{
	vxts_wipe(slot, VXTS_KEYSLOT_SIZE);
}
