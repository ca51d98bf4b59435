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
#include <time.h>
#include <unistd.h>

#include "cipher.h"
#include "convert.h"
#include "error.h"
#include "kdf.h"
#include "pool.h"

#define CONV_DEF_CHUNK (1u << 20)
#define CONV_DEF_QD 32
#define CONV_DEF_WIN_CSUM (64ULL << 20)
#define CONV_DEF_WIN_JOURNAL (4ULL << 20)
#define CONV_MAX_THREADS 64
#define CONV_HASH 32

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
	CJ_HASH,		/* per-unit SHA-256 of the old content */
	CJ_FORWARD,		/* old -> new in place */
};

struct conv_xform {
	struct vxts_cipher *cur, *new;
};

struct conv;

/* One in-flight piece of the window: owns its slice of the window buffer. */
struct conv_chunk {
	struct vxts_io io;
	struct vxts_job job;
	struct conv *c;
	uint8_t *buf;
	size_t len;
	uint64_t woff;		/* offset inside the window */
};

/* One sweep over a window: IO on one device, plus a job per chunk. */
struct conv_pass {
	struct vxts_dev *dev;
	uint64_t base;		/* device offset of window byte 0 */
	int fixed;		/* registered buffer index or -1 */
	enum vxts_io_op op;	/* READ: IO then job; WRITE: job then IO */
	enum conv_job_kind job;
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
	uint64_t win_off;	/* window being worked on, data-relative */
	uint8_t *win;
	uint8_t *hashes;	/* per-unit SHA-256 list, padded to 4 KiB */
	size_t hashes_size;
	struct conv_chunk *chunks;
	struct conv_chunk **ready;
	size_t nchunks;
	struct conv_xform *xf;	/* nthreads + 1: the last is the main thread's */
	struct vxts_pool *pool;
	int fixed_data, fixed_hdr;
	enum conv_job_kind kind;
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

static int conv_hash_units(struct conv *c, const uint8_t *b, size_t len, uint64_t woff)
{
	uint8_t *out = c->hashes + woff / c->unit * CONV_HASH;
	int r = 0;

	for (size_t u = 0; !r && u < len / c->unit; u++)
		r = vxts_sha256(out + u * CONV_HASH, b + u * c->unit, c->unit);
	return r;
}

/* Runs on a worker. */
static int conv_job_fn(struct vxts_job *job, unsigned int worker)
{
	struct conv_chunk *ch = (struct conv_chunk *)((char *)job -
						       offsetof(struct conv_chunk, job));
	struct conv *c = ch->c;

	if (c->kind == CJ_HASH)
		return conv_hash_units(c, ch->buf, ch->len, ch->woff);
	return conv_forward(c, &c->xf[worker], ch->buf, ch->len,
			    (c->win_off + ch->woff) >> 9);
}

/* ---- the pipeline ---------------------------------------------------------- */

static struct conv_chunk *conv_chunk_of_job(struct vxts_job *j)
{
	return (struct conv_chunk *)((char *)j - offsetof(struct conv_chunk, job));
}

static int conv_queue_io(struct conv *c, const struct conv_pass *p, struct conv_chunk *ch)
{
	ch->io = (struct vxts_io){
		.op = p->op, .buf = ch->buf, .len = ch->len, .off = p->base + ch->woff,
		.buf_index = p->fixed, .priv = ch,
	};
	return p->dev->ops->queue(p->dev, &ch->io);
}

/* Bookkeeping shared by the pass loop's helpers. */
struct conv_run {
	size_t left, next, rh, rt;
	unsigned int inflight, jobs;
	int r;
};

static void conv_start_chunks(struct conv *c, const struct conv_pass *p, struct conv_run *s,
			      size_t n, uint64_t wlen)
{
	struct conv_chunk *ch;

	while (!s->r && s->next < n) {
		if (p->op == VXTS_IO_READ && s->inflight >= c->qd)
			break;
		ch = &c->chunks[s->next];
		ch->c = c;
		ch->woff = (uint64_t)s->next * c->chunk;
		ch->len = (size_t)conv_min(c->chunk, wlen - ch->woff);
		ch->buf = c->win + ch->woff;
		ch->job.fn = conv_job_fn;
		s->next++;
		if (p->op == VXTS_IO_READ) {
			s->r = conv_queue_io(c, p, ch);
			s->inflight += !s->r;
		} else if (p->job != CJ_NONE) {
			vxts_pool_push(c->pool, &ch->job);
			s->jobs++;
		} else {
			c->ready[s->rt++] = ch;
		}
	}
}

static void conv_job_done(const struct conv_pass *p, struct conv_run *s, struct vxts_job *j,
			  struct conv *c)
{
	s->jobs--;
	if (j->r && !s->r)
		s->r = j->r;
	if (!j->r && !s->r && p->op == VXTS_IO_WRITE)
		c->ready[s->rt++] = conv_chunk_of_job(j);
	else
		s->left--;
}

static void conv_io_done(struct conv *c, const struct conv_pass *p, struct conv_run *s,
			 struct vxts_io *io)
{
	struct conv_chunk *ch = io->priv;
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

static int conv_pass_run(struct conv *c, const struct conv_pass *p, uint64_t wlen)
{
	size_t n = (size_t)((wlen + c->chunk - 1) / c->chunk);
	struct conv_run s = { .left = n };
	struct vxts_io *done[64];
	struct vxts_job *j;
	int k;

	c->kind = p->job;
	while (s.inflight || s.jobs || (!s.r && s.left)) {
		conv_start_chunks(c, p, &s, n, wlen);
		while ((j = vxts_pool_pop_done(c->pool, false)))
			conv_job_done(p, &s, j, c);
		while (!s.r && s.rh < s.rt && s.inflight < c->qd) {
			s.r = conv_queue_io(c, p, c->ready[s.rh++]);
			s.inflight += !s.r;
		}
		if (s.inflight) {
			k = p->dev->ops->submit(p->dev);
			if (k < 0) {
				/* Nothing we queued will complete: account it as failed. */
				s.r = s.r ? s.r : k;
				s.left -= s.inflight;
				s.inflight = 0;
				continue;
			}
			k = p->dev->ops->reap(p->dev, done, 64, true);
			if (k < 0 && !s.r)
				s.r = k;
			for (int i = 0; i < k; i++)
				conv_io_done(c, p, &s, done[i]);
		} else if (s.jobs) {
			conv_job_done(p, &s, vxts_pool_pop_done(c->pool, true), c);
		} else if (s.rh == s.rt && s.next == n) {
			break;
		}
	}
	return s.r;
}

/* ---- commit points ----------------------------------------------------------- */

static int conv_commit(struct conv *c, const uint8_t *mac_key)
{
	int r = vxts_hdr_commit(c->x->hdr, c->x->hdr_base, c->h, mac_key);

	if (r)
		return vxts_err(r, "header update on %s failed (%d): re-run to resume",
				c->x->hdr->name, r);
	return 0;
}

static int conv_sync_data(struct conv *c)
{
	int r = vxts_dev_sync(c->x->data);

	return r ? vxts_err(r, "sync of %s failed (%d)", c->x->data->name, r) : 0;
}

/* Steps 4+5: old window in c->win -> new content on disk, durable. */
static int conv_apply(struct conv *c, uint64_t off, uint64_t len)
{
	struct conv_pass p = {
		.dev = c->x->data, .base = c->h->data_offset + off, .fixed = c->fixed_data,
		.op = VXTS_IO_WRITE, .job = CJ_FORWARD,
	};
	int r;

	c->win_off = off;
	r = conv_pass_run(c, &p, len);
	if (r)
		return vxts_err(r, "writing window at byte %llu of %s failed (%d): re-run to resume",
				(unsigned long long)off, c->x->data->name, r);
	return conv_sync_data(c);
}

/* Step 2: the record (hash list, or a copy of the window) in slot @seq. */
static int conv_protect(struct conv *c, uint64_t len, uint64_t seq, uint64_t *rec_len)
{
	struct vxts_dev *hd = c->x->hdr;
	uint64_t slot = vxts_hdr_res_slot(c->h, seq, NULL);
	size_t list = len / c->unit * CONV_HASH;
	struct conv_pass p = {
		.dev = hd, .base = c->x->hdr_base + slot, .fixed = c->fixed_hdr,
		.op = VXTS_IO_WRITE, .job = CJ_NONE,
	};
	int r;

	if (c->h->resilience == VXTS_RESILIENCE_JOURNAL) {
		*rec_len = len;
		r = conv_pass_run(c, &p, len);
	} else {
		*rec_len = list;
		memset(c->hashes + list, 0, c->hashes_size - list);
		r = vxts_dev_rw(hd, VXTS_IO_WRITE, c->hashes, (list + 4095) & ~(size_t)4095,
				p.base);
	}
	if (!r)
		r = vxts_dev_sync(hd);
	if (r)
		return vxts_err(r, "writing the resilience record to %s failed (%d)", hd->name, r);
	return 0;
}

static int conv_window(struct conv *c, uint64_t off, uint64_t len)
{
	struct vxts_header *h = c->h;
	struct conv_pass rd = {
		.dev = c->x->data, .base = h->data_offset + off, .fixed = c->fixed_data,
		.op = VXTS_IO_READ, .job = CJ_HASH,
	};
	uint64_t seq = h->win_seq + 1, rec_len;
	int r;

	/* 1. Read + hash the old window. A crash here changed nothing. */
	c->win_off = off;
	r = conv_pass_run(c, &rd, len);
	if (r)
		return vxts_err(r, "reading window at byte %llu of %s failed (%d)",
				(unsigned long long)off, c->x->data->name, r);
	/* 2. Protection into the slot the header does not name. A crash here
	 * leaves the header naming the previous window, whose record is in
	 * the other slot: recovery redoes that (already converted) window. */
	r = conv_protect(c, len, seq, &rec_len);
	if (r)
		return r;
	/* 3. "W in flight": once copy 1 is synced, recovery targets W. */
	h->boundary = off;
	h->win_off = off;
	h->win_len = len;
	h->win_seq = seq;
	h->res_off = vxts_hdr_res_slot(h, seq, NULL);
	h->res_len = rec_len;
	r = vxts_sha256(h->res_digest, c->hashes, len / c->unit * CONV_HASH);
	if (!r)
		r = conv_commit(c, c->x->mac_cur);
	/* 4+5. Convert, write, sync: a crash leaves W part old, part new. */
	return r ? r : conv_apply(c, off, len);
}

/* ---- recovery ---------------------------------------------------------------- */

static int conv_check_digest(struct conv *c, uint64_t len)
{
	uint8_t d[32];
	int r = vxts_sha256(d, c->hashes, len / c->unit * CONV_HASH);

	if (r)
		return r;
	if (!vxts_ct_equal(d, c->h->res_digest, 32))
		return vxts_err(-EBADMSG, "resilience record of the interrupted window on %s does "
				"not verify: refusing to touch data", c->x->hdr->name);
	return 0;
}

/* Checksum mode: every unit must be old, or new that converts back to old. */
static int conv_resolve_units(struct conv *c, uint64_t off, uint64_t len)
{
	struct conv_xform *xf = &c->xf[c->nthreads];
	uint8_t now[32], *tmp = malloc(c->unit);
	int r = tmp ? 0 : -ENOMEM;

	for (uint64_t u = 0; !r && u < len / c->unit; u++) {
		uint8_t *b = c->win + u * c->unit;
		const uint8_t *old = c->hashes + u * CONV_HASH;

		r = vxts_sha256(now, b, c->unit);
		if (r || vxts_ct_equal(now, old, 32))
			continue;
		memcpy(tmp, b, c->unit);
		r = conv_inverse(c, xf, tmp, c->unit, (off + u * c->unit) >> 9);
		if (!r)
			r = vxts_sha256(now, tmp, c->unit);
		if (!r && !vxts_ct_equal(now, old, 32))
			r = vxts_err(-EIO, "data unit %llu (device byte %llu) of %s is neither the "
				     "old nor the converted content: torn write, that unit is lost",
				     (unsigned long long)((off + u * c->unit) / c->unit),
				     (unsigned long long)(c->h->data_offset + off + u * c->unit),
				     c->x->data->name);
		else if (!r)
			memcpy(b, tmp, c->unit);
	}
	free(tmp);
	return r;
}

static int conv_recover(struct conv *c)
{
	struct vxts_header *h = c->h;
	uint64_t off = h->win_off, len = h->win_len, list = len / c->unit * CONV_HASH;
	struct conv_pass p = { .op = VXTS_IO_READ, .job = CJ_HASH };
	int r;

	c->win_off = off;
	if (h->resilience == VXTS_RESILIENCE_JOURNAL) {
		/* The journal holds the old window: rebuild c->win from it. */
		if (h->res_len != len)
			return vxts_err(-EBADMSG, "journal record length mismatch");
		p.dev = c->x->hdr;
		p.base = c->x->hdr_base + h->res_off;
		p.fixed = c->fixed_hdr;
		r = conv_pass_run(c, &p, len);
		return r ? r : conv_check_digest(c, len);
	}
	if (h->res_len != list)
		return vxts_err(-EBADMSG, "checksum record length mismatch");
	r = vxts_dev_rw(c->x->hdr, VXTS_IO_READ, c->hashes, (list + 4095) & ~4095ULL,
			c->x->hdr_base + h->res_off);
	if (!r)
		r = conv_check_digest(c, len);
	p = (struct conv_pass){ .dev = c->x->data, .base = h->data_offset + off,
				.fixed = c->fixed_data, .op = VXTS_IO_READ, .job = CJ_NONE };
	if (!r)
		r = conv_pass_run(c, &p, len);
	return r ? r : conv_resolve_units(c, off, len);
}

/* ---- ends of a run ----------------------------------------------------------- */

static void conv_clear_window(struct vxts_header *h)
{
	h->win_off = 0;
	h->win_len = 0;
	h->res_off = 0;
	h->res_len = 0;
	memset(h->res_digest, 0, sizeof(h->res_digest));
}

/* Stop between windows: the last window is synced, so nothing is in flight. */
static int conv_stop(struct conv *c, uint64_t off)
{
	int r;

	conv_clear_window(c->h);
	c->h->boundary = off;
	r = conv_commit(c, c->x->mac_cur);
	return r ? r : vxts_err(-EINTR, "stopped at byte %llu of %llu: re-run to resume",
				(unsigned long long)off, (unsigned long long)c->h->data_size);
}

/* Drops the old DEK's slots: their KEKs were not given for the new key. */
static void conv_drop_old_slots(struct vxts_header *h)
{
	struct vxts_keyslot_info ki;

	for (int i = 0; i < VXTS_KEYSLOTS; i++)
		if (!vxts_keyslot_info(h->slots[i], &ki) && ki.in_use && ki.key_id == h->key_id)
			vxts_keyslot_clear(h->slots[i]);
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

	conv_clear_window(h);
	h->boundary = h->data_size;
	h->state = c->dir == VXTS_DIR_DECRYPT ? VXTS_STATE_PLAINTEXT : VXTS_STATE_ENCRYPTED;
	if (c->dir == VXTS_DIR_REENCRYPT) {
		conv_drop_old_slots(h);
		h->key_id ^= 1;
		mac = c->x->mac_new;
	}
	h->direction = VXTS_DIR_NONE;
	return conv_commit(c, mac);
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
	c->window = o->window_size ? o->window_size : def;
	/* The record must fit its slot: the window itself, or its hash list. */
	if (h->resilience == VXTS_RESILIENCE_JOURNAL)
		c->window = conv_min(c->window, slot);
	else
		c->window = conv_min(c->window, slot / CONV_HASH * c->unit);
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
	int r = 0;

	c->xf = calloc(c->nthreads + 1, sizeof(*c->xf));
	if (!c->xf)
		return -ENOMEM;
	for (unsigned int i = 0; !r && i <= c->nthreads; i++) {
		r = vxts_cipher_new(&c->xf[i].cur, c->x->key_cur, h->unit_size, h->iv_offset, false);
		if (!r && c->dir == VXTS_DIR_REENCRYPT)
			r = vxts_cipher_new(&c->xf[i].new, c->x->key_new, h->unit_size,
					    h->iv_offset, false);
	}
	return r;
}

static int conv_register(struct vxts_dev *d, uint8_t *buf, uint64_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = (size_t)len };

	if (!d->ops->register_buffers || d->ops->register_buffers(d, &iov, 1))
		return -1;
	return 0;
}

static int conv_setup(struct conv *c)
{
	int r;

	conv_geometry(c);
	c->win = aligned_alloc(4096, (size_t)c->win_max);
	c->hashes = aligned_alloc(4096, c->hashes_size);
	c->chunks = calloc(c->nchunks, sizeof(*c->chunks));
	c->ready = calloc(c->nchunks, sizeof(*c->ready));
	if (!c->win || !c->hashes || !c->chunks || !c->ready)
		return -ENOMEM;
	r = conv_ciphers(c);
	if (!r)
		r = vxts_pool_new(c->nthreads, &c->pool);
	if (r)
		return r;
	c->fixed_data = conv_register(c->x->data, c->win, c->win_max);
	c->fixed_hdr = c->x->hdr == c->x->data ? c->fixed_data :
		       conv_register(c->x->hdr, c->win, c->win_max);
	return 0;
}

static void conv_teardown(struct conv *c)
{
	if (c->fixed_data == 0 && c->x->data->ops->unregister_buffers)
		c->x->data->ops->unregister_buffers(c->x->data);
	if (c->x->hdr != c->x->data && c->fixed_hdr == 0 && c->x->hdr->ops->unregister_buffers)
		c->x->hdr->ops->unregister_buffers(c->x->hdr);
	vxts_pool_free(c->pool);
	for (unsigned int i = 0; c->xf && i <= c->nthreads; i++) {
		vxts_cipher_free(c->xf[i].cur);
		vxts_cipher_free(c->xf[i].new);
	}
	free(c->xf);
	free(c->win);
	free(c->hashes);
	free(c->chunks);
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
	if (ahead > 0)
		usleep((useconds_t)(ahead * 1e6));
}

static int conv_loop(struct conv *c)
{
	struct vxts_header *h = c->h;
	uint64_t off = h->boundary, len, start;
	double t0 = conv_now();
	bool stop = false;
	int r;

	if (h->win_len) {
		r = conv_recover(c);
		if (r)
			return r;
		r = conv_apply(c, h->win_off, h->win_len);
		if (r)
			return r;
		off = h->win_off + h->win_len;
	}
	start = off;
	while (off < h->data_size) {
		if (stop || __atomic_load_n(&conv_stop_flag, __ATOMIC_RELAXED))
			return conv_stop(c, off);
		len = conv_min(c->window, h->data_size - off);
		r = conv_window(c, off, len);
		if (r)
			return r;
		off += len;
		if (c->o->progress && c->o->progress(off, h->data_size, c->o->progress_ctx))
			stop = true;
		conv_throttle(c, off - start, t0);
	}
	return conv_finish(c);
}

int vxts_conv_run(struct vxts_conv_ctx *x, const struct vxts_convert_opts *o)
{
	static const struct vxts_convert_opts defaults;
	struct conv c = { .x = x, .h = x->h, .o = o ? o : &defaults, .fixed_data = -1,
			  .fixed_hdr = -1 };
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
	return r;
}
