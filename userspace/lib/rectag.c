// SPDX-License-Identifier: GPL-2.0
/*
 * rectag: AES-256-GMAC tags of old data units (see rectag.h), over OpenSSL's
 * GCM with the key schedule set once per thread and only the IV per unit.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "kdf.h"
#include "rectag.h"

struct vxts_rectag {
	EVP_CIPHER_CTX *ctx;
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
	free(t);
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
	*out = t;
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
	if (EVP_EncryptInit_ex(t->ctx, NULL, NULL, NULL, iv) != 1 ||
	    EVP_EncryptUpdate(t->ctx, NULL, &n, data, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(t->ctx, none, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(t->ctx, EVP_CTRL_GCM_GET_TAG, VXTS_RECTAG_SIZE, tag) != 1)
		return -EIO;
	return 0;
}
