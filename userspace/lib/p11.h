/* SPDX-License-Identifier: GPL-2.0 */
/*
 * p11: keyslots whose KEK never leaves a PKCS#11 token (an HSM, SoftHSM2).
 *
 * The key object is named by an RFC 7512 URI ("pkcs11:token=...;object=...").
 * A secret (AES) key wraps the DEK with CKM_AES_KEY_WRAP_PAD (RFC 5649);
 * an RSA key pair wraps it with RSA-OAEP (SHA-256, or SHA-1 where the token
 * offers nothing else): encrypt with the public key, decrypt inside the
 * token with the private key. The module is the one the caller names, or
 * else each module p11-kit has registered (p11-kit list-modules).
 */
#ifndef VXTS_P11_H
#define VXTS_P11_H

#include <stddef.h>
#include <stdint.h>

#include "keyslot.h"

/*
 * Wraps @key under the object kek->uri; logs in with kek->secret (the PIN)
 * when given. Returns in @ref the URI to store (token + object; no module,
 * no PIN, no object class) and in @mech the mechanism used.
 * 0, -EINVAL (bad URI, or one carrying a PIN), -ENAMETOOLONG, -EKEYREJECTED
 * (PIN incorrect or locked), -ECOMM (module, token or object not found, or
 * the token failed), -ENOMEM.
 */
int vxts_p11_wrap(const struct vxts_kek *kek, const uint8_t *key, size_t key_len,
		  unsigned int *mech, uint8_t *blob, size_t cap, size_t *blob_len,
		  char *ref, size_t ref_cap);

/* Unwraps @blob with the object @ref (from the slot). Besides the above: -EPERM
 * when the token rejects the blob (not wrapped under this key). */
int vxts_p11_unwrap(const struct vxts_kek *kek, const char *ref, unsigned int mech,
		    const uint8_t *blob, size_t blob_len, uint8_t *key, size_t cap,
		    size_t *key_len);

#endif
