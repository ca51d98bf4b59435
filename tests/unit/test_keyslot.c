// SPDX-License-Identifier: GPL-2.0
/*
 * test_keyslot: the KDF wrappers against their RFC vectors, then keyslots:
 * round trips, wrong KEKs, every single-byte corruption, forgeries that
 * recompute the slot checksum (so only the MAC / key wrap can catch them),
 * empty slots, and what vxts_keyslot_info() may reveal.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#include "kdf.h"
#include "keyslot.h"
#include "secmem.h"

/* Slot offsets this test relies on; docs/KEYS.md is the authority. */
#define TK_OFF_VERSION	4
#define TK_OFF_TYPE	6
#define TK_OFF_KEY_ID	8
#define TK_OFF_KEY_LEN	12
#define TK_OFF_SALT	16
#define TK_OFF_T_COST	48
#define TK_OFF_WRAPPED	64
#define TK_OFF_MAC	136
#define TK_OFF_RESERVED	168
#define TK_OFF_CSUM	224

/* Argon2 costs small enough for a unit test. */
static const struct vxts_argon2_params tk_tiny = { 1, 64, 1 };

static void tk_unhex(uint8_t *out, const char *hex, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned int v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static struct vxts_kek tk_kek(enum vxts_kek_type type, const char *s)
{
	return (struct vxts_kek){ .type = type, .secret = (const uint8_t *)s, .len = strlen(s) };
}

static void tk_key(uint8_t *key, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		key[i] = (uint8_t)(seed + 37 * i);
}

/* What an attacker who can write the slot does: edit, then fix the checksum. */
static void tk_fix_csum(uint8_t *slot)
{
	assert_int_equal(vxts_sha256(slot + TK_OFF_CSUM, slot, TK_OFF_CSUM), 0);
}

/* Opens into a sentinel-filled buffer; on failure nothing may have changed. */
static int tk_open(const uint8_t *slot, const struct vxts_kek *kek, uint8_t *key,
		   size_t *len, uint32_t *id)
{
	uint8_t out[64];
	size_t l = 12345;
	uint32_t i = 777;
	int r;

	memset(out, 0xee, sizeof(out));
	r = vxts_keyslot_open(slot, kek, out, &l, &i);
	if (r) {
		for (size_t k = 0; k < sizeof(out); k++)
			assert_int_equal(out[k], 0xee);
		assert_int_equal(l, 12345);
		assert_int_equal(i, 777);
	} else {
		memcpy(key, out, sizeof(out));
		*len = l;
		*id = i;
	}
	return r;
}

/* ---- kdf --------------------------------------------------------------- */

static void test_sha256_hmac_vectors(void **state)
{
	uint8_t out[32], want[32];

	/* FIPS 180-2 "abc". */
	assert_int_equal(vxts_sha256(out, "abc", 3), 0);
	tk_unhex(want, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 32);
	assert_memory_equal(out, want, 32);
	/* RFC 4231 test case 2. */
	assert_int_equal(vxts_hmac_sha256(out, "Jefe", 4, "what do ya want for nothing?", 28), 0);
	tk_unhex(want, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 32);
	assert_memory_equal(out, want, 32);
}

static void test_hkdf_vectors(void **state)
{
	uint8_t ikm[22], salt[13], okm[42], want[42];

	/* RFC 5869 test case 1 (info f0..f9 has no NUL, so it fits a C string). */
	memset(ikm, 0x0b, sizeof(ikm));
	for (int i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	assert_int_equal(vxts_hkdf_sha256(okm, sizeof(okm), ikm, sizeof(ikm), salt, sizeof(salt),
					  "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9"), 0);
	tk_unhex(want, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
		       "34007208d5b887185865", 42);
	assert_memory_equal(okm, want, 42);
	/* RFC 5869 test case 3: empty salt and info. */
	assert_int_equal(vxts_hkdf_sha256(okm, sizeof(okm), ikm, sizeof(ikm), NULL, 0, NULL), 0);
	tk_unhex(want, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
		       "9d201395faa4b61a96c8", 42);
	assert_memory_equal(okm, want, 42);
}

static void test_ct_equal_random(void **state)
{
	uint8_t a[64], b[64];

	memset(a, 0, sizeof(a));
	assert_int_equal(vxts_random(a, sizeof(a)), 0);
	memcpy(b, a, sizeof(b));
	assert_true(vxts_ct_equal(a, b, sizeof(a)));
	b[63] ^= 1;
	assert_false(vxts_ct_equal(a, b, sizeof(a)));
	/* 64 random bytes all zero: 2^-512, i.e. the DRBG did nothing. */
	memset(b, 0, sizeof(b));
	assert_false(vxts_ct_equal(a, b, sizeof(a)));
}

/* ---- round trips --------------------------------------------------------- */

static void tk_round_trip(const struct vxts_kek *kek, const struct vxts_argon2_params *p,
			  size_t key_len, uint32_t key_id)
{
	uint8_t slot[VXTS_KEYSLOT_SIZE], key[64] = { 0 }, got[64];
	struct vxts_keyslot_info info;
	size_t len;
	uint32_t id;

	tk_key(key, key_len, (uint8_t)key_len);
	assert_int_equal(vxts_keyslot_seal(slot, kek, p, key, key_len, key_id), 0);
	assert_int_equal(tk_open(slot, kek, got, &len, &id), 0);
	assert_int_equal(len, key_len);
	assert_int_equal(id, key_id);
	assert_memory_equal(got, key, key_len);
	/* Only key_len bytes are written. */
	for (size_t i = key_len; i < sizeof(got); i++)
		assert_int_equal(got[i], 0xee);
	assert_int_equal(vxts_keyslot_info(slot, &info), 0);
	assert_true(info.in_use);
	assert_int_equal(info.type, kek->type);
	assert_int_equal(info.key_id, key_id);
}

static void test_keyfile_round_trip(void **state)
{
	static const size_t lens[] = { 1, 7, 8, 9, 16, 32, 63, 64 };
	struct vxts_kek kek = tk_kek(VXTS_KEK_KEYFILE, "0123456789abcdef key file");
	uint8_t one = 0x42;
	struct vxts_kek tiny = { .type = VXTS_KEK_KEYFILE, .secret = &one, .len = 1 };

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++)
		tk_round_trip(&kek, NULL, lens[i], (uint32_t)i);
	tk_round_trip(&tiny, NULL, 64, 0);
	tk_round_trip(&kek, NULL, 64, 1);
	tk_round_trip(&kek, NULL, 64, 0xfedcba98);
}

static void test_passphrase_round_trip(void **state)
{
	struct vxts_kek kek = tk_kek(VXTS_KEK_PASSPHRASE, "correct horse battery staple");
	uint8_t slot[VXTS_KEYSLOT_SIZE], key[64];
	struct vxts_keyslot_info info;

	tk_round_trip(&kek, &tk_tiny, 64, 0);
	tk_round_trip(&kek, &tk_tiny, 32, 1);
	tk_key(key, 64, 1);
	assert_int_equal(vxts_keyslot_seal(slot, &kek, &tk_tiny, key, 64, 1), 0);
	assert_int_equal(vxts_keyslot_info(slot, &info), 0);
	assert_int_equal(info.argon2.t_cost, 1);
	assert_int_equal(info.argon2.m_cost_kib, 64);
	assert_int_equal(info.argon2.parallelism, 1);
}

/* Zero fields mean the documented defaults (t 3, 256 MiB, p 2): one real run. */
static void test_passphrase_defaults(void **state)
{
	struct vxts_kek kek = tk_kek(VXTS_KEK_PASSPHRASE, "defaults");
	struct vxts_argon2_params p = { 1, 0, 0 };
	uint8_t slot[VXTS_KEYSLOT_SIZE], key[64], got[64];
	struct vxts_keyslot_info info;
	size_t len;
	uint32_t id;

	tk_key(key, 64, 9);
	assert_int_equal(vxts_keyslot_seal(slot, &kek, &p, key, 64, 0), 0);
	assert_int_equal(vxts_keyslot_info(slot, &info), 0);
	assert_int_equal(info.argon2.t_cost, 1);
	assert_int_equal(info.argon2.m_cost_kib, VXTS_ARGON2_M_COST_KIB);
	assert_int_equal(info.argon2.parallelism, VXTS_ARGON2_PARALLELISM);
	assert_int_equal(tk_open(slot, &kek, got, &len, &id), 0);
	assert_memory_equal(got, key, 64);
}

/* Same key, same KEK, two seals: fresh salt each time, so different slots. */
static void test_seal_is_salted(void **state)
{
	struct vxts_kek kek = tk_kek(VXTS_KEK_KEYFILE, "k");
	uint8_t a[VXTS_KEYSLOT_SIZE], b[VXTS_KEYSLOT_SIZE], key[64];

	tk_key(key, 64, 3);
	assert_int_equal(vxts_keyslot_seal(a, &kek, NULL, key, 64, 0), 0);
	assert_int_equal(vxts_keyslot_seal(b, &kek, NULL, key, 64, 0), 0);
	assert_memory_not_equal(a + TK_OFF_SALT, b + TK_OFF_SALT, 32);
	assert_memory_not_equal(a + TK_OFF_WRAPPED, b + TK_OFF_WRAPPED, 72);
}

/* ---- wrong KEKs --------------------------------------------------------- */

static void test_wrong_kek(void **state)
{
	struct vxts_kek file = tk_kek(VXTS_KEK_KEYFILE, "the right key file");
	struct vxts_kek pass = tk_kek(VXTS_KEK_PASSPHRASE, "the right passphrase");
	const struct {
		const struct vxts_kek *sealed_with;
		struct vxts_kek tried;
	} rows[] = {
		{ &file, tk_kek(VXTS_KEK_KEYFILE, "the right key filf") },
		{ &file, tk_kek(VXTS_KEK_KEYFILE, "the right key file ") },
		{ &file, tk_kek(VXTS_KEK_KEYFILE, "the right key fil") },
		{ &file, tk_kek(VXTS_KEK_PASSPHRASE, "the right key file") },
		{ &pass, tk_kek(VXTS_KEK_PASSPHRASE, "the right passphrasE") },
		{ &pass, tk_kek(VXTS_KEK_PASSPHRASE, "x") },
		{ &pass, tk_kek(VXTS_KEK_KEYFILE, "the right passphrase") },
	};
	uint8_t slot[VXTS_KEYSLOT_SIZE], key[64], got[64];
	size_t len;
	uint32_t id;

	tk_key(key, 64, 5);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		assert_int_equal(vxts_keyslot_seal(slot, rows[i].sealed_with, &tk_tiny, key, 64, 0), 0);
		assert_int_equal(tk_open(slot, &rows[i].tried, got, &len, &id), -EPERM);
		/* ... and the right one still opens it. */
		assert_int_equal(tk_open(slot, rows[i].sealed_with, got, &len, &id), 0);
		assert_memory_equal(got, key, 64);
	}
}

/* ---- corruption ----------------------------------------------------------- */

/* Every byte, three different flips: never opens, never writes the key. */
static void tk_corrupt_every_byte(const struct vxts_kek *kek)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	uint8_t slot[VXTS_KEYSLOT_SIZE], bad[VXTS_KEYSLOT_SIZE], key[64], got[64];
	struct vxts_keyslot_info info;
	size_t len;
	uint32_t id;

	tk_key(key, 64, 7);
	assert_int_equal(vxts_keyslot_seal(slot, kek, &tk_tiny, key, 64, 1), 0);
	for (size_t i = 0; i < VXTS_KEYSLOT_SIZE; i++) {
		for (size_t m = 0; m < sizeof(masks); m++) {
			memcpy(bad, slot, sizeof(bad));
			bad[i] ^= masks[m];
			assert_int_equal(tk_open(bad, kek, got, &len, &id), -EINVAL);
			assert_int_equal(vxts_keyslot_info(bad, &info), -EINVAL);
			assert_false(info.in_use);
		}
	}
}

static void test_corrupt_keyfile_slot(void **state)
{
	struct vxts_kek kek = tk_kek(VXTS_KEK_KEYFILE, "corruption");

	tk_corrupt_every_byte(&kek);
}

static void test_corrupt_passphrase_slot(void **state)
{
	struct vxts_kek kek = tk_kek(VXTS_KEK_PASSPHRASE, "corruption");

	tk_corrupt_every_byte(&kek);
}

/*
 * Deliberate edits with the checksum recomputed. Fields a reader would act
 * on are authenticated (-EPERM); nonsense is rejected as malformed.
 */
static void test_forgeries(void **state)
{
	const struct {
		const char *what;
		size_t off;
		uint8_t xor;
		int want;
	} rows[] = {
		{ "key_id 1 -> 0", TK_OFF_KEY_ID, 0x01, -EPERM },
		{ "key_id high byte", TK_OFF_KEY_ID + 3, 0x10, -EPERM },
		{ "salt", TK_OFF_SALT + 5, 0x01, -EPERM },
		{ "t_cost 1 -> 3", TK_OFF_T_COST, 0x02, -EPERM },
		{ "wrapped key first byte", TK_OFF_WRAPPED, 0x01, -EPERM },
		{ "wrapped key last byte", TK_OFF_WRAPPED + 71, 0x01, -EPERM },
		{ "mac", TK_OFF_MAC + 31, 0x01, -EPERM },
		{ "version", TK_OFF_VERSION, 0x03, -EINVAL },
		{ "kek type none", TK_OFF_TYPE, 0x02, -EINVAL },
		{ "key_len 64 -> 65", TK_OFF_KEY_LEN, 0x01, -EINVAL },
		{ "key_len 64 -> 32", TK_OFF_KEY_LEN, 0x60, -EINVAL },
		{ "reserved", TK_OFF_RESERVED + 10, 0x01, -EINVAL },
		{ "magic", 0, 0x20, -EINVAL },
	};
	struct vxts_kek kek = tk_kek(VXTS_KEK_PASSPHRASE, "forged");
	uint8_t slot[VXTS_KEYSLOT_SIZE], bad[VXTS_KEYSLOT_SIZE], key[64], got[64];
	size_t len;
	uint32_t id;

	tk_key(key, 64, 11);
	assert_int_equal(vxts_keyslot_seal(slot, &kek, &tk_tiny, key, 64, 1), 0);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		print_message("# forge %s\n", rows[i].what);
		memcpy(bad, slot, sizeof(bad));
		bad[rows[i].off] ^= rows[i].xor;
		tk_fix_csum(bad);
		assert_int_equal(tk_open(bad, &kek, got, &len, &id), rows[i].want);
	}
	/* The untouched slot still opens: the rows above failed for their edit. */
	assert_int_equal(tk_open(slot, &kek, got, &len, &id), 0);
}

/* A 40-byte key: the wrapped key is 48 bytes, the rest of the field must stay zero. */
static void test_forged_padding(void **state)
{
	struct vxts_kek kek = tk_kek(VXTS_KEK_KEYFILE, "pad");
	uint8_t slot[VXTS_KEYSLOT_SIZE], key[64], got[64];
	size_t len;
	uint32_t id;

	tk_key(key, 40, 2);
	assert_int_equal(vxts_keyslot_seal(slot, &kek, NULL, key, 40, 0), 0);
	slot[TK_OFF_WRAPPED + 48] = 1;
	tk_fix_csum(slot);
	assert_int_equal(tk_open(slot, &kek, got, &len, &id), -EINVAL);
}

/* ---- empty slots, info, bad arguments ------------------------------------ */

static void test_empty_and_clear(void **state)
{
	struct vxts_kek kek = tk_kek(VXTS_KEK_KEYFILE, "e");
	uint8_t slot[VXTS_KEYSLOT_SIZE] = { 0 }, key[64], got[64];
	struct vxts_keyslot_info info;
	size_t len;
	uint32_t id;

	assert_int_equal(tk_open(slot, &kek, got, &len, &id), -ENOENT);
	memset(&info, 0xff, sizeof(info));
	assert_int_equal(vxts_keyslot_info(slot, &info), 0);
	assert_false(info.in_use);
	tk_key(key, 64, 4);
	assert_int_equal(vxts_keyslot_seal(slot, &kek, NULL, key, 64, 0), 0);
	vxts_keyslot_clear(slot);
	for (size_t i = 0; i < sizeof(slot); i++)
		assert_int_equal(slot[i], 0);
	assert_int_equal(tk_open(slot, &kek, got, &len, &id), -ENOENT);
}

static bool tk_contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	return memmem(hay, n, needle, m) != NULL;
}

/* The slot carries neither the key nor the KEK in the clear. */
static void test_no_secrets_in_slot(void **state)
{
	struct vxts_kek kek = tk_kek(VXTS_KEK_PASSPHRASE, "a passphrase nobody may see");
	uint8_t slot[VXTS_KEYSLOT_SIZE], key[64];
	struct vxts_keyslot_info info;

	tk_key(key, 64, 6);
	assert_int_equal(vxts_keyslot_seal(slot, &kek, &tk_tiny, key, 64, 1), 0);
	for (size_t w = 0; w + 8 <= 64; w += 8)
		assert_false(tk_contains(slot, sizeof(slot), key + w, 8));
	assert_false(tk_contains(slot, sizeof(slot), "passphrase", 10));
	assert_int_equal(vxts_keyslot_info(slot, &info), 0);
	assert_int_equal(info.type, VXTS_KEK_PASSPHRASE);
	assert_int_equal(info.key_id, 1);
}

static void test_seal_rejects(void **state)
{
	struct vxts_kek kek = tk_kek(VXTS_KEK_PASSPHRASE, "p");
	struct vxts_kek none = tk_kek(VXTS_KEK_NONE, "p");
	struct vxts_kek empty = { .type = VXTS_KEK_KEYFILE, .secret = (const uint8_t *)"", .len = 0 };
	struct vxts_argon2_params small_m = { 1, 8, 2 };	/* Argon2 needs m >= 8 p */
	struct vxts_argon2_params huge_p = { 1, 4096, 64 };
	uint8_t slot[VXTS_KEYSLOT_SIZE], key[65] = { 1 };

	memset(slot, 0x5a, sizeof(slot));
	assert_int_equal(vxts_keyslot_seal(slot, &kek, &tk_tiny, key, 0, 0), -EINVAL);
	assert_int_equal(vxts_keyslot_seal(slot, &kek, &tk_tiny, key, 65, 0), -EINVAL);
	assert_int_equal(vxts_keyslot_seal(slot, NULL, &tk_tiny, key, 64, 0), -EINVAL);
	assert_int_equal(vxts_keyslot_seal(slot, &none, &tk_tiny, key, 64, 0), -EINVAL);
	assert_int_equal(vxts_keyslot_seal(slot, &empty, &tk_tiny, key, 64, 0), -EINVAL);
	assert_int_equal(vxts_keyslot_seal(slot, &kek, &small_m, key, 64, 0), -EINVAL);
	assert_int_equal(vxts_keyslot_seal(slot, &kek, &huge_p, key, 64, 0), -EINVAL);
	/* A refused seal leaves the slot exactly as it was. */
	for (size_t i = 0; i < sizeof(slot); i++)
		assert_int_equal(slot[i], 0x5a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_hmac_vectors),
		cmocka_unit_test(test_hkdf_vectors),
		cmocka_unit_test(test_ct_equal_random),
		cmocka_unit_test(test_keyfile_round_trip),
		cmocka_unit_test(test_passphrase_round_trip),
		cmocka_unit_test(test_passphrase_defaults),
		cmocka_unit_test(test_seal_is_salted),
		cmocka_unit_test(test_wrong_kek),
		cmocka_unit_test(test_corrupt_keyfile_slot),
		cmocka_unit_test(test_corrupt_passphrase_slot),
		cmocka_unit_test(test_forgeries),
		cmocka_unit_test(test_forged_padding),
		cmocka_unit_test(test_empty_and_clear),
		cmocka_unit_test(test_no_secrets_in_slot),
		cmocka_unit_test(test_seal_rejects),
	};

	return cmocka_run_group_tests_name("keyslot", tests, NULL, NULL);
}
