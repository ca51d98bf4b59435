// SPDX-License-Identifier: GPL-2.0
/*
 * vxts command line: verbs on a dm-vxts mapping NAME (docs/ONLINE.md):
 * open, close, pause, resume, status NAME, and the --online forms of
 * encrypt, decrypt and reencrypt.
 *
 * An online conversion has two phases. Offline (nothing mapped yet): the
 * header is created or its conversion started, a window cut by a crash is
 * recovered, the keys go to the kernel keyring, the volume is closed and
 * /dev/mapper/NAME appears. Online: the converter reopens the device next
 * to dm-vxts (no O_EXCL) and converts window by window under `hold` and
 * `advance`. Re-running the command, or `vxts resume NAME`, goes straight to
 * the online phase when the mapping exists.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "online.h"
#include "vxts.h"

#define CLI_PAUSE_WAIT_MS 30000

struct cli_onl {
	const struct cli_opts *o;
	struct cli_opts od;		/* o with pos[0] = DEVICE, for the shared helpers */
	const char *verb, *name, *dev;
	char devbuf[PATH_MAX];
	char *dpos[1];			/* od.pos: the device the volume is opened on */
	enum vxts_direction dir;	/* NONE: resume whatever the header says */
	struct cli_key k, nk;
	struct vxts_volume *v;
	struct vxts_info in;
	struct vxts_argon2_params argon2;
	struct vxts_convert_opts co;
	struct cli_progress prog;
};

static void cli_onl_setup(struct cli_onl *c, const struct cli_opts *o, const char *verb,
			  enum vxts_direction dir)
{
	memset(c, 0, sizeof(*c));
	c->o = o;
	c->od = *o;
	c->verb = verb;
	c->dir = dir;
	c->name = o->pos[0];
	c->od.pos = c->dpos;
	c->od.npos = 1;
	c->dev = o->npos > 1 ? o->pos[1] : NULL;
	c->dpos[0] = (char *)c->dev;
	c->co.resilience = o->resilience == CLI_RES_JOURNAL ? VXTS_RESILIENCE_JOURNAL :
			   o->resilience == CLI_RES_CHECKSUM ? VXTS_RESILIENCE_CHECKSUM :
			   VXTS_RESILIENCE_DEFAULT;
	c->co.chunk_size = o->chunk_size;
	c->co.queue_depth = o->queue_depth;
	c->co.threads = o->threads;
	c->co.rate_limit = o->rate_limit;
	if (cli_argon2(o, &c->argon2))
		c->co.argon2 = &c->argon2;
	c->co.progress = cli_progress_cb;
	c->co.progress_ctx = &c->prog;
}

static void cli_onl_free(struct cli_onl *c)
{
	vxts_close(c->v);
	c->v = NULL;
	cli_key_put(&c->k);
	cli_key_put(&c->nk);
}

static int cli_onl_fail(struct cli_onl *c, int r, int code)
{
	return cli_fail(c->o, c->verb, c->name, r, code);
}

/* The unlock key (and, for a re-key, the optional new one), sourced once. */
static int cli_onl_keys(struct cli_onl *c, bool confirm)
{
	int r = c->k.type ? 0 : cli_key_get(&c->k, c->o, CLI_KEY_UNLOCK, confirm);

	if (!r && !c->nk.type && (c->o->new_key_file || c->o->new_passphrase_file ||
				  c->o->new_pkcs11_uri || c->o->new_kms_key_id))
		r = cli_key_get(&c->nk, c->o, CLI_KEY_NEW, confirm);
	return r;
}

static int cli_onl_unlock(struct cli_onl *c)
{
	int r = cli_unlock_with(c->v, &c->k);

	/* resuming a re-key whose new DEK only the new KEK holds */
	if (!r && c->nk.type && vxts_info(c->v, &c->in) == 0 &&
	    c->in.direction == VXTS_DIR_REENCRYPT)
		cli_unlock_with(c->v, &c->nk);
	return r ? r : vxts_info(c->v, &c->in);
}

/* ---- offline phase ---------------------------------------------------------- */

/* encrypt on a device without a header: write one (state plaintext). */
static int cli_onl_format(struct cli_onl *c)
{
	struct vxts_volume *v;
	int r;

	r = cli_open(&c->od, c->verb, false, &v);
	vxts_close(v);
	if (r != -ENODATA && !(r == -ENOENT && c->o->header))
		return r;
	(void)cli_detail_take();
	r = cli_onl_keys(c, true);
	return r ? r : cli_encrypt_format(&c->od, &c->k);
}

/*
 * A mapping's data unit is the smallest IO it accepts: a filesystem on
 * DEVICE (@o->pos[0]) that writes smaller blocks (ext4 -b 1024, XFS with
 * 512-byte sectors) would see its writes refused once it is mounted through
 * dm-vxts, online or after an offline encrypt. Refuse before anything is
 * written: -EINVAL with the detail set.
 */
int cli_fs_unit_check(const struct cli_opts *o, const char *verb)
{
	struct vxts_volume *v;
	struct vxts_info in;
	uint32_t unit = o->sector_size ? o->sector_size : 4096, fs = 0;
	int r;

	if (!cli_open(o, verb, false, &v) && !vxts_info(v, &in))
		unit = in.unit_size;
	vxts_close(v);
	(void)cli_detail_take();
	r = vxts_online_fs_min_io(o->pos[0], &fs);
	if (r || !fs || fs >= unit)
		return r;
	cli_detail("the filesystem on %s issues %u-byte IO, which a %u-byte data unit "
		   "refuses once mapped: use --sector-size 512 (a new header)",
		   o->pos[0], fs, unit);
	return -EINVAL;
}

static bool cli_onl_state_ok(struct cli_onl *c, enum vxts_state from, enum vxts_state busy,
			     enum vxts_state done)
{
	return c->in.state == from || c->in.state == busy || c->in.state == done;
}

static enum vxts_state cli_onl_from(enum vxts_direction d)
{
	return d == VXTS_DIR_ENCRYPT ? VXTS_STATE_PLAINTEXT : VXTS_STATE_ENCRYPTED;
}

/*
 * The mapping exists in a final state (linear, or plain vxts) and the verb
 * asks for a conversion from it: record the start in the header only; the
 * converter then swaps the partial table in (boundary 0: same bytes).
 */
static int cli_onl_begin(struct cli_onl *c)
{
	struct vxts_kek keks[2];
	char ref[161];
	int r;

	if (c->dir == VXTS_DIR_NONE || c->in.direction != VXTS_DIR_NONE ||
	    c->in.state != cli_onl_from(c->dir))
		return 0;
	/* every KEK field (PKCS#11, KMS): keysrc.c builds them */
	r = c->dir == VXTS_DIR_REENCRYPT ? cli_key_kek_for(&c->k, c->v, &keks[0], ref) : 0;
	if (r)
		return r;
	if (c->dir != VXTS_DIR_REENCRYPT)
		cli_key_kek(&c->k, &keks[0]);
	cli_key_kek(&c->nk, &keks[1]);
	if (c->dir == VXTS_DIR_REENCRYPT)
		cli_warn("%s: after the re-key only the key given (and --new-key-file/"
			 "--new-passphrase-file) opens it", c->name);
	r = vxts_convert_start(c->v, c->dir, &c->co, keks, c->nk.type ? 2 : 1);
	if (!r)
		r = vxts_info(c->v, &c->in);
	return r == -EALREADY ? 0 : r;
}

/* Record the conversion's start, or recover a window a crash cut. */
static int cli_onl_start(struct cli_onl *c)
{
	struct vxts_kek keks[2];
	char ref[161];
	static const enum vxts_state tbl[4][3] = {
		[VXTS_DIR_ENCRYPT] = { VXTS_STATE_PLAINTEXT, VXTS_STATE_ENCRYPTING,
				       VXTS_STATE_ENCRYPTED },
		[VXTS_DIR_DECRYPT] = { VXTS_STATE_ENCRYPTED, VXTS_STATE_DECRYPTING,
				       VXTS_STATE_PLAINTEXT },
		[VXTS_DIR_REENCRYPT] = { VXTS_STATE_ENCRYPTED, VXTS_STATE_REENCRYPTING, 0 },
	};
	const enum vxts_state *t = tbl[c->dir];
	int r;

	cli_key_kek(&c->nk, &keks[1]);
	if (c->in.direction != VXTS_DIR_NONE && c->in.direction != c->dir) {
		cli_detail("volume is %s: finish that first (`vxts %s --online %s %s`)",
			   vxts_state_name(c->in.state), vxts_direction_name(c->in.direction),
			   c->name, c->dev);
		return -EBUSY;
	}
	if (!cli_onl_state_ok(c, t[0], t[1], t[2]))
		return -EBUSY;
	if (c->in.state == t[1])
		return vxts_recover(c->v);
	if (c->in.state == t[2])
		return 0;			/* done already: map it, nothing to convert */
	r = c->dir == VXTS_DIR_REENCRYPT ? cli_key_kek_for(&c->k, c->v, &keks[0], ref) : 0;
	if (r)
		return r;
	if (c->dir != VXTS_DIR_REENCRYPT)
		cli_key_kek(&c->k, &keks[0]);
	r = vxts_convert_start(c->v, c->dir, &c->co, keks, c->nk.type ? 2 : 1);
	return r == -EALREADY ? 0 : r;
}

/*
 * Read-write open with O_EXCL (nothing may have the device open: a mounted
 * raw disk must be unmounted first), unlock, start/recover, describe the
 * mapping (keys into the keyring), close, map. A crash anywhere here leaves
 * either no mapping (re-run: the header says where to go on) or the
 * mapping with the header's state (re-run: online phase).
 */
static int cli_onl_map(struct cli_onl *c, bool start, bool takeover)
{
	struct vxts_online_map m;
	int r;

	r = cli_onl_keys(c, false);
	if (!r)
		r = cli_open(&c->od, c->verb, true, &c->v);
	if (!r)
		r = cli_onl_unlock(c);
	if (!r)
		r = start ? cli_onl_start(c) : vxts_recover(c->v);
	if (!r)
		r = vxts_online_describe(c->v, c->dev, &m);
	vxts_close(c->v);
	c->v = NULL;
	if (!r)
		r = takeover ? vxts_online_takeover(c->name, &m, c->dev, c->od.header) :
			       vxts_online_create(c->name, &m, c->dev, c->od.header);
	return r;
}

/* ---- takeover: DEVICE is the dm device NAME itself (an LVM LV) ------------------ */

static bool cli_onl_dm_name(const char *dev, char *name, size_t len)
{
	char path[128];
	struct stat st;
	FILE *f;
	bool ok = false;

	if (stat(dev, &st) || !S_ISBLK(st.st_mode))
		return false;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/name", major(st.st_rdev),
		 minor(st.st_rdev));
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(name, (int)len, f)) {
		name[strcspn(name, "\n")] = 0;
		ok = true;
	}
	fclose(f);
	return ok;
}

static bool cli_onl_is_takeover(struct cli_onl *c)
{
	char n[256];

	return c->dev && cli_onl_dm_name(c->dev, n, sizeof(n)) && !strcmp(n, c->name);
}

/*
 * An LVM LV (dm uuid "LVM-...") is taken over only with --takeover-lvm: any
 * LVM command that reloads it while taken over puts LVM's table back over
 * the vxts one under the mounted filesystem (ONLINE.md, the hazard).
 */
static int cli_onl_lvm_ok(struct cli_onl *c)
{
	struct vxts_dm_info in;

	if (c->o->takeover_lvm || vxts_dm_info(c->name, &in) || strncmp(in.uuid, "LVM-", 4))
		return 0;
	cli_detail("%s is an LVM logical volume: while vxts has it taken over, no LVM command "
		   "may reload it (lvextend, lvchange --refresh, lvcreate -s, pvmove, lvconvert "
		   "put LVM's table back over the encrypted data: data loss); add "
		   "--takeover-lvm to accept that (docs/ONLINE.md)", c->name);
	return -EPERM;
}

/* The volume is opened on the inner copy of NAME's table from here on. */
static int cli_onl_takeover_prepare(struct cli_onl *c)
{
	int r = vxts_online_takeover_prepare(c->name, c->devbuf, sizeof(c->devbuf));

	if (r && r != -EEXIST)
		return r;
	c->dev = c->devbuf;
	c->dpos[0] = c->devbuf;
	return 0;
}

/* ---- online phase: the converter ------------------------------------------------ */

static void cli_onl_print(struct cli_onl *c, const struct vxts_online_stats *st)
{
	char size[32], rate[32];
	double bps = st->secs > 0 ? st->bytes / st->secs : 0;
	struct cli_json j;

	vxts_info(c->v, &c->in);
	if (!c->o->json) {
		cli_fmt_bytes(size, sizeof(size), st->bytes);
		cli_fmt_bytes(rate, sizeof(rate), bps);
		printf("%s: %s online (%s in %.1f s, %s/s; %llu windows, hold max %.1f ms, "
		       "p99 %.1f ms)\n", c->name, vxts_state_name(c->in.state), size, st->secs,
		       rate, (unsigned long long)st->windows, st->hold_max_ms, st->hold_p99_ms);
		return;
	}
	cli_json_result(&j, &c->od, c->verb);
	cli_json_str(&j, "name", c->name);
	cli_json_str(&j, "result", vxts_state_name(c->in.state));
	cli_json_bool(&j, "changed", st->windows > 0);
	cli_json_u64(&j, "converted_bytes", st->bytes);
	cli_json_dbl(&j, "elapsed_sec", st->secs);
	cli_json_dbl(&j, "rate_bytes_per_sec", bps);
	cli_json_obj_open(&j, "online");
	cli_json_u64(&j, "windows", st->windows);
	cli_json_dbl(&j, "hold_max_ms", st->hold_max_ms);
	cli_json_dbl(&j, "hold_p99_ms", st->hold_p99_ms);
	cli_json_dbl(&j, "hold_avg_ms", st->hold_avg_ms);
	cli_json_u64(&j, "max_hold_target_ms", c->o->max_hold_ms ? c->o->max_hold_ms : 10);
	cli_json_u64(&j, "window_min_bytes", st->window_min);
	cli_json_u64(&j, "window_max_bytes", st->window_max);
	cli_json_dbl(&j, "paused_sec", st->paused_secs);
	cli_json_str(&j, "reconciled", st->reconciled);
	cli_json_u64(&j, "kernel_held_total", st->k.held_total);
	cli_json_u64(&j, "kernel_hold_max_us", st->k.hold_max_us);
	cli_json_u64(&j, "kernel_wait_max_us", st->k.wait_max_us);
	cli_json_u64(&j, "kernel_drain_max_us", st->k.drain_max_us);
	cli_json_obj_close(&j);
	cli_json_info(&j, &c->in);
	cli_json_end(&j);
}

/* Opens next to dm-vxts; the lock of a vxts that just exited may linger. */
static int cli_onl_open_shared(struct cli_onl *c)
{
	const struct timespec pause = { 0, 50 * 1000000L };
	double give_up = cli_now() + 1.0;
	int r;

	for (;;) {
		r = vxts_open(c->dev, c->od.header, VXTS_OPEN_SHARED, &c->v);
		if (r != -EBUSY || cli_now() > give_up || cli_signals_caught())
			break;
		nanosleep(&pause, NULL);
	}
	if (r)
		c->v = NULL;
	return r;
}

static int cli_onl_convert(struct cli_onl *c)
{
	struct vxts_online_opts oo = {
		.max_hold_ms = c->o->max_hold_ms, .stopping = cli_signals_caught,
	};
	struct vxts_online_stats st;
	int r;

	r = cli_onl_keys(c, false);
	if (!r)
		r = cli_onl_open_shared(c);
	if (!r)
		r = cli_onl_unlock(c);
	if (r)
		return cli_onl_fail(c, r, 0);
	if (c->dir != VXTS_DIR_NONE && c->in.direction != VXTS_DIR_NONE &&
	    c->in.direction != c->dir) {
		cli_detail("volume is %s: finish that first (`vxts resume %s`)",
			   vxts_state_name(c->in.state), c->name);
		return cli_onl_fail(c, -EBUSY, CLI_EXIT_STATE);
	}
	r = cli_onl_begin(c);
	if (r)
		return cli_onl_fail(c, r, r == -EBUSY ? CLI_EXIT_STATE : 0);
	cli_signals_install();
	/* progress names the conversion, also when `resume` runs it (progress.json) */
	cli_progress_init(&c->prog, c->o, c->dir != VXTS_DIR_NONE ? c->verb :
			  vxts_direction_name(c->in.direction));
	c->prog.last_done = c->in.boundary;
	r = vxts_online_run(c->v, c->name, &c->co, &oo, &st);
	cli_progress_finish(&c->prog);
	if (r == -EINTR)
		cli_detail("stopped at a window edge, nothing held: `vxts resume %s` with the "
			   "key option continues", c->name);
	if (r)
		return cli_onl_fail(c, r, 0);
	cli_onl_print(c, &st);
	return CLI_EXIT_OK;
}

/*
 * What is NAME now? 0: no such device; 1: a vxts mapping (or one vxts made
 * and finished as linear); 2: another dm device (takeover candidate);
 * -errno: device-mapper cannot be asked (message in the library's detail).
 */
static int cli_onl_exists(struct cli_onl *c)
{
	struct vxts_online_kstate k;
	struct vxts_online_rt rt;
	struct vxts_dm_info di;
	int r = vxts_dm_info(c->name, &di);

	if (r)		/* no device-mapper, no permission: the library says which */
		return r;
	r = vxts_online_kernel(c->name, &k);
	(void)cli_detail_take();
	if (r == -ENXIO)
		return 0;
	vxts_online_runtime(c->name, &rt);
	return k.is_vxts || rt.known ? 1 : 2;
}

/* Does mapping @name map block device @dev? (true when it cannot tell) */
static bool cli_onl_same_dev(const char *name, const char *dev)
{
	char devno[32], want[32];
	struct stat st;

	if (vxts_online_data_device(name, devno, sizeof(devno)) || stat(dev, &st))
		return true;
	snprintf(want, sizeof(want), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
	return !strcmp(devno, want);
}

int cli_online_convert(const struct cli_opts *o, int dir)
{
	static const char *const verbs[] = { "", "encrypt", "decrypt", "reencrypt" };
	struct cli_onl c;
	bool takeover;
	int r = 0, there;

	cli_onl_setup(&c, o, verbs[dir], dir);
	there = cli_onl_exists(&c);
	if (there < 0)
		there = 2;	/* as before: refused below as "not DEVICE" */
	takeover = there == 2 && cli_onl_is_takeover(&c);
	if (there == 2 && !takeover) {
		cli_detail("%s is a device-mapper device that is not %s: choose another NAME",
			   c.name, c.dev);
		r = cli_onl_fail(&c, -EEXIST, CLI_EXIT_BUSY);
		goto out;
	}
	if (there != 1) {
		if (dir == VXTS_DIR_ENCRYPT)
			r = cli_fs_unit_check(&c.od, c.verb);
		if (!r && takeover && (r = cli_onl_lvm_ok(&c))) {
			r = cli_onl_fail(&c, r, CLI_EXIT_USAGE);
			goto out;
		}
		if (!r && takeover)
			r = cli_onl_takeover_prepare(&c);
		if (!r && dir == VXTS_DIR_ENCRYPT)
			r = cli_onl_format(&c);
		if (!r)
			r = cli_onl_map(&c, true, takeover);
		if (r && takeover)
			vxts_online_takeover_abort(c.name);
		if (r) {
			r = cli_onl_fail(&c, r, r == -EINVAL || r == -ENOSPC ?
					 CLI_EXIT_UNSUITABLE : 0);
			goto out;
		}
	} else {
		struct vxts_online_rt rt;

		vxts_online_runtime(c.name, &rt);
		/*
		 * A converter runs already (perhaps paused for maintenance):
		 * this run could only fail on its lock, and must not clear a
		 * pause it did not set on the way.
		 */
		if (rt.converter) {
			cli_detail("a converter is already running on %s (pid %d)%s", c.name,
				   rt.pid, rt.paused ? ", paused: `vxts resume` wakes it" : "");
			r = cli_onl_fail(&c, -EBUSY, CLI_EXIT_BUSY);
			goto out;
		}
		if (rt.inner[0] && rt.device[0]) {
			snprintf(c.devbuf, sizeof(c.devbuf), "%s", rt.device);
			c.dev = c.dpos[0] = c.devbuf;
		} else if (!cli_onl_same_dev(c.name, c.dev)) {
			cli_detail("%s maps another device than %s: give the device it maps, or "
				   "another NAME", c.name, c.dev);
			r = cli_onl_fail(&c, -EINVAL, CLI_EXIT_USAGE);
			goto out;
		}
		vxts_online_pause(c.name, false);
	}
	r = cli_onl_convert(&c);
out:
	cli_onl_free(&c);
	return r;
}

/* ---- open, close, pause, resume ------------------------------------------------- */

int cli_cmd_open(const struct cli_opts *o)
{
	struct vxts_online_kstate k;
	struct cli_luks *lk = NULL;
	struct cli_onl c;
	struct cli_json j;
	bool takeover;
	int r = 0, there;

	cli_onl_setup(&c, o, "open", VXTS_DIR_NONE);
	/* a LUKS volume (docs/LUKS.md): judged before any device-mapper call */
	if (cli_luks_wanted(o, c.dev) && (r = cli_luks_prepare(o, c.dev, &lk))) {
		r = cli_luks_fail(o, c.name, c.dev, r);
		goto out;
	}
	there = cli_onl_exists(&c);
	if (there < 0) {
		cli_luks_release(lk);
		r = cli_onl_fail(&c, there, 0);
		goto out;
	}
	takeover = there == 2 && cli_onl_is_takeover(&c);
	if (there != 1 && lk) {
		r = cli_luks_open(o, c.name, c.dev, lk);
		goto out;
	}
	cli_luks_release(lk);
	if (there == 1) {
		struct vxts_online_rt rt;

		vxts_online_runtime(c.name, &rt);
		if (!rt.converter && vxts_online_unsuspend(c.name) > 0)
			cli_warn("%s was left suspended by an interrupted reload: resumed on its "
				 "previous table", c.name);
		(void)cli_detail_take();
		cli_info(o, "%s: open already", c.name);
		goto done;
	}
	if (there == 2 && !takeover) {
		cli_detail("%s is a device-mapper device that is not %s: choose another NAME",
			   c.name, c.dev);
		r = cli_onl_fail(&c, -EEXIST, CLI_EXIT_BUSY);
		goto out;
	}
	if (takeover && (r = cli_onl_lvm_ok(&c))) {
		r = cli_onl_fail(&c, r, CLI_EXIT_USAGE);
		goto out;
	}
	if (takeover)
		r = cli_onl_takeover_prepare(&c);
	if (!r)
		r = cli_onl_map(&c, false, takeover);
	if (r) {
		r = cli_onl_fail(&c, r, 0);
		goto out;
	}
done:
	if (vxts_online_kernel(c.name, &k))
		memset(&k, 0, sizeof(k));
	if (o->json) {
		cli_json_result(&j, o, "open");
		cli_json_str(&j, "name", c.name);
		cli_json_bool(&j, "converting", k.dir != VXTS_DIR_NONE);
		cli_json_u64(&j, "boundary_sectors", k.boundary);
		cli_json_end(&j);
	} else if (k.dir != VXTS_DIR_NONE) {
		printf("%s: open, %s in progress at sector %llu: `vxts resume %s` continues it\n",
		       c.name, vxts_direction_name(k.dir), (unsigned long long)k.boundary, c.name);
	} else {
		printf("%s: open\n", c.name);
	}
out:
	cli_onl_free(&c);
	return r;
}

static int cli_onl_simple_result(const struct cli_opts *o, const char *verb, const char *what)
{
	struct cli_json j;

	if (!o->json) {
		printf("%s: %s\n", o->pos[0], what);
		return CLI_EXIT_OK;
	}
	cli_json_result(&j, o, verb);
	cli_json_str(&j, "result", what);
	cli_json_end(&j);
	return CLI_EXIT_OK;
}

int cli_cmd_close(const struct cli_opts *o)
{
	int r = vxts_online_close(o->pos[0]);

	if (r == -ENXIO)
		return cli_onl_simple_result(o, "close", "not open, nothing to do");
	if (r)
		return cli_fail(o, "close", o->pos[0], r, r == -EBUSY ? CLI_EXIT_BUSY : 0);
	return cli_onl_simple_result(o, "close", "closed");
}

/*
 * The converter looks at the flag after each window, with nothing held.
 * Returning once no window is held and the boundary stood still over two
 * looks (a hold lasts milliseconds) means the caller may now suspend or
 * reconfigure the device.
 */
static int cli_onl_wait_edge(const char *name, uint64_t *at)
{
	const struct timespec tick = { 0, 150 * 1000000L };
	struct vxts_online_kstate k, prev = { 0 };
	double give_up = cli_now() + CLI_PAUSE_WAIT_MS / 1000.0;
	int r, still = 0;

	while (cli_now() < give_up) {
		r = vxts_online_kernel(name, &k);
		if (r)
			return r;
		still = !k.held && k.boundary == prev.boundary && !prev.held ? still + 1 : 0;
		*at = k.boundary;
		if (still >= 2 || k.dir == VXTS_DIR_NONE)
			return 0;
		prev = k;
		nanosleep(&tick, NULL);
	}
	return -ETIMEDOUT;
}

int cli_cmd_pause(const struct cli_opts *o)
{
	struct vxts_online_kstate k;
	struct vxts_online_rt rt;
	char what[128];
	uint64_t at = 0;
	int r = vxts_online_kernel(o->pos[0], &k);

	if (!r && (!k.is_vxts || k.dir == VXTS_DIR_NONE))
		return cli_onl_simple_result(o, "pause", "no conversion in progress, nothing to do");
	r = r ? r : vxts_online_pause(o->pos[0], true);
	if (r)
		return cli_fail(o, "pause", o->pos[0], r, 0);
	vxts_online_runtime(o->pos[0], &rt);
	if (!rt.converter)
		return cli_onl_simple_result(o, "pause", k.held ?
			"paused (no converter running; a window is held: `vxts resume` fixes it)" :
			"paused (no converter running)");
	r = cli_onl_wait_edge(o->pos[0], &at);
	if (r == -ETIMEDOUT) {
		/* Not a key provider's timeout: the flag is set, the converter
		 * just has not reached a window edge yet. */
		cli_detail("pause requested, but converter pid %d has not reached a window edge "
			   "within %d s (it pauses there); check again with `vxts status %s`",
			   rt.pid, CLI_PAUSE_WAIT_MS / 1000, o->pos[0]);
		r = -EBUSY;
	}
	if (r)
		return cli_fail(o, "pause", o->pos[0], r, 0);
	snprintf(what, sizeof(what), "paused at sector %llu (converter pid %d waits)",
		 (unsigned long long)at, rt.pid);
	return cli_onl_simple_result(o, "pause", what);
}

/* The data device of mapping @name, from its table (major:minor -> /dev/...). */
static int cli_onl_table_dev(const char *name, char *buf, size_t len)
{
	char devno[32], path[96], line[256];
	FILE *f;
	int r = vxts_online_data_device(name, devno, sizeof(devno));

	if (r)
		return r;
	snprintf(path, sizeof(path), "/sys/dev/block/%s/uevent", devno);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	r = -ENOENT;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "DEVNAME=", 8)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(buf, len, "/dev/%s", line + 8);
			r = 0;
		}
	fclose(f);
	return r;
}

/*
 * A taken-over LV whose table no longer maps the inner device: an LVM
 * command (lvextend, lvchange --refresh, pvmove, a snapshot...) reloaded
 * LVM's own table, which serves the on-disk bytes (ciphertext where
 * converted) as they are. Nothing vxts can fix under a mounted filesystem.
 */
static bool cli_onl_replaced(const char *name, const struct vxts_online_rt *rt)
{
	char have[32], want[32];

	if (!rt->inner[0] || !rt->device[0] || vxts_dm_devno(rt->device, want, sizeof(want))) {
		(void)cli_detail_take();
		return false;
	}
	if (vxts_online_data_device(name, have, sizeof(have))) {
		(void)cli_detail_take();
		return true;
	}
	return strcmp(have, want) != 0;
}

#define CLI_ONL_REPLACED "the table of %s was replaced behind vxts (an LVM command " \
	"reloaded the LV?): it now serves the raw on-disk bytes, ciphertext where converted; " \
	"stop using it, unmount, `vxts close %s` and `vxts open` it again"

/*
 * The header's direction, read without a key (none when no vxts header can
 * be read at all: nothing to resume then).
 */
static enum vxts_direction cli_onl_header_dir(struct cli_onl *c)
{
	struct vxts_volume *v;
	struct vxts_info in;
	int r = vxts_open(c->dev, c->od.header, VXTS_OPEN_READONLY, &v);

	if (r) {
		(void)cli_detail_take();
		return VXTS_DIR_NONE;
	}
	r = vxts_info(v, &in);
	vxts_close(v);
	return r ? VXTS_DIR_NONE : in.direction;
}

int cli_cmd_resume(const struct cli_opts *o)
{
	struct vxts_online_kstate k;
	struct vxts_online_rt rt;
	struct cli_onl c;
	bool final;
	int r;

	cli_onl_setup(&c, o, "resume", VXTS_DIR_NONE);
	vxts_online_runtime(c.name, &rt);
	r = vxts_online_kernel(c.name, &k);
	if (!r && !rt.converter && (r = vxts_online_unsuspend(c.name)) > 0)
		cli_warn("%s was left suspended by an interrupted reload: resumed on its "
			 "previous table", c.name);
	if (r > 0)
		r = 0;
	if (!r && !rt.converter)
		r = vxts_online_kernel(c.name, &k);
	if (r) {
		r = cli_onl_fail(&c, r, 0);
		goto out;
	}
	if (rt.converter) {
		vxts_online_pause(c.name, false);
		r = cli_onl_simple_result(o, "resume", rt.paused ? "resumed" :
					  "converter running already");
		goto out;
	}
	vxts_online_pause(c.name, false);
	if (cli_onl_replaced(c.name, &rt)) {
		cli_detail(CLI_ONL_REPLACED, c.name, c.name);
		r = cli_onl_fail(&c, -EUCLEAN, 0);
		goto out;
	}
	final = !k.is_vxts || k.dir == VXTS_DIR_NONE;
	if (rt.device[0])
		snprintf(c.devbuf, sizeof(c.devbuf), "%s", rt.device);
	else if ((r = cli_onl_table_dev(c.name, c.devbuf, sizeof(c.devbuf))) && final) {
		(void)cli_detail_take();
		r = cli_onl_simple_result(o, "resume", "no conversion in progress, nothing to do");
		goto out;
	} else if (r) {
		cli_detail("cannot tell the data device of %s (%s)", c.name, strerror(-r));
		r = cli_onl_fail(&c, r, 0);
		goto out;
	}
	c.dev = c.dpos[0] = c.devbuf;
	if (!c.od.header && rt.header[0])
		c.od.header = rt.header;
	/*
	 * A final-state table with a header that records a conversion: the
	 * converter died between recording the start and swapping the partial
	 * table in. The converter's switch does that swap (boundary 0 serves
	 * the same bytes), so resume runs it like any other interrupted run.
	 */
	if (final && cli_onl_header_dir(&c) == VXTS_DIR_NONE) {
		r = cli_onl_simple_result(o, "resume", "no conversion in progress, nothing to do");
		goto out;
	}
	r = cli_onl_convert(&c);
out:
	cli_onl_free(&c);
	return r;
}

/* ---- status NAME ------------------------------------------------------------------ */

bool cli_online_is_mapping(const char *arg)
{
	struct vxts_online_kstate k;
	bool yes = !strchr(arg, '/') && !vxts_online_kernel(arg, &k);

	(void)cli_detail_take();
	return yes;
}

static const char *cli_onl_hint(const char *name, const struct vxts_online_kstate *k,
				const struct vxts_online_rt *rt, char *buf, size_t len)
{
	const char *what;

	if (k->dir == VXTS_DIR_NONE)
		return NULL;
	if (k->held && !rt->converter)
		what = "window held and no converter running: IO to it waits; run";
	else if (!rt->converter)
		what = "conversion stopped (no converter): continue it with";
	else if (rt->paused)
		what = "paused: continue with";
	else
		return NULL;
	snprintf(buf, len, "%s `vxts resume %s`", what, name);
	return buf;
}

static void cli_onl_status_text(const char *name, const struct vxts_online_kstate *k,
				const struct vxts_online_rt *rt, const struct vxts_info *in,
				bool have_in)
{
	char hbuf[256];
	const char *hint = cli_onl_hint(name, k, rt, hbuf, sizeof(hbuf));

	printf("%s: mapping %s", name, !k->is_vxts ? "(not vxts: linear or other)" :
	       k->dir == VXTS_DIR_NONE ? "vxts" : "vxts, converting");
	if (rt->device[0])
		printf(" over %s", rt->device);
	printf("\n");
	if (k->dir != VXTS_DIR_NONE) {
		printf("  %s: boundary sector %llu", vxts_direction_name(k->dir),
		       (unsigned long long)k->boundary);
		if (have_in && in->data_size)
			printf(" (%.1f%%)", 100.0 * k->boundary * 512 / in->data_size);
		if (k->held)
			printf(", window %llu-%llu held (%llu bios waiting)",
			       (unsigned long long)k->lo, (unsigned long long)k->hi,
			       (unsigned long long)k->held_now);
		else
			printf(", no window held");
		printf("\n  kernel: %llu bios waited in all, longest hold %.1f ms, longest "
		       "wait %.1f ms, longest drain %.1f ms\n", (unsigned long long)k->held_total,
		       k->hold_max_us / 1000.0, k->wait_max_us / 1000.0, k->drain_max_us / 1000.0);
		printf("  converter: %s", rt->converter ? "running" : "none");
		if (rt->converter)
			printf(" (pid %d)%s", rt->pid, rt->paused ? ", paused" : "");
		printf("\n");
	}
	if (have_in)
		printf("  header: %s, boundary %llu bytes\n", vxts_state_name(in->state),
		       (unsigned long long)in->boundary);
	if (rt->inner[0])
		printf("  taken over: the old table lives in %s\n", rt->inner);
	if (cli_onl_replaced(name, rt)) {
		printf("  WARNING: " CLI_ONL_REPLACED "\n", name, name);
		cli_warn(CLI_ONL_REPLACED, name, name);
	}
	if (hint)
		printf("  %s\n", hint);
}

static void cli_onl_status_json(const struct cli_opts *o, const struct vxts_online_kstate *k,
				const struct vxts_online_rt *rt, const struct vxts_info *in,
				bool have_in)
{
	char hbuf[256];
	const char *hint = cli_onl_hint(o->pos[0], k, rt, hbuf, sizeof(hbuf));
	struct cli_json j;

	cli_json_result(&j, o, "status");
	cli_json_obj_open(&j, "mapping");
	cli_json_str(&j, "name", o->pos[0]);
	cli_json_str(&j, "target", k->is_vxts ? "vxts" : "other");
	cli_json_str(&j, "convert", vxts_direction_name(k->dir));
	cli_json_u64(&j, "boundary_sectors", k->boundary);
	if (k->held) {
		cli_json_obj_open(&j, "window");
		cli_json_u64(&j, "lo", k->lo);
		cli_json_u64(&j, "hi", k->hi);
		cli_json_obj_close(&j);
	} else {
		cli_json_null(&j, "window");
	}
	cli_json_u64(&j, "held", k->held_now);
	cli_json_u64(&j, "held_total", k->held_total);
	cli_json_u64(&j, "hold_max_us", k->hold_max_us);
	cli_json_u64(&j, "wait_max_us", k->wait_max_us);
	cli_json_u64(&j, "drain_max_us", k->drain_max_us);
	cli_json_str(&j, "data_device", rt->device);
	cli_json_str(&j, "inner", rt->inner);
	cli_json_bool(&j, "table_replaced", cli_onl_replaced(o->pos[0], rt));
	cli_json_obj_close(&j);
	cli_json_obj_open(&j, "converter");
	cli_json_bool(&j, "running", rt->converter);
	cli_json_i64(&j, "pid", rt->pid);
	cli_json_bool(&j, "paused", rt->paused);
	cli_json_obj_close(&j);
	if (hint)
		cli_json_str(&j, "hint", hint);
	else
		cli_json_null(&j, "hint");
	if (have_in) {
		cli_json_obj_open(&j, "header");
		cli_json_info(&j, in);
		cli_json_obj_close(&j);
	}
	cli_json_end(&j);
}

int cli_online_status(const struct cli_opts *o)
{
	struct vxts_online_kstate k;
	struct vxts_online_rt rt;
	struct vxts_volume *v = NULL;
	struct vxts_info in;
	bool have_in = false;
	int r;

	r = vxts_online_kernel(o->pos[0], &k);
	if (r)
		return cli_fail(o, "status", o->pos[0], r, 0);
	vxts_online_runtime(o->pos[0], &rt);
	if (rt.device[0] && !vxts_open(rt.device, o->header ? o->header :
				       rt.header[0] ? rt.header : NULL,
				       VXTS_OPEN_READONLY, &v))
		have_in = !vxts_info(v, &in);
	vxts_close(v);
	(void)cli_detail_take();
	if (o->json)
		cli_onl_status_json(o, &k, &rt, &in, have_in);
	else
		cli_onl_status_text(o->pos[0], &k, &rt, &in, have_in);
	return CLI_EXIT_OK;
}
