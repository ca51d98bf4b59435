/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cipher: AES-256-XTS over data units, byte-identical to dm-crypt
 * "aes-xts-plain64" (see docs/KEYS.md for the tweak definition).
 */
#ifndef VXTS_CIPHER_H
#define VXTS_CIPHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXTS_KEY_SIZE 64	/* AES-256-XTS: two 256-bit keys */

/* One per thread: wraps one EVP_CIPHER_CTX that is reused for every unit. */
struct vxts_cipher;

/*
 * @unit_size: 512 or 4096 (the dm-crypt sector_size).
 * @iv_offset: added to every sector number, in 512-byte sectors; a multiple
 *	of unit_size / 512, as dm-crypt requires.
 * @iv_large_sectors: the tweak counts data units instead of 512-byte sectors.
 * Returns 0, -EINVAL (bad unit size or iv_offset, or the two key halves are
 * equal, which OpenSSL refuses for XTS), -ENOMEM.
 */
int vxts_cipher_new(struct vxts_cipher **out, const uint8_t key[VXTS_KEY_SIZE],
		    uint32_t unit_size, uint64_t iv_offset, bool iv_large_sectors);

/*
 * @len: a multiple of unit_size; @sector: 512-byte sector number of the first
 * unit relative to the start of the data area (a multiple of unit_size / 512).
 * The tweak of each unit is plain64(sector + iv_offset), or
 * plain64((sector + iv_offset) >> log2(unit_size / 512)) with
 * iv_large_sectors. @dst == @src is allowed (in place).
 * Returns 0 or -EINVAL / -EIO.
 */
int vxts_cipher_encrypt(struct vxts_cipher *c, uint8_t *dst, const uint8_t *src,
			size_t len, uint64_t sector);
int vxts_cipher_decrypt(struct vxts_cipher *c, uint8_t *dst, const uint8_t *src,
			size_t len, uint64_t sector);

/* Wipes the key schedule and frees; NULL is ok. */
void vxts_cipher_free(struct vxts_cipher *c);

#endif
