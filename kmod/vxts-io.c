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
 */
#include <linux/kernel.h>
#include <linux/bio.h>
#include <linux/blk_types.h>
#include <linux/device-mapper.h>
#include <linux/preempt.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include "dm-vxts.h"

/* Sets the request's place in the per-bio data; returns per_io_data_size. */
unsigned int vxts_io_data_size(struct vxts_ctx *ctx)
{
	ctx->creq_offset = ALIGN(sizeof(struct vxts_io), CRYPTO_MINALIGN);
	return ALIGN(ctx->creq_offset + vxts_crypt_req_size(&ctx->crypt),
		     ARCH_DMA_MINALIGN);
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
 * Seam for the partially converted device: this is where a range will be
 * classified against the conversion boundary and the held window (encrypted,
 * still plaintext, or wait). Today the whole target is encrypted.
 */
enum vxts_range {
	VXTS_RANGE_ENCRYPTED,
};

static enum vxts_range vxts_io_classify(struct vxts_ctx *ctx, u64 rel_sector,
					unsigned int sectors)
{
	return VXTS_RANGE_ENCRYPTED;
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
	r = vxts_crypt_bio(&ctx->crypt, &io->creq, io->bio, io->iter, clone,
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
	int r = vxts_crypt_bio(&io->ctx->crypt, &io->creq, io->bio, io->iter,
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

static void vxts_io_init(struct vxts_io *io, struct dm_target *ti,
			 struct bio *bio)
{
	struct vxts_ctx *ctx = ti->private;

	io->ctx = ctx;
	io->bio = bio;
	io->iter = bio->bi_iter;
	io->rel_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	vxts_creq_init(&ctx->crypt, &io->creq, (u8 *)io + ctx->creq_offset);
}

int vxts_io_map(struct dm_target *ti, struct bio *bio)
{
	struct vxts_ctx *ctx = ti->private;
	struct vxts_io *io;

	if (bio_op(bio) == REQ_OP_DISCARD ||
	    (!bio_sectors(bio) && op_is_flush(bio->bi_opf))) {
		vxts_io_remap(ti, bio);
		return DM_MAPIO_REMAPPED;
	}
	if (unlikely((bio_op(bio) != REQ_OP_READ && bio_op(bio) != REQ_OP_WRITE) ||
		     !bio_sectors(bio)))
		goto refuse;
	if (bio_op(bio) == REQ_OP_WRITE && bio_sectors(bio) > VXTS_MAX_WRITE_SECTORS)
		dm_accept_partial_bio(bio, VXTS_MAX_WRITE_SECTORS);
	if (unlikely(!vxts_crypt_bio_aligned(&ctx->crypt, bio,
					     dm_target_offset(ti, bio->bi_iter.bi_sector))))
		goto refuse;

	io = dm_per_bio_data(bio, ti->per_io_data_size);
	vxts_io_init(io, ti, bio);
	/* Ranges other than "encrypted" only exist once conversion lands. */
	if (unlikely(vxts_io_classify(ctx, io->rel_sector, bio_sectors(bio)) !=
		     VXTS_RANGE_ENCRYPTED))
		goto refuse;
	if (bio_op(bio) == REQ_OP_WRITE)
		return vxts_io_map_write(io);
	return vxts_io_map_read(io);

refuse:
	this_cpu_inc(ctx->stats->refused_bios);
	return DM_MAPIO_KILL;
}
