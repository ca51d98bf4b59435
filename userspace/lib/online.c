// SPDX-License-Identifier: GPL-2.0
/*
 * online: converting a volume while dm-vxts serves it (docs/ONLINE.md).
 *
 * The engine (vxts_convert_held) does the crash-safe work; this file holds
 * its windows in the kernel (`hold lo hi` before the engine reads a window,
 * `advance hi` once the header says the window is durable), sizes windows
 * so one hold stays under a target, waits at window edges while paused,
 * reconciles a kernel left behind by a killed converter with the header, and
 * swaps the final table in. Runtime state (converter lock + pid, pause flag,
 * device and header of the mapping, takeover inner device) lives in
 * /run/vxts/<name>.{lock,pause,conf}.
 *
 * Units: the engine counts data-relative bytes; the target counts 512-byte
 * sectors from the start of the mapping, which is the start of the data
 * area. So target sector = engine byte / 512 everywhere here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dm.h"
#include "error.h"
#include "online.h"
#include "secmem.h"
#include "volume.h"
#include "vxts.h"

#define ONL_DEF_HOLD_MS		10.0
#define ONL_DEF_MAX_WINDOW	(16ULL << 20)
#define ONL_FIRST_WINDOW	(256ULL << 10)
#define ONL_MIN_WINDOW		(64ULL << 10)
#define ONL_HOLD_MAX_SECTORS	2097152ULL	/* the target's limit: 1 GiB */
#define ONL_PAUSE_POLL_MS	100

/* ---- pure logic: status, reconcile, window size, tables ------------------- */

static int onl_u64(const char *s, uint64_t *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int onl_dir(const char *s, enum vxts_direction *d)
{
	if (!strcmp(s, "encrypt"))
		*d = VXTS_DIR_ENCRYPT;
	else if (!strcmp(s, "decrypt"))
		*d = VXTS_DIR_DECRYPT;
	else if (!strcmp(s, "reencrypt"))
		*d = VXTS_DIR_REENCRYPT;
	else
		return -EINVAL;
	return 0;
}

static int onl_status_word(char *w, struct vxts_online_kstate *k)
{
	char *v = strchr(w, ':'), *dash;

	if (!v)
		return 0;			/* one of the eight TARGET.md fields */
	*v++ = 0;
	if (!strcmp(w, "convert"))
		return onl_dir(v, &k->dir);
	if (!strcmp(w, "boundary"))
		return onl_u64(v, &k->boundary);
	if (!strcmp(w, "window")) {
		if (!strcmp(v, "-"))
			return 0;
		dash = strchr(v, '-');
		if (!dash)
			return -EINVAL;
		*dash++ = 0;
		k->held = true;
		return onl_u64(v, &k->lo) ? -EINVAL : onl_u64(dash, &k->hi);
	}
	if (!strcmp(w, "held"))
		return onl_u64(v, &k->held_now);
	if (!strcmp(w, "held_total"))
		return onl_u64(v, &k->held_total);
	if (!strcmp(w, "hold_max_us"))
		return onl_u64(v, &k->hold_max_us);
	if (!strcmp(w, "wait_max_us"))
		return onl_u64(v, &k->wait_max_us);
	if (!strcmp(w, "drain_max_us"))
		return onl_u64(v, &k->drain_max_us);
	return 0;				/* a field appended later */
}

int vxts_online_parse_status(const char *params, struct vxts_online_kstate *k)
{
	char buf[VXTS_DM_PARAMS_MAX], *save = NULL, *w;
	int r = 0;

	memset(k, 0, sizeof(*k));
	k->is_vxts = true;
	snprintf(buf, sizeof(buf), "%s", params);
	for (w = strtok_r(buf, " ", &save); w && !r; w = strtok_r(NULL, " ", &save))
		r = onl_status_word(w, k);
	if (!r && k->held && (k->lo >= k->hi || k->lo != k->boundary))
		r = -EINVAL;
	return r;
}

static int onl_unclean(const char *why)
{
	return vxts_err(-EUCLEAN, "the mapping and the header disagree (%s): the mapping was "
			"changed behind vxts; nothing was written, investigate before converting",
			why);
}

/*
 * Row by row (ONLINE.md "What a crash at each step leaves"): the kernel may
 * lag the header by exactly the held window (crash after the header commit,
 * before `advance`), never lead it.
 */
int vxts_online_reconcile(const struct vxts_online_kstate *k,
			  const struct vxts_online_hstate *h,
			  enum vxts_online_action *act, uint64_t *arg)
{
	*act = VXTS_ONL_NOTHING;
	*arg = 0;
	if (k->dir == VXTS_DIR_NONE)
		return onl_unclean("the mapping is not converting");
	if (h->dir != VXTS_DIR_NONE && h->dir != k->dir)
		return onl_unclean("different directions");
	if (!k->held) {
		/*
		 * The header names a window only while the kernel holds it
		 * (hold, then the "in flight" commit; the "past it" commit,
		 * then advance). Not held: someone sent `release`, the target
		 * served the half-converted window in the old form and
		 * applications may have written it; recovering the window from
		 * its record would put old content over those writes.
		 */
		if (h->win_hi)
			return vxts_err(-EUCLEAN, "the header names window %llu-%llu in flight but "
					"the mapping holds no window (a `release` sent by hand?): "
					"writes since then may be in it, and recovering it would "
					"overwrite them; nothing was written, investigate (check the "
					"data in that window) before converting",
					(unsigned long long)h->win_lo,
					(unsigned long long)h->win_hi);
		if (k->boundary != h->boundary)
			return onl_unclean(k->boundary > h->boundary ?
					   "kernel boundary past the header's" :
					   "kernel boundary behind the header's, no window held");
		return 0;
	}
	if (k->lo != k->boundary || k->lo >= k->hi)
		return onl_unclean("held window not at the boundary");
	if (h->win_hi) {
		if (h->win_lo != k->lo || h->win_hi != k->hi || h->dir == VXTS_DIR_NONE)
			return onl_unclean("header window differs from the held one");
		*act = VXTS_ONL_RECOVER;
		return 0;
	}
	if (h->boundary == k->hi) {
		*act = VXTS_ONL_ADVANCE;	/* steps 5-6: header durable past it */
		*arg = k->hi;
		return 0;
	}
	if (h->boundary == k->lo && h->dir != VXTS_DIR_NONE) {
		*act = VXTS_ONL_REHOLD;		/* step 1: held, nothing written */
		*arg = k->hi - k->lo;
		return 0;
	}
	return onl_unclean("held window and header boundary do not line up");
}

void vxts_online_win_init(struct vxts_online_win *w, uint64_t unit, uint64_t max,
			  double target_ms)
{
	w->unit = unit;
	w->max = max / unit * unit;
	if (w->max < unit)
		w->max = unit;
	w->min = ONL_MIN_WINDOW < w->max ? ONL_MIN_WINDOW / unit * unit : w->max;
	if (w->min < unit)
		w->min = unit;
	w->cur = ONL_FIRST_WINDOW < w->max ? ONL_FIRST_WINDOW / unit * unit : w->max;
	if (w->cur < w->min)
		w->cur = w->min;
	w->target_ms = target_ms > 0 ? target_ms : ONL_DEF_HOLD_MS;
}

/*
 * Aim at 80% of the target (a hold's cost is not quite linear in its size:
 * the drain and two header commits are fixed), and move by at most x2 up /
 * x4 down per window so one outlier (a busy disk, a preempted thread) does
 * not swing the size: it shrinks fast, grows carefully.
 */
void vxts_online_win_update(struct vxts_online_win *w, uint64_t len, double held_ms)
{
	double ratio = held_ms > 0 ? 0.8 * w->target_ms / held_ms : 2.0;
	double next;

	if (ratio > 2.0)
		ratio = 2.0;
	if (ratio < 0.25)
		ratio = 0.25;
	next = (double)len * ratio;
	/* a short last window says little about the size: never grow from it */
	if (len < w->cur && ratio > 1.0)
		next = (double)w->cur;
	if (next > (double)w->max)
		next = (double)w->max;
	if (next < (double)w->min)
		next = (double)w->min;
	w->cur = (uint64_t)next / w->unit * w->unit;
	if (w->cur < w->min)
		w->cur = w->min;
}

static int onl_cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double vxts_online_percentile(double *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), onl_cmp_dbl);
	i = (size_t)((p / 100.0) * (double)n + 0.999999);
	i = i ? i - 1 : 0;
	return v[i < n ? i : n - 1];
}

void vxts_online_key_desc(char *buf, size_t len, const char *uuid, uint32_t key_id)
{
	snprintf(buf, len, "vxts:%s:%u", uuid, key_id);
}

int vxts_online_table(const struct vxts_online_map *m, struct vxts_dm_table *t)
{
	struct vxts_dm_target *x = &t->t[0];
	int n = 0;

	memset(t, 0, sizeof(*t));
	t->n = 1;
	x->len = m->len;
	if (!m->len || !m->devno[0])
		return -EINVAL;
	if (m->dir == VXTS_DIR_NONE && m->state == VXTS_STATE_PLAINTEXT) {
		snprintf(x->type, sizeof(x->type), "linear");
		snprintf(x->params, sizeof(x->params), "%s %" PRIu64, m->devno, m->data_offset);
		return 0;
	}
	if (m->dir == VXTS_DIR_NONE && m->state != VXTS_STATE_ENCRYPTED)
		return -EINVAL;
	if (m->dir == VXTS_DIR_REENCRYPT && !m->old_desc[0])
		return -EINVAL;
	snprintf(x->type, sizeof(x->type), "vxts");
	n = m->dir == VXTS_DIR_NONE ? 1 : m->dir == VXTS_DIR_REENCRYPT ? 3 : 2;
	n = snprintf(x->params, sizeof(x->params),
		     "aes-xts-plain64 :64:logon:%s %" PRIu64 " %s %" PRIu64 " %d sector_size:%u",
		     m->key_desc, m->iv_offset, m->devno, m->data_offset, n, m->unit);
	if (m->dir != VXTS_DIR_NONE)
		n += snprintf(x->params + n, sizeof(x->params) - n, " convert:%s:%" PRIu64,
			      vxts_direction_name(m->dir), m->boundary);
	if (m->dir == VXTS_DIR_REENCRYPT)
		n += snprintf(x->params + n, sizeof(x->params) - n, " old_key::64:logon:%s",
			      m->old_desc);
	return (size_t)n < sizeof(x->params) ? 0 : -E2BIG;
}

static void onl_keyref(const char *w, char *out, size_t len)
{
	static const char pre[] = ":64:logon:";

	if (!strncmp(w, pre, sizeof(pre) - 1))
		snprintf(out, len, "%s", w + sizeof(pre) - 1);
}

int vxts_online_parse_table(const char *params, char *devno, size_t devno_len,
			    char *key, char *old_key, size_t key_len)
{
	char buf[VXTS_DM_PARAMS_MAX], *save = NULL, *w;
	int i = 0;

	key[0] = old_key[0] = devno[0] = 0;
	snprintf(buf, sizeof(buf), "%s", params);
	for (w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save), i++) {
		if (i == 1)
			onl_keyref(w, key, key_len);
		else if (i == 3)
			snprintf(devno, devno_len, "%s", w);
		else if (i > 5 && !strncmp(w, "old_key:", 8))
			onl_keyref(w + 8, old_key, key_len);
	}
	return i >= 5 ? 0 : -EINVAL;
}

/* ---- runtime state: /run/vxts ------------------------------------------------- */

static const char *onl_run_dir(void)
{
	const char *d = getenv("VXTS_RUN_DIR");

	return d && *d ? d : "/run/vxts";
}

static void onl_run_path(char *buf, size_t len, const char *name, const char *ext)
{
	snprintf(buf, len, "%s/%s.%s", onl_run_dir(), name, ext);
}

/*
 * The conf is read later from another working directory (a resume unit runs
 * in /), so a relative path is stored against the directory it was given in.
 * Symlinks are kept: /dev/disk/by-uuid/X must stay that name, not a /dev/sdX
 * that may change at the next boot.
 */
static int onl_abs_path(char *out, size_t len, const char *path)
{
	char cwd[PATH_MAX];

	if (!path || !*path || path[0] == '/') {
		snprintf(out, len, "%s", path ? path : "");
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return vxts_err(-errno, "cannot name the working directory for %s", path);
	if ((size_t)snprintf(out, len, "%s/%s", cwd, path) >= len)
		return vxts_err(-ENAMETOOLONG, "path too long: %s/%s", cwd, path);
	return 0;
}

static int onl_conf_write(const char *name, const char *device, const char *header,
			  const char *inner)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], dev[PATH_MAX], hdr[PATH_MAX];
	FILE *f;
	int r;

	r = onl_abs_path(dev, sizeof(dev), device);
	r = r ? r : onl_abs_path(hdr, sizeof(hdr), header);
	if (r)
		return r;
	mkdir(onl_run_dir(), 0700);
	onl_run_path(path, sizeof(path), name, "conf");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return vxts_err(-errno, "cannot write %s", tmp);
	fprintf(f, "device=%s\nheader=%s\ninner=%s\n", dev, hdr, inner ? inner : "");
	/* a write error (a full /run) must not rename a cut record into place */
	r = ferror(f) ? -EIO : 0;
	if (fclose(f) && !r)
		r = -errno;
	if (!r && rename(tmp, path))
		r = -errno;
	if (r) {
		unlink(tmp);
		return vxts_err(r, "cannot write %s", path);
	}
	return 0;
}

static void onl_conf_line(struct vxts_online_rt *rt, char *line)
{
	char *v = strchr(line, '=');

	if (!v)
		return;
	*v++ = 0;
	v[strcspn(v, "\n")] = 0;
	if (!strcmp(line, "device"))
		snprintf(rt->device, sizeof(rt->device), "%s", v);
	else if (!strcmp(line, "header"))
		snprintf(rt->header, sizeof(rt->header), "%s", v);
	else if (!strcmp(line, "inner"))
		snprintf(rt->inner, sizeof(rt->inner), "%s", v);
}

void vxts_online_runtime(const char *name, struct vxts_online_rt *rt)
{
	char path[PATH_MAX], line[PATH_MAX + 16];
	FILE *f;
	int fd;

	memset(rt, 0, sizeof(*rt));
	onl_run_path(path, sizeof(path), name, "conf");
	f = fopen(path, "r");
	if (f) {
		rt->known = true;
		while (fgets(line, sizeof(line), f))
			onl_conf_line(rt, line);
		fclose(f);
	}
	onl_run_path(path, sizeof(path), name, "pause");
	rt->paused = !access(path, F_OK);
	onl_run_path(path, sizeof(path), name, "lock");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (flock(fd, LOCK_SH | LOCK_NB) && errno == EWOULDBLOCK) {
		rt->converter = true;
		f = fdopen(fd, "r");
		if (f && fscanf(f, "%d", &rt->pid) != 1)
			rt->pid = 0;
		if (f) {
			fclose(f);
			return;
		}
	}
	close(fd);
}

int vxts_online_pause(const char *name, bool pause)
{
	char path[PATH_MAX];
	int fd;

	onl_run_path(path, sizeof(path), name, "pause");
	if (!pause)
		return unlink(path) && errno != ENOENT ? -errno : 0;
	mkdir(onl_run_dir(), 0700);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return vxts_err(-errno, "cannot create %s", path);
	close(fd);
	return 0;
}

static bool onl_paused(const char *name)
{
	char path[PATH_MAX];

	onl_run_path(path, sizeof(path), name, "pause");
	return !access(path, F_OK);
}

/*
 * The converter's lock: whoever holds it owns the mapping's window. The
 * kernel drops it when the process dies, however it dies, so a stale file
 * never blocks `vxts resume`.
 */
static int onl_lock(const char *name, int *fd)
{
	char path[PATH_MAX], pid[32];
	int n;

	mkdir(onl_run_dir(), 0700);
	onl_run_path(path, sizeof(path), name, "lock");
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return vxts_err(-errno, "cannot open %s", path);
	/*
	 * vxts_online_runtime() probes with a shared lock held for a moment:
	 * a probe must not make a starting converter give up, so a busy lock
	 * is tried again for up to 0.5 s (a real converter holds it far longer).
	 */
	for (n = 0; flock(*fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK && n < 50; n++)
		nanosleep(&(struct timespec){ 0, 10 * 1000000L }, NULL);
	if (flock(*fd, LOCK_EX | LOCK_NB)) {
		n = errno;
		close(*fd);
		*fd = -1;
		return n == EWOULDBLOCK ?
			vxts_err(-EBUSY, "a converter is already running on %s", name) :
			vxts_err(-n, "cannot lock %s", path);
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(*fd, 0) || pwrite(*fd, pid, n, 0) != n)
		return vxts_err(-EIO, "cannot write %s", path);
	return 0;
}

static void onl_unlock(int fd)
{
	if (fd < 0)
		return;
	/* the pid is only a hint; the lock is what counts */
	(void)!ftruncate(fd, 0);
	close(fd);
}

static void onl_runtime_clear(const char *name)
{
	char path[PATH_MAX];

	onl_run_path(path, sizeof(path), name, "conf");
	unlink(path);
	onl_run_path(path, sizeof(path), name, "pause");
	unlink(path);
	onl_run_path(path, sizeof(path), name, "lock");
	unlink(path);
}

/* ---- kernel state, keys, mapping ---------------------------------------------- */

int vxts_online_kernel(const char *name, struct vxts_online_kstate *k)
{
	struct vxts_dm_table t;
	struct vxts_dm_info in;
	int r;

	memset(k, 0, sizeof(*k));
	r = vxts_dm_info(name, &in);
	if (!r && !in.exists)
		r = vxts_err(-ENXIO, "no mapping %s (open it with `vxts open`)", name);
	if (!r)
		r = vxts_dm_query(name, false, &t);
	if (r)
		return r;
	if (t.n != 1 || strcmp(t.t[0].type, "vxts"))
		return 0;			/* linear, or something else: not ours now */
	r = vxts_online_parse_status(t.t[0].params, k);
	return r ? vxts_err(r, "cannot parse the status of %s: \"%s\"", name,
			    t.t[0].params) : 0;
}

/*
 * A converter killed between the suspend and the resume of a reload (or of
 * a takeover) leaves NAME suspended with the new table inactive: IO to it
 * waits for ever. The inactive table is dropped and NAME resumed on the
 * table it served before; the converter redoes the reload from the header's
 * state (switch, finish and takeover are idempotent). A crash here leaves
 * NAME suspended (run again) or resumed on its old table.
 */
int vxts_online_unsuspend(const char *name)
{
	struct vxts_dm_info in;
	int r = vxts_dm_info(name, &in);

	if (r || !in.exists || !in.suspended)
		return r;
	if (in.inactive_table && (r = vxts_dm_clear(name)))
		return r;
	r = vxts_dm_resume(name);
	return r ? r : 1;
}

int vxts_online_data_device(const char *name, char *devno, size_t len)
{
	struct vxts_dm_table t;
	char key[96], oldk[96];
	int r = vxts_dm_query(name, true, &t);

	if (r)
		return r;
	if (t.n == 1 && !strcmp(t.t[0].type, "vxts"))
		return vxts_online_parse_table(t.t[0].params, devno, len, key, oldk, sizeof(key));
	if (t.n == 1 && !strcmp(t.t[0].type, "linear") &&
	    sscanf(t.t[0].params, "%31s", key) == 1) {
		snprintf(devno, len, "%s", key);
		return 0;
	}
	return vxts_err(-EINVAL, "%s is not a single vxts or linear target", name);
}

static int onl_key_load(struct vxts_volume *v, enum vxts_key_which which, const char *desc)
{
	uint8_t *key = vxts_secure_alloc(VXTS_KEY_BYTES);
	int r;

	if (!key)
		return vxts_err(-ENOMEM, "cannot lock memory for keys (RLIMIT_MEMLOCK?)");
	r = vxts_volume_key(v, which, key);
	if (!r)
		r = vxts_keyring_add(desc, key, VXTS_KEY_BYTES);
	vxts_secure_free(key, VXTS_KEY_BYTES);
	return r;
}

/*
 * While re-keying, <key> is the new DEK (below the boundary) and old_key
 * the current one; otherwise <key> is the current DEK.
 */
static int onl_describe(struct vxts_volume *v, const char *devno, struct vxts_online_map *m)
{
	struct vxts_info in;
	int r;

	memset(m, 0, sizeof(*m));
	snprintf(m->devno, sizeof(m->devno), "%s", devno);
	r = vxts_info(v, &in);
	if (r)
		return r;
	m->data_offset = in.data_offset / 512;
	m->len = in.data_size / 512;
	m->iv_offset = in.iv_offset;
	m->unit = in.unit_size;
	m->state = in.state;
	m->dir = in.direction;
	m->boundary = in.boundary / 512;
	if (in.state == VXTS_STATE_PLAINTEXT)
		return 0;			/* linear: no key */
	if (m->dir == VXTS_DIR_REENCRYPT) {
		vxts_online_key_desc(m->key_desc, sizeof(m->key_desc), in.uuid_str,
				     in.current_key_id ^ 1);
		vxts_online_key_desc(m->old_desc, sizeof(m->old_desc), in.uuid_str,
				     in.current_key_id);
		r = onl_key_load(v, VXTS_KEY_NEW, m->key_desc);
		return r ? r : onl_key_load(v, VXTS_KEY_CURRENT, m->old_desc);
	}
	vxts_online_key_desc(m->key_desc, sizeof(m->key_desc), in.uuid_str,
			     in.current_key_id);
	return onl_key_load(v, VXTS_KEY_CURRENT, m->key_desc);
}

int vxts_online_describe(struct vxts_volume *v, const char *device,
			 struct vxts_online_map *m)
{
	char devno[32];
	int r;

	vxts_err_clear();
	r = vxts_dm_devno(device, devno, sizeof(devno));
	if (r == -ENOTBLK)
		return vxts_err(r, "%s is not a block device: online conversion and "
				"`vxts open` need one", device);
	return r ? r : onl_describe(v, devno, m);
}

/* Unlinks a logon key no table uses any more (absent is fine). */
static void onl_key_drop(const char *desc)
{
	if (desc[0])
		vxts_keyring_unlink(desc);
}

/* A table that failed to go live leaves no key behind (describe added them). */
static void onl_keys_drop(const struct vxts_online_map *m)
{
	onl_key_drop(m->key_desc);
	onl_key_drop(m->old_desc);
}

static void onl_uuid(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "VXTS-%s", name);
}

int vxts_online_create(const char *name, const struct vxts_online_map *m,
		       const char *device, const char *header)
{
	struct vxts_dm_table t;
	char uuid[160];
	int r;

	vxts_err_clear();
	r = vxts_online_table(m, &t);
	if (r)
		return vxts_err(r, "no table for a volume in state %s", vxts_state_name(m->state));
	onl_uuid(uuid, sizeof(uuid), name);
	r = vxts_dm_create(name, uuid, &t);
	if (r && r != -EEXIST)	/* -EEXIST: NAME may be this volume's, using them */
		onl_keys_drop(m);
	return r ? r : onl_conf_write(name, device, header, NULL);
}

/* ---- takeover ------------------------------------------------------------------- */

static void onl_inner_name(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s-vxts-inner", name);
}

int vxts_online_takeover_prepare(const char *name, char *inner, size_t len)
{
	struct vxts_dm_table t;
	struct vxts_dm_info in;
	char iname[160];
	int r;

	vxts_err_clear();
	onl_inner_name(iname, sizeof(iname), name);
	vxts_dm_path(iname, inner, len);
	r = vxts_dm_info(iname, &in);
	r = r ? r : vxts_dm_query(name, true, &t);
	if (r)
		return r;
	/*
	 * A spare inner from a crash between giveback's reload and remove is
	 * reused only if it is the same view as the LV's table now; if LVM
	 * changed the LV since (lvextend, pvmove), the spare maps old extents.
	 */
	if (in.exists) {
		struct vxts_dm_table it;

		if (t.n == 1 && !strcmp(t.t[0].type, "vxts"))
			return -EEXIST;		/* taken over already: the inner is live */
		r = vxts_dm_query(iname, true, &it);
		if (r)
			return r;
		bool same = it.n == t.n;

		for (unsigned int i = 0; same && i < t.n; i++)
			same = it.t[i].start == t.t[i].start && it.t[i].len == t.t[i].len &&
			       !strcmp(it.t[i].type, t.t[i].type) &&
			       !strcmp(it.t[i].params, t.t[i].params);
		if (!same)
			return vxts_err(-EUCLEAN, "%s exists and maps other extents than %s "
					"now (the LV changed since a takeover): remove it "
					"(dmsetup remove %s) and retry", iname, name, iname);
		return -EEXIST;
	}
	if (t.n == 1 && !strcmp(t.t[0].type, "vxts"))
		return vxts_err(-EBUSY, "%s is a vxts mapping already", name);
	/* the inner has the same extents: the same bytes at the same offsets */
	return vxts_dm_create(iname, NULL, &t);
}

void vxts_online_takeover_abort(const char *name)
{
	struct vxts_dm_table t;
	char iname[160];

	onl_inner_name(iname, sizeof(iname), name);
	if (vxts_dm_query(name, true, &t) || (t.n == 1 && !strcmp(t.t[0].type, "vxts")))
		return;
	vxts_dm_remove(iname);
}

/*
 * The live table of @name is replaced by the vxts one under IO: the load is
 * prepared first, the suspend flushes and waits for in-flight IO (dm core
 * queues new IO meanwhile), the resume swaps tables. A crash before the
 * resume leaves the old table live (nothing converted yet; the inner is a
 * harmless second view of the same extents); after it, the vxts table with
 * boundary 0 (or the header's boundary on a redo) serves the same bytes.
 */
int vxts_online_takeover(const char *name, const struct vxts_online_map *m,
			 const char *device, const char *header)
{
	struct vxts_dm_table t;
	char iname[160];
	int r;

	vxts_err_clear();
	r = vxts_online_table(m, &t);
	if (!r)
		r = vxts_dm_reload(name, &t);
	if (r)
		onl_keys_drop(m);
	onl_inner_name(iname, sizeof(iname), name);
	return r ? r : onl_conf_write(name, device, header, iname);
}

/* ---- the converter ---------------------------------------------------------------- */

struct onl {
	const char *name;
	struct vxts_online_win win;
	double t_hold, t_pause;
	double *samples;
	size_t n, cap;
	uint64_t bytes, wmin, wmax;
	const struct vxts_convert_opts *co;
	const struct vxts_online_opts *oo;
};

static double onl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int onl_msg(struct onl *o, const char *msg)
{
	int r = vxts_dm_message(o->name, msg, NULL, 0);

	return r ? vxts_err(r, "dm-vxts refused `%s` on %s (%d)", msg, o->name, r) : 0;
}

static int onl_hold(void *ctx, uint64_t off, uint64_t len)
{
	struct onl *o = ctx;
	char msg[64];

	snprintf(msg, sizeof(msg), "hold %" PRIu64 " %" PRIu64, off / 512, (off + len) / 512);
	o->t_hold = onl_now();
	return onl_msg(o, msg);
}

static int onl_sample(struct onl *o, double ms)
{
	double *s;

	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 256;
		s = realloc(o->samples, o->cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		o->samples = s;
	}
	o->samples[o->n++] = ms;
	return 0;
}

/* Called once the header says the window is durable in the new form. */
static int onl_release(void *ctx, uint64_t off, uint64_t len, uint64_t boundary)
{
	struct onl *o = ctx;
	char msg[64];
	double ms;
	int r;

	snprintf(msg, sizeof(msg), "advance %" PRIu64, boundary / 512);
	r = onl_msg(o, msg);
	if (r)
		return r;
	ms = (onl_now() - o->t_hold) * 1000.0;
	vxts_online_win_update(&o->win, len, ms);
	o->bytes += len;
	if (!o->wmin || len < o->wmin)
		o->wmin = len;
	if (len > o->wmax)
		o->wmax = len;
	return onl_sample(o, ms);
}

static uint64_t onl_next_len(void *ctx, uint64_t off, uint64_t max)
{
	struct onl *o = ctx;
	return o->win.cur;
}

/* At a window edge, nothing held: the place to wait while paused. */
static int onl_progress(uint64_t done, uint64_t total, void *ctx)
{
	const struct timespec tick = { 0, ONL_PAUSE_POLL_MS * 1000000L };
	struct onl *o = ctx;
	int r = o->co->progress ? o->co->progress(done, total, o->co->progress_ctx) : 0;
	double t0 = 0;

	while (!r && onl_paused(o->name)) {
		if (o->oo->stopping && o->oo->stopping())
			break;
		if (!t0)
			t0 = onl_now();
		nanosleep(&tick, NULL);
	}
	if (t0)
		o->t_pause += onl_now() - t0;
	return r;
}

static void onl_hstate(const struct vxts_info *in, struct vxts_online_hstate *h)
{
	memset(h, 0, sizeof(*h));
	h->dir = in->direction;
	h->len = in->data_size / 512;
	h->boundary = in->direction == VXTS_DIR_NONE ? h->len : in->boundary / 512;
	if (in->window_size && in->direction != VXTS_DIR_NONE) {
		h->win_lo = in->window_offset / 512;
		h->win_hi = (in->window_offset + in->window_size) / 512;
	}
}

static const char *onl_action_name(enum vxts_online_action a)
{
	static const char *const n[] = { "none", "advance", "rehold", "recover" };

	return n[a];
}

/* Kernel vs header, before anything is written (docs/ONLINE.md). */
static int onl_reconcile(struct onl *o, struct vxts_volume *v, struct vxts_online_stats *st)
{
	struct vxts_online_kstate k;
	struct vxts_online_hstate h;
	enum vxts_online_action act;
	struct vxts_info in;
	char msg[64];
	uint64_t arg;
	int r;

	r = vxts_online_kernel(o->name, &k);
	if (!r)
		r = vxts_info(v, &in);
	if (r)
		return r;
	onl_hstate(&in, &h);
	if (k.dir == VXTS_DIR_NONE && h.dir == VXTS_DIR_NONE) {
		st->reconciled = "none";	/* final table already live */
		return 0;
	}
	r = vxts_online_reconcile(&k, &h, &act, &arg);
	if (r)
		return r;
	st->reconciled = onl_action_name(act);
	if (act == VXTS_ONL_ADVANCE) {
		/*
		 * The hold that set the window may have been killed before its
		 * drain finished (the kernel then refuses advance, -EBUSY):
		 * holding the same window again is idempotent and waits for it.
		 */
		snprintf(msg, sizeof(msg), "hold %" PRIu64 " %" PRIu64, k.lo, k.hi);
		r = onl_msg(o, msg);
		snprintf(msg, sizeof(msg), "advance %" PRIu64, arg);
		return r ? r : onl_msg(o, msg);
	}
	/*
	 * Held, but the header never recorded the window: nothing was
	 * written in it (data is written only once the header names it), so
	 * the old form the target serves after a release is what the disk
	 * holds. Releasing it (rather than re-holding it as the first window)
	 * lets this run plan its own windows: a killed run's window may be
	 * longer than this run's largest, which the kernel would refuse to
	 * hold as a different window while IO to the held one waited. A crash
	 * after the release leaves nothing held and the same header.
	 */
	if (act == VXTS_ONL_REHOLD)
		return onl_msg(o, "release");
	return 0;
}

/*
 * A conversion started on a mapped volume (vxts_convert_start() wrote only
 * the header: boundary 0, no window) while the final-state table is still
 * live: linear before an encrypt, plain vxts before a decrypt or re-key. At
 * boundary 0 the partial table serves every sector in the old form, i.e.
 * exactly what the live table serves, so it is loaded under IO. A crash
 * before the resume leaves the old table and the same header: this runs
 * again.
 */
static int onl_switch(struct vxts_volume *v, const char *name, const char **did)
{
	struct vxts_online_kstate k;
	struct vxts_online_map m;
	struct vxts_dm_table t;
	struct vxts_info in;
	char devno[32];
	int r;

	r = vxts_online_kernel(name, &k);
	if (!r)
		r = vxts_info(v, &in);
	if (r || k.dir != VXTS_DIR_NONE || in.direction == VXTS_DIR_NONE)
		return r;
	if (in.boundary || in.window_size)
		return onl_unclean("the mapping is not converting but the header is past 0");
	r = vxts_online_data_device(name, devno, sizeof(devno));
	if (!r)
		r = onl_describe(v, devno, &m);
	if (!r)
		r = vxts_online_table(&m, &t);
	if (!r)
		r = vxts_dm_reload(name, &t);
	*did = "switch";
	return r;
}

/*
 * The conversion is complete in the header: the partial table (boundary at
 * the end, nothing held) and the final one serve the same bytes, so the
 * swap under IO is invisible. A crash before the resume leaves the partial
 * table live; the next `vxts resume` (or this run again) sees direction none
 * in the header and only redoes this reload.
 */
static int onl_finish(struct vxts_volume *v, const char *name)
{
	struct vxts_online_map m;
	struct vxts_online_kstate k;
	struct vxts_dm_table cur, t;
	char devno[32], key[96], oldk[96];
	int r;

	r = vxts_online_kernel(name, &k);
	if (!r && (!k.is_vxts || k.dir == VXTS_DIR_NONE))
		return 0;			/* the final table is live already */
	r = r ? r : vxts_dm_query(name, true, &cur);
	if (!r)
		r = vxts_online_parse_table(cur.t[0].params, devno, sizeof(devno), key, oldk,
					    sizeof(key));
	if (r)
		return r;
	/* describe() re-adds the key (same bytes): harmless, and sure to be there */
	r = onl_describe(v, devno, &m);
	if (!r)
		r = vxts_online_table(&m, &t);
	if (!r)
		r = vxts_dm_reload(name, &t);
	if (r) {
		/* the partial table keeps the DEKs it loaded; a re-run adds them again */
		onl_keys_drop(&m);
		return r;
	}
	if (m.state == VXTS_STATE_PLAINTEXT) {
		onl_key_drop(key);
		onl_key_drop(oldk);
	} else if (strcmp(oldk, m.key_desc)) {
		onl_key_drop(oldk);
	}
	return 0;
}

int vxts_online_run(struct vxts_volume *v, const char *name,
		    const struct vxts_convert_opts *co,
		    const struct vxts_online_opts *oo, struct vxts_online_stats *st)
{
	static const struct vxts_online_opts no_oo;
	struct vxts_convert_opts c = *co;
	struct onl o = { .name = name, .co = co, .oo = oo ? oo : &no_oo };
	struct vxts_conv_hold hold = { onl_hold, onl_release, &o, onl_next_len };
	struct vxts_info in;
	double t0 = onl_now();
	int fd = -1, r;

	vxts_err_clear();
	memset(st, 0, sizeof(*st));
	st->reconciled = "none";
	r = vxts_info(v, &in);
	if (r)
		return r;
	/* the target refuses a hold over 1 GiB: a larger max_window never fits */
	vxts_online_win_init(&o.win, in.unit_size,
			     !o.oo->max_window ? ONL_DEF_MAX_WINDOW :
			     o.oo->max_window > ONL_HOLD_MAX_SECTORS * 512 ?
			     ONL_HOLD_MAX_SECTORS * 512 : o.oo->max_window,
			     o.oo->max_hold_ms);
	c.window_size = o.win.max;
	if (!c.chunk_size)
		c.chunk_size = 128 << 10;	/* small windows still spread over workers */
	c.progress = onl_progress;
	c.progress_ctx = &o;
	r = onl_lock(name, &fd);
	if (!r)
		r = onl_switch(v, name, &st->reconciled);
	if (!r && strcmp(st->reconciled, "switch"))
		r = onl_reconcile(&o, v, st);
	if (!r && in.direction != VXTS_DIR_NONE)
		r = vxts_convert_held(v, &c, &hold);
	/* the counters go with the partial table: read them before the swap */
	if (vxts_online_kernel(name, &st->k))
		memset(&st->k, 0, sizeof(st->k));
	if (!r)
		r = onl_finish(v, name);
	st->windows = o.n;
	st->bytes = o.bytes;
	st->secs = onl_now() - t0;
	st->paused_secs = o.t_pause;
	st->window_min = o.wmin;
	st->window_max = o.wmax;
	if (o.n) {
		double sum = 0;

		for (size_t i = 0; i < o.n; i++) {
			sum += o.samples[i];
			if (o.samples[i] > st->hold_max_ms)
				st->hold_max_ms = o.samples[i];
		}
		st->hold_avg_ms = sum / o.n;
		st->hold_p99_ms = vxts_online_percentile(o.samples, o.n, 99);
	}
	free(o.samples);
	if (!r)
		vxts_online_pause(name, false);
	onl_unlock(fd);
	return r;
}

/* ---- close ---------------------------------------------------------------------- */

/*
 * A taken-over device (an LVM LV) is not ours to remove: it gets its own
 * table back from the inner device, which goes. That is the state after a
 * reboot (the LV reads the on-disk bytes, ciphertext where converted), from
 * which `vxts open` takes it over again. A crash between the reload and the
 * remove leaves a spare inner device: the next takeover reuses it.
 */
static int onl_giveback(const char *name, const char *inner)
{
	struct vxts_dm_table t;
	int r = vxts_dm_query(inner, true, &t);

	if (!r)
		r = vxts_dm_reload(name, &t);
	return r ? r : vxts_dm_remove(inner);
}

/*
 * The smallest IO the filesystem at the start of @dev issues, from its
 * superblock (ext2/3/4: its block size; XFS: its sector size); 0 when no
 * such filesystem is recognised.
 */
int vxts_online_fs_min_io(const char *dev, uint32_t *bytes)
{
	uint8_t b[4096];
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	*bytes = 0;
	if (fd < 0)
		return vxts_err(-errno, "cannot open %s", dev);
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n != (ssize_t)sizeof(b))
		return 0;
	if (b[1024 + 56] == 0x53 && b[1024 + 57] == 0xef) {	/* ext: s_magic */
		uint32_t lg = b[1024 + 24] | b[1024 + 25] << 8;

		*bytes = lg < 7 ? 1024u << lg : 0;
	} else if (!memcmp(b, "XFSB", 4)) {			/* xfs: sb_sectsize */
		*bytes = (uint32_t)b[102] << 8 | b[103];
	}
	return 0;
}

int vxts_online_close(const char *name)
{
	struct vxts_online_kstate k;
	struct vxts_online_rt rt;
	struct vxts_dm_info in;
	struct vxts_dm_table t;
	char devno[32], key[96], oldk[96];
	int r;

	vxts_err_clear();
	vxts_online_runtime(name, &rt);
	if (rt.converter)
		return vxts_err(-EBUSY, "a converter (pid %d) is running on %s: wait for it or "
				"`vxts pause %s` it first", rt.pid, name, name);
	r = vxts_dm_info(name, &in);
	if (!r && !in.exists)
		return -ENXIO;
	if (!r && in.open_count)
		return vxts_err(-EBUSY, "%s is open (%d users: mounted?): unmount it first",
				name, in.open_count);
	r = r ? r : vxts_online_kernel(name, &k);
	if (!r && k.held)
		return vxts_err(-EBUSY, "%s has a window held and no converter: run `vxts "
				"resume %s` first", name, name);
	r = r ? r : vxts_dm_query(name, true, &t);
	key[0] = oldk[0] = 0;
	if (!r && t.n == 1 && !strcmp(t.t[0].type, "vxts"))
		vxts_online_parse_table(t.t[0].params, devno, sizeof(devno), key, oldk,
					sizeof(key));
	if (!r)
		r = rt.inner[0] ? onl_giveback(name, rt.inner) : vxts_dm_remove(name);
	if (r)
		return r;
	onl_key_drop(key);
	onl_key_drop(oldk);
	onl_runtime_clear(name);
	return 0;
}
