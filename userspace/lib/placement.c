// SPDX-License-Identifier: GPL-2.0
/*
 * placement: is the tail of a device free for the header area?
 *
 * libblkid 2.38 identifies filesystems but does not report their size (FSSIZE
 * came in 2.39), so for the types we know we read the size fields ourselves:
 *   ext2/3/4: superblock at byte 1024, blocks_count lo (0x04) | hi (0x150,
 *             only with INCOMPAT_64BIT), block size 1024 << s_log_block_size
 *   xfs:      superblock at byte 0, sb_blocksize (be32 @4) * sb_dblocks (be64 @8)
 * Anything else (unknown filesystem, partition table, LVM, ...) must leave the
 * area all zeroes, else we refuse rather than overwrite someone's data.
 */
#include <blkid/blkid.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "header.h"
#include "placement.h"

#define PLACE_EXT_INCOMPAT_64BIT 0x80

static uint32_t place_le32(const uint8_t *b)
{
	return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t place_be(const uint8_t *b, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

uint64_t vxts_place_fs_size(const char *type, const uint8_t *sb, size_t len)
{
	if (!strncmp(type, "ext", 3) && len >= 1024 + 0x158) {
		const uint8_t *s = sb + 1024;
		uint64_t blocks = place_le32(s + 0x04);
		uint32_t log = place_le32(s + 0x18);

		if (place_le32(s + 0x60) & PLACE_EXT_INCOMPAT_64BIT)
			blocks |= (uint64_t)place_le32(s + 0x150) << 32;
		return log > 16 ? 0 : blocks * (1024ULL << log);
	}
	if (!strcmp(type, "xfs") && len >= 16 && !memcmp(sb, "XFSB", 4))
		return place_be(sb + 4, 4) * place_be(sb + 8, 8);
	return 0;
}

/*
 * TYPE of what sits at the start of the device ("" if nothing known). libblkid
 * reads at odd offsets and sizes, so it gets its own buffered descriptor: ours
 * may be O_DIRECT.
 */
static int place_probe_type(struct vxts_dev *d, char *type, size_t len)
{
	blkid_probe pr = blkid_new_probe();
	const char *v = NULL;
	int fd = open(d->name, O_RDONLY | O_CLOEXEC);
	int r = fd < 0 ? -1 : 0;

	type[0] = '\0';
	if (!pr) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	if (!r)
		r = blkid_probe_set_device(pr, fd, 0, 0);
	if (!r) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
		blkid_probe_enable_partitions(pr, 1);
		r = blkid_do_safeprobe(pr);
	}
	if (r == 0 && (!blkid_probe_lookup_value(pr, "TYPE", &v, NULL) ||
		       !blkid_probe_lookup_value(pr, "PTTYPE", &v, NULL)))
		snprintf(type, len, "%s", v);
	blkid_free_probe(pr);
	if (fd >= 0)
		close(fd);
	/* -2: ambivalent (two signatures): treat as unknown, zero check decides. */
	return r < 0 && r != -2 ? -EIO : 0;
}

static int place_all_zero(struct vxts_dev *d, uint64_t from, bool *zero)
{
	size_t step = 1 << 20;
	uint8_t *b = aligned_alloc(4096, step);
	int r = b ? 0 : -ENOMEM;

	*zero = true;
	for (uint64_t off = from; !r && *zero && off < d->size; off += step) {
		size_t n = d->size - off < step ? (size_t)(d->size - off) : step;

		r = vxts_dev_rw(d, VXTS_IO_READ, b, n, off);
		for (size_t i = 0; !r && i < n; i++)
			if (b[i]) {
				*zero = false;
				break;
			}
	}
	free(b);
	return r;
}

static int place_fs_size(struct vxts_dev *d, const char *type, uint64_t *size)
{
	uint8_t *b = aligned_alloc(4096, 4096);
	int r = b ? vxts_dev_rw(d, VXTS_IO_READ, b, 4096, 0) : -ENOMEM;

	*size = r ? 0 : vxts_place_fs_size(type, b, 4096);
	free(b);
	return r;
}

/*
 * Is @type/@usage a layer that is itself encrypted (or one we cannot see
 * through)? Encrypting over it would make a second layer, not protect data.
 */
static bool place_is_crypto(const char *type, const char *usage)
{
	return !strcmp(usage, "crypto") || !strncmp(type, "crypto_", 7) ||
	       !strcmp(type, "BitLocker") || !strcmp(type, "VeraCrypt");
}

/* One probe result: evidence (1), a crypto layer (-EMEDIUMTYPE), or nothing (0). */
static int place_judge(blkid_probe pr, char *what, size_t len)
{
	const char *type = NULL, *usage = "";

	if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) &&
	    blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL))
		return 0;
	blkid_probe_lookup_value(pr, "USAGE", &usage, NULL);
	snprintf(what, len, "%s", type);
	return place_is_crypto(type, usage) ? -EMEDIUMTYPE : 1;
}

int vxts_place_probe_plain(struct vxts_dev *d, uint64_t size, char *what, size_t len)
{
	blkid_probe pr = blkid_new_probe();
	int fd = open(d->name, O_RDONLY | O_CLOEXEC);
	int r = fd < 0 || !pr ? -EIO : 0, found = 0, j = 0;

	what[0] = '\0';
	if (!r && blkid_probe_set_device(pr, fd, 0, (blkid_loff_t)size))
		r = -EIO;
	if (!r) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE |
						  BLKID_SUBLKS_MAGIC);
		blkid_probe_enable_partitions(pr, 1);
		blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
	}
	/* Every signature, not the first: a crypto one anywhere vetoes. */
	while (!r && found >= 0) {
		j = blkid_do_probe(pr);
		if (j)
			break;
		j = place_judge(pr, what, len);
		found = j < 0 ? j : found | j;
	}
	if (!r && found >= 0 && j < 0)
		r = -EIO;
	if (pr)
		blkid_free_probe(pr);
	if (fd >= 0)
		close(fd);
	if (r)
		return r;
	return found > 0 ? 0 : found < 0 ? found : -EMEDIUMTYPE;
}

int vxts_place_find_magic(struct vxts_dev *d, uint64_t from, uint64_t to, uint64_t *at)
{
	size_t step = 1 << 20;
	uint8_t *b = aligned_alloc(4096, step);
	int r = b ? 1 : -ENOMEM;

	from &= ~4095ULL;
	for (uint64_t off = from; r == 1 && off < to; off += step) {
		size_t n = to - off < step ? (size_t)(to - off) & ~(size_t)4095 : step;

		if (!n)
			break;
		r = vxts_dev_rw(d, VXTS_IO_READ, b, n, off) ? -EIO : 1;
		for (size_t i = 0; r == 1 && i < n; i += 4096)
			if (!memcmp(b + i, VXTS_HDR_MAGIC, 8)) {
				*at = off + i;
				r = 0;
			}
	}
	free(b);
	return r;
}

int vxts_place_check_end(struct vxts_dev *d, uint64_t area_off)
{
	char type[32];
	uint64_t fs_size = 0;
	bool zero;
	int r;

	r = place_probe_type(d, type, sizeof(type));
	if (!r && type[0])
		r = place_fs_size(d, type, &fs_size);
	if (r)
		return vxts_err(r, "cannot probe %s (%d)", d->name, r);
	if (fs_size && fs_size <= area_off)
		return 0;
	if (fs_size)
		return vxts_err(-ENOSPC, "%s filesystem on %s is %llu bytes and reaches into the "
				"last %llu bytes needed for the header: use a detached header "
				"(--header FILE) or shrink the filesystem first", type, d->name,
				(unsigned long long)fs_size,
				(unsigned long long)(d->size - area_off));
	r = place_all_zero(d, area_off, &zero);
	if (r)
		return vxts_err(r, "cannot read the end of %s (%d)", d->name, r);
	if (!zero)
		return vxts_err(-ENOSPC, "the last %llu bytes of %s are not provably unused (%s%s"
				"non-zero data): use a detached header (--header FILE)",
				(unsigned long long)(d->size - area_off), d->name,
				type[0] ? type : "no known filesystem", type[0] ? " with " : ", ");
	return 0;
}
