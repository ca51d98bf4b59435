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

/* One LUKS header, loaded once: probe, check and unlock all read this load. */
struct vxts_luks;

/*
 * True if @header (or @device when @header is NULL) carries a LUKS magic
 * (a LUKS1/LUKS2 header, or a LUKS2 secondary copy). Reads only the magics;
 * libcryptsetup is not involved.
 */
bool vxts_luks_detect(const char *device, const char *header);

/*
 * Loads the header once. Before libcryptsetup sees it, a LUKS2 header's
 * two copies are compared (crypt_load() would rewrite a damaged or stale
 * copy): -EBADMSG if they disagree or the header does not load although a
 * LUKS magic is there (the fix: `cryptsetup repair`); -ENODATA: no LUKS
 * magic; -EACCES & co: @header/@device cannot be read.
 */
int vxts_luks_load(const char *device, const char *header, struct vxts_luks **l);
void vxts_luks_free(struct vxts_luks *l);

/*
 * Pure, for tests: 0 if LUKS2 header copies @h1 (primary) and @h2
 * (secondary), @len bytes each (hdr_size), are both valid and agree, so
 * libcryptsetup has nothing to repair; -EBADMSG if not; -EINVAL if @h1 is
 * no LUKS2 primary header.
 */
int vxts_luks2_copies_agree(const uint8_t *h1, const uint8_t *h2, size_t len);

/* Fills @li from the loaded header. Does not judge: see vxts_luks_check(). */
int vxts_luks_probe(struct vxts_luks *l, struct vxts_luks_info *li);

/* Pure: is @uuid a canonical 36-character UUID (8-4-4-4-12 hex digits)? */
bool vxts_luks_uuid_ok(const char *uuid);

/*
 * Pure: can dm-vxts serve @li byte-identically? 0; -ENOTSUP for what it
 * cannot serve (cipher, key size, sector size, integrity, segment layout, a
 * UUID that is not canonical: it goes into the key name and the table);
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

/*
 * The logon key description for the volume key of LUKS volume @uuid mapped
 * from data device @devno ("maj:min"): clones with one UUID on two devices
 * get a key each.
 */
void vxts_luks_key_desc(char *buf, size_t len, const char *uuid, const char *devno);

/*
 * Unlocks with passphrase @pass (@len bytes, any bytes) and copies the
 * volume key into @key (@key_len bytes, caller's locked memory).
 * -EPERM: no keyslot bound to the data segment opens with it.
 */
int vxts_luks_volume_key(struct vxts_luks *l, const uint8_t *pass, size_t len, uint8_t *key,
			 size_t key_len);

/* Parameters of a new detached LUKS2 header (export). */
struct vxts_luks_export {
	const char *file;		/* linked into place when whole, never overwritten */
	const char *device;		/* the data device the header describes */
	uint32_t sector_size;		/* 512 or 4096 */
	uint64_t data_offset;		/* 512-byte sectors */
	const char *uuid;		/* LUKS UUID, NULL = random */
	const char *label;		/* NULL = none */
	uint32_t argon2_time, argon2_memory_kib, argon2_parallel;
};

/*
 * Writes @e->file: a LUKS2 header for @e->device with one argon2id keyslot
 * holding @key (64 bytes) under passphrase @pass. The header is written
 * into an unnamed file in @e->file's directory and linked to @e->file only
 * when complete and synced: -EEXIST if the name exists by then; a failure
 * or a kill leaves no file at @e->file.
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
