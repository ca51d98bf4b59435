// SPDX-License-Identifier: GPL-2.0
/*
 * dm: device-mapper over libdevmapper (dm_task_*), and the logon keys that
 * carry volume keys to dm-vxts, over the add_key/keyctl syscalls.
 *
 * libdevmapper logs to stderr by default; the library never prints, so its
 * log goes into the error detail instead. udev is optional: synchronisation
 * with it is off (no cookies, so a missing udev never makes a call wait),
 * and after create/rename the node is checked and made if needed.
 */
#include <errno.h>
#include <fcntl.h>
#include <libdevmapper.h>
#include <limits.h>
#include <linux/keyctl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "dm.h"
#include "error.h"

#define DM_NODE_WAIT_MS 1000

/* ---- libdevmapper plumbing ----------------------------------------------- */

static __thread char dm_last_log[256];

static void dm_log_capture(int level, const char *file, int line, int dm_errno_or_class,
			   const char *f, ...)
{
	va_list ap;

	if ((level & 7) > 3)	/* keep errors (LOG_ERR) and worse */
		return;
	va_start(ap, f);
	vsnprintf(dm_last_log, sizeof(dm_last_log), f, ap);
	va_end(ap);
}

static void dm_setup(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	dm_log_with_errno_init(dm_log_capture);
	dm_udev_set_sync_support(0);
}

static struct dm_task *dm_new(int type, const char *name)
{
	struct dm_task *dmt;

	dm_setup();
	dm_last_log[0] = 0;
	dmt = dm_task_create(type);
	if (!dmt)
		return NULL;
	if (name && !dm_task_set_name(dmt, name)) {
		dm_task_destroy(dmt);
		return NULL;
	}
	return dmt;
}

/* dm_task_create() failed: most often there is no device-mapper at all. */
static int dm_no_task(void)
{
	if (access("/dev/mapper/control", F_OK))
		return vxts_err(-ENODEV, "device-mapper is not available (no /dev/mapper/control): "
				"load dm-mod, and dm-vxts for vxts mappings");
	return vxts_err(-ENODEV, "device-mapper is not usable%s%s", dm_last_log[0] ? ": " : "",
			dm_last_log);
}

/* Runs @dmt; on failure the kernel's errno (or -EIO) with the detail set. */
static int dm_run(struct dm_task *dmt, const char *what, const char *name)
{
	int e;

	if (dm_task_run(dmt))
		return 0;
	e = dm_task_get_errno(dmt);
	e = e > 0 ? -e : -EIO;
	return vxts_err(e, "device-mapper %s of %s failed: %s", what, name,
			dm_last_log[0] ? dm_last_log : strerror(-e));
}

/* No control characters (a newline would end the table line); @spaces too? */
static bool dm_text_ok(const char *s, bool spaces)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || (!spaces && *s == ' '))
			return false;
	return true;
}

static int dm_add_targets(struct dm_task *dmt, const struct vxts_dm_table *t)
{
	for (unsigned int i = 0; i < t->n; i++) {
		if (!dm_text_ok(t->t[i].type, false) || !dm_text_ok(t->t[i].params, true))
			return vxts_err(-EINVAL, "refusing a device-mapper table with a control "
					"character or an empty field (target %u)", i);
		if (!dm_task_add_target(dmt, t->t[i].start, t->t[i].len, t->t[i].type,
					t->t[i].params))
			return -ENOMEM;
	}
	return t->n ? 0 : -EINVAL;
}

void vxts_dm_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dm_dir(), name);
}

int vxts_dm_devno(const char *path, char *buf, size_t len)
{
	struct stat st;

	if (stat(path, &st))
		return vxts_err(-errno, "cannot stat %s", path);
	if (!S_ISBLK(st.st_mode))
		return vxts_err(-ENOTBLK, "%s is not a block device", path);
	snprintf(buf, len, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	return 0;
}

/* ---- info, nodes ----------------------------------------------------------- */

int vxts_dm_info(const char *name, struct vxts_dm_info *out)
{
	struct dm_task *dmt = dm_new(DM_DEVICE_INFO, name);
	struct dm_info i;
	const char *uuid;
	int r;

	memset(out, 0, sizeof(*out));
	if (!dmt)
		return dm_no_task();
	r = dm_run(dmt, "info", name);
	if (!r && !dm_task_get_info(dmt, &i))
		r = -EIO;
	if (!r && i.exists) {
		out->exists = true;
		out->suspended = i.suspended;
		out->live_table = i.live_table;
		out->inactive_table = i.inactive_table;
		out->open_count = i.open_count;
		out->major = i.major;
		out->minor = i.minor;
		out->target_count = i.target_count;
		uuid = dm_task_get_uuid(dmt);
		snprintf(out->uuid, sizeof(out->uuid), "%s", uuid ? uuid : "");
	}
	dm_task_destroy(dmt);
	return r;
}

/*
 * With udev the node appears on its own (wait a moment); without it we make
 * it. Either way it must end up a block device with the mapping's number:
 * writing to a path that is not a node would create a regular file.
 */
static int dm_node_ensure(const char *name)
{
	const struct timespec tick = { 0, 20 * 1000000L };
	bool udev = !access("/run/udev/control", F_OK);
	struct vxts_dm_info in;
	char path[PATH_MAX];
	struct stat st;
	dev_t want;
	int r, waited = 0;

	r = vxts_dm_info(name, &in);
	if (r || !in.exists)
		return r ? r : vxts_err(-ENXIO, "device-mapper device %s vanished", name);
	want = makedev(in.major, in.minor);
	vxts_dm_path(name, path, sizeof(path));
	dm_task_update_nodes();
	while (udev && stat(path, &st) && waited < DM_NODE_WAIT_MS) {
		nanosleep(&tick, NULL);
		waited += 20;
	}
	if (!stat(path, &st) && S_ISBLK(st.st_mode) && st.st_rdev == want)
		return 0;
	if (!lstat(path, &st) && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
		unlink(path);
	mkdir(dm_dir(), 0755);
	if (mknod(path, S_IFBLK | 0600, want) && errno != EEXIST)
		return vxts_err(-errno, "cannot create the node %s", path);
	if (stat(path, &st) || !S_ISBLK(st.st_mode) || st.st_rdev != want)
		return vxts_err(-ENXIO, "%s is not the block device of mapping %s", path, name);
	return 0;
}

/* Drops the node of a removed mapping if udev (or libdevmapper) left it. */
static void dm_node_drop(const char *name, uint32_t maj, uint32_t min)
{
	char path[PATH_MAX];
	struct stat st;

	dm_task_update_nodes();
	vxts_dm_path(name, path, sizeof(path));
	if (!stat(path, &st) && S_ISBLK(st.st_mode) && st.st_rdev == makedev(maj, min))
		unlink(path);
}

/* ---- table changes ----------------------------------------------------------- */

int vxts_dm_create(const char *name, const char *uuid, const struct vxts_dm_table *t)
{
	struct dm_task *dmt = dm_new(DM_DEVICE_CREATE, name);
	int r;

	if (!dmt)
		return dm_no_task();
	r = dm_add_targets(dmt, t);
	if (!r && uuid && !dm_task_set_uuid(dmt, uuid))
		r = -ENOMEM;
	if (!r && !dm_task_secure_data(dmt))
		r = -ENOMEM;
	if (!r)
		r = dm_run(dmt, "create", name);
	dm_task_destroy(dmt);
	return r ? r : dm_node_ensure(name);
}

int vxts_dm_load(const char *name, const struct vxts_dm_table *t)
{
	struct dm_task *dmt = dm_new(DM_DEVICE_RELOAD, name);
	int r;

	if (!dmt)
		return dm_no_task();
	r = dm_add_targets(dmt, t);
	if (!r && !dm_task_secure_data(dmt))
		r = -ENOMEM;
	if (!r)
		r = dm_run(dmt, "load", name);
	dm_task_destroy(dmt);
	return r;
}

int vxts_dm_suspend(const char *name, bool noflush)
{
	struct dm_task *dmt = dm_new(DM_DEVICE_SUSPEND, name);
	int r = 0;

	if (!dmt)
		return dm_no_task();
	if (noflush && !dm_task_no_flush(dmt))
		r = -ENOMEM;
	if (!r)
		r = dm_run(dmt, "suspend", name);
	dm_task_destroy(dmt);
	return r;
}

int vxts_dm_resume(const char *name)
{
	struct dm_task *dmt = dm_new(DM_DEVICE_RESUME, name);
	int r;

	if (!dmt)
		return dm_no_task();
	r = dm_run(dmt, "resume", name);
	dm_task_destroy(dmt);
	return r;
}

int vxts_dm_clear(const char *name)
{
	struct dm_task *dmt = dm_new(DM_DEVICE_CLEAR, name);
	int r;

	if (!dmt)
		return dm_no_task();
	r = dm_run(dmt, "clear", name);
	dm_task_destroy(dmt);
	return r;
}

/*
 * Load, then suspend and resume: between the two IO queues in dm core (not
 * errors), and the new table serves everything after the resume. A failed
 * load leaves the live table as it was. A flushing suspend fails with
 * -EINTR when a signal arrives while it waits for IO (the handler has run
 * by then, so it is tried again). A suspend that still fails must not make
 * the new table live: a resume would swap in the loaded table while this
 * reports failure (the caller then acts as if the old table served, e.g. a
 * takeover never records itself). So the inactive table is cleared, and
 * only then is a device left suspended resumed, on its old table. A crash
 * anywhere here leaves the old table live, or the device suspended with the
 * new table inactive: `vxts resume NAME` clears that and resumes.
 */
int vxts_dm_reload(const char *name, const struct vxts_dm_table *t)
{
	struct vxts_dm_info in;
	int r = vxts_dm_load(name, t), tries = 0;

	if (r)
		return r;
	do
		r = vxts_dm_suspend(name, false);
	while (r == -EINTR && ++tries < 3);
	if (!r)
		return vxts_dm_resume(name);
	if (vxts_dm_clear(name))
		return vxts_err(r, "device-mapper suspend of %s failed (%d) and the new table "
				"could not be cleared: it is still loaded, inactive", name, r);
	if (!vxts_dm_info(name, &in) && in.exists && in.suspended)
		vxts_dm_resume(name);
	return vxts_err(r, "device-mapper suspend of %s failed (%d): the old table stays live",
			name, r);
}

int vxts_dm_message(const char *name, const char *msg, char *ans, size_t ans_len)
{
	struct dm_task *dmt = dm_new(DM_DEVICE_TARGET_MSG, name);
	const char *resp;
	int r = 0;

	if (ans && ans_len)
		ans[0] = 0;
	if (!dmt)
		return dm_no_task();
	if (!dm_task_set_sector(dmt, 0) || !dm_task_set_message(dmt, msg))
		r = -ENOMEM;
	if (!r && dm_task_run(dmt) == 0) {
		r = dm_task_get_errno(dmt);
		r = r > 0 ? -r : -EIO;
		/* callers name the message in their own detail */
	}
	resp = r ? NULL : dm_task_get_message_response(dmt);
	if (ans && ans_len && resp)
		snprintf(ans, ans_len, "%s", resp);
	dm_task_destroy(dmt);
	return r;
}

int vxts_dm_query(const char *name, bool table, struct vxts_dm_table *out)
{
	struct dm_task *dmt = dm_new(table ? DM_DEVICE_TABLE : DM_DEVICE_STATUS, name);
	uint64_t start, len;
	char *type, *params;
	void *next = NULL;
	int r;

	out->n = 0;
	if (!dmt)
		return dm_no_task();
	r = dm_run(dmt, table ? "table" : "status", name);
	while (!r) {
		next = dm_get_next_target(dmt, next, &start, &len, &type, &params);
		if (!type)
			break;
		if (out->n == VXTS_DM_MAX_TARGETS) {
			r = vxts_err(-E2BIG, "%s has more than %d targets", name,
				     VXTS_DM_MAX_TARGETS);
			break;
		}
		out->t[out->n].start = start;
		out->t[out->n].len = len;
		snprintf(out->t[out->n].type, sizeof(out->t[0].type), "%s", type);
		snprintf(out->t[out->n].params, sizeof(out->t[0].params), "%s",
			 params ? params : "");
		out->n++;
		if (!next)
			break;
	}
	dm_task_destroy(dmt);
	return r;
}

int vxts_dm_remove(const char *name)
{
	struct dm_task *dmt;
	struct vxts_dm_info in;
	int r = vxts_dm_info(name, &in);

	if (r || !in.exists)
		return r ? r : vxts_err(-ENXIO, "no device-mapper device %s", name);
	dmt = dm_new(DM_DEVICE_REMOVE, name);
	if (!dmt)
		return dm_no_task();
	r = dm_run(dmt, "remove", name);
	dm_task_destroy(dmt);
	if (!r)
		dm_node_drop(name, in.major, in.minor);
	return r;
}

int vxts_dm_rename(const char *name, const char *new_name)
{
	struct dm_task *dmt;
	struct vxts_dm_info in;
	int r = vxts_dm_info(name, &in);

	if (r || !in.exists)
		return r ? r : vxts_err(-ENXIO, "no device-mapper device %s", name);
	dmt = dm_new(DM_DEVICE_RENAME, name);
	if (!dmt)
		return dm_no_task();
	r = dm_task_set_newname(dmt, new_name) ? 0 : -ENOMEM;
	if (!r)
		r = dm_run(dmt, "rename", name);
	dm_task_destroy(dmt);
	if (!r) {
		dm_node_drop(name, in.major, in.minor);
		r = dm_node_ensure(new_name);
	}
	return r;
}

/* ---- kernel keyring ------------------------------------------------------------ */

/*
 * dm-vxts finds the key with request_key() in the context of the process
 * that loads the table, which searches that process's thread, process and
 * session keyrings. The user keyring is reached only through the session
 * keyring, so a process with a session keyring of its own (`keyctl session
 * -`, a systemd unit with the default KeyringMode=private) would load a
 * table the kernel refuses with ENOKEY. Linking the user keyring into the
 * process keyring (made on first use, gone with the process) makes the keys
 * findable whatever the session; the keys themselves stay in @u only.
 */
int vxts_keyring_add(const char *desc, const uint8_t *key, size_t len)
{
	long id;

	/*
	 * The description becomes one word of a dm table line (":64:logon:DESC"):
	 * a space or control character in it would add or end table arguments.
	 */
	if (!dm_text_ok(desc, false))
		return vxts_err(-EINVAL, "refusing a logon key description that is empty or "
				"has a space or control character");
	id = syscall(SYS_add_key, "logon", desc, key, len, KEY_SPEC_USER_KEYRING);
	if (id < 0)
		return vxts_err(-errno, "cannot add the logon key %s to the user keyring: %s",
				desc, strerror(errno));
	if (syscall(SYS_keyctl, KEYCTL_LINK, KEY_SPEC_USER_KEYRING, KEY_SPEC_PROCESS_KEYRING) < 0)
		return vxts_err(-errno, "cannot link the user keyring into the process keyring "
				"(the kernel would not find the logon key %s): %s", desc,
				strerror(errno));
	return 0;
}

static long keyring_find(const char *desc)
{
	return syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "logon", desc, 0);
}

bool vxts_keyring_has(const char *desc)
{
	return keyring_find(desc) >= 0;
}

int vxts_keyring_unlink(const char *desc)
{
	long id = keyring_find(desc);

	if (id < 0)
		return -ENOKEY;
	if (syscall(SYS_keyctl, KEYCTL_UNLINK, id, KEY_SPEC_USER_KEYRING) < 0)
		return vxts_err(-errno, "cannot unlink the logon key %s: %s", desc,
				strerror(errno));
	return 0;
}
