/* SPDX-License-Identifier: GPL-2.0 */
/*
 * placement: proof that the end of a device is free for a header_at_end
 * header area. No data moves and no filesystem shrinks, so the area must
 * already be unused: the filesystem there ends before it (libblkid finds the
 * type, we read the size from its superblock), or every byte of it is zero.
 */
#ifndef VXTS_PLACEMENT_H
#define VXTS_PLACEMENT_H

#include <stdint.h>

#include "dev.h"

/* 0 if [area_off, d->size) is provably unused; -ENOSPC (detail says why), -EIO. */
int vxts_place_check_end(struct vxts_dev *d, uint64_t area_off);

/* Filesystem size from an ext2/3/4 or XFS superblock image; 0 if unknown. */
uint64_t vxts_place_fs_size(const char *type, const uint8_t *sb, size_t len);

#endif
