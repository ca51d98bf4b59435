// SPDX-License-Identifier: GPL-2.0
/*
 * rectag: AES-256-GMAC tags of old data units (see rectag.h), over OpenSSL's
 * GCM with the key schedule set once per thread and only the IV per unit.
 *
 * Fast path (CPUs with VPCLMULQDQ): the same GMAC, computed as
 * GHASH_H(unit || lengths) ^ E_K(J0) with H = E_K(0) and J0 = IV || 1, the
 * GHASH by ghash.c and the one AES block by OpenSSL (AES-256-ECB); the tags
 * are byte-identical (test_rectag checks them against OpenSSL's GCM).
 */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "ghash.h"
#include "kdf.h"
#include "rectag.h"

struct vxts_rectag {
	EVP_CIPHER_CTX *ctx;
	EVP_CIPHER_CTX *ecb;		/* fast path: E_K(J0) */
	struct vxts_ghash_key *gk;	/* fast path: powers of H; NULL = OpenSSL GCM */
};

int vxts_rectag_key(uint8_t key[32], const uint8_t dek[64], const uint8_t salt[32])
{
	return vxts_hkdf_sha256(key, 32, dek, 64, salt, 32, "vxts record gmac v1");
}

void vxts_rectag_free(struct vxts_rectag *t)
{
	if (!t)
		return;
	EVP_CIPHER_CTX_free(t->ctx);	/* cleanses the key schedule */
	EVP_CIPHER_CTX_free(t->ecb);
	if (t->gk)
		OPENSSL_cleanse(t->gk, sizeof(*t->gk));
	free(t->gk);
	free(t);
}

/* H = E_K(0^128) and its powers, and an ECB context for E_K(J0). */
static int rectag_fast_init(struct vxts_rectag *t, const uint8_t key[32])
{
	static const uint8_t zero[16];
	uint8_t h[16];
	int n, r = -ENOMEM;

	t->ecb = EVP_CIPHER_CTX_new();
	t->gk = aligned_alloc(64, sizeof(*t->gk));
	if (t->ecb && t->gk && EVP_EncryptInit_ex(t->ecb, EVP_aes_256_ecb(), NULL, key, NULL) == 1 &&
	    EVP_CIPHER_CTX_set_padding(t->ecb, 0) == 1 &&
	    EVP_EncryptUpdate(t->ecb, h, &n, zero, 16) == 1 && n == 16) {
		vxts_ghash_init(t->gk, h);
		r = 0;
	}
	OPENSSL_cleanse(h, sizeof(h));
	return r;
}

int vxts_rectag_new(struct vxts_rectag **out, const uint8_t key[32])
{
	struct vxts_rectag *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->ctx = EVP_CIPHER_CTX_new();
	if (!t->ctx || EVP_EncryptInit_ex(t->ctx, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
		vxts_rectag_free(t);
		return -ENOMEM;
	}
	if (vxts_ghash_available() && rectag_fast_init(t, key)) {
		vxts_rectag_free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

bool vxts_rectag_fast(const struct vxts_rectag *t)
{
	return t && t->gk;
}

static int rectag_fast_unit(struct vxts_rectag *t, uint8_t tag[VXTS_RECTAG_SIZE],
			    const uint8_t iv[12], const uint8_t *data, size_t len)
{
	uint8_t j0[16], ek[16];
	int n;

	memcpy(j0, iv, 12);
	memcpy(j0 + 12, "\0\0\0\1", 4);
	if (EVP_EncryptUpdate(t->ecb, ek, &n, j0, 16) != 1 || n != 16)
		return -EIO;
	vxts_ghash_aad(t->gk, tag, data, len);
	for (int i = 0; i < VXTS_RECTAG_SIZE; i++)
		tag[i] ^= ek[i];
	OPENSSL_cleanse(ek, sizeof(ek));
	return 0;
}

int vxts_rectag_unit(struct vxts_rectag *t, uint8_t tag[VXTS_RECTAG_SIZE],
		     const uint8_t nonce[VXTS_RECTAG_NONCE], uint32_t index,
		     const uint8_t *data, size_t len)
{
	uint8_t iv[12], none[16];
	int n;

	if (len > INT_MAX)
		return -EINVAL;
	memcpy(iv, nonce, VXTS_RECTAG_NONCE);
	for (int i = 0; i < 4; i++)
		iv[8 + i] = (uint8_t)(index >> (8 * i));
	if (t->gk && len && len % VXTS_GHASH_STEP == 0)
		return rectag_fast_unit(t, tag, iv, data, len);
	if (EVP_EncryptInit_ex(t->ctx, NULL, NULL, NULL, iv) != 1 ||
	    EVP_EncryptUpdate(t->ctx, NULL, &n, data, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(t->ctx, none, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(t->ctx, EVP_CTRL_GCM_GET_TAG, VXTS_RECTAG_SIZE, tag) != 1)
		return -EIO;
	return 0;
}
