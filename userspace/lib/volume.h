/* SPDX-License-Identifier: GPL-2.0 */
/*
 * volume: the state behind the opaque struct vxts_volume, and the entry
 * points that take ready-made devices, so the unit tests can run the real
 * library over a fault-injecting device (tests/unit/helpers/fault_dev.c).
 */
#ifndef VXTS_VOLUME_H
#define VXTS_VOLUME_H

#include <stdbool.h>

#include "convert.h"
#include "dev.h"
#include "header.h"
#include "vxts.h"

/* Locked key memory layout (vxts_secure_alloc). */
struct vxts_vol_keys {
	uint8_t cur[VXTS_KEY_BYTES];	/* DEK of key_id h.key_id */
	uint8_t new[VXTS_KEY_BYTES];	/* re-key: the other DEK */
	uint8_t mac_cur[32];
	uint8_t mac_new[32];
};

struct vxts_volume {
	struct vxts_dev *data;
	struct vxts_dev *hdr;		/* == data when the header is at the end */
	uint64_t hdr_base;		/* header area offset in hdr */
	bool readonly;
	struct vxts_header h;
	struct vxts_hdr_load load;
	bool have_cur, have_new;
	struct vxts_vol_keys *keys;
};

/*
 * Takes ownership of @data and @hdr (closed by vxts_close, once if equal) and
 * loads the header at @hdr_base. On failure the devices are closed too.
 */
int vxts_volume_attach(struct vxts_dev *data, struct vxts_dev *hdr, uint64_t hdr_base,
		       bool readonly, struct vxts_volume **out);

/*
 * Writes a fresh header; @area_size is the header area (VXTS_HEADER_AREA_SIZE
 * for real volumes; tests use less). Does not close the devices.
 */
int vxts_format_devs(struct vxts_dev *data, struct vxts_dev *hdr, uint64_t hdr_base,
		     uint64_t area_size, const struct vxts_format_opts *o,
		     const struct vxts_kek *kek);

/* vxts_convert() with the window held by @hold (online mode; NULL = offline). */
int vxts_convert_held(struct vxts_volume *v, const struct vxts_convert_opts *o,
		      const struct vxts_conv_hold *hold);

#endif
