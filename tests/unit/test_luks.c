// SPDX-License-Identifier: GPL-2.0
/*
 * test_luks: the pure part of LUKS interop (lib/luks.c): reading the
 * segments out of a crypt_dump_json() document, judging what dm-vxts can
 * serve, and turning a LUKS segment into the dm-vxts mapping (table line).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "dm.h"
#include "luks.h"

/* ---- segments from the JSON metadata ------------------------------------------ */

static const char json_one[] =
	"{\n  \"keyslots\":{\n    \"0\":{\n      \"type\":\"luks2\",\n      \"key_size\":64,\n"
	"      \"area\":{ \"type\":\"raw\", \"offset\":\"32768\", \"size\":\"258048\" },\n"
	"      \"kdf\":{ \"type\":\"argon2id\", \"salt\":\"a\\/b=\" }\n    }\n  },\n"
	"  \"tokens\":{},\n"
	"  \"segments\":{\n    \"0\":{\n      \"type\":\"crypt\",\n      \"offset\":\"16777216\",\n"
	"      \"size\":\"dynamic\",\n      \"iv_tweak\":\"0\",\n"
	"      \"encryption\":\"aes-xts-plain64\",\n      \"sector_size\":4096\n    }\n  },\n"
	"  \"digests\":{ \"0\":{ \"type\":\"pbkdf2\", \"keyslots\":[ \"0\" ], \"segments\":[ \"0\" ] } },\n"
	"  \"config\":{ \"json_size\":\"12288\", \"keyslots_size\":\"16744448\" }\n}";

/* a reencryption in flight: two segments, one a backup */
static const char json_reenc[] =
	"{\"segments\":{\"0\":{\"type\":\"crypt\",\"offset\":\"16777216\",\"size\":\"1048576\","
	"\"iv_tweak\":\"0\",\"encryption\":\"aes-xts-plain64\",\"sector_size\":512,"
	"\"flags\":[\"in-reencryption\"]},\"1\":{\"type\":\"linear\",\"offset\":\"17825792\","
	"\"size\":\"dynamic\"},\"2\":{\"type\":\"crypt\",\"offset\":\"16777216\",\"size\":\"dynamic\","
	"\"iv_tweak\":\"0\",\"encryption\":\"aes-xts-plain64\",\"sector_size\":512,"
	"\"flags\":[\"backup-final\"]}}}";

static void json_segments(void **state)
{
	unsigned int n;
	char type[16];
	uint64_t size;
	bool dyn, flagged;

	assert_int_equal(vxts_luks_json_segments(json_one, &n, type, sizeof(type), &size, &dyn,
						 &flagged), 0);
	assert_int_equal(n, 1);
	assert_string_equal(type, "crypt");
	assert_true(dyn);
	assert_false(flagged);
	assert_int_equal(size, 0);

	assert_int_equal(vxts_luks_json_segments(json_reenc, &n, type, sizeof(type), &size, &dyn,
						 &flagged), 0);
	assert_int_equal(n, 2);			/* the backup segment is not counted */
	assert_false(dyn);
	assert_true(flagged);
	assert_int_equal(size, 1048576);
}

static void json_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"{",
		"{\"segments\":[]}",
		"{\"segments\":{}}",				/* no segment 0 */
		"{\"segments\":{\"0\":{\"type\":\"crypt\"}}}",	/* no size */
		"{\"segments\":{\"0\":{\"type\":\"crypt\",\"size\":\"12x\"}}}",
		"{\"segments\":{\"0\":{\"type\":\"crypt\",\"size\":\"0\"}}}",
		"{\"segments\":{\"0\":{\"type\":\"crypt\",\"size\":\"dynamic\"}",	/* cut */
		"{\"segments\" {\"0\":{}}}",
	};
	unsigned int n;
	char type[16];
	uint64_t size;
	bool dyn, flagged;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vxts_luks_json_segments(bad[i], &n, type, sizeof(type), &size,
							 &dyn, &flagged), -EINVAL);
}

/* ---- what dm-vxts serves ------------------------------------------------------- */

static struct vxts_luks_info good(void)
{
	struct vxts_luks_info li;

	memset(&li, 0, sizeof(li));
	strcpy(li.type, "LUKS2");
	strcpy(li.uuid, "0bb4feb9-af5b-4bef-a784-5fcc0d6f2b10");
	strcpy(li.cipher, "aes");
	strcpy(li.mode, "xts-plain64");
	strcpy(li.segment_type, "crypt");
	li.key_bytes = 64;
	li.sector_size = 4096;
	li.data_offset = 32768;
	li.segments = 1;
	return li;
}

/* One edit of a good segment per case; @i past the last returns NULL. */
static const char *check_edit(size_t i, struct vxts_luks_info *li, int *want)
{
	*want = -ENOTSUP;
	switch (i) {
	case 0: *want = 0; return "good";
	case 1: strcpy(li->type, "LUKS1"); li->sector_size = 512; *want = 0; return "LUKS1 512";
	case 2: strcpy(li->mode, "cbc-essiv:sha256"); return "cbc-essiv";
	case 3: strcpy(li->cipher, "serpent"); return "serpent";
	case 4: li->key_bytes = 32; return "256-bit key";
	case 5: li->key_bytes = 128; return "1024-bit key";
	case 6: li->sector_size = 2048; return "sector 2048";
	case 7: li->integrity = true; return "integrity";
	case 8: li->segments = 2; return "two segments";
	case 9: strcpy(li->segment_type, "linear"); return "linear segment";
	case 10: strcpy(li->segment_type, "hw-opal-crypt"); return "opal";
	case 11: li->iv_offset = 4; return "iv_tweak not in units";
	case 12: li->reencrypt = true; *want = -ESTALE; return "reencrypt";
	case 13: li->requirements = 1u << 1; *want = -ESTALE; return "online reencrypt flag";
	case 14: li->requirements = 1u << 31; *want = -ESTALE; return "unknown requirement";
	/* the UUID names the logon key and goes into the table line: canonical only */
	case 15: strcpy(li->uuid, "y 0 7:0 0 1 allow_discards:0 0 7:0"); return "table in uuid";
	case 16: strcpy(li->uuid, "0bb4feb9-af5b-4bef-a784-5fcc0d6f2b1 "); return "trailing space";
	case 17: strcpy(li->uuid, "0bb4feb9-af5b-4bef-a784-5fcc0d6f2b1\n"); return "newline";
	case 18: strcpy(li->uuid, "0bb4feb9-af5b-4bef-a784-5fcc0d6f2b10x"); return "37 chars";
	case 19: strcpy(li->uuid, "0bb4feb9af5b-4bef-a784-5fcc0d6f2b10-"); return "dash moved";
	case 20: strcpy(li->uuid, ""); return "empty uuid";
	case 21: strcpy(li->uuid, "0BB4FEB9-AF5B-4BEF-A784-5FCC0D6F2B10"); *want = 0; return "upper";
	case 22: strcpy(li->uuid, "0bb4feb9-af5b 4bef-a784-5fcc0d6f2b10"); return "spaced uuid";
	default: return NULL;
	}
}

static void check_table(void **state)
{
	struct vxts_luks_info li;
	const char *what;
	int want, got;

	for (size_t i = 0; li = good(), (what = check_edit(i, &li, &want)); i++) {
		got = vxts_luks_check(&li);
		if (got != want)
			fail_msg("%s: %d, want %d", what, got, want);
	}
}

/* ---- the mapping ---------------------------------------------------------------- */

static void mapping(void **state)
{
	struct vxts_luks_info li = good();
	struct vxts_online_map m;
	struct vxts_dm_table t;
	char desc[96];

	vxts_luks_key_desc(desc, sizeof(desc), li.uuid, "254:0");
	assert_string_equal(desc, "vxts:luks-0bb4feb9-af5b-4bef-a784-5fcc0d6f2b10:254:0");
	/* a clone with the same UUID on another device: another key */
	vxts_luks_key_desc(desc, sizeof(desc), li.uuid, "254:1");
	assert_string_equal(desc, "vxts:luks-0bb4feb9-af5b-4bef-a784-5fcc0d6f2b10:254:1");
	vxts_luks_key_desc(desc, sizeof(desc), li.uuid, "254:0");

	/* dynamic: to the end of a 64 MiB device; 4096-byte sectors, no iv_large_sectors */
	assert_int_equal(vxts_luks_map(&li, "254:0", 131072, desc, &m), 0);
	assert_int_equal(vxts_online_table(&m, &t), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.t[0].len, 131072 - 32768);
	assert_string_equal(t.t[0].type, "vxts");
	assert_string_equal(t.t[0].params, "aes-xts-plain64 :64:logon:vxts:luks-0bb4feb9-af5b-"
			    "4bef-a784-5fcc0d6f2b10:254:0 0 254:0 32768 1 sector_size:4096");

	/* the IV tweak goes through as <iv_offset>, in 512-byte sectors */
	li.iv_offset = 32768;
	li.sector_size = 512;
	assert_int_equal(vxts_luks_map(&li, "8:16", 131072, desc, &m), 0);
	assert_int_equal(vxts_online_table(&m, &t), 0);
	assert_string_equal(t.t[0].params, "aes-xts-plain64 :64:logon:vxts:luks-0bb4feb9-af5b-"
			    "4bef-a784-5fcc0d6f2b10:254:0 32768 8:16 32768 1 sector_size:512");

	/* a fixed size */
	li = good();
	li.size = 8192;
	assert_int_equal(vxts_luks_map(&li, "254:0", 131072, desc, &m), 0);
	assert_int_equal(m.len, 8192);
	/* ... that does not fit */
	li.size = 131072;
	assert_int_equal(vxts_luks_map(&li, "254:0", 131072, desc, &m), -ENOSPC);
	/* a device that ends inside the data offset, or in the middle of a sector */
	li = good();
	assert_int_equal(vxts_luks_map(&li, "254:0", 32768, desc, &m), -ENOSPC);
	assert_int_equal(vxts_luks_map(&li, "254:0", 131071, desc, &m), -ENOSPC);
}

/* ---- the two LUKS2 header copies ------------------------------------------------ */

#define HS 16384

static void put_be(uint8_t *p, uint64_t v, int n)
{
	while (n--) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

static void hdr_sum(uint8_t *h)
{
	memset(h + 448, 0, 64);
	SHA256(h, HS, h + 448);
}

/* A primary (@second false) or secondary copy of one LUKS2 header. */
static void hdr_make(uint8_t *h, bool second)
{
	static const uint8_t m1[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };
	static const uint8_t m2[6] = { 'S', 'K', 'U', 'L', 0xba, 0xbe };

	memset(h, 0, HS);
	memcpy(h, second ? m2 : m1, 6);
	put_be(h + 6, 2, 2);
	put_be(h + 8, HS, 8);
	put_be(h + 16, 7, 8);				/* seqid */
	strcpy((char *)h + 72, "sha256");
	memset(h + 104, second ? 0x5a : 0xa5, 64);	/* salts differ by design */
	strcpy((char *)h + 168, "0bb4feb9-af5b-4bef-a784-5fcc0d6f2b10");
	put_be(h + 256, second ? HS : 0, 8);
	strcpy((char *)h + 4096, "{\"segments\":{}}");
	hdr_sum(h);
}

static void copies(void **state)
{
	static uint8_t h1[HS], h2[HS];

	hdr_make(h1, false);
	hdr_make(h2, true);
	assert_int_equal(vxts_luks2_copies_agree(h1, h2, HS), 0);

	/* damaged secondary (crypt_load() would rewrite it from the primary) */
	h2[4096 + 10] ^= 1;
	assert_int_equal(vxts_luks2_copies_agree(h1, h2, HS), -EBADMSG);
	/* valid secondary, but an older seqid */
	hdr_make(h2, true);
	put_be(h2 + 16, 6, 8);
	hdr_sum(h2);
	assert_int_equal(vxts_luks2_copies_agree(h1, h2, HS), -EBADMSG);
	/* valid secondary, other JSON */
	hdr_make(h2, true);
	h2[4096 + 2] = 'S';
	hdr_sum(h2);
	assert_int_equal(vxts_luks2_copies_agree(h1, h2, HS), -EBADMSG);
	/* secondary at the wrong place, or not a secondary */
	hdr_make(h2, true);
	put_be(h2 + 256, 2 * HS, 8);
	hdr_sum(h2);
	assert_int_equal(vxts_luks2_copies_agree(h1, h2, HS), -EBADMSG);
	hdr_make(h2, false);
	assert_int_equal(vxts_luks2_copies_agree(h1, h2, HS), -EBADMSG);
	/* damaged primary */
	hdr_make(h2, true);
	h1[300] ^= 1;
	assert_int_equal(vxts_luks2_copies_agree(h1, h2, HS), -EBADMSG);
	/* hdr_size that is not the copies' size */
	hdr_make(h1, false);
	assert_int_equal(vxts_luks2_copies_agree(h1, h2, HS / 2), -EBADMSG);
	/* not a LUKS2 primary */
	put_be(h1 + 6, 1, 2);
	assert_int_equal(vxts_luks2_copies_agree(h1, h2, HS), -EINVAL);
}

/* dm.c: a key description is one word of the table line (refused before add_key) */
static void key_desc_words(void **state)
{
	static const uint8_t key[64];

	assert_int_equal(vxts_keyring_add("vxts:luks-y 0 7:0:0", key, sizeof(key)), -EINVAL);
	assert_int_equal(vxts_keyring_add("vxts:luks-y\n:0", key, sizeof(key)), -EINVAL);
	assert_int_equal(vxts_keyring_add("vxts:luks-y\t:0", key, sizeof(key)), -EINVAL);
	assert_int_equal(vxts_keyring_add("", key, sizeof(key)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_segments),
		cmocka_unit_test(json_malformed),
		cmocka_unit_test(check_table),
		cmocka_unit_test(mapping),
		cmocka_unit_test(copies),
		cmocka_unit_test(key_desc_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
