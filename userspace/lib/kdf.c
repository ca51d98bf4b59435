// SPDX-License-Identifier: GPL-2.0
/*
 * kdf: thin OpenSSL 3 wrappers so the rest of the library never touches
 * OpenSSL's return conventions (1 = success) or its parameter arrays.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "kdf.h"

int vxts_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	/* RAND_priv_bytes takes an int: feed it in chunks. */
	while (len) {
		int n = len > INT_MAX ? INT_MAX : (int)len;

		if (RAND_priv_bytes(p, n) != 1)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The engine hashes every data unit in checksum mode, so fetch SHA-256 from
 * the provider once: an implicit fetch per call costs ~400 ns, a tenth of
 * hashing a 4 KiB unit.
 */
static EVP_MD *vxts_kdf_sha256_md;
static pthread_once_t vxts_kdf_sha256_once = PTHREAD_ONCE_INIT;

static void vxts_kdf_fetch_sha256(void)
{
	vxts_kdf_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int vxts_sha256(uint8_t out[32], const void *data, size_t len)
{
	unsigned int outl = 0;

	pthread_once(&vxts_kdf_sha256_once, vxts_kdf_fetch_sha256);
	if (!vxts_kdf_sha256_md)
		return -ENOMEM;
	if (EVP_Digest(data, len, out, &outl, vxts_kdf_sha256_md, NULL) != 1 || outl != 32)
		return -EIO;
	return 0;
}

int vxts_hmac_sha256(uint8_t out[32], const void *key, size_t key_len,
		     const void *data, size_t len)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	size_t outl = 0;
	int r = -EIO;

	if (!ctx) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_MAC_init(ctx, key, key_len, params) == 1 &&
	    EVP_MAC_update(ctx, data, len) == 1 &&
	    EVP_MAC_final(ctx, out, &outl, 32) == 1 && outl == 32)
		r = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return r;
}

int vxts_hkdf_sha256(uint8_t *out, size_t out_len, const void *ikm, size_t ikm_len,
		     const void *salt, size_t salt_len, const char *info)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5], *p = params;
	int r = -EIO;

	if (!ctx) {
		r = -ENOMEM;
		goto out;
	}
	/* The casts only drop const: OSSL_PARAM never writes input buffers. */
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	if (salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
							 (void *)salt, salt_len);
	if (info)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
							 (void *)info, strlen(info));
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_len, params) == 1)
		r = 0;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return r;
}

bool vxts_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
