// SPDX-License-Identifier: GPL-2.0
/*
 * convert: window-by-window in-place conversion with commit points.
 *
 * One window (a few MiB) at a time, each step leaving the disk in a state
 * recovery understands (the table in docs/ENGINE.md):
 *
 *   1. read the window                  crash: nothing changed
 *   2. persist protection in the free   crash: the header still names the
 *      resilience slot, sync                   previous window, whose record
 *                                              (other slot) is intact
 *   3. header: "window W in flight"     crash: one copy is valid, naming W
 *      (boundary = W start), 2 copies          or the previous window
 *   4. convert + write the window       crash: W partly written: recovery
 *   5. sync the data                           rebuilds the old W and redoes it
 * and the boundary advance of W is step 3 of the next window (or the final
 * or stop commit), so a window costs one header commit.
 *
 * Inside a window the main thread drives the ring (fill to queue depth,
 * submit once, wait for one completion, reap the rest) while workers hash
 * and convert chunks, so reads, crypto and writes overlap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cipher.h"
#include "convert.h"
#include "error.h"
#include "kdf.h"
#include "pool.h"
#include "rectag.h"
#include "secmem.h"

#define CONV_DEF_CHUNK (1u << 20)
#define CONV_DEF_QD 32
#define CONV_DEF_WIN_CSUM (64ULL << 20)
#define CONV_DEF_WIN_JOURNAL (4ULL << 20)
/*
 * Checksum mode on memory-backed data and header (tmpfs, brd): commit points
 * cost no IO there, while every MiB of window buffer is memory the process
 * must fault in first (on the development VMs ~5 ms per MiB, as much as
 * converting 30 MiB), so windows are small.
 */
#define CONV_DEF_WIN_MEM (8ULL << 20)
#define CONV_MAX_THREADS 64
#define CONV_HASH VXTS_RECTAG_SIZE

static int conv_stop_flag;

void vxts_request_stop(void)
{
	__atomic_store_n(&conv_stop_flag, 1, __ATOMIC_RELAXED);
}

void vxts_clear_stop(void)
{
	__atomic_store_n(&conv_stop_flag, 0, __ATOMIC_RELAXED);
}

enum conv_job_kind {
	CJ_NONE,
	CJ_HASH,		/* per-unit tag of the old content (rectag.h) */
	CJ_FORWARD,		/* old -> new in place */
	CJ_HASH_FORWARD,	/* both, unit by unit while the unit is in L1 */
};

/* What one thread needs: ciphers, and the record tagger. */
struct conv_xform {
	struct vxts_cipher *cur, *new;
	struct vxts_rectag *tag;
};

struct conv;
struct conv_pass;

/* One window's worth of memory; the engine has two (convert one, read the next). */
struct conv_win {
	uint8_t *buf;
	uint8_t *hashes;	/* per-unit tags of the old content, padded to 4 KiB */
	uint8_t nonce[VXTS_RECTAG_NONCE];	/* of those tags */
	struct conv_chunk *chunks;
	uint64_t off, len;	/* data-relative window it holds */
	int index;		/* registered buffer index */
	bool converted;		/* buf holds the new content (hashed + converted on read) */
};

/* One in-flight piece of a window: owns its slice of the window buffer. */
struct conv_chunk {
	struct vxts_io io;
	struct vxts_job job;
	struct conv *c;
	struct conv_pass *p;
	uint8_t *buf;
	size_t len;
	uint64_t woff;		/* offset inside the window */
};

/* One sweep over a window: IO on one device, plus a job per chunk. */
struct conv_pass {
	struct vxts_dev *dev;
	uint64_t base;		/* device offset of window byte 0 */
	bool fixed;		/* dev has the window buffers registered */
	enum vxts_io_op op;	/* READ: IO then job; WRITE: job then IO */
	enum conv_job_kind job;
	struct conv_win *w;
	size_t n, next;		/* chunks, and the next one to start */
	bool worker_reads;	/* READ on a rw_sync device: the job reads first */
};

struct conv {
	struct vxts_conv_ctx *x;
	struct vxts_header *h;
	const struct vxts_convert_opts *o;
	enum vxts_direction dir;
	uint32_t unit;
	uint32_t chunk;
	unsigned int qd;
	unsigned int nthreads;
	uint64_t window;	/* bytes per new window */
	uint64_t win_max;	/* buffer size (>= a recovered window) */
	size_t hashes_size;
	size_t nchunks;		/* per window buffer */
	struct conv_win win[2];
	struct conv_chunk **ready;	/* converted chunks waiting for a write slot */
	struct conv_xform *xf;	/* nthreads + 1: the last is the main thread's */
	struct vxts_pool *pool;
	bool fixed_data, fixed_hdr;
};

static uint64_t conv_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ---- crypto -------------------------------------------------------------- */

static int conv_forward(struct conv *c, struct conv_xform *xf, uint8_t *b, size_t len,
			uint64_t sector)
{
	int r;

	switch (c->dir) {
	case VXTS_DIR_ENCRYPT:
		return vxts_cipher_encrypt(xf->cur, b, b, len, sector);
	case VXTS_DIR_DECRYPT:
		return vxts_cipher_decrypt(xf->cur, b, b, len, sector);
	case VXTS_DIR_REENCRYPT:
		r = vxts_cipher_decrypt(xf->cur, b, b, len, sector);
		return r ? r : vxts_cipher_encrypt(xf->new, b, b, len, sector);
	default:
		return -EINVAL;
	}
}

/* new -> old: how checksum recovery recognises a unit that was converted. */
static int conv_inverse(struct conv *c, struct conv_xform *xf, uint8_t *b, size_t len,
			uint64_t sector)
{
	int r;

	switch (c->dir) {
	case VXTS_DIR_ENCRYPT:
		return vxts_cipher_decrypt(xf->cur, b, b, len, sector);
	case VXTS_DIR_DECRYPT:
		return vxts_cipher_encrypt(xf->cur, b, b, len, sector);
	case VXTS_DIR_REENCRYPT:
		r = vxts_cipher_decrypt(xf->new, b, b, len, sector);
		return r ? r : vxts_cipher_encrypt(xf->cur, b, b, len, sector);
	default:
		return -EINVAL;
	}
}

static int conv_tag_unit(struct conv *c, struct conv_win *w, struct conv_xform *xf,
			 uint8_t *tag, const uint8_t *b, uint64_t woff)
{
	return vxts_rectag_unit(xf->tag, tag, w->nonce, (uint32_t)(woff / c->unit), b, c->unit);
}

static int conv_hash_units(struct conv *c, struct conv_win *w, struct conv_xform *xf,
			   const uint8_t *b, size_t len, uint64_t woff)
{
	uint8_t *out = w->hashes + woff / c->unit * CONV_HASH;
	int r = 0;

	for (size_t u = 0; !r && u < len / c->unit; u++)
		r = conv_tag_unit(c, w, xf, out + u * CONV_HASH, b + u * c->unit,
				  woff + u * c->unit);
	return r;
}

/*
 * Checksum mode: tag each old unit and convert it in the same sweep, while
 * it is hot in cache, right after it was read. Only memory changes: the disk
 * keeps the old content until the window's record and header commit are
 * durable (steps 2-3), exactly as if the conversion ran after them, so a
 * crash at any point leaves what the state table says. (Journal mode can't:
 * its record is the old window itself, written from this buffer.)
 */
static int conv_hash_forward(struct conv *c, struct conv_win *w, struct conv_xform *xf,
			     uint8_t *b, size_t len, uint64_t woff)
{
	uint8_t *out = w->hashes + woff / c->unit * CONV_HASH;
	uint64_t sector = (w->off + woff) >> 9;
	int r = 0;

	for (size_t u = 0; !r && u < len / c->unit; u++) {
		r = conv_tag_unit(c, w, xf, out + u * CONV_HASH, b + u * c->unit,
				  woff + u * c->unit);
		if (!r)
			r = conv_forward(c, xf, b + u * c->unit, c->unit,
					 sector + u * (c->unit >> 9));
	}
	return r;
}

static struct conv_chunk *conv_chunk_of_job(struct vxts_job *j)
{
	return (struct conv_chunk *)((char *)j - offsetof(struct conv_chunk, job));
}

/* Runs on a worker. */
static int conv_job_fn(struct vxts_job *job, unsigned int worker)
{
	struct conv_chunk *ch = conv_chunk_of_job(job);
	struct conv_pass *p = ch->p;
	struct conv_win *w = p->w;
	struct conv *c = ch->c;
	int r;

	if (p->worker_reads) {
		r = p->dev->ops->rw_sync(p->dev, VXTS_IO_READ, ch->buf, ch->len,
					 p->base + ch->woff);
		if (r || p->job == CJ_NONE)
			return r;
	}
	if (ch->p->job == CJ_HASH)
		return conv_hash_units(c, w, &c->xf[worker], ch->buf, ch->len, ch->woff);
	if (ch->p->job == CJ_HASH_FORWARD)
		return conv_hash_forward(c, w, &c->xf[worker], ch->buf, ch->len, ch->woff);
	return conv_forward(c, &c->xf[worker], ch->buf, ch->len, (w->off + ch->woff) >> 9);
}

/* ---- the pipeline ---------------------------------------------------------- */

static int conv_queue_io(struct conv_chunk *ch)
{
	struct conv_pass *p = ch->p;

	ch->io = (struct vxts_io){
		.op = p->op, .buf = ch->buf, .len = ch->len, .off = p->base + ch->woff,
		.buf_index = p->fixed ? p->w->index : -1, .priv = ch,
	};
	return p->dev->ops->queue(p->dev, &ch->io);
}

/* Bookkeeping shared by the pass loop's helpers. */
struct conv_run {
	size_t left, rh, rt;
	unsigned int inflight, jobs;
	int r;
};

static void conv_start_chunks(struct conv *c, struct conv_pass *p, struct conv_run *s)
{
	struct conv_chunk *ch;

	while (!s->r && p->next < p->n) {
		if (p->op == VXTS_IO_READ && s->inflight >= c->qd)
			break;
		ch = &p->w->chunks[p->next];
		ch->c = c;
		ch->p = p;
		ch->woff = (uint64_t)p->next * c->chunk;
		ch->len = (size_t)conv_min(c->chunk, p->w->len - ch->woff);
		ch->buf = p->w->buf + ch->woff;
		ch->job.fn = conv_job_fn;
		p->next++;
		if (p->worker_reads) {
			vxts_pool_push(c->pool, &ch->job);
			s->jobs++;
		} else if (p->op == VXTS_IO_READ) {
			s->r = conv_queue_io(ch);
			s->inflight += !s->r;
		} else if (p->job != CJ_NONE) {
			vxts_pool_push(c->pool, &ch->job);
			s->jobs++;
		} else {
			c->ready[s->rt++] = ch;
		}
	}
}

static void conv_job_done(struct conv *c, struct conv_run *s, struct vxts_job *j)
{
	struct conv_chunk *ch = conv_chunk_of_job(j);

	s->jobs--;
	if (j->r && !s->r)
		s->r = j->r;
	if (!j->r && !s->r && ch->p->op == VXTS_IO_WRITE)
		c->ready[s->rt++] = ch;
	else
		s->left--;
}

static void conv_io_done(struct conv *c, struct conv_run *s, struct vxts_io *io)
{
	struct conv_chunk *ch = io->priv;
	struct conv_pass *p = ch->p;
	int f = vxts_io_finish(io);

	if (f == 0) {			/* short or -EAGAIN: queue the rest */
		f = p->dev->ops->queue(p->dev, io);
		if (!f)
			return;
	}
	s->inflight--;
	if (f < 0 && !s->r)
		s->r = f;
	if (f > 0 && !s->r && p->op == VXTS_IO_READ && p->job != CJ_NONE) {
		vxts_pool_push(c->pool, &ch->job);
		s->jobs++;
		return;
	}
	s->left--;
}

static bool conv_all_started(struct conv_pass *p, int np)
{
	for (int i = 0; i < np; i++)
		if (p[i].next < p[i].n)
			return false;
	return true;
}

/* Submit what is queued, wait for one completion, reap the rest. */
static void conv_submit_reap(struct conv *c, struct vxts_dev *d, struct conv_run *s)
{
	struct vxts_io *done[64];
	int k = d->ops->submit(d);

	if (k < 0) {
		/* The device waited out what the kernel had and will submit
		 * nothing more: every IO in flight is done, as failed. */
		s->r = s->r ? s->r : k;
		s->left -= s->inflight;
		s->inflight = 0;
		return;
	}
	k = d->ops->reap(d, done, 64, true);
	if (k < 0 && !s->r)
		s->r = k;
	for (int i = 0; i < k; i++)
		conv_io_done(c, s, done[i]);
}

/*
 * Runs @np passes (1 or 2) over the same device at once: e.g. writing the
 * converted window while reading the next one. Reads start as queue depth
 * allows; every chunk needing a job goes to the workers at once; converted
 * chunks wait in c->ready for a write slot.
 */
static int conv_passes_run(struct conv *c, struct conv_pass *p, int np)
{
	struct vxts_dev *d = p[0].dev;
	struct conv_run s = { 0 };
	struct vxts_job *j;

	for (int i = 0; i < np; i++) {
		p[i].n = (size_t)((p[i].w->len + c->chunk - 1) / c->chunk);
		p[i].next = 0;
		/* A copy, not DMA: done by the worker that then works on it. */
		p[i].worker_reads = p[i].op == VXTS_IO_READ && p[i].dev->ops->rw_sync;
		s.left += p[i].n;
	}
	while (s.inflight || s.jobs || (!s.r && s.left)) {
		for (int i = 0; i < np; i++)
			conv_start_chunks(c, &p[i], &s);
		while ((j = vxts_pool_pop_done(c->pool, false)))
			conv_job_done(c, &s, j);
		while (!s.r && s.rh < s.rt && s.inflight < c->qd) {
			s.r = conv_queue_io(c->ready[s.rh++]);
			s.inflight += !s.r;
		}
		if (s.inflight)
			conv_submit_reap(c, d, &s);
		else if (s.jobs) {
			/* Do a queued job rather than sleep until a worker ran it. */
			if (!vxts_pool_run_one(c->pool, c->nthreads))
				conv_job_done(c, &s, vxts_pool_pop_done(c->pool, true));
		}
		else if (s.rh == s.rt && conv_all_started(p, np))
			break;
	}
	return s.r;
}

static int conv_pass_run(struct conv *c, struct conv_pass p)
{
	return conv_passes_run(c, &p, 1);
}

static struct conv_pass conv_pass_data(struct conv *c, struct conv_win *w,
				       enum vxts_io_op op, enum conv_job_kind job)
{
	return (struct conv_pass){
		.dev = c->x->data, .base = c->h->data_offset + w->off, .fixed = c->fixed_data,
		.op = op, .job = job, .w = w,
	};
}

static void conv_win_set(struct conv_win *w, uint64_t off, uint64_t len)
{
	w->off = off;
	w->len = len;
}

/* ---- commit points ----------------------------------------------------------- */

/*
 * The engine edits its own copy of the header (c->h); the caller's (x->h)
 * takes it only once it is committed, so after a failed commit the caller
 * still holds the last state on disk, not one that never got there.
 */
static int conv_commit(struct conv *c, const uint8_t *mac_key)
{
	int r = vxts_hdr_commit(c->x->hdr, c->x->hdr_base, c->h, mac_key);

	if (r)
		return vxts_err(r, "header update on %s failed (%d): re-run to resume",
				c->x->hdr->name, r);
	*c->x->h = *c->h;
	return 0;
}

static int conv_sync_data(struct conv *c)
{
	int r = vxts_dev_sync(c->x->data);

	return r ? vxts_err(r, "sync of %s failed (%d)", c->x->data->name, r) : 0;
}

/* Step 1's job: tag only (journal), or tag and convert in memory (checksum). */
static enum conv_job_kind conv_read_job(struct conv *c, struct conv_win *w)
{
	w->converted = c->h->resilience != VXTS_RESILIENCE_JOURNAL;
	return w->converted ? CJ_HASH_FORWARD : CJ_HASH;
}

/*
 * Steps 4+5: old window @w -> new content on disk, durable. With @next, the
 * following window is read (and hashed) at the same time: it lies beyond @w
 * and nothing else writes the device, so its old content is already final.
 * (Online conversion must hold @next before reading it early, or not.)
 */
static int conv_apply(struct conv *c, struct conv_win *w, struct conv_win *next)
{
	struct conv_pass p[2] = {
		conv_pass_data(c, w, VXTS_IO_WRITE, w->converted ? CJ_NONE : CJ_FORWARD),
	};
	int r;

	if (next)
		p[1] = conv_pass_data(c, next, VXTS_IO_READ, conv_read_job(c, next));
	r = conv_passes_run(c, p, next ? 2 : 1);
	if (r)
		return vxts_err(r, "converting window at byte %llu of %s failed (%d): re-run "
				"to resume", (unsigned long long)w->off, c->x->data->name, r);
	return conv_sync_data(c);
}

/* Step 2: the record (hash list, or a copy of the window) in slot @seq. */
static int conv_protect(struct conv *c, struct conv_win *w, uint64_t seq, uint64_t *rec_len)
{
	struct vxts_dev *hd = c->x->hdr;
	uint64_t slot = vxts_hdr_res_slot(c->h, seq, NULL);
	size_t list = w->len / c->unit * CONV_HASH;
	struct conv_pass p = {
		.dev = hd, .base = c->x->hdr_base + slot, .fixed = c->fixed_hdr,
		.op = VXTS_IO_WRITE, .job = CJ_NONE, .w = w,
	};
	int r;

	if (c->h->resilience == VXTS_RESILIENCE_JOURNAL) {
		if (w->converted) {	/* the journal must be the old content */
			*rec_len = 0;
			return vxts_err(-EINVAL, "internal: journal of a converted window");
		}
		*rec_len = w->len;
		r = conv_pass_run(c, p);
	} else {
		*rec_len = list;
		memset(w->hashes + list, 0, c->hashes_size - list);
		r = vxts_dev_rw(hd, VXTS_IO_WRITE, w->hashes, (list + 4095) & ~(size_t)4095,
				p.base);
	}
	if (!r)
		r = vxts_dev_sync(hd);
	if (r)
		return vxts_err(r, "writing the resilience record to %s failed (%d)", hd->name, r);
	return 0;
}

static int conv_read(struct conv *c, struct conv_win *w)
{
	int r = conv_pass_run(c, conv_pass_data(c, w, VXTS_IO_READ, conv_read_job(c, w)));

	if (r)
		return vxts_err(r, "reading window at byte %llu of %s failed (%d)",
				(unsigned long long)w->off, c->x->data->name, r);
	return 0;
}

/*
 * One window whose old content (step 1: read + hash) is already in @w; reads
 * @next (if any) while converting @w.
 */
static int conv_window(struct conv *c, struct conv_win *w, struct conv_win *next)
{
	struct vxts_header *h = c->h;
	uint64_t seq = h->win_seq + 1, rec_len;
	int r;

	/* 2. Protection into the slot the header does not name. A crash here
	 * leaves the header naming the previous window, whose record is in
	 * the other slot: recovery redoes that (already converted) window. */
	r = conv_protect(c, w, seq, &rec_len);
	/* 2b. Online with the header on another device: application writes
	 * to W that completed before the hold may still sit in the data
	 * disk's cache, yet step 1 read (and tagged) them. conv_protect
	 * synced only the header device, so flush the data device before
	 * the header names W: else a power cut after step 3 leaves units
	 * that match neither tag and recovery refuses the volume. A crash
	 * here (before step 3) leaves the previous state: W not named. */
	if (!r && c->x->hold && c->x->hdr != c->x->data)
		r = conv_sync_data(c);
	if (r)
		return r;
	/* 3. "W in flight": once copy 1 is synced, recovery targets W. */
	h->boundary = w->off;
	h->win_off = w->off;
	h->win_len = w->len;
	h->win_seq = seq;
	h->res_off = vxts_hdr_res_slot(h, seq, NULL);
	h->res_len = rec_len;
	memcpy(h->res_nonce, w->nonce, sizeof(h->res_nonce));
	r = vxts_sha256(h->res_digest, w->hashes, w->len / c->unit * CONV_HASH);
	if (!r)
		r = conv_commit(c, c->x->mac_cur);
	/* 4+5. Convert, write, sync: a crash leaves W part old, part new. */
	return r ? r : conv_apply(c, w, next);
}

/* ---- recovery ---------------------------------------------------------------- */

static int conv_check_digest(struct conv *c, struct conv_win *w)
{
	uint8_t d[32];
	int r = vxts_sha256(d, w->hashes, w->len / c->unit * CONV_HASH);

	if (r)
		return r;
	if (!vxts_ct_equal(d, c->h->res_digest, 32))
		return vxts_err(-EUCLEAN, "resilience record of the interrupted window on %s does "
				"not match the header (a stale header put back, or the header "
				"area was edited): refusing to touch data", c->x->hdr->name);
	return 0;
}

/*
 * A unit torn at sector granularity (a device whose atomic write is 512
 * bytes under 4096-byte units) holds old sectors and new ones. The XTS
 * blocks of a unit are independent under its tweak, so converting the whole
 * unit back turns exactly its new sectors into old ones: @back has the old
 * content wherever the disk (@b) has new. Try every mix of the two against
 * the old tag (at most 254 for 8 sectors). 0 and @b rebuilt when one
 * matches; 1 when none does.
 */
static int conv_unmix_unit(struct conv *c, struct conv_win *w, struct conv_xform *xf,
			   uint8_t *b, const uint8_t *back, const uint8_t *old,
			   uint64_t woff, uint8_t *mix)
{
	unsigned int ns = c->unit / 512;
	uint8_t now[CONV_HASH];
	int r;

	for (uint32_t m = 1; m + 1 < (1u << ns); m++) {
		for (unsigned int k = 0; k < ns; k++)
			memcpy(mix + k * 512, ((m >> k) & 1 ? back : b) + k * 512, 512);
		r = conv_tag_unit(c, w, xf, now, mix, woff);
		if (r)
			return r;
		if (vxts_ct_equal(now, old, CONV_HASH)) {
			memcpy(b, mix, c->unit);
			return 0;
		}
	}
	return 1;
}

/*
 * Checksum mode: every unit must be old, or new that converts back to old,
 * or (torn at sector granularity) a mix of the two.
 */
static int conv_resolve_units(struct conv *c, struct conv_win *w)
{
	struct conv_xform *xf = &c->xf[c->nthreads];
	uint8_t now[CONV_HASH], *tmp = malloc(2 * (size_t)c->unit);
	int r = tmp ? 0 : -ENOMEM;

	for (uint64_t u = 0; !r && u < w->len / c->unit; u++) {
		uint8_t *b = w->buf + u * c->unit;
		const uint8_t *old = w->hashes + u * CONV_HASH;
		uint64_t at = w->off + u * c->unit;

		r = conv_tag_unit(c, w, xf, now, b, u * c->unit);
		if (r || vxts_ct_equal(now, old, CONV_HASH))
			continue;
		memcpy(tmp, b, c->unit);
		r = conv_inverse(c, xf, tmp, c->unit, at >> 9);
		if (!r)
			r = conv_tag_unit(c, w, xf, now, tmp, u * c->unit);
		if (!r && vxts_ct_equal(now, old, CONV_HASH)) {
			memcpy(b, tmp, c->unit);
			continue;
		}
		if (!r)
			r = conv_unmix_unit(c, w, xf, b, tmp, old, u * c->unit, tmp + c->unit);
		if (r == 1)
			r = vxts_err(-ENOTRECOVERABLE, "data unit %llu (device byte %llu) of %s "
				     "is neither the old nor the converted content, nor a mix of "
				     "their sectors: torn write, that unit is lost",
				     (unsigned long long)(at / c->unit),
				     (unsigned long long)(c->h->data_offset + at), c->x->data->name);
	}
	free(tmp);
	return r;
}

/* Rebuilds the old content of the window the header names into @w. */
static int conv_recover(struct conv *c, struct conv_win *w)
{
	struct vxts_header *h = c->h;
	uint64_t list = h->win_len / c->unit * CONV_HASH;
	struct conv_pass p = {
		.dev = c->x->hdr, .base = c->x->hdr_base + h->res_off, .fixed = c->fixed_hdr,
		.op = VXTS_IO_READ, .job = CJ_HASH, .w = w,
	};
	int r;

	conv_win_set(w, h->win_off, h->win_len);
	w->converted = false;	/* rebuilt below: the old content */
	memcpy(w->nonce, h->res_nonce, sizeof(w->nonce));
	if (h->resilience == VXTS_RESILIENCE_JOURNAL) {
		/* The journal holds the old window. */
		if (h->res_len != w->len)
			return vxts_err(-EUCLEAN, "journal record length does not match the "
					"window on %s: refusing to touch data", c->x->hdr->name);
		r = conv_pass_run(c, p);
		if (r)
			return vxts_err(r, "reading the journal on %s failed (%d)", c->x->hdr->name, r);
		return conv_check_digest(c, w);
	}
	if (h->res_len != list)
		return vxts_err(-EUCLEAN, "checksum record length does not match the "
				"window on %s: refusing to touch data", c->x->hdr->name);
	r = vxts_dev_rw(c->x->hdr, VXTS_IO_READ, w->hashes, (list + 4095) & ~4095ULL, p.base);
	if (r)
		return vxts_err(r, "reading the checksum record on %s failed (%d)",
				c->x->hdr->name, r);
	r = conv_check_digest(c, w);
	if (!r)
		r = conv_pass_run(c, conv_pass_data(c, w, VXTS_IO_READ, CJ_NONE));
	return r ? r : conv_resolve_units(c, w);
}

/* ---- ends of a run ----------------------------------------------------------- */

static void conv_clear_window(struct vxts_header *h)
{
	h->win_off = 0;
	h->win_len = 0;
	h->res_off = 0;
	h->res_len = 0;
	memset(h->res_digest, 0, sizeof(h->res_digest));
	memset(h->res_nonce, 0, sizeof(h->res_nonce));
}

/*
 * Zeroes both resilience slots once the header names no window. A journal
 * record is a copy of an old window: plaintext after an encrypt, data under
 * the old key after a re-key; left behind it would undo the encryption of
 * those windows (in the unencrypted tail of the disk with an at-end header).
 * A crash in here is harmless: nothing refers to the slots any more.
 */
static int conv_wipe_records(struct conv *c)
{
	struct vxts_dev *hd = c->x->hdr;
	uint64_t size, from = vxts_hdr_res_slot(c->h, 0, &size), end = from + 2 * size;
	size_t step = 1 << 20;
	uint8_t *z = aligned_alloc(4096, step);
	int r = z ? 0 : -ENOMEM;

	if (z)
		memset(z, 0, step);
	for (uint64_t off = from; !r && off < end; off += step)
		r = vxts_dev_rw(hd, VXTS_IO_WRITE, z, (size_t)conv_min(step, end - off),
				c->x->hdr_base + off);
	if (!r)
		r = vxts_dev_sync(hd);
	free(z);
	return r ? vxts_err(r, "wiping the resilience records on %s failed (%d): they may "
			    "still hold old data", hd->name, r) : 0;
}

/* Stop between windows: the last window is synced, so nothing is in flight. */
static int conv_stop(struct conv *c, uint64_t off)
{
	int r;

	conv_clear_window(c->h);
	c->h->boundary = off;
	r = conv_commit(c, c->x->mac_cur);
	if (!r)
		r = conv_wipe_records(c);
	return r ? r : vxts_err(-EINTR, "stopped at byte %llu of %llu: re-run to resume",
				(unsigned long long)off, (unsigned long long)c->h->data_size);
}

/* Drops the old DEK's slots: their KEKs were not given for the new key. */
static void conv_drop_old_slots(struct vxts_header *h)
{
	struct vxts_keyslot_info ki;

	for (int i = 0; i < VXTS_KEYSLOTS; i++)
		if (!vxts_keyslot_info(h->slots[i], &ki) && ki.in_use && ki.key_id == h->key_id)
			vxts_keyslot_table_clear(h->slots, i);	/* and its continuations */
}

/*
 * The final commit. A crash before it leaves the last window in flight,
 * which recovery redoes; the re-key's switch of key id, slots and MAC key is
 * this one commit, so it happens entirely or not at all.
 */
static int conv_finish(struct conv *c)
{
	struct vxts_header *h = c->h;
	const uint8_t *mac = c->x->mac_cur;
	int r;

	conv_clear_window(h);
	h->boundary = h->data_size;
	h->state = c->dir == VXTS_DIR_DECRYPT ? VXTS_STATE_PLAINTEXT : VXTS_STATE_ENCRYPTED;
	if (c->dir == VXTS_DIR_REENCRYPT) {
		conv_drop_old_slots(h);
		h->key_id ^= 1;
		h->key_gen++;	/* backups from before this re-key are stale */
		mac = c->x->mac_new;
	}
	h->direction = VXTS_DIR_NONE;
	r = conv_commit(c, mac);
	return r ? r : conv_wipe_records(c);
}

/* ---- setup ------------------------------------------------------------------- */

static void conv_geometry(struct conv *c)
{
	const struct vxts_convert_opts *o = c->o;
	struct vxts_header *h = c->h;
	uint64_t slot, def;

	vxts_hdr_res_slot(h, 0, &slot);
	c->chunk = o->chunk_size ? o->chunk_size : CONV_DEF_CHUNK;
	c->chunk = c->chunk < c->unit ? c->unit : c->chunk / c->unit * c->unit;
	def = h->resilience == VXTS_RESILIENCE_JOURNAL ? CONV_DEF_WIN_JOURNAL : CONV_DEF_WIN_CSUM;
	if (def == CONV_DEF_WIN_CSUM && c->x->data->mem_backed && c->x->hdr->mem_backed)
		def = CONV_DEF_WIN_MEM;
	c->window = o->window_size ? o->window_size : def;
	/* The record must fit its slot: the window itself, or its hash list. */
	if (h->resilience == VXTS_RESILIENCE_JOURNAL)
		c->window = conv_min(c->window, slot);
	else
		c->window = conv_min(c->window, slot / CONV_HASH * c->unit);
	if (c->window < c->unit)
		c->window = c->unit;
	if (c->chunk > c->window)
		c->chunk = (uint32_t)(c->window / c->unit * c->unit);
	c->window = c->window / c->chunk * c->chunk;
	c->win_max = c->window > h->win_len ? c->window : h->win_len;
	c->win_max = (c->win_max + 4095) & ~4095ULL;
	c->nchunks = (size_t)((c->win_max + c->chunk - 1) / c->chunk);
	c->hashes_size = (size_t)((c->win_max / c->unit * CONV_HASH + 4095) & ~4095ULL);
	c->qd = o->queue_depth ? o->queue_depth : CONV_DEF_QD;
	if (c->qd > c->x->data->queue_depth)
		c->qd = c->x->data->queue_depth;
	if (c->qd > c->x->hdr->queue_depth)
		c->qd = c->x->hdr->queue_depth;
	c->nthreads = o->threads ? o->threads : (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
	if (!c->nthreads || c->nthreads > CONV_MAX_THREADS)
		c->nthreads = c->nthreads ? CONV_MAX_THREADS : 1;
}

static int conv_ciphers(struct conv *c)
{
	struct vxts_header *h = c->h;
	uint8_t *k_rec = vxts_secure_alloc(32);
	int r = k_rec ? 0 : -ENOMEM;

	c->xf = calloc(c->nthreads + 1, sizeof(*c->xf));
	if (!c->xf)
		r = -ENOMEM;
	if (!r)
		r = vxts_rectag_key(k_rec, c->x->key_cur, h->mac_salt);
	for (unsigned int i = 0; !r && i <= c->nthreads; i++) {
		r = vxts_cipher_new(&c->xf[i].cur, c->x->key_cur, h->unit_size, h->iv_offset, false);
		if (!r && c->dir == VXTS_DIR_REENCRYPT)
			r = vxts_cipher_new(&c->xf[i].new, c->x->key_new, h->unit_size,
					    h->iv_offset, false);
		if (!r)
			r = vxts_rectag_new(&c->xf[i].tag, k_rec);
	}
	vxts_secure_free(k_rec, 32);
	return r;
}

/* Both window buffers as fixed buffers 0 and 1; without them IO is unfixed. */
static bool conv_register(struct conv *c, struct vxts_dev *d)
{
	struct iovec iov[2];

	for (int i = 0; i < 2; i++)
		iov[i] = (struct iovec){ .iov_base = c->win[i].buf, .iov_len = (size_t)c->win_max };
	return d->ops->register_buffers && !d->ops->register_buffers(d, iov, 2);
}

/*
 * A window buffer in 2 MiB pages where the kernel has them (THP in madvise
 * mode): fresh memory is expensive to fault in on VMs (~5 ms per MiB here
 * in 4 KiB pages, about half in 2 MiB ones) and the buffers are touched once
 * per window.
 */
static uint8_t *conv_alloc_window(uint64_t size)
{
	const size_t huge = 2u << 20;
	size_t len = (size_t)((size + huge - 1) / huge * huge);
	uint8_t *b = aligned_alloc(huge, len);

	if (b)
		madvise(b, len, MADV_HUGEPAGE);	/* advice only: 4 KiB pages otherwise */
	return b;
}

static int conv_setup(struct conv *c)
{
	int r;

	conv_geometry(c);
	for (int i = 0; i < 2; i++) {
		struct conv_win *w = &c->win[i];

		w->index = i;
		w->buf = conv_alloc_window(c->win_max);
		w->hashes = aligned_alloc(4096, c->hashes_size);
		w->chunks = calloc(c->nchunks, sizeof(*w->chunks));
		if (!w->buf || !w->hashes || !w->chunks)
			return -ENOMEM;
	}
	c->ready = calloc(2 * c->nchunks, sizeof(*c->ready));
	if (!c->ready)
		return -ENOMEM;
	r = conv_ciphers(c);
	if (!r)
		r = vxts_pool_new(c->nthreads, &c->pool);
	if (r)
		return r;
	c->fixed_data = conv_register(c, c->x->data);
	c->fixed_hdr = c->x->hdr == c->x->data ? c->fixed_data : conv_register(c, c->x->hdr);
	return 0;
}

static void conv_teardown(struct conv *c)
{
	if (c->fixed_data && c->x->data->ops->unregister_buffers)
		c->x->data->ops->unregister_buffers(c->x->data);
	if (c->x->hdr != c->x->data && c->fixed_hdr && c->x->hdr->ops->unregister_buffers)
		c->x->hdr->ops->unregister_buffers(c->x->hdr);
	vxts_pool_free(c->pool);
	for (unsigned int i = 0; c->xf && i <= c->nthreads; i++) {
		vxts_cipher_free(c->xf[i].cur);
		vxts_cipher_free(c->xf[i].new);
		vxts_rectag_free(c->xf[i].tag);
	}
	free(c->xf);
	for (int i = 0; i < 2; i++) {
		free(c->win[i].buf);
		free(c->win[i].hashes);
		free(c->win[i].chunks);
	}
	free(c->ready);
}

/* ---- the run ----------------------------------------------------------------- */

static double conv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleeps so that this run's bytes stay under rate_limit bytes/s. */
static void conv_throttle(struct conv *c, uint64_t bytes, double t0)
{
	double ahead;

	if (!c->o->rate_limit)
		return;
	ahead = (double)bytes / (double)c->o->rate_limit - (conv_now() - t0);
	if (ahead > 0) {
		/* nanosleep, not usleep: no 32-bit microsecond overflow on
		 * long sleeps; a signal (stop request) cuts it short. */
		struct timespec ts = {
			.tv_sec = (time_t)ahead,
			.tv_nsec = (long)((ahead - (double)(time_t)ahead) * 1e9),
		};

		nanosleep(&ts, NULL);
	}
}

/*
 * The window after @w, in the other buffer, with a fresh tag nonce; *next is
 * NULL at the end of the data.
 */
static int conv_next(struct conv *c, struct conv_win *w, struct conv_win **next)
{
	const struct vxts_conv_hold *hd = c->x->hold;
	struct conv_win *n = &c->win[w == &c->win[0]];
	uint64_t off = w->off + w->len, len = c->window;

	*next = NULL;
	if (off >= c->h->data_size)
		return 0;
	if (hd && hd->next_len) {
		len = hd->next_len(hd->ctx, off, c->window) / c->unit * c->unit;
		len = len < c->unit ? c->unit : conv_min(len, c->window);
	}
	conv_win_set(n, off, conv_min(len, c->h->data_size - off));
	if (vxts_random(n->nonce, sizeof(n->nonce)))
		return vxts_err(-EIO, "no randomness for the record nonce");
	*next = n;
	return 0;
}

static bool conv_should_stop(struct conv *c, uint64_t done, bool *asked)
{
	if (c->o->progress && c->o->progress(done, c->h->data_size, c->o->progress_ctx))
		*asked = true;
	return *asked || __atomic_load_n(&conv_stop_flag, __ATOMIC_RELAXED);
}

static int conv_hold(struct conv *c, struct conv_win *w)
{
	const struct vxts_conv_hold *hd = c->x->hold;
	int r = hd ? hd->hold(hd->ctx, w->off, w->len) : 0;

	return r ? vxts_err(r, "cannot hold the window at byte %llu (%d)",
			    (unsigned long long)w->off, r) : 0;
}

static int conv_release(struct conv *c, struct conv_win *w)
{
	const struct vxts_conv_hold *hd = c->x->hold;
	int r = hd ? hd->release(hd->ctx, w->off, w->len, w->off + w->len) : 0;

	return r ? vxts_err(r, "cannot release the window at byte %llu (%d)",
			    (unsigned long long)w->off, r) : 0;
}

/*
 * A crash between the two copies of a commit leaves copy 1 naming window W
 * and copy 2 W-1. W+1's record goes to the slot W-1's names; if a later
 * commit then tore copy 1, the loader would fall back to a copy whose record
 * is gone. So before this run writes anything (but after recovery verified
 * the record: a forged one must leave the disk untouched) both copies are
 * made to hold the state the run starts from (copy 2 first: a crash here
 * leaves one copy naming it or the state before, both recoverable). This
 * also covers a run resumed on a handle whose last commit failed half-way.
 */
static int conv_reconcile(struct conv *c)
{
	int r = vxts_hdr_reconcile(c->x->hdr, c->x->hdr_base, c->h, c->x->mac_cur);

	if (!r)
		*c->x->h = *c->h;
	return r ? vxts_err(r, "cannot make both header copies on %s agree (%d)",
			    c->x->hdr->name, r) : 0;
}

/*
 * Online only: the target serves a released window as converted, so new
 * writes land there. Recovery must never rebuild it after that (a journal
 * would put the old content back over them), so before the release the
 * header must name no window at or before it: commit "boundary past @w, no
 * window in flight". Offline nothing writes behind the engine, and the next
 * window's commit moves the boundary at no extra cost.
 */
static int conv_release_after_commit(struct conv *c, struct conv_win *w)
{
	int r = 0;

	if (c->x->hold) {
		conv_clear_window(c->h);
		c->h->boundary = w->off + w->len;
		r = conv_commit(c, c->x->mac_cur);
	}
	return r ? r : conv_release(c, w);
}

/* Hold (online) and read the old content of @w. */
static int conv_fetch(struct conv *c, struct conv_win *w)
{
	int r = conv_hold(c, w);

	return r ? r : conv_read(c, w);
}

/*
 * Recover the window in flight (if any), then window after window. Offline,
 * each window was read while the previous one was converted; held (online),
 * each is read only once it is held.
 */
static int conv_loop(struct conv *c)
{
	struct vxts_header *h = c->h;
	struct conv_win *w = &c->win[0], *next;
	uint64_t start = h->win_len ? h->win_off : h->boundary;
	bool ahead = !c->x->hold, asked = false, recovered = h->win_len;
	double t0 = conv_now();
	int r;

	if (h->win_len) {
		conv_win_set(w, h->win_off, h->win_len);
		r = conv_hold(c, w);
		if (!r)
			r = conv_recover(c, w);
		if (!r)
			r = conv_reconcile(c);
		if (!r)
			r = conv_apply(c, w, NULL);
		if (!r)
			r = conv_release_after_commit(c, w);
	} else {
		conv_win_set(w, 0, h->boundary);
		r = conv_reconcile(c);
	}
	if (r)
		return r;
	if (recovered && conv_should_stop(c, w->off + w->len, &asked))
		return conv_stop(c, w->off + w->len);
	r = conv_next(c, w, &next);
	if (!r && next && __atomic_load_n(&conv_stop_flag, __ATOMIC_RELAXED))
		return conv_stop(c, next->off);
	if (!r && next)
		r = conv_fetch(c, next);
	while (!r && next) {
		w = next;
		r = conv_next(c, w, &next);
		if (!r)
			r = conv_window(c, w, ahead ? next : NULL);
		if (!r)
			r = conv_release_after_commit(c, w);
		if (r)
			return r;
		conv_throttle(c, w->off + w->len - start, t0);
		if (conv_should_stop(c, w->off + w->len, &asked) && next)
			return conv_stop(c, next->off);
		if (!ahead && next)
			r = conv_fetch(c, next);
	}
	return r ? r : conv_finish(c);
}

int vxts_conv_run(struct vxts_conv_ctx *x, const struct vxts_convert_opts *o)
{
	static const struct vxts_convert_opts defaults;
	struct vxts_header h = *x->h;
	struct conv c = { .x = x, .h = &h, .o = o ? o : &defaults };
	int r;

	c.dir = x->h->direction;
	c.unit = x->h->unit_size;
	if (c.dir == VXTS_DIR_NONE)
		return vxts_err(-EALREADY, "no conversion in progress");
	if (c.dir == VXTS_DIR_REENCRYPT && (!x->key_new || !x->mac_new))
		return vxts_err(-EPERM, "re-key in progress but the new volume key is not unlocked");
	r = conv_setup(&c);
	if (r)
		vxts_err(r, "cannot set up the conversion engine (%d)", r);
	else
		r = conv_loop(&c);
	conv_teardown(&c);
	vxts_wipe(&h, sizeof(h));
	return r;
}
