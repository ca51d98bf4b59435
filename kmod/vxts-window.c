// SPDX-License-Identifier: GPL-2.0
/*
 * dm-vxts conversion boundary and held window (docs/ONLINE.md).
 *
 * A converting target (convert:<dir>:<boundary>) has sectors [0, boundary)
 * in the new form and [boundary, len) in the old form. The converter holds a
 * window [lo, hi) at the boundary, converts it on the lower device behind
 * our back, then advances the boundary to hi (or releases the window).
 *
 * The pure part (classification, message state checks) has no locks and no
 * dm core, so KUnit tests it table-driven. The runtime part is one spinlock
 * per target, a list of in-flight bios, a bio_list of held bios and a wait
 * queue; it uses no dm core either: vxts-io.c maps and dispatches, this file
 * only decides and keeps account. A target without convert: never gets
 * here, so a fully converted device pays nothing for it.
 *
 * Ordering argument (why hold + advance never lets old-form data land in
 * the new-form area, nor the converter race an application bio):
 *  - Every data bio of a converting target is classified and, in the same
 *    critical section, either put on the in-flight list (with its range and
 *    form) or queued on the held list. So at the moment a window is set
 *    (under the lock), every bio that may touch it is on one of the two.
 *  - hold counts the in-flight bios overlapping the window (draining) and
 *    sleeps until their completions bring the count to zero. From the
 *    moment the window is set, new bios to it queue. So when hold returns,
 *    no application bio touches the window on the lower device, and none
 *    will until advance/release: the converter owns those sectors.
 *  - advance refuses while draining != 0 (a killed hold waiter): old-form
 *    bios still in flight there would land after the converter's data.
 *  - advance/release move the boundary and drop the window and, in the same
 *    critical section, move the held bios to the in-flight list with the
 *    form they will be served in (new after advance, old after release), so
 *    a next hold of an overlapping window counts them.
 *
 * Locking: w->lock is taken from map() (task context, any) and from end_io
 * (any context, irq included), hence irqsave. Nothing sleeps or allocates
 * under it; the hold waiter sleeps outside it on w->drained, woken by the
 * completion that brings draining to zero or by a dropped window.
 */
#include <linux/kernel.h>
#include <linux/bio.h>
#include <linux/errno.h>
#include <linux/ktime.h>
#include <linux/sched/signal.h>
#include "dm-vxts.h"

/* ---- pure: classification and message checks ---- */

static inline u64 vxts_window_min(u64 a, u64 b)
{
	return a < b ? a : b;
}

/*
 * The form of the range starting at @sector, and how many of its @sectors
 * (at least 1 when @sectors > 0) share that form: the range is cut at the
 * boundary and at both window edges.
 */
unsigned int vxts_window_classify(const struct vxts_wstate *s, u64 sector,
				  unsigned int sectors, enum vxts_form *form)
{
	u64 end = sector + sectors;
	u64 edge;

	if (vxts_wstate_held(s) && sector >= s->lo && sector < s->hi) {
		*form = VXTS_FORM_HELD;
		edge = s->hi;
	} else if (sector < s->boundary) {
		*form = VXTS_FORM_NEW;
		edge = s->boundary;
		if (vxts_wstate_held(s) && s->lo > sector)
			edge = vxts_window_min(edge, s->lo);
	} else {
		*form = VXTS_FORM_OLD;
		edge = end;
		if (vxts_wstate_held(s) && s->lo > sector)
			edge = s->lo;
	}
	return vxts_window_min(edge, end) - sector;
}

/*
 * May @m be applied to @s? 0: yes, 1: yes and it changes nothing (the
 * window is already held), -EINVAL: refused. @len and @unit_sectors are the
 * target's.
 */
int vxts_window_check(const struct vxts_wstate *s, u64 len,
		      unsigned int unit_sectors, const struct vxts_msg *m)
{
	u64 mask = unit_sectors - 1;

	switch (m->verb) {
	case VXTS_MSG_HOLD:
		if (vxts_wstate_held(s))
			return (m->lo == s->lo && m->hi == s->hi) ? 1 : -EINVAL;
		if (m->lo != s->boundary || m->lo >= m->hi || m->hi > len ||
		    (m->lo & mask) || (m->hi & mask) ||
		    m->hi - m->lo > VXTS_MAX_WINDOW)
			return -EINVAL;
		return 0;
	case VXTS_MSG_ADVANCE:
		return (vxts_wstate_held(s) && m->hi == s->hi) ? 0 : -EINVAL;
	case VXTS_MSG_RELEASE:
		return vxts_wstate_held(s) ? 0 : -EINVAL;
	}
	return -EINVAL;
}

/* ---- runtime ---- */

void vxts_window_init(struct vxts_window *w, u64 boundary)
{
	memset(w, 0, sizeof(*w));
	spin_lock_init(&w->lock);
	INIT_LIST_HEAD(&w->inflight);
	INIT_LIST_HEAD(&w->held);
	init_waitqueue_head(&w->drained);
	w->s.boundary = boundary;
	w->s.lo = w->s.hi = boundary;
}

static bool vxts_window_overlaps(const struct vxts_window *w,
				 const struct vxts_track *t)
{
	return vxts_wstate_held(&w->s) && t->lo < w->s.hi && t->hi > w->s.lo;
}

/*
 * Classify @bio (starting @sector sectors into the target) and, in the same
 * critical section, either queue it on the window (VXTS_FORM_HELD: the
 * window owns it now) or put it on the in-flight list. A data bio that
 * crosses a form change is first cut with @trim (dm_accept_partial_bio in
 * the target) so that it lies in one form; @whole (discards) never cuts:
 * the bio waits as a whole if any of it touches the window.
 *
 * Returns 0 with *form set; -EAGAIN when the bio would be held but the
 * device is in a noflush suspend (@noflush(@ti) says so: the caller hands
 * it back to dm, see vxts_window_requeue_held());
 * -EINVAL when a cut is needed and @trim is NULL.
 *
 * @noflush is asked under w->lock, never before it: see
 * vxts_window_requeue_held() for why that ordering matters.
 */
int vxts_window_map(struct vxts_window *w, struct vxts_track *t,
		    struct bio *bio, u64 sector, bool whole,
		    void (*trim)(struct bio *bio, unsigned int sectors),
		    bool (*noflush)(struct dm_target *ti), struct dm_target *ti,
		    enum vxts_form *form)
{
	unsigned int sectors = bio_sectors(bio);
	unsigned long flags;
	unsigned int n;

	spin_lock_irqsave(&w->lock, flags);
	n = vxts_window_classify(&w->s, sector, sectors, form);
	if (whole) {
		t->lo = sector;
		t->hi = sector + sectors;
		if (vxts_window_overlaps(w, t))
			*form = VXTS_FORM_HELD;
		n = sectors;
	} else if (n < sectors) {
		if (!trim) {
			spin_unlock_irqrestore(&w->lock, flags);
			return -EINVAL;
		}
		trim(bio, n);
	}
	t->bio = bio;
	t->lo = sector;
	t->hi = sector + n;
	t->requeue = false;
	t->form = *form;
	if (*form == VXTS_FORM_HELD) {
		if (unlikely(noflush(ti))) {
			spin_unlock_irqrestore(&w->lock, flags);
			return -EAGAIN;
		}
		t->tracked = false;
		t->held_ns = ktime_get_ns();
		list_add_tail(&t->entry, &w->held);
		w->nr_held++;
		w->held_total++;
	} else {
		t->tracked = true;
		t->held_ns = 0;
		list_add_tail(&t->entry, &w->inflight);
	}
	spin_unlock_irqrestore(&w->lock, flags);
	return 0;
}

/* A mapped bio completed (end_io): off the in-flight list, maybe wake hold. */
void vxts_window_end(struct vxts_window *w, struct vxts_track *t)
{
	unsigned long flags;

	if (!t->tracked)
		return;
	spin_lock_irqsave(&w->lock, flags);
	list_del(&t->entry);
	t->tracked = false;
	if (vxts_window_overlaps(w, t) && w->draining && !--w->draining)
		wake_up_all(&w->drained);
	spin_unlock_irqrestore(&w->lock, flags);
}

static bool vxts_window_is_drained(struct vxts_window *w)
{
	unsigned long flags;
	bool done;

	spin_lock_irqsave(&w->lock, flags);
	done = !w->draining;
	spin_unlock_irqrestore(&w->lock, flags);
	return done;
}

/*
 * Wait, killably, until no bio mapped before the window [m->lo, m->hi) was
 * set still touches it. A killed waiter leaves the window held (new IO
 * keeps queueing); the next hold of the same window waits again.
 *
 * draining also reaches 0 when another sender drops the window (release,
 * or advance after another hold of the same window completed), and that
 * sender may even have held a new window since. So the wait proves
 * nothing by itself: success only if, under the lock, the window held now
 * is this one and has drained. Otherwise -EBUSY: the caller owns nothing.
 */
int vxts_window_drain(struct vxts_window *w, const struct vxts_msg *m)
{
	unsigned long flags;
	int r = 0;

	if (wait_event_killable(w->drained, vxts_window_is_drained(w)))
		return -EINTR;
	spin_lock_irqsave(&w->lock, flags);
	if (!vxts_wstate_held(&w->s) || w->s.lo != m->lo || w->s.hi != m->hi ||
	    w->draining) {
		r = -EBUSY;
	} else if (!w->hold_ns) {
		w->hold_ns = ktime_get_ns();
		if (w->hold_ns - w->set_ns > w->drain_max_ns)
			w->drain_max_ns = w->hold_ns - w->set_ns;
	}
	spin_unlock_irqrestore(&w->lock, flags);
	return r;
}

/* Under w->lock: set the window and count what must drain from it. */
static void vxts_window_set(struct vxts_window *w, u64 lo, u64 hi)
{
	struct vxts_track *t;

	w->s.lo = lo;
	w->s.hi = hi;
	w->set_ns = ktime_get_ns();
	w->hold_ns = 0;
	w->draining = 0;
	list_for_each_entry(t, &w->inflight, entry)
		if (vxts_window_overlaps(w, t))
			w->draining++;
}

/*
 * Under w->lock: drop the window; the held bios move to the in-flight list
 * in @form and to @out, for the caller to dispatch once the lock is gone.
 */
static void vxts_window_drop(struct vxts_window *w, enum vxts_form form,
			     struct bio_list *out)
{
	u64 now = ktime_get_ns();
	struct vxts_track *t, *n;

	if (w->hold_ns && now - w->hold_ns > w->hold_max_ns)
		w->hold_max_ns = now - w->hold_ns;
	list_for_each_entry_safe(t, n, &w->held, entry) {
		list_del(&t->entry);
		if (now - t->held_ns > w->wait_max_ns)
			w->wait_max_ns = now - t->held_ns;
		t->form = form;
		t->tracked = true;
		list_add_tail(&t->entry, &w->inflight);
		bio_list_add(out, t->bio);
	}
	w->nr_held = 0;
	w->s.lo = w->s.hi = w->s.boundary;
	w->hold_ns = 0;
	w->draining = 0;
	wake_up_all(&w->drained);
}

/*
 * The first half of hold: check @m and set the window (nothing sleeps).
 * Returns 0 (set), 1 (already held: nothing changed) or -EINVAL. The
 * caller then waits with vxts_window_drain().
 */
int vxts_window_hold(struct vxts_window *w, u64 len, unsigned int unit_sectors,
		     const struct vxts_msg *m)
{
	unsigned long flags;
	int r;

	spin_lock_irqsave(&w->lock, flags);
	r = vxts_window_check(&w->s, len, unit_sectors, m);
	if (r == 0)
		vxts_window_set(w, m->lo, m->hi);
	spin_unlock_irqrestore(&w->lock, flags);
	return r;
}

/*
 * Apply a parsed message. hold may sleep (killably) until the window has
 * drained; advance and release hand the bios that waited on the window to
 * @out, already accounted as in flight in their new form, for the caller
 * to dispatch. Returns 0 or -EINVAL (refused, nothing changed), -EBUSY
 * (advance before the hold drained, nothing changed; or a hold whose
 * window another sender dropped while it waited), -EINTR (hold waiter
 * killed, window stays held).
 */
int vxts_window_message(struct vxts_window *w, u64 len,
			unsigned int unit_sectors, const struct vxts_msg *m,
			struct bio_list *out)
{
	unsigned long flags;
	int r;

	if (m->verb == VXTS_MSG_HOLD) {
		r = vxts_window_hold(w, len, unit_sectors, m);
		return r < 0 ? r : vxts_window_drain(w, m);
	}
	spin_lock_irqsave(&w->lock, flags);
	r = vxts_window_check(&w->s, len, unit_sectors, m);
	if (r < 0) {
		spin_unlock_irqrestore(&w->lock, flags);
		return r;
	}
	switch (m->verb) {
	case VXTS_MSG_HOLD:
		break;
	case VXTS_MSG_ADVANCE:
		if (w->draining) {
			spin_unlock_irqrestore(&w->lock, flags);
			return -EBUSY;
		}
		w->s.boundary = m->hi;
		vxts_window_drop(w, VXTS_FORM_NEW, out);
		break;
	case VXTS_MSG_RELEASE:
		vxts_window_drop(w, VXTS_FORM_OLD, out);
		break;
	}
	spin_unlock_irqrestore(&w->lock, flags);
	return 0;
}

/*
 * noflush suspend (presuspend with dm_noflush_suspending()): hand the held
 * bios back to dm, which keeps them on its deferred list across the
 * suspend and maps them again after resume (with whatever table is live
 * then). Ordering: dm sets its noflush flag (set_bit) before it calls
 * presuspend, and map() reads the flag inside its w->lock section. Either
 * that section comes before ours, and its bio is on the held list we empty
 * here, or it comes after, and the lock orders the read after set_bit:
 * map() sees the flag and hands the bio back itself. No bio stays held
 * across a noflush suspend.
 */
void vxts_window_requeue_held(struct vxts_window *w, struct bio_list *out)
{
	struct vxts_track *t, *n;
	unsigned long flags;

	spin_lock_irqsave(&w->lock, flags);
	list_for_each_entry_safe(t, n, &w->held, entry) {
		list_del(&t->entry);
		t->requeue = true;
		bio_list_add(out, t->bio);
	}
	w->nr_held = 0;
	spin_unlock_irqrestore(&w->lock, flags);
}

/*
 * A reloaded table takes over its predecessor's boundary and window (see
 * vxts_preresume()). dm drained every mapped bio before the swap, so
 * nothing is in flight to wait for: a held window counts as drained now.
 */
void vxts_window_adopt(struct vxts_window *w, const struct vxts_wstate *s)
{
	unsigned long flags;

	spin_lock_irqsave(&w->lock, flags);
	w->s = *s;
	w->draining = 0;
	w->hold_ns = vxts_wstate_held(s) ? ktime_get_ns() : 0;
	spin_unlock_irqrestore(&w->lock, flags);
}

/* A consistent copy for status. */
void vxts_window_snapshot(struct vxts_window *w, struct vxts_window *out)
{
	unsigned long flags;

	spin_lock_irqsave(&w->lock, flags);
	out->s = w->s;
	out->nr_held = w->nr_held;
	out->held_total = w->held_total;
	out->hold_max_ns = w->hold_max_ns;
	out->wait_max_ns = w->wait_max_ns;
	out->drain_max_ns = w->drain_max_ns;
	out->draining = w->draining;
	spin_unlock_irqrestore(&w->lock, flags);
}
