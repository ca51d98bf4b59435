// SPDX-License-Identifier: GPL-2.0
/*
 * p11: wrap and unwrap a DEK inside a PKCS#11 token, through p11-kit.
 *
 * Every call loads the module(s), finds the token the URI names, opens a
 * session, logs in with the PIN when one is given, does one operation and
 * tears everything down again: vxts handles one volume per process, and a
 * session kept open would keep the token logged in for nothing.
 *
 * AES-KWP: C_WrapKey needs the DEK as a key object, so it is created as a
 * session object (CKA_TOKEN false: never stored on the token, gone when the
 * session closes) and destroyed right after the wrap; the unwrap creates
 * one the same way, reads CKA_VALUE into locked memory and destroys it.
 * RSA-OAEP: C_Encrypt with the public key, C_Decrypt with the private key.
 *
 * Nothing is written to disk here: a crash at any point leaves the header
 * as it was, and the token holds no new persistent object.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

#include "error.h"
#include "p11.h"
#include "secmem.h"

struct p11_ctx {
	CK_FUNCTION_LIST **mods;	/* registered modules, or ... */
	CK_FUNCTION_LIST *one;		/* ... the module given by path */
	CK_FUNCTION_LIST *f;		/* the module holding the token */
	CK_SESSION_HANDLE s;
	bool open;
	P11KitUri *uri;
	const char *text;		/* the URI, for messages */
};

/* A token failure: -ECOMM with the CK_RV in hex for the vendor's docs. */
static int p11_fail(const struct p11_ctx *c, const char *what, CK_RV rv)
{
	return vxts_err(-ECOMM, "PKCS#11 %s failed for %s: CKR 0x%lx", what, c->text,
			(unsigned long)rv);
}

static int p11_load(struct p11_ctx *c, const char *module)
{
	if (module) {
		c->one = p11_kit_module_load(module, 0);
		if (!c->one)
			return vxts_err(-ECOMM, "cannot load PKCS#11 module %s: %s", module,
					p11_kit_message() ? p11_kit_message() : "not found");
		if (p11_kit_module_initialize(c->one) != CKR_OK) {
			p11_kit_module_release(c->one);
			c->one = NULL;
			return vxts_err(-ECOMM, "PKCS#11 module %s does not initialize: %s",
					module, p11_kit_message() ? p11_kit_message() : "");
		}
		return 0;
	}
	c->mods = p11_kit_modules_load_and_initialize(0);
	if (!c->mods)
		return vxts_err(-ECOMM, "p11-kit found no PKCS#11 modules: give "
				"--pkcs11-module PATH");
	return 0;
}

/* The first slot of @f whose token matches the URI. */
static int p11_find_token_in(struct p11_ctx *c, CK_FUNCTION_LIST *f, CK_SLOT_ID *slot)
{
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64;
	CK_TOKEN_INFO ti;

	if (f->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK)
		return -ENOENT;
	for (CK_ULONG i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(ids[i], &ti) == CKR_OK &&
		    p11_kit_uri_match_token_info(c->uri, &ti) == 1) {
			*slot = ids[i];
			c->f = f;
			return 0;
		}
	}
	return -ENOENT;
}

static int p11_session(struct p11_ctx *c, const struct vxts_kek *kek)
{
	CK_SLOT_ID slot = 0;
	CK_RV rv;
	int r = -ENOENT;

	if (c->one)
		r = p11_find_token_in(c, c->one, &slot);
	for (int i = 0; r && c->mods && c->mods[i]; i++)
		r = p11_find_token_in(c, c->mods[i], &slot);
	if (r)
		return vxts_err(-ECOMM, "no PKCS#11 token matches %s (is the token present, "
				"and the module right? see `p11-kit list-modules`)", c->text);
	rv = c->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &c->s);
	if (rv != CKR_OK)
		return p11_fail(c, "C_OpenSession", rv);
	c->open = true;
	if (!kek->secret || !kek->len)
		return 0;
	rv = c->f->C_Login(c->s, CKU_USER, (CK_UTF8CHAR_PTR)kek->secret, kek->len);
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_LEN_RANGE)
		return vxts_err(-EKEYREJECTED, "the token of %s refused the PIN (%s)", c->text,
				rv == CKR_PIN_LOCKED ? "PIN locked" : "PIN incorrect");
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		return p11_fail(c, "C_Login", rv);
	return 0;
}

static int p11_parse(struct p11_ctx *c, const char *text, bool seal)
{
	int r;

	c->text = text;
	c->uri = p11_kit_uri_new();
	if (!c->uri)
		return -ENOMEM;
	r = p11_kit_uri_parse(text, P11_KIT_URI_FOR_ANY, c->uri);
	if (r != P11_KIT_URI_OK)
		return vxts_err(-EINVAL, "bad PKCS#11 URI %s: %s", text, p11_kit_uri_message(r));
	/* A PIN in the URI would be stored in the header in the clear. */
	if (seal && (p11_kit_uri_get_pin_value(c->uri) || p11_kit_uri_get_pin_source(c->uri)))
		return vxts_err(-EINVAL, "PKCS#11 URI %s carries a PIN: give it with "
				"--pin-file instead", text);
	return 0;
}

static void p11_close(struct p11_ctx *c)
{
	if (c->open)
		c->f->C_CloseSession(c->s);
	if (c->one) {
		p11_kit_module_finalize(c->one);
		p11_kit_module_release(c->one);
	}
	if (c->mods)
		p11_kit_modules_finalize_and_release(c->mods);
	if (c->uri)
		p11_kit_uri_free(c->uri);
}

/* The one object of @cls that the URI's id/label name. */
static int p11_find(struct p11_ctx *c, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE *obj)
{
	CK_ATTRIBUTE tmpl[3] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_ULONG n = 1, found = 0;
	CK_ATTRIBUTE *a;
	CK_OBJECT_HANDLE h[2];
	CK_RV rv;

	if ((a = p11_kit_uri_get_attribute(c->uri, CKA_ID)))
		tmpl[n++] = *a;
	if ((a = p11_kit_uri_get_attribute(c->uri, CKA_LABEL)))
		tmpl[n++] = *a;
	if (n == 1)
		return vxts_err(-EINVAL, "PKCS#11 URI %s names no object (add object= or id=)",
				c->text);
	rv = c->f->C_FindObjectsInit(c->s, tmpl, n);
	if (rv != CKR_OK)
		return p11_fail(c, "C_FindObjectsInit", rv);
	rv = c->f->C_FindObjects(c->s, h, 2, &found);
	c->f->C_FindObjectsFinal(c->s);
	if (rv != CKR_OK)
		return p11_fail(c, "C_FindObjects", rv);
	if (found > 1)
		return vxts_err(-ECOMM, "PKCS#11 URI %s names more than one object: add id= "
				"or object= to make it unique", c->text);
	if (!found)
		return -ENOENT;
	*obj = h[0];
	return 0;
}

static void p11_oaep(CK_MECHANISM *m, CK_RSA_PKCS_OAEP_PARAMS *p, unsigned int mech)
{
	bool sha256 = mech == VXTS_MECH_RSA_OAEP_256;

	*p = (CK_RSA_PKCS_OAEP_PARAMS){ sha256 ? CKM_SHA256 : CKM_SHA_1,
					sha256 ? CKG_MGF1_SHA256 : CKG_MGF1_SHA1,
					CKZ_DATA_SPECIFIED, NULL, 0 };
	*m = (CK_MECHANISM){ CKM_RSA_PKCS_OAEP, p, sizeof(*p) };
}

/* DEK as a session object: never on the token, destroyed after use. */
static int p11_kwp_wrap(struct p11_ctx *c, CK_OBJECT_HANDLE kek, const uint8_t *key,
			size_t key_len, uint8_t *blob, size_t cap, size_t *blob_len)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) }, { CKA_EXTRACTABLE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &no, sizeof(no) },
		{ CKA_VALUE, (void *)key, key_len },
	};
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE dek;
	CK_ULONG n = cap;
	CK_RV rv = c->f->C_CreateObject(c->s, t, 6, &dek);

	if (rv != CKR_OK)
		return p11_fail(c, "C_CreateObject (session copy of the key)", rv);
	rv = c->f->C_WrapKey(c->s, &m, kek, dek, blob, &n);
	c->f->C_DestroyObject(c->s, dek);
	if (rv != CKR_OK)
		return p11_fail(c, "C_WrapKey (CKM_AES_KEY_WRAP_PAD)", rv);
	*blob_len = n;
	return 0;
}

static int p11_kwp_unwrap(struct p11_ctx *c, CK_OBJECT_HANDLE kek, const uint8_t *blob,
			  size_t blob_len, uint8_t *key, size_t cap, size_t *key_len)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) }, { CKA_EXTRACTABLE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &no, sizeof(no) },
	};
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE v = { CKA_VALUE, key, cap };
	CK_OBJECT_HANDLE dek;
	CK_RV rv;

	rv = c->f->C_UnwrapKey(c->s, &m, kek, (CK_BYTE_PTR)blob, blob_len, t, 5, &dek);
	if (rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_WRAPPED_KEY_LEN_RANGE ||
	    rv == CKR_ENCRYPTED_DATA_INVALID)
		return -EPERM;
	if (rv != CKR_OK)
		return p11_fail(c, "C_UnwrapKey (CKM_AES_KEY_WRAP_PAD)", rv);
	rv = c->f->C_GetAttributeValue(c->s, dek, &v, 1);
	c->f->C_DestroyObject(c->s, dek);
	if (rv != CKR_OK)
		return p11_fail(c, "C_GetAttributeValue (unwrapped key)", rv);
	*key_len = v.ulValueLen;
	return 0;
}

static int p11_rsa_wrap(struct p11_ctx *c, CK_OBJECT_HANDLE pub, const uint8_t *key,
			size_t key_len, uint8_t *blob, size_t cap, size_t *blob_len,
			unsigned int *mech)
{
	CK_RSA_PKCS_OAEP_PARAMS p;
	CK_MECHANISM m;
	CK_ULONG n = cap;
	CK_RV rv;

	/* SHA-256 first; SHA-1 OAEP only for tokens that offer nothing else. */
	*mech = VXTS_MECH_RSA_OAEP_256;
	p11_oaep(&m, &p, *mech);
	rv = c->f->C_EncryptInit(c->s, &m, pub);
	if (rv == CKR_MECHANISM_PARAM_INVALID || rv == CKR_ARGUMENTS_BAD) {
		*mech = VXTS_MECH_RSA_OAEP;
		p11_oaep(&m, &p, *mech);
		rv = c->f->C_EncryptInit(c->s, &m, pub);
	}
	if (rv != CKR_OK)
		return p11_fail(c, "C_EncryptInit (CKM_RSA_PKCS_OAEP)", rv);
	rv = c->f->C_Encrypt(c->s, (CK_BYTE_PTR)key, key_len, blob, &n);
	if (rv != CKR_OK)
		return p11_fail(c, "C_Encrypt (RSA-OAEP)", rv);
	*blob_len = n;
	return 0;
}

static int p11_rsa_unwrap(struct p11_ctx *c, CK_OBJECT_HANDLE priv, unsigned int mech,
			  const uint8_t *blob, size_t blob_len, uint8_t *key, size_t cap,
			  size_t *key_len)
{
	CK_RSA_PKCS_OAEP_PARAMS p;
	CK_MECHANISM m;
	CK_ULONG n = cap;
	CK_RV rv;

	p11_oaep(&m, &p, mech);
	rv = c->f->C_DecryptInit(c->s, &m, priv);
	if (rv != CKR_OK)
		return p11_fail(c, "C_DecryptInit (CKM_RSA_PKCS_OAEP)", rv);
	rv = c->f->C_Decrypt(c->s, (CK_BYTE_PTR)blob, blob_len, key, &n);
	if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE)
		return -EPERM;
	if (rv != CKR_OK)
		return p11_fail(c, "C_Decrypt (RSA-OAEP)", rv);
	*key_len = n;
	return 0;
}

/* What to store: the URI for the object on its token, minus module, PIN, class. */
static int p11_ref(struct p11_ctx *c, char *ref, size_t cap)
{
	char *s = NULL;
	int r;

	p11_kit_uri_clear_attribute(c->uri, CKA_CLASS);
	p11_kit_uri_set_pin_value(c->uri, NULL);
	p11_kit_uri_set_pin_source(c->uri, NULL);
	if (p11_kit_uri_format(c->uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &s) != P11_KIT_URI_OK)
		return -ENOMEM;
	r = strlen(s) < cap && strlen(s) <= VXTS_KS_REF_MAX ? 0 :
	    vxts_err(-ENAMETOOLONG, "PKCS#11 URI %s is longer than %d bytes: name the "
		     "token and object with fewer attributes", s, VXTS_KS_REF_MAX);
	if (!r)
		strcpy(ref, s);
	free(s);
	return r;
}

int vxts_p11_wrap(const struct vxts_kek *kek, const uint8_t *key, size_t key_len,
		  unsigned int *mech, uint8_t *blob, size_t cap, size_t *blob_len,
		  char *ref, size_t ref_cap)
{
	struct p11_ctx c = { 0 };
	CK_OBJECT_HANDLE obj;
	const char *module;
	int r;

	if (!kek->uri)
		return vxts_err(-EINVAL, "a PKCS#11 keyslot needs the key's URI");
	r = p11_parse(&c, kek->uri, true);
	module = kek->module ? kek->module : r ? NULL : p11_kit_uri_get_module_path(c.uri);
	if (!r)
		r = p11_load(&c, module);
	if (!r)
		r = p11_session(&c, kek);
	if (!r) {
		r = p11_find(&c, CKO_SECRET_KEY, &obj);
		*mech = VXTS_MECH_AES_KWP;
		if (!r)
			r = p11_kwp_wrap(&c, obj, key, key_len, blob, cap, blob_len);
	}
	if (r == -ENOENT) {
		r = p11_find(&c, CKO_PUBLIC_KEY, &obj);
		if (!r)
			r = p11_rsa_wrap(&c, obj, key, key_len, blob, cap, blob_len, mech);
	}
	if (r == -ENOENT)
		r = vxts_err(-ECOMM, "no AES secret key or RSA public key matches %s on its "
			     "token (logged in? give --pin-file)", kek->uri);
	if (!r)
		r = p11_ref(&c, ref, ref_cap);
	p11_close(&c);
	return r;
}

int vxts_p11_unwrap(const struct vxts_kek *kek, const char *ref, unsigned int mech,
		    const uint8_t *blob, size_t blob_len, uint8_t *key, size_t cap,
		    size_t *key_len)
{
	struct p11_ctx c = { 0 };
	CK_OBJECT_HANDLE obj;
	bool kwp = mech == VXTS_MECH_AES_KWP;
	int r;

	r = p11_parse(&c, ref, false);
	if (!r)
		r = p11_load(&c, kek->module);
	if (!r)
		r = p11_session(&c, kek);
	if (!r)
		r = p11_find(&c, kwp ? CKO_SECRET_KEY : CKO_PRIVATE_KEY, &obj);
	if (r == -ENOENT)
		r = vxts_err(-ECOMM, "the %s key of %s is not on its token (or not visible: "
			     "log in with --pin-file)", kwp ? "AES" : "RSA private", ref);
	if (!r && kwp)
		r = p11_kwp_unwrap(&c, obj, blob, blob_len, key, cap, key_len);
	else if (!r)
		r = p11_rsa_unwrap(&c, obj, mech, blob, blob_len, key, cap, key_len);
	p11_close(&c);
	return r;
}
