// SPDX-License-Identifier: GPL-2.0
/*
 * test_header: the on-disk header codec, its two-copy load and commit, and
 * the MAC that guards the metadata recovery acts on.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "header.h"
#include "helpers/fault_dev.h"
#include "helpers/vol_fixture.h"
#include "kdf.h"

static const uint8_t t_mac_key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

/* A header with every field set to something valid and distinctive. */
static void t_header(struct vxts_header *h)
{
	memset(h, 0, sizeof(*h));
	h->seq = 41;
	for (int i = 0; i < VXTS_UUID_SIZE; i++)
		h->uuid[i] = (uint8_t)(0xa0 + i);
	strcpy(h->label, "data-disk-1");
	h->unit_size = 4096;
	h->flags = VXTS_HDR_F_AT_END;
	h->data_offset = 0;
	h->data_size = 64ULL << 20;
	h->iv_offset = 2048;
	h->area_size = 16ULL << 20;
	h->state = VXTS_STATE_REENCRYPTING;
	h->direction = VXTS_DIR_REENCRYPT;
	h->resilience = VXTS_RESILIENCE_JOURNAL;
	h->key_id = 1;
	h->boundary = 8ULL << 20;
	h->win_off = 8ULL << 20;
	h->win_len = 4ULL << 20;
	h->win_seq = 3;
	h->res_off = vxts_hdr_res_slot(h, 3, NULL);
	h->res_len = 4ULL << 20;
	memset(h->res_digest, 0x5d, 32);
	memset(h->mac_salt, 0x33, 32);
	memset(h->res_nonce, 0x71, sizeof(h->res_nonce));
}

static void t_refresh_checksum(uint8_t *b)
{
	vxts_sha256(b + HO_CHECKSUM, b, HO_CHECKSUM);
}

static void roundtrip(void **state)
{
	struct vxts_header h, d;
	uint8_t b[VXTS_HDR_COPY_SIZE], b2[VXTS_HDR_COPY_SIZE];
	char why[96];

	t_header(&h);
	assert_int_equal(vxts_hdr_encode(&h, t_mac_key, b), 0);
	assert_int_equal(vxts_hdr_decode(b, &d, why, sizeof(why)), 0);
	assert_int_equal(vxts_hdr_verify_mac(&d, t_mac_key), 0);
	memcpy(h.mac, d.mac, 32);
	assert_memory_equal(&h, &d, sizeof(h));
	/* Byte-exact: decode then encode gives the same copy. */
	assert_int_equal(vxts_hdr_encode(&d, NULL, b2), 0);
	assert_memory_equal(b, b2, sizeof(b));
	assert_memory_equal(b + HO_MAGIC, "VXTS\0HDR", 8);
	assert_int_equal(b[HO_VERSION], 1);
	assert_int_equal(b[HO_DATA_SIZE + 3], 0x04);	/* 64 MiB little-endian */
}

/*
 * Every byte of the copy (except the checksum) changed with the checksum
 * fixed up: the copy must be rejected by decode or, if it still decodes,
 * by the MAC. Without the fix-up the checksum (or magic) must catch it.
 */
static void every_byte_corrupt(void **state)
{
	struct vxts_header h, d;
	uint8_t b[VXTS_HDR_COPY_SIZE], t[VXTS_HDR_COPY_SIZE];
	char why[96];
	int by_decode = 0, by_mac = 0;

	t_header(&h);
	assert_int_equal(vxts_hdr_encode(&h, t_mac_key, b), 0);
	for (size_t i = 0; i < HO_CHECKSUM; i++) {
		memcpy(t, b, sizeof(t));
		t[i] ^= 0x41;
		assert_int_not_equal(vxts_hdr_decode(t, &d, why, sizeof(why)), 0);
		t_refresh_checksum(t);
		if (vxts_hdr_decode(t, &d, why, sizeof(why))) {
			by_decode++;
			continue;
		}
		if (vxts_hdr_verify_mac(&d, t_mac_key) != -EBADMSG)
			fail_msg("byte %zu changed, checksum fixed: header still verifies", i);
		by_mac++;
	}
	/* The checksum itself. */
	memcpy(t, b, sizeof(t));
	t[HO_CHECKSUM + 5] ^= 1;
	assert_int_equal(vxts_hdr_decode(t, &d, why, sizeof(why)), -EBADMSG);
	assert_string_equal(why, "checksum mismatch");
	print_message("# %d corruptions caught by decode, %d by the MAC\n", by_decode, by_mac);
	assert_true(by_decode > 0 && by_mac > 0);
}

struct field_case {
	const char *name;
	size_t off;
	uint64_t value;
	int width;		/* bytes */
	const char *why;	/* expected reason (substring) */
};

static const struct field_case t_fields[] = {
	{ "magic", HO_MAGIC, 0x4b554c, 4, "no vxts magic" },
	{ "version", HO_VERSION, 2, 4, "unsupported format version 2" },
	{ "copy size", HO_COPY_SIZE, 512, 4, "copy size" },
	{ "cipher", HO_CIPHER, 0x736561, 4, "cipher" },
	{ "unit size", HO_UNIT, 1024, 4, "data unit size" },
	{ "flags", HO_FLAGS, 0x80, 4, "unknown flags" },
	{ "data size", HO_DATA_SIZE, 4097, 8, "whole number of data units" },
	{ "data size 0", HO_DATA_SIZE, 0, 8, "whole number of data units" },
	{ "data offset", HO_DATA_OFF, 100, 8, "whole number of data units" },
	{ "area size", HO_AREA_SIZE, 4096, 8, "header area size" },
	{ "iv offset", HO_IV_OFF, 3, 8, "IV offset not a whole number" },
	{ "state", HO_STATE, 9, 4, "state and direction" },
	{ "direction", HO_DIRECTION, VXTS_DIR_DECRYPT, 4, "state and direction" },
	{ "resilience", HO_RESILIENCE, 7, 4, "resilience mode" },
	{ "key id", HO_KEY_ID, 2, 4, "key id" },
	{ "boundary", HO_BOUNDARY, 1ULL << 40, 8, "boundary outside" },
	{ "boundary unaligned", HO_BOUNDARY, (8ULL << 20) + 1, 8, "boundary outside" },
	{ "window offset", HO_WIN_OFF, 12ULL << 20, 8, "window in flight" },
	{ "window length", HO_WIN_LEN, 1ULL << 40, 8, "window in flight" },
	{ "window slot", HO_WIN_SEQ, 4, 8, "resilience record outside" },
	{ "record offset", HO_RES_OFF, 4096, 8, "resilience record outside" },
	{ "record length", HO_RES_LEN, 1ULL << 40, 8, "resilience record outside" },
	{ "label", HO_LABEL + 47, 'x', 1, "NUL padded" },
	{ "reserved", HO_KEY_GEN + 8, 1, 1, "reserved" },
	{ "reserved tail", 3000, 1, 1, "reserved" },
};

static void field_corrupt(void **state)
{
	struct vxts_header h, d;
	uint8_t b[VXTS_HDR_COPY_SIZE], t[VXTS_HDR_COPY_SIZE];
	char why[96];

	t_header(&h);
	assert_int_equal(vxts_hdr_encode(&h, t_mac_key, b), 0);
	for (size_t i = 0; i < sizeof(t_fields) / sizeof(t_fields[0]); i++) {
		const struct field_case *fc = &t_fields[i];

		memcpy(t, b, sizeof(t));
		for (int k = 0; k < fc->width; k++)
			t[fc->off + k] = (uint8_t)(fc->value >> (8 * k));
		t_refresh_checksum(t);
		why[0] = '\0';
		if (!vxts_hdr_decode(t, &d, why, sizeof(why)))
			fail_msg("%s: corrupt header decoded", fc->name);
		if (!strstr(why, fc->why))
			fail_msg("%s: reason \"%s\", expected \"%s\"", fc->name, why, fc->why);
	}
}

/* ---- two copies on a device ---------------------------------------------------- */

#define T_AREA (256u << 10)

struct copies {
	uint8_t *mem;
	uint64_t size;
	struct fault_ctl ctl;
};

static void t_copies(struct copies *c, uint64_t size)
{
	memset(c, 0, sizeof(*c));
	c->size = size;
	c->mem = calloc(1, T_AREA);
}

static int t_load(struct copies *c, struct vxts_header *h, struct vxts_hdr_load *st)
{
	struct vxts_dev *d = fault_dev_new(c->mem, c->size, "hdr", &c->ctl);
	int r = vxts_hdr_load(d, 0, h, st);

	vxts_dev_close(d);
	return r;
}

static void t_put(struct copies *c, int copy, const struct vxts_header *h)
{
	vxts_hdr_encode(h, t_mac_key, c->mem + copy * VXTS_HDR_COPY_SIZE);
}

enum copy_kind { CK_NEW, CK_OLD, CK_CSUM, CK_FOREIGN, CK_ZERO, CK_VERSION };

static void t_make(struct copies *c, int copy, enum copy_kind k)
{
	struct vxts_header h;
	uint8_t *b = c->mem + copy * VXTS_HDR_COPY_SIZE;

	t_header(&h);
	h.seq = k == CK_OLD ? 10 : 11;
	t_put(c, copy, &h);
	if (k == CK_CSUM)
		b[HO_BOUNDARY] ^= 0x10;
	if (k == CK_FOREIGN)
		memcpy(b, "LUKS\xba\xbe\0\2", 8);
	if (k == CK_ZERO)
		memset(b, 0, VXTS_HDR_COPY_SIZE);
	if (k == CK_VERSION) {
		b[HO_VERSION] = 9;
		t_refresh_checksum(b);
	}
}

struct load_case {
	enum copy_kind c1, c2;
	uint64_t size;
	int r;
	unsigned int valid;
	uint64_t seq;
	const char *why1, *why2;
};

static const struct load_case t_loads[] = {
	{ CK_NEW, CK_NEW, T_AREA, 0, 3, 11, "", "" },
	{ CK_NEW, CK_OLD, T_AREA, 0, 3, 11, "", "" },
	{ CK_OLD, CK_NEW, T_AREA, 0, 3, 11, "", "" },
	{ CK_CSUM, CK_OLD, T_AREA, 0, 2, 10, "checksum mismatch", "" },
	{ CK_NEW, CK_CSUM, T_AREA, 0, 1, 11, "", "checksum mismatch" },
	{ CK_CSUM, CK_CSUM, T_AREA, -EBADMSG, 0, 0, "checksum mismatch", "checksum mismatch" },
	{ CK_FOREIGN, CK_FOREIGN, T_AREA, -ENODATA, 0, 0, "no vxts magic", "no vxts magic" },
	{ CK_ZERO, CK_ZERO, T_AREA, -ENODATA, 0, 0, "no vxts magic", "no vxts magic" },
	{ CK_VERSION, CK_VERSION, T_AREA, -EBADMSG, 0, 0, "unsupported format version 9",
	  "unsupported format version 9" },
	{ CK_ZERO, CK_NEW, T_AREA, 0, 2, 11, "no vxts magic", "" },
	{ CK_NEW, CK_NEW, 6000, 0, 1, 11, "", "truncated" },
	{ CK_NEW, CK_NEW, 100, -EBADMSG, 0, 0, "truncated", "truncated" },
};

static void load_copies(void **state)
{
	for (size_t i = 0; i < sizeof(t_loads) / sizeof(t_loads[0]); i++) {
		const struct load_case *lc = &t_loads[i];
		struct vxts_hdr_load st;
		struct vxts_header h;
		struct copies c;
		int r;

		t_copies(&c, lc->size);
		t_make(&c, 0, lc->c1);
		t_make(&c, 1, lc->c2);
		r = t_load(&c, &h, &st);
		if (r != lc->r || st.valid != lc->valid || (!r && h.seq != lc->seq))
			fail_msg("case %zu: r %d valid %u seq %llu", i, r, st.valid,
				 (unsigned long long)h.seq);
		if (!strstr(st.why[0], lc->why1) || !strstr(st.why[1], lc->why2))
			fail_msg("case %zu: reasons \"%s\" / \"%s\"", i, st.why[0], st.why[1]);
		free(c.mem);
	}
}

/* The error a user sees names both copies and the way out. */
static void damaged_detail(void **state)
{
	struct vxts_format_opts o = { .plaintext = true };
	struct vxts_volume *v;
	struct fx f;

	fx_init(&f, 256 << 10, T_AREA, false, 3);
	assert_int_equal(fx_format(&f, &o), 0);
	f.hdr[HO_DATA_SIZE] ^= 1;
	f.hdr[VXTS_HDR_COPY_SIZE + HO_STATE] ^= 1;
	assert_int_equal(fx_attach(&f, &v), -EBADMSG);
	assert_non_null(strstr(vxts_error_detail(), "copy 1: checksum mismatch; copy 2: "
			       "checksum mismatch"));
	assert_non_null(strstr(vxts_error_detail(), "vxts header restore"));
	memset(f.hdr, 0, 2 * VXTS_HDR_COPY_SIZE);
	assert_int_equal(fx_attach(&f, &v), -ENODATA);
	fx_free(&f);
}

/*
 * Valid checksums, forged content: an attacker moves the boundary back so a
 * resume would encrypt already-encrypted data. Unlock must refuse before
 * anything is written.
 */
static void forged_header_refused(void **state)
{
	struct vxts_format_opts o = { .plaintext = true, .unit_size = 4096 };
	uint8_t forged_key[32] = { 9 };
	struct vxts_convert_opts co = { .window_size = 64 << 10, .threads = 1 };
	struct vxts_volume *v;
	struct vxts_header h;
	struct vxts_hdr_load st;
	struct vxts_dev *d;
	struct fx f;

	fx_init(&f, 256 << 10, T_AREA, false, 5);
	assert_int_equal(fx_format(&f, &o), 0);
	assert_int_equal(fx_attach(&f, &v), 0);
	assert_int_equal(vxts_unlock(v, &f.kek), 0);
	assert_int_equal(vxts_convert_start(v, VXTS_DIR_ENCRYPT, &co, NULL, 0), 0);
	vxts_close(v);
	/* Forge: claim half the disk is done, re-MAC with a key we made up. */
	d = fault_dev_new(f.hdr, f.area, "hdr", &f.ctl);
	assert_int_equal(vxts_hdr_load(d, 0, &h, &st), 0);
	h.boundary = 128 << 10;
	assert_int_equal(vxts_hdr_commit(d, 0, &h, forged_key), 0);
	vxts_dev_close(d);
	fault_ctl_reset(&f.ctl);
	assert_int_equal(fx_attach(&f, &v), 0);
	assert_int_equal(vxts_unlock(v, &f.kek), -EBADMSG);
	assert_non_null(strstr(vxts_error_detail(), "fails authentication"));
	assert_int_equal(vxts_convert(v, &co), -EPERM);
	vxts_close(v);
	assert_int_equal(f.ctl.writes, 0);
	fx_free(&f);
}

/*
 * A crash at each op of a header update (write copy 1, sync, write copy 2,
 * sync), torn and with unsynced writes lost: a valid copy always remains,
 * and once copy 1 is synced it is the new one.
 */
static void commit_crash(void **state)
{
	for (int variant = 0; variant < 3; variant++) {
		for (long n = 1; n <= 5; n++) {
			struct vxts_header h, got;
			struct vxts_hdr_load st;
			struct vxts_dev *d;
			struct copies c;
			int r;

			t_copies(&c, T_AREA);
			t_header(&h);
			h.seq = 20;
			t_put(&c, 0, &h);
			t_put(&c, 1, &h);
			c.ctl.fail_at = n;
			c.ctl.tear = variant > 0;
			c.ctl.drop_unsynced = variant == 2;
			d = fault_dev_new(c.mem, c.size, "hdr", &c.ctl);
			h.boundary += 4096;
			h.win_off = h.boundary;
			r = vxts_hdr_commit(d, 0, &h, t_mac_key);
			vxts_dev_close(d);
			assert_int_equal(r != 0, n <= 4);
			fault_ctl_reset(&c.ctl);
			c.ctl.fail_at = 0;
			assert_int_equal(t_load(&c, &got, &st), 0);
			assert_true(got.seq == 20 || got.seq == 21);
			if (n > 2)
				assert_int_equal(got.seq, 21);
			if (got.seq == 21)
				assert_int_equal(got.boundary, h.boundary);
			assert_int_equal(vxts_hdr_verify_mac(&got, t_mac_key), 0);
			free(c.mem);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roundtrip),
		cmocka_unit_test(every_byte_corrupt),
		cmocka_unit_test(field_corrupt),
		cmocka_unit_test(load_copies),
		cmocka_unit_test(damaged_detail),
		cmocka_unit_test(forged_header_refused),
		cmocka_unit_test(commit_crash),
	};

	return cmocka_run_group_tests_name("header", tests, NULL, NULL);
}
