// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suites for dm-vxts: the table grammar, key strings, tweak arithmetic
 * and AES-256-XTS vectors, all through the very kmod/ sources the target is
 * built from (vxts-parse.c, vxts-crypt.c, dm-vxts.h). tests/kunit/run.sh
 * links them into a KUnit kernel and boots it in QEMU.
 */
#include <kunit/test.h>
#include <linux/bio.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "dm-vxts.h"
#include "vxts_vectors.h"

/* 00 01 .. 3f, the key of the dm-crypt 4096-byte vectors */
#define K "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" \
	  "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
#define KU "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F" \
	   "202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F"
#define HEAD "aes-xts-plain64 " K " 0 /dev/vda 0"

/* ---- helpers ---- */

/* dm splits the table line on whitespace; argv_split does the same here. */
static int vxts_kt_parse(struct kunit *test, const char *line, u64 len,
			 struct vxts_table *t, const char **error)
{
	char **argv;
	int argc, r;

	argv = argv_split(GFP_KERNEL, line, &argc);
	KUNIT_ASSERT_NOT_NULL(test, argv);
	*error = NULL;
	r = vxts_parse_table(t, argc, argv, len, error);
	argv_free(argv);
	/* t's strings pointed into argv; keep nobody from reading them. */
	t->key_arg = NULL;
	t->dev_path = NULL;
	t->key.desc = NULL;
	return r;
}

static void vxts_kt_free_page(void *page)
{
	__free_page(page);
}

static struct page *vxts_kt_page(struct kunit *test)
{
	struct page *page = alloc_page(GFP_KERNEL | __GFP_ZERO);

	KUNIT_ASSERT_NOT_NULL(test, page);
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test,
				vxts_kt_free_page, page));
	return page;
}

static void vxts_kt_crypt_exit(void *c)
{
	vxts_crypt_exit(c);
}

/* A keyed cipher plus one request, as the target sets them up per bio. */
static struct vxts_crypt *vxts_kt_crypt(struct kunit *test, unsigned int unit,
					bool large, u64 iv_offset, const u8 *key,
					struct vxts_creq *cr)
{
	struct vxts_crypt *c = kunit_kzalloc(test, sizeof(*c), GFP_KERNEL);
	void *req;

	KUNIT_ASSERT_NOT_NULL(test, c);
	KUNIT_ASSERT_EQ(test, 0, vxts_crypt_init(c, unit, large, iv_offset));
	KUNIT_ASSERT_EQ(test, 0, kunit_add_action_or_reset(test,
				vxts_kt_crypt_exit, c));
	KUNIT_ASSERT_EQ(test, 0, vxts_crypt_setkey(c, key));
	req = kunit_kzalloc(test, vxts_crypt_req_size(c), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, req);
	vxts_creq_init(c, cr, req);
	kunit_info(test, "xts(aes) driver: %s\n", vxts_crypt_driver(c));
	return c;
}

/* ---- suite vxts_parse: the table line ---- */

#define CONV_ERR "Invalid convert (want convert:<encrypt|decrypt|reencrypt>:<boundary>)"
#define OLDKEY_ERR "Invalid old_key (want 128 hex digits or :64:<logon|user>:<desc>)"

struct vxts_kt_bad {
	const char *line;
	u64 len;
	const char *error;
};

static const struct vxts_kt_bad vxts_kt_bad_lines[] = {
	{ "", 8, "Not enough arguments" },
	{ "aes-xts-plain64 " K " 0 /dev/vda", 8, "Not enough arguments" },
	{ "aes-cbc-essiv:sha256 " K " 0 /dev/vda 0", 8,
	  "Unsupported cipher (only aes-xts-plain64)" },
	{ "AES-XTS-PLAIN64 " K " 0 /dev/vda 0", 8,
	  "Unsupported cipher (only aes-xts-plain64)" },
	{ "aes-xts-plain " K " 0 /dev/vda 0", 8,
	  "Unsupported cipher (only aes-xts-plain64)" },
	{ "aes-xts-plain64 " K "0 0 /dev/vda 0", 8,
	  "Invalid key (want 128 hex digits or :64:<logon|user>:<desc>)" },
	{ "aes-xts-plain64 0" K " 0 /dev/vda 0", 8,
	  "Invalid key (want 128 hex digits or :64:<logon|user>:<desc>)" },
	{ "aes-xts-plain64 00 0 /dev/vda 0", 8,
	  "Invalid key (want 128 hex digits or :64:<logon|user>:<desc>)" },
	{ "aes-xts-plain64 g1" K " 0 /dev/vda 0", 8,
	  "Invalid key (want 128 hex digits or :64:<logon|user>:<desc>)" },
	{ "aes-xts-plain64 :32:logon:vxts 0 /dev/vda 0", 8,
	  "Invalid key size (AES-256-XTS needs 64 bytes)" },
	{ "aes-xts-plain64 :064:logon:vxts 0 /dev/vda 0", 8,
	  "Invalid key size (AES-256-XTS needs 64 bytes)" },
	{ "aes-xts-plain64 :x4:logon:vxts 0 /dev/vda 0", 8,
	  "Invalid key size (AES-256-XTS needs 64 bytes)" },
	{ "aes-xts-plain64 ::logon:vxts 0 /dev/vda 0", 8,
	  "Invalid key reference (want :64:<logon|user>:<desc>)" },
	{ "aes-xts-plain64 :64 0 /dev/vda 0", 8,
	  "Invalid key reference (want :64:<logon|user>:<desc>)" },
	{ "aes-xts-plain64 :64:trusted:vxts 0 /dev/vda 0", 8,
	  "Invalid key type (want logon or user)" },
	{ "aes-xts-plain64 :64:logon 0 /dev/vda 0", 8,
	  "Invalid key type (want logon or user)" },
	{ "aes-xts-plain64 :64:logon: 0 /dev/vda 0", 8,
	  "Invalid key description" },
	{ "aes-xts-plain64 " K " -1 /dev/vda 0", 8, "Invalid iv_offset" },
	{ "aes-xts-plain64 " K " +1 /dev/vda 0", 8, "Invalid iv_offset" },
	{ "aes-xts-plain64 " K " 1x /dev/vda 0", 8, "Invalid iv_offset" },
	{ "aes-xts-plain64 " K " 08 /dev/vda 0", 8, "Invalid iv_offset" },
	{ "aes-xts-plain64 " K " 18446744073709551616 /dev/vda 0", 8,
	  "Invalid iv_offset" },
	{ "aes-xts-plain64 " K " 0 /dev/vda 0x10", 8, "Invalid device offset" },
	{ "aes-xts-plain64 " K " 0 /dev/vda 2048s", 8, "Invalid device offset" },
	{ HEAD " x allow_discards", 8, "Invalid number of optional parameters" },
	{ HEAD " -1", 8, "Invalid number of optional parameters" },
	{ HEAD " 6 a b c d e f", 8, "Invalid number of optional parameters" },
	{ HEAD " 4 a b c d", 8, "Unknown optional parameter" },
	{ HEAD " 1", 8, "Optional parameter count does not match arguments" },
	{ HEAD " 2 allow_discards", 8,
	  "Optional parameter count does not match arguments" },
	{ HEAD " 1 allow_discards iv_large_sectors", 8,
	  "Optional parameter count does not match arguments" },
	{ HEAD " 0 allow_discards", 8,
	  "Optional parameter count does not match arguments" },
	{ HEAD " 1 no_read_workqueue", 8, "Unknown optional parameter" },
	{ HEAD " 1 Allow_Discards", 8, "Unknown optional parameter" },
	{ HEAD " 1 sector_size", 8, "Unknown optional parameter" },
	{ HEAD " 2 allow_discards allow_discards", 8,
	  "Duplicate optional parameter" },
	{ HEAD " 2 sector_size:4096 sector_size:512", 8,
	  "Duplicate optional parameter" },
	{ HEAD " 1 sector_size:1024", 8, "Invalid sector_size (512 or 4096)" },
	{ HEAD " 1 sector_size:4096x", 8, "Invalid sector_size (512 or 4096)" },
	{ HEAD " 1 sector_size:", 8, "Invalid sector_size (512 or 4096)" },
	{ HEAD " 1 sector_size:04096", 8, "Invalid sector_size (512 or 4096)" },
	{ HEAD " 1 sector_size:4096", 12,
	  "Target length is not a multiple of sector_size" },
	{ "aes-xts-plain64 " K " 4 /dev/vda 0 1 sector_size:4096", 8,
	  "iv_offset is not a multiple of sector_size" },
	{ "aes-xts-plain64 " K " 18446744073709551615 /dev/vda 0", 8,
	  "Offset too large for target length" },
	{ "aes-xts-plain64 " K " 0 /dev/vda 18446744073709551608", 16,
	  "Offset too large for target length" },
	/* convert: and old_key: */
	{ HEAD " 1 convert:encrypt", 8, CONV_ERR },
	{ HEAD " 1 convert:encrypt:", 8, CONV_ERR },
	{ HEAD " 1 convert:", 8, CONV_ERR },
	{ HEAD " 1 convert:Encrypt:0", 8, CONV_ERR },
	{ HEAD " 1 convert:rekey:0", 8, CONV_ERR },
	{ HEAD " 1 convert:encrypt:08", 8, CONV_ERR },
	{ HEAD " 1 convert:encrypt:-8", 8, CONV_ERR },
	{ HEAD " 1 convert:encrypt:8x", 8, CONV_ERR },
	{ HEAD " 1 convert:encrypt:8:8", 8, CONV_ERR },
	{ HEAD " 1 convert:encryptx:0", 8, CONV_ERR },
	{ HEAD " 1 convert:encrypt:18446744073709551616", 8, CONV_ERR },
	{ HEAD " 2 convert:encrypt:0 convert:decrypt:0", 8,
	  "Duplicate optional parameter" },
	{ HEAD " 1 convert:encrypt:16", 8,
	  "Conversion boundary beyond target length" },
	{ HEAD " 2 sector_size:4096 convert:decrypt:4", 16,
	  "Conversion boundary is not a multiple of sector_size" },
	{ HEAD " 1 convert:reencrypt:0", 8, "convert:reencrypt needs old_key" },
	{ HEAD " 1 old_key:" K, 8, "old_key needs convert:reencrypt" },
	{ HEAD " 2 old_key:" K " convert:encrypt:0", 8,
	  "old_key needs convert:reencrypt" },
	{ HEAD " 2 convert:reencrypt:0 old_key:", 8, OLDKEY_ERR },
	{ HEAD " 2 convert:reencrypt:0 old_key:00", 8, OLDKEY_ERR },
	{ HEAD " 2 convert:reencrypt:0 old_key::32:logon:x", 8, OLDKEY_ERR },
	{ HEAD " 2 convert:reencrypt:0 old_key::64:trusted:x", 8, OLDKEY_ERR },
	{ HEAD " 3 convert:reencrypt:0 old_key:" K " old_key:" K, 8,
	  "Duplicate optional parameter" },
};

static void vxts_parse_bad_lines(struct kunit *test)
{
	const struct vxts_kt_bad *b;
	struct vxts_table t;
	const char *error;
	unsigned int i;
	int r;

	for (i = 0; i < ARRAY_SIZE(vxts_kt_bad_lines); i++) {
		b = &vxts_kt_bad_lines[i];
		r = vxts_kt_parse(test, b->line, b->len, &t, &error);
		KUNIT_EXPECT_EQ_MSG(test, r, -EINVAL, "line %u: %s", i, b->line);
		KUNIT_EXPECT_NOT_NULL_MSG(test, error, "line %u", i);
		if (error)
			KUNIT_EXPECT_STREQ_MSG(test, error, b->error,
					       "line %u: %s", i, b->line);
	}
	KUNIT_EXPECT_GE(test, ARRAY_SIZE(vxts_kt_bad_lines), 20UL);
}

static void vxts_parse_minimal(struct kunit *test)
{
	struct vxts_table t;
	const char *error;

	KUNIT_ASSERT_EQ(test, 0, vxts_kt_parse(test, HEAD, 8, &t, &error));
	KUNIT_EXPECT_EQ(test, t.unit_size, 512U);
	KUNIT_EXPECT_EQ(test, t.iv_offset, 0ULL);
	KUNIT_EXPECT_EQ(test, t.dev_offset, 0ULL);
	KUNIT_EXPECT_FALSE(test, t.opt_params_given);
	KUNIT_EXPECT_FALSE(test, t.allow_discards);
	KUNIT_EXPECT_FALSE(test, t.iv_large_sectors);
	KUNIT_EXPECT_EQ(test, t.key.kind, VXTS_KEY_HEX);
	/* odd lengths are fine with 512-byte units */
	KUNIT_EXPECT_EQ(test, 0, vxts_kt_parse(test, HEAD, 7, &t, &error));
}

static void vxts_parse_all_options(struct kunit *test)
{
	struct vxts_table t;
	const char *error;

	KUNIT_ASSERT_EQ(test, 0, vxts_kt_parse(test,
		"aes-xts-plain64 " KU " 2048 253:1 16 3 iv_large_sectors sector_size:4096 allow_discards",
		4096, &t, &error));
	KUNIT_EXPECT_EQ(test, t.unit_size, 4096U);
	KUNIT_EXPECT_EQ(test, t.iv_offset, 2048ULL);
	KUNIT_EXPECT_EQ(test, t.dev_offset, 16ULL);
	KUNIT_EXPECT_TRUE(test, t.allow_discards);
	KUNIT_EXPECT_TRUE(test, t.iv_large_sectors);
	KUNIT_EXPECT_TRUE(test, t.opt_params_given);
	/* the order given is the order re-emitted by STATUSTYPE_TABLE */
	KUNIT_ASSERT_EQ(test, t.nr_opts, 3U);
	KUNIT_EXPECT_EQ(test, t.opts[0], VXTS_OPT_IV_LARGE_SECTORS);
	KUNIT_EXPECT_EQ(test, t.opts[1], VXTS_OPT_SECTOR_SIZE);
	KUNIT_EXPECT_EQ(test, t.opts[2], VXTS_OPT_ALLOW_DISCARDS);
}

static void vxts_parse_option_edges(struct kunit *test)
{
	struct vxts_table t;
	const char *error;

	/* "0" optional parameters is accepted and remembered */
	KUNIT_ASSERT_EQ(test, 0, vxts_kt_parse(test, HEAD " 0", 8, &t, &error));
	KUNIT_EXPECT_TRUE(test, t.opt_params_given);
	KUNIT_EXPECT_EQ(test, t.nr_opts, 0U);
	/* explicit default */
	KUNIT_ASSERT_EQ(test, 0, vxts_kt_parse(test, HEAD " 1 sector_size:512",
					       8, &t, &error));
	KUNIT_EXPECT_EQ(test, t.unit_size, 512U);
	KUNIT_EXPECT_EQ(test, t.nr_opts, 1U);
	/* largest offsets that still leave room for the target length */
	KUNIT_EXPECT_EQ(test, 0, vxts_kt_parse(test,
		"aes-xts-plain64 " K " 18446744073709551607 /dev/vda 18446744073709551607",
		8, &t, &error));
	KUNIT_EXPECT_EQ(test, t.iv_offset, 18446744073709551607ULL);
	/* the device offset is no part of the tweak: any offset, as dm-crypt */
	KUNIT_ASSERT_EQ(test, 0, vxts_kt_parse(test,
		"aes-xts-plain64 " K " 0 /dev/vda 1 1 sector_size:4096",
		8, &t, &error));
	KUNIT_EXPECT_EQ(test, t.dev_offset, 1ULL);
	KUNIT_EXPECT_EQ(test, t.unit_size, 4096U);
}

static void vxts_parse_keyring_refs(struct kunit *test)
{
	struct vxts_table t;
	const char *error;
	char **argv;
	int argc;

	argv = argv_split(GFP_KERNEL,
			  "aes-xts-plain64 :64:logon:vxts:disk-1 0 /dev/vda 0", &argc);
	KUNIT_ASSERT_NOT_NULL(test, argv);
	KUNIT_EXPECT_EQ(test, 0, vxts_parse_table(&t, argc, argv, 8, &error));
	KUNIT_EXPECT_EQ(test, t.key.kind, VXTS_KEY_LOGON);
	/* the description may itself contain colons */
	KUNIT_EXPECT_STREQ(test, t.key.desc, "vxts:disk-1");
	KUNIT_EXPECT_STREQ(test, t.key_arg, ":64:logon:vxts:disk-1");
	argv_free(argv);

	KUNIT_ASSERT_EQ(test, 0, vxts_kt_parse(test,
		"aes-xts-plain64 :64:user:k 0 /dev/vda 0", 8, &t, &error));
	KUNIT_EXPECT_EQ(test, t.key.kind, VXTS_KEY_USER);
}

static void vxts_parse_numbers(struct kunit *test)
{
	static const struct {
		const char *s;
		int r;
		u64 v;
	} cases[] = {
		{ "0", 0, 0 },
		{ "1", 0, 1 },
		{ "4096", 0, 4096 },
		{ "18446744073709551615", 0, U64_MAX },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "00", -EINVAL, 0 },
		{ "01", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "1\n", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ "-0", -EINVAL, 0 },
		{ "0x1", -EINVAL, 0 },
	};
	unsigned int i;
	u64 v;
	u32 v32;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		v = 12345;
		KUNIT_EXPECT_EQ_MSG(test, vxts_parse_u64(cases[i].s, &v), cases[i].r,
				    "\"%s\"", cases[i].s);
		if (!cases[i].r)
			KUNIT_EXPECT_EQ_MSG(test, v, cases[i].v, "\"%s\"", cases[i].s);
	}
	KUNIT_EXPECT_EQ(test, vxts_parse_u32("4294967295", &v32), 0);
	KUNIT_EXPECT_EQ(test, v32, U32_MAX);
	KUNIT_EXPECT_EQ(test, vxts_parse_u32("4294967296", &v32), -ERANGE);
}

static void vxts_parse_convert(struct kunit *test)
{
	static const struct {
		const char *opts;
		enum vxts_dir dir;
		u64 boundary;
	} good[] = {
		{ " 1 convert:encrypt:0", VXTS_DIR_ENCRYPT, 0 },
		{ " 1 convert:decrypt:4096", VXTS_DIR_DECRYPT, 4096 },
		{ " 1 convert:encrypt:8", VXTS_DIR_ENCRYPT, 8 },
		{ " 2 sector_size:4096 convert:encrypt:4096", VXTS_DIR_ENCRYPT, 4096 },
		{ " 2 convert:reencrypt:16 old_key:" KU, VXTS_DIR_REENCRYPT, 16 },
		{ " 2 old_key::64:logon:vxts:u:1 convert:reencrypt:0",
		  VXTS_DIR_REENCRYPT, 0 },
	};
	struct vxts_table t;
	const char *error;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		char line[400];

		snprintf(line, sizeof(line), HEAD "%s", good[i].opts);
		KUNIT_ASSERT_EQ_MSG(test, 0, vxts_kt_parse(test, line, 4096, &t,
							   &error), "%s", line);
		KUNIT_EXPECT_EQ_MSG(test, t.dir, good[i].dir, "%s", line);
		KUNIT_EXPECT_EQ_MSG(test, t.boundary, good[i].boundary, "%s", line);
	}
	/* all five options, each once, in the order given */
	KUNIT_ASSERT_EQ(test, 0, vxts_kt_parse(test, HEAD
		" 5 old_key::64:user:o iv_large_sectors convert:reencrypt:4096 allow_discards sector_size:4096",
		4096, &t, &error));
	KUNIT_EXPECT_EQ(test, t.nr_opts, 5U);
	KUNIT_EXPECT_EQ(test, t.opts[0], VXTS_OPT_OLD_KEY);
	KUNIT_EXPECT_EQ(test, t.opts[2], VXTS_OPT_CONVERT);
	KUNIT_EXPECT_EQ(test, t.old_key.kind, VXTS_KEY_USER);
	/* without convert: a target is fully encrypted */
	KUNIT_ASSERT_EQ(test, 0, vxts_kt_parse(test, HEAD, 8, &t, &error));
	KUNIT_EXPECT_EQ(test, t.dir, VXTS_DIR_NONE);
	KUNIT_EXPECT_STREQ(test, vxts_parse_dir_name(VXTS_DIR_REENCRYPT), "reencrypt");
	/* boundary == len is the finished state */
	KUNIT_EXPECT_EQ(test, 0, vxts_kt_parse(test, HEAD " 1 convert:decrypt:8",
					       8, &t, &error));
}

static int vxts_kt_msg(struct kunit *test, const char *line, struct vxts_msg *m)
{
	char **argv;
	int argc, r;

	argv = argv_split(GFP_KERNEL, line, &argc);
	KUNIT_ASSERT_NOT_NULL(test, argv);
	r = vxts_parse_message(argc, argv, m);
	argv_free(argv);
	return r;
}

static void vxts_parse_messages(struct kunit *test)
{
	static const char * const bad[] = {
		"", "hold", "hold 0", "hold 0 8 16", "hold x 8", "hold 0 8x",
		"hold 00 8", "hold 0 -8", "hold +0 8", "hold 0 18446744073709551616",
		"HOLD 0 8", "hold	0", "advance", "advance 8 16", "advance 08",
		"advance -1", "release 0", "Release", "releases", "hold0 8",
		"status", "advance 0x8",
	};
	struct vxts_msg m;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		KUNIT_EXPECT_EQ_MSG(test, vxts_kt_msg(test, bad[i], &m), -EINVAL,
				    "\"%s\"", bad[i]);
	KUNIT_ASSERT_EQ(test, 0, vxts_kt_msg(test, "hold 0 2048", &m));
	KUNIT_EXPECT_EQ(test, m.verb, VXTS_MSG_HOLD);
	KUNIT_EXPECT_EQ(test, m.lo, 0ULL);
	KUNIT_EXPECT_EQ(test, m.hi, 2048ULL);
	KUNIT_ASSERT_EQ(test, 0, vxts_kt_msg(test, "advance 18446744073709551615", &m));
	KUNIT_EXPECT_EQ(test, m.verb, VXTS_MSG_ADVANCE);
	KUNIT_EXPECT_EQ(test, m.hi, U64_MAX);
	KUNIT_ASSERT_EQ(test, 0, vxts_kt_msg(test, "release", &m));
	KUNIT_EXPECT_EQ(test, m.verb, VXTS_MSG_RELEASE);
}

static struct kunit_case vxts_parse_cases[] = {
	KUNIT_CASE(vxts_parse_bad_lines),
	KUNIT_CASE(vxts_parse_minimal),
	KUNIT_CASE(vxts_parse_all_options),
	KUNIT_CASE(vxts_parse_option_edges),
	KUNIT_CASE(vxts_parse_keyring_refs),
	KUNIT_CASE(vxts_parse_numbers),
	KUNIT_CASE(vxts_parse_convert),
	KUNIT_CASE(vxts_parse_messages),
	{}
};

static struct kunit_suite vxts_parse_suite = {
	.name = "vxts_parse",
	.test_cases = vxts_parse_cases,
};

/* ---- suite vxts_key: key strings ---- */

static void vxts_key_hex_decode(struct kunit *test)
{
	u8 key[VXTS_KEY_SIZE], want[VXTS_KEY_SIZE];
	char bad[] = K;
	unsigned int i;

	for (i = 0; i < VXTS_KEY_SIZE; i++)
		want[i] = i;
	KUNIT_ASSERT_EQ(test, 0, vxts_parse_hex_key(K, key));
	KUNIT_EXPECT_MEMEQ(test, key, want, VXTS_KEY_SIZE);
	memset(key, 0, sizeof(key));
	KUNIT_ASSERT_EQ(test, 0, vxts_parse_hex_key(KU, key));
	KUNIT_EXPECT_MEMEQ(test, key, want, VXTS_KEY_SIZE);
	KUNIT_EXPECT_NE(test, 0, vxts_parse_hex_key(K "00", key));
	KUNIT_EXPECT_NE(test, 0, vxts_parse_hex_key("0011", key));
	bad[77] = 'g';
	KUNIT_EXPECT_NE(test, 0, vxts_parse_hex_key(bad, key));
}

static void vxts_key_specs(struct kunit *test)
{
	static const struct {
		const char *arg;
		int r;
		enum vxts_key_kind kind;
		const char *desc;
	} cases[] = {
		{ K, 0, VXTS_KEY_HEX, NULL },
		{ KU, 0, VXTS_KEY_HEX, NULL },
		{ ":64:logon:vxts", 0, VXTS_KEY_LOGON, "vxts" },
		{ ":64:user:a", 0, VXTS_KEY_USER, "a" },
		{ ":64:logon:cryptsetup:1:x", 0, VXTS_KEY_LOGON, "cryptsetup:1:x" },
		{ "", -EINVAL },
		{ "-", -EINVAL },
		{ K "0", -EINVAL },
		{ K + 2, -EINVAL },	/* 126 digits: a 63-byte key */
		{ ":", -EINVAL },
		{ ":64:", -EINVAL },
		{ ":32:logon:x", -EINVAL },
		{ ":128:logon:x", -EINVAL },
		{ ":65:user:x", -EINVAL },
		{ ":6400:user:x", -EINVAL },
		{ ":64:LOGON:x", -EINVAL },
		{ ":64:encrypted:x", -EINVAL },
		{ ":64:user:", -EINVAL },
		{ ":64:user:a\tb", -EINVAL },
		{ "64:logon:x", -EINVAL },
	};
	struct vxts_key_spec spec;
	const char *error;
	unsigned int i;
	int r;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		error = NULL;
		r = vxts_parse_key_spec(cases[i].arg, &spec, &error);
		KUNIT_EXPECT_EQ_MSG(test, r, cases[i].r, "\"%s\"", cases[i].arg);
		if (r) {
			KUNIT_EXPECT_NOT_NULL_MSG(test, error, "\"%s\"", cases[i].arg);
			continue;
		}
		KUNIT_EXPECT_EQ_MSG(test, spec.kind, cases[i].kind, "\"%s\"",
				    cases[i].arg);
		if (cases[i].desc)
			KUNIT_EXPECT_STREQ(test, spec.desc, cases[i].desc);
	}
}

static void vxts_key_desc_length(struct kunit *test)
{
	size_t len = 10 + VXTS_KEY_DESC_MAX + 1;
	char *arg = kunit_kzalloc(test, len + 1, GFP_KERNEL);
	struct vxts_key_spec spec;
	const char *error;

	KUNIT_ASSERT_NOT_NULL(test, arg);
	strcpy(arg, ":64:logon:");
	memset(arg + 10, 'd', VXTS_KEY_DESC_MAX);
	KUNIT_EXPECT_EQ(test, 0, vxts_parse_key_spec(arg, &spec, &error));
	arg[10 + VXTS_KEY_DESC_MAX] = 'd';
	KUNIT_EXPECT_EQ(test, -EINVAL, vxts_parse_key_spec(arg, &spec, &error));
}

static struct kunit_case vxts_key_cases[] = {
	KUNIT_CASE(vxts_key_hex_decode),
	KUNIT_CASE(vxts_key_specs),
	KUNIT_CASE(vxts_key_desc_length),
	{}
};

static struct kunit_suite vxts_key_suite = {
	.name = "vxts_key",
	.test_cases = vxts_key_cases,
};

/* ---- suite vxts_tweak: sector and tweak arithmetic ---- */

static void vxts_tweak_values(struct kunit *test)
{
	static const struct {
		u64 rel, iv_offset;
		unsigned int shift;
		bool large;
		u64 tweak;
	} cases[] = {
		/* 512-byte units: the sector number, plus iv_offset */
		{ 0, 0, 0, false, 0 },
		{ 7, 0, 0, false, 7 },
		{ 7, 100, 0, false, 107 },
		{ 7, 100, 0, true, 107 },	/* large sectors change nothing at 512 */
		/* 4096-byte units, plain64: still the 512-byte sector number */
		{ 8, 0, 3, false, 8 },
		{ 24, 2048, 3, false, 2072 },
		/* iv_large_sectors: counted in units, iv_offset in sectors first */
		{ 8, 0, 3, true, 1 },
		{ 24, 2048, 3, true, 259 },
		{ 1ULL << 40, 0, 3, true, 1ULL << 37 },
		{ U64_MAX - 7, 0, 3, true, (U64_MAX - 7) >> 3 },
		{ U64_MAX - 8, 1, 0, false, U64_MAX - 7 },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		KUNIT_EXPECT_EQ_MSG(test, vxts_tweak_of(cases[i].rel,
					cases[i].iv_offset, cases[i].shift,
					cases[i].large),
				    cases[i].tweak, "case %u", i);
}

static void vxts_tweak_bytes(struct kunit *test)
{
	static const u8 want[VXTS_IV_SIZE] = {
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
	};
	u8 iv[VXTS_IV_SIZE];

	memset(iv, 0xaa, sizeof(iv));
	vxts_tweak_fill(iv, 0x0102030405060708ULL);
	KUNIT_EXPECT_MEMEQ(test, iv, want, VXTS_IV_SIZE);
	vxts_tweak_fill(iv, 0xff);
	KUNIT_EXPECT_EQ(test, iv[0], 0xff);
	KUNIT_EXPECT_EQ(test, iv[1], 0x00);
	KUNIT_EXPECT_EQ(test, iv[15], 0x00);
}

static void vxts_tweak_unit_geometry(struct kunit *test)
{
	struct vxts_crypt c = { .unit_size = 4096, .unit_shift = 3 };

	KUNIT_EXPECT_EQ(test, vxts_unit_sectors(&c), 8U);
	c.unit_size = 512;
	c.unit_shift = 0;
	KUNIT_EXPECT_EQ(test, vxts_unit_sectors(&c), 1U);
	KUNIT_EXPECT_EQ(test, (unsigned int)VXTS_MAX_WRITE_SECTORS,
			BIO_MAX_VECS * (unsigned int)(PAGE_SIZE >> SECTOR_SHIFT));
}

/* What the IO path refuses: misplaced or partial units. */
static void vxts_tweak_bio_alignment(struct kunit *test)
{
	struct vxts_crypt c = { .unit_size = 4096, .unit_shift = 3 };
	struct page *p0 = vxts_kt_page(test), *p1 = vxts_kt_page(test);
	struct bio_vec bvecs[2];
	struct bio bio;

	bio_init(&bio, NULL, bvecs, 2, REQ_OP_WRITE);
	__bio_add_page(&bio, p0, PAGE_SIZE, 0);
	KUNIT_EXPECT_TRUE(test, vxts_crypt_bio_aligned(&c, &bio, 16));
	KUNIT_EXPECT_FALSE(test, vxts_crypt_bio_aligned(&c, &bio, 17));
	KUNIT_EXPECT_FALSE(test, vxts_crypt_bio_aligned(&c, &bio, 4));

	/* 4096 bytes, but in two 2048-byte pieces: no unit fits one page */
	bio_init(&bio, NULL, bvecs, 2, REQ_OP_WRITE);
	__bio_add_page(&bio, p0, 2048, 0);
	__bio_add_page(&bio, p1, 2048, 0);
	KUNIT_EXPECT_FALSE(test, vxts_crypt_bio_aligned(&c, &bio, 0));

	/* the same bio is fine with 512-byte units */
	c.unit_size = 512;
	c.unit_shift = 0;
	KUNIT_EXPECT_TRUE(test, vxts_crypt_bio_aligned(&c, &bio, 3));

	bio_init(&bio, NULL, bvecs, 2, REQ_OP_WRITE);
	__bio_add_page(&bio, p0, 1000, 0);
	KUNIT_EXPECT_FALSE(test, vxts_crypt_bio_aligned(&c, &bio, 0));
}

static struct kunit_case vxts_tweak_cases[] = {
	KUNIT_CASE(vxts_tweak_values),
	KUNIT_CASE(vxts_tweak_bytes),
	KUNIT_CASE(vxts_tweak_unit_geometry),
	KUNIT_CASE(vxts_tweak_bio_alignment),
	{}
};

static struct kunit_suite vxts_tweak_suite = {
	.name = "vxts_tweak",
	.test_cases = vxts_tweak_cases,
};

/* ---- suite vxts_xts: vectors through the target's crypto helpers ---- */

static const struct {
	unsigned int n;
	u64 dusn;
	const u8 *ctx;
} vxts_kt_ieee[] = {
	{ 10, 0xff, vxts_v_ieee10_ctx },
	{ 11, 0xffff, vxts_v_ieee11_ctx },
	{ 12, 0xffffff, vxts_v_ieee12_ctx },
	{ 13, 0xffffffff, vxts_v_ieee13_ctx },
	{ 14, 0xffffffffffULL, vxts_v_ieee14_ctx },
};

static void vxts_kt_ieee_ptx(u8 *buf)
{
	unsigned int i;

	for (i = 0; i < 512; i++)
		buf[i] = i & 0xff;
}

/* IEEE 1619 vectors 10-14, each one unit: rel_sector is the DUSN. */
static void vxts_xts_ieee_vectors(struct kunit *test)
{
	struct page *pt = vxts_kt_page(test), *ct = vxts_kt_page(test);
	u8 *ptx = page_address(pt), *ctx = page_address(ct);
	struct vxts_creq cr;
	struct vxts_crypt *c;
	unsigned int i;

	c = vxts_kt_crypt(test, 512, false, 0, vxts_v_ieee_key, &cr);
	for (i = 0; i < ARRAY_SIZE(vxts_kt_ieee); i++) {
		vxts_kt_ieee_ptx(ptx);
		KUNIT_ASSERT_EQ(test, 0, vxts_crypt_unit(c, &cr, pt, 0, ct, 0,
						     vxts_kt_ieee[i].dusn, true));
		KUNIT_EXPECT_MEMEQ_MSG(test, ctx, vxts_kt_ieee[i].ctx, 512,
				       "vector %u encrypt", vxts_kt_ieee[i].n);
		/* in place, the way reads are decrypted */
		KUNIT_ASSERT_EQ(test, 0, vxts_crypt_unit(c, &cr, ct, 0, ct, 0,
						     vxts_kt_ieee[i].dusn, false));
		KUNIT_EXPECT_MEMEQ_MSG(test, ctx, ptx, 512, "vector %u decrypt",
				       vxts_kt_ieee[i].n);
	}
}

/* The same vector reached through iv_offset instead of the sector. */
static void vxts_xts_ieee_iv_offset(struct kunit *test)
{
	struct page *pt = vxts_kt_page(test), *ct = vxts_kt_page(test);
	struct vxts_creq cr;
	struct vxts_crypt *c;

	c = vxts_kt_crypt(test, 512, false, 0xf0, vxts_v_ieee_key, &cr);
	vxts_kt_ieee_ptx(page_address(pt));
	KUNIT_ASSERT_EQ(test, 0, vxts_crypt_unit(c, &cr, pt, 0, ct, 0, 0x0f, true));
	KUNIT_EXPECT_MEMEQ(test, page_address(ct), vxts_v_ieee10_ctx, 512);
}

/*
 * A whole-bio walk: 8 units of 512 bytes starting at rel_sector 0xf8, so the
 * last unit's tweak is 0xff and must produce IEEE vector 10, and each unit i
 * must equal a single-unit call with tweak 0xf8 + i.
 */
static void vxts_xts_bio_walk(struct kunit *test)
{
	struct page *src = vxts_kt_page(test), *dst = vxts_kt_page(test);
	struct page *one = vxts_kt_page(test);
	u8 *s = page_address(src), *d = page_address(dst);
	struct bio_vec in_vecs[8], out_vecs[1];
	struct bio in, out;
	struct vxts_creq cr;
	struct vxts_crypt *c;
	unsigned int i;

	c = vxts_kt_crypt(test, 512, false, 0, vxts_v_ieee_key, &cr);
	for (i = 0; i < PAGE_SIZE; i++)
		s[i] = (i * 13 + 5) & 0xff;
	vxts_kt_ieee_ptx(s + 7 * 512);
	/* caller's layout: 8 single-unit segments; bounce layout: one page */
	bio_init(&in, NULL, in_vecs, 8, REQ_OP_WRITE);
	for (i = 0; i < 8; i++)
		__bio_add_page(&in, src, 512, i * 512);
	bio_init(&out, NULL, out_vecs, 1, REQ_OP_WRITE);
	__bio_add_page(&out, dst, PAGE_SIZE, 0);
	KUNIT_ASSERT_EQ(test, 0, vxts_crypt_bio(c, &cr, &in, in.bi_iter, &out,
					       0xf8, true));
	KUNIT_EXPECT_MEMEQ(test, d + 7 * 512, vxts_v_ieee10_ctx, 512);
	for (i = 0; i < 7; i++) {
		KUNIT_ASSERT_EQ(test, 0, vxts_crypt_unit(c, &cr, src, i * 512,
						     one, 0, 0xf8 + i, true));
		KUNIT_EXPECT_MEMEQ_MSG(test, d + i * 512, page_address(one), 512,
				       "unit %u", i);
	}
	/* in-place decryption of the ciphertext bio restores the plaintext */
	KUNIT_ASSERT_EQ(test, 0, vxts_crypt_bio(c, &cr, &out, out.bi_iter, NULL,
					       0xf8, false));
	KUNIT_EXPECT_MEMEQ(test, d, s, PAGE_SIZE);
}

/*
 * dm-crypt with sector_size:4096 writes the unit at target sector 8 with
 * tweak 8 (plain64 counts 512-byte sectors) or, with iv_large_sectors,
 * tweak 1. Expected bytes from OpenSSL (gen-vectors.py).
 */
static void vxts_xts_dmcrypt_4k(struct kunit *test)
{
	struct page *pt = vxts_kt_page(test), *ct = vxts_kt_page(test);
	u8 *ptx = page_address(pt);
	struct bio_vec in_vec, out_vec;
	struct bio in, out;
	struct vxts_creq cr;
	struct vxts_crypt *c;
	unsigned int i;

	for (i = 0; i < 4096; i++)
		ptx[i] = (i * 7 + 3) & 0xff;
	c = vxts_kt_crypt(test, 4096, false, 0, vxts_v_dmc_key, &cr);
	bio_init(&in, NULL, &in_vec, 1, REQ_OP_WRITE);
	__bio_add_page(&in, pt, 4096, 0);
	bio_init(&out, NULL, &out_vec, 1, REQ_OP_WRITE);
	__bio_add_page(&out, ct, 4096, 0);
	KUNIT_ASSERT_EQ(test, 0, vxts_crypt_bio(c, &cr, &in, in.bi_iter, &out, 8, true));
	KUNIT_EXPECT_MEMEQ(test, page_address(ct), vxts_v_dmc4k_t8_ctx, 4096);

	/* iv_large_sectors, reached via iv_offset 8 from target sector 0 */
	c = vxts_kt_crypt(test, 4096, true, 8, vxts_v_dmc_key, &cr);
	KUNIT_ASSERT_EQ(test, 0, vxts_crypt_bio(c, &cr, &in, in.bi_iter, &out, 0, true));
	KUNIT_EXPECT_MEMEQ(test, page_address(ct), vxts_v_dmc4k_t1_ctx, 4096);
	KUNIT_ASSERT_EQ(test, 0, vxts_crypt_bio(c, &cr, &out, out.bi_iter, NULL, 0, false));
	KUNIT_EXPECT_MEMEQ(test, page_address(ct), ptx, 4096);
}

static void vxts_xts_short_segment(struct kunit *test)
{
	struct page *p = vxts_kt_page(test);
	struct bio_vec vec;
	struct vxts_creq cr;
	struct vxts_crypt *c;
	struct bio bio;

	c = vxts_kt_crypt(test, 4096, false, 0, vxts_v_dmc_key, &cr);
	bio_init(&bio, NULL, &vec, 1, REQ_OP_WRITE);
	__bio_add_page(&bio, p, 2048, 0);
	/* never a partial unit, even if alignment was not checked first */
	KUNIT_EXPECT_EQ(test, -EIO, vxts_crypt_bio(c, &cr, &bio, bio.bi_iter,
						   NULL, 0, true));
}

static struct kunit_case vxts_xts_cases[] = {
	KUNIT_CASE(vxts_xts_ieee_vectors),
	KUNIT_CASE(vxts_xts_ieee_iv_offset),
	KUNIT_CASE(vxts_xts_bio_walk),
	KUNIT_CASE(vxts_xts_dmcrypt_4k),
	KUNIT_CASE(vxts_xts_short_segment),
	{}
};

static struct kunit_suite vxts_xts_suite = {
	.name = "vxts_xts",
	.test_cases = vxts_xts_cases,
};

/* ---- suite vxts_window: boundary, window, messages' state checks ---- */

#define N VXTS_FORM_NEW
#define O VXTS_FORM_OLD
#define H VXTS_FORM_HELD

/* lo == hi: no window. */
struct vxts_kt_class {
	u64 boundary, lo, hi;
	u64 sector;
	unsigned int sectors;
	enum vxts_form form;
	unsigned int n;		/* sectors in that form */
};

static const struct vxts_kt_class vxts_kt_classes[] = {
	/* boundary at 0: everything old */
	{ 0, 0, 0, 0, 8, O, 8 },
	{ 0, 0, 0, 1000, 2048, O, 2048 },
	/* boundary at len (1024): everything new */
	{ 1024, 1024, 1024, 0, 1024, N, 1024 },
	{ 1024, 1024, 1024, 1016, 8, N, 8 },
	/* no window, 512-byte units: cut at the boundary only */
	{ 100, 100, 100, 99, 1, N, 1 },
	{ 100, 100, 100, 99, 2, N, 1 },
	{ 100, 100, 100, 100, 2, O, 2 },
	{ 100, 100, 100, 96, 8, N, 4 },
	/* 4096-byte units, boundary 4096: a bio ending at / crossing it */
	{ 4096, 4096, 4096, 4088, 8, N, 8 },
	{ 4096, 4096, 4096, 4088, 16, N, 8 },
	{ 4096, 4096, 4096, 4096, 16, O, 16 },
	/* window [4096, 6144) held: 0, 1 and 2 edges crossed */
	{ 4096, 4096, 6144, 0, 8, N, 8 },		/* below, no edge */
	{ 4096, 4096, 6144, 4080, 32, N, 16 },		/* boundary = lo */
	{ 4096, 4096, 6144, 4096, 8, H, 8 },		/* inside */
	{ 4096, 4096, 6144, 5000, 1144, H, 1144 },	/* up to hi exactly */
	{ 4096, 4096, 6144, 6136, 16, H, 8 },		/* crosses hi */
	{ 4096, 4096, 6144, 6144, 8, O, 8 },		/* at hi */
	{ 4096, 4096, 6144, 4000, 4000, N, 96 },	/* crosses both */
	{ 4096, 4096, 6144, 4096, 4000, H, 2048 },	/* whole window + more */
	{ 4096, 4096, 6144, 9000, 8, O, 8 },		/* above */
	/* a window above the boundary (classification does not assume lo == boundary) */
	{ 100, 200, 300, 150, 100, O, 50 },
	{ 100, 200, 300, 50, 100, N, 50 },
	{ 100, 200, 300, 250, 100, H, 50 },
	/* window at the very end */
	{ 1016, 1016, 1024, 1008, 16, N, 8 },
	{ 1016, 1016, 1024, 1016, 8, H, 8 },
	/* empty range */
	{ 100, 100, 100, 50, 0, N, 0 },
};

static void vxts_window_classes(struct kunit *test)
{
	unsigned int i, n;

	for (i = 0; i < ARRAY_SIZE(vxts_kt_classes); i++) {
		const struct vxts_kt_class *c = &vxts_kt_classes[i];
		struct vxts_wstate s = { c->boundary, c->lo, c->hi };
		enum vxts_form form = -1;

		n = vxts_window_classify(&s, c->sector, c->sectors, &form);
		KUNIT_EXPECT_EQ_MSG(test, form, c->form, "case %u", i);
		KUNIT_EXPECT_EQ_MSG(test, n, c->n, "case %u", i);
	}
}

/* Walking a range piece by piece covers it exactly, each piece in one form. */
static void vxts_window_walk(struct kunit *test)
{
	struct vxts_wstate s = { 4096, 4096, 6144 };
	u64 sector = 0, end = 8192;
	unsigned int pieces = 0;

	while (sector < end) {
		unsigned int len = min_t(u64, end - sector, 3000);
		enum vxts_form form, f2;
		unsigned int n = vxts_window_classify(&s, sector, len, &form);
		u64 i;

		KUNIT_ASSERT_GT(test, n, 0U);
		for (i = sector; i < sector + n; i += 8) {
			vxts_window_classify(&s, i, 8, &f2);
			KUNIT_EXPECT_EQ_MSG(test, f2, form, "sector %llu", i);
		}
		sector += n;
		pieces++;
	}
	KUNIT_EXPECT_EQ(test, sector, end);
	/* [0,3000) [3000,4096) [4096,6144) [6144,8192) */
	KUNIT_EXPECT_EQ(test, pieces, 4U);
}

struct vxts_kt_check {
	u64 boundary, lo, hi;
	enum vxts_msg_verb verb;
	u64 mlo, mhi;
	int r;
};

static const struct vxts_kt_check vxts_kt_checks[] = {
	/* len 16384, 4096-byte units (8 sectors) */
	{ 0, 0, 0, VXTS_MSG_HOLD, 0, 2048, 0 },
	{ 0, 0, 0, VXTS_MSG_HOLD, 0, 16384, 0 },
	{ 0, 0, 0, VXTS_MSG_HOLD, 8, 2048, -EINVAL },		/* not at the boundary */
	{ 2048, 2048, 2048, VXTS_MSG_HOLD, 0, 2048, -EINVAL },	/* behind it */
	{ 0, 0, 0, VXTS_MSG_HOLD, 0, 0, -EINVAL },		/* empty */
	{ 0, 0, 0, VXTS_MSG_HOLD, 0, 4, -EINVAL },		/* unaligned */
	{ 0, 0, 0, VXTS_MSG_HOLD, 0, 16392, -EINVAL },		/* beyond len */
	{ 16384, 16384, 16384, VXTS_MSG_HOLD, 16384, 16392, -EINVAL },
	{ 0, 0, 0, VXTS_MSG_HOLD, 0, U64_MAX, -EINVAL },
	{ 0, 0, 0, VXTS_MSG_ADVANCE, 0, 2048, -EINVAL },	/* no window */
	{ 0, 0, 0, VXTS_MSG_RELEASE, 0, 0, -EINVAL },		/* no window */
	{ 0, 0, 2048, VXTS_MSG_HOLD, 0, 2048, 1 },		/* idempotent */
	{ 0, 0, 2048, VXTS_MSG_HOLD, 0, 4096, -EINVAL },	/* another window */
	{ 0, 0, 2048, VXTS_MSG_HOLD, 2048, 4096, -EINVAL },
	{ 0, 0, 2048, VXTS_MSG_ADVANCE, 0, 2048, 0 },
	{ 0, 0, 2048, VXTS_MSG_ADVANCE, 0, 4096, -EINVAL },	/* wrong hi */
	{ 0, 0, 2048, VXTS_MSG_ADVANCE, 0, 0, -EINVAL },
	{ 0, 0, 2048, VXTS_MSG_RELEASE, 0, 0, 0 },
};

static void vxts_window_checks(struct kunit *test)
{
	struct vxts_wstate big = { 0, 0, 0 };
	struct vxts_msg m = { VXTS_MSG_HOLD, 0, 0 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(vxts_kt_checks); i++) {
		const struct vxts_kt_check *c = &vxts_kt_checks[i];
		struct vxts_wstate s = { c->boundary, c->lo, c->hi };

		m.verb = c->verb;
		m.lo = c->mlo;
		m.hi = c->mhi;
		KUNIT_EXPECT_EQ_MSG(test, vxts_window_check(&s, 16384, 8, &m),
				    c->r, "case %u", i);
	}
	/* the 1 GiB cap, and 512-byte units allow any sector */
	m.verb = VXTS_MSG_HOLD;
	m.lo = 0;
	m.hi = VXTS_MAX_WINDOW;
	KUNIT_EXPECT_EQ(test, vxts_window_check(&big, 1ULL << 32, 1, &m), 0);
	m.hi = VXTS_MAX_WINDOW + 1;
	KUNIT_EXPECT_EQ(test, vxts_window_check(&big, 1ULL << 32, 1, &m), -EINVAL);
	m.hi = 1;
	KUNIT_EXPECT_EQ(test, vxts_window_check(&big, 1ULL << 32, 1, &m), 0);
}

static unsigned int vxts_kt_trimmed;

static void vxts_kt_trim(struct bio *bio, unsigned int sectors)
{
	vxts_kt_trimmed = sectors;
	bio->bi_iter.bi_size = sectors << SECTOR_SHIFT;
}

/*
 * noflush callbacks. They must be asked inside the window's critical
 * section (irqs off under its irqsave lock), never before it: a flag read
 * outside could miss a noflush suspend and strand a bio on the window.
 */
static unsigned int vxts_kt_noflush_asked, vxts_kt_noflush_unlocked;

static bool vxts_kt_flushing(struct dm_target *ti)
{
	vxts_kt_noflush_asked++;
	if (!irqs_disabled())
		vxts_kt_noflush_unlocked++;
	return false;
}

static bool vxts_kt_noflush(struct dm_target *ti)
{
	vxts_kt_flushing(ti);
	return true;
}

static void vxts_kt_bio(struct bio *bio, u64 sectors)
{
	bio_init(bio, NULL, NULL, 0, REQ_OP_READ);
	bio->bi_iter.bi_size = sectors << SECTOR_SHIFT;
}

/*
 * The runtime without dm: map bios around a window, hold with nothing in
 * flight there, advance, release, and the accounting status reports.
 */
static void vxts_window_runtime(struct kunit *test)
{
	struct vxts_window *w = kunit_kzalloc(test, sizeof(*w), GFP_KERNEL);
	struct bio *b = kunit_kcalloc(test, 4, sizeof(*b), GFP_KERNEL);
	struct vxts_track *t = kunit_kcalloc(test, 4, sizeof(*t), GFP_KERNEL);
	struct bio_list out = BIO_EMPTY_LIST;
	struct vxts_msg m = { VXTS_MSG_HOLD, 2048, 4096 };
	enum vxts_form form;

	KUNIT_ASSERT_NOT_NULL(test, w);
	KUNIT_ASSERT_NOT_NULL(test, b);
	KUNIT_ASSERT_NOT_NULL(test, t);
	vxts_window_init(w, 2048);
	/* crossing the boundary: cut there, the piece below is new */
	vxts_kt_bio(&b[0], 16);
	vxts_kt_trimmed = 0;
	KUNIT_ASSERT_EQ(test, 0, vxts_window_map(w, &t[0], &b[0], 2040, false,
						 vxts_kt_trim, vxts_kt_flushing, NULL, &form));
	KUNIT_EXPECT_EQ(test, form, VXTS_FORM_NEW);
	KUNIT_EXPECT_EQ(test, vxts_kt_trimmed, 8U);
	KUNIT_EXPECT_TRUE(test, t[0].tracked);
	/* a cut without a trim function (REQ_PREFLUSH) is refused */
	vxts_kt_bio(&b[1], 16);
	KUNIT_EXPECT_EQ(test, -EINVAL, vxts_window_map(w, &t[1], &b[1], 2040,
						       false, NULL, vxts_kt_flushing, NULL,
						       &form));
	/* hold: t[0] is below the window, so nothing to drain */
	KUNIT_ASSERT_EQ(test, 0, vxts_window_message(w, 16384, 8, &m, &out));
	KUNIT_EXPECT_TRUE(test, bio_list_empty(&out));
	/* a bio in the window queues; with noflush it is handed back */
	vxts_kt_bio(&b[1], 8);
	KUNIT_ASSERT_EQ(test, 0, vxts_window_map(w, &t[1], &b[1], 3000, false,
						 vxts_kt_trim, vxts_kt_flushing, NULL, &form));
	KUNIT_EXPECT_EQ(test, form, VXTS_FORM_HELD);
	KUNIT_EXPECT_FALSE(test, t[1].tracked);
	KUNIT_EXPECT_EQ(test, w->nr_held, 1U);
	vxts_kt_bio(&b[2], 8);
	vxts_kt_noflush_asked = vxts_kt_noflush_unlocked = 0;
	KUNIT_EXPECT_EQ(test, -EAGAIN, vxts_window_map(w, &t[2], &b[2], 2048, false,
						       vxts_kt_trim, vxts_kt_noflush, NULL, &form));
	KUNIT_EXPECT_EQ(test, vxts_kt_noflush_asked, 1U);
	KUNIT_EXPECT_EQ(test, vxts_kt_noflush_unlocked, 0U);
	/* a discard touching the window waits whole, uncut */
	vxts_kt_bio(&b[3], 4096);
	vxts_kt_trimmed = 0;
	KUNIT_ASSERT_EQ(test, 0, vxts_window_map(w, &t[3], &b[3], 0, true,
						 vxts_kt_trim, vxts_kt_flushing, NULL, &form));
	KUNIT_EXPECT_EQ(test, form, VXTS_FORM_HELD);
	KUNIT_EXPECT_EQ(test, vxts_kt_trimmed, 0U);
	KUNIT_EXPECT_EQ(test, w->nr_held, 2U);
	/* idempotent hold; advance to a wrong hi changes nothing */
	KUNIT_EXPECT_EQ(test, 0, vxts_window_message(w, 16384, 8, &m, &out));
	m.verb = VXTS_MSG_ADVANCE;
	m.hi = 4088;
	KUNIT_EXPECT_EQ(test, -EINVAL, vxts_window_message(w, 16384, 8, &m, &out));
	KUNIT_EXPECT_EQ(test, w->s.boundary, 2048ULL);
	/* advance: both come back in the new form, now in flight */
	m.hi = 4096;
	KUNIT_ASSERT_EQ(test, 0, vxts_window_message(w, 16384, 8, &m, &out));
	KUNIT_EXPECT_EQ(test, w->s.boundary, 4096ULL);
	KUNIT_EXPECT_FALSE(test, vxts_wstate_held(&w->s));
	KUNIT_EXPECT_PTR_EQ(test, bio_list_pop(&out), &b[1]);
	KUNIT_EXPECT_PTR_EQ(test, bio_list_pop(&out), &b[3]);
	KUNIT_EXPECT_TRUE(test, bio_list_empty(&out));
	KUNIT_EXPECT_EQ(test, t[1].form, VXTS_FORM_NEW);
	KUNIT_EXPECT_TRUE(test, t[1].tracked);
	KUNIT_EXPECT_EQ(test, w->nr_held, 0U);
	KUNIT_EXPECT_EQ(test, w->held_total, 2ULL);
	/* nothing to release; then everything completes */
	m.verb = VXTS_MSG_RELEASE;
	KUNIT_EXPECT_EQ(test, -EINVAL, vxts_window_message(w, 16384, 8, &m, &out));
	vxts_window_end(w, &t[0]);
	vxts_window_end(w, &t[1]);
	vxts_window_end(w, &t[3]);
	KUNIT_EXPECT_TRUE(test, list_empty(&w->inflight));
	/* release: a held bio comes back in the old form */
	m.verb = VXTS_MSG_HOLD;
	m.lo = 4096;
	m.hi = 6144;
	KUNIT_ASSERT_EQ(test, 0, vxts_window_message(w, 16384, 8, &m, &out));
	vxts_kt_bio(&b[2], 8);
	KUNIT_ASSERT_EQ(test, 0, vxts_window_map(w, &t[2], &b[2], 6136, false,
						 vxts_kt_trim, vxts_kt_flushing, NULL, &form));
	KUNIT_EXPECT_EQ(test, form, VXTS_FORM_HELD);
	m.verb = VXTS_MSG_RELEASE;
	KUNIT_ASSERT_EQ(test, 0, vxts_window_message(w, 16384, 8, &m, &out));
	KUNIT_EXPECT_PTR_EQ(test, bio_list_pop(&out), &b[2]);
	KUNIT_EXPECT_EQ(test, t[2].form, VXTS_FORM_OLD);
	KUNIT_EXPECT_EQ(test, w->s.boundary, 4096ULL);
	vxts_window_end(w, &t[2]);
	KUNIT_EXPECT_TRUE(test, list_empty(&w->inflight));
}

struct vxts_kt_holder {
	struct vxts_window *w;
	struct vxts_msg m;
	int r;
	struct completion done;
};

static int vxts_kt_hold_fn(void *arg)
{
	struct vxts_kt_holder *h = arg;
	struct bio_list out = BIO_EMPTY_LIST;

	h->r = vxts_window_message(h->w, 16384, 8, &h->m, &out);
	complete(&h->done);
	return 0;
}

/*
 * A hold waiting for its window to drain is woken when another sender
 * drops the window (release). It must not report the window as held: it
 * returns -EBUSY, and the window is not held.
 */
static void vxts_window_hold_woken_by_release(struct kunit *test)
{
	struct vxts_window *w = kunit_kzalloc(test, sizeof(*w), GFP_KERNEL);
	struct bio *b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	struct vxts_track *t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	/* not kunit-managed: the thread may outlive a failed test */
	struct vxts_kt_holder *h = kzalloc(sizeof(*h), GFP_KERNEL);
	struct vxts_msg rel = { VXTS_MSG_RELEASE, 0, 0 };
	struct bio_list out = BIO_EMPTY_LIST;
	struct task_struct *k;
	enum vxts_form form;
	int i;

	KUNIT_ASSERT_NOT_NULL(test, w);
	KUNIT_ASSERT_NOT_NULL(test, b);
	KUNIT_ASSERT_NOT_NULL(test, t);
	KUNIT_ASSERT_NOT_NULL(test, h);
	vxts_window_init(w, 2048);
	/* an old-form write in flight where the window will be */
	vxts_kt_bio(b, 8);
	KUNIT_ASSERT_EQ(test, 0, vxts_window_map(w, t, b, 2048, false,
						 vxts_kt_trim, vxts_kt_flushing,
						 NULL, &form));
	h->w = w;
	h->m = (struct vxts_msg){ VXTS_MSG_HOLD, 2048, 4096 };
	init_completion(&h->done);
	k = kthread_run(vxts_kt_hold_fn, h, "vxts-kt-hold");
	KUNIT_ASSERT_FALSE(test, IS_ERR(k));
	/*
	 * Caps, not expected times: under TCG on a loaded host a new kthread
	 * can take seconds to run. Both waits end as soon as the event comes.
	 */
	for (i = 0; i < 3000 && !waitqueue_active(&w->drained); i++)
		msleep(10);
	KUNIT_ASSERT_TRUE(test, waitqueue_active(&w->drained));
	KUNIT_EXPECT_EQ(test, 0, vxts_window_message(w, 16384, 8, &rel, &out));
	KUNIT_ASSERT_TRUE(test, wait_for_completion_timeout(&h->done, 30 * HZ) > 0);
	KUNIT_EXPECT_EQ(test, h->r, -EBUSY);
	KUNIT_EXPECT_FALSE(test, vxts_wstate_held(&w->s));
	vxts_window_end(w, t);
	KUNIT_EXPECT_TRUE(test, list_empty(&w->inflight));
	kfree(h);
}

#undef N
#undef O
#undef H

static struct kunit_case vxts_window_cases[] = {
	KUNIT_CASE(vxts_window_classes),
	KUNIT_CASE(vxts_window_walk),
	KUNIT_CASE(vxts_window_checks),
	KUNIT_CASE(vxts_window_runtime),
	KUNIT_CASE(vxts_window_hold_woken_by_release),
	{}
};

static struct kunit_suite vxts_window_suite = {
	.name = "vxts_window",
	.test_cases = vxts_window_cases,
};

kunit_test_suites(&vxts_parse_suite, &vxts_key_suite, &vxts_tweak_suite,
		  &vxts_xts_suite, &vxts_window_suite);

MODULE_DESCRIPTION("KUnit suites for dm-vxts");
MODULE_LICENSE("GPL");
