// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_header: libFuzzer target for everything vxts parses from a header it
 * has not authenticated yet.
 *
 * The input is one 4096-byte header copy (shorter inputs are zero padded,
 * longer ones feed their tail to the base64 decoder of the KMS protocol).
 * For each input:
 *   - vxts_hdr_decode(); if it accepts, encode + decode again must give the
 *     same bytes and fields (the codec is a bijection on valid copies);
 *   - every keyslot entry through vxts_keyslot_info() alone and through
 *     vxts_keyslot_table_info() in its table: a continuation must name a
 *     head before it that spans it, a span must stay inside the table, an
 *     entry refused is reported damaged;
 *   - key-file and recovery slots are opened with a fixed key (HKDF + RFC
 *     5649 unwrap + MAC on attacker bytes); passphrase slots are not opened
 *     (Argon2 costs are the parser's to bound, checked via info), external
 *     slots neither (opening runs a token or a helper);
 *   - the bytes after the copy go through the KMS helper reply parser and
 *     vxts_b64_decode() (a helper's stdout is input vxts must survive).
 * Each input runs twice: as is (the SHA-256 checksums must catch it) and
 * with every slot entry's and the copy's checksum recomputed, as a forger
 * would, so mutations reach the field checks behind the checksums.
 * Any sanitizer report or abort() is a finding.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "kdf.h"
#include "keyslot.h"
#include "kms.h"

static void fz_check(int ok)
{
	if (!ok)
		abort();
}

static void fz_slots(const struct vxts_header *h)
{
	static const uint8_t secret[32] = { 7 };
	struct vxts_kek kek = { .type = VXTS_KEK_KEYFILE, .secret = secret, .len = 32 };
	struct vxts_keyslot_info one, ti;
	uint8_t key[64];
	size_t len = 0;
	uint32_t id;

	for (int i = 0; i < VXTS_KEYSLOTS; i++) {
		int r1 = vxts_keyslot_info(h->slots[i], &one);
		int r2 = vxts_keyslot_table_info(h->slots, i, &ti);

		if (r2 == 0 && ti.in_use) {
			fz_check(ti.entries >= 1 && ti.entries <= VXTS_KS_MAX_ENTRIES);
			if (ti.type == VXTS_KEK_CONT) {
				struct vxts_keyslot_info hi;

				/* a continuation is only valid through its head */
				fz_check(ti.head >= 0 && ti.head < i);
				fz_check(vxts_keyslot_table_info(h->slots, ti.head, &hi) == 0);
				fz_check(hi.in_use && hi.type != VXTS_KEK_CONT &&
					 hi.entries == ti.entries &&
					 ti.head + (int)hi.entries > i);
			} else
				fz_check(i + (int)ti.entries <= VXTS_KEYSLOTS);
			fz_check(strlen(ti.ref) <= VXTS_KS_REF_MAX);
		}
		/* the table can only be stricter than the entry alone */
		if (r1 != 0)
			fz_check(r2 != 0 || !ti.in_use || ti.type == VXTS_KEK_CONT);
		/* an entry that does not parse is damaged (removable), never "empty" */
		fz_check(!r2 || (ti.damaged && !ti.in_use));
		if (r2 || !ti.in_use)
			continue;
		if (ti.type == VXTS_KEK_PASSPHRASE) {
			fz_check(ti.argon2.t_cost >= 1 && ti.argon2.t_cost <= 64);
			fz_check(ti.argon2.m_cost_kib <= (4u << 20));
			continue;
		}
		if (ti.type != VXTS_KEK_KEYFILE && ti.type != VXTS_KEK_RECOVERY)
			continue;
		kek.type = ti.type;
		if (!vxts_keyslot_table_open(h->slots, i, &kek, key, &len, &id))
			fz_check(len >= 1 && len <= 64);
	}
}

/* What a forger does: every non-empty slot entry's and the copy's checksum. */
static void fz_forge(uint8_t *copy)
{
	for (int i = 0; i < VXTS_KEYSLOTS; i++) {
		uint8_t *e = copy + HO_SLOTS + i * VXTS_KEYSLOT_SIZE;
		int used = 0;

		for (int k = 0; k < VXTS_KEYSLOT_SIZE; k++)
			used |= e[k];
		if (used)
			vxts_sha256(e + 224, e, 224);
	}
	vxts_sha256(copy + HO_CHECKSUM, copy, HO_CHECKSUM);
}

static void fz_copy(const uint8_t *copy)
{
	static uint8_t again[VXTS_HDR_COPY_SIZE];
	static struct vxts_header h, h2;
	char why[96];
	int r;

	/* a refusal must leave a NUL-terminated reason; acceptance sets none */
	memset(why, 'x', sizeof(why));
	r = vxts_hdr_decode(copy, &h, why, sizeof(why));
	if (r) {
		fz_check(r == -ENOMEM || memchr(why, '\0', sizeof(why)) != NULL);
		return;
	}
	fz_check(vxts_hdr_encode(&h, NULL, again) == 0);
	/* copy is a pointer here: compare the whole copy, not sizeof(copy) */
	fz_check(memcmp(copy, again, VXTS_HDR_COPY_SIZE) == 0);
	fz_check(vxts_hdr_decode(again, &h2, why, sizeof(why)) == 0);
	fz_check(memcmp(&h, &h2, sizeof(h)) == 0);
	fz_slots(&h);
}

static void fz_reply(const char *p, size_t len)
{
	static char data[8192], scratch[8192];
	uint8_t out[4096];
	char err[160];
	size_t n, dl;
	int is_err;

	if (len > sizeof(data) - 1)
		len = sizeof(data) - 1;
	vxts_b64_decode(out, sizeof(out), &n, p, len);
	if (vxts_kms_parse_reply(p, len, data, &dl, &is_err, err, scratch))
		return;
	fz_check(memchr(err, '\0', 160) != NULL);
	if (is_err)
		return;
	fz_check(dl <= len && data[dl] == '\0');
	vxts_b64_decode(out, sizeof(out), &n, data, dl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t copy[VXTS_HDR_COPY_SIZE];

	memset(copy, 0, sizeof(copy));
	memcpy(copy, data, size < sizeof(copy) ? size : sizeof(copy));
	if (size > sizeof(copy))
		fz_reply((const char *)data + sizeof(copy), size - sizeof(copy));
	fz_copy(copy);
	fz_forge(copy);
	fz_copy(copy);
	return 0;
}
