// SPDX-License-Identifier: GPL-2.0
/*
 * newfile: write a file unseen, then give it its name (newfile.h). Used for
 * what must never be visible half-written: a detached vxts header (a short
 * one reads as a corrupt header) and an exported LUKS2 header (a partial one
 * looks like a LUKS volume without a keyslot).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "newfile.h"
#include "vxts.h"

char *vxts_dir_of(const char *path)
{
	char *dir = strdup(path), *slash;

	if (!dir)
		return NULL;
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return dir;
}

int vxts_newfile_open(struct vxts_newfile *nf, const char *path, off_t size)
{
	char *dir = vxts_dir_of(path);
	int r = 0;

	nf->fd = -1;
	nf->tmp[0] = '\0';
	if (!dir)
		return -ENOMEM;
	nf->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (nf->fd < 0 && (errno == EISDIR || errno == EINVAL || errno == EOPNOTSUPP)) {
		if (snprintf(nf->tmp, sizeof(nf->tmp), "%s/.vxts-new.XXXXXX", dir) >=
		    (int)sizeof(nf->tmp))
			errno = ENAMETOOLONG;
		else
			nf->fd = mkostemp(nf->tmp, O_CLOEXEC);	/* mode 0600 */
		if (nf->fd < 0)
			nf->tmp[0] = '\0';
	}
	if (nf->fd < 0)
		r = -errno;
	free(dir);
	if (!r && ftruncate(nf->fd, size))
		r = -errno;
	if (r) {
		vxts_newfile_close(nf);
		return r;
	}
	snprintf(nf->proc, sizeof(nf->proc), "/proc/self/fd/%d", nf->fd);
	return 0;
}

int vxts_newfile_link(struct vxts_newfile *nf, const char *path)
{
	if (fsync(nf->fd))
		return -errno;
	if (nf->tmp[0] ? link(nf->tmp, path) :
	    linkat(AT_FDCWD, nf->proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW))
		return -errno;
	return vxts_sync_dir_of(path);
}

void vxts_newfile_close(struct vxts_newfile *nf)
{
	if (nf->tmp[0])
		unlink(nf->tmp);
	nf->tmp[0] = '\0';
	if (nf->fd >= 0)
		close(nf->fd);
	nf->fd = -1;
}
