/* SPDX-License-Identifier: GPL-2.0 */
/* kdf: small OpenSSL wrappers (randomness, hashes, MAC, HKDF). */
#ifndef VXTS_KDF_H
#define VXTS_KDF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fills @buf from OpenSSL's private DRBG (RAND_priv_bytes). 0 or -EIO. */
int vxts_random(void *buf, size_t len);

/* 0 or -EIO / -ENOMEM. */
int vxts_sha256(uint8_t out[32], const void *data, size_t len);
int vxts_hmac_sha256(uint8_t out[32], const void *key, size_t key_len,
		     const void *data, size_t len);

/* RFC 5869 HKDF-SHA256 (extract and expand); @info is a NUL-terminated label. */
int vxts_hkdf_sha256(uint8_t *out, size_t out_len, const void *ikm, size_t ikm_len,
		     const void *salt, size_t salt_len, const char *info);

/* Compares in time independent of the contents (CRYPTO_memcmp). */
bool vxts_ct_equal(const void *a, const void *b, size_t len);

#endif
