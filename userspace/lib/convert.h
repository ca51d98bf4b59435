/* SPDX-License-Identifier: GPL-2.0 */
/*
 * convert: the crash-safe, window-by-window conversion state machine
 * (docs/ENGINE.md). It knows the header, two devices and the keys; it does
 * not know how the window is held, so the same machine can later drive an
 * online conversion where dm-vxts holds the window instead of nobody.
 */
#ifndef VXTS_CONVERT_H
#define VXTS_CONVERT_H

#include <stdint.h>

#include "dev.h"
#include "header.h"
#include "vxts.h"

/*
 * How the window is held while it is converted. Offline conversion passes
 * none: nothing else writes the device, and the engine reads the next window
 * while converting this one. Online conversion (dm-vxts serving the device)
 * holds IO to [off, off + len) before the engine reads it and moves the
 * target's boundary at release, once the window is durable; the engine then
 * touches only the held window.
 */
struct vxts_conv_hold {
	int (*hold)(void *ctx, uint64_t off, uint64_t len);
	/* @boundary: data bytes now converted and durable */
	int (*release)(void *ctx, uint64_t off, uint64_t len, uint64_t boundary);
	void *ctx;
	/* after ctx: positional initializers of the first three stay valid */
	/*
	 * Optional: the length of the window that starts at @off (the engine
	 * rounds it down to the data unit and clamps it to [unit, @max]), so
	 * an online driver can size windows to a hold-time target. Asked when
	 * the window is planned, i.e. before the previous one is released.
	 */
	uint64_t (*next_len)(void *ctx, uint64_t off, uint64_t max);
};

struct vxts_conv_ctx {
	struct vxts_dev *data;		/* data area at h->data_offset */
	struct vxts_dev *hdr;		/* header area at hdr_base (may equal data) */
	uint64_t hdr_base;
	struct vxts_header *h;		/* in/out: takes each state once committed */
	const uint8_t *key_cur;		/* DEK of key_id h->key_id */
	const uint8_t *key_new;		/* re-key: the other DEK, else NULL */
	const uint8_t *mac_cur;		/* header MAC key under key_cur */
	const uint8_t *mac_new;		/* under key_new (re-key completion) */
	const struct vxts_conv_hold *hold;	/* NULL: offline */
};

/*
 * Recovers an interrupted window (if the header names one) and converts until
 * the end. 0 done (h says the final state), -EINTR stopped at a commit point,
 * else -errno with the detail set. *h is only ever a committed state. A
 * re-key whose final commit landed has switched h->key_id to the new DEK
 * (even if the record wipe after it failed): the caller swaps its keys.
 */
int vxts_conv_run(struct vxts_conv_ctx *x, const struct vxts_convert_opts *o);

#endif
