/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fault_dev: an in-memory implementation of the engine's IO seam (dev.h)
 * that fails or tears the Nth operation, then behaves as if power were cut.
 *
 * Operations are counted across every device sharing one struct fault_ctl
 * (data and header device of a volume), in the order the engine submits
 * them: each read, each write and each sync is one operation. At op N:
 *   - the op fails with -EIO, and so does every later op (power is off);
 *   - tear: if op N is a write, a prefix of it lands first (a multiple of
 *     tear_align bytes: 512/4096 models atomic sector writes, 1 any tear);
 *   - drop_unsynced: every write not yet covered by a sync of its device is
 *     undone (a volatile cache lost), except the torn prefix, which lands
 *     after the undo (the cache flushed just that, out of order).
 * short_io makes every other transfer move only half (sector-rounded), to
 * exercise the engine's short-transfer path.
 */
#ifndef VXTS_FAULT_DEV_H
#define VXTS_FAULT_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "dev.h"

struct fault_undo;

struct fault_ctl {
	/* configuration */
	long fail_at;			/* 1-based op number; 0 = never */
	bool tear;
	uint32_t tear_align;		/* 0 = 1 */
	bool drop_unsynced;
	bool short_io;
	/* Optional: told every IO that succeeds (after it moved its bytes). */
	void (*observe)(void *ctx, struct vxts_dev *d, enum vxts_io_op op, uint64_t off,
			size_t len);
	void *observe_ctx;
	/* state */
	long ops;			/* operations seen so far */
	long writes;			/* bytes written, all devices */
	bool crashed;
	struct fault_undo *undo;	/* unsynced writes, newest first */
};

/* A device over @mem (not owned: it outlives the device, like a disk). */
struct vxts_dev *fault_dev_new(uint8_t *mem, uint64_t size, const char *name,
			       struct fault_ctl *ctl);

/* Frees the undo log (call once the devices are closed). */
void fault_ctl_reset(struct fault_ctl *ctl);

#endif
