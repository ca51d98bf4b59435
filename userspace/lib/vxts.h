/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vxts: the public API of libvxts, the in-place conversion engine.
 *
 * A volume is a data area on a device (file or block device) plus a vxts
 * header (docs/FORMAT.md) that lives either in a detached file or in the last
 * VXTS_HEADER_AREA_SIZE bytes of the device. The data area is always
 * byte-compatible with dm-crypt aes-xts-plain64 (`cryptsetup open --type plain
 * --cipher aes-xts-plain64 --key-size 512 --sector-size <unit>
 * --iv-offset <iv> --size <data sectors>`) once fully encrypted.
 *
 * Typical calls (the CLI makes exactly one of these per verb):
 *   encrypt:  vxts_format(dev, &fo{ .plaintext = true }, kek)
 *             vxts_open() + vxts_unlock() + vxts_convert_start(ENCRYPT) +
 *             vxts_convert()
 *   resume:   vxts_open() + vxts_unlock() + vxts_convert()
 *   decrypt:  vxts_open() + vxts_unlock() + vxts_convert_start(DECRYPT) +
 *             vxts_convert()
 *   re-key:   vxts_open() + vxts_unlock() + vxts_convert_start(REENCRYPT,
 *             new keks) + vxts_convert()
 *   add KEK:  vxts_open() + vxts_unlock() + vxts_keyslot_add()
 *
 * Conventions: every call returns 0 or a negative errno and never prints or
 * exits. After a failure, vxts_error_detail() gives a one-line message for a
 * human naming the thing and the fix. The errno values mean:
 *   -EPERM    no keyslot opens with the given KEK (wrong key); nothing written
 *   -EBUSY    device/header in use (mounted, held, or another vxts holds the
 *             lock), or a conversion is in progress and forbids the call
 *   -EBADMSG  header corrupt (both copies bad, or authenticated state fails
 *             its MAC): `vxts header restore` from a backup is the remedy
 *   -EUCLEAN  the resilience record of the interrupted window does not match
 *             the (authentic) header: a stale header was put back (replayed
 *             or restored) or the header area was edited. Nothing written.
 *             Restoring an older backup does NOT help; keep the device as
 *             is and investigate (the header may be older than the data)
 *   -ENOTRECOVERABLE  checksum recovery found a data unit that is neither
 *             old nor converted nor a sector mix of both (torn inside a
 *             sector): that unit is lost and re-running cannot help; the
 *             detail names it (restore it from a backup)
 *   -ENODATA  no vxts header there at all (foreign or empty)
 *   -EIO      read/write/sync error: fix the device and re-run to resume
 *   -EINTR    stopped at a commit point (stop flag or progress callback):
 *             the volume is consistent, vxts_convert() resumes it
 *   -EINVAL   bad argument, or device geometry unsuitable (size not a
 *             multiple of the data unit, too small)
 *   -ENOSPC   no room: header_at_end area is in use by a filesystem or holds
 *             non-zero data; no free keyslot
 *   -EALREADY the requested state is already reached (e.g. decrypt a
 *             plaintext volume): callers that want idempotency treat it as 0
 *   -ENOMEM   out of (locked) memory
 *   -EMEDIUMTYPE  encrypt: no evidence the device holds plaintext (it may be
 *             encrypted already); the caller may retry with force
 *   -EEXIST   encrypt: the device already carries a vxts header (at its end,
 *             or below it after a resize); not overridable
 *   -ESTALE   header restore: the backup is older than the live header (a
 *             re-key or conversion since, or taken mid-conversion)
 * Keys are only ever passed in caller memory (use vxts_secure_alloc()) and
 * copied into locked library memory that is wiped on vxts_close().
 */
#ifndef VXTS_H
#define VXTS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyslot.h"

#define VXTS_KEY_BYTES 64			/* AES-256-XTS volume key */
#define VXTS_UUID_SIZE 16
#define VXTS_LABEL_MAX 47			/* bytes, without the NUL */
/* Header + resilience area: the detached header file size, or what
 * header_at_end reserves at the end of the device. */
#define VXTS_HEADER_AREA_SIZE (16ULL << 20)

struct vxts_volume;				/* opaque */

/* What the data area holds right now. */
enum vxts_state {
	VXTS_STATE_ENCRYPTED = 1,		/* all ciphertext under the current DEK */
	VXTS_STATE_PLAINTEXT = 2,		/* all plaintext (before encrypt/after decrypt) */
	VXTS_STATE_ENCRYPTING = 3,		/* [0, boundary) cipher, rest plain */
	VXTS_STATE_DECRYPTING = 4,		/* [0, boundary) plain, rest cipher */
	VXTS_STATE_REENCRYPTING = 5,		/* [0, boundary) new DEK, rest old */
};

enum vxts_direction {
	VXTS_DIR_NONE = 0,
	VXTS_DIR_ENCRYPT = 1,
	VXTS_DIR_DECRYPT = 2,
	VXTS_DIR_REENCRYPT = 3,
};

enum vxts_resilience {
	VXTS_RESILIENCE_DEFAULT = 0,		/* = checksum */
	VXTS_RESILIENCE_CHECKSUM = 1,		/* per-unit SHA-256 of old data; needs atomic unit writes */
	VXTS_RESILIENCE_JOURNAL = 2,		/* copy of the old window; safe with any torn write */
};

/* ---- errors ---------------------------------------------------------- */

/*
 * Detail of the last failure in this thread ("" when none), e.g.
 * "header copy 1 on /dev/sdc: checksum mismatch; copy 2: bad magic: restore
 * with `vxts header restore`". Valid until the next library call in the thread.
 */
const char *vxts_error_detail(void);

/* ---- format ---------------------------------------------------------- */

struct vxts_format_opts {
	const char *header;		/* detached header file (created/overwritten), or NULL */
	bool header_at_end;		/* header in the last VXTS_HEADER_AREA_SIZE of the device;
					 * refused (-ENOSPC) unless a filesystem probe shows it
					 * unused or it is all zeroes */
	bool plaintext;			/* the device holds data to encrypt in place (state
					 * PLAINTEXT); false: a new empty volume (state ENCRYPTED,
					 * data untouched and meaningless) */
	const char *label;		/* NULL = "" */
	uint32_t unit_size;		/* 512 or 4096; 0 = 4096 */
	uint64_t iv_offset;		/* 512-byte sectors added to the tweak; default 0 */
	uint64_t data_size;		/* bytes; 0 = whole device (minus the header area) */
	const uint8_t *volume_key;	/* VXTS_KEY_BYTES, or NULL = random */
	const struct vxts_argon2_params *argon2;	/* passphrase KEKs; NULL = defaults */
	bool force;			/* plaintext: encrypt even without evidence that the
					 * device holds plaintext (see vxts_format()) */
};

/*
 * Writes a new header (both copies) for @device with one keyslot sealed under
 * @kek. Writes nothing to the data area. Refuses (-EBUSY) a device in use.
 * Overwrites an existing vxts header only if it is not mid-conversion.
 *
 * With @o->plaintext (encrypt in place) it first makes sure the device is
 * not ciphertext already, which would be encrypted a second time:
 *   -EMEDIUMTYPE  libblkid finds no filesystem, partition table, LVM, swap,
 *                 RAID or other known signature in the data area (ciphertext
 *                 and random data look alike), or only an encryption layer
 *                 (LUKS, BitLocker, ...). @o->force overrides this one.
 *   -EEXIST       a vxts header is at the device end (a detached format), or
 *                 a stray one lies in the 16 MiB below the end area (the
 *                 device grew after an at-end volume was made), or the header
 *                 being replaced describes a volume that is not plaintext.
 *                 Never overridden: the data is vxts ciphertext.
 * Nothing is written (no header file created) when either is returned.
 */
int vxts_format(const char *device, const struct vxts_format_opts *o,
		const struct vxts_kek *kek);

/* ---- open / unlock / close ------------------------------------------- */

#define VXTS_OPEN_READONLY	(1u << 0)	/* info/backup only: no lock, no writes */
#define VXTS_OPEN_SHARED	(1u << 1)	/* read-write without O_EXCL (flock still taken):
						 * the device is under a dm mapping the caller
						 * drives (online conversion, docs/ONLINE.md) */

/*
 * Opens @device with its header in @header (NULL = at the end of the device)
 * and loads the newest valid header copy. Read-write opens take O_EXCL on
 * block devices and flock(LOCK_EX|LOCK_NB) on device and header (-EBUSY).
 */
int vxts_open(const char *device, const char *header, unsigned int flags,
	      struct vxts_volume **out);

/*
 * Finds the keyslot(s) @kek opens (the current DEK, and the new one while
 * re-keying), then verifies the header MAC. -EPERM: no slot opens;
 * -EBADMSG: a slot opened but the authenticated metadata does not verify
 * (tampered header): the volume stays locked and nothing is written.
 * May be called again with another KEK: while re-keying, the new DEK may be
 * sealed under a different KEK than the current one; both are needed to
 * resume (vxts_convert() returns -EPERM until then).
 */
int vxts_unlock(struct vxts_volume *v, const struct vxts_kek *kek);

/* Wipes keys, drops locks, closes files. NULL ok. */
void vxts_close(struct vxts_volume *v);

/* ---- info ------------------------------------------------------------ */

struct vxts_info {
	uint8_t uuid[VXTS_UUID_SIZE];
	char uuid_str[37];
	char label[VXTS_LABEL_MAX + 1];
	char cipher[32];		/* "aes-xts-plain64" */
	uint32_t version;		/* on-disk format version */
	uint32_t unit_size;		/* bytes */
	uint64_t data_offset;		/* bytes from the start of the device (0) */
	uint64_t data_size;		/* bytes */
	uint64_t iv_offset;		/* 512-byte sectors */
	bool header_at_end;
	uint64_t header_offset;		/* bytes: where the header area starts in its file */
	enum vxts_state state;
	enum vxts_direction direction;	/* of the conversion in progress, or NONE */
	enum vxts_resilience resilience;
	uint64_t boundary;		/* bytes of the data area already converted */
	uint64_t window_offset;		/* window in flight (bytes, data-relative) */
	uint64_t window_size;
	uint64_t seq;			/* header update sequence number */
	unsigned int valid_copies;	/* bit 0: copy 1 valid, bit 1: copy 2 valid */
	bool unlocked;
	bool direct_io;			/* false: O_DIRECT refused (e.g. tmpfs), buffered + fdatasync */
	uint32_t current_key_id;	/* keyslots with this key_id hold the current DEK */
	char key_check[2 * VXTS_KEY_CHECK_BYTES + 1];	/* hex, unlocked only, else "" */
	struct vxts_keyslot_info slots[VXTS_KEYSLOTS];
};

int vxts_info(struct vxts_volume *v, struct vxts_info *info);

/* "encrypted", "plaintext", "encrypting", ...; "direction": "encrypt", ... */
const char *vxts_state_name(enum vxts_state s);
const char *vxts_direction_name(enum vxts_direction d);
const char *vxts_resilience_name(enum vxts_resilience r);

/* ---- conversion ------------------------------------------------------ */

/*
 * Progress: @done/@total bytes of the data area converted so far (resumed
 * runs start at the boundary). Called after each committed window. Return
 * non-zero to stop at this commit point (vxts_convert() returns -EINTR).
 */
typedef int (*vxts_progress_fn)(uint64_t done, uint64_t total, void *ctx);

struct vxts_convert_opts {
	/* Used by vxts_convert_start() only (a resumed run keeps the header's). */
	enum vxts_resilience resilience;
	/* Any run (an interrupted window is recovered at its recorded size). */
	uint64_t window_size;		/* bytes per commit; 0 = default (checksum 64 MiB,
					 * journal 4 MiB); journal max ~8 MiB */
	const struct vxts_argon2_params *argon2;	/* for new passphrase slots */
	/* Engine tunables (any run). */
	uint32_t chunk_size;		/* bytes per IO; 0 = 1 MiB */
	uint32_t queue_depth;		/* IOs in flight; 0 = 32 */
	uint32_t threads;		/* crypto workers; 0 = online CPUs */
	uint64_t rate_limit;		/* bytes/s; 0 = unlimited */
	vxts_progress_fn progress;	/* NULL = none */
	void *progress_ctx;
};

/*
 * Records the start of a conversion in the header (needs vxts_unlock()):
 *   ENCRYPT    from PLAINTEXT;  DECRYPT from ENCRYPTED;
 *   REENCRYPT  from ENCRYPTED: a new random DEK is sealed in a free slot under
 *              each of @new_keks (n_new_keks >= 1). At completion the new DEK
 *              becomes current and every slot of the old DEK is cleared: a
 *              KEK not listed in @new_keks no longer opens the volume.
 * Writes only the header. -EALREADY if already in the target state, -EBUSY
 * if another conversion is in progress (resume it with vxts_convert()); 0
 * without writing if the same conversion is already in progress, so
 * "start + convert" is also the resume sequence.
 */
int vxts_convert_start(struct vxts_volume *v, enum vxts_direction dir,
		       const struct vxts_convert_opts *o,
		       const struct vxts_kek *new_keks, size_t n_new_keks);

/*
 * Runs (or resumes, after recovering an interrupted window) the conversion
 * recorded in the header until it completes (0), is stopped (-EINTR), or
 * fails. Needs vxts_unlock(). -EALREADY if there is nothing to convert.
 * After a failure the handle still holds the last header state that was
 * committed (never one whose commit failed), so calling vxts_convert()
 * again on it resumes correctly once the IO error is gone.
 */
int vxts_convert(struct vxts_volume *v, const struct vxts_convert_opts *o);

/*
 * Async-signal-safe: ask every running vxts_convert() in the process to stop
 * at its next commit point. vxts_clear_stop() re-arms (call before resuming).
 */
void vxts_request_stop(void);
void vxts_clear_stop(void);

/* ---- keyslots (KEK rotation, never touches data) --------------------- */

/*
 * Seals the current DEK under @kek in slot @slot (-1 = first free). Needs
 * vxts_unlock(). Returns the slot number used (>= 0), or -ENOSPC no free
 * slot; -EEXIST slot in use; -EBUSY while a re-key is in progress.
 */
int vxts_keyslot_add(struct vxts_volume *v, const struct vxts_kek *kek,
		     const struct vxts_argon2_params *p, int slot);

/*
 * Clears slot @slot. Needs vxts_unlock(). Refuses (-EPERM) to remove the
 * last slot holding the current DEK (key lost = data lost).
 */
int vxts_keyslot_remove(struct vxts_volume *v, int slot);

/*
 * Re-seals the current DEK under @kek and clears slot @slot, in one header
 * update (atomic: after a crash exactly one of the old and new KEK opens).
 * Returns the new slot number (>= 0), -ENOENT @slot not in use, -EINVAL it
 * holds no current key, -ENOSPC, -EBUSY while re-keying, or the seal's error
 * (a KMS helper or PKCS#11 token failure: -ETIMEDOUT, -EPROTO, -ECOMM).
 */
int vxts_keyslot_rotate(struct vxts_volume *v, int slot, const struct vxts_kek *kek,
			const struct vxts_argon2_params *p);

/* ---- header backup / restore ----------------------------------------- */

/*
 * Writes the newest valid header copy, twice (8 KiB, the layout of the
 * header area's start) to @path: a new file, 0600; -EEXIST if it exists.
 * Works on a read-only open; holds no key material beyond the wrapped slots.
 */
int vxts_header_backup(struct vxts_volume *v, const char *path);

/* Make the directory entry of @path durable (fsync of its directory). */
int vxts_sync_dir_of(const char *path);

/*
 * Writes the header in @backup over the header of @device (@header: detached
 * file, NULL = at the end): copy 2, sync, copy 1, sync, so a cut leaves one
 * whole copy. The backup must decode; if the present header still decodes
 * its UUID must match (else -EINVAL). Takes the same locks as a read-write
 * open (-EBUSY when another holds them). Refused with -ESTALE (waiting does
 * not help; a newer backup does):
 *   - a backup taken mid-conversion (direction not none), unless
 *     VXTS_RESTORE_FORCE: its boundary is right only if nothing was
 *     converted since, which vxts cannot check when the live header is gone;
 *   - if the present header decodes: a backup from before a re-key (key
 *     generation differs) or whose conversion state differs from it.
 * vxts_header_restore() is vxts_header_restore_flags(..., 0).
 */
#define VXTS_RESTORE_FORCE	(1u << 0)

int vxts_header_restore_flags(const char *device, const char *header, const char *backup,
			      unsigned int flags);
int vxts_header_restore(const char *device, const char *header, const char *backup);

/* ---- keys for opening through dm-vxts -------------------------------- */

enum vxts_key_which {
	VXTS_KEY_CURRENT = 0,		/* the DEK of [boundary, end) while re-keying */
	VXTS_KEY_NEW = 1,		/* re-key only: the DEK of [0, boundary) */
};

/*
 * Copies a DEK (VXTS_KEY_BYTES) into @key (caller: secure memory). Needs
 * vxts_unlock(). -ENOENT for VXTS_KEY_NEW when not re-keying.
 */
int vxts_volume_key(struct vxts_volume *v, enum vxts_key_which which,
		    uint8_t key[VXTS_KEY_BYTES]);

/* ---- online conversion through dm-vxts (docs/ONLINE.md) --------------- */

/*
 * Recovers the window a crash interrupted (if the header names one) while
 * nothing else can write the device (opened with O_EXCL, nothing mapped),
 * and commits "boundary past it, no window in flight". 0 if there was none.
 * `vxts open` runs it before a partially converted volume is mapped.
 */
int vxts_recover(struct vxts_volume *v);

/* What dm-vxts reports about a mapping (`dmsetup status`), in sectors. */
struct vxts_online_kstate {
	bool is_vxts;			/* target type vxts (else linear or other) */
	enum vxts_direction dir;	/* NONE: a plain vxts table, no convert: */
	uint64_t boundary;
	bool held;			/* a window [lo, hi) is held */
	uint64_t lo, hi;
	uint64_t held_now, held_total, hold_max_us, wait_max_us;
	uint64_t drain_max_us;		/* longest drain of in-flight IO by a hold */
};

/* The mapping a volume needs, without key bytes (logon key names only). */
struct vxts_online_map {
	char devno[32];			/* major:minor of the data device */
	uint64_t data_offset, len;	/* sectors */
	uint64_t iv_offset;		/* sectors */
	uint32_t unit;			/* bytes */
	enum vxts_state state;
	enum vxts_direction dir;
	uint64_t boundary;		/* sectors */
	char key_desc[96];		/* logon key of <key> (the new form's) */
	char old_desc[96];		/* reencrypt: the old form's key */
};

/* Runtime state of a mapping in /run/vxts (VXTS_RUN_DIR overrides). */
struct vxts_online_rt {
	bool known;			/* vxts created (or took over) this mapping */
	bool converter;			/* a converter holds the lock now */
	int pid;			/* its pid (0 if none) */
	bool paused;
	char device[PATH_MAX];		/* the data device given when it was mapped (absolute) */
	char header[PATH_MAX];		/* detached header (absolute), "" = at the end */
	char inner[160];		/* takeover: the device holding the old table */
};

struct vxts_online_opts {
	double max_hold_ms;		/* target for one hold; 0 = 10 ms */
	uint64_t max_window;		/* bytes; 0 = 16 MiB */
	int (*stopping)(void);		/* non-zero: leave a pause wait (signal) */
};

struct vxts_online_stats {
	uint64_t windows, bytes;	/* held windows converted in this run */
	double secs;
	double hold_max_ms, hold_p99_ms, hold_avg_ms;	/* hold sent -> advance done */
	uint64_t window_min, window_max;	/* bytes, as sized */
	double paused_secs;
	const char *reconciled;		/* "none", "advance", "rehold", "recover" */
	struct vxts_online_kstate k;	/* the kernel's counters at the end */
};

/*
 * Unlocked volume -> the mapping it needs now (its header state) on the
 * block device @device, with its DEK(s) added to the user keyring as logon
 * keys "vxts:<uuid>:<key_id>" (the only way keys reach the kernel).
 */
int vxts_online_describe(struct vxts_volume *v, const char *device,
			 struct vxts_online_map *m);

/*
 * Creates /dev/mapper/@name from @m (the volume must be closed: dm claims
 * the device) and records @device/@header in the runtime state. With
 * @takeover, @name is an existing dm device: its table moves to
 * "@name-vxts-inner" and @m's table (whose devno must be the inner's, see
 * vxts_online_takeover_prepare()) is loaded into @name under IO.
 */
int vxts_online_create(const char *name, const struct vxts_online_map *m,
		       const char *device, const char *header);

/*
 * Takeover, step 1: @name is a dm device (an LVM LV); a copy of its table is
 * created as "@name-vxts-inner" (same extents), whose path is returned in
 * @inner; the volume is then opened on @inner. -EEXIST if the inner exists
 * already (it is reused: a takeover that was cut short).
 */
int vxts_online_takeover_prepare(const char *name, char *inner, size_t len);

/*
 * A takeover that failed before step 2: removes "@name-vxts-inner" unless
 * @name already serves the vxts table (then the inner is its data device).
 */
void vxts_online_takeover_abort(const char *name);

/* Takeover, step 2: load @m's table into @name under IO (suspend/resume). */
int vxts_online_takeover(const char *name, const struct vxts_online_map *m,
			 const char *device, const char *header);

/*
 * The converter: @v opened with VXTS_OPEN_SHARED on the mapping's device and
 * unlocked. Takes the runtime lock of @name (-EBUSY if another converter
 * holds it), reconciles kernel and header (docs/ONLINE.md), converts window
 * by window under `hold`/`advance`, waits at window edges while paused, and
 * at the end reloads the final table (vxts, or linear after a decrypt) and
 * unlinks keys no table uses. 0 done, -EINTR stopped at a window edge.
 */
int vxts_online_run(struct vxts_volume *v, const char *name,
		    const struct vxts_convert_opts *co,
		    const struct vxts_online_opts *oo, struct vxts_online_stats *st);

/* Kernel state of mapping @name; -ENXIO if it does not exist. */
int vxts_online_kernel(const char *name, struct vxts_online_kstate *k);

/* "major:minor" of the device the vxts (or linear) table of @name maps. */
int vxts_online_data_device(const char *name, char *devno, size_t len);

/* Runtime state of @name (never fails: unknown fields stay empty). */
void vxts_online_runtime(const char *name, struct vxts_online_rt *rt);

/*
 * The smallest IO the filesystem on @dev issues (ext2/3/4 block size, XFS
 * sector size), 0 if none is recognised: a mapping whose data unit is larger
 * would refuse that filesystem's IO.
 */
int vxts_online_fs_min_io(const char *dev, uint32_t *bytes);

/* Sets or clears the pause flag of @name. */
int vxts_online_pause(const char *name, bool pause);

/*
 * Removes mapping @name and unlinks its logon keys; -EBUSY while a converter
 * runs, a window is held or the device is open (mounted). A taken-over
 * device (an LVM LV) is not removed: it gets its own table back from
 * "@name-vxts-inner", which is removed (the state after a reboot).
 */
int vxts_online_close(const char *name);

#endif
