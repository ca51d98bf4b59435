// SPDX-License-Identifier: GPL-2.0
/*
 * ghash: GHASH with VPCLMULQDQ (see ghash.h for why).
 *
 * Representation. GCM numbers the bits of a block from the most significant
 * bit of byte 0 (coefficient of x^0) on, modulo P(x) = x^128 + x^7 + x^2 +
 * x + 1. Byte-reversing a block and reading it as a 128-bit integer puts the
 * coefficient of x^m at integer bit 127 - m: as polynomials in t (bit k is
 * t^k) that is the reciprocal, I(a) = t^127 a(1/t). Carry-less multiplication
 * multiplies in t, so with P*(t) = t^128 P(1/t) = t^128 + t^127 + t^126 +
 * t^121 + 1:
 *
 *	clmul(I(a), I(b)) = Q(t) P*(t) + t^127 I(a b mod P)
 *
 * Multiplying by I(h) t (mod P*) instead of I(h) turns t^127 into t^128, and
 * the product becomes a Montgomery product: I(a h) = clmul(I(a), I(h) t)
 * t^-128 mod P*. P* is 1 modulo t^64, so t^-128 is two folds of 64 bits:
 * the lowest 64 bits z move up by 64 and add z (t^121 + t^126 + t^127) / t^64
 * = clmul(z, 0xc200000000000000). The multiplier I(h) t mod P* is
 * (I(h) << 1) ^ (carry ? 0xc2000000000000000000000000000001 : 0), and the
 * powers follow from the product itself: mont(I(h^k) t, I(h) t) = I(h^k+1) t.
 *
 * Sixteen blocks are multiplied by h^16 .. h^1 and summed before one
 * reduction (the products are linear, so reducing once is the same).
 */
#include <immintrin.h>
#include <string.h>

#include "ghash.h"

#define GH_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,vpclmulqdq,pclmul,ssse3")))

bool vxts_ghash_available(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("vpclmulqdq") &&
	       __builtin_cpu_supports("pclmul");
}

GH_TARGET static __m128i gh_bswap(__m128i v)
{
	return _mm_shuffle_epi8(v, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
						13, 14, 15));
}

/* (lo + mi t^64 + hi t^128) t^-128 mod P*: two 64-bit folds. */
GH_TARGET static __m128i gh_reduce(__m128i lo, __m128i mi, __m128i hi)
{
	const __m128i k = _mm_set_epi64x((long long)0xc200000000000000ULL, 0);
	__m128i t = _mm_clmulepi64_si128(lo, k, 0x10);

	mi = _mm_xor_si128(mi, _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), t));
	t = _mm_clmulepi64_si128(mi, k, 0x10);
	return _mm_xor_si128(hi, _mm_xor_si128(_mm_shuffle_epi32(mi, 0x4e), t));
}

GH_TARGET static __m128i gh_mont(__m128i a, __m128i b)
{
	__m128i lo = _mm_clmulepi64_si128(a, b, 0x00);
	__m128i hi = _mm_clmulepi64_si128(a, b, 0x11);
	__m128i mi = _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01),
				   _mm_clmulepi64_si128(a, b, 0x10));

	return gh_reduce(lo, mi, hi);
}

GH_TARGET void vxts_ghash_init(struct vxts_ghash_key *k, const uint8_t h[16])
{
	__m128i v = gh_bswap(_mm_loadu_si128((const __m128i *)h)), pw[17];
	uint64_t top = (uint64_t)_mm_extract_epi64(v, 1) >> 63;
	__m128i sh = _mm_or_si128(_mm_slli_epi64(v, 1),
				  _mm_slli_si128(_mm_srli_epi64(v, 63), 8));

	if (top)
		sh = _mm_xor_si128(sh, _mm_set_epi64x((long long)0xc200000000000000ULL, 1));
	pw[1] = sh;
	for (int i = 2; i <= 16; i++)
		pw[i] = gh_mont(pw[i - 1], pw[1]);
	/* Vector q, lane l multiplies block 4q + l of a step: h^(16 - 4q - l). */
	for (int q = 0; q < 4; q++)
		for (int l = 0; l < 4; l++)
			memcpy(k->pow[q] + 16 * l, &pw[16 - 4 * q - l], 16);
	memset(pw, 0, sizeof(pw));
	__asm__ __volatile__("" : : "r"(pw) : "memory");
}

GH_TARGET static __m128i gh_fold4(__m512i v)
{
	__m256i s = _mm256_xor_si256(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));

	return _mm_xor_si128(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

GH_TARGET void vxts_ghash_aad(const struct vxts_ghash_key *k, uint8_t out[16],
			      const uint8_t *a, size_t len)
{
	const __m512i bs = _mm512_broadcast_i32x4(_mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
							       10, 11, 12, 13, 14, 15));
	__m512i p[4], d[4], lo, mi, hi;
	__m128i x = _mm_setzero_si128(), h1;

	for (int q = 0; q < 4; q++)
		p[q] = _mm512_load_si512((const void *)k->pow[q]);
	for (size_t off = 0; off + VXTS_GHASH_STEP <= len; off += VXTS_GHASH_STEP) {
		for (int q = 0; q < 4; q++)
			d[q] = _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)(a + off + 64 * q)),
						   bs);
		d[0] = _mm512_xor_si512(d[0], _mm512_zextsi128_si512(x));
		lo = _mm512_clmulepi64_epi128(d[0], p[0], 0x00);
		hi = _mm512_clmulepi64_epi128(d[0], p[0], 0x11);
		mi = _mm512_xor_si512(_mm512_clmulepi64_epi128(d[0], p[0], 0x01),
				      _mm512_clmulepi64_epi128(d[0], p[0], 0x10));
		for (int q = 1; q < 4; q++) {
			lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128(d[q], p[q], 0x00));
			hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128(d[q], p[q], 0x11));
			mi = _mm512_xor_si512(mi, _mm512_clmulepi64_epi128(d[q], p[q], 0x01));
			mi = _mm512_xor_si512(mi, _mm512_clmulepi64_epi128(d[q], p[q], 0x10));
		}
		x = gh_reduce(gh_fold4(lo), gh_fold4(mi), gh_fold4(hi));
	}
	/* The length block: [8 len]_64 || [0]_64, i.e. 8 len in the upper half. */
	h1 = _mm512_extracti32x4_epi32(p[3], 3);
	x = gh_mont(_mm_xor_si128(x, _mm_set_epi64x((long long)(len * 8), 0)), h1);
	_mm_storeu_si128((__m128i *)out, gh_bswap(x));
}
