/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ghash: GHASH (the hash of AES-GCM, NIST SP 800-38D) over 256-byte multiples
 * with VPCLMULQDQ on 512-bit vectors: 16 blocks per step, one reduction per
 * step. It exists for rectag.c: OpenSSL 3.0 hashes GCM's additional data
 * with 128-bit PCLMULQDQ only, and a GMAC of every old unit cost as much CPU
 * as the XTS conversion of it.
 *
 * The result is byte-identical to what OpenSSL computes for the same H
 * (test_rectag compares GMAC tags with OpenSSL's on random input).
 */
#ifndef VXTS_GHASH_H
#define VXTS_GHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXTS_GHASH_STEP 256	/* bytes per step; vxts_ghash() wants multiples */

/* H^16 .. H^1 in the multiplier form of ghash.c, four to a 512-bit vector. */
struct vxts_ghash_key {
	uint8_t pow[4][64] __attribute__((aligned(64)));
};

/* True when this CPU has AVX-512BW and VPCLMULQDQ. */
bool vxts_ghash_available(void);

/* @h: the GCM hash key E_K(0^128), as bytes. Only when available. */
void vxts_ghash_init(struct vxts_ghash_key *k, const uint8_t h[16]);

/*
 * GHASH_H(A || [len(A)]_64 || [0]_64): GCM with @a as additional data and no
 * ciphertext, before the final XOR with E_K(J0). @len: a multiple of
 * VXTS_GHASH_STEP.
 */
void vxts_ghash_aad(const struct vxts_ghash_key *k, uint8_t out[16], const uint8_t *a,
		    size_t len);

#endif
