// SPDX-License-Identifier: GPL-2.0
/*
 * dm-vxts IO path.
 *
 * Writes: map() encrypts the bio's data into bounce pages, in the submitting
 * task (no workqueue hop), and submits a clone carrying the ciphertext and
 * the original flags (FUA included). The bounce pages go back to the pool
 * when the clone completes, then the original bio completes.
 *
 * Reads: map() submits a clone sharing the bio's pages. Its completion
 * decrypts in place, inline when it runs in a task that may sleep (e.g. brd,
 * or a stacked target completing synchronously), else on a WQ_MEM_RECLAIM
 * workqueue: crypto may sleep and the FPU is off limits in hard irq context.
 * Either way the bio completes once, after its data is plaintext.
 *
 * Large bios (fanout_min_kib and up) do not stay on one CPU: their data
 * units are cut into chunks that the CPU doing the work above shares with
 * helper work items queued on the other CPUs (see "fan-out" below). Small
 * bios stay fully inline: no work item, no atomic, no extra wakeup.
 *
 * Empty flushes and discards (only with allow_discards) are remapped as is.
 *
 * Converting targets (convert:, docs/ONLINE.md) first ask vxts-window.c
 * where the bio falls: a bio crossing the boundary or a window edge is cut
 * there with dm_accept_partial_bio() (in map() only, where dm allows it;
 * dm core never hands map() a data bio with REQ_PREFLUSH, it sends the
 * empty flush first), then each piece is served in its form: through the
 * key, through old_key (reencrypt), or remapped untouched (plaintext, like
 * dm-linear), or queued on the held window and dispatched later by
 * vxts_io_dispatch_list() from the message that advances or releases it.
 */
#include <linux/kernel.h>
#include <linux/bio.h>
#include <linux/blk_types.h>
#include <linux/device-mapper.h>
#include <linux/preempt.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/module.h>
#include <linux/cpumask.h>
#include <linux/smp.h>
#include "dm-vxts.h"

static unsigned int fanout_min_kib = 128;
module_param(fanout_min_kib, uint, 0644);
MODULE_PARM_DESC(fanout_min_kib,
		 "Share bios of at least this many KiB with other CPUs (0: never)");

static unsigned int fanout_backlog = 2;
module_param(fanout_backlog, uint, 0644);
MODULE_PARM_DESC(fanout_backlog,
		 "Leave large bios wholly to helpers while fewer than this many are (0: always share)");

static unsigned int fanout_chunk_kib = 64;
module_param(fanout_chunk_kib, uint, 0644);
MODULE_PARM_DESC(fanout_chunk_kib, "Bytes per shared chunk, in KiB");

/*
 * Lays out the per-bio data (struct vxts_io, then its skcipher request) and
 * sizes a helper (struct vxts_helper, then a request of its own). Returns
 * per_io_data_size. Room for the larger request of the two keys' tfms
 * (both are xts(aes), but the kernel could pick different drivers). The
 * per-bio data is kept small on purpose: with init_on_alloc every bio's
 * is zeroed when dm allocates it.
 */
unsigned int vxts_io_data_size(struct vxts_ctx *ctx)
{
	unsigned int req = vxts_crypt_req_size(&ctx->crypt);

	if (ctx->old_crypt.tfm)
		req = max(req, vxts_crypt_req_size(&ctx->old_crypt));
	ctx->creq_offset = ALIGN(sizeof(struct vxts_io), CRYPTO_MINALIGN);
	ctx->helper_size = ALIGN(sizeof(struct vxts_helper), CRYPTO_MINALIGN) + req;
	return ALIGN(ctx->creq_offset + req, ARCH_DMA_MINALIGN);
}

/*
 * May the crypto run here and sleep (MAY_SLEEP walks, cryptd fallback)?
 * Only in a task with preemption on and no RCU read lock: blk-mq can
 * complete requests inside its dispatch RCU section, where preemptible() is
 * still true under PREEMPT_RCU but sleeping is a bug.
 */
static bool vxts_io_may_sleep(void)
{
	return preemptible() && !rcu_preempt_depth();
}

static void vxts_io_remap(struct dm_target *ti, struct bio *bio)
{
	struct vxts_ctx *ctx = ti->private;

	bio_set_dev(bio, ctx->dev->bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = ctx->start +
			dm_target_offset(ti, bio->bi_iter.bi_sector);
}

/*
 * The key a range in @form is under on the lower device, or NULL for
 * plaintext. Fully converted targets: always the key.
 */
static const struct vxts_crypt *vxts_io_crypt_of(struct vxts_ctx *ctx,
						 enum vxts_form form)
{
	switch (ctx->table.dir) {
	case VXTS_DIR_ENCRYPT:
		return form == VXTS_FORM_NEW ? &ctx->crypt : NULL;
	case VXTS_DIR_DECRYPT:
		return form == VXTS_FORM_NEW ? NULL : &ctx->crypt;
	case VXTS_DIR_REENCRYPT:
		return form == VXTS_FORM_NEW ? &ctx->crypt : &ctx->old_crypt;
	default:
		return &ctx->crypt;
	}
}

/* ---- bounce pages ---- */

/*
 * Bounce pages are recycled through a small per-target cache instead of
 * going back to the page allocator after every write: with init_on_alloc
 * (Debian's default) each fresh page is zeroed before we overwrite it
 * with ciphertext anyway, and order-0 allocation is paid once per page.
 * Cached pages only ever held ciphertext. The cache holds at most
 * bounce_cache_pages pages, is emptied by the destructor, and is only a
 * fast path: the mempool below keeps its reserve and its rules.
 *
 * Deadlock: a writer that sleeps in mempool_alloc() is woken only by
 * mempool_free(). So a freed page refills the pool's reserve first, and
 * only goes to the cache while the reserve is full; a sleeper (which only
 * sleeps on an empty reserve) is therefore always fed by the next frees.
 * The reserve count is read without the pool's lock: a stale "full" can
 * send one free to the cache just as the reserve empties, after which
 * every free sees it empty again, and mempool_alloc() also re-polls on a
 * timeout. Before sleeping, a writer also drains the cache (its attempt
 * takes cached pages first).
 */
static unsigned int bounce_cache_pages = 512;
module_param(bounce_cache_pages, uint, 0644);
MODULE_PARM_DESC(bounce_cache_pages,
		 "Bounce pages kept for reuse per target (0: none)");

/* Take up to @nr cached pages into @clone; returns how many. */
static unsigned int vxts_cache_take(struct vxts_ctx *ctx, struct bio *clone,
				    unsigned int size)
{
	unsigned int n = 0;
	unsigned long flags;

	if (!READ_ONCE(ctx->cache_nr))
		return 0;
	spin_lock_irqsave(&ctx->cache_lock, flags);
	while (size && ctx->cache_nr) {
		unsigned int len = min_t(unsigned int, size, PAGE_SIZE);
		struct page *page = list_first_entry(&ctx->cache, struct page, lru);

		list_del(&page->lru);
		ctx->cache_nr--;
		__bio_add_page(clone, page, len, 0);
		size -= len;
		n++;
	}
	spin_unlock_irqrestore(&ctx->cache_lock, flags);
	return n;
}

/* Called from the clone's completion, possibly in interrupt context. */
static void vxts_bounce_free(struct vxts_ctx *ctx, struct bio *clone)
{
	unsigned int max = READ_ONCE(bounce_cache_pages);
	unsigned short i = 0;
	unsigned long flags;

	if (READ_ONCE(ctx->page_pool.curr_nr) >= ctx->page_pool.min_nr &&
	    READ_ONCE(ctx->cache_nr) < max) {
		spin_lock_irqsave(&ctx->cache_lock, flags);
		for (; i < clone->bi_vcnt && ctx->cache_nr < max; i++) {
			list_add(&clone->bi_io_vec[i].bv_page->lru, &ctx->cache);
			ctx->cache_nr++;
		}
		spin_unlock_irqrestore(&ctx->cache_lock, flags);
	}
	for (; i < clone->bi_vcnt; i++)
		mempool_free(clone->bi_io_vec[i].bv_page, &ctx->page_pool);
}

/* Empties the cache (destructor: no IO in flight any more). */
void vxts_bounce_cache_exit(struct vxts_ctx *ctx)
{
	struct page *page, *tmp;

	list_for_each_entry_safe(page, tmp, &ctx->cache, lru) {
		list_del(&page->lru);
		__free_page(page);
	}
	ctx->cache_nr = 0;
}

/*
 * One page per bvec (__bio_add_page never merges), cached ones first, so
 * freeing is simple. Pool pages and cached pages are the same kind
 * (order 0, from alloc_page), so either may go back to either.
 */
static bool vxts_bounce_fill(struct vxts_ctx *ctx, struct bio *clone,
			     unsigned int size, gfp_t gfp)
{
	unsigned int n = vxts_cache_take(ctx, clone, size);

	size -= min_t(unsigned int, size, n * PAGE_SIZE);
	while (size) {
		unsigned int len = min_t(unsigned int, size, PAGE_SIZE);
		struct page *page = mempool_alloc(&ctx->page_pool, gfp);

		if (!page)
			return false;
		__bio_add_page(clone, page, len, 0);
		size -= len;
	}
	return true;
}

static struct bio *vxts_bounce_try(struct vxts_ctx *ctx, struct bio *bio,
				   gfp_t gfp)
{
	unsigned int size = bio->bi_iter.bi_size;
	struct bio *clone;

	clone = bio_alloc_bioset(ctx->dev->bdev, DIV_ROUND_UP(size, PAGE_SIZE),
				 bio->bi_opf, GFP_NOIO, &ctx->bs);
	/*
	 * dm polls only its own clone; nobody polls ours, so a polled clone
	 * would sit on a poll queue until the device's timeout. Sent
	 * irq-driven, it completes on its own and dm's poll loop waits for it.
	 */
	bio_clear_polled(clone);
	if (likely(vxts_bounce_fill(ctx, clone, size, gfp)))
		return clone;
	vxts_bounce_free(ctx, clone);
	bio_put(clone);
	return NULL;
}

/*
 * Deadlock avoidance, the dm-crypt way. The pool holds BIO_MAX_VECS pages,
 * enough for the largest write we accept (map() caps writes at
 * VXTS_MAX_WRITE_SECTORS). First try without sleeping; a failed attempt
 * returns every page it took. Only then sleep on the pool, and only one
 * writer at a time (bounce_lock): the sleeper waits for pages that belong to
 * fully allocated clones, which are being encrypted (by the mapping task
 * or helpers that need nothing but CPU time, see "fan-out") or already on
 * their way to the device; both complete without our help, so it cannot
 * wait on another half-filled writer.
 * Clone bios come from our bio_set. A clone that map() has allocated is
 * submitted once its encryption is done, by map() itself or by a helper
 * when the bio was shared out, with no allocation in between: a map()
 * waiting on the bio_set's reserve waits only for clones that finish on
 * their own.
 */
static struct bio *vxts_bounce_alloc(struct vxts_ctx *ctx, struct bio *bio)
{
	struct bio *clone;

	clone = vxts_bounce_try(ctx, bio, GFP_NOWAIT | __GFP_NOWARN);
	if (likely(clone))
		return clone;
	this_cpu_inc(ctx->stats->bounce_waits);
	mutex_lock(&ctx->bounce_lock);
	clone = vxts_bounce_try(ctx, bio, GFP_NOIO);
	mutex_unlock(&ctx->bounce_lock);
	return clone;
}

/* ---- completion of the crypto ---- */

static void vxts_io_write_done(struct bio *clone)
{
	struct vxts_io *io = clone->bi_private;
	struct bio *bio = io->bio;

	if (unlikely(clone->bi_status))
		bio->bi_status = clone->bi_status;
	vxts_bounce_free(io->ctx, clone);
	bio_put(clone);
	bio_endio(bio);
}

/* The ciphertext is complete: send it, or fail the bio if a unit failed. */
static void vxts_io_write_submit(struct vxts_io *io)
{
	struct bio *clone = io->clone;

	if (unlikely(io->status)) {
		vxts_bounce_free(io->ctx, clone);
		bio_put(clone);
		io->bio->bi_status = io->status;
		bio_endio(io->bio);
		return;
	}
	dm_submit_bio_remap(io->bio, clone);
}

/* Runs once per bio, when every data unit of it is en/decrypted. */
static void vxts_io_crypt_done(struct vxts_io *io)
{
	unsigned int i;

	/* Every helper's function has run its last access, or never will. */
	for (i = 0; i < io->nr_helpers; i++)
		kfree(io->helpers[i]);
	if (io->left)
		atomic_dec(&io->ctx->fan_backlog);
	if (io->clone) {
		vxts_io_write_submit(io);
		return;
	}
	if (unlikely(io->status))
		io->bio->bi_status = io->status;
	bio_endio(io->bio);
}

/* ---- fan-out: one bio's data units over several CPUs ---- */

/*
 * A bio is en/decrypted by vxts_io_crypt() in a task that may sleep: map()
 * for writes, the read clone's completion or the read workqueue for reads.
 * That task is the bio's dispatcher. A small bio it processes alone. A large
 * one it cuts into chunks of whole data units and queues one helper work
 * item on each of up to VXTS_MAX_HELPERS other online CPUs. Then it either
 * claims chunks itself, or (fanout_backlog, below) leaves the bio to the
 * helpers and returns. Every claimant takes the next chunk with one atomic
 * increment until none is left, so a busy CPU simply claims fewer; nobody
 * ever waits for another claimant.
 *
 * Lifetime: io->pending counts the dispatcher plus one per queued helper.
 * A helper drops its count when it finds no chunk left. A dispatcher that
 * claimed chunks, once none is left, cancels the helpers that have not
 * started (cancel_work() takes a pending item off the queue; it then never
 * runs) and drops their counts; then it drops its own. Whoever drops the
 * last count has seen every chunk finished (atomic_dec_and_test() orders
 * the others' stores of ciphertext/plaintext and errors before it) and
 * runs vxts_io_crypt_done(), exactly once: it frees the helpers (each has
 * made its last access by then, or was cancelled) and completes the bio. A
 * helper touches nothing after its drop, since the bio, its per-bio data
 * and the helper itself may be gone by then; the workqueue core does not
 * touch a work item after its function returned.
 *
 * Deadlock and ordering: helpers are allocated without waiting (no helper:
 * the bio stays inline); once queued they allocate nothing, take no lock
 * and wait for nothing but the CPU (and cryptd, like the inline path); the
 * clone and its bounce pages were allocated before the fan-out. fan_wq is
 * WQ_MEM_RECLAIM, so under memory pressure its rescuer runs helpers even if
 * no new worker can be created: every fanned bio finishes without anyone's
 * help, which is what the bounce pool and bio_set arguments above rely on.
 * Writes left to helpers complete (and only then count as written) after
 * the helper submitted them, so flush ordering is unchanged: dm core only
 * sends a flush after the writes it covers completed.
 *
 * Crash: nothing reaches the device before every chunk is encrypted (the
 * clone is submitted whole, once). A crash or power cut while a bio is
 * with the helpers leaves the old data, one while its clone is on the way
 * leaves old or new data per data unit, as for any write in flight, and
 * the submitter was never told it was done: no new on-disk state, nothing
 * for recovery to fix (03-flush-fua and 64-fanout check the data).
 */
/* Chunk @i: its part of the source, and of the clone for writes. */
static int vxts_io_chunk(struct vxts_io *io, struct vxts_creq *cr,
			 unsigned int i)
{
	unsigned int off = i * io->chunk;
	struct bvec_iter src = io->iter;
	struct bvec_iter dst;

	bio_advance_iter(io->bio, &src, off);
	src.bi_size = min(src.bi_size, io->chunk);
	if (!io->clone)
		return vxts_crypt_iter(io->crypt, cr, io->bio, src,
				       io->bio, src,
				       io->rel_sector + (off >> SECTOR_SHIFT),
				       io->encrypt);
	dst = io->clone->bi_iter;
	bio_advance_iter(io->clone, &dst, off);
	return vxts_crypt_iter(io->crypt, cr, io->bio, src, io->clone,
			       dst, io->rel_sector + (off >> SECTOR_SHIFT),
			       io->encrypt);
}

/* Claim and process chunks until none is left; returns how many. */
static unsigned int vxts_io_claim(struct vxts_io *io, struct vxts_creq *cr)
{
	unsigned int i, done = 0;

	while ((i = atomic_fetch_inc(&io->next_chunk)) < io->nr_chunks) {
		if (unlikely(vxts_io_chunk(io, cr, i)))
			WRITE_ONCE(io->status, BLK_STS_IOERR);
		done++;
	}
	return done;
}

static void vxts_io_put(struct vxts_io *io)
{
	if (atomic_dec_and_test(&io->pending))
		vxts_io_crypt_done(io);
}

static void vxts_io_helper_work(struct work_struct *work)
{
	struct vxts_helper *h = container_of(work, struct vxts_helper, work);
	struct vxts_io *io = h->io;
	unsigned int done = vxts_io_claim(io, &h->creq);

	if (done)
		this_cpu_add(io->ctx->stats->helper_chunks, done);
	vxts_io_put(io);	/* may free io, and h with it */
}

/*
 * Helpers for a bio of @size bytes, one per other online CPU (at most
 * VXTS_MAX_HELPERS and one less than the chunks), allocated without
 * waiting: a bio that gets none stays inline. Returns how many.
 */
static unsigned int vxts_io_get_helpers(struct vxts_io *io, unsigned int size)
{
	unsigned int min_kib = READ_ONCE(fanout_min_kib);
	unsigned int want, n;

	io->nr_helpers = 0;
	if (!min_kib || (size >> 10) < min_kib)
		return 0;
	want = min3(num_online_cpus() - 1, (unsigned int)VXTS_MAX_HELPERS,
		    io->nr_chunks - 1);
	for (n = 0; n < want; n++) {
		io->helpers[n] = kmalloc(io->ctx->helper_size,
					 GFP_NOWAIT | __GFP_NOWARN);
		if (!io->helpers[n])
			break;
	}
	io->nr_helpers = n;
	return n;
}

/*
 * Share or leave? While fewer than fanout_backlog bios are left to helpers,
 * the dispatcher leaves this one to them entirely and returns at once: the
 * submitter goes on with its next bio, and the helpers always have a bio
 * queued, so their CPU does not go idle (and need waking) between two bios
 * of a stream. Otherwise the dispatcher claims chunks of its own bio
 * alongside the helpers. Either way nobody waits for anybody.
 */
static void vxts_io_fan_out(struct vxts_io *io, unsigned int n)
{
	struct vxts_ctx *ctx = io->ctx;
	int cpu = raw_smp_processor_id();
	unsigned int i;

	atomic_set(&io->next_chunk, 0);
	atomic_set(&io->pending, n + 1);
	io->left = atomic_read(&ctx->fan_backlog) < READ_ONCE(fanout_backlog);
	if (io->left)
		atomic_inc(&ctx->fan_backlog);
	for (i = 0; i < n; i++) {
		struct vxts_helper *h = io->helpers[i];

		/* The other online CPUs, round from ours (a stale id is harmless). */
		cpu = cpumask_next(cpu, cpu_online_mask);
		if (cpu >= nr_cpu_ids)
			cpu = cpumask_first(cpu_online_mask);
		h->io = io;
		vxts_creq_init(io->crypt, &h->creq,
			       (u8 *)h + ALIGN(sizeof(*h), CRYPTO_MINALIGN));
		INIT_WORK(&h->work, vxts_io_helper_work);
		queue_work_on(cpu, ctx->fan_wq, &h->work);
	}
	this_cpu_inc(ctx->stats->fanned_bios);
	if (io->left) {
		vxts_io_put(io);	/* the helpers finish it */
		return;
	}
	vxts_io_claim(io, &io->creq);
	/* Our own count keeps pending above zero throughout this loop. */
	for (i = 0; i < n; i++)
		if (cancel_work(&io->helpers[i]->work))
			atomic_dec(&io->pending);
	vxts_io_put(io);
}

/*
 * En/decrypt the bio (into io->clone for a write, in place for a read),
 * then vxts_io_crypt_done() runs exactly once, here or on a helper.
 */
static void vxts_io_crypt(struct vxts_io *io)
{
	unsigned int size = io->iter.bi_size;
	unsigned int chunk = READ_ONCE(fanout_chunk_kib) * 1024U;
	unsigned int n;

	io->status = BLK_STS_OK;
	io->left = false;
	/* Whole data units per chunk, so no unit is split between two. */
	io->chunk = max(round_down(chunk, io->crypt->unit_size),
			io->crypt->unit_size);
	io->nr_chunks = DIV_ROUND_UP(size, io->chunk);
	n = vxts_io_get_helpers(io, size);
	if (n) {
		vxts_io_fan_out(io, n);
		return;
	}
	if (unlikely(vxts_crypt_iter(io->crypt, &io->creq, io->bio,
				     io->iter, io->clone ?: io->bio,
				     io->clone ? io->clone->bi_iter : io->iter,
				     io->rel_sector, io->encrypt)))
		io->status = BLK_STS_IOERR;
	vxts_io_crypt_done(io);
}

/* ---- writes ---- */

/*
 * The clone holds all its bounce pages before any encryption starts, so
 * from here on the write needs no allocation to reach the device (whoever
 * finishes the last chunk submits it).
 */
static blk_status_t vxts_io_write(struct vxts_io *io)
{
	struct vxts_ctx *ctx = io->ctx;
	struct bio *clone;

	clone = vxts_bounce_alloc(ctx, io->bio);
	if (unlikely(!clone))
		return BLK_STS_RESOURCE;
	clone->bi_iter.bi_sector = ctx->start + io->rel_sector;
	clone->bi_ioprio = io->bio->bi_ioprio;
	clone->bi_private = io;
	clone->bi_end_io = vxts_io_write_done;
	io->clone = clone;
	io->encrypt = true;
	vxts_io_crypt(io);
	return BLK_STS_OK;
}

static void vxts_io_write_work(struct work_struct *work)
{
	struct vxts_io *io = container_of(work, struct vxts_io, work);
	blk_status_t status = vxts_io_write(io);

	if (unlikely(status)) {
		io->bio->bi_status = status;
		bio_endio(io->bio);
	}
}

/*
 * Encrypt in the submitter's context. map() normally runs in a task that may
 * sleep; if it ever does not (a bio submitted with preemption disabled), the
 * crypto must not sleep there, so the bio takes the workqueue instead.
 */
static int vxts_io_map_write(struct vxts_io *io)
{
	this_cpu_inc(io->ctx->stats->write_bios);
	if (unlikely(!vxts_io_may_sleep())) {
		INIT_WORK(&io->work, vxts_io_write_work);
		queue_work(io->ctx->wq, &io->work);
		return DM_MAPIO_SUBMITTED;
	}
	if (unlikely(vxts_io_write(io)))
		return DM_MAPIO_KILL;
	return DM_MAPIO_SUBMITTED;
}

/* ---- reads ---- */

static void vxts_io_read_finish(struct vxts_io *io)
{
	io->clone = NULL;
	io->encrypt = false;
	vxts_io_crypt(io);
}

static void vxts_io_read_work(struct work_struct *work)
{
	vxts_io_read_finish(container_of(work, struct vxts_io, work));
}

/*
 * Our clone shares dm's pages, so it can go back to the bio_set before the
 * decryption: a clone never waits on the workqueue, which keeps the
 * bio_set's reserve available to map() whatever the workqueue is doing.
 * dm's bio then completes exactly once, from here, a helper or the work
 * item.
 */
static void vxts_io_read_done(struct bio *clone)
{
	struct vxts_io *io = clone->bi_private;
	blk_status_t status = clone->bi_status;

	bio_put(clone);
	if (unlikely(status)) {
		io->bio->bi_status = status;
		bio_endio(io->bio);
		return;
	}
	if (vxts_io_may_sleep()) {
		this_cpu_inc(io->ctx->stats->reads_inline);
		vxts_io_read_finish(io);
		return;
	}
	this_cpu_inc(io->ctx->stats->reads_deferred);
	INIT_WORK(&io->work, vxts_io_read_work);
	queue_work(io->ctx->wq, &io->work);
}

/*
 * Reads go out on a clone of our own, as dm-crypt's do: completing dm's
 * bio a second time after an incomplete end_io would run the block layer's
 * completion hooks (rq-qos, blk-cgroup) twice.
 */
static bool vxts_io_read_submit(struct vxts_io *io, gfp_t gfp)
{
	struct vxts_ctx *ctx = io->ctx;
	struct bio *clone;

	clone = bio_alloc_clone(ctx->dev->bdev, io->bio, gfp, &ctx->bs);
	if (!clone)
		return false;
	bio_clear_polled(clone);	/* see vxts_bounce_try() */
	clone->bi_iter.bi_sector = ctx->start + io->rel_sector;
	clone->bi_private = io;
	clone->bi_end_io = vxts_io_read_done;
	dm_submit_bio_remap(io->bio, clone);
	return true;
}

/* GFP_NOIO from the bio_set's reserve waits, but does not fail. */
static void vxts_io_read_submit_work(struct work_struct *work)
{
	vxts_io_read_submit(container_of(work, struct vxts_io, work), GFP_NOIO);
}

/*
 * map() does not sleep for a read clone: a clone that is not there at once
 * is allocated, with waiting, on the workqueue (dm-crypt does the same).
 */
static int vxts_io_map_read(struct vxts_io *io)
{
	this_cpu_inc(io->ctx->stats->read_bios);
	if (likely(vxts_io_read_submit(io, GFP_NOWAIT | __GFP_NOWARN)))
		return DM_MAPIO_SUBMITTED;
	INIT_WORK(&io->work, vxts_io_read_submit_work);
	queue_work(io->ctx->wq, &io->work);
	return DM_MAPIO_SUBMITTED;
}

/* ---- map ---- */

static void vxts_io_init(struct vxts_io *io, struct vxts_ctx *ctx,
			 struct bio *bio, const struct vxts_crypt *crypt)
{
	io->ctx = ctx;
	io->crypt = crypt;
	io->bio = bio;
	io->iter = bio->bi_iter;
	io->rel_sector = dm_target_offset(ctx->ti, bio->bi_iter.bi_sector);
	vxts_creq_init(crypt, &io->creq, (u8 *)io + ctx->creq_offset);
}

/* Reads and writes that pass the checks; @crypt is never NULL here. */
static int vxts_io_map_data(struct vxts_io *io)
{
	if (bio_op(io->bio) == REQ_OP_WRITE)
		return vxts_io_map_write(io);
	return vxts_io_map_read(io);
}

/* The checks every data bio passes before anything is mapped. */
static bool vxts_io_data_ok(struct dm_target *ti, struct bio *bio)
{
	struct vxts_ctx *ctx = ti->private;

	if (unlikely((bio_op(bio) != REQ_OP_READ && bio_op(bio) != REQ_OP_WRITE) ||
		     !bio_sectors(bio)))
		return false;
	if (bio_op(bio) == REQ_OP_WRITE && bio_sectors(bio) > VXTS_MAX_WRITE_SECTORS)
		dm_accept_partial_bio(bio, VXTS_MAX_WRITE_SECTORS);
	return vxts_crypt_bio_aligned(&ctx->crypt, bio,
				      dm_target_offset(ti, bio->bi_iter.bi_sector));
}

/* ---- converting targets ---- */

/*
 * Serve a bio of a converting target in @form (never HELD). From map()
 * (@in_map) a plaintext bio is returned for dm to submit; from the message
 * that dropped a window it is submitted here.
 */
static int vxts_io_start(struct vxts_ctx *ctx, struct bio *bio,
			 struct vxts_io *io, enum vxts_form form, bool in_map)
{
	const struct vxts_crypt *crypt = vxts_io_crypt_of(ctx, form);

	if (bio_op(bio) == REQ_OP_DISCARD || !crypt) {
		vxts_io_remap(ctx->ti, bio);
		if (in_map)
			return DM_MAPIO_REMAPPED;
		dm_submit_bio_remap(bio, NULL);
		return DM_MAPIO_SUBMITTED;
	}
	vxts_io_init(io, ctx, bio, crypt);
	if (in_map)
		return vxts_io_map_data(io);
	/* Task context (the message), so the write path runs right here. */
	if (bio_op(bio) == REQ_OP_WRITE) {
		blk_status_t status;

		this_cpu_inc(ctx->stats->write_bios);
		/*
		 * Once vxts_io_write() succeeded the bio may already be
		 * completed (a fast device, or a helper): only touch it when
		 * it failed before anything was submitted.
		 */
		status = vxts_io_write(io);
		if (unlikely(status)) {
			bio->bi_status = status;
			bio_endio(bio);
		}
		return DM_MAPIO_SUBMITTED;
	}
	return vxts_io_map_read(io);
}

static void vxts_io_trim(struct bio *bio, unsigned int sectors)
{
	dm_accept_partial_bio(bio, sectors);
}

/* Asked by vxts_window_map() under the window lock (see there). */
static bool vxts_io_noflush(struct dm_target *ti)
{
	return dm_noflush_suspending(ti);
}

static int vxts_io_map_converting(struct dm_target *ti, struct bio *bio)
{
	struct vxts_ctx *ctx = ti->private;
	struct vxts_io *io = dm_per_bio_data(bio, ti->per_io_data_size);
	bool discard = bio_op(bio) == REQ_OP_DISCARD;
	enum vxts_form form;
	int r;

	/* end_io reads these for every bio of a converting target. */
	io->track.tracked = false;
	io->track.requeue = false;
	if (!bio_sectors(bio) && op_is_flush(bio->bi_opf)) {
		/* Flushes order only completed writes; held ones are not. */
		vxts_io_remap(ti, bio);
		return DM_MAPIO_REMAPPED;
	}
	if (!discard && unlikely(!vxts_io_data_ok(ti, bio)))
		goto refuse;
	r = vxts_window_map(&ctx->win, &io->track, bio,
			    dm_target_offset(ti, bio->bi_iter.bi_sector), discard,
			    (bio->bi_opf & REQ_PREFLUSH) ? NULL : vxts_io_trim,
			    vxts_io_noflush, ti, &form);
	if (unlikely(r == -EAGAIN))
		return DM_MAPIO_REQUEUE;
	if (unlikely(r))
		goto refuse;
	if (form == VXTS_FORM_HELD)
		return DM_MAPIO_SUBMITTED;	/* the window owns it now */
	r = vxts_io_start(ctx, bio, io, form, true);
	if (unlikely(r == DM_MAPIO_KILL)) {
		/*
		 * The bio is on the in-flight list now. dm frees a killed bio
		 * without calling end_io, which would leave a freed entry
		 * linked there; complete it ourselves so end_io unlinks it.
		 */
		bio->bi_status = BLK_STS_IOERR;
		bio_endio(bio);
		return DM_MAPIO_SUBMITTED;
	}
	return r;

refuse:
	this_cpu_inc(ctx->stats->refused_bios);
	return DM_MAPIO_KILL;
}

/*
 * Bios that waited on a window, from the message that advanced or released
 * it (or from presuspend, to be handed back to dm). They run in that
 * message's task: the converter waits for its advance to return anyway, the
 * held bios are few (at most what applications had queued on one window),
 * and the task may sleep, which the write path needs. No workqueue hop, so
 * status shows held:0 as soon as advance returns. Nothing here waits on a
 * window: the write path only sleeps on the bounce pool and the bio_set,
 * whose pages and clones belong to bios already on their way to the device.
 */
void vxts_io_dispatch_list(struct vxts_ctx *ctx, struct bio_list *bios)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios))) {
		struct vxts_io *io = dm_per_bio_data(bio, ctx->ti->per_io_data_size);

		if (io->track.requeue)
			bio_endio(bio);		/* end_io: DM_ENDIO_REQUEUE */
		else
			vxts_io_start(ctx, bio, io, io->track.form, false);
	}
}

/*
 * Every bio a converting target mapped (or queued) comes back here; a fully
 * converted target returns at once.
 */
int vxts_io_end(struct dm_target *ti, struct bio *bio, blk_status_t *error)
{
	struct vxts_ctx *ctx = ti->private;
	struct vxts_io *io;

	if (likely(!vxts_converting(ctx)))
		return DM_ENDIO_DONE;
	io = dm_per_bio_data(bio, ti->per_io_data_size);
	vxts_window_end(&ctx->win, &io->track);
	return io->track.requeue ? DM_ENDIO_REQUEUE : DM_ENDIO_DONE;
}

int vxts_io_map(struct dm_target *ti, struct bio *bio)
{
	struct vxts_ctx *ctx = ti->private;
	struct vxts_io *io;

	if (unlikely(vxts_converting(ctx)))
		return vxts_io_map_converting(ti, bio);
	if (bio_op(bio) == REQ_OP_DISCARD ||
	    (!bio_sectors(bio) && op_is_flush(bio->bi_opf))) {
		vxts_io_remap(ti, bio);
		return DM_MAPIO_REMAPPED;
	}
	if (unlikely(!vxts_io_data_ok(ti, bio))) {
		this_cpu_inc(ctx->stats->refused_bios);
		return DM_MAPIO_KILL;
	}
	io = dm_per_bio_data(bio, ti->per_io_data_size);
	vxts_io_init(io, ctx, bio, &ctx->crypt);
	return vxts_io_map_data(io);
}
