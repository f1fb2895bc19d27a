// SPDX-License-Identifier: GPL-2.0
/*
 * Self-test of the channel linearizability checker (kernel/tests/kcoro_lin.h)
 * that kcoro_lin_test runs in the kernel:
 *
 * - hand-written histories, each on its channel: linearizable ones the
 *   checker must accept, and violations it must reject (FIFO broken, an
 *   element received twice or lost, a value never sent, a failed send
 *   whose element arrives, a rendezvous without overlap, the capacity
 *   exceeded, a hook called twice or too early, ...);
 * - random concurrent histories made by a simulator of the specification
 *   (actors whose operations start, wait, complete and abort in a random
 *   schedule), which must all be accepted, and three mutations of each
 *   that can never be linearizable (a received value replaced by one never
 *   sent, a hook call removed, a received element received twice), which
 *   must all be rejected.
 *
 * Output: TAP, ending with "# Totals: pass:N fail:N skip:0 total:N".
 * Usage: lin_selftest [random histories per channel, default 3000]
 */
#include "lin_user.h"
#include "../../../kernel/tests/kcoro_lin.h"

static struct lin_checker checker;
static unsigned int pass, fail, num;

static const struct lin_spec rdv = { 0, LIN_SUSPEND };
static const struct lin_spec buf1 = { 1, LIN_SUSPEND };
static const struct lin_spec buf2 = { 2, LIN_SUSPEND };
static const struct lin_spec unl = { LIN_UNLIMITED, LIN_SUSPEND };
static const struct lin_spec conf = { 1, LIN_DROP_OLDEST };
static const struct lin_spec dlat = { 1, LIN_DROP_LATEST };

/* Events: op, inv, resp, val, res (actors are not checked). */
#define EV(o, i, r, v, x)	{ .op = o, .inv = i, .resp = r, .val = v, .res = x }
#define SND(i, r, v, x)		EV(LIN_SEND, i, r, v, x)
#define TSND(i, r, v, x)	EV(LIN_TRY_SEND, i, r, v, x)
#define RCV(i, r, v, x)		EV(LIN_RECV, i, r, v, x)
#define TRCV(i, r, v, x)	EV(LIN_TRY_RECV, i, r, v, x)
#define CLS(i, r, x)		EV(LIN_CLOSE, i, r, 0, x)
#define CNL(i, r, x)		EV(LIN_CANCEL, i, r, 0, x)
#define DSTR(i, r)		EV(LIN_DESTROY, i, r, 0, 0)
/* A hook call at tick t: expect() sets its resp to its inv. */
#define HOOK(t, v)		EV(LIN_HOOK, t, 0, v, 0)

static void print_history(const struct lin_ev *ev, unsigned int n)
{
	char line[128];
	unsigned int i;

	for (i = 0; i < n; i++) {
		lin_format(line, sizeof(line), &ev[i]);
		printf("#   %s\n", line);
	}
}

static void expect(const char *name, const struct lin_spec *spec,
		   const struct lin_ev *hist, unsigned int n, int want)
{
	struct lin_ev ev[LIN_MAX_EV];
	unsigned int i;
	int got;

	memcpy(ev, hist, n * sizeof(ev[0]));
	for (i = 0; i < n; i++) {
		if (ev[i].op == LIN_HOOK)
			ev[i].resp = ev[i].inv;
	}
	got = lin_check(&checker, spec, ev, n);

	num++;
	if (got == want) {
		pass++;
		printf("ok %u - %s\n", num, name);
		return;
	}
	fail++;
	printf("not ok %u - %s: lin_check() = %d, expected %d%s%s\n", num, name,
	       got, want, checker.why ? ": " : "", checker.why ?: "");
	print_history(ev, n);
}

#define OK(name, spec, ...)	do {					\
	const struct lin_ev ev[] = { __VA_ARGS__ };			\
	expect(name, &(spec), ev, ARRAY_SIZE(ev), LIN_OK);	\
} while (0)
#define BAD(name, spec, ...)	do {					\
	const struct lin_ev ev[] = { __VA_ARGS__ };			\
	expect(name, &(spec), ev, ARRAY_SIZE(ev), LIN_VIOLATION);	\
} while (0)

static void hand_written(void)
{
	/* Linearizable. */
	OK("buffered(2) sequential FIFO", buf2,
	   SND(1, 2, 1, 0), SND(3, 4, 2, 0), RCV(5, 6, 1, 0), RCV(7, 8, 2, 0));
	OK("rendezvous send and receive overlap", rdv,
	   SND(1, 4, 1, 0), RCV(2, 3, 1, 0));
	OK("concurrent sends in either order", buf2,
	   SND(1, 5, 1, 0), SND(2, 6, 2, 0), RCV(7, 8, 2, 0), RCV(9, 10, 1, 0));
	OK("timed-out send on a full buffer goes to the hook", buf1,
	   SND(1, 2, 1, 0), SND(3, 6, 2, -ETIMEDOUT), HOOK(5, 2), RCV(7, 8, 1, 0));
	OK("close: drain, then EPIPE; a failed send hooks, a try_send keeps", buf2,
	   SND(1, 2, 1, 0), CLS(3, 4, 1), RCV(5, 6, 1, 0), RCV(7, 8, 0, -EPIPE),
	   SND(9, 10, 3, -EPIPE), HOOK(10, 3), TSND(12, 13, 4, -EPIPE));
	OK("cancel hands buffered elements to the hook", buf2,
	   SND(1, 2, 1, 0), SND(3, 4, 2, 0), CNL(5, 8, 1), HOOK(6, 1), HOOK(7, 2),
	   RCV(9, 10, 0, -EPIPE));
	OK("a waiting sender stays receivable after close", rdv,
	   SND(1, 10, 1, 0), CLS(2, 3, 1), RCV(4, 5, 1, 0));
	OK("conflated keeps the last", conf,
	   SND(1, 2, 1, 0), SND(3, 5, 2, 0), HOOK(4, 1), RCV(6, 7, 2, 0));
	OK("drop-latest try_send drops into the hook", dlat,
	   SND(1, 2, 1, 0), TSND(3, 5, 2, 0), HOOK(4, 2), RCV(6, 7, 1, 0));
	OK("destroy hooks what is left", buf1,
	   SND(1, 2, 1, 0), DSTR(3, 5), HOOK(4, 1));
	OK("close fails a waiting receiver", rdv,
	   RCV(1, 5, 0, -EPIPE), CLS(2, 3, 1));
	OK("a receive brings a waiting sender into the buffer", buf1,
	   SND(1, 2, 1, 0), SND(3, 10, 2, 0), RCV(4, 5, 1, 0), TSND(6, 7, 3, -EAGAIN),
	   RCV(11, 12, 2, 0));
	OK("cancel fails a waiting sender and hooks its element", rdv,
	   SND(1, 6, 1, -EPIPE), CNL(2, 3, 1), HOOK(4, 1));
	OK("close then cancel: only the first returns true", buf1,
	   CLS(1, 2, 1), CNL(3, 4, 0), CLS(5, 6, 0));
	OK("unlimited never waits", unl,
	   SND(1, 2, 1, 0), TSND(3, 4, 2, 0), SND(5, 6, 3, 0), TRCV(7, 8, 1, 0),
	   RCV(9, 10, 2, 0), RCV(11, 12, 3, 0), TRCV(13, 14, 0, -EAGAIN));
	/* The weaker rule for aborted sends (kcoro_lin.h), from a KCSAN run. */
	OK("a send aborts with room while another send overlaps it", buf1,
	   SND(1, 4, 1, -EINTR), SND(2, 7, 2, 0), HOOK(3, 1),
	   TRCV(5, 6, 0, -EAGAIN), RCV(8, 9, 2, 0));
	BAD("a send aborts with room and no other send", buf1,
	    SND(1, 4, 1, -EINTR), HOOK(3, 1), TRCV(5, 6, 0, -EAGAIN),
	    SND(7, 8, 2, 0), RCV(9, 10, 2, 0));
	BAD("an aborted send with room still hands its element to the hook", buf1,
	    SND(1, 4, 1, -EINTR), SND(2, 7, 2, 0), TRCV(5, 6, 0, -EAGAIN),
	    RCV(8, 9, 2, 0));
	OK("cancelled receive while an element arrives later", buf1,
	   RCV(1, 4, 0, -ECANCELED), SND(5, 6, 1, 0), TRCV(7, 8, 1, 0));
	OK("rendezvous try_recv takes a waiting sender", rdv,
	   SND(1, 9, 5, 0), TRCV(2, 3, 5, 0));
	OK("a concurrent try_recv may miss a send in progress", buf1,
	   SND(1, 6, 1, 0), TRCV(2, 3, 0, -EAGAIN), RCV(7, 8, 1, 0));
	OK("overlapping try_send and try_recv meet on a rendezvous channel", rdv,
	   TRCV(1, 4, 5, 0), TSND(2, 3, 5, 0));
	OK("a try_recv in progress takes a try_send (seen in a VM run)", rdv,
	   RCV(5900, 5902, 0, -ETIMEDOUT), TRCV(5901, 5909, 76293, 0),
	   TRCV(5903, 5904, 0, -EAGAIN), TRCV(5905, 5906, 0, -EAGAIN),
	   TSND(5907, 5908, 76293, 0), TSND(5910, 5911, 76290, -EAGAIN),
	   SND(5912, 5918, 76291, -EPIPE), CLS(5913, 5914, 1),
	   CNL(5915, 5917, 0), HOOK(5916, 76291), DSTR(5919, 5920));

	/* Not linearizable. */
	BAD("FIFO violated", buf2,
	    SND(1, 2, 1, 0), SND(3, 4, 2, 0), RCV(5, 6, 2, 0), RCV(7, 8, 1, 0));
	BAD("an element received twice", buf2,
	    SND(1, 2, 1, 0), RCV(3, 4, 1, 0), RCV(5, 6, 1, 0));
	BAD("an element lost (never received nor hooked)", buf1,
	    SND(1, 2, 1, 0), DSTR(3, 4));
	BAD("a value never sent received", buf2,
	    SND(1, 4, 1, 0), RCV(2, 3, 7, 0));
	BAD("a send failed with EPIPE, its value received", buf2,
	    CLS(1, 2, 1), SND(3, 4, 1, -EPIPE), HOOK(4, 1), RCV(5, 6, 1, 0));
	BAD("a rendezvous send completes without overlapping its receiver", rdv,
	    SND(1, 2, 1, 0), RCV(3, 4, 1, 0));
	BAD("a try_send and a try_recv that do not overlap meet", rdv,
	    TSND(1, 2, 5, 0), TRCV(3, 4, 5, 0));
	BAD("buffered(1) takes two elements", buf1,
	    SND(1, 2, 1, 0), SND(3, 4, 2, 0), RCV(5, 6, 1, 0), RCV(7, 8, 2, 0));
	BAD("try_recv fails with an element buffered", buf1,
	    SND(1, 2, 1, 0), TRCV(3, 4, 0, -EAGAIN), RCV(5, 6, 1, 0));
	BAD("a timed-out send's element received", buf1,
	    SND(1, 2, 1, 0), SND(3, 6, 2, -ETIMEDOUT), HOOK(5, 2), RCV(7, 8, 1, 0),
	    RCV(9, 10, 2, 0));
	BAD("the hook called twice for one element", conf,
	    SND(1, 2, 1, 0), SND(3, 5, 2, 0), HOOK(4, 1), HOOK(6, 1), RCV(7, 8, 2, 0));
	BAD("the hook called for a received element", buf1,
	    SND(1, 2, 1, 0), RCV(3, 4, 1, 0), HOOK(5, 1));
	BAD("drop-latest drops without the hook", dlat,
	    SND(1, 2, 1, 0), SND(3, 4, 2, 0), RCV(5, 6, 1, 0));
	BAD("close returns true twice", buf1,
	    CLS(1, 2, 1), CLS(3, 4, 1));
	BAD("cancel does not hook the buffered element", buf2,
	    SND(1, 2, 1, 0), CNL(3, 4, 1), RCV(5, 6, 0, -EPIPE));
	BAD("the hook runs before the element is dropped", conf,
	    SND(1, 2, 1, 0), HOOK(3, 1), SND(4, 5, 2, 0), RCV(6, 7, 2, 0));
	BAD("a receive after cancel gets an element", buf2,
	    SND(1, 2, 1, 0), CNL(3, 4, 1), HOOK(4, 1), RCV(5, 6, 1, 0));
	BAD("a failed try_send hooks its element", buf1,
	    CLS(1, 2, 1), TSND(3, 4, 1, -EPIPE), HOOK(5, 1));
	BAD("a receive times out with an element buffered", buf1,
	    SND(1, 2, 1, 0), RCV(3, 4, 0, -ETIMEDOUT), RCV(5, 6, 1, 0));
	BAD("unlimited try_send fails", unl,
	    TSND(1, 2, 1, -EAGAIN));
	BAD("a timed-out send's element never reaches the hook", buf1,
	    SND(1, 2, 1, 0), SND(3, 6, 2, -ETIMEDOUT), RCV(7, 8, 1, 0));
	BAD("a waiting sender brought into the buffer still times out", buf1,
	    SND(1, 2, 1, 0), SND(3, 10, 2, -ETIMEDOUT), RCV(4, 5, 1, 0),
	    TSND(6, 7, 3, -EAGAIN), HOOK(9, 2), TRCV(11, 12, 0, -EAGAIN));
	BAD("a receive returns EPIPE before the channel is drained", buf1,
	    SND(1, 2, 1, 0), CLS(3, 4, 1), RCV(5, 6, 0, -EPIPE), RCV(7, 8, 1, 0));
	BAD("a send after close succeeds", rdv,
	    CLS(1, 2, 1), SND(3, 6, 1, 0), RCV(4, 5, 1, 0));
	BAD("a timed-out rendezvous send whose element was received", rdv,
	    SND(1, 6, 1, -ETIMEDOUT), RCV(2, 3, 1, 0), HOOK(5, 1));
}

/* ------------------------------------------------------------------
 * Random concurrent histories from a simulation of the specification.
 */

static unsigned long long rng = 88172645463325252ULL;

static unsigned int rnd(unsigned int n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned int)(rng % n);
}

#define SIM_ACTORS	4
#define SIM_OPS		4

struct sim {
	const struct lin_spec *spec;
	struct lin_ev ev[LIN_MAX_EV];
	unsigned int n;
	u64 tick;
	int status;
	int q[LIN_MAX_EV], nq;		/* elements: their send events */
	int w[LIN_MAX_EV], nw;		/* waiting receivers */
	bool waiting[LIN_MAX_EV];	/* event waits */
	bool done[LIN_MAX_EV];		/* event completed, response pending */
	bool timed[LIN_MAX_EV];		/* may abort while it waits */
};

static void sim_hook(struct sim *s, int send)
{
	struct lin_ev *h = &s->ev[s->n++];

	*h = (struct lin_ev){ .op = LIN_HOOK, .val = s->ev[send].val };
	h->inv = ++s->tick;
	h->resp = h->inv;
}

static void sim_finish(struct sim *s, int e, int res, u64 val)
{
	s->ev[e].res = res;
	if (s->ev[e].op == LIN_RECV || s->ev[e].op == LIN_TRY_RECV)
		s->ev[e].val = val;
	s->waiting[e] = false;
	s->done[e] = true;
}

static void sim_shift(int *a, int *n, int i)
{
	memmove(a + i, a + i + 1, (*n - i - 1) * sizeof(*a));
	(*n)--;
}

static void sim_cancel(struct sim *s)
{
	int i;

	s->status = LIN_CANCELLED;
	for (i = 0; i < s->nq; i++) {
		if (s->waiting[s->q[i]])
			sim_finish(s, s->q[i], -EPIPE, 0);
		sim_hook(s, s->q[i]);
	}
	for (i = 0; i < s->nw; i++)
		sim_finish(s, s->w[i], -EPIPE, 0);
	s->nq = 0;
	s->nw = 0;
}

/* The first step of event @e. */
static void sim_start(struct sim *s, int e)
{
	struct lin_ev *ev = &s->ev[e];
	long cap = s->spec->cap;
	int h;

	switch (ev->op) {
	case LIN_SEND:
	case LIN_TRY_SEND:
		if (s->status != LIN_OPEN) {
			sim_finish(s, e, -EPIPE, 0);
			if (ev->op == LIN_SEND)
				sim_hook(s, e);
		} else if (s->nw) {
			sim_finish(s, s->w[0], 0, ev->val);
			sim_shift(s->w, &s->nw, 0);
			sim_finish(s, e, 0, 0);
		} else if (cap == LIN_UNLIMITED || s->nq < cap) {
			s->q[s->nq++] = e;
			sim_finish(s, e, 0, 0);
		} else if (s->spec->policy == LIN_DROP_OLDEST) {
			sim_hook(s, s->q[0]);
			sim_shift(s->q, &s->nq, 0);
			s->q[s->nq++] = e;
			sim_finish(s, e, 0, 0);
		} else if (s->spec->policy == LIN_DROP_LATEST) {
			sim_hook(s, e);
			sim_finish(s, e, 0, 0);
		} else if (ev->op == LIN_TRY_SEND) {
			sim_finish(s, e, -EAGAIN, 0);
		} else {
			s->q[s->nq++] = e;
			s->waiting[e] = true;
		}
		break;
	case LIN_RECV:
	case LIN_TRY_RECV:
		if (s->nq) {
			h = s->q[0];
			sim_shift(s->q, &s->nq, 0);
			if (s->waiting[h])
				sim_finish(s, h, 0, 0);
			sim_finish(s, e, 0, s->ev[h].val);
			if (cap > 0 && s->nq >= cap && s->waiting[s->q[cap - 1]])
				sim_finish(s, s->q[cap - 1], 0, 0);
		} else if (s->status != LIN_OPEN) {
			sim_finish(s, e, -EPIPE, 0);
		} else if (ev->op == LIN_TRY_RECV) {
			sim_finish(s, e, -EAGAIN, 0);
		} else {
			s->w[s->nw++] = e;
			s->waiting[e] = true;
		}
		break;
	case LIN_CLOSE:
		sim_finish(s, e, s->status == LIN_OPEN, 0);
		if (s->status == LIN_OPEN) {
			s->status = LIN_CLOSED;
			while (s->nw) {
				sim_finish(s, s->w[0], -EPIPE, 0);
				sim_shift(s->w, &s->nw, 0);
			}
		}
		break;
	case LIN_CANCEL:
		sim_finish(s, e, s->status == LIN_OPEN, 0);
		sim_cancel(s);
		break;
	}
}

/* A waiting event @e gives up. */
static void sim_abort(struct sim *s, int e)
{
	int i;

	for (i = 0; i < s->nq; i++) {
		if (s->q[i] == e) {
			sim_shift(s->q, &s->nq, i);
			sim_hook(s, e);
		}
	}
	for (i = 0; i < s->nw; i++) {
		if (s->w[i] == e)
			sim_shift(s->w, &s->nw, i);
	}
	sim_finish(s, e, rnd(2) ? -ETIMEDOUT : -ECANCELED, 0);
}

static void simulate(struct sim *s, const struct lin_spec *spec)
{
	static const u8 ops[] = { LIN_SEND, LIN_SEND, LIN_TRY_SEND, LIN_RECV,
				  LIN_RECV, LIN_TRY_RECV, LIN_CLOSE, LIN_CANCEL };
	int first[SIM_ACTORS + 1], cur[SIM_ACTORS], pick[SIM_ACTORS];
	unsigned int nact = 2 + rnd(SIM_ACTORS - 1), a, k, np, val = 1;
	int e;

	memset(s, 0, sizeof(*s));
	s->spec = spec;
	/* Each actor's operations, as consecutive events. */
	for (a = 0; a < nact; a++) {
		first[a] = s->n;
		cur[a] = s->n;
		for (k = 1 + rnd(SIM_OPS); k; k--) {
			e = s->n++;
			s->ev[e].op = ops[rnd(rnd(4) ? 6 : sizeof(ops))];
			s->ev[e].actor = a;
			if (s->ev[e].op == LIN_SEND || s->ev[e].op == LIN_TRY_SEND)
				s->ev[e].val = val++;
			s->timed[e] = rnd(2);
		}
	}
	first[nact] = s->n;
	for (;;) {
		/* Actors that can move: start, respond, or abort a wait. */
		np = 0;
		for (a = 0; a < nact; a++) {
			e = cur[a];
			if (e < first[a + 1] && (!s->waiting[e] || s->timed[e]))
				pick[np++] = a;
		}
		if (!np) {
			for (a = 0; a < nact && cur[a] == first[a + 1]; a++)
				;
			if (a == nact)
				break;
			/* Everyone left waits for ever: cancel, as lin_test does. */
			e = s->n++;
			s->ev[e] = (struct lin_ev){ .op = LIN_CANCEL, .actor = 9 };
			s->ev[e].inv = ++s->tick;
			sim_start(s, e);
			s->ev[e].resp = ++s->tick;
			continue;
		}
		a = pick[rnd(np)];
		e = cur[a];
		if (s->done[e]) {
			s->ev[e].resp = ++s->tick;
			cur[a]++;
		} else if (s->waiting[e]) {
			sim_abort(s, e);
		} else {
			s->ev[e].inv = ++s->tick;
			sim_start(s, e);
		}
	}
	e = s->n++;
	s->ev[e] = (struct lin_ev){ .op = LIN_DESTROY, .actor = 9 };
	s->ev[e].inv = ++s->tick;
	sim_cancel(s);
	s->ev[e].resp = ++s->tick;
}

static void random_histories(unsigned int count)
{
	static const struct lin_spec *specs[] = { &rdv, &buf1, &buf2, &unl, &conf, &dlat };
	static const char * const names[] = { "rendezvous", "buffered(1)", "buffered(2)",
					      "unlimited", "conflated", "drop-latest(1)" };
	unsigned int i, j, k, ok, bad, undecided, mutated, wrong;
	unsigned long states;
	struct lin_ev ev[LIN_MAX_EV];
	struct sim s;
	int ret, r1, r2;

	for (i = 0; i < ARRAY_SIZE(specs); i++) {
		ok = 0;
		bad = 0;
		undecided = 0;
		mutated = 0;
		wrong = 0;
		states = 0;
		for (j = 0; j < count; j++) {
			simulate(&s, specs[i]);
			ret = lin_check(&checker, specs[i], s.ev, s.n);
			states += checker.states;
			if (ret == LIN_OK) {
				ok++;
			} else if (ret == LIN_GAVE_UP) {
				undecided++;
			} else if (bad++ < 3) {
				printf("# %s: rejected (%d) a simulated history:\n", names[i], ret);
				print_history(s.ev, s.n);
			}
			/* Mutations that can never be linearizable. */
			r1 = -1;
			r2 = -1;
			for (k = 0; k < s.n; k++) {
				if ((s.ev[k].op == LIN_RECV || s.ev[k].op == LIN_TRY_RECV) &&
				    !s.ev[k].res) {
					r2 = r1;
					r1 = k;
				}
			}
			if (r1 >= 0) {
				memcpy(ev, s.ev, sizeof(ev));
				ev[r1].val = 1000;
				mutated++;
				wrong += lin_check(&checker, specs[i], ev, s.n) != LIN_VIOLATION;
			}
			if (r2 >= 0) {
				memcpy(ev, s.ev, sizeof(ev));
				ev[r2].val = ev[r1].val;
				mutated++;
				wrong += lin_check(&checker, specs[i], ev, s.n) != LIN_VIOLATION;
			}
			for (k = 0; k < s.n && s.ev[k].op != LIN_HOOK; k++)
				;
			if (k < s.n) {
				memcpy(ev, s.ev, sizeof(ev));
				ev[k] = ev[s.n - 1];
				mutated++;
				ret = lin_check(&checker, specs[i], ev, s.n - 1);
				wrong += ret != LIN_VIOLATION;
			}
		}
		num++;
		if (bad || undecided || wrong) {
			fail++;
			printf("not ok %u - %s: %u simulated histories, %u rejected, ",
			       num, names[i], count, bad);
			printf("%u undecided; %u of %u mutations accepted\n",
			       undecided, wrong, mutated);
		} else {
			pass++;
			printf("ok %u - %s: %u simulated histories accepted (%lu states), ",
			       num, names[i], count, states);
			printf("%u mutations rejected\n", mutated);
		}
	}
}

int main(int argc, char **argv)
{
	unsigned int count = argc > 1 ? strtoul(argv[1], NULL, 0) : 3000;

	if (lin_checker_init(&checker, 16)) {
		printf("Bail out! no memory\n");
		return 1;
	}
	printf("TAP version 13\n");
	hand_written();
	random_histories(count);
	printf("1..%u\n", num);
	printf("# Totals: pass:%u fail:%u skip:0 total:%u\n", pass, fail, num);
	lin_checker_free(&checker);
	return fail ? 1 : 0;
}
