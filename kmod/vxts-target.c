// SPDX-License-Identifier: GPL-2.0
/*
 * dm-vxts target: constructor, destructor, status, limits, registration.
 * AES-256-XTS with dm-crypt's aes-xts-plain64 on-disk format, so
 * `cryptsetup open --type plain` or a dm-crypt table with the same key,
 * sector_size and iv_offset reads what we write, and the other way round.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/device-mapper.h>
#include "dm-vxts.h"

#define DM_MSG_PREFIX "vxts"
#define VXTS_MIN_CLONES 16

/*
 * Every vxts target, with its mapped device: a table reload must not lose a
 * held window (the converter owns those sectors until it advances), so a
 * new table finds its predecessor here. Taken in ctr, dtr, preresume and
 * message, never in the IO path; nothing sleeps under it.
 *
 * dm swaps tables in two steps: the ioctl swaps the live table, then
 * dm_resume() runs preresume, and the old table is destroyed afterwards
 * even if preresume fails. So the only place to refuse a table that cannot
 * take over a held window is before the swap: its ctr refuses while one
 * is held, and hold refuses while a loaded table could not take the window
 * over. Both checks run under this mutex, so one of the two always sees
 * the other.
 */
static LIST_HEAD(vxts_ctx_list);
static DEFINE_MUTEX(vxts_ctx_lock);

/* Another table's target of @ctx's device (not one of @ctx's own table). */
static bool vxts_ctx_peer(const struct vxts_ctx *ctx, const struct vxts_ctx *o)
{
	return o != ctx && o->md == ctx->md && o->ti->table != ctx->ti->table;
}

/* Both hex (no reference to compare), or the same keyring reference. */
static bool vxts_ctx_same_ref(const char *a, const char *b)
{
	if (!a || !b)
		return !a && !b;
	return !strcmp(a, b);
}

/*
 * May @ctx take over @o's conversion state @s? The same place in the
 * device, the same conversion (direction, data unit, tweak rule, keyring
 * references; hex keys cannot be compared), and room for it, unit aligned.
 */
static bool vxts_ctx_may_adopt(const struct vxts_ctx *ctx,
			       const struct vxts_ctx *o,
			       const struct vxts_wstate *s)
{
	const struct vxts_table *a = &ctx->table, *b = &o->table;
	u64 mask = a->unit_size / SECTOR_SIZE - 1;

	if (!vxts_converting(ctx) || !vxts_converting(o) ||
	    ctx->ti->begin != o->ti->begin || a->dir != b->dir ||
	    a->unit_size != b->unit_size || a->iv_offset != b->iv_offset ||
	    a->iv_large_sectors != b->iv_large_sectors ||
	    !vxts_ctx_same_ref(ctx->key_ref, o->key_ref) ||
	    !vxts_ctx_same_ref(ctx->old_key_ref, o->old_key_ref))
		return false;
	return s->boundary <= ctx->ti->len && s->hi <= ctx->ti->len &&
	       !((s->boundary | s->lo | s->hi) & mask);
}

/*
 * Would the window @s of @o be lost if @ctx's table replaced @o's? Yes when
 * @ctx maps some of its sectors and cannot take it over. (A table of
 * another target type over those sectors cannot be refused from here:
 * docs/ONLINE.md.)
 */
static bool vxts_ctx_conflict(const struct vxts_ctx *ctx,
			      const struct vxts_ctx *o,
			      const struct vxts_wstate *s)
{
	sector_t lo = o->ti->begin + s->lo, hi = o->ti->begin + s->hi;

	if (!vxts_wstate_held(s) || ctx->ti->begin >= hi ||
	    ctx->ti->begin + ctx->ti->len <= lo)
		return false;
	return !vxts_ctx_may_adopt(ctx, o, s);
}

static void vxts_dtr(struct dm_target *ti)
{
	struct vxts_ctx *ctx = ti->private;

	if (!ctx)
		return;
	/*
	 * dm core destroys a table only after every bio it mapped has
	 * completed (suspend waits for in-flight IO, held bios included), so
	 * no bio can still wait on the window here.
	 */
	if (vxts_converting(ctx) && !list_empty(&ctx->win.held))
		DMERR("destroyed with bios held on the window");
	if (ctx->md) {
		mutex_lock(&vxts_ctx_lock);
		list_del(&ctx->md_entry);
		mutex_unlock(&vxts_ctx_lock);
	}
	/* In-flight work belongs to bios dm core has already drained. */
	if (ctx->wq)
		destroy_workqueue(ctx->wq);
	if (ctx->fan_wq)
		destroy_workqueue(ctx->fan_wq);
	bioset_exit(&ctx->bs);
	vxts_bounce_cache_exit(ctx);
	mempool_exit(&ctx->page_pool);
	free_percpu(ctx->stats);
	if (ctx->dev)
		dm_put_device(ti, ctx->dev);
	vxts_crypt_exit(&ctx->crypt);
	vxts_crypt_exit(&ctx->old_crypt);
	kfree(ctx->key_ref);
	kfree(ctx->old_key_ref);
	kfree(ctx);
	ti->private = NULL;
}

/*
 * The key bytes live only in this short-lived buffer and in the tfm's
 * key schedule; the buffer is wiped whatever happens.
 */
static int vxts_ctr_key(struct dm_target *ti, struct vxts_crypt *c,
			const struct vxts_key_spec *spec, const char *arg)
{
	u8 *key;
	int r;

	key = kmalloc(VXTS_KEY_SIZE, GFP_KERNEL);
	if (!key) {
		ti->error = "Cannot allocate key buffer";
		return -ENOMEM;
	}
	r = vxts_key_load(spec, arg, key);
	if (r) {
		ti->error = spec->kind == VXTS_KEY_HEX ?
			"Invalid hex key" :
			"Cannot load 64-byte key from keyring";
		goto out;
	}
	r = vxts_crypt_setkey(c, key);
	if (r)
		ti->error = "Cipher rejected the key";
out:
	kfree_sensitive(key);
	return r;
}

/* One keyed cipher; @ref gets a keyring reference to re-emit, else NULL. */
static int vxts_ctr_one_crypt(struct dm_target *ti, struct vxts_crypt *c,
			      const struct vxts_key_spec *spec, const char *arg,
			      char **ref)
{
	const struct vxts_table *t = &((struct vxts_ctx *)ti->private)->table;
	int r;

	r = vxts_crypt_init(c, t->unit_size, t->iv_large_sectors, t->iv_offset);
	if (r) {
		ti->error = "Cannot allocate xts(aes) cipher";
		return r;
	}
	if (spec->kind != VXTS_KEY_HEX) {
		/* Re-emitted by STATUSTYPE_TABLE: the reference, never the key. */
		*ref = kstrdup(arg, GFP_KERNEL);
		if (!*ref) {
			ti->error = "Cannot allocate key reference";
			return -ENOMEM;
		}
	}
	return vxts_ctr_key(ti, c, spec, arg);
}

/* The key, and for reencrypt the old key, under the same tweak rule. */
static int vxts_ctr_crypt(struct dm_target *ti, struct vxts_ctx *ctx)
{
	const struct vxts_table *t = &ctx->table;
	int r;

	r = vxts_ctr_one_crypt(ti, &ctx->crypt, &t->key, t->key_arg,
			       &ctx->key_ref);
	if (r || t->dir != VXTS_DIR_REENCRYPT)
		return r;
	return vxts_ctr_one_crypt(ti, &ctx->old_crypt, &t->old_key,
				  t->old_key_arg, &ctx->old_key_ref);
}

static int vxts_ctr_io(struct dm_target *ti, struct vxts_ctx *ctx)
{
	int r;

	r = mempool_init_page_pool(&ctx->page_pool, BIO_MAX_VECS, 0);
	if (r) {
		ti->error = "Cannot allocate bounce page pool";
		return r;
	}
	r = bioset_init(&ctx->bs, VXTS_MIN_CLONES, 0, BIOSET_NEED_BVECS);
	if (r) {
		ti->error = "Cannot allocate bio set";
		return r;
	}
	mutex_init(&ctx->bounce_lock);
	spin_lock_init(&ctx->cache_lock);
	ctx->stats = alloc_percpu(struct vxts_stats);
	if (!ctx->stats) {
		ti->error = "Cannot allocate counters";
		return -ENOMEM;
	}
	/*
	 * Deferred decryption is long CPU-bound work queued from the irq CPU:
	 * unbound, so the scheduler spreads it over all CPUs instead of
	 * stacking it on that one, and not high priority, so it does not
	 * crowd out kblockd and the tasks that submit IO.
	 */
	ctx->wq = alloc_workqueue("kvxtsd/%s", WQ_MEM_RECLAIM | WQ_UNBOUND, 0,
				  dm_table_device_name(ti->table));
	if (!ctx->wq) {
		ti->error = "Cannot allocate workqueue";
		return -ENOMEM;
	}
	/*
	 * Helpers of large bios go to chosen CPUs (per-CPU, not unbound: an
	 * unbound worker may land on the dispatcher's own CPU). CPU intensive:
	 * a helper runs for a while and must not hold up its pool's other work.
	 * Writes under memory reclaim wait for helpers: WQ_MEM_RECLAIM.
	 */
	ctx->fan_wq = alloc_workqueue("kvxtsh/%s",
				      WQ_MEM_RECLAIM | WQ_CPU_INTENSIVE, 0,
				      dm_table_device_name(ti->table));
	if (!ctx->fan_wq) {
		ti->error = "Cannot allocate workqueue";
		return -ENOMEM;
	}
	return 0;
}

/*
 * dm keeps argv after we return; a hex key must not linger there: neither
 * <key> nor the value of an old_key: option (found by its prefix, whether
 * or not the line parsed).
 */
static void vxts_ctr_wipe_hex(unsigned int argc, char **argv)
{
	unsigned int i;

	if (argc > 1 && argv[1][0] != ':')
		memzero_explicit(argv[1], strlen(argv[1]));
	for (i = VXTS_MIN_ARGS + 1; i < argc; i++)
		if (!strncmp(argv[i], "old_key:", 8) && argv[i][8] != ':')
			memzero_explicit(argv[i] + 8, strlen(argv[i] + 8));
}

/* The table's strings point into argv, which dies with the ctr call. */
static void vxts_ctr_forget_argv(struct vxts_table *t)
{
	t->key_arg = NULL;
	t->key.desc = NULL;
	t->dev_path = NULL;
	t->old_key_arg = NULL;
	t->old_key.desc = NULL;
}

/*
 * Join vxts_ctx_list (as loaded: not live until its first preresume),
 * unless a live table of this device holds a window this target maps but
 * could not take over (another place, direction, unit, tweak rule or key,
 * or no convert: at all): once swapped in, it would let application IO
 * into sectors the converter owns, and nothing after the swap can refuse
 * it. dm-linear and other targets cannot be refused this way;
 * docs/ONLINE.md tells the converter to hold no window across a reload.
 */
static int vxts_ctr_register(struct dm_target *ti, struct vxts_ctx *ctx)
{
	struct vxts_window snap;
	struct vxts_ctx *o;
	int r = 0;

	ctx->md = dm_table_get_md(ti->table);
	mutex_lock(&vxts_ctx_lock);
	list_for_each_entry(o, &vxts_ctx_list, md_entry) {
		if (!vxts_ctx_peer(ctx, o) || o->life != VXTS_CTX_LIVE ||
		    !vxts_converting(o))
			continue;
		vxts_window_snapshot(&o->win, &snap);
		if (vxts_ctx_conflict(ctx, o, &snap.s)) {
			ti->error = "A window is held: advance or release it before reloading";
			r = -EBUSY;
			break;
		}
	}
	if (!r) {
		ctx->life = VXTS_CTX_LOADED;
		list_add(&ctx->md_entry, &vxts_ctx_list);
	}
	mutex_unlock(&vxts_ctx_lock);
	if (r)
		ctx->md = NULL;
	return r;
}

/*
 * Construct a vxts mapping (dm-crypt's grammar):
 *
 *   <start> <len> vxts aes-xts-plain64 <key> <iv_offset> <device> <offset>
 *                      [<#opt_params> <opt_params>...]
 *
 *   <key>        128 hex digits (the 64-byte AES-256-XTS key), or a keyring
 *                reference :64:logon:<description> or :64:user:<description>
 *                whose payload is exactly 64 bytes
 *   <iv_offset>  added to the sector number that makes the tweak
 *   <device>     the backing device (path or major:minor)
 *   <offset>     where the data starts on <device>, in 512-byte sectors
 *   opt_params   sector_size:<512|4096>  data unit in bytes (default 512)
 *                allow_discards          pass discards to <device>
 *                iv_large_sectors        tweak counts data units, not
 *                                        512-byte sectors
 *                convert:<dir>:<boundary>  partially converted device
 *                                        (docs/ONLINE.md): dir is encrypt,
 *                                        decrypt or reencrypt; [0, boundary)
 *                                        is in the new form, the rest in
 *                                        the old one
 *                old_key:<key>           the old form's key, as <key>; only
 *                                        and always with reencrypt
 *
 * <len>, <iv_offset> and the boundary must be multiples of the data unit,
 * the boundary at most <len>. <offset> is no part of the tweak; as with
 * dm-crypt, dm core refuses one that is not a multiple of the logical block
 * size, which is at least the data unit.
 */
static int vxts_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct vxts_ctx *ctx;
	const char *error;
	int r;

	if (argc < VXTS_MIN_ARGS) {
		ti->error = "Not enough arguments";
		vxts_ctr_wipe_hex(argc, argv);
		return -EINVAL;
	}
	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx) {
		ti->error = "Cannot allocate context";
		vxts_ctr_wipe_hex(argc, argv);
		return -ENOMEM;
	}
	INIT_LIST_HEAD(&ctx->cache);	/* the destructor walks it */
	ti->private = ctx;
	ctx->ti = ti;
	vxts_window_init(&ctx->win, 0);	/* the dtr may look at it */

	r = vxts_parse_table(&ctx->table, argc, argv, ti->len, &error);
	if (r) {
		ti->error = (char *)error;	/* dm's field is not const */
		goto bad;
	}
	r = vxts_ctr_crypt(ti, ctx);
	if (r)
		goto bad;
	r = dm_get_device(ti, ctx->table.dev_path, dm_table_get_mode(ti->table),
			  &ctx->dev);
	if (r) {
		ti->error = "Device lookup failed";
		goto bad;
	}
	ctx->start = ctx->table.dev_offset;
	vxts_window_init(&ctx->win, ctx->table.boundary);
	r = vxts_ctr_io(ti, ctx);
	if (r)
		goto bad;

	ti->per_io_data_size = vxts_io_data_size(ctx);
	ti->num_flush_bios = 1;
	/* Swap-out writes take bounce pages: bound how many are in flight. */
	ti->limit_swap_bios = true;
	ti->num_discard_bios = ctx->table.allow_discards ? 1 : 0;
	ti->accounts_remapped_io = true;
	r = vxts_ctr_register(ti, ctx);
	if (r)
		goto bad;
	vxts_ctr_forget_argv(&ctx->table);
	vxts_ctr_wipe_hex(argc, argv);
	return 0;
bad:
	vxts_ctr_forget_argv(&ctx->table);
	vxts_ctr_wipe_hex(argc, argv);
	vxts_dtr(ti);
	return r;
}

/* ---- status ---- */

/* One optional parameter as the ctr accepted it; convert: with the current boundary. */
static void vxts_status_opt(struct vxts_ctx *ctx, enum vxts_opt opt,
			    char *result, unsigned int maxlen, unsigned int sz)
{
	const struct vxts_table *t = &ctx->table;
	struct vxts_window snap;

	switch (opt) {
	case VXTS_OPT_ALLOW_DISCARDS:
		DMEMIT(" allow_discards");
		break;
	case VXTS_OPT_IV_LARGE_SECTORS:
		DMEMIT(" iv_large_sectors");
		break;
	case VXTS_OPT_CONVERT:
		vxts_window_snapshot(&ctx->win, &snap);
		DMEMIT(" convert:%s:%llu", vxts_parse_dir_name(t->dir),
		       (unsigned long long)snap.s.boundary);
		break;
	case VXTS_OPT_OLD_KEY:
		DMEMIT(" old_key:%s", ctx->old_key_ref ? ctx->old_key_ref : "-");
		break;
	default:
		DMEMIT(" sector_size:%u", t->unit_size);
		break;
	}
}

/*
 * Exactly what the ctr accepted, except hex keys, which print as "-", and
 * the boundary, which is the current one: a line read back with
 * `dmsetup table` reloads the present state. A held window is not part of
 * the line: a reloaded table takes it over from this one at resume (see
 * vxts_preresume() and docs/ONLINE.md).
 */
static void vxts_status_table(struct vxts_ctx *ctx, char *result,
			      unsigned int maxlen)
{
	const struct vxts_table *t = &ctx->table;
	unsigned int sz = strlen(result);
	unsigned int i;

	DMEMIT("%s %s %llu %s %llu", VXTS_CIPHER,
	       ctx->key_ref ? ctx->key_ref : "-",
	       (unsigned long long)t->iv_offset, ctx->dev->name,
	       (unsigned long long)ctx->start);
	if (!t->opt_params_given)
		return;
	DMEMIT(" %u", t->nr_opts);
	for (i = 0; i < t->nr_opts; i++)
		vxts_status_opt(ctx, t->opts[i], result, maxlen, strlen(result));
}

static void vxts_status_sum(struct vxts_ctx *ctx, struct vxts_stats *sum)
{
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		const struct vxts_stats *s = per_cpu_ptr(ctx->stats, cpu);

		sum->read_bios += s->read_bios;
		sum->write_bios += s->write_bios;
		sum->reads_inline += s->reads_inline;
		sum->reads_deferred += s->reads_deferred;
		sum->bounce_waits += s->bounce_waits;
		sum->refused_bios += s->refused_bios;
		sum->fanned_bios += s->fanned_bios;
		sum->helper_chunks += s->helper_chunks;
	}
}

/* Fields 9-15 (docs/ONLINE.md), converting targets only. */
static void vxts_status_convert(struct vxts_ctx *ctx, char *result,
				unsigned int maxlen)
{
	unsigned int sz = strlen(result);
	struct vxts_window w;

	vxts_window_snapshot(&ctx->win, &w);
	DMEMIT(" convert:%s boundary:%llu", vxts_parse_dir_name(ctx->table.dir),
	       (unsigned long long)w.s.boundary);
	if (vxts_wstate_held(&w.s))
		DMEMIT(" window:%llu-%llu", (unsigned long long)w.s.lo,
		       (unsigned long long)w.s.hi);
	else
		DMEMIT(" window:-");
	DMEMIT(" held:%u held_total:%llu hold_max_us:%llu wait_max_us:%llu",
	       w.nr_held, (unsigned long long)w.held_total,
	       (unsigned long long)div_u64(w.hold_max_ns, NSEC_PER_USEC),
	       (unsigned long long)div_u64(w.wait_max_ns, NSEC_PER_USEC));
	DMEMIT(" drain_max_us:%llu",
	       (unsigned long long)div_u64(w.drain_max_ns, NSEC_PER_USEC));
}

/* Fields documented in docs/TARGET.md; append new ones at the end only. */
static void vxts_status_info(struct vxts_ctx *ctx, char *result,
			     unsigned int maxlen)
{
	unsigned int sz = strlen(result);
	struct vxts_stats s;

	vxts_status_sum(ctx, &s);
	DMEMIT("%s %u %llu %llu %llu %llu %llu %llu",
	       vxts_crypt_driver(&ctx->crypt), ctx->crypt.unit_size,
	       s.read_bios, s.write_bios, s.reads_inline, s.reads_deferred,
	       s.bounce_waits, s.refused_bios);
	if (vxts_converting(ctx))
		vxts_status_convert(ctx, result, maxlen);
	/*
	 * Named, like the conversion fields, and after them (fields 9-15 stay
	 * where ONLINE.md has them); status_convert appended on its own.
	 */
	sz = strlen(result);
	DMEMIT(" fanned:%llu helper_chunks:%llu", s.fanned_bios, s.helper_chunks);
}

static void vxts_status_ima(struct dm_target *ti, char *result,
			    unsigned int maxlen)
{
	struct vxts_ctx *ctx = ti->private;
	const struct vxts_table *t = &ctx->table;
	unsigned int sz = strlen(result);
	static const char * const kinds[] = {
		[VXTS_KEY_HEX] = "hex",
		[VXTS_KEY_LOGON] = "logon",
		[VXTS_KEY_USER] = "user",
	};

	DMEMIT_TARGET_NAME_VERSION(ti->type);
	DMEMIT(",cipher_string=%s,key_type=%s,iv_offset=%llu,sector_size=%u",
	       VXTS_CIPHER, kinds[t->key.kind],
	       (unsigned long long)t->iv_offset, t->unit_size);
	DMEMIT(",iv_large_sectors=%c,allow_discards=%c",
	       t->iv_large_sectors ? 'y' : 'n', t->allow_discards ? 'y' : 'n');
	if (vxts_converting(ctx)) {
		struct vxts_window w;

		vxts_window_snapshot(&ctx->win, &w);
		DMEMIT(",convert=%s,boundary=%llu", vxts_parse_dir_name(t->dir),
		       (unsigned long long)w.s.boundary);
		if (t->dir == VXTS_DIR_REENCRYPT)
			DMEMIT(",old_key_type=%s", kinds[t->old_key.kind]);
	}
	DMEMIT(";");
}

static void vxts_status(struct dm_target *ti, status_type_t type,
			unsigned int status_flags, char *result,
			unsigned int maxlen)
{
	struct vxts_ctx *ctx = ti->private;

	result[0] = '\0';
	switch (type) {
	case STATUSTYPE_INFO:
		vxts_status_info(ctx, result, maxlen);
		break;
	case STATUSTYPE_TABLE:
		vxts_status_table(ctx, result, maxlen);
		break;
	case STATUSTYPE_IMA:
		vxts_status_ima(ti, result, maxlen);
		break;
	}
}

/* ---- messages and suspend ---- */

/*
 * May @ctx hold the window of @m? Not before its table is live (between
 * the swap and preresume, dm already sends messages to it, but preresume
 * will overwrite its state with the predecessor's), and not while a loaded
 * table of this device could not take the window over (after the swap
 * nothing could refuse that table any more). Under vxts_ctx_lock.
 */
static int vxts_message_may_hold(struct vxts_ctx *ctx, const struct vxts_msg *m)
{
	struct vxts_window snap;
	struct vxts_ctx *o;

	vxts_window_snapshot(&ctx->win, &snap);
	snap.s.lo = m->lo;
	snap.s.hi = m->hi;
	list_for_each_entry(o, &vxts_ctx_list, md_entry)
		if (vxts_ctx_peer(ctx, o) && o->life == VXTS_CTX_LOADED &&
		    vxts_ctx_conflict(o, ctx, &snap.s))
			return -EBUSY;
	return 0;
}

/*
 * `dmsetup message <name> 0 hold <lo> <hi> | advance <hi> | release`
 * (docs/ONLINE.md). Anything malformed, out of order or sent to a target
 * without convert: is refused with -EINVAL and changes nothing; a message
 * to a table not yet resumed, or a hold a loaded table could not take
 * over, with -EBUSY.
 *
 * The window is set under vxts_ctx_lock (see vxts_ctx_list); the hold then
 * waits outside it. dm calls this in the sender's task, under its SRCU
 * read lock on the live table. A hold that sleeps there delays a
 * concurrent suspend or table swap (synchronize_srcu) until it returns; it
 * cannot deadlock with them: the bios it waits for are already mapped and
 * on their way to the lower device, and neither suspend nor swap stops
 * those. The sleep is killable.
 */
static int vxts_message(struct dm_target *ti, unsigned int argc, char **argv,
			char *result, unsigned int maxlen)
{
	struct vxts_ctx *ctx = ti->private;
	struct bio_list out = BIO_EMPTY_LIST;
	unsigned int unit = vxts_unit_sectors(&ctx->crypt);
	struct vxts_msg m;
	int r;

	if (!vxts_converting(ctx) || vxts_parse_message(argc, argv, &m))
		return -EINVAL;
	mutex_lock(&vxts_ctx_lock);
	if (ctx->life != VXTS_CTX_LIVE)
		r = -EBUSY;
	else if (m.verb != VXTS_MSG_HOLD)
		r = vxts_window_message(&ctx->win, ti->len, unit, &m, &out);
	else
		r = vxts_message_may_hold(ctx, &m) ?:
		    vxts_window_hold(&ctx->win, ti->len, unit, &m);
	mutex_unlock(&vxts_ctx_lock);
	if (m.verb == VXTS_MSG_HOLD && r >= 0)
		return vxts_window_drain(&ctx->win, &m);
	vxts_io_dispatch_list(ctx, &out);
	return r;
}

/*
 * A flushing suspend waits for every mapped bio, the held ones too: it
 * returns once the window moves. With lockfs (dmsetup's default, and the
 * implicit suspend of a resume) it freezes the filesystem first, and that
 * sync waits uninterruptibly for held writes: a dead converter leaves the
 * suspend in D state until someone advances or releases the window
 * (docs/ONLINE.md). A noflush suspend hands the held bios back to dm
 * instead, which defers them until resume; so an LVM-style noflush
 * suspend never waits on the converter. A reloaded table takes the window
 * over at resume (vxts_preresume()).
 */
static void vxts_presuspend(struct dm_target *ti)
{
	struct vxts_ctx *ctx = ti->private;
	struct bio_list out = BIO_EMPTY_LIST;

	if (!vxts_converting(ctx) || !dm_noflush_suspending(ti))
		return;
	vxts_window_requeue_held(&ctx->win, &out);
	vxts_io_dispatch_list(ctx, &out);
}

/*
 * A loaded converting table, at its first resume, takes over the boundary
 * and the window of the live target it replaces (the same place, the same
 * conversion: vxts_ctx_may_adopt()): the live kernel state is the truth
 * (the converter may have advanced after the new line was written, and a
 * window it holds must stay held). dm calls this after swapping tables,
 * before IO flows again; the old table lives until dm destroys it after
 * resume, and no message reaches either table meanwhile (the old one is
 * no longer live, the new one refuses until this sets it live). Then the
 * target is live: messages reach it.
 *
 * A held window this table maps but cannot take over is refused before
 * the swap (vxts_ctr_register(), vxts_message_may_hold()). Failing here
 * could not save it: dm destroys the old table whether or not resume
 * succeeds. So that case is a bug: warn, and keep the device suspended.
 */
static int vxts_preresume(struct dm_target *ti)
{
	struct vxts_ctx *ctx = ti->private;
	struct vxts_window snap;
	struct vxts_ctx *o;
	int r = 0;

	mutex_lock(&vxts_ctx_lock);
	if (ctx->life != VXTS_CTX_LOADED)
		goto out;
	list_for_each_entry(o, &vxts_ctx_list, md_entry) {
		if (!vxts_ctx_peer(ctx, o) || o->life != VXTS_CTX_LIVE ||
		    !vxts_converting(o))
			continue;
		vxts_window_snapshot(&o->win, &snap);
		if (vxts_ctx_may_adopt(ctx, o, &snap.s)) {
			vxts_window_adopt(&ctx->win, &snap.s);
			o->life = VXTS_CTX_RETIRED;
		} else if (WARN_ON_ONCE(vxts_ctx_conflict(ctx, o, &snap.s)))
			r = -EBUSY;
	}
	if (!r)
		ctx->life = VXTS_CTX_LIVE;
out:
	mutex_unlock(&vxts_ctx_lock);
	return r;
}

/* ---- limits and devices ---- */

/*
 * A data unit is the smallest IO we can en/decrypt, so it is the logical
 * block size. dma_alignment keeps every segment unit aligned in memory,
 * which keeps each unit inside one page (queue_limits has had it since
 * before 6.1); it only ever grows, as reads hand the caller's pages to the
 * device and a stricter device requirement must survive. map() still
 * checks and fails violators.
 */
static void vxts_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct vxts_ctx *ctx = ti->private;
	unsigned int unit = ctx->crypt.unit_size;

	limits->logical_block_size = max_t(unsigned int,
					   limits->logical_block_size, unit);
	limits->physical_block_size = max_t(unsigned int,
					    limits->physical_block_size, unit);
	limits->io_min = max_t(unsigned int, limits->io_min, unit);
	limits->dma_alignment = max_t(unsigned int, limits->dma_alignment,
				      limits->logical_block_size - 1);
}

static int vxts_iterate_devices(struct dm_target *ti,
				iterate_devices_callout_fn fn, void *data)
{
	struct vxts_ctx *ctx = ti->private;

	return fn(ti, ctx->dev, ctx->start, ti->len, data);
}

static struct target_type vxts_target = {
	.name = "vxts",
	.version = {1, 1, 0},
	.module = THIS_MODULE,
	.ctr = vxts_ctr,
	.dtr = vxts_dtr,
	.map = vxts_io_map,
	.end_io = vxts_io_end,
	.presuspend = vxts_presuspend,
	.preresume = vxts_preresume,
	.status = vxts_status,
	.message = vxts_message,
	.io_hints = vxts_io_hints,
	.iterate_devices = vxts_iterate_devices,
};

static int __init vxts_init(void)
{
	return dm_register_target(&vxts_target);
}

static void __exit vxts_exit(void)
{
	dm_unregister_target(&vxts_target);
}

module_init(vxts_init);
module_exit(vxts_exit);

MODULE_DESCRIPTION(DM_NAME " AES-256-XTS target, dm-crypt aes-xts-plain64 compatible");
MODULE_AUTHOR("vxts project");
MODULE_LICENSE("GPL");
