// SPDX-License-Identifier: GPL-2.0
/*
 * test_rectag: the record tags are AES-256-GMAC exactly as OpenSSL's GCM
 * computes it (rectag.h), whichever path computes them: ghash.c on CPUs with
 * VPCLMULQDQ, OpenSSL's GCM otherwise. The oracle here is OpenSSL's GCM
 * driven directly, on random keys, nonces, indices and contents, at every
 * unit size the engine uses and at lengths the fast path does not take.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ghash.h"
#include "rectag.h"

/* GMAC via OpenSSL's GCM: the unit as AAD, IV = nonce || le32(index). */
static void tr_oracle(uint8_t tag[16], const uint8_t key[32], const uint8_t nonce[8],
		      uint32_t index, const uint8_t *data, size_t len)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t iv[12], none[16];
	int n;

	assert_non_null(ctx);
	memcpy(iv, nonce, 8);
	for (int i = 0; i < 4; i++)
		iv[8 + i] = (uint8_t)(index >> (8 * i));
	assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, NULL, &n, data, (int)len), 1);
	assert_int_equal(EVP_EncryptFinal_ex(ctx, none, &n), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(ctx);
}

static void tr_random(void *p, size_t n)
{
	assert_int_equal(RAND_bytes(p, (int)n), 1);
}

/* Random cases at each length; a content pattern per case too (zeros, ones). */
static void tags_match_openssl(void **state)
{
	static const size_t lens[] = { 4096, 512, 256, 8192, 768, 16, 100, 4000 };
	uint8_t *data = malloc(8192), key[32], nonce[8], want[16], got[16];
	struct vxts_rectag *t;
	int cases = 0;

	assert_non_null(data);
	for (int round = 0; round < 40; round++) {
		uint32_t index;

		tr_random(key, sizeof(key));
		tr_random(nonce, sizeof(nonce));
		tr_random(&index, sizeof(index));
		assert_int_equal(vxts_rectag_new(&t, key), 0);
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			if (round % 3 == 0)
				memset(data, round % 2 ? 0xff : 0, lens[i]);
			else
				tr_random(data, lens[i]);
			tr_oracle(want, key, nonce, index, data, lens[i]);
			assert_int_equal(vxts_rectag_unit(t, got, nonce, index, data, lens[i]), 0);
			if (memcmp(want, got, 16))
				fail_msg("tag differs from OpenSSL GMAC: round %d, %zu bytes, fast %d",
					 round, lens[i], vxts_rectag_fast(t));
			/* One flipped bit anywhere changes the tag. */
			data[(size_t)round * 97 % lens[i]] ^= (uint8_t)(1u << (round % 8));
			assert_int_equal(vxts_rectag_unit(t, got, nonce, index, data, lens[i]), 0);
			assert_memory_not_equal(want, got, 16);
			cases++;
		}
		vxts_rectag_free(t);
	}
	print_message("# %d tags compared with OpenSSL (fast path: %s)\n", cases,
		      vxts_ghash_available() ? "yes" : "no");
	free(data);
}

/* On a CPU that has the instructions, the fast path must be the one in use. */
static void fast_path_in_use(void **state)
{
	uint8_t key[32] = { 1 };
	struct vxts_rectag *t;

	if (!vxts_ghash_available())
		skip();
	assert_int_equal(vxts_rectag_new(&t, key), 0);
	assert_true(vxts_rectag_fast(t));
	vxts_rectag_free(t);
}

static double tr_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Throughput of 4 KiB unit tags (a TAP comment; nothing asserted on speed). */
static void throughput(void **state)
{
	size_t n = 32u << 20;
	uint8_t *buf = aligned_alloc(4096, n), key[32] = { 2 }, nonce[8] = { 3 }, tag[16];
	struct vxts_rectag *t;
	double t0;

	assert_non_null(buf);
	memset(buf, 0x5a, n);
	assert_int_equal(vxts_rectag_new(&t, key), 0);
	t0 = tr_cpu();
	for (size_t u = 0; u < n / 4096; u++)
		assert_int_equal(vxts_rectag_unit(t, tag, nonce, (uint32_t)u, buf + u * 4096, 4096), 0);
	print_message("# throughput 4096-byte unit tags, one thread (CPU time): %.0f MB/s "
		      "(fast path: %s)\n", (double)n / (tr_cpu() - t0) / 1e6,
		      vxts_rectag_fast(t) ? "yes" : "no");
	vxts_rectag_free(t);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tags_match_openssl),
		cmocka_unit_test(fast_path_in_use),
		cmocka_unit_test(throughput),
	};

	return cmocka_run_group_tests_name("rectag", tests, NULL, NULL);
}
