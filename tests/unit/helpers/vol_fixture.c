// SPDX-License-Identifier: GPL-2.0
/*
 * vol_fixture: memory images for volume tests (see vol_fixture.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cipher.h"
#include "kdf.h"
#include "secmem.h"
#include "vol_fixture.h"

static void fx_fill(uint8_t *p, uint64_t n, uint32_t seed)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL ^ seed;

	for (uint64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

uint64_t fx_image_size(const struct fx *f)
{
	return f->data_size + (f->at_end ? f->area : 0);
}

void fx_init(struct fx *f, uint64_t data_size, uint64_t area, bool at_end, uint32_t seed)
{
	memset(f, 0, sizeof(*f));
	f->data_size = data_size;
	f->area = area;
	f->at_end = at_end;
	f->data = calloc(1, fx_image_size(f));
	if (!at_end)
		f->hdr = calloc(1, area);
	fx_fill(f->data, data_size, seed);
	vxts_sha256(f->plain_digest, f->data, data_size);
	f->secret = vxts_secure_alloc(32);
	f->secret2 = vxts_secure_alloc(32);
	fx_fill(f->secret, 32, seed + 1);
	fx_fill(f->secret2, 32, seed + 2);
	f->kek = (struct vxts_kek){ .type = VXTS_KEK_KEYFILE, .secret = f->secret, .len = 32 };
	f->kek2 = (struct vxts_kek){ .type = VXTS_KEK_KEYFILE, .secret = f->secret2, .len = 32 };
}

void fx_free(struct fx *f)
{
	fault_ctl_reset(&f->ctl);
	free(f->data);
	free(f->hdr);
	free(f->snap_data);
	free(f->snap_hdr);
	vxts_secure_free(f->secret, 32);
	vxts_secure_free(f->secret2, 32);
}

uint8_t *fx_area(struct fx *f)
{
	return f->at_end ? f->data + f->data_size : f->hdr;
}

static void fx_devs(struct fx *f, struct vxts_dev **data, struct vxts_dev **hdr,
		    uint64_t *base)
{
	*data = fault_dev_new(f->data, fx_image_size(f), "data.img", &f->ctl);
	if (f->at_end) {
		*hdr = *data;
		*base = f->data_size;
	} else {
		*hdr = fault_dev_new(f->hdr, f->area, "header.img", &f->ctl);
		*base = 0;
	}
}

int fx_attach(struct fx *f, struct vxts_volume **out)
{
	struct vxts_dev *data, *hdr;
	uint64_t base;

	fx_devs(f, &data, &hdr, &base);
	return vxts_volume_attach(data, hdr, base, false, out);
}

int fx_format(struct fx *f, const struct vxts_format_opts *o)
{
	struct vxts_dev *data, *hdr;
	uint64_t base;
	int r;

	fx_devs(f, &data, &hdr, &base);
	r = vxts_format_devs(data, hdr, base, f->area, o, &f->kek);
	if (hdr != data)
		vxts_dev_close(hdr);
	vxts_dev_close(data);
	return r;
}

void fx_snapshot(struct fx *f)
{
	free(f->snap_data);
	free(f->snap_hdr);
	f->snap_data = malloc(fx_image_size(f));
	memcpy(f->snap_data, f->data, fx_image_size(f));
	f->snap_hdr = NULL;
	if (f->hdr) {
		f->snap_hdr = malloc(f->area);
		memcpy(f->snap_hdr, f->hdr, f->area);
	}
}

void fx_restore(struct fx *f)
{
	memcpy(f->data, f->snap_data, fx_image_size(f));
	if (f->hdr)
		memcpy(f->hdr, f->snap_hdr, f->area);
}

void fx_plain_sha(struct fx *f, bool encrypted, const uint8_t *key, uint32_t unit,
		  uint64_t iv_offset, uint8_t out[32])
{
	uint8_t *p = malloc(f->data_size);
	struct vxts_cipher *c;

	memcpy(p, f->data, f->data_size);
	if (encrypted && !vxts_cipher_new(&c, key, unit, iv_offset, false)) {
		vxts_cipher_decrypt(c, p, p, f->data_size, 0);
		vxts_cipher_free(c);
	}
	vxts_sha256(out, p, f->data_size);
	free(p);
}

int fx_run(struct fx *f, enum vxts_direction dir, const struct vxts_convert_opts *o,
	   bool done_ok)
{
	struct vxts_volume *v;
	int r = fx_attach(f, &v);

	if (r)
		return r;
	r = vxts_unlock(v, &f->kek);
	if (!r)
		r = vxts_convert_start(v, dir, o, &f->kek, 1);
	if (!r)
		r = vxts_convert(v, o);
	else if (r == -EALREADY && done_ok)
		r = 0;
	vxts_close(v);
	return r;
}
