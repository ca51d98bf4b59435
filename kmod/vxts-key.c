// SPDX-License-Identifier: GPL-2.0
/*
 * dm-vxts key loading: the <key> argument becomes 64 key bytes, either
 * decoded from hex or copied out of a logon/user key in the kernel keyring.
 * The bytes go to the caller's buffer, which the caller wipes as soon as
 * the cipher has its key. Nothing here ever prints key material.
 */
#include <linux/kernel.h>
#include <linux/err.h>
#include <linux/key.h>
#include <linux/string.h>
#include <keys/user-type.h>
#include "dm-vxts.h"

/*
 * logon and user keys share the user_key_payload layout. The payload must be
 * exactly 64 bytes: a shorter or longer key means the caller loaded the
 * wrong thing, and guessing would encrypt with a key nobody can reproduce.
 */
static int vxts_key_copy_payload(struct key *key, u8 *out)
{
	const struct user_key_payload *ukp;
	int r = 0;

	down_read(&key->sem);
	ukp = user_key_payload_locked(key);
	if (!ukp)
		r = -EKEYREVOKED;
	else if (ukp->datalen != VXTS_KEY_SIZE)
		r = -EINVAL;
	else
		memcpy(out, ukp->data, VXTS_KEY_SIZE);
	up_read(&key->sem);
	return r;
}

static int vxts_key_from_keyring(const struct vxts_key_spec *spec, u8 *out)
{
	struct key_type *type;
	struct key *key;
	int r;

	type = spec->kind == VXTS_KEY_LOGON ? &key_type_logon : &key_type_user;
	key = request_key(type, spec->desc, NULL);
	if (IS_ERR(key))
		return PTR_ERR(key);
	r = vxts_key_copy_payload(key, out);
	key_put(key);
	return r;
}

/*
 * Fills @key (VXTS_KEY_SIZE bytes) from a parsed key argument @arg (the
 * table's <key> or old_key:'s value) of kind @spec.
 */
int vxts_key_load(const struct vxts_key_spec *spec, const char *arg, u8 *key)
{
	if (spec->kind == VXTS_KEY_HEX)
		return vxts_parse_hex_key(arg, key);
	return vxts_key_from_keyring(spec, key);
}
