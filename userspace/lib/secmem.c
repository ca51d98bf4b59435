// SPDX-License-Identifier: GPL-2.0
/*
 * secmem: locked, undumpable, wiped memory for keys.
 *
 * Every allocation is its own anonymous mapping rounded up to whole pages.
 * That costs a page per key, but it means munlock() on free can never unlock
 * a neighbour's secret (locks are per page, not per allocation), and no
 * malloc arena ever holds a copy of a key after free.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "secmem.h"

void vxts_wipe(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

static size_t vxts_secmem_span(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (len > SIZE_MAX - page)
		return 0;
	return (len + page - 1) & ~(page - 1);
}

void *vxts_secure_alloc(size_t len)
{
	size_t span = vxts_secmem_span(len);
	void *p;

	if (!len || !span) {
		errno = EINVAL;
		return NULL;
	}
	/* Fresh anonymous pages are already zero: no memset needed. */
	p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/*
	 * Refuse rather than degrade: an unlocked page can reach swap, and a
	 * key on a swap device outlives the volume. The usual cause is
	 * RLIMIT_MEMLOCK (ulimit -l); say so with ENOMEM as mmap would.
	 */
	if (mlock(p, span)) {
		munmap(p, span);
		errno = ENOMEM;
		return NULL;
	}
	/* Best effort: old kernels without MADV_DONTDUMP still get a lock. */
	madvise(p, span, MADV_DONTDUMP);
	return p;
}

void vxts_secure_free(void *p, size_t len)
{
	size_t span = vxts_secmem_span(len);
	int saved = errno;

	if (!p || !span)
		return;
	/* Wipe the whole span: callers may have used the slack. */
	vxts_wipe(p, span);
	munlock(p, span);
	munmap(p, span);
	errno = saved;
}
