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
#include "dm-vxts.h"

/*
 * Sets the request's place in the per-bio data; returns per_io_data_size.
 * Room for the larger request of the two keys' tfms (both are xts(aes),
 * but the kernel could pick different drivers).
 */
unsigned int vxts_io_data_size(struct vxts_ctx *ctx)
{
	unsigned int req = vxts_crypt_req_size(&ctx->crypt);

	if (ctx->old_crypt.tfm)
		req = max(req, vxts_crypt_req_size(&ctx->old_crypt));
	ctx->creq_offset = ALIGN(sizeof(struct vxts_io), CRYPTO_MINALIGN);
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

static void vxts_bounce_free(struct vxts_ctx *ctx, struct bio *clone)
{
	unsigned short i;

	for (i = 0; i < clone->bi_vcnt; i++)
		mempool_free(clone->bi_io_vec[i].bv_page, &ctx->page_pool);
}

/* One pool page per bvec (__bio_add_page never merges), so freeing is simple. */
static bool vxts_bounce_fill(struct vxts_ctx *ctx, struct bio *clone,
			     unsigned int size, gfp_t gfp)
{
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
 * fully allocated clones already on their way to the device, which complete
 * without our help, so it cannot wait on another half-filled writer.
 * Clone bios come from our bio_set: a map() call submits its clone before
 * dm core maps the next piece, so we hold at most one unsubmitted clone.
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

/* ---- writes ---- */

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

static blk_status_t vxts_io_write(struct vxts_io *io)
{
	struct vxts_ctx *ctx = io->ctx;
	struct bio *clone;
	int r;

	clone = vxts_bounce_alloc(ctx, io->bio);
	if (unlikely(!clone))
		return BLK_STS_RESOURCE;
	clone->bi_iter.bi_sector = ctx->start + io->rel_sector;
	clone->bi_ioprio = io->bio->bi_ioprio;
	clone->bi_private = io;
	clone->bi_end_io = vxts_io_write_done;
	r = vxts_crypt_bio(io->crypt, &io->creq, io->bio, io->iter, clone,
			   io->rel_sector, true);
	if (unlikely(r)) {
		vxts_bounce_free(ctx, clone);
		bio_put(clone);
		return BLK_STS_IOERR;
	}
	dm_submit_bio_remap(io->bio, clone);
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
	int r = vxts_crypt_bio(io->crypt, &io->creq, io->bio, io->iter,
			       NULL, io->rel_sector, false);

	if (unlikely(r))
		io->bio->bi_status = BLK_STS_IOERR;
	bio_endio(io->bio);
}

static void vxts_io_read_work(struct work_struct *work)
{
	vxts_io_read_finish(container_of(work, struct vxts_io, work));
}

/*
 * Our clone shares dm's pages, so it can go back to the bio_set before the
 * decryption: a clone never waits on the workqueue, which keeps the
 * bio_set's reserve available to map() whatever the workqueue is doing.
 * dm's bio then completes exactly once, from here or from the work item.
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
		this_cpu_inc(ctx->stats->write_bios);
		bio->bi_status = vxts_io_write(io);
		if (unlikely(bio->bi_status))
			bio_endio(bio);
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
