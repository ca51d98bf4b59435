// SPDX-License-Identifier: GPL-2.0
/*
 * cipher: AES-256-XTS over data units with dm-crypt's plain64 tweak.
 *
 * dm-crypt "aes-xts-plain64" encrypts each data unit (sector_size bytes) as
 * one XTS message whose 16-byte IV is the little-endian 64-bit sector number
 * followed by eight zero bytes. The sector number is the 512-byte sector
 * relative to the start of the target plus iv_offset; with iv_large_sectors
 * it is divided by unit_size / 512 first. docs/KEYS.md has a worked example.
 *
 * Speed matters here: this is the engine's inner loop. Each object owns two
 * EVP_CIPHER_CTX (encrypt and decrypt key schedules differ) keyed once at
 * creation; per unit we only load a new IV, which allocates nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cipher.h"

struct vxts_cipher {
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	uint32_t unit_size;
	uint32_t unit_shift;	/* log2(unit_size / 512) */
	uint64_t iv_offset;
	bool iv_large_sectors;
};

/* plain64: the 64-bit tweak in little-endian, upper 8 bytes zero. */
static void vxts_cipher_plain64(uint8_t iv[16], uint64_t n)
{
	for (int i = 0; i < 8; i++)
		iv[i] = (uint8_t)(n >> (8 * i));
	memset(iv + 8, 0, 8);
}

static uint64_t vxts_cipher_tweak(const struct vxts_cipher *c, uint64_t sector)
{
	uint64_t n = sector + c->iv_offset;

	return c->iv_large_sectors ? n >> c->unit_shift : n;
}

static EVP_CIPHER_CTX *vxts_cipher_ctx(const uint8_t *key, int enc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (!ctx)
		return NULL;
	if (EVP_CipherInit_ex2(ctx, EVP_aes_256_xts(), key, NULL, enc, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void vxts_cipher_free(struct vxts_cipher *c)
{
	if (!c)
		return;
	/* EVP_CIPHER_CTX_free cleanses the key schedule before freeing. */
	EVP_CIPHER_CTX_free(c->enc);
	EVP_CIPHER_CTX_free(c->dec);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

int vxts_cipher_new(struct vxts_cipher **out, const uint8_t key[VXTS_KEY_SIZE],
		    uint32_t unit_size, uint64_t iv_offset, bool iv_large_sectors)
{
	struct vxts_cipher *c;

	*out = NULL;
	if (unit_size != 512 && unit_size != 4096)
		return -EINVAL;
	/* dm-crypt rejects an iv_offset that is not a whole data unit, too. */
	if (iv_offset & ((unit_size >> 9) - 1))
		return -EINVAL;
	/*
	 * XTS with key1 == key2 is weak and OpenSSL refuses to encrypt with
	 * it (XTS_DUPLICATED_KEYS). Check here so both directions fail the
	 * same way; a random DEK never hits this.
	 */
	if (!CRYPTO_memcmp(key, key + VXTS_KEY_SIZE / 2, VXTS_KEY_SIZE / 2))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->unit_size = unit_size;
	c->unit_shift = unit_size == 4096 ? 3 : 0;
	c->iv_offset = iv_offset;
	c->iv_large_sectors = iv_large_sectors;
	c->enc = vxts_cipher_ctx(key, 1);
	c->dec = vxts_cipher_ctx(key, 0);
	if (!c->enc || !c->dec) {
		vxts_cipher_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static int vxts_cipher_check(const struct vxts_cipher *c, const uint8_t *dst,
			     const uint8_t *src, size_t len, uint64_t sector)
{
	if (!c || (!dst && len) || (!src && len))
		return -EINVAL;
	/* dm-crypt only ever starts a data unit on a unit boundary. */
	if (len % c->unit_size || sector & ((c->unit_size >> 9) - 1))
		return -EINVAL;
	return 0;
}

/* One XTS message per data unit; the IV reload reuses the key schedule. */
static int vxts_cipher_run(struct vxts_cipher *c, EVP_CIPHER_CTX *ctx, int enc,
			   uint8_t *dst, const uint8_t *src, size_t len, uint64_t sector)
{
	uint64_t step = c->unit_size >> 9;
	uint8_t iv[16];
	int outl;
	int r;

	r = vxts_cipher_check(c, dst, src, len, sector);
	if (r)
		return r;
	for (size_t off = 0; off < len; off += c->unit_size, sector += step) {
		vxts_cipher_plain64(iv, vxts_cipher_tweak(c, sector));
		if (EVP_CipherInit_ex2(ctx, NULL, NULL, iv, enc, NULL) != 1 ||
		    EVP_CipherUpdate(ctx, dst + off, &outl, src + off,
				     (int)c->unit_size) != 1 ||
		    outl != (int)c->unit_size)
			return -EIO;
	}
	return 0;
}

int vxts_cipher_encrypt(struct vxts_cipher *c, uint8_t *dst, const uint8_t *src,
			size_t len, uint64_t sector)
{
	return vxts_cipher_run(c, c ? c->enc : NULL, 1, dst, src, len, sector);
}

int vxts_cipher_decrypt(struct vxts_cipher *c, uint8_t *dst, const uint8_t *src,
			size_t len, uint64_t sector)
{
	return vxts_cipher_run(c, c ? c->dec : NULL, 0, dst, src, len, sector);
}
