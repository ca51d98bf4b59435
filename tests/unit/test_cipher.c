// SPDX-License-Identifier: GPL-2.0
/*
 * test_cipher: AES-256-XTS through vxts_cipher_* against
 *  - IEEE Std 1619-2007 Annex B vectors 10-14 (512-byte data units),
 *  - a hand-built reference that calls EVP_aes_256_xts directly with the
 *    little-endian tweak each case table row spells out (the dm-crypt
 *    plain64 / iv_offset / iv_large_sectors arithmetic, done by hand),
 *  - ciphertext captured from dm-crypt itself (vectors/dmcrypt-*.bin, made
 *    in the VM; see vectors/README.md). Missing captures are SKIPs.
 *  - cryptsetup's offline reencrypt of a file (kernel crypto API, dm-crypt
 *    IV rules), run on the host.
 * It also prints the throughput of 4 KiB units (one core) as a TAP comment.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#include <openssl/evp.h>

#include "cipher.h"

/* ---- helpers ----------------------------------------------------------- */

static void tc_unhex(uint8_t *out, const char *hex, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned int v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void tc_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 131 + seed * 7 + (i >> 9)) ^ (i >> 13));
}

/* The key of the IEEE vectors: Key1 || Key2. */
static const char tc_ieee_key[] =
	"2718281828459045235360287471352662497757247093699959574966967627"
	"3141592653589793238462643383279502884197169399375105820974944592";

/* A key with distinct halves for everything else: bytes 00 01 .. 3f. */
static void tc_seq_key(uint8_t key[VXTS_KEY_SIZE])
{
	for (int i = 0; i < VXTS_KEY_SIZE; i++)
		key[i] = (uint8_t)i;
}

/* ---- IEEE 1619 --------------------------------------------------------- */

struct tc_ieee {
	const char *name;
	uint64_t dus;		/* data unit sequence number = sector */
	const char *ctx;	/* 512 bytes of ciphertext, hex */
};

/* PTX of all five: 00 01 .. ff 00 01 .. ff. */
static const struct tc_ieee tc_ieee_vectors[] = {
	/* IEEE Std 1619-2007 Annex B, XTS-AES-256, 512-byte data units. */
	{ "vector 10", 0xffull,
	  "1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b"
	  "5d31e276f8fe4a8d66b317f9ac683f44680a86ac35adfc3345befecb4bb188fd"
	  "5776926c49a3095eb108fd1098baec70aaa66999a72a82f27d848b21d4a741b0"
	  "c5cd4d5fff9dac89aeba122961d03a757123e9870f8acf1000020887891429ca"
	  "2a3e7a7d7df7b10355165c8b9a6d0a7de8b062c4500dc4cd120c0f7418dae3d0"
	  "b5781c34803fa75421c790dfe1de1834f280d7667b327f6c8cd7557e12ac3a0f"
	  "93ec05c52e0493ef31a12d3d9260f79a289d6a379bc70c50841473d1a8cc81ec"
	  "583e9645e07b8d9670655ba5bbcfecc6dc3966380ad8fecb17b6ba02469a020a"
	  "84e18e8f84252070c13e9f1f289be54fbc481457778f616015e1327a02b140f1"
	  "505eb309326d68378f8374595c849d84f4c333ec4423885143cb47bd71c5edae"
	  "9be69a2ffeceb1bec9de244fbe15992b11b77c040f12bd8f6a975a44a0f90c29"
	  "a9abc3d4d893927284c58754cce294529f8614dcd2aba991925fedc4ae74ffac"
	  "6e333b93eb4aff0479da9a410e4450e0dd7ae4c6e2910900575da401fc07059f"
	  "645e8b7e9bfdef33943054ff84011493c27b3429eaedb4ed5376441a77ed4385"
	  "1ad77f16f541dfd269d50d6a5f14fb0aab1cbb4c1550be97f7ab4066193c4caa"
	  "773dad38014bd2092fa755c824bb5e54c4f36ffda9fcea70b9c6e693e148c151" },
	{ "vector 11", 0xffffull,
	  "77a31251618a15e6b92d1d66dffe7b50b50bad552305ba0217a610688eff7e11"
	  "e1d0225438e093242d6db274fde801d4cae06f2092c728b2478559df58e837c2"
	  "469ee4a4fa794e4bbc7f39bc026e3cb72c33b0888f25b4acf56a2a9804f1ce6d"
	  "3d6e1dc6ca181d4b546179d55544aa7760c40d06741539c7e3cd9d2f6650b201"
	  "3fd0eeb8c2b8e3d8d240ccae2d4c98320a7442e1c8d75a42d6e6cfa4c2eca179"
	  "8d158c7aecdf82490f24bb9b38e108bcda12c3faf9a21141c3613b58367f922a"
	  "aa26cd22f23d708dae699ad7cb40a8ad0b6e2784973dcb605684c08b8d6998c6"
	  "9aac049921871ebb65301a4619ca80ecb485a31d744223ce8ddc2394828d6a80"
	  "470c092f5ba413c3378fa6054255c6f9df4495862bbb3287681f931b687c888a"
	  "bf844dfc8fc28331e579928cd12bd2390ae123cf03818d14dedde5c0c24c8ab0"
	  "18bfca75ca096f2d531f3d1619e785f1ada437cab92e980558b3dce1474afb75"
	  "bfedbf8ff54cb2618e0244c9ac0d3c66fb51598cd2db11f9be39791abe447c63"
	  "094f7c453b7ff87cb5bb36b7c79efb0872d17058b83b15ab0866ad8a58656c5a"
	  "7e20dbdf308b2461d97c0ec0024a2715055249cf3b478ddd4740de654f75ca68"
	  "6e0d7345c69ed50cdc2a8b332b1f8824108ac937eb050585608ee734097fc090"
	  "54fbff89eeaeea791f4a7ab1f9868294a4f9e27b42af8100cb9d59cef9645803" },
	{ "vector 12", 0xffffffull,
	  "e387aaa58ba483afa7e8eb469778317ecf4cf573aa9d4eac23f2cdf914e4e200"
	  "a8b490e42ee646802dc6ee2b471b278195d60918ececb44bf79966f83faba049"
	  "9298ebc699c0c8634715a320bb4f075d622e74c8c932004f25b41e361025b5a8"
	  "7815391f6108fc4afa6a05d9303c6ba68a128a55705d415985832fdeaae6c8e1"
	  "9110e84d1b1f199a2692119edc96132658f09da7c623efcec712537a3d94c0bf"
	  "5d7e352ec94ae5797fdb377dc1551150721adf15bd26a8efc2fcaad56881fa9e"
	  "62462c28f30ae1ceaca93c345cf243b73f542e2074a705bd2643bb9f7cc79bb6"
	  "e7091ea6e232df0f9ad0d6cf502327876d82207abf2115cdacf6d5a48f6c1879"
	  "a65b115f0f8b3cb3c59d15dd8c769bc014795a1837f3901b5845eb491adfefe0"
	  "97b1fa30a12fc1f65ba22905031539971a10f2f36c321bb51331cdefb39e3964"
	  "c7ef079994f5b69b2edd83a71ef549971ee93f44eac3938fcdd61d01fa71799d"
	  "a3a8091c4c48aa9ed263ff0749df95d44fef6a0bb578ec69456aa5408ae32c7a"
	  "f08ad7ba8921287e3bbee31b767be06a0e705c864a769137df28292283ea81a2"
	  "480241b44d9921cdbec1bc28dc1fda114bd8e5217ac9d8ebafa720e9da4f9ace"
	  "231cc949e5b96fe76ffc21063fddc83a6b8679c00d35e09576a875305bed5f36"
	  "ed242c8900dd1fa965bc950dfce09b132263a1eef52dd6888c309f5a7d712826" },
	{ "vector 13", 0xffffffffull,
	  "bf53d2dade78e822a4d949a9bc6766b01b06a8ef70d26748c6a7fc36d80ae4c5"
	  "520f7c4ab0ac8544424fa405162fef5a6b7f229498063618d39f0003cb5fb8d1"
	  "c86b643497da1ff945c8d3bedeca4f479702a7a735f043ddb1d6aaade3c4a0ac"
	  "7ca7f3fa5279bef56f82cd7a2f38672e824814e10700300a055e1630b8f1cb0e"
	  "919f5e942010a416e2bf48cb46993d3cb6a51c19bacf864785a00bc2ecff15d3"
	  "50875b246ed53e68be6f55bd7e05cfc2b2ed6432198a6444b6d8c247fab941f5"
	  "69768b5c429366f1d3f00f0345b96123d56204c01c63b22ce78baf116e525ed9"
	  "0fdea39fa469494d3866c31e05f295ff21fea8d4e6e13d67e47ce722e9698a1c"
	  "1048d68ebcde76b86fcf976eab8aa9790268b7068e017a8b9b749409514f1053"
	  "027fd16c3786ea1bac5f15cb79711ee2abe82f5cf8b13ae73030ef5b9e4457e7"
	  "5d1304f988d62dd6fc4b94ed38ba831da4b7634971b6cd8ec325d9c61c00f1df"
	  "73627ed3745a5e8489f3a95c69639c32cd6e1d537a85f75cc844726e8a72fc00"
	  "77ad22000f1d5078f6b866318c668f1ad03d5a5fced5219f2eabbd0aa5c0f460"
	  "d183f04404a0d6f469558e81fab24a167905ab4c7878502ad3e38fdbe62a4155"
	  "6cec37325759533ce8f25f367c87bb5578d667ae93f9e2fd99bcbc5f2fbba88c"
	  "f6516139420fcff3b7361d86322c4bd84c82f335abb152c4a93411373aaa8220" },
	{ "vector 14", 0xffffffffffull,
	  "64497e5a831e4a932c09be3e5393376daa599548b816031d224bbf50a818ed23"
	  "50eae7e96087c8a0db51ad290bd00c1ac1620857635bf246c176ab463be30b80"
	  "8da548081ac847b158e1264be25bb0910bbc92647108089415d45fab1b3d2604"
	  "e8a8eff1ae4020cfa39936b66827b23f371b92200be90251e6d73c5f86de5fd4"
	  "a950781933d79a28272b782a2ec313efdfcc0628f43d744c2dc2ff3dcb66999b"
	  "50c7ca895b0c64791eeaa5f29499fb1c026f84ce5b5c72ba1083cddb5ce45434"
	  "631665c333b60b11593fb253c5179a2c8db813782a004856a1653011e93fb6d8"
	  "76c18366dd8683f53412c0c180f9c848592d593f8609ca736317d356e13e2bff"
	  "3a9f59cd9aeb19cd482593d8c46128bb32423b37a9adfb482b99453fbe25a41b"
	  "f6feb4aa0bef5ed24bf73c762978025482c13115e4015aac992e5613a3b5c2f6"
	  "85b84795cb6e9b2656d8c88157e52c42f978d8634c43d06fea928f2822e465aa"
	  "6576e9bf419384506cc3ce3c54ac1a6f67dc66f3b30191e698380bc999b05abc"
	  "e19dc0c6dcc2dd001ec535ba18deb2df1a101023108318c75dc98611a09dc48a"
	  "0acdec676fabdf222f07e026f059b672b56e5cbc8e1d21bbd867dd9272120546"
	  "81d70ea737134cdfce93b6f82ae22423274e58a0821cc5502e2d0ab4585e94de"
	  "6975be5e0b4efce51cd3e70c25a1fbbbd609d273ad5b0d59631c531f6a0a57b9" },
};

static void test_ieee1619(void **state)
{
	uint8_t key[VXTS_KEY_SIZE], ptx[512], ctx[512], buf[512];
	struct vxts_cipher *c;

	tc_unhex(key, tc_ieee_key, sizeof(key));
	for (int i = 0; i < 512; i++)
		ptx[i] = (uint8_t)i;
	assert_int_equal(vxts_cipher_new(&c, key, 512, 0, false), 0);
	for (size_t v = 0; v < ARRAY_SIZE(tc_ieee_vectors); v++) {
		const struct tc_ieee *t = &tc_ieee_vectors[v];

		print_message("# %s tweak 0x%llx\n", t->name, (unsigned long long)t->dus);
		tc_unhex(ctx, t->ctx, sizeof(ctx));
		assert_int_equal(vxts_cipher_encrypt(c, buf, ptx, 512, t->dus), 0);
		assert_memory_equal(buf, ctx, 512);
		assert_int_equal(vxts_cipher_decrypt(c, buf, ctx, 512, t->dus), 0);
		assert_memory_equal(buf, ptx, 512);
		/* In place, both ways. */
		memcpy(buf, ptx, 512);
		assert_int_equal(vxts_cipher_encrypt(c, buf, buf, 512, t->dus), 0);
		assert_memory_equal(buf, ctx, 512);
		assert_int_equal(vxts_cipher_decrypt(c, buf, buf, 512, t->dus), 0);
		assert_memory_equal(buf, ptx, 512);
	}
	vxts_cipher_free(c);
}

/* ---- dm-crypt tweak arithmetic, by hand -------------------------------- */

/*
 * Each row states the tweak of its first unit and the step between units as
 * dm-crypt computes them: tweak = sector + iv_offset, and with
 * iv_large_sectors (sector + iv_offset) / (unit / 512). The numbers are
 * worked out by hand, not by the code under test.
 */
struct tc_tweak {
	uint32_t unit;
	uint64_t iv_offset;
	bool large;
	uint64_t sector;
	unsigned int units;
	uint64_t first_tweak;
	uint64_t step;
};

static const struct tc_tweak tc_tweaks[] = {
	{ 512, 0, false, 0, 4, 0, 1 },
	{ 512, 1000, false, 7, 3, 1007, 1 },
	{ 512, 16, true, 5, 2, 21, 1 },			/* no shift at 512 */
	{ 512, 0, false, 0x123456789abcdef0ull, 2, 0x123456789abcdef0ull, 1 },
	{ 4096, 0, false, 8, 4, 8, 8 },			/* 512-byte sector numbers */
	{ 4096, 0, true, 8, 4, 1, 1 },			/* unit numbers */
	{ 4096, 2048, false, 16, 3, 2064, 8 },
	{ 4096, 2048, true, 16, 3, 258, 1 },
	{ 4096, 0, true, 0xffffffff8ull, 2, 0x1ffffffffull, 1 },	/* > 32 bits */
	{ 4096, 8, true, 0x7ffffffffffffff0ull, 2, 0x0fffffffffffffffull, 1 },
};

/* One XTS message per unit, straight through EVP, fresh context each time. */
static void tc_ref_xts(const uint8_t *key, uint64_t tweak, const uint8_t *in,
		       uint8_t *out, uint32_t unit)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t iv[16] = { 0 };
	int outl = 0;

	for (int i = 0; i < 8; i++)
		iv[i] = (uint8_t)(tweak >> (8 * i));
	assert_non_null(ctx);
	assert_int_equal(EVP_EncryptInit_ex2(ctx, EVP_aes_256_xts(), key, iv, NULL), 1);
	assert_int_equal(EVP_EncryptUpdate(ctx, out, &outl, in, (int)unit), 1);
	assert_int_equal(outl, (int)unit);
	EVP_CIPHER_CTX_free(ctx);
}

static void tc_check_tweak_row(const struct tc_tweak *t, const uint8_t *key)
{
	size_t len = (size_t)t->units * t->unit;
	uint8_t *ptx = malloc(len), *got = malloc(len), *want = malloc(len);
	struct vxts_cipher *c;

	assert_true(ptx && got && want);
	tc_pattern(ptx, len, t->unit ^ (uint32_t)t->sector);
	for (unsigned int i = 0; i < t->units; i++)
		tc_ref_xts(key, t->first_tweak + i * t->step, ptx + (size_t)i * t->unit,
			   want + (size_t)i * t->unit, t->unit);
	assert_int_equal(vxts_cipher_new(&c, key, t->unit, t->iv_offset, t->large), 0);
	assert_int_equal(vxts_cipher_encrypt(c, got, ptx, len, t->sector), 0);
	assert_memory_equal(got, want, len);
	assert_int_equal(vxts_cipher_decrypt(c, got, want, len, t->sector), 0);
	assert_memory_equal(got, ptx, len);
	vxts_cipher_free(c);
	free(ptx);
	free(got);
	free(want);
}

static void test_dmcrypt_tweak_math(void **state)
{
	uint8_t key[VXTS_KEY_SIZE];

	tc_seq_key(key);
	for (size_t i = 0; i < ARRAY_SIZE(tc_tweaks); i++) {
		print_message("# row %zu: unit %u iv_offset %llu large %d sector %llu\n", i,
			      tc_tweaks[i].unit, (unsigned long long)tc_tweaks[i].iv_offset,
			      tc_tweaks[i].large, (unsigned long long)tc_tweaks[i].sector);
		tc_check_tweak_row(&tc_tweaks[i], key);
	}
}

/* A unit's ciphertext depends only on its own tweak, not on the batch. */
static void test_batch_equals_units(void **state)
{
	uint8_t key[VXTS_KEY_SIZE], ptx[8 * 4096], all[8 * 4096], one[4096];
	struct vxts_cipher *c;

	tc_seq_key(key);
	tc_pattern(ptx, sizeof(ptx), 3);
	assert_int_equal(vxts_cipher_new(&c, key, 4096, 64, true), 0);
	assert_int_equal(vxts_cipher_encrypt(c, all, ptx, sizeof(ptx), 800), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(vxts_cipher_encrypt(c, one, ptx + i * 4096, 4096, 800 + 8 * i), 0);
		assert_memory_equal(one, all + i * 4096, 4096);
	}
	/* And two neighbouring units never share a ciphertext for equal data. */
	memset(ptx, 0xa5, 2 * 4096);
	assert_int_equal(vxts_cipher_encrypt(c, all, ptx, 2 * 4096, 0), 0);
	assert_memory_not_equal(all, all + 4096, 4096);
	vxts_cipher_free(c);
}

static void test_rejects(void **state)
{
	uint8_t key[VXTS_KEY_SIZE], buf[8192];
	struct vxts_cipher *c = (struct vxts_cipher *)1;

	tc_seq_key(key);
	assert_int_equal(vxts_cipher_new(&c, key, 1024, 0, false), -EINVAL);
	assert_null(c);
	assert_int_equal(vxts_cipher_new(&c, key, 0, 0, false), -EINVAL);
	/* dm-crypt: iv_offset must be a whole number of units. */
	assert_int_equal(vxts_cipher_new(&c, key, 4096, 4, true), -EINVAL);
	/* Equal XTS halves: OpenSSL refuses them, we say -EINVAL up front. */
	memcpy(key + 32, key, 32);
	assert_int_equal(vxts_cipher_new(&c, key, 512, 0, false), -EINVAL);
	tc_seq_key(key);
	assert_int_equal(vxts_cipher_new(&c, key, 4096, 0, false), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(vxts_cipher_encrypt(c, buf, buf, 512, 0), -EINVAL);
	assert_int_equal(vxts_cipher_encrypt(c, buf, buf, 4096 + 512, 0), -EINVAL);
	assert_int_equal(vxts_cipher_encrypt(c, buf, buf, 4096, 1), -EINVAL);
	assert_int_equal(vxts_cipher_decrypt(c, buf, buf, 4096, 4), -EINVAL);
	/* Nothing was touched by the refused calls. */
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(vxts_cipher_encrypt(c, buf, buf, 0, 0), 0);
	vxts_cipher_free(c);
	vxts_cipher_free(NULL);
}

/* ---- threads -------------------------------------------------------------- */

/*
 * The engine gives each worker thread its own cipher object. Run several at
 * once over the same key and check each against the single-threaded result.
 */
#define TC_THREADS 4
#define TC_THREAD_BYTES (256u << 10)

struct tc_thread {
	pthread_t tid;
	const uint8_t *key, *ptx, *want;
	uint64_t sector;
	int r;
};

static void *tc_thread_main(void *arg)
{
	struct tc_thread *t = arg;
	uint8_t *buf = malloc(TC_THREAD_BYTES);
	struct vxts_cipher *c;

	t->r = -ENOMEM;
	if (!buf)
		return NULL;
	t->r = vxts_cipher_new(&c, t->key, 4096, 0, false);
	for (int round = 0; !t->r && round < 20; round++) {
		t->r = vxts_cipher_encrypt(c, buf, t->ptx, TC_THREAD_BYTES, t->sector);
		if (!t->r && memcmp(buf, t->want, TC_THREAD_BYTES))
			t->r = -EBADMSG;
	}
	vxts_cipher_free(c);
	free(buf);
	return NULL;
}

static void test_threads(void **state)
{
	static uint8_t ptx[TC_THREAD_BYTES], want[TC_THREADS][TC_THREAD_BYTES];
	struct tc_thread t[TC_THREADS];
	uint8_t key[VXTS_KEY_SIZE];
	struct vxts_cipher *c;

	tc_seq_key(key);
	tc_pattern(ptx, sizeof(ptx), 5);
	assert_int_equal(vxts_cipher_new(&c, key, 4096, 0, false), 0);
	for (int i = 0; i < TC_THREADS; i++) {
		t[i] = (struct tc_thread){ .key = key, .ptx = ptx, .want = want[i],
					   .sector = (uint64_t)i * 1000 * 8 };
		assert_int_equal(vxts_cipher_encrypt(c, want[i], ptx, sizeof(ptx), t[i].sector), 0);
	}
	vxts_cipher_free(c);
	for (int i = 0; i < TC_THREADS; i++)
		assert_int_equal(pthread_create(&t[i].tid, NULL, tc_thread_main, &t[i]), 0);
	for (int i = 0; i < TC_THREADS; i++) {
		assert_int_equal(pthread_join(t[i].tid, NULL), 0);
		assert_int_equal(t[i].r, 0);
	}
}

/* ---- dm-crypt captures -------------------------------------------------- */

/*
 * One row per capture made in the VM (vectors/README.md): dm-crypt
 * aes-xts-plain64 with key 00 01 .. 3f over a 128-sector device, plaintext
 * vectors/dmcrypt-plain.bin written through the mapping, and the raw device
 * read back into vectors/dmcrypt-<name>.bin.
 */
struct tc_capture {
	const char *name;
	uint32_t unit;
	uint64_t iv_offset;
	bool large;
};

static const struct tc_capture tc_captures[] = {
	{ "u512", 512, 0, false },
	{ "u512-off", 512, 123456, false },
	{ "u4096", 4096, 0, false },
	{ "u4096-large", 4096, 0, true },
	{ "u4096-off", 4096, 2048, false },
	{ "u4096-off-large", 4096, 2048, true },
};

#define TC_CAPTURE_BYTES 65536

/* vectors/ next to this source: $VXTS_VECTORS, or found from our own path. */
static void tc_vectors_path(char *out, size_t len, const char *file)
{
	const char *env = getenv("VXTS_VECTORS");
	char exe[PATH_MAX];
	ssize_t n;

	if (env) {
		snprintf(out, len, "%s/%s", env, file);
		return;
	}
	/* build/tests/unit/test_cipher -> tests/unit/vectors */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = 0;
	snprintf(out, len, "%s/../../../tests/unit/vectors/%s", dirname(exe), file);
}

/* 1 = read, 0 = missing; a short or unreadable file fails the test. */
static int tc_read_vector(const char *file, uint8_t *buf, size_t len)
{
	char path[PATH_MAX + 64];
	FILE *f;
	size_t got;

	tc_vectors_path(path, sizeof(path), file);
	f = fopen(path, "rb");
	if (!f && errno == ENOENT)
		return 0;
	assert_non_null(f);
	got = fread(buf, 1, len, f);
	fclose(f);
	assert_int_equal(got, len);
	return 1;
}

static void test_dmcrypt_capture(void **state)
{
	const struct tc_capture *t = *state;
	static uint8_t plain[TC_CAPTURE_BYTES], want[TC_CAPTURE_BYTES], got[TC_CAPTURE_BYTES];
	uint8_t key[VXTS_KEY_SIZE];
	char file[64];
	struct vxts_cipher *c;

	assert_int_equal(tc_read_vector("dmcrypt-plain.bin", plain, sizeof(plain)), 1);
	snprintf(file, sizeof(file), "dmcrypt-%s.bin", t->name);
	if (!tc_read_vector(file, want, sizeof(want))) {
		print_message("# %s not captured yet (see vectors/README.md)\n", file);
		skip();
	}
	tc_seq_key(key);
	assert_int_equal(vxts_cipher_new(&c, key, t->unit, t->iv_offset, t->large), 0);
	assert_int_equal(vxts_cipher_encrypt(c, got, plain, sizeof(got), 0), 0);
	assert_memory_equal(got, want, sizeof(got));
	assert_int_equal(vxts_cipher_decrypt(c, got, want, sizeof(got), 0), 0);
	assert_memory_equal(got, plain, sizeof(got));
	vxts_cipher_free(c);
}

/* ---- cryptsetup cross-check ---------------------------------------------- */

/*
 * cryptsetup's offline "reencrypt --encrypt" runs in userspace over the
 * kernel crypto API with dm-crypt's IV rules, so it is a second,
 * independent implementation available without a VM. Encrypt a file with
 * it (detached LUKS2 header), dump the volume key it chose, and check that
 * vxts_cipher_decrypt gives back the plaintext. LUKS2 never sets
 * iv_large_sectors, so 4096-byte sectors count tweaks in 512-byte sectors.
 */
static int tc_sh(const char *dir, const char *cmd)
{
	char line[PATH_MAX + 1024];

	snprintf(line, sizeof(line), "cd '%s' && { %s; } >cmd.log 2>&1", dir, cmd);
	return system(line);
}

static void tc_read_file(const char *dir, const char *name, uint8_t *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(buf, 1, len, f), len);
	fclose(f);
}

static void tc_cryptsetup_case(const char *dir, uint32_t unit)
{
	const size_t len = 1u << 20;
	uint8_t *plain = malloc(len), *img = malloc(len), *got = malloc(len), key[VXTS_KEY_SIZE];
	struct vxts_cipher *c;
	char cmd[PATH_MAX + 768];

	assert_true(plain && img && got);
	snprintf(cmd, sizeof(cmd),
		 "rm -f hdr vk && head -c %zu /dev/urandom >plain && cp plain img && "
		 "head -c 32 /dev/urandom >kf && "
		 "cryptsetup reencrypt --encrypt --type luks2 --header hdr --key-file kf "
		 "--batch-mode --force-offline-reencrypt --resilience none "
		 "--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --cipher aes-xts-plain64 "
		 "--key-size 512 --sector-size %u img && "
		 "cryptsetup luksDump --dump-volume-key --volume-key-file vk --batch-mode "
		 "--key-file kf hdr", len, unit);
	if (tc_sh(dir, cmd)) {
		snprintf(cmd, sizeof(cmd), "cat '%s/cmd.log' >&2", dir);
		(void)!system(cmd);
		fail_msg("cryptsetup failed for sector size %u (log above)", unit);
	}
	tc_read_file(dir, "plain", plain, len);
	tc_read_file(dir, "img", img, len);
	tc_read_file(dir, "vk", key, sizeof(key));
	assert_memory_not_equal(plain, img, 4096);
	assert_int_equal(vxts_cipher_new(&c, key, unit, 0, false), 0);
	assert_int_equal(vxts_cipher_decrypt(c, got, img, len, 0), 0);
	assert_memory_equal(got, plain, len);
	assert_int_equal(vxts_cipher_encrypt(c, got, plain, len, 0), 0);
	assert_memory_equal(got, img, len);
	vxts_cipher_free(c);
	memset(key, 0, sizeof(key));
	free(plain);
	free(img);
	free(got);
}

static void test_cryptsetup_cross_check(void **state)
{
	char dir[PATH_MAX], cmd[PATH_MAX + 16];
	const char *tmp = getenv("VXTS_TEST_TMP");

	if (system("cryptsetup --version >/dev/null 2>&1")) {
		print_message("# cryptsetup not installed\n");
		skip();
	}
	snprintf(dir, sizeof(dir), "%s/tc-cryptsetup.XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	tc_cryptsetup_case(dir, 512);
	tc_cryptsetup_case(dir, 4096);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- throughput ---------------------------------------------------------- */

/*
 * Thread CPU time, not wall time: the machines here share two cores among
 * several jobs, and wall time would measure the neighbours. This is what
 * `openssl speed` reports too (user time), so the two compare.
 */
static double tc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Not a timed assertion: it prints MB/s of @unit-byte units over a 64 MiB
 * buffer (in place, as the engine does) and checks only that the data
 * round-trips.
 */
static void tc_throughput(uint32_t unit)
{
	const size_t len = 64u << 20;
	const int rounds = 8;
	uint8_t *buf = malloc(len), *copy = malloc(4096), key[VXTS_KEY_SIZE];
	struct vxts_cipher *c;
	double t0, enc, dec;

	assert_true(buf && copy);
	tc_seq_key(key);
	tc_pattern(buf, len, 9);
	memcpy(copy, buf + len - 4096, 4096);
	assert_int_equal(vxts_cipher_new(&c, key, unit, 0, true), 0);
	t0 = tc_now();
	for (int i = 0; i < rounds; i++)
		assert_int_equal(vxts_cipher_encrypt(c, buf, buf, len, (uint64_t)i * (len >> 9)), 0);
	enc = tc_now() - t0;
	t0 = tc_now();
	for (int i = rounds - 1; i >= 0; i--)
		assert_int_equal(vxts_cipher_decrypt(c, buf, buf, len, (uint64_t)i * (len >> 9)), 0);
	dec = tc_now() - t0;
	assert_memory_equal(copy, buf + len - 4096, 4096);
	print_message("# throughput %u-byte units, one thread (CPU time): encrypt %.0f MB/s, decrypt %.0f MB/s\n",
		      unit, rounds * len / enc / 1e6, rounds * len / dec / 1e6);
	vxts_cipher_free(c);
	free(buf);
	free(copy);
}

static void test_throughput(void **state)
{
	tc_throughput(4096);
	tc_throughput(512);
}

/* Named after the capture, so a SKIP or FAIL line says which one. */
#define TC_CAPTURE_TEST(i, name) \
	{ "test_dmcrypt_capture_" name, test_dmcrypt_capture, NULL, NULL, \
	  (void *)&tc_captures[i] }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ieee1619),
		cmocka_unit_test(test_dmcrypt_tweak_math),
		cmocka_unit_test(test_batch_equals_units),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_threads),
		TC_CAPTURE_TEST(0, "u512"),
		TC_CAPTURE_TEST(1, "u512-off"),
		TC_CAPTURE_TEST(2, "u4096"),
		TC_CAPTURE_TEST(3, "u4096-large"),
		TC_CAPTURE_TEST(4, "u4096-off"),
		TC_CAPTURE_TEST(5, "u4096-off-large"),
		cmocka_unit_test(test_cryptsetup_cross_check),
		cmocka_unit_test(test_throughput),
	};

	return cmocka_run_group_tests_name("cipher", tests, NULL, NULL);
}
