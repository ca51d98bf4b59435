/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xts: AES-256-XTS of one data unit with VAES on 512-bit vectors (16 blocks
 * per step), for cipher.c. OpenSSL 3.0's XTS runs AES-NI on 128-bit vectors;
 * this is the engine's inner loop. Output is byte-identical (IEEE 1619,
 * dm-crypt captures and random cases against OpenSSL in test_cipher).
 */
#ifndef VXTS_XTS_H
#define VXTS_XTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXTS_XTS_BLOCKS 64	/* unit lengths must be multiples of this (bytes) */

/* Round keys: data key (encrypt and decrypt schedules) and tweak key. */
struct vxts_xts_key {
	uint8_t ek[15][16] __attribute__((aligned(64)));
	uint8_t dk[15][16];
	uint8_t tk[15][16];
};

/* True when this CPU has AVX-512F/BW, VAES, VPCLMULQDQ and AES-NI. */
bool vxts_xts_available(void);

/* @key: 64 bytes, data key then tweak key (as OpenSSL and dm-crypt). */
void vxts_xts_init(struct vxts_xts_key *k, const uint8_t key[64]);

/* One unit of @len bytes (a multiple of VXTS_XTS_BLOCKS), @iv its tweak block. */
void vxts_xts_encrypt(const struct vxts_xts_key *k, uint8_t *dst, const uint8_t *src,
		      size_t len, const uint8_t iv[16]);
void vxts_xts_decrypt(const struct vxts_xts_key *k, uint8_t *dst, const uint8_t *src,
		      size_t len, const uint8_t iv[16]);

#endif
