// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: the boot-time table /etc/vxtstab (docs/BOOT.md).
 *
 *   tab check [NAME...]       parse the table, find each device, check key sources
 *   tab open [NAME...]        `vxts open` each entry, then continue an interrupted
 *                             conversion in the background
 *   tab resume NAME           run that conversion in the foreground (what the
 *                             background child and vxts-resume@.service run)
 *   tab close [NAME...]       stop a conversion at a window edge, `vxts close`
 *   tab generate DIR [..]     systemd generator: units for each entry into DIR
 *
 * Opening goes through cli_cmd_open() with a cli_opts filled from the entry,
 * so a table entry does exactly what the same `vxts open` command line does.
 * The table parser (lib/tab.c) never touches a device; resolving UUID=,
 * PARTUUID= and LABEL= happens here, without udev when there is none.
 */
#include <blkid/blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "tab.h"
#include "vxts.h"

#define CLI_TAB_STOP_WAIT_S	60	/* tab close: converter exit after SIGTERM */
#define CLI_TAB_UNIT_DIR	"/usr/lib/systemd/system"
#define CLI_TAB_SYSTEMCTL	"/usr/bin/systemctl"

/* One volume's outcome, for the text line and the JSON array. */
struct cli_tab_res {
	const char *state;		/* "open", "closed", "failed", "skipped", ... */
	char result[512];
	int exit;
};

static const char *cli_tab_path(const struct cli_opts *o)
{
	return o->tab ? o->tab : VXTS_TAB_PATH;
}

/* @json: the caller stops here, so --json gets the failure object */
static int cli_tab_load(const struct cli_opts *o, const char *verb, bool json,
			struct vxts_tab *t)
{
	struct vxts_tab_error err;
	char msg[600];
	int r = vxts_tab_load(cli_tab_path(o), t, &err);

	if (!r)
		return 0;
	if (err.line)
		snprintf(msg, sizeof(msg), "%s line %u: %s", cli_tab_path(o), err.line,
			 err.msg);
	else
		snprintf(msg, sizeof(msg), "%s", err.msg);
	cli_err("%s", msg);
	if (json)
		cli_json_fail(o, verb, cli_tab_path(o), msg, r, CLI_EXIT_USAGE);
	return CLI_EXIT_USAGE;
}

/* The entries NAME... asks for (all when none): 0, or a usage error. */
static int cli_tab_select(const struct cli_opts *o, const struct vxts_tab *t,
			  const struct vxts_tab_entry **sel, int *n)
{
	int i;

	*n = 0;
	if (!o->npos) {
		for (i = 0; i < t->n; i++)
			sel[(*n)++] = &t->e[i];
		return 0;
	}
	for (i = 0; i < o->npos && i < VXTS_TAB_MAX_ENTRIES; i++) {
		sel[*n] = vxts_tab_find(t, o->pos[i]);
		if (!sel[*n]) {
			cli_err("no volume '%s' in %s: `vxts tab check` lists its entries",
				o->pos[i], cli_tab_path(o));
			return CLI_EXIT_USAGE;
		}
		(*n)++;
	}
	return 0;
}

/* ---- finding the device ------------------------------------------------------------ */

static bool cli_tab_is_luks(const struct vxts_tab_entry *e)
{
	return e->flags & VXTS_TAB_LUKS;
}

/* Does the vxts header on @dev carry the entry's UUID (or LABEL)? */
static bool cli_tab_vxts_match(const struct vxts_tab_entry *e, const char *dev)
{
	struct vxts_volume *v;
	struct vxts_info in;
	bool yes = false;

	if (vxts_open(dev, NULL, VXTS_OPEN_READONLY | VXTS_OPEN_SHARED, &v))
		return false;
	if (!vxts_info(v, &in))
		yes = e->dev_kind == VXTS_TAB_DEV_UUID ? !strcasecmp(in.uuid_str, e->dev) :
		      !strcmp(in.label, e->dev);
	vxts_close(v);
	return yes;
}

/* Does libblkid find the entry's PARTUUID (or the LUKS2 UUID/LABEL) on @dev? */
static bool cli_tab_blkid_match(const struct vxts_tab_entry *e, const char *dev)
{
	const char *tag = e->dev_kind == VXTS_TAB_DEV_PARTUUID ? "PART_ENTRY_UUID" :
			  e->dev_kind == VXTS_TAB_DEV_UUID ? "UUID" : "LABEL";
	const char *val = NULL, *type = NULL;
	blkid_probe pr = blkid_new_probe_from_filename(dev);
	bool yes = false;

	if (!pr)
		return false;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_UUID | BLKID_SUBLKS_LABEL |
					  BLKID_SUBLKS_TYPE);
	blkid_probe_enable_partitions(pr, 1);
	blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
	if (blkid_do_safeprobe(pr) == 0 && !blkid_probe_lookup_value(pr, tag, &val, NULL)) {
		yes = !strcasecmp(val, e->dev);
		/* a LUKS entry's UUID/LABEL is the LUKS2 header's, not a filesystem's */
		if (yes && e->dev_kind != VXTS_TAB_DEV_PARTUUID &&
		    (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) ||
		     strcmp(type, "crypto_LUKS")))
			yes = false;
	}
	blkid_free_probe(pr);
	return yes;
}

/* A one-line sysfs attribute of block device @blk into @buf ("" if none). */
static void cli_tab_sysfs(const char *blk, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/sys/class/block/%s/%s", blk, attr);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(buf, len, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/*
 * Devices the scan must not probe: one something else sits on (a partition's
 * or a RAID/multipath member's holder shows the same header: the holder is
 * the device to open), and device-mapper mappings of vxts or dm-crypt (their
 * plaintext is no candidate, and a vxts mapping whose converter died holding
 * a window would block the probe until `vxts resume`).
 */
static bool cli_tab_skip_dev(const char *blk)
{
	char path[PATH_MAX], buf[256];
	struct vxts_online_kstate k;
	struct dirent *d;
	bool held = false;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/class/block/%s/holders", blk);
	dir = opendir(path);
	if (dir) {
		while (!held && (d = readdir(dir)))
			held = d->d_name[0] != '.';
		closedir(dir);
	}
	if (held)
		return true;
	if (strncmp(blk, "dm-", 3))
		return false;
	cli_tab_sysfs(blk, "dm/uuid", buf, sizeof(buf));
	if (!strncmp(buf, "VXTS-", 5) || !strncmp(buf, "CRYPT-", 6))
		return true;
	cli_tab_sysfs(blk, "dm/name", buf, sizeof(buf));
	if (buf[0] && !vxts_online_kernel(buf, &k) && k.is_vxts) {
		(void)cli_detail_take();
		return true;
	}
	(void)cli_detail_take();
	return false;
}

/* Is block device @part a partition of @whole (/sys/class/block/WHOLE/PART)? */
static bool cli_tab_part_of(const char *part, const char *whole)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/class/block/%.255s/%.255s/partition", whole, part);
	return !stat(path, &st);
}

#define CLI_TAB_SCAN_MAX	16

/*
 * Every block device the kernel lists, probed: no udev needed, and no
 * /dev/disk/by-* link trusted (udev points it at whichever of two clones
 * came last). A partition and its disk can show the same end-of-device
 * header: the partition wins. Two other matches are an error naming both:
 * opening the wrong one of two clones would serve whichever is found first.
 */
static int cli_tab_scan(const struct vxts_tab_entry *e, char *out, size_t len)
{
	char dev[PATH_MAX], size[32], hit[CLI_TAB_SCAN_MAX][NAME_MAX + 1];
	struct dirent *d;
	struct stat st;
	DIR *dir = opendir("/sys/class/block");
	int found = 0, keep = 0, i, j;

	if (!dir)
		return -errno;
	while ((d = readdir(dir)) && found < CLI_TAB_SCAN_MAX) {
		if (d->d_name[0] == '.')
			continue;
		cli_tab_sysfs(d->d_name, "size", size, sizeof(size));
		snprintf(dev, sizeof(dev), "/dev/%s", d->d_name);
		if (!strtoull(size, NULL, 10) || stat(dev, &st) || !S_ISBLK(st.st_mode))
			continue;
		if (cli_tab_skip_dev(d->d_name))
			continue;
		if (e->dev_kind == VXTS_TAB_DEV_PARTUUID || cli_tab_is_luks(e) ?
		    !cli_tab_blkid_match(e, dev) : !cli_tab_vxts_match(e, dev))
			continue;
		snprintf(hit[found++], sizeof(hit[0]), "%s", d->d_name);
	}
	closedir(dir);
	(void)cli_detail_take();
	/* drop a disk when one of its partitions matched too */
	for (i = 0; i < found; i++) {
		bool parent = false;

		for (j = 0; j < found && !parent; j++)
			parent = j != i && cli_tab_part_of(hit[j], hit[i]);
		if (parent)
			continue;
		if (keep++) {
			cli_detail("%s=%s matches both %s and /dev/%s: give the device by path "
				   "(/dev/disk/by-id/...), or detach the copy",
				   vxts_tab_dev_name(e->dev_kind), e->dev, out, hit[i]);
			return -ENOTUNIQ;
		}
		snprintf(out, len, "/dev/%.255s", hit[i]);
	}
	return keep ? 0 : -ENODEV;
}

static int cli_tab_find_once(const struct vxts_tab_entry *e, char *out, size_t len)
{
	struct stat st;

	if (e->dev_kind == VXTS_TAB_DEV_PATH) {
		if (stat(e->dev, &st))
			return -errno;
		snprintf(out, len, "%s", e->dev);
		return 0;
	}
	return cli_tab_scan(e, out, len);
}

/*
 * The entry's device into @out, waiting up to @wait_s seconds for it to show
 * up (a disk probed late at boot). -ENODEV/-ENOENT with a detail when absent.
 */
static int cli_tab_find(const struct vxts_tab_entry *e, uint32_t wait_s, char *out,
			size_t len)
{
	const struct timespec tick = { 0, 250 * 1000000L };
	double give_up = cli_now() + wait_s;
	int r;

	struct stat st;
	bool hdr = true;

	for (;;) {
		r = cli_tab_find_once(e, out, len);
		/* a detached header on its own disk shows up late too */
		hdr = !e->header || !stat(e->header, &st);
		if (r != -ENOENT && r != -ENODEV && (r || hdr))
			return r;
		if (cli_now() >= give_up || cli_signals_caught())
			break;
		nanosleep(&tick, NULL);
	}
	if (!r && !hdr) {
		cli_detail("header %s not found%s: attach the disk holding it (a header file "
			   "must be on the root filesystem), or mark the entry nofail",
			   e->header, wait_s ? " in time (timeout=)" : "");
		return -ENODEV;
	}
	if (e->dev_kind == VXTS_TAB_DEV_PATH)
		cli_detail("device %s not found%s: attach the disk, or mark the entry nofail",
			   e->dev, wait_s ? " in time (timeout=)" : "");
	else
		cli_detail("no block device with %s=%s%s: attach the disk (check with "
			   "`vxts dump DEVICE`), or mark the entry nofail",
			   vxts_tab_dev_name(e->dev_kind), e->dev,
			   wait_s ? " appeared in time (timeout=)" : "");
	return -ENODEV;
}

/* ---- the entry as `vxts open` options ----------------------------------------------- */

struct cli_tab_call {
	struct cli_opts o;
	char *pos[2];
	char dev[PATH_MAX];
};

static void cli_tab_call_init(struct cli_tab_call *c, const struct cli_opts *top,
			      const struct vxts_tab_entry *e)
{
	struct cli_opts *o = &c->o;

	memset(c, 0, sizeof(*c));
	o->slot = -1;
	o->no_progress = top->no_progress;
	o->pos = c->pos;
	c->pos[0] = e->name;
	c->pos[1] = c->dev;
	o->npos = 2;
#define SET(field, val, id) do { o->field = (val); o->given |= OPT_BIT(id); } while (0)
	if (e->header)
		SET(header, e->header, OPT_HEADER);
	switch (e->key_kind) {
	case VXTS_TAB_KEY_FILE: SET(key_file, e->key, OPT_KEY_FILE); break;
	case VXTS_TAB_KEY_PASSPHRASE: SET(passphrase_file, e->key, OPT_PASSPHRASE_FILE); break;
	case VXTS_TAB_KEY_PKCS11: SET(pkcs11_uri, e->key, OPT_PKCS11_URI); break;
	case VXTS_TAB_KEY_KMS: SET(kms_command, e->key, OPT_KMS_COMMAND); break;
	case VXTS_TAB_KEY_RECOVERY: SET(use_recovery_key, e->key, OPT_USE_RECOVERY_KEY); break;
	case VXTS_TAB_KEY_PROMPT: break;
	}
	if (e->pin_file)
		SET(pin_file, e->pin_file, OPT_PIN_FILE);
	if (e->pkcs11_module)
		SET(pkcs11_module, e->pkcs11_module, OPT_PKCS11_MODULE);
	if (e->kms_timeout)
		SET(kms_timeout, e->kms_timeout, OPT_KMS_TIMEOUT);
	if (e->expect_key_check)
		SET(expect_key_check, e->expect_key_check, OPT_EXPECT_KEY_CHECK);
	if (e->flags & VXTS_TAB_LUKS)
		SET(luks, true, OPT_LUKS);
	else
		o->no_luks_detect = true;	/* a LUKS disk swapped in is no vxts volume */
	if (e->flags & VXTS_TAB_TAKEOVER_LVM)
		SET(takeover_lvm, true, OPT_TAKEOVER_LVM);
#undef SET
}

/* For resume: the options `vxts resume` takes on top of the unlock ones. */
static void cli_tab_call_resume(struct cli_tab_call *c, const struct vxts_tab_entry *e)
{
	c->o.npos = 1;
	c->o.luks = false;
	c->o.takeover_lvm = false;
	c->o.given &= ~(OPT_BIT(OPT_LUKS) | OPT_BIT(OPT_TAKEOVER_LVM));
	if (e->max_hold_ms) {
		c->o.max_hold_ms = e->max_hold_ms;
		c->o.given |= OPT_BIT(OPT_MAX_HOLD_MS);
	}
	if (e->rate_limit) {
		c->o.rate_limit = e->rate_limit;
		c->o.given |= OPT_BIT(OPT_RATE_LIMIT);
	}
}

/*
 * Runs @fn with stdout on /dev/null (the per-volume verbs print their own
 * result) and its stderr captured: passed on to stderr afterwards, and its
 * last line (the error that names the problem and the fix) into @last.
 */
static int cli_tab_quiet(int (*fn)(const struct cli_opts *), const struct cli_opts *o,
			 char *last, size_t len)
{
	int saved[2], null, cap, r;
	char buf[4096], *p, *nl;
	ssize_t n;

	if (last && len)
		last[0] = '\0';
	fflush(stdout);
	fflush(stderr);
	saved[0] = dup(STDOUT_FILENO);
	saved[1] = dup(STDERR_FILENO);
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	cap = memfd_create("vxts-tab-stderr", MFD_CLOEXEC);
	if (saved[0] < 0 || saved[1] < 0 || null < 0 || cap < 0) {
		r = fn(o);
		goto out;
	}
	dup2(null, STDOUT_FILENO);
	/* a key prompt goes to stderr: on a TTY it must stay visible */
	if (!isatty(STDIN_FILENO))
		dup2(cap, STDERR_FILENO);
	r = fn(o);
	fflush(stdout);
	fflush(stderr);
	dup2(saved[0], STDOUT_FILENO);
	dup2(saved[1], STDERR_FILENO);
	n = pread(cap, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		fputs(buf, stderr);
		while (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
		p = strrchr(buf, '\n');
		p = p ? p + 1 : buf;
		nl = strstr(p, ": ");
		if (!strncmp(p, cli_prog, strlen(cli_prog)) && nl)
			p = nl + 2;		/* "vxts: open NAME: ..." -> "open NAME: ..." */
		if (last && len)
			snprintf(last, len, "%.*s", (int)len - 1, p);
	}
out:
	if (null >= 0)
		close(null);
	if (cap >= 0)
		close(cap);
	for (int i = 0; i < 2; i++)
		if (saved[i] >= 0)
			close(saved[i]);
	return r;
}

/*
 * A program (KMS helper) or library (PKCS#11 module) the entry makes root
 * run: a regular file owned by root (or by whoever runs vxts) that neither
 * group nor others may write, in directories up to / that only their owner
 * may change (or sticky ones, where only an entry's owner may replace it). 0, or -EPERM with the problem and the fix in @why.
 */
static int cli_tab_owner_ok(const char *what, const char *path, const char *f,
			    const struct stat *st, char *why, size_t len)
{
	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(why, len, "%s %s: %s is owned by uid %u and the %s runs as root: "
			 "`chown root: %s`", what, path, f, st->st_uid, what, f);
		return -EPERM;
	}
	/* sticky (/tmp): others may add entries but not replace ours, which
	 * are checked in turn (owner, mode) one level further down */
	if (S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))
		return 0;
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && S_ISDIR(st->st_mode)) {
		snprintf(why, len, "%s %s: directory %s is writable by group/others (mode "
			 "%04o) and the %s runs as root: move it under a directory only "
			 "root can change (e.g. /usr/local/lib/vxts)", what, path, f,
			 st->st_mode & 07777, what);
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, len, "%s %s: %s is writable by group/others (mode %04o) and "
			 "the %s runs as root: `chmod go-w %s`", what, path, f,
			 st->st_mode & 07777, what, f);
		return -EPERM;
	}
	return 0;
}

/* @p's directories up to / (lexically: a symlink there could be swapped). */
static int cli_tab_dirs_ok(const char *what, const char *path, const char *p, char *why,
			   size_t len)
{
	char dir[PATH_MAX], *slash;
	struct stat st;
	int r;

	snprintf(dir, sizeof(dir), "%s", p);
	for (;;) {
		slash = strrchr(dir, '/');
		if (!slash)
			return 0;
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(dir, &st)) {
			snprintf(why, len, "%s %s: %.200s: %s", what, path, dir, strerror(errno));
			return -ENOENT;
		}
		r = cli_tab_owner_ok(what, path, dir, &st, why, len);
		if (r || !strcmp(dir, "/"))
			return r;
	}
}

static int cli_tab_trusted(const char *what, const char *path, char *why, size_t len)
{
	char real[PATH_MAX];
	struct stat st;
	int r;

	if (!realpath(path, real) || stat(real, &st)) {
		snprintf(why, len, "%s %s: %s", what, path, strerror(errno));
		return -ENOENT;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "%s %s is not a regular file", what, path);
		return -EPERM;
	}
	r = cli_tab_owner_ok(what, path, real, &st, why, len);
	if (!r)
		r = cli_tab_dirs_ok(what, path, real, why, len);
	if (!r && strcmp(real, path))
		r = cli_tab_dirs_ok(what, path, path, why, len);
	return r;
}

/* The entry's helper and module, checked before `tab open`/`tab resume` runs them. */
static int cli_tab_trust_entry(const struct vxts_tab_entry *e, char *why, size_t len)
{
	int r = 0;

	if (e->key_kind == VXTS_TAB_KEY_KMS)
		r = cli_tab_trusted("KMS helper", e->key, why, len);
	if (!r && e->pkcs11_module)
		r = cli_tab_trusted("PKCS#11 module", e->pkcs11_module, why, len);
	return r;
}

/* The device of an entry: the one an existing mapping was opened on, else found. */
static int cli_tab_device(const struct vxts_tab_entry *e, uint32_t wait_s, char *out,
			  size_t len)
{
	struct vxts_online_kstate k;
	struct vxts_online_rt rt;

	if (!vxts_online_kernel(e->name, &k)) {
		vxts_online_runtime(e->name, &rt);
		if (rt.device[0]) {
			snprintf(out, len, "%s", rt.device);
			return 0;
		}
	}
	(void)cli_detail_take();
	return cli_tab_find(e, wait_s, out, len);
}

/* ---- output -------------------------------------------------------------------------- */

static void cli_tab_line(const struct cli_opts *o, const struct vxts_tab_entry *e,
			 const char *dev, const struct cli_tab_res *res)
{
	if (o->json)
		return;
	if (res->exit)
		printf("%s: %s (exit %d, %s): %s\n", e->name, res->state, res->exit,
		       cli_exit_name(res->exit), res->result);
	else
		printf("%s: %s%s%s\n", e->name, res->state, res->result[0] ? ", " : "",
		       res->result);
	fflush(stdout);
}

static void cli_tab_json_vol(struct cli_json *j, const struct vxts_tab_entry *e,
			     const char *dev, const struct cli_tab_res *res)
{
	cli_json_obj_open(j, NULL);
	cli_json_str(j, "name", e->name);
	if (dev && *dev)
		cli_json_str(j, "device", dev);
	else
		cli_json_null(j, "device");
	cli_json_u64(j, "line", e->line);
	cli_json_bool(j, "nofail", e->flags & VXTS_TAB_NOFAIL);
	cli_json_str(j, "state", res->state);
	cli_json_str(j, "result", res->result);
	cli_json_i64(j, "exit", res->exit);
	cli_json_obj_close(j);
}

static void cli_tab_json_head(struct cli_json *j, const struct cli_opts *o, const char *verb,
			      int code)
{
	cli_json_begin(j, stdout);
	cli_json_bool(j, "ok", code == 0);
	cli_json_str(j, "verb", verb);
	cli_json_str(j, "table", cli_tab_path(o));
	cli_json_i64(j, "exit_code", code);
	cli_json_arr_open(j, "volumes");
}

/* The stderr message of a failed step, without the program prefix: the result text. */
static void cli_tab_fail_text(struct cli_tab_res *res, const char *what)
{
	const char *d = cli_detail_take();

	if (!*d)
		d = vxts_error_detail();
	snprintf(res->result, sizeof(res->result), "%s", d && *d ? d : what);
}

/* ---- tab open -------------------------------------------------------------------------- */

/* Is a conversion recorded on this volume (kernel table first, else the header)? */
static bool cli_tab_converting(const struct vxts_tab_entry *e, const char *dev)
{
	struct vxts_online_kstate k;
	struct vxts_volume *v;
	struct vxts_info in;
	bool yes = false;

	if (!vxts_online_kernel(e->name, &k) && k.is_vxts && k.dir != VXTS_DIR_NONE)
		return true;
	if (!vxts_open(dev, e->header, VXTS_OPEN_READONLY | VXTS_OPEN_SHARED, &v)) {
		yes = !vxts_info(v, &in) && in.direction != VXTS_DIR_NONE;
		vxts_close(v);
	}
	(void)cli_detail_take();
	return yes;
}

static bool cli_tab_systemd(void)
{
	struct stat st;

	return !stat("/run/systemd/system", &st) && S_ISDIR(st.st_mode);
}

/*
 * systemd-escape: '/' stays for the caller to map, [A-Za-z0-9:_.] stay (but
 * not a leading '.'), everything else becomes \xNN. @path: a path's unit
 * name (leading/trailing/duplicate '/' dropped, '/' -> '-').
 */
static void cli_tab_escape(const char *s, bool path, char *out, size_t len)
{
	size_t n = 0;
	const char *p = s;

	if (path) {
		while (*p == '/')
			p++;
		if (!*p) {
			snprintf(out, len, "-");
			return;
		}
	}
	for (; *p && n + 5 < len; p++) {
		unsigned char ch = *p;

		if (path && ch == '/') {
			while (p[1] == '/')
				p++;
			if (!p[1])
				break;
			out[n++] = '-';
		} else if ((ch == '.' && n == 0) ||
			   !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || ch == ':' || ch == '_' || ch == '.')) {
			n += snprintf(out + n, len - n, "\\x%02x", ch);
		} else {
			out[n++] = ch;
		}
	}
	out[n] = '\0';
}

static int cli_tab_run(char *const argv[])
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(STDERR_FILENO, STDOUT_FILENO);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int cli_tab_resume_entry(const struct cli_opts *top, const struct vxts_tab_entry *e,
				const char *dev);

#define CLI_TAB_RESPAWN_MAX	3	/* restarts of a converter killed by a signal */
#define CLI_TAB_RESPAWN_GAP_S	2
#define CLI_TAB_SPAWN_WAIT_S	20	/* tab open: wait for the converter to start */

static volatile sig_atomic_t cli_tab_sup_child, cli_tab_sup_stop;

static void cli_tab_sup_signal(int sig)
{
	cli_tab_sup_stop = 1;
	if (cli_tab_sup_child > 0)
		kill(cli_tab_sup_child, sig);
}

/*
 * The detached supervisor: runs `tab resume` in a child and starts it again
 * (at most CLI_TAB_RESPAWN_MAX times, CLI_TAB_RESPAWN_GAP_S apart) when a
 * signal killed it (a crash, the OOM killer): a dead converter holding a
 * window would make IO to that window wait until somebody resumes. An exit
 * with a code (done, interrupted by tab close, wrong key, busy) is final.
 * What systemd's Restart=on-abnormal does for vxts-resume@.service.
 */
static int cli_tab_supervise(const char *tab, const struct vxts_tab_entry *e,
			     const char *dev)
{
	char *argv[] = { "vxts", "tab", "resume", "--tab", (char *)tab, "--", e->name, NULL };
	struct sigaction sa = { .sa_handler = cli_tab_sup_signal };
	int status = 0, tries;
	pid_t pid;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (tries = 0;; tries++) {
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "vxts tab open: cannot start the conversion of %s: %s\n",
				e->name, strerror(errno));
			return CLI_EXIT_FAIL;
		}
		if (pid == 0) {
			/*
			 * A fresh `vxts tab resume` (the same code vxts-resume@ runs):
			 * the descriptors libraries opened in this process (the
			 * device-mapper control node, ...) were closed with the rest.
			 */
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			fprintf(stderr, "vxts tab open: background conversion of %s on %s, "
				"pid %d\n", e->name, dev, (int)getpid());
			fflush(NULL);
			execv("/proc/self/exe", argv);
			fprintf(stderr, "vxts tab open: cannot run /proc/self/exe: %s\n",
				strerror(errno));
			_exit(CLI_EXIT_FAIL);
		}
		cli_tab_sup_child = pid;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		cli_tab_sup_child = 0;
		if (WIFEXITED(status))
			return WEXITSTATUS(status);
		fprintf(stderr, "vxts tab open: the conversion of %s (pid %d) was killed by "
			"signal %d%s\n", e->name, (int)pid, WTERMSIG(status),
			cli_tab_sup_stop || tries >= CLI_TAB_RESPAWN_MAX ?
			": not restarted, run `vxts tab resume NAME`" : ", restarting it");
		if (cli_tab_sup_stop || tries >= CLI_TAB_RESPAWN_MAX)
			return 128 + WTERMSIG(status);
		sleep(CLI_TAB_RESPAWN_GAP_S);
		if (cli_tab_sup_stop)
			return 128 + WTERMSIG(status);
	}
}

/*
 * Without systemd: a detached supervisor (own session, cwd /, umask 077, no
 * inherited descriptors, stdio on a log file) runs the same code as
 * `vxts tab resume NAME`. Once the converter holds the conversion lock its
 * pid is in /run/vxts, where `vxts status` and `tab close` find it. Returns
 * the supervisor's pid.
 */
static int cli_tab_spawn(const struct cli_opts *top, const struct vxts_tab_entry *e,
			 const char *dev, char *log, size_t len)
{
	const char *run = getenv("VXTS_RUN_DIR");
	char tab[PATH_MAX];
	pid_t pid;
	int fd;

	if (!realpath(cli_tab_path(top), tab))
		return -errno;
	run = run && *run ? run : "/run/vxts";
	mkdir(run, 0700);
	snprintf(log, len, "%s/%s.log", run, e->name);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fd);
		return -errno;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		setsid();
		umask(077);
		if (chdir("/"))
			_exit(CLI_EXIT_FAIL);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		closefrom(3);
		_exit(cli_tab_supervise(tab, e, dev));
	}
	close(fd);
	return pid;
}

/*
 * After starting the supervisor: wait until a converter holds the volume's
 * lock (its pid into *@conv) or the supervisor ended (its exit code).
 * 0 when running, else the supervisor's exit code, -ETIMEDOUT when neither.
 */
static int cli_tab_spawn_wait(const struct vxts_tab_entry *e, pid_t sup, int *conv)
{
	const struct timespec tick = { 0, 100 * 1000000L };
	double give_up = cli_now() + CLI_TAB_SPAWN_WAIT_S;
	struct vxts_online_rt rt;
	int status;

	while (cli_now() < give_up) {
		vxts_online_runtime(e->name, &rt);
		if (rt.converter && rt.pid > 0) {
			*conv = rt.pid;
			return 0;
		}
		if (waitpid(sup, &status, WNOHANG) == sup)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		nanosleep(&tick, NULL);
	}
	return -ETIMEDOUT;
}

/* After a successful open: continue a recorded conversion in the background. */
static void cli_tab_bg(const struct cli_opts *o, const struct vxts_tab_entry *e,
		       const char *dev, struct cli_tab_res *res)
{
	struct vxts_online_rt rt;
	char log[PATH_MAX], esc[256], unit[300];
	size_t n = strlen(res->result);
	int r, conv = 0;
	pid_t sup;

	if (cli_tab_is_luks(e) || !cli_tab_converting(e, dev))
		return;
	vxts_online_runtime(e->name, &rt);
	if (rt.converter) {
		snprintf(res->result + n, sizeof(res->result) - n,
			 "; conversion running already (pid %d)", rt.pid);
		return;
	}
	if (e->flags & VXTS_TAB_NORESUME) {
		snprintf(res->result + n, sizeof(res->result) - n,
			 "; conversion in progress, not resumed (noresume): `vxts tab resume %s`",
			 e->name);
		return;
	}
	if (e->key_kind == VXTS_TAB_KEY_PROMPT) {
		snprintf(res->result + n, sizeof(res->result) - n,
			 "; conversion in progress, not resumed (its key is prompted for): "
			 "`vxts resume %s`", e->name);
		return;
	}
	if (cli_tab_systemd()) {
		cli_tab_escape(e->name, false, esc, sizeof(esc));
		snprintf(unit, sizeof(unit), "vxts-resume@%s.service", esc);
		r = cli_tab_run((char *[]){ CLI_TAB_SYSTEMCTL, "--no-block", "start", unit,
					    NULL });
		snprintf(res->result + n, sizeof(res->result) - n, r ?
			 "; conversion in progress, but `systemctl start %s` failed (exit %d): "
			 "`vxts tab resume %s`" : "; conversion resumed by %s", unit, r, e->name);
		return;
	}
	r = cli_tab_spawn(o, e, dev, log, sizeof(log));
	if (r < 0) {
		snprintf(res->result + n, sizeof(res->result) - n,
			 "; conversion in progress, cannot start it in the background (%s): "
			 "`vxts tab resume %s`", strerror(-r), e->name);
		return;
	}
	sup = r;
	r = cli_tab_spawn_wait(e, sup, &conv);
	if (!r)
		snprintf(res->result + n, sizeof(res->result) - n,
			 "; conversion resumed in the background, pid %d, log %s", conv, log);
	else if (r == -ETIMEDOUT)
		snprintf(res->result + n, sizeof(res->result) - n,
			 "; conversion starting in the background (supervisor pid %d), log %s",
			 (int)sup, log);
	else if (r == CLI_EXIT_OK)
		snprintf(res->result + n, sizeof(res->result) - n,
			 "; conversion finished in the background, log %s", log);
	else
		snprintf(res->result + n, sizeof(res->result) - n,
			 "; conversion in progress, but the background run ended at once "
			 "(exit %d, %s), log %s: `vxts status %s`", r, cli_exit_name(r), log,
			 e->name);
}

static void cli_tab_open_one(const struct cli_opts *o, const struct vxts_tab_entry *e,
			     struct cli_tab_call *c, struct cli_tab_res *res)
{
	struct vxts_online_kstate k;
	bool there;
	int r;

	cli_tab_call_init(c, o, e);
	if (cli_tab_trust_entry(e, res->result, sizeof(res->result))) {
		res->state = "failed";
		res->exit = CLI_EXIT_KEY_PROVIDER;
		cli_err("tab open %s: %s", e->name, res->result);
		return;
	}
	r = cli_tab_device(e, e->timeout, c->dev, sizeof(c->dev));
	if (r) {
		res->state = "failed";
		res->exit = r == -ENOTUNIQ ? CLI_EXIT_USAGE : CLI_EXIT_NO_VOLUME;
		cli_tab_fail_text(res, "device not found");
		cli_err("tab open %s: %s", e->name, res->result);
		return;
	}
	there = !vxts_online_kernel(e->name, &k);
	(void)cli_detail_take();
	r = cli_tab_quiet(cli_cmd_open, &c->o, res->result, sizeof(res->result));
	if (r) {
		res->state = "failed";
		res->exit = r;
		if (!res->result[0])
			snprintf(res->result, sizeof(res->result), "vxts open %s %s failed",
				 e->name, c->dev);
		return;
	}
	res->result[0] = '\0';
	res->state = "open";
	snprintf(res->result, sizeof(res->result), "%s /dev/mapper/%s on %s",
		 there ? "open already:" : "mapped", e->name, c->dev);
	cli_tab_bg(o, e, c->dev, res);
}

int cli_cmd_tab_open(const struct cli_opts *o)
{
	const struct vxts_tab_entry *sel[VXTS_TAB_MAX_ENTRIES];
	struct cli_tab_res *res;
	struct cli_tab_call *calls;
	struct vxts_tab t;
	struct cli_json j;
	int i, n, code = 0;

	code = cli_tab_load(o, "tab open", true, &t);
	if (code)
		return code;
	code = cli_tab_select(o, &t, sel, &n);
	if (code)
		n = 0;			/* --json: no volumes, not the ones before the bad NAME */
	res = calloc(n ? n : 1, sizeof(*res));
	calls = calloc(n ? n : 1, sizeof(*calls));
	if (!res || !calls)
		code = cli_fail(o, "tab open", cli_tab_path(o), -ENOMEM, 0);
	for (i = 0; !code && i < n; i++) {
		cli_tab_open_one(o, sel[i], &calls[i], &res[i]);
		cli_tab_line(o, sel[i], calls[i].dev, &res[i]);
	}
	/*
	 * nofail spares the boot only when all entries are opened (busybox boot).
	 * An entry named explicitly (vxts-open@NAME.service) reports its real
	 * result: nofail is the Wants= in the generated dependencies there.
	 */
	for (i = 0; i < n && res && calls && !code; i++)
		if (res[i].exit && (o->npos || !(sel[i]->flags & VXTS_TAB_NOFAIL)) && !code)
			code = res[i].exit;
	if (o->json && res && calls) {
		cli_tab_json_head(&j, o, "tab open", code);
		for (i = 0; i < n; i++)
			cli_tab_json_vol(&j, sel[i], calls[i].dev, &res[i]);
		cli_json_arr_close(&j);
		cli_json_end(&j);
	}
	free(res);
	free(calls);
	vxts_tab_free(&t);
	return code;
}

/* ---- tab resume ------------------------------------------------------------------------ */

static int cli_tab_resume_entry(const struct cli_opts *top, const struct vxts_tab_entry *e,
				const char *dev)
{
	struct cli_tab_call c;

	cli_tab_call_init(&c, top, e);
	snprintf(c.dev, sizeof(c.dev), "%s", dev);
	cli_tab_call_resume(&c, e);
	c.o.json = top->json;
	return cli_cmd_resume(&c.o);
}

int cli_cmd_tab_resume(const struct cli_opts *o)
{
	const struct vxts_tab_entry *e;
	char dev[PATH_MAX], why[512];
	struct vxts_tab t;
	int r;

	r = cli_tab_load(o, "tab resume", true, &t);
	if (r)
		return r;
	e = vxts_tab_find(&t, o->pos[0]);
	if (!e) {
		cli_err("no volume '%s' in %s: `vxts tab check` lists its entries", o->pos[0],
			cli_tab_path(o));
		r = CLI_EXIT_USAGE;
	} else if (cli_tab_is_luks(e)) {
		cli_err("tab resume %s: a luks volume has no vxts conversion to resume", e->name);
		r = CLI_EXIT_STATE;
	} else if (cli_tab_trust_entry(e, why, sizeof(why))) {
		cli_err("tab resume %s: %s", e->name, why);
		r = CLI_EXIT_KEY_PROVIDER;
	} else if ((r = cli_tab_device(e, 0, dev, sizeof(dev)))) {
		r = cli_fail(o, "tab resume", e->name, r, CLI_EXIT_NO_VOLUME);
	} else {
		r = cli_tab_resume_entry(o, e, dev);
	}
	vxts_tab_free(&t);
	return r;
}

/* ---- tab close -------------------------------------------------------------------------- */

/*
 * A converter runs: ask it to pause at the next window edge (nothing held
 * there), then SIGTERM it, which it obeys at a commit point, and wait for it
 * to go. The next `tab open` resumes from the recorded boundary.
 */
static int cli_tab_stop_converter(const struct cli_opts *o, const struct vxts_tab_entry *e,
				  int pid)
{
	const struct timespec tick = { 0, 100 * 1000000L };
	struct cli_opts po = { .slot = -1, .npos = 1, .pos = (char *[]){ e->name } };
	double give_up;
	int r;

	struct vxts_online_rt rt;

	r = cli_tab_quiet(cli_cmd_pause, &po, NULL, 0);
	if (r && r != CLI_EXIT_BUSY)
		return r;
	give_up = cli_now() + CLI_TAB_STOP_WAIT_S;
	/*
	 * The lock is held but the pid file is empty for a moment (just locked,
	 * or being unlocked): never signal pid 0 (our own process group) or
	 * below; look again.
	 */
	while (pid <= 0) {
		if (cli_now() >= give_up)
			goto late;
		nanosleep(&tick, NULL);
		vxts_online_runtime(e->name, &rt);
		if (!rt.converter)
			return 0;
		pid = rt.pid;
	}
	if (kill(pid, SIGTERM) && errno != ESRCH)
		return -errno;
	while (cli_now() < give_up) {
		vxts_online_runtime(e->name, &rt);
		/* an empty pid with the lock held: still the one stopping */
		if (!rt.converter || (rt.pid > 0 && rt.pid != pid))
			return 0;
		nanosleep(&tick, NULL);
	}
late:
	cli_detail("converter pid %d of %s did not stop within %d s: check `vxts status %s`",
		   pid, e->name, CLI_TAB_STOP_WAIT_S, e->name);
	return -ETIMEDOUT;
}

static void cli_tab_close_one(const struct cli_opts *o, const struct vxts_tab_entry *e,
			      struct cli_tab_res *res)
{
	struct cli_opts co = { .slot = -1, .npos = 1, .pos = (char *[]){ e->name } };
	struct vxts_online_kstate k;
	struct vxts_online_rt rt;
	int r;

	if (vxts_online_kernel(e->name, &k)) {
		(void)cli_detail_take();
		res->state = "closed";
		snprintf(res->result, sizeof(res->result), "not open, nothing to do");
		return;
	}
	vxts_online_runtime(e->name, &rt);
	if (rt.converter) {
		r = cli_tab_stop_converter(o, e, rt.pid);
		if (r) {
			res->state = "failed";
			res->exit = r < 0 ? cli_exit_code(r) : r;
			cli_tab_fail_text(res, "cannot stop the conversion");
			cli_err("tab close %s: %s", e->name, res->result);
			return;
		}
	}
	r = cli_tab_quiet(cli_cmd_close, &co, res->result, sizeof(res->result));
	if (r) {
		res->state = "failed";
		res->exit = r;
		if (!res->result[0])
			snprintf(res->result, sizeof(res->result), "vxts close %s failed", e->name);
		return;
	}
	res->state = "closed";
	snprintf(res->result, sizeof(res->result), "%s/dev/mapper/%s removed", rt.converter ?
		 "conversion stopped at a window edge (the next open continues it), " : "",
		 e->name);
}

/*
 * tab close NAME whose entry is gone (line removed, table broken or refused
 * before shutdown): the mapping is still closed, by NAME as `vxts close`
 * would, so shutdown never leaves it open. Entries without a table line are
 * kept in @fake (line 0).
 */
static int cli_tab_close_select(const struct cli_opts *o, const struct vxts_tab *t,
				bool loaded, const struct vxts_tab_entry **sel,
				struct vxts_tab_entry *fake, int *n)
{
	int i;

	if (loaded && !o->npos)
		return cli_tab_select(o, t, sel, n);
	*n = 0;
	for (i = 0; i < o->npos && i < VXTS_TAB_MAX_ENTRIES; i++) {
		sel[*n] = loaded ? vxts_tab_find(t, o->pos[i]) : NULL;
		if (!sel[*n]) {
			if (loaded)
				cli_warn("tab close %s: no such entry in %s: closing the mapping "
					 "%s by name", o->pos[i], cli_tab_path(o), o->pos[i]);
			fake[*n] = (struct vxts_tab_entry){ .name = o->pos[i] };
			sel[*n] = &fake[*n];
		}
		(*n)++;
	}
	return 0;
}

int cli_cmd_tab_close(const struct cli_opts *o)
{
	const struct vxts_tab_entry *sel[VXTS_TAB_MAX_ENTRIES];
	struct cli_tab_res res[VXTS_TAB_MAX_ENTRIES];
	struct vxts_tab_entry fake[VXTS_TAB_MAX_ENTRIES];
	struct vxts_tab t;
	struct cli_json j;
	int i, n, code;

	code = cli_tab_load(o, "tab close", !o->npos, &t);
	if (code && !o->npos)
		return code;
	if (code)
		cli_warn("tab close: the table cannot be used (above): closing %s by name",
			 o->npos == 1 ? o->pos[0] : "the named mappings");
	code = cli_tab_close_select(o, &t, !code, sel, fake, &n);
	if (code)
		n = 0;
	memset(res, 0, sizeof(res));
	/* the reverse of the open order: a volume may sit on an earlier one */
	for (i = n - 1; !code && i >= 0; i--) {
		cli_tab_close_one(o, sel[i], &res[i]);
		cli_tab_line(o, sel[i], NULL, &res[i]);
	}
	for (i = 0; i < n && !code; i++)
		if (res[i].exit)
			code = res[i].exit;
	if (o->json) {
		cli_tab_json_head(&j, o, "tab close", code);
		for (i = 0; i < n; i++)
			cli_tab_json_vol(&j, sel[i], NULL, &res[i]);
		cli_json_arr_close(&j);
		cli_json_end(&j);
	}
	vxts_tab_free(&t);
	return code;
}

/* ---- tab check ---------------------------------------------------------------------------- */

struct cli_tab_chk {
	int problems, warnings;
	char text[1024];		/* "; "-joined findings */
	int exit;
};

static void cli_tab_note(struct cli_tab_chk *c, bool problem, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void cli_tab_note(struct cli_tab_chk *c, bool problem, int code, const char *fmt, ...)
{
	size_t n = strlen(c->text);
	va_list ap;

	if (n && n + 2 < sizeof(c->text))
		n += snprintf(c->text + n, sizeof(c->text) - n, "; ");
	n += snprintf(c->text + n, sizeof(c->text) - n, "%s", problem ? "ERROR " : "warning ");
	va_start(ap, fmt);
	if (n < sizeof(c->text))
		vsnprintf(c->text + n, sizeof(c->text) - n, fmt, ap);
	va_end(ap);
	if (problem) {
		c->problems++;
		if (!c->exit)
			c->exit = code;
	} else {
		c->warnings++;
	}
}

/*
 * Files the entry reads at boot must be on the root filesystem: vxts-open@
 * runs before local-fs-pre.target, before any other local filesystem mounts
 * (a _netdev entry runs later, after the local ones).
 */
static void cli_tab_check_rootfs(struct cli_tab_chk *c, const struct vxts_tab_entry *e,
				 const char *what, const char *path)
{
	struct stat st, root;

	if (e->flags & VXTS_TAB_NETDEV)
		return;
	if (stat(path, &st) || S_ISBLK(st.st_mode) || stat("/", &root) ||
	    st.st_dev == root.st_dev)
		return;
	cli_tab_note(c, false, 0, "%s %s is not on the root filesystem: at boot it is read "
		     "before other filesystems mount; move it to / (e.g. /etc/vxts)", what, path);
}

/* A file the entry names: present, and (for secrets) not readable by others. */
static void cli_tab_check_file(struct cli_tab_chk *c, const char *what, const char *path,
			       bool secret, bool exec)
{
	struct stat st;

	if (stat(path, &st)) {
		cli_tab_note(c, true, CLI_EXIT_NO_KEY, "%s %s: %s", what, path, strerror(errno));
		return;
	}
	if (exec && (!S_ISREG(st.st_mode) || access(path, X_OK)))
		cli_tab_note(c, true, CLI_EXIT_KEY_PROVIDER, "%s %s is not an executable file",
			     what, path);
	if (secret && (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)))
		cli_tab_note(c, false, 0, "%s %s is readable by group/others (mode %04o): "
			     "`chmod 600 %s`", what, path, st.st_mode & 07777, path);
	if (secret && !exec && !S_ISREG(st.st_mode))
		cli_tab_note(c, true, CLI_EXIT_NO_KEY, "%s %s is not a regular file", what, path);
}

static void cli_tab_check_trust(struct cli_tab_chk *c, const char *what, const char *path)
{
	char why[512];

	if (cli_tab_trusted(what, path, why, sizeof(why)) == -EPERM)
		cli_tab_note(c, true, CLI_EXIT_KEY_PROVIDER, "%s", why);
}

static void cli_tab_check_one(const struct vxts_tab_entry *e, char *dev, size_t len,
			      struct cli_tab_chk *c)
{
	struct stat st;
	int r;

	dev[0] = '\0';
	r = cli_tab_device(e, 0, dev, len);
	if (r) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", cli_detail_take());
		dev[0] = '\0';
		cli_tab_note(c, !(e->flags & VXTS_TAB_NOFAIL),
			     r == -ENOTUNIQ ? CLI_EXIT_USAGE : CLI_EXIT_NO_VOLUME, "%s", msg);
	}
	if (e->header && stat(e->header, &st) && (!r || !strstr(c->text, e->header)))
		cli_tab_note(c, true, CLI_EXIT_NO_VOLUME, "header %s: %s", e->header,
			     strerror(errno));
	if (e->header)
		cli_tab_check_rootfs(c, e, "header", e->header);
	if (e->key)
		cli_tab_check_rootfs(c, e, vxts_tab_key_name(e->key_kind), e->key);
	if (e->pin_file)
		cli_tab_check_rootfs(c, e, "PIN file", e->pin_file);
	switch (e->key_kind) {
	case VXTS_TAB_KEY_FILE: cli_tab_check_file(c, "key file", e->key, true, false); break;
	case VXTS_TAB_KEY_PASSPHRASE:
		cli_tab_check_file(c, "passphrase file", e->key, true, false);
		break;
	case VXTS_TAB_KEY_RECOVERY:
		cli_tab_check_file(c, "recovery key", e->key, true, false);
		break;
	case VXTS_TAB_KEY_KMS:
		cli_tab_check_file(c, "KMS helper", e->key, false, true);
		cli_tab_check_trust(c, "KMS helper", e->key);
		break;
	case VXTS_TAB_KEY_PKCS11: break;
	case VXTS_TAB_KEY_PROMPT:
		cli_tab_note(c, false, 0, "key is prompted for: at boot without a TTY the open "
			     "fails (exit 10) and a conversion is not resumed by itself");
		break;
	}
	if (e->pin_file)
		cli_tab_check_file(c, "PIN file", e->pin_file, true, false);
	if (e->pkcs11_module) {
		cli_tab_check_file(c, "PKCS#11 module", e->pkcs11_module, false, false);
		cli_tab_check_trust(c, "PKCS#11 module", e->pkcs11_module);
	}
	if (e->key_kind == VXTS_TAB_KEY_KMS && !(e->flags & VXTS_TAB_NETDEV))
		cli_tab_note(c, false, 0, "a KMS key without _netdev: at boot it is opened "
			     "before the network is up");
}

int cli_cmd_tab_check(const struct cli_opts *o)
{
	const struct vxts_tab_entry *sel[VXTS_TAB_MAX_ENTRIES];
	struct cli_tab_chk *c;
	char (*devs)[PATH_MAX];
	struct vxts_tab t;
	struct cli_json j;
	int i, n, code;

	code = cli_tab_load(o, "tab check", true, &t);
	if (code)
		return code;
	code = cli_tab_select(o, &t, sel, &n);
	if (code)
		n = 0;
	c = calloc(n ? n : 1, sizeof(*c));
	devs = calloc(n ? n : 1, sizeof(*devs));
	if (!c || !devs)
		code = cli_fail(o, "tab check", cli_tab_path(o), -ENOMEM, 0);
	for (i = 0; !code && i < n; i++) {
		cli_tab_check_one(sel[i], devs[i], sizeof(devs[i]), &c[i]);
		if (o->json)
			continue;
		printf("%s (line %u): %s%s%s\n", sel[i]->name, sel[i]->line,
		       devs[i][0] ? devs[i] : "no device",
		       c[i].text[0] ? ": " : ", ok", c[i].text);
	}
	for (i = 0; c && devs && i < n && !code; i++)
		if (c[i].exit)
			code = c[i].exit;
	if (o->json && c && devs) {
		cli_tab_json_head(&j, o, "tab check", code);
		for (i = 0; i < n; i++) {
			struct cli_tab_res res = { .exit = c[i].exit };

			res.state = c[i].problems ? "error" : c[i].warnings ? "warning" : "ok";
			snprintf(res.result, sizeof(res.result), "%s", c[i].text);
			cli_tab_json_vol(&j, sel[i], devs[i], &res);
		}
		cli_json_arr_close(&j);
		cli_json_end(&j);
	} else if (!code && !o->json) {
		cli_info(o, "%s: %d volume%s, no errors", cli_tab_path(o), n, n == 1 ? "" : "s");
	}
	free(c);
	free(devs);
	vxts_tab_free(&t);
	return code;
}

/* ---- tab generate ---------------------------------------------------------------------------- */

static int cli_tab_symlink(const char *dir, const char *wants, const char *unit,
			   const char *target)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, wants);
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s/%s", dir, wants, unit);
	unlink(path);
	return symlink(target, path) ? -errno : 0;
}

/*
 * The device unit to bind to, when udev will make one: a path, PARTUUID=,
 * and a LUKS2 UUID=/LABEL= (blkid knows LUKS2). A vxts header's UUID or
 * LABEL has no /dev/disk/by-* link: `tab open` finds it by scanning, and
 * waits up to timeout= for it.
 */
static void cli_tab_path_unit(const char *path, char *out, size_t len)
{
	char esc[PATH_MAX];

	cli_tab_escape(path, true, esc, sizeof(esc) - 8);
	snprintf(out, len, "%.*s.device", (int)(sizeof(esc) - 8), esc);
}

static bool cli_tab_dev_unit(const struct vxts_tab_entry *e, char *out, size_t len)
{
	static const char *const dirs[] = {
		[VXTS_TAB_DEV_UUID] = "/dev/disk/by-uuid/",
		[VXTS_TAB_DEV_PARTUUID] = "/dev/disk/by-partuuid/",
		[VXTS_TAB_DEV_LABEL] = "/dev/disk/by-label/",
	};
	char path[PATH_MAX], esc[PATH_MAX];

	if (e->dev_kind == VXTS_TAB_DEV_PATH) {
		if (strncmp(e->dev, "/dev/", 5))
			return false;
		snprintf(path, sizeof(path), "%s", e->dev);
	} else if (e->dev_kind == VXTS_TAB_DEV_PARTUUID || cli_tab_is_luks(e)) {
		snprintf(path, sizeof(path), "%s%s", dirs[e->dev_kind], e->dev);
	} else {
		return false;
	}
	cli_tab_escape(path, true, esc, sizeof(esc) - 8);
	snprintf(out, len, "%.*s.device", (int)(sizeof(esc) - 8), esc);
	return true;
}

static int cli_tab_gen_dropin(const struct cli_opts *o, const char *dir,
			      const struct vxts_tab_entry *e, const char *inst)
{
	char path[PATH_MAX], devu[PATH_MAX], src[PATH_MAX];
	bool netdev = e->flags & VXTS_TAB_NETDEV;
	FILE *f;

	if (!realpath(cli_tab_path(o), src))
		snprintf(src, sizeof(src), "%s", VXTS_TAB_PATH);

	snprintf(path, sizeof(path), "%s/vxts-open@%s.service.d", dir, inst);
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/vxts-open@%s.service.d/50-vxtstab.conf", dir, inst);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "# Generated by `vxts tab generate` from %s line %u: edit the table, "
		"not this file.\n[Unit]\nSourcePath=%s\n", src, e->line, src);
	if (cli_tab_dev_unit(e, devu, sizeof(devu)))
		fprintf(f, "BindsTo=%s\nAfter=%s\n", devu, devu);
	/* a detached header on its own block device: wait for it like for DEVICE */
	if (e->header && !strncmp(e->header, "/dev/", 5)) {
		cli_tab_path_unit(e->header, devu, sizeof(devu));
		fprintf(f, "BindsTo=%s\nAfter=%s\n", devu, devu);
	}
	if (netdev)
		fprintf(f, "Wants=network-online.target\nAfter=network-online.target\n"
			"Before=remote-fs-pre.target\n");
	else
		fprintf(f, "Before=local-fs-pre.target\n");
	/* the device wait (timeout=) and a KMS helper's time come on top of the default */
	if (e->timeout > VXTS_TAB_TIMEOUT_DEFAULT || e->kms_timeout > 30)
		fprintf(f, "\n[Service]\nTimeoutStartSec=%u\n",
			300 + e->timeout + e->kms_timeout);
	return fclose(f) ? -errno : 0;
}

static int cli_tab_gen_one(const struct cli_opts *o, const char *dir,
			   const struct vxts_tab_entry *e)
{
	char inst[512], unit[600], map[PATH_MAX], mapu[PATH_MAX], wants[PATH_MAX + 16];
	int r;

	cli_tab_escape(e->name, false, inst, sizeof(inst));
	snprintf(unit, sizeof(unit), "vxts-open@%s.service", inst);
	r = cli_tab_gen_dropin(o, dir, e, inst);
	if (!r)
		r = cli_tab_symlink(dir, e->flags & VXTS_TAB_NOFAIL ? "vxts.target.wants" :
				    "vxts.target.requires", unit,
				    CLI_TAB_UNIT_DIR "/vxts-open@.service");
	snprintf(map, sizeof(map), "/dev/mapper/%s", e->name);
	cli_tab_escape(map, true, mapu, sizeof(mapu));
	snprintf(wants, sizeof(wants), "%s.device.wants", mapu);
	if (!r)
		r = cli_tab_symlink(dir, wants, unit, CLI_TAB_UNIT_DIR "/vxts-open@.service");
	return r;
}

int cli_cmd_tab_generate(const struct cli_opts *o)
{
	const char *dir = o->pos[0];
	struct vxts_tab t;
	struct stat st;
	int i, r = 0, failed = 0;

	if (stat(cli_tab_path(o), &st) && errno == ENOENT)
		return 0;			/* no table, no units */
	r = cli_tab_load(o, "tab generate", false, &t);
	if (r)
		return r;
	if (t.n)
		r = cli_tab_symlink(dir, "remote-fs.target.wants", "vxts.target",
				    CLI_TAB_UNIT_DIR "/vxts.target");
	if (r) {
		cli_err("tab generate: cannot write units into %s: %s", dir, strerror(-r));
		r = CLI_EXIT_FAIL;
	}
	/* one entry that cannot be written costs that entry only */
	for (i = 0; !r && i < t.n; i++) {
		int e = cli_tab_gen_one(o, dir, &t.e[i]);

		if (e) {
			cli_err("tab generate: %s line %u (%s): cannot write its units into "
				"%s: %s; the other entries get theirs", cli_tab_path(o),
				t.e[i].line, t.e[i].name, dir, strerror(-e));
			failed = CLI_EXIT_FAIL;
		}
	}
	vxts_tab_free(&t);
	return r ? r : failed;
}
