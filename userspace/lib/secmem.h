/* SPDX-License-Identifier: GPL-2.0 */
/*
 * secmem: memory for key material.
 *
 * Everything that ever holds a key (DEK, KEK, passphrase, key-file bytes)
 * lives in pages that are locked in RAM (never swapped), excluded from core
 * dumps, and wiped before they are given back.
 */
#ifndef VXTS_SECMEM_H
#define VXTS_SECMEM_H

#include <stddef.h>

/*
 * Zeroed, mlock()ed, MADV_DONTDUMP memory of at least @len bytes.
 * Returns NULL with errno set on failure; when the pages cannot be locked
 * (RLIMIT_MEMLOCK) errno is ENOMEM: we never hand out unlocked key memory.
 */
void *vxts_secure_alloc(size_t len);

/* Wipes, munlocks and frees memory from vxts_secure_alloc(); NULL is ok. */
void vxts_secure_free(void *p, size_t len);

/* Wipes @len bytes in a way the compiler cannot optimise away. */
void vxts_wipe(void *p, size_t len);

#endif
