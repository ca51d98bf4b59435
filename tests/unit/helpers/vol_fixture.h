/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vol_fixture: an in-memory volume (data image + header area) for the unit
 * tests, driven through the real library over fault_dev devices.
 */
#ifndef VXTS_VOL_FIXTURE_H
#define VXTS_VOL_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "fault_dev.h"
#include "volume.h"
#include "vxts.h"

struct fx {
	uint8_t *data;			/* data image (plus the header area if at_end) */
	uint64_t data_size;		/* data area bytes */
	uint8_t *hdr;			/* detached header area, or NULL */
	uint64_t area;			/* header area bytes */
	bool at_end;
	struct fault_ctl ctl;
	uint8_t *secret;		/* key-file bytes (secure memory) */
	struct vxts_kek kek;
	uint8_t *secret2;		/* a second key file */
	struct vxts_kek kek2;
	uint8_t plain_digest[32];	/* SHA-256 of the original data area */
	uint8_t *snap_data, *snap_hdr;	/* fx_snapshot() */
};

/* Fills the data area with deterministic pseudo-random bytes from @seed. */
void fx_init(struct fx *f, uint64_t data_size, uint64_t area, bool at_end, uint32_t seed);
void fx_free(struct fx *f);
uint64_t fx_image_size(const struct fx *f);

/* Devices over the fixture's memory, sharing f->ctl. */
int fx_attach(struct fx *f, struct vxts_volume **out);
int fx_format(struct fx *f, const struct vxts_format_opts *o);

/*
 * One `vxts <verb>` run over the fixture: open, unlock with f->kek, start
 * (a re-key seals the new DEK for f->kek) and convert. A start that finds the
 * job already done (the crash came after the final commit) is a success when
 * @done_ok, as it is for the idempotent CLI.
 */
int fx_run(struct fx *f, enum vxts_direction dir, const struct vxts_convert_opts *o,
	   bool done_ok);

void fx_snapshot(struct fx *f);
void fx_restore(struct fx *f);

/* Header area bytes (for tampering): data + off when at_end, else hdr. */
uint8_t *fx_area(struct fx *f);

/*
 * SHA-256 of the data area read as plaintext: decrypted with @key when
 * @encrypted, else as is.
 */
void fx_plain_sha(struct fx *f, bool encrypted, const uint8_t *key, uint32_t unit,
		  uint64_t iv_offset, uint8_t out[32]);

#endif
