/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rectag: the per-unit tags of resilience records.
 *
 * Recovery must tell, for each data unit of an interrupted window, whether it
 * holds the old content, the converted content or neither. A tag of the old
 * content does that; it is keyed so that nobody without the DEK can make
 * other content carry a valid tag. A tag is AES-256-GMAC (GCM with the unit
 * as AAD and no plaintext) under
 *   K_rec = HKDF-SHA256(DEK, mac_salt, "vxts record gmac v1")
 * with IV = record nonce (8 random bytes, one per record, kept in the
 * authenticated header) || le32(unit index in the window), so an IV is
 * never used for two different contents. GMAC runs ~4x faster than SHA-256
 * here (PCLMUL), and the tags are what the whole window is hashed for.
 */
#ifndef VXTS_RECTAG_H
#define VXTS_RECTAG_H

#include <stddef.h>
#include <stdint.h>

#define VXTS_RECTAG_SIZE 16
#define VXTS_RECTAG_NONCE 8

struct vxts_rectag;		/* one per thread */

/* K_rec from the current DEK and the header's mac_salt. */
int vxts_rectag_key(uint8_t key[32], const uint8_t dek[64], const uint8_t salt[32]);
int vxts_rectag_new(struct vxts_rectag **out, const uint8_t key[32]);
int vxts_rectag_unit(struct vxts_rectag *t, uint8_t tag[VXTS_RECTAG_SIZE],
		     const uint8_t nonce[VXTS_RECTAG_NONCE], uint32_t index,
		     const uint8_t *data, size_t len);
void vxts_rectag_free(struct vxts_rectag *t);

#endif
