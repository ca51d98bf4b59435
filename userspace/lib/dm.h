/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm: the device-mapper calls vxts needs (create, load, suspend/resume,
 * message, status and table, remove) over libdevmapper, and the kernel
 * keyring calls that hand a volume key to dm-vxts as a `logon` key.
 *
 * Every call returns 0 or -errno and never prints: libdevmapper's own log
 * is captured into the error detail (vxts_error_detail()). Works without
 * udev (the test VM has none): nodes under /dev/mapper are made by us when
 * udev does not make them, and checked to be block devices.
 */
#ifndef VXTS_DM_H
#define VXTS_DM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VXTS_DM_MAX_TARGETS	16
#define VXTS_DM_PARAMS_MAX	1024

struct vxts_dm_target {
	uint64_t start, len;		/* 512-byte sectors */
	char type[32];
	char params[VXTS_DM_PARAMS_MAX];
};

struct vxts_dm_table {
	unsigned int n;
	struct vxts_dm_target t[VXTS_DM_MAX_TARGETS];
};

struct vxts_dm_info {
	bool exists;
	bool suspended;
	bool live_table, inactive_table;
	int open_count;
	uint32_t major, minor;
	unsigned int target_count;
	char uuid[129];
};

/* Fills @out; a missing device is not an error (exists = false). */
int vxts_dm_info(const char *name, struct vxts_dm_info *out);

/*
 * Creates @name (with @uuid, NULL for none) and makes @t its live table;
 * the node /dev/mapper/@name exists as a block device when this returns 0.
 * -EEXIST if @name exists.
 */
int vxts_dm_create(const char *name, const char *uuid, const struct vxts_dm_table *t);

/* Loads @t as the inactive table of @name. */
int vxts_dm_load(const char *name, const struct vxts_dm_table *t);

/* Suspends @name (flushing queued IO unless @noflush); waits for in-flight IO. */
int vxts_dm_suspend(const char *name, bool noflush);

/* Resumes @name: an inactive table, if loaded, becomes live. */
int vxts_dm_resume(const char *name);

/* Drops the inactive table of @name (if any); the live table stays. */
int vxts_dm_clear(const char *name);

/*
 * load + suspend + resume: the live table of @name becomes @t under IO. On
 * failure the old table stays live (a failed suspend clears @t again).
 */
int vxts_dm_reload(const char *name, const struct vxts_dm_table *t);

/* `dmsetup message @name 0 @msg`; the target's answer (if any) into @ans. */
int vxts_dm_message(const char *name, const char *msg, char *ans, size_t ans_len);

/* `dmsetup status` (@table false) or `dmsetup table` (@table true). */
int vxts_dm_query(const char *name, bool table, struct vxts_dm_table *out);

/* Removes @name and its node (no retries: -EBUSY while it is open). */
int vxts_dm_remove(const char *name);

/* Renames @name to @new_name (and its node). */
int vxts_dm_rename(const char *name, const char *new_name);

/* /dev/mapper/@name into @buf. */
void vxts_dm_path(const char *name, char *buf, size_t len);

/*
 * "major:minor" of block device @path into @buf (what a table line names);
 * -ENOTBLK if @path is not a block device.
 */
int vxts_dm_devno(const char *path, char *buf, size_t len);

/* ---- kernel keyring --------------------------------------------------- */

/*
 * Adds (or updates) the `logon` key @desc with @len bytes of @key in the
 * user keyring; the payload goes straight from caller memory to the kernel.
 */
int vxts_keyring_add(const char *desc, const uint8_t *key, size_t len);

/* Unlinks the logon key @desc from the user keyring; -ENOKEY if absent. */
int vxts_keyring_unlink(const char *desc);

/* True if the logon key @desc is in the user keyring. */
bool vxts_keyring_has(const char *desc);

#endif
