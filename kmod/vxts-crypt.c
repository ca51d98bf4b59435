// SPDX-License-Identifier: GPL-2.0
/*
 * dm-vxts crypto: the xts(aes) skcipher and the walk over a bio's data
 * units. One skcipher call per data unit, all through one request that the
 * caller owns (the target keeps it in its per-bio data), so the IO path never
 * allocates here. No dm core calls: the KUnit suites drive these same
 * functions with IEEE 1619 vectors and hand-built bios.
 */
#include <linux/kernel.h>
#include <linux/bio.h>
#include <linux/err.h>
#include <linux/log2.h>
#include <crypto/skcipher.h>
#include "dm-vxts.h"

int vxts_crypt_init(struct vxts_crypt *c, unsigned int unit_size,
		    bool iv_large_sectors, u64 iv_offset)
{
	struct crypto_skcipher *tfm;

	if (unit_size != 512 && unit_size != 4096)
		return -EINVAL;
	/* Whatever the kernel ranks best: VAES, AES-NI, or the generic code. */
	tfm = crypto_alloc_skcipher(VXTS_CRYPTO_ALG, 0, 0);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	c->tfm = tfm;
	c->unit_size = unit_size;
	c->unit_shift = ilog2(unit_size) - SECTOR_SHIFT;
	c->iv_large_sectors = iv_large_sectors;
	c->iv_offset = iv_offset;
	return 0;
}

/* The tfm keeps its own expanded copy; the caller wipes @key afterwards. */
int vxts_crypt_setkey(struct vxts_crypt *c, const u8 *key)
{
	return crypto_skcipher_setkey(c->tfm, key, VXTS_KEY_SIZE);
}

/* Freeing the tfm wipes its context, and with it the key schedule. */
void vxts_crypt_exit(struct vxts_crypt *c)
{
	if (!IS_ERR_OR_NULL(c->tfm))
		crypto_free_skcipher(c->tfm);
	c->tfm = NULL;
}

const char *vxts_crypt_driver(const struct vxts_crypt *c)
{
	return crypto_skcipher_driver_name(c->tfm);
}

/* Bytes the caller reserves for one request, driver context included. */
unsigned int vxts_crypt_req_size(const struct vxts_crypt *c)
{
	return sizeof(struct skcipher_request) + crypto_skcipher_reqsize(c->tfm);
}

/*
 * @req_mem: vxts_crypt_req_size() bytes, CRYPTO_MINALIGN aligned. The
 * request may sleep (we only run in task context) and may be backlogged by
 * an async driver; crypto_req_done() completes cr->wait either way.
 */
void vxts_creq_init(const struct vxts_crypt *c, struct vxts_creq *cr,
		    void *req_mem)
{
	cr->req = req_mem;
	/* One entry each, terminated once here; each unit only sets the page. */
	sg_init_table(&cr->sg_in, 1);
	sg_init_table(&cr->sg_out, 1);
	skcipher_request_set_tfm(cr->req, c->tfm);
	crypto_init_wait(&cr->wait);
	skcipher_request_set_callback(cr->req,
				      CRYPTO_TFM_REQ_MAY_SLEEP |
				      CRYPTO_TFM_REQ_MAY_BACKLOG,
				      crypto_req_done, &cr->wait);
}

/*
 * En/decrypt the one data unit at (@src, @src_off) into (@dst, @dst_off);
 * src == dst works in place. @rel_sector is the unit's first 512-byte sector
 * relative to the target start. The simd wrapper in front of AES-NI/VAES
 * answers -EINPROGRESS or -EBUSY when it has to defer to cryptd;
 * crypto_wait_req() sleeps until then, which is why callers are in task
 * context.
 */
int vxts_crypt_unit(const struct vxts_crypt *c, struct vxts_creq *cr,
		    struct page *src, unsigned int src_off,
		    struct page *dst, unsigned int dst_off,
		    u64 rel_sector, bool encrypt)
{
	u64 tweak = vxts_tweak_of(rel_sector, c->iv_offset, c->unit_shift,
				  c->iv_large_sectors);
	int r;

	vxts_tweak_fill(cr->iv, tweak);
	sg_set_page(&cr->sg_in, src, c->unit_size, src_off);
	sg_set_page(&cr->sg_out, dst, c->unit_size, dst_off);
	skcipher_request_set_crypt(cr->req, &cr->sg_in, &cr->sg_out,
				   c->unit_size, cr->iv);
	reinit_completion(&cr->wait.completion);
	r = encrypt ? crypto_skcipher_encrypt(cr->req) :
		      crypto_skcipher_decrypt(cr->req);
	return crypto_wait_req(r, &cr->wait);
}

/*
 * A bio we can process: starts on a unit boundary (relative to the target,
 * which is what the tweak counts) and every single-page segment holds whole
 * units, so no unit ever straddles two pages. The block layer guarantees this
 * given our io_hints; we still check, because a violation would silently
 * produce ciphertext dm-crypt cannot read.
 */
bool vxts_crypt_bio_aligned(const struct vxts_crypt *c, struct bio *bio,
			    u64 rel_sector)
{
	unsigned int mask = c->unit_size - 1;
	struct bvec_iter iter;
	struct bio_vec bv;

	if (unlikely(rel_sector & (vxts_unit_sectors(c) - 1)))
		return false;
	if (unlikely(bio->bi_iter.bi_size & mask))
		return false;
	bio_for_each_segment(bv, bio, iter)
		if (unlikely(bv.bv_len & mask))
			return false;
	return true;
}

/*
 * Walk @src (from @src_iter) unit by unit, writing into @dst from @dst_iter
 * (src == dst works in place). The two bios may be laid out differently
 * (caller's pages vs. whole bounce pages); each unit only has to sit inside
 * one segment of each, which alignment guarantees. @src_iter.bi_size says
 * how much to process, so a caller can hand out parts of one bio.
 */
int vxts_crypt_iter(const struct vxts_crypt *c, struct vxts_creq *cr,
		    struct bio *src, struct bvec_iter src_iter,
		    struct bio *dst, struct bvec_iter dst_iter,
		    u64 rel_sector, bool encrypt)
{
	unsigned int unit = c->unit_size;
	int r;

	while (src_iter.bi_size) {
		struct bio_vec in = bio_iter_iovec(src, src_iter);
		struct bio_vec out = bio_iter_iovec(dst, dst_iter);

		if (unlikely(in.bv_len < unit || out.bv_len < unit ||
			     dst_iter.bi_size < unit))
			return -EIO;
		r = vxts_crypt_unit(c, cr, in.bv_page, in.bv_offset,
				    out.bv_page, out.bv_offset, rel_sector, encrypt);
		if (unlikely(r))
			return r;
		bio_advance_iter_single(src, &src_iter, unit);
		bio_advance_iter_single(dst, &dst_iter, unit);
		rel_sector += vxts_unit_sectors(c);
	}
	return 0;
}

/* The whole of @src from @src_iter into @dst from its start (NULL: in place). */
int vxts_crypt_bio(const struct vxts_crypt *c, struct vxts_creq *cr,
		   struct bio *src, struct bvec_iter src_iter,
		   struct bio *dst, u64 rel_sector, bool encrypt)
{
	if (!dst)
		return vxts_crypt_iter(c, cr, src, src_iter, src, src_iter,
				       rel_sector, encrypt);
	return vxts_crypt_iter(c, cr, src, src_iter, dst, dst->bi_iter,
			       rel_sector, encrypt);
}
