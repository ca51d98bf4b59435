/* SPDX-License-Identifier: GPL-2.0 */
/*
 * luks: LUKS1/LUKS2 interop over libcryptsetup (docs/LUKS.md).
 *
 * Two directions. A LUKS volume whose single segment dm-vxts can serve
 * byte-identically (aes-xts-plain64, 512-bit key, 512- or 4096-byte sectors,
 * no integrity, no reencryption) is described here and unlocked through
 * libcryptsetup; the CLI maps it with the usual vxts table. And a fully
 * encrypted vxts volume's DEK is written into a new detached LUKS2 header.
 *
 * The LUKS header is only ever read when opening: nothing here writes to a
 * LUKS volume's device or header; export writes only the new header file.
 * Like the rest of the library: 0 or -errno, messages in the error detail.
 */
#ifndef VXTS_LUKS_H
#define VXTS_LUKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "online.h"

/* What the LUKS header says about its data segment, in 512-byte sectors. */
struct vxts_luks_info {
	char type[8];			/* "LUKS1" or "LUKS2" */
	char uuid[40];
	char cipher[32];		/* "aes" */
	char mode[32];			/* "xts-plain64" */
	uint32_t key_bytes;
	uint32_t sector_size;		/* encryption sector: 512 .. 4096 */
	uint64_t data_offset;		/* sectors from the start of the data device */
	uint64_t iv_offset;		/* sectors added to the tweak (LUKS2 iv_tweak) */
	uint64_t size;			/* sectors; 0 = "dynamic" (to the end of the device) */
	bool integrity;			/* dm-integrity / AEAD */
	bool reencrypt;			/* reencryption in progress or left unfinished */
	uint32_t requirements;		/* LUKS2 requirement flags (reencrypt, unknown) */
	unsigned int segments;		/* LUKS2 non-backup segments (LUKS1: 1) */
	char segment_type[16];		/* "crypt" (LUKS1: "crypt") */
	int active_slots;
};

/*
 * True if @header (or @device when @header is NULL) starts with a LUKS1 or
 * LUKS2 header that libcryptsetup loads. Never writes.
 */
bool vxts_luks_detect(const char *device, const char *header);

/*
 * Loads the header and fills @li. -ENODATA: no LUKS header there. Does not
 * judge the result: see vxts_luks_check().
 */
int vxts_luks_probe(const char *device, const char *header, struct vxts_luks_info *li);

/*
 * Pure: can dm-vxts serve @li byte-identically? 0; -ENOTSUP for what it
 * cannot serve (cipher, key size, sector size, integrity, segment layout);
 * -ESTALE for a state that forbids it now (reencryption in progress or left
 * unfinished, a requirement flag). The detail says which and what to do.
 */
int vxts_luks_check(const struct vxts_luks_info *li);

/*
 * Pure: the dm-vxts mapping of @li on data device @devno ("maj:min") of
 * @dev_sectors 512-byte sectors, with the volume key in logon key @key_desc.
 * Never sets iv_large_sectors: LUKS2 counts the tweak in 512-byte sectors
 * whatever its sector size (docs/LUKS.md). -ENOSPC: the segment does not
 * fit the device or is not a whole number of sectors.
 */
int vxts_luks_map(const struct vxts_luks_info *li, const char *devno, uint64_t dev_sectors,
		  const char *key_desc, struct vxts_online_map *m);

/* The logon key description for the volume key of LUKS volume @uuid. */
void vxts_luks_key_desc(char *buf, size_t len, const char *uuid);

/*
 * Unlocks with passphrase @pass (@len bytes, any bytes) and copies the
 * volume key into @key (@key_len bytes, caller's locked memory).
 * -EPERM: no keyslot opens with it.
 */
int vxts_luks_volume_key(const char *device, const char *header, const uint8_t *pass,
			 size_t len, uint8_t *key, size_t key_len);

/* Parameters of a new detached LUKS2 header (export). */
struct vxts_luks_export {
	const char *file;		/* created (O_EXCL, 0600), never overwritten */
	const char *device;		/* the data device the header describes */
	uint32_t sector_size;		/* 512 or 4096 */
	uint64_t data_offset;		/* 512-byte sectors */
	const char *uuid;		/* LUKS UUID, NULL = random */
	const char *label;		/* NULL = none */
	uint32_t argon2_time, argon2_memory_kib, argon2_parallel;
};

/*
 * Writes @e->file: a LUKS2 header for @e->device with one argon2id keyslot
 * holding @key (64 bytes) under passphrase @pass. -EEXIST if the file
 * exists; on any failure the partly written file is removed.
 */
int vxts_luks_export(const struct vxts_luks_export *e, const uint8_t *key, size_t key_len,
		     const uint8_t *pass, size_t pass_len);

/*
 * Pure, for tests: the segments of a crypt_dump_json() document. Counts
 * the non-backup entries of "segments" and copies segment "0"'s type, size
 * ("dynamic" -> 0, else bytes) and whether it has flags. -EINVAL if the
 * document does not parse as expected.
 */
int vxts_luks_json_segments(const char *json, unsigned int *count, char *type, size_t type_len,
			    uint64_t *size_bytes, bool *dynamic, bool *flagged);

#endif
