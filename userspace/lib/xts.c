// SPDX-License-Identifier: GPL-2.0
/*
 * xts: AES-256-XTS with VAES (see xts.h).
 *
 * XTS (IEEE 1619): T_0 = E_K2(iv), block j: C_j = E_K1(P_j ^ T_j) ^ T_j,
 * T_j+1 = T_j * x in GF(2^128) with the block read as a little-endian
 * integer: shift left by one, and if bit 127 fell out, XOR 0x87 into the low
 * byte. Multiplying by x^n (n < 57) is a shift by n plus the n bits that fell
 * out, carry-less multiplied by 0x87, XORed into the low end.
 *
 * A 512-bit vector holds four consecutive blocks and their four tweaks
 * (T_j .. T_j+3); a step works on four vectors (16 blocks), so the tweak
 * vectors advance by x^4 from one vector to the next and by x^16 per step.
 * Units are whole multiples of 64 bytes here (dm-crypt units are 512 or
 * 4096), so there is no ciphertext stealing.
 */
#include <immintrin.h>
#include <string.h>

#include "xts.h"

#define XT_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,vaes,vpclmulqdq,aes,pclmul")))

bool vxts_xts_available(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("vaes") &&
	       __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("aes") &&
	       __builtin_cpu_supports("pclmul");
}

/* ---- AES-256 key schedule (FIPS 197 key expansion via AESKEYGENASSIST) ---- */

XT_TARGET static __m128i xk_spread(__m128i a)
{
	a = _mm_xor_si128(a, _mm_slli_si128(a, 4));
	a = _mm_xor_si128(a, _mm_slli_si128(a, 4));
	return _mm_xor_si128(a, _mm_slli_si128(a, 4));
}

/* Even round key: previous even key, RotWord/SubWord/Rcon of the odd one. */
XT_TARGET static __m128i xk_even(__m128i prev, __m128i assist)
{
	return _mm_xor_si128(xk_spread(prev), _mm_shuffle_epi32(assist, 0xff));
}

/* Odd round key: previous odd key, SubWord (no rotation, no Rcon) of the even one. */
XT_TARGET static __m128i xk_odd(__m128i prev, __m128i even)
{
	return _mm_xor_si128(xk_spread(prev),
			     _mm_shuffle_epi32(_mm_aeskeygenassist_si128(even, 0x00), 0xaa));
}

#define XK_PAIR(rk, i, rcon)                                                         \
	do {                                                                         \
		rk[i] = xk_even(rk[i - 2], _mm_aeskeygenassist_si128(rk[i - 1], rcon)); \
		if (i + 1 < 15)                                                      \
			rk[i + 1] = xk_odd(rk[i - 1], rk[i]);                        \
	} while (0)

XT_TARGET static void xk_expand(__m128i rk[15], const uint8_t key[32])
{
	rk[0] = _mm_loadu_si128((const __m128i *)key);
	rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
	XK_PAIR(rk, 2, 0x01);
	XK_PAIR(rk, 4, 0x02);
	XK_PAIR(rk, 6, 0x04);
	XK_PAIR(rk, 8, 0x08);
	XK_PAIR(rk, 10, 0x10);
	XK_PAIR(rk, 12, 0x20);
	XK_PAIR(rk, 14, 0x40);
}

XT_TARGET void vxts_xts_init(struct vxts_xts_key *k, const uint8_t key[64])
{
	__m128i rk[15];

	xk_expand(rk, key);
	for (int i = 0; i < 15; i++)
		_mm_storeu_si128((__m128i *)k->ek[i], rk[i]);
	/* Equivalent inverse cipher: reversed keys, InvMixColumns on the inner ones. */
	_mm_storeu_si128((__m128i *)k->dk[0], rk[14]);
	for (int i = 1; i < 14; i++)
		_mm_storeu_si128((__m128i *)k->dk[i], _mm_aesimc_si128(rk[14 - i]));
	_mm_storeu_si128((__m128i *)k->dk[14], rk[0]);
	xk_expand(rk, key + 32);
	for (int i = 0; i < 15; i++)
		_mm_storeu_si128((__m128i *)k->tk[i], rk[i]);
	memset(rk, 0, sizeof(rk));
	__asm__ __volatile__("" : : "r"(rk) : "memory");
}

/* ---- tweaks ------------------------------------------------------------------ */

/* T * x for one block (little-endian 128-bit integer). */
static void xt_mul_x(uint64_t t[2])
{
	uint64_t carry = t[1] >> 63;

	t[1] = t[1] << 1 | t[0] >> 63;
	t[0] = t[0] << 1 ^ (carry ? 0x87 : 0);
}

/* Every 128-bit lane times x^n (n = 4 or 16). */
XT_TARGET static __m512i xt_mul_xn(__m512i t, int n)
{
	const __m512i poly = _mm512_set1_epi64(0x87);
	__m512i out = _mm512_srli_epi64(t, 64 - n);	/* bits pushed out of each qword */
	__m512i sh = _mm512_xor_si512(_mm512_slli_epi64(t, n), _mm512_bslli_epi128(out, 8));

	return _mm512_xor_si512(sh, _mm512_clmulepi64_epi128(_mm512_bsrli_epi128(out, 8),
							      poly, 0x00));
}

/* T_0 .. T_3 of a unit in one vector. */
XT_TARGET static __m512i xt_first(const struct vxts_xts_key *k, const uint8_t iv[16])
{
	__m128i t = _mm_xor_si128(_mm_loadu_si128((const __m128i *)iv),
				  _mm_loadu_si128((const __m128i *)k->tk[0]));
	uint64_t w[8];

	for (int i = 1; i < 14; i++)
		t = _mm_aesenc_si128(t, _mm_loadu_si128((const __m128i *)k->tk[i]));
	t = _mm_aesenclast_si128(t, _mm_loadu_si128((const __m128i *)k->tk[14]));
	_mm_storeu_si128((__m128i *)w, t);
	for (int l = 1; l < 4; l++) {
		w[2 * l] = w[2 * l - 2];
		w[2 * l + 1] = w[2 * l - 1];
		xt_mul_x(w + 2 * l);
	}
	return _mm512_loadu_si512((const void *)w);
}

/* ---- the data ------------------------------------------------------------------ */

#define XT_ROUNDS(op, opl, x, rk)                                  \
	do {                                                       \
		_Pragma("GCC unroll 16")                            \
		for (int r_ = 1; r_ < 14; r_++)                     \
			x = op(x, rk[r_]);                          \
		x = opl(x, rk[14]);                                 \
	} while (0)

__attribute__((always_inline)) XT_TARGET static inline void
xt_unit(const uint8_t (*keys)[16], bool dec, uint8_t *dst, const uint8_t *src, size_t len,
	__m512i t)
{
	__m512i rk[15], x[4], tw[4];
	size_t off = 0;

	_Pragma("GCC unroll 16")
	for (int i = 0; i < 15; i++)
		rk[i] = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)keys[i]));
	for (; off + 256 <= len; off += 256) {
		tw[0] = t;
		_Pragma("GCC unroll 16")
		for (int q = 1; q < 4; q++)
			tw[q] = xt_mul_xn(tw[q - 1], 4);
		t = xt_mul_xn(tw[3], 4);
		_Pragma("GCC unroll 16")
		for (int q = 0; q < 4; q++)
			x[q] = _mm512_ternarylogic_epi64(
				_mm512_loadu_si512((const void *)(src + off + 64 * q)), tw[q], rk[0],
				0x96);
		_Pragma("GCC unroll 16")
		for (int r = 1; r < 14; r++)
			_Pragma("GCC unroll 16")
			for (int q = 0; q < 4; q++)
				x[q] = dec ? _mm512_aesdec_epi128(x[q], rk[r]) :
					     _mm512_aesenc_epi128(x[q], rk[r]);
		_Pragma("GCC unroll 16")
		for (int q = 0; q < 4; q++) {
			x[q] = dec ? _mm512_aesdeclast_epi128(x[q], rk[14]) :
				     _mm512_aesenclast_epi128(x[q], rk[14]);
			_mm512_storeu_si512((void *)(dst + off + 64 * q),
					    _mm512_xor_si512(x[q], tw[q]));
		}
	}
	for (; off + 64 <= len; off += 64) {
		__m512i y = _mm512_ternarylogic_epi64(_mm512_loadu_si512((const void *)(src + off)),
						      t, rk[0], 0x96);

		if (dec)
			XT_ROUNDS(_mm512_aesdec_epi128, _mm512_aesdeclast_epi128, y, rk);
		else
			XT_ROUNDS(_mm512_aesenc_epi128, _mm512_aesenclast_epi128, y, rk);
		_mm512_storeu_si512((void *)(dst + off), _mm512_xor_si512(y, t));
		t = xt_mul_xn(t, 4);
	}
}

XT_TARGET void vxts_xts_encrypt(const struct vxts_xts_key *k, uint8_t *dst, const uint8_t *src,
				size_t len, const uint8_t iv[16])
{
	xt_unit(k->ek, false, dst, src, len, xt_first(k, iv));
}

XT_TARGET void vxts_xts_decrypt(const struct vxts_xts_key *k, uint8_t *dst, const uint8_t *src,
				size_t len, const uint8_t iv[16])
{
	xt_unit(k->dk, true, dst, src, len, xt_first(k, iv));
}
